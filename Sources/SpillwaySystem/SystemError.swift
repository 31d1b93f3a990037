#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, and the errno it left.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// The error `call` failed with; traps instead when `errno` can only mean a bug in spillway
    /// (a descriptor it no longer owns, a bad pointer): carrying on could write to a file that
    /// reused the descriptor's number. `fatalError`, not `precondition`: its message, which names
    /// the call, survives optimized builds.
    static func failure(of call: String, errno: Int32) -> SystemError {
        if errno == EBADF || errno == EFAULT {
            fatalError("\(call): \(String(cString: strerror(errno))) (errno \(errno)), a programming error")
        }
        return SystemError(call: call, errno: errno)
    }
}

/// Runs a libc call, retrying on EINTR; a -1 result throws `SystemError` naming the call, with
/// errno read at once. Every libc call in spillway goes through here, `syscall(expecting:)` or
/// `syscall(returningErrno:)`.
@inline(__always)
@discardableResult
func syscall<T: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw .failure(of: call(), errno: err)
    }
}

/// As `syscall`, but the errno `expected` comes back as `.failure` instead of throwing: EAGAIN
/// from a non-blocking read is a state, not an error.
@inline(__always)
func syscall<T: FixedWidthInteger>(
    expecting expected: Int32, _ call: @autoclosure () -> String, _ body: () -> T
) throws(SystemError) -> Result<T, Errno> {
    while true {
        let result = body()
        if result != -1 { return .success(result) }
        let err = Glibc.errno
        if err == EINTR { continue }
        if err == expected { return .failure(Errno(err)) }
        throw .failure(of: call(), errno: err)
    }
}

/// Runs a call that returns its error number instead of setting errno (pthread_*, posix_spawn*);
/// those never fail with EINTR.
@inline(__always)
func syscall(returningErrno call: @autoclosure () -> String, _ body: () -> Int32) throws(SystemError) {
    let err = body()
    if err != 0 { throw .failure(of: call(), errno: err) }
}

/// An errno that the caller expected and handles.
struct Errno: Error, Equatable {
    var code: Int32
    init(_ code: Int32) { self.code = code }
}
