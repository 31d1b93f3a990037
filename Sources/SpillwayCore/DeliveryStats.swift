/// Why a record was not delivered. Every line ends delivered, buffered, or counted under one of
/// these (docs/architecture.md, "Accounting": no fourth outcome).
public enum DropReason: Hashable, Sendable {
    case bufferFull
    case storageFull
    case rejected(String)
    case emptyLine
    case shutdownTimeout
    case outputClosed
    /// Damaged or missing on disk (filesystem mode), with what the disk buffer found.
    case damaged(String)

    /// The reasons without a detail: the metrics show each from the start, at 0.
    public static let withoutDetail: [DropReason] = [.bufferFull, .storageFull, .emptyLine, .shutdownTimeout, .outputClosed]

    public var text: String {
        switch self {
        case .bufferFull: return "non-blocking buffer full"
        case .storageFull: return "storage full"
        case .rejected(let why): return "rejected by the destination: \(why)"
        case .emptyLine: return "empty line the destination cannot take"
        case .shutdownTimeout: return "undelivered at the shutdown timeout"
        case .outputClosed: return "spillway's stdout is closed"
        case .damaged(let what): return "lost from the disk buffer: \(what)"
        }
    }
}

/// Drops not yet reported in-band, per stream and reason.
struct PendingDropReport {
    var records = 0
    var bytes = 0
    var first: Timestamp
    var last: Timestamp
}

/// Counters for the exit summary, the metrics endpoint and the in-band drop records: one
/// source, so a scrape at exit shows the summary's figures.
public struct DeliveryStats: Sendable {
    public private(set) var deliveredRecords = 0
    public private(set) var deliveredBytes = 0
    /// Batches sent again after a retryable failure.
    public private(set) var retriedBatches = 0
    /// Sends that failed, by outcome: "retryable" or "rejected".
    public private(set) var failedSends: [String: Int] = [:]
    /// When the sink last acknowledged a batch.
    public private(set) var lastDelivery: Timestamp?
    /// Read (the record's timestamp) to acknowledgement.
    public private(set) var latency = LatencyHistogram()
    public private(set) var droppedRecords = 0
    public private(set) var droppedBytes = 0
    public private(set) var droppedByReason: [DropReason: Int] = [:]
    /// In-band drop records sent (they are not counted as delivered workload records).
    public private(set) var reportsSent = 0
    private var unreported: [DropKey: PendingDropReport] = [:]
    private var unreportedOrder: [DropKey] = []

    struct DropKey: Hashable {
        var stream: LogStream
        var reason: DropReason
    }

    public init() {}

    mutating func delivered(records: Int, bytes: Int, at time: Timestamp) {
        deliveredRecords += records
        deliveredBytes += bytes
        lastDelivery = time
    }

    mutating func observeLatency(read: Timestamp, acknowledged: Timestamp, count: Int = 1) {
        latency.observe(seconds: Double(acknowledged.nanoseconds - read.nanoseconds) / 1e9, count: count)
    }

    mutating func failedSend(_ kind: String) { failedSends[kind, default: 0] += 1 }

    mutating func retried() { retriedBatches += 1 }

    mutating func reportSent() { reportsSent += 1 }

    /// Counts a dropped record; `reportable` drops are announced in-band later.
    mutating func dropped(_ record: LogRecord, reason: DropReason, reportable: Bool = true) {
        guard !record.isDropReport else { return }  // spillway's own notes are not workload lines
        dropped(DropLoss(record, reason: reason), reportable: reportable)
    }

    mutating func dropped(_ loss: DropLoss, reportable: Bool = true) {
        droppedRecords += loss.records
        droppedBytes += loss.bytes
        droppedByReason[loss.reason, default: 0] += loss.records
        guard reportable else { return }
        let key = DropKey(stream: loss.stream, reason: loss.reason)
        if var report = unreported[key] {
            report.records += loss.records
            report.bytes += loss.bytes
            report.first = min(report.first, loss.first)
            report.last = max(report.last, loss.last)
            unreported[key] = report
        } else {
            unreported[key] = PendingDropReport(records: loss.records, bytes: loss.bytes, first: loss.first, last: loss.last)
            unreportedOrder.append(key)
        }
    }

    var hasUnreportedDrops: Bool { !unreportedOrder.isEmpty }

    /// Takes the pending drop counts as in-band records, one per stream and reason.
    mutating func takeDropReports(at time: Timestamp) -> [LogRecord] {
        defer {
            unreported = [:]
            unreportedOrder = []
        }
        return unreportedOrder.map { key in
            let r = unreported[key]!
            let text = "spillway: dropped \(r.records) records (\(r.bytes) bytes) between "
                + "\(RFC3339.format(r.first, fractional: false)) and \(RFC3339.format(r.last, fractional: false)) "
                + "(\(key.reason.text))"
            return LogRecord(time: time, stream: key.stream, line: ArraySlice(text.utf8), isDropReport: true)
        }
    }

    /// `spillway: exit code=0 delivered=… dropped=… buffered=… bytes=…`, plus drops by reason.
    public func summary(exitCode: Int32, buffered: Int) -> String {
        var line = "spillway: exit code=\(exitCode) delivered=\(deliveredRecords) dropped=\(droppedRecords) "
            + "buffered=\(buffered) bytes=\(deliveredBytes)"
        if !droppedByReason.isEmpty {
            let reasons = droppedByReason.sorted { $0.key.text < $1.key.text }
                .map { "\($0.value) \($0.key.text)" }.joined(separator: ", ")
            line += " (dropped: \(reasons))"
        }
        return line
    }
}
