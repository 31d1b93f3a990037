import SpillwaySystem

/// Why the disk buffer could not start or continue. `locked`, `unwritable` and `unsafe` arise
/// when opening and are configuration problems (exit 125); `io` is a failing disk.
public struct DiskBufferError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        /// Another spillway holds the directory's lock; `holderPID` as it wrote it in the file.
        case locked(path: String, holderPID: Int32?)
        /// The directory or its lock file cannot be created or written.
        case unwritable(path: String, cause: SystemError)
        /// Others could plant files or links in the directory, or one of its files is not ours.
        case unsafe(path: String, problem: String)
        case io(SystemError)
    }

    public let kind: Kind

    public static func locked(path: String, holderPID: Int32?) -> DiskBufferError {
        DiskBufferError(kind: .locked(path: path, holderPID: holderPID))
    }

    public static func unwritable(path: String, cause: SystemError) -> DiskBufferError {
        DiskBufferError(kind: .unwritable(path: path, cause: cause))
    }

    public static func unsafe(path: String, problem: String) -> DiskBufferError {
        DiskBufferError(kind: .unsafe(path: path, problem: problem))
    }

    public static func io(_ cause: SystemError) -> DiskBufferError { DiskBufferError(kind: .io(cause)) }

    public var description: String {
        switch kind {
        case .locked(let path, let pid):
            let holder = pid.map { "spillway (pid \($0))" } ?? "spillway"
            return "storage directory \(path) is in use by another \(holder); give each instance its own "
                + "SPILLWAY_NAME (or SPILLWAY_STORAGE_PATH)"
        case .unwritable(let path, let cause):
            return "storage directory \(path) is not writable (\(cause)); set SPILLWAY_STORAGE_PATH to a "
                + "writable directory (in a container, a volume)"
        case .unsafe(let path, let problem):
            return "storage directory \(path) is not safe to use: \(problem); give it to spillway's user alone "
                + "(chown, chmod 700) or set SPILLWAY_STORAGE_PATH to a directory only that user can write"
        case .io(let cause):
            return "disk buffer I/O failed: \(cause)"
        }
    }
}
