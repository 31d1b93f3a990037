import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// How `FileDescriptor.open` opens a path. Every descriptor is close-on-exec: the workload must
/// never inherit spillway's storage files.
public struct OpenOptions: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let readOnly = OpenOptions([])
    public static let writeOnly = OpenOptions(rawValue: O_WRONLY)
    public static let readWrite = OpenOptions(rawValue: O_RDWR)
    public static let create = OpenOptions(rawValue: O_CREAT)
    public static let exclusive = OpenOptions(rawValue: O_EXCL)
    public static let directory = OpenOptions(rawValue: O_DIRECTORY)
    /// Fails with ELOOP when the last component is a symbolic link: nobody can redirect a write
    /// of spillway's (often root's) to a file of their choosing.
    public static let noFollow = OpenOptions(rawValue: O_NOFOLLOW)
}

/// Who owns a file and what kind it is, from stat(2).
public struct FileStatus: Sendable, Equatable {
    public var owner: UInt32
    /// Permission bits, with set-uid, set-gid and sticky (07777).
    public var permissions: UInt32
    public var isDirectory: Bool
    public var isRegularFile: Bool

    init(_ info: stat) {
        owner = info.st_uid
        permissions = info.st_mode & 0o7777
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
        isRegularFile = info.st_mode & S_IFMT == S_IFREG
    }

    public var isWritableByOthers: Bool { permissions & 0o022 != 0 }
    public var isSticky: Bool { permissions & 0o1000 != 0 }
}

extension FileDescriptor {
    /// Opens `path`; `permissions` apply when the file is created (and the umask may narrow them).
    public static func open(
        _ path: String, _ options: OpenOptions, permissions: UInt32 = 0o600
    ) throws(SystemError) -> FileDescriptor {
        let fd = try syscall("open(\(path))", { Glibc.open(path, options.rawValue | O_CLOEXEC, permissions) })
        return FileDescriptor(rawValue: fd)
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try syscall("pread", {
                Glibc.pread(rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            })
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `bytes` at `offset`. On error some prefix may already be written: the caller
    /// truncates back if it needs all or nothing.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            done += try syscall("pwrite", {
                Glibc.pwrite(rawValue, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            })
        }
    }

    /// fsync(2): data and metadata (size, and for a directory its entries).
    public func synchronize() throws(SystemError) {
        try syscall("fsync", { Glibc.fsync(rawValue) })
    }

    /// fdatasync(2): data, and the size when it changed; not timestamps.
    public func synchronizeData() throws(SystemError) {
        try syscall("fdatasync", { Glibc.fdatasync(rawValue) })
    }

    /// A second descriptor for the same open file, close-on-exec.
    public func duplicate() throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("fcntl(F_DUPFD_CLOEXEC)", { spw_fcntl_int(rawValue, F_DUPFD_CLOEXEC, 0) }))
    }

    public func truncate(to size: Int) throws(SystemError) {
        try syscall("ftruncate", { Glibc.ftruncate(rawValue, off_t(size)) })
    }

    public func status() throws(SystemError) -> FileStatus {
        var info = stat()
        try syscall("fstat", { Glibc.fstat(rawValue, &info) })
        return FileStatus(info)
    }

    public func size() throws(SystemError) -> Int {
        var info = stat()
        try syscall("fstat", { Glibc.fstat(rawValue, &info) })
        return Int(info.st_size)
    }

    /// Takes an exclusive flock(2) without waiting; false when another open file description holds
    /// it (another process, or another open of the same file in this one).
    public func tryLockExclusive() throws(SystemError) -> Bool {
        // Named through its type: `Glibc.flock` means the struct of the same name.
        let flockCall: (Int32, Int32) -> Int32 = flock
        switch try syscall(expecting: EWOULDBLOCK, "flock", { flockCall(rawValue, LOCK_EX | LOCK_NB) }) {
        case .success: return true
        case .failure: return false
        }
    }
}

/// Path-level file-system calls.
public enum FileSystem {
    /// mkdir(2). Returns false when something already exists at `path`.
    @discardableResult
    public static func makeDirectory(_ path: String, permissions: UInt32 = 0o700) throws(SystemError) -> Bool {
        switch try syscall(expecting: EEXIST, "mkdir(\(path))", { Glibc.mkdir(path, permissions) }) {
        case .success: return true
        case .failure: return false
        }
    }

    /// stat(2) of `path` (following symbolic links); nil when nothing is there.
    public static func status(_ path: String) throws(SystemError) -> FileStatus? {
        var info = stat()
        // Named through its type: `Glibc.stat` means the struct of the same name.
        let statCall: (UnsafePointer<CChar>, UnsafeMutablePointer<stat>) -> Int32 = stat
        switch try syscall(expecting: ENOENT, "stat(\(path))", { statCall(path, &info) }) {
        case .success: return FileStatus(info)
        case .failure: return nil
        }
    }

    public static func rename(_ from: String, to: String) throws(SystemError) {
        try syscall("rename(\(from), \(to))", { Glibc.rename(from, to) })
    }

    /// unlink(2). Returns false when the file was already gone.
    @discardableResult
    public static func remove(_ path: String) throws(SystemError) -> Bool {
        switch try syscall(expecting: ENOENT, "unlink(\(path))", { Glibc.unlink(path) }) {
        case .success: return true
        case .failure: return false
        }
    }

    /// Names in a directory, without "." and "..", in no particular order.
    public static func contents(ofDirectory path: String) throws(SystemError) -> [String] {
        let directory = try Directory.open(path)
        defer { try? directory.close() }
        return try directory.contents()
    }
}

extension SystemError {
    /// The file system or the user's quota is full.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }
    public var isNotFound: Bool { errno == ENOENT }
    public var isNotDirectory: Bool { errno == ENOTDIR }
    /// An open with `noFollow` met a symbolic link.
    public var isSymbolicLink: Bool { errno == ELOOP }
    /// The medium failed (EIO): the data cannot be read, unlike a refusal to try.
    public var isMediaError: Bool { errno == EIO }
}
