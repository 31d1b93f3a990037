import Dispatch
import SpillwayCore

/// A sink that records every batch and answers as the test scripts it: immediately with a fixed
/// outcome, or later when the test calls `answer`.
public final class ScriptedSink: Sink, @unchecked Sendable {
    public var batchLimits: BatchLimits
    public var maxInFlight: Int
    /// Outcome given at once; nil holds batches until `answer` is called.
    public var automaticOutcome: SendOutcome?
    /// What `probe` answers; `probes` counts the calls.
    public var probeHealthy = false
    public private(set) var probes = 0
    public private(set) var sent: [Batch] = []
    public private(set) var delivered: [LogRecord] = []
    private var waiting: [(Batch, @Sendable (SendOutcome) -> Void)] = []
    public private(set) var shutDown = false

    public init(
        limits: BatchLimits = BatchLimits(maxRecords: 100, maxBytes: 1 << 20, bytesPerRecord: 0),
        maxInFlight: Int = 1, automaticOutcome: SendOutcome? = .delivered
    ) {
        self.batchLimits = limits
        self.maxInFlight = maxInFlight
        self.automaticOutcome = automaticOutcome
    }

    public func send(_ batch: Batch, completion: @escaping @Sendable (SendOutcome) -> Void) {
        sent.append(batch)
        if let outcome = automaticOutcome {
            record(batch, outcome)
            completion(outcome)
        } else {
            waiting.append((batch, completion))
        }
    }

    public var outstanding: Int { waiting.count }

    /// Answers the oldest outstanding batch.
    public func answer(_ outcome: SendOutcome) {
        answer(at: 0, outcome)
    }

    /// Batches sent and not yet answered, oldest first.
    public var outstandingBatches: [Batch] { waiting.map(\.0) }

    /// Answers the outstanding batch at `index` (out of order when the window is wider than one).
    public func answer(at index: Int, _ outcome: SendOutcome) {
        let (batch, completion) = waiting.remove(at: index)
        record(batch, outcome)
        completion(outcome)
    }

    private func record(_ batch: Batch, _ outcome: SendOutcome) {
        switch outcome {
        case .delivered: delivered += batch.records
        case .rejected(let rejections):
            let refused = Set(rejections.flatMap { Array($0.indices) })
            delivered += batch.records.enumerated().filter { !refused.contains($0.offset) }.map(\.element)
        case .retryable: break
        }
    }

    /// Delivered workload lines as strings (drop reports excluded).
    public var deliveredLines: [String] {
        delivered.filter { !$0.isDropReport }.map { String(decoding: $0.line, as: UTF8.self) }
    }

    public var deliveredReports: [String] {
        delivered.filter(\.isDropReport).map { String(decoding: $0.line, as: UTF8.self) }
    }

    public func shutdown(completion: @escaping @Sendable () -> Void) {
        shutDown = true
        completion()
    }

    public func probe(completion: @escaping @Sendable (Bool) -> Void) {
        probes += 1
        completion(probeHealthy)
    }
}

/// A wall clock the test sets.
public final class ManualWallClock: WallClock, @unchecked Sendable {
    public var time: Timestamp
    public init(_ time: Timestamp = Timestamp(nanoseconds: 1_767_261_600_000_000_000)) { self.time = time }
    public func now() -> Timestamp { time }
}

/// Collects diagnostics for assertions.
public final class RecordingDiagnostics: Diagnostics, @unchecked Sendable {
    private let queue = DispatchQueue(label: "spillway.test.diagnostics")
    private var entries: [(DiagnosticLevel, String)] = []
    public init() {}
    public func log(_ level: DiagnosticLevel, _ message: @autoclosure () -> String) {
        let text = message()
        queue.sync { entries.append((level, text)) }
    }
    /// Everything logged, in order, with its level.
    public var messages: [(DiagnosticLevel, String)] { queue.sync { entries } }
    /// The messages logged at `level`.
    public func messages(_ level: DiagnosticLevel) -> [String] {
        queue.sync { entries.filter { $0.0 == level }.map(\.1) }
    }
}
