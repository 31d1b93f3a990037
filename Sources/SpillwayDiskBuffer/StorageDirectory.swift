import SpillwaySystem

/// Spillway often runs as root: a storage directory that others can write would let them plant
/// a symbolic link (or a file of theirs) where spillway writes, and have root write into any
/// file. So the directory must be ours (or root's) and writable by nobody else — unless it is
/// sticky and ours, where others may create names but not replace ours — and every storage file
/// is opened without following a link and checked to be a regular file of ours.
enum StorageDirectory {
    /// Opens the directory and checks what was opened (not the path, which could change after).
    static func open(_ directory: String) throws(DiskBufferError) -> Directory {
        let opened: Directory
        do { opened = try .open(directory) } catch {
            if error.isNotDirectory { throw .unsafe(path: directory, problem: "it is not a directory") }
            throw .unwritable(path: directory, cause: error)
        }
        do throws(DiskBufferError) {
            try check(opened)
        } catch {
            try? opened.close()
            throw error
        }
        return opened
    }

    private static func check(_ opened: Directory) throws(DiskBufferError) {
        let directory = opened.path
        let status: FileStatus
        do { status = try opened.descriptor.status() } catch { throw .unwritable(path: directory, cause: error) }
        let me = CurrentProcess.effectiveUserID
        guard status.owner == me || status.owner == 0 else {
            throw .unsafe(path: directory, problem: "it is owned by uid \(status.owner), not by spillway's uid \(me)")
        }
        if status.isWritableByOthers && !(status.isSticky && status.owner == me) {
            let mode = String(status.permissions, radix: 8)
            throw .unsafe(path: directory, problem: "its group or other users may write it (mode \(mode))")
        }
    }

    /// Opens (creating, 0600) a storage file that must be a regular file of ours, never through
    /// a symbolic link.
    static func openOwnFile(_ storage: Directory, _ name: String) throws(DiskBufferError) -> FileDescriptor {
        let directory = storage.path
        let fd: FileDescriptor
        do { fd = try storage.open(name, [.readWrite, .create, .noFollow]) } catch {
            if error.isSymbolicLink {
                throw .unsafe(path: directory, problem: "\(name) is a symbolic link")
            }
            throw .unwritable(path: directory, cause: error)
        }
        let status: FileStatus
        do { status = try fd.status() } catch {
            try? fd.close()
            throw .io(error)
        }
        let me = CurrentProcess.effectiveUserID
        guard status.isRegularFile, status.owner == me else {
            try? fd.close()
            let problem = status.isRegularFile ? "\(name) is owned by uid \(status.owner)" : "\(name) is not a regular file"
            throw .unsafe(path: directory, problem: problem)
        }
        return fd
    }
}
