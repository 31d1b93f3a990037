/// Which pipe a record was read from.
public enum LogStream: UInt8, Sendable, CaseIterable {
    case stdout = 0
    case stderr = 1

    public var name: String { self == .stdout ? "stdout" : "stderr" }
}

/// Wall-clock time of a record, nanoseconds since the Unix epoch.
public struct Timestamp: Comparable, Hashable, Sendable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public var seconds: Int64 { nanoseconds.floorDivided(by: 1_000_000_000) }
    public var nanosecondOfSecond: Int64 { nanoseconds - seconds * 1_000_000_000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }
}

extension Int64 {
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d < 0) ? q - 1 : q
    }
}

/// Marks one piece of a line that was longer than the maximum line size.
public struct PartialInfo: Hashable, Sendable {
    /// Shared by every piece of one line: 32 lowercase hex digits.
    public var id: PartialID
    /// 1-based position of this piece.
    public var ordinal: Int32
    public var isLast: Bool

    public init(id: PartialID, ordinal: Int32, isLast: Bool) {
        self.id = id
        self.ordinal = ordinal
        self.isLast = isLast
    }
}

/// 128 random bits naming one cut line; rendered as 32 hex digits.
public struct PartialID: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> PartialID {
        PartialID(high: generator.next(), low: generator.next())
    }

    public var hex: String {
        String(decoding: Array(Hex.digits(of: high)) + Array(Hex.digits(of: low)), as: UTF8.self)
    }
}

/// One log record: a line (or a piece of one) with its time and stream.
///
/// `line` slices a byte array shared by every record of one read, so framing a read costs one copy
/// and one allocation, not one per line.
public struct LogRecord: Sendable {
    // Declared in this order, the two one-byte fields fill the tail padding of `partial`: 64
    // bytes a record instead of 72, in every store, batch and read.
    public var time: Timestamp
    public var line: ArraySlice<UInt8>
    public var partial: PartialInfo?
    public var stream: LogStream
    /// Spillway's own in-band record (a drop report), not a line of the workload's.
    public var isDropReport: Bool

    public init(
        time: Timestamp, stream: LogStream, line: ArraySlice<UInt8>, partial: PartialInfo? = nil,
        isDropReport: Bool = false
    ) {
        self.time = time
        self.stream = stream
        self.line = line
        self.partial = partial
        self.isDropReport = isDropReport
    }

    /// Fixed cost charged per record on top of its bytes, so that many tiny lines cannot exceed a
    /// buffer's size (the struct and its share of bookkeeping).
    public static let overhead = 64

    /// What this record costs in a buffer.
    public var bufferCost: Int { line.count + LogRecord.overhead }
}
