import SpillwayCore

@testable import SpillwayCloudWatch

/// 2026-01-01T10:00:00Z.
let baseNanos: Int64 = 1_767_261_600_000_000_000

func record(_ text: String, ms: Int64 = 0, _ stream: LogStream = .stdout) -> LogRecord {
    LogRecord(time: Timestamp(nanoseconds: baseNanos + ms * 1_000_000), stream: stream, line: ArraySlice(text.utf8))
}

func record(bytes: [UInt8], ms: Int64 = 0) -> LogRecord {
    LogRecord(time: Timestamp(nanoseconds: baseNanos + ms * 1_000_000), stream: .stdout, line: ArraySlice(bytes))
}

let now = Timestamp(nanoseconds: baseNanos)

extension EventPlan {
    func messages(_ request: Int) -> [String] {
        events[requests[request]].map { String(decoding: $0.message, as: UTF8.self) }
    }
}
