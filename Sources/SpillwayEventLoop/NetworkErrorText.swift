import NIOCore
import NIOPosix
import SpillwayCore

/// A short human description of a network error ("connection refused"), for the retry reasons
/// and warnings of every network sink. A sink handles its own error types first.
public func describeNetworkError(_ error: any Error) -> String {
    switch error {
    case let e as IOError:
        // Linux errno values (no libc outside SpillwaySystem); the rest keep NIO's own text.
        let known: [CInt: String] = [
            2: "no such file or directory", 13: "permission denied", 32: "broken pipe",
            101: "network unreachable", 104: "connection reset", 110: "timed out", 111: "connection refused",
            113: "no route to host",
        ]
        return known[e.errnoCode] ?? e.description
    case let e as NIOConnectionError:
        if let first = e.connectionErrors.first { return describeNetworkError(first.error) }
        if e.dnsAError != nil || e.dnsAAAAError != nil { return "cannot resolve host \(e.host)" }
        return "no address for \(e.host)"
    case let e as ChannelError:
        switch e {
        case .connectTimeout(let t): return "timed out after \(formatDuration(.nanoseconds(t.nanoseconds)))"
        case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed: return "connection closed"
        default: return "\(e)"
        }
    default:
        return "\(error)"
    }
}
