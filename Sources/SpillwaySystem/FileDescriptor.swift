import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor. Spillway closes what it owns explicitly; this is a thin value over the
/// number so that every call on it goes through the EINTR-retrying wrapper.
public struct FileDescriptor: Hashable, Sendable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    /// Reads into `buffer`; `nil` means EAGAIN (nothing there now), 0 means EOF.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        switch try syscall(expecting: EAGAIN, "read", { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }) {
        case .success(let n): return n
        case .failure: return nil
        }
    }

    /// Writes all of `bytes`, waiting (poll) when the descriptor is non-blocking and full.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch try syscall(expecting: EAGAIN, "write", { Glibc.write(rawValue, rest.baseAddress, rest.count) }) {
            case .success(let n): offset += n
            case .failure: try waitWritable()
            }
        }
    }

    private func waitWritable() throws(SystemError) {
        var pfd = pollfd(fd: rawValue, events: Int16(POLLOUT), revents: 0)
        try syscall("poll", { Glibc.poll(&pfd, 1, -1) })
    }

    /// Closes the descriptor. Closing one twice traps (EBADF): by then its number may belong to
    /// another file.
    public func close() throws(SystemError) {
        guard Glibc.close(rawValue) != 0 else { return }
        let err = errno
        // EINTR on close still closes on Linux: never retry it.
        if err != EINTR { throw .failure(of: "close", errno: err) }
    }

    public func setNonBlocking() throws(SystemError) {
        let flags = try syscall("fcntl(F_GETFL)", { spw_fcntl_int(rawValue, F_GETFL, 0) })
        try syscall("fcntl(F_SETFL)", { spw_fcntl_int(rawValue, F_SETFL, flags | O_NONBLOCK) })
    }

    /// Whether the descriptor is open: F_GETFD fails only with EBADF. Called directly, not through
    /// `syscall`, where EBADF traps.
    public var isOpen: Bool { spw_fcntl_int(rawValue, F_GETFD, 0) != -1 }

    public var isTerminal: Bool { isatty(rawValue) == 1 }

    /// Grows a pipe's kernel buffer, bounded by /proc/sys/fs/pipe-max-size. Returns the new size.
    public func setPipeSize(_ size: Int32) throws(SystemError) -> Int32 {
        try syscall("fcntl(F_SETPIPE_SZ)", { spw_set_pipe_size(rawValue, size) })
    }

    /// Opens `/dev/null` on 0, 1 and 2 if they are closed, so our own pipes never land there.
    public static func openNullOnClosedStandardDescriptors() throws(SystemError) {
        for fd in 0...2 where !FileDescriptor(rawValue: Int32(fd)).isOpen {
            let opened = try syscall("open(/dev/null)", { Glibc.open("/dev/null", O_RDWR) })
            if opened != fd {
                // Descriptors are allocated lowest-first, so this only happens if fd was reopened
                // by another thread; there are none yet.
                try syscall("dup2", { Glibc.dup2(opened, Int32(fd)) })
                try FileDescriptor(rawValue: opened).close()
            }
        }
    }
}

/// A pipe whose ends are close-on-exec.
public struct Pipe: Sendable {
    public let readEnd: FileDescriptor
    public let writeEnd: FileDescriptor

    public init() throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        try syscall("pipe2", { spw_pipe_cloexec(&fds) })
        readEnd = FileDescriptor(rawValue: fds[0])
        writeEnd = FileDescriptor(rawValue: fds[1])
    }
}

/// Largest pipe size an unprivileged process may set.
public func pipeMaxSize() -> Int32? {
    guard let text = try? readSmallFile("/proc/sys/fs/pipe-max-size", limit: 32) else { return nil }
    return Int32(String(decoding: text, as: UTF8.self).filter { !$0.isWhitespace })
}

/// Reads a small file whole (proc files, secrets); at most `limit` bytes. Grows its buffer as
/// it reads: allocating `limit` up front (and asking procfs to fill 1 MiB) cost a third of
/// spillway's start-up.
public func readSmallFile(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> [UInt8] {
    let fd = try FileDescriptor.open(path, .readOnly)
    defer { try? fd.close() }
    return try fd.readAll(limit: limit)
}

extension FileDescriptor {
    /// Reads from the current offset to the end, at most `limit` bytes.
    public func readAll(limit: Int) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(limit, 4096))
        while bytes.count < limit {
            let want = min(chunk.count, limit - bytes.count)
            let n = try syscall("read", { chunk.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress!, want) } })
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        return bytes
    }
}
