import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// A directory held open: names are resolved relative to its descriptor (the *at calls), so
/// once it has been opened and checked, renaming or replacing the path cannot redirect what is
/// done inside it. Names are single components, never paths.
public struct Directory: Sendable {
    public let descriptor: FileDescriptor
    /// The path it was opened by, for messages.
    public let path: String

    /// Opens the directory at `path` (following a link there: the path is the operator's).
    public static func open(_ path: String) throws(SystemError) -> Directory {
        Directory(descriptor: try .open(path, [.readOnly, .directory]), path: path)
    }

    public func close() throws(SystemError) { try descriptor.close() }

    /// openat(2) of `name`; close-on-exec. `permissions` apply when the file is created.
    public func open(_ name: String, _ options: OpenOptions, permissions: UInt32 = 0o600) throws(SystemError) -> FileDescriptor {
        precondition(!name.contains("/"), "a directory entry name, not a path")
        let fd = try syscall("openat(\(path)/\(name))", {
            Glibc.openat(descriptor.rawValue, name, options.rawValue | O_CLOEXEC, permissions)
        })
        return FileDescriptor(rawValue: fd)
    }

    /// The subdirectory `name` held open, never through a symbolic link.
    public func openDirectory(_ name: String) throws(SystemError) -> Directory {
        Directory(descriptor: try open(name, [.readOnly, .directory, .noFollow]), path: path + "/" + name)
    }

    /// mkdirat(2). Returns false when something already exists at `name`.
    @discardableResult
    public func makeDirectory(_ name: String, permissions: UInt32 = 0o700) throws(SystemError) -> Bool {
        switch try syscall(expecting: EEXIST, "mkdirat(\(path)/\(name))", { mkdirat(descriptor.rawValue, name, permissions) }) {
        case .success: return true
        case .failure: return false
        }
    }

    /// unlinkat(2). Returns false when the file was already gone.
    @discardableResult
    public func remove(_ name: String) throws(SystemError) -> Bool {
        switch try syscall(expecting: ENOENT, "unlinkat(\(path)/\(name))", { unlinkat(descriptor.rawValue, name, 0) }) {
        case .success: return true
        case .failure: return false
        }
    }

    /// renameat(2) of `name` to `newName` in `target` (this directory by default).
    public func rename(_ name: String, to newName: String, in target: Directory? = nil) throws(SystemError) {
        let destination = target ?? self
        try syscall("renameat(\(path)/\(name), \(destination.path)/\(newName))", {
            renameat(descriptor.rawValue, name, destination.descriptor.rawValue, newName)
        })
    }

    /// Names in the directory, without "." and "..", in no particular order.
    public func contents() throws(SystemError) -> [String] {
        // fdopendir takes over the descriptor it is given: hand it a duplicate.
        let own = try descriptor.duplicate()
        guard let dir = fdopendir(own.rawValue) else {
            let err = errno
            try? own.close()
            throw .failure(of: "fdopendir(\(path))", errno: err)
        }
        defer { closedir(dir) }
        // A duplicate shares the file offset: start from the first entry whoever read before.
        rewinddir(dir)
        var names: [String] = []
        while true {
            // readdir returns NULL both at the end and on error; only errno tells them apart.
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .failure(of: "readdir(\(path))", errno: errno) }
                return names
            }
            // By address, up to its NUL: glibc sizes each entry to its name, so copying the whole
            // 256-byte d_name field reads past the allocation (AddressSanitizer saw it).
            let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let name = String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Makes the directory's entries (created, renamed, removed files) durable.
    public func synchronize() throws(SystemError) { try descriptor.synchronize() }
}
