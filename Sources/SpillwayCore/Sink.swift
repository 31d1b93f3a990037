/// How much one batch may hold, in the sink's own terms.
public struct BatchLimits: Sendable, Equatable {
    /// Most records in one batch.
    public var maxRecords: Int
    /// Most bytes in one batch, counted as each record's line bytes plus `bytesPerRecord`.
    public var maxBytes: Int
    /// What the destination charges per record on top of its bytes (CloudWatch: 26).
    public var bytesPerRecord: Int

    public init(maxRecords: Int, maxBytes: Int, bytesPerRecord: Int) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        self.bytesPerRecord = bytesPerRecord
    }
}

/// Records handed to a sink in one piece. `id` is unique for the process lifetime.
public struct Batch: Sendable {
    public let id: UInt64
    public let records: [LogRecord]

    public init(id: UInt64, records: [LogRecord]) {
        self.id = id
        self.records = records
    }
}

/// Why a destination refused some records for good.
public struct Rejection: Sendable, Equatable {
    /// Indices into the batch's records.
    public var indices: Range<Int>
    public var reason: DropReason

    public init(indices: Range<Int>, reason: DropReason) {
        self.indices = indices
        self.reason = reason
    }
}

/// What became of one batch. Sinks report; the delivery core decides what follows.
public enum SendOutcome: Sendable, Equatable {
    /// The destination acknowledged every record.
    case delivered
    /// Nothing was acknowledged; send the same records again after a backoff.
    case retryable(reason: String)
    /// The destination took the batch but refused these records permanently: they are counted as
    /// dropped with the reason; the rest count as delivered.
    case rejected([Rejection])
}

/// A destination for records. Implementations may complete on any thread.
public protocol Sink: AnyObject, Sendable {
    /// Upper bounds of one batch.
    var batchLimits: BatchLimits { get }
    /// Batches that may be outstanding at once (sent, not yet answered).
    var maxInFlight: Int { get }
    /// Sends one batch and calls `completion` exactly once with its outcome.
    func send(_ batch: Batch, completion: @escaping @Sendable (SendOutcome) -> Void)
    /// Releases connections; calls `completion` once done. No `send` follows.
    func shutdown(completion: @escaping @Sendable () -> Void)
    /// A cheap check, while the destination is down, that it is back (a forward sink reconnects):
    /// true lets the retry go at once instead of after the backoff.
    func probe(completion: @escaping @Sendable (Bool) -> Void)
    /// Batches the sink sent again on its own, to another server after the one they were in
    /// flight on failed (a receiver may hold them twice); read from any thread.
    var resentBatches: Int { get }
}

extension Sink {
    /// A sink without a cheap probe never cuts a backoff short.
    public func probe(completion: @escaping @Sendable (Bool) -> Void) { completion(false) }
    public var resentBatches: Int { 0 }
}

/// Spillway's own diagnostics (never mixed into the workload's records).
public enum DiagnosticLevel: String, Sendable, Comparable, CaseIterable {
    case debug, info, warning, error

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public protocol Diagnostics: Sendable {
    /// `message` is built only when `level` is shown: a debug line costs nothing otherwise.
    func log(_ level: DiagnosticLevel, _ message: @autoclosure () -> String)
}

extension Diagnostics {
    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
    public func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    public func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }
}
