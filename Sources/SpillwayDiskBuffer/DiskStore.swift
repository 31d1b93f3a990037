import SpillwayCore

/// The disk buffer as the delivery core's record store (filesystem mode).
///
/// A failing disk (EIO and the like, not a full one: the buffer handles that) must not stop the
/// workload or lose lines silently: records that cannot be written are counted as dropped with
/// the error, and reading resumes at the next record. Used on one serial queue, as `DiskBuffer`.
public final class DiskStore: RecordStore, @unchecked Sendable {
    public let buffer: DiskBuffer
    private let diagnostics: Diagnostics
    private let clock: WallClock
    /// Records left by an earlier run not yet read: sent in full batches without waiting.
    private var backlog: Int
    /// Unread records appended in this run, measured as the sink counts a batch.
    private var unreadBatchBytes = 0
    private var losses: [DropLoss] = []
    private var lastError: String?
    private var syncTimer: ScheduledWork?

    public init(buffer: DiskBuffer, clock: WallClock, diagnostics: Diagnostics) {
        self.buffer = buffer
        self.clock = clock
        self.diagnostics = diagnostics
        backlog = buffer.unreadCount
        collectLosses()
    }

    public var isEmpty: Bool { buffer.unreadCount == 0 }
    public var storedRecords: Int { buffer.unacknowledgedCount }
    public var storedBytes: Int { buffer.storedBytes }
    public var segmentCount: Int? { buffer.segmentCount }
    public var isDurable: Bool { true }

    public func store(_ records: ArraySlice<LogRecord>, dropped: (DropLoss) -> Void) -> Int {
        let taken: Int
        do {
            taken = try buffer.append(records)
        } catch {
            failed("writing the disk buffer", error)
            records.forEach { dropped(DropLoss($0, reason: .damaged("write failed: \(error)"))) }
            return records.count
        }
        for record in records.prefix(taken) { unreadBatchBytes += record.line.count }
        collectLosses()
        return taken
    }

    public func batchDue(_ limits: BatchLimits) -> Bool {
        backlog > 0 || buffer.unreadCount >= limits.maxRecords
            || unreadBatchBytes + buffer.unreadCount * limits.bytesPerRecord >= limits.maxBytes
            || buffer.storedBytes >= buffer.options.limit / 2
    }

    public func takeBatch(_ limits: BatchLimits) -> (records: [LogRecord], receipt: StoreReceipt) {
        let batch: DiskBatch?
        do {
            batch = try buffer.read(
                maxRecords: limits.maxRecords, maxBytes: limits.maxBytes, bytesPerRecord: limits.bytesPerRecord)
        } catch {
            failed("reading the disk buffer", error)
            return ([], StoreReceipt())
        }
        collectLosses()
        guard let batch else {
            backlog = 0
            unreadBatchBytes = 0
            return ([], StoreReceipt())
        }
        let fromBacklog = min(backlog, batch.records.count)
        backlog -= fromBacklog
        for record in batch.records[fromBacklog...] { unreadBatchBytes -= record.line.count }
        if buffer.unreadCount == 0 { unreadBatchBytes = 0 }
        return (batch.records, StoreReceipt(positions: batch.positions))
    }

    public func release(_ receipt: StoreReceipt) {
        do {
            try buffer.acknowledge(receipt.positions)
        } catch {
            failed("acknowledging in the disk buffer", error)
        }
        collectLosses()
    }

    /// What is on disk stays there for the next start.
    public func abandon() -> [LogRecord] { [] }

    public func takeLosses() -> [DropLoss] {
        defer { losses.removeAll() }
        return losses
    }

    /// With `SPILLWAY_STORAGE_SYNC=normal`, `sync` every flush interval.
    public func start(scheduler: Scheduler, interval: Duration) {
        guard buffer.syncPolicy == .normal else { return }
        syncTimer = scheduler.schedule(after: interval) { [weak self] in
            self?.sync()
            self?.start(scheduler: scheduler, interval: interval)
        }
    }

    /// Starts forcing appended data to disk without waiting.
    public func sync() {
        do {
            try buffer.syncInBackground()
        } catch {
            failed("syncing the disk buffer", error)
        }
    }

    /// Forces everything to disk, then closes the buffer: before exit.
    public func close() {
        syncTimer?.cancel()
        do {
            try buffer.sync()
        } catch {
            failed("syncing the disk buffer", error)
        }
        buffer.close()
    }

    private func collectLosses() {
        for loss in buffer.takeLosses() {
            let now = clock.now()
            let range = loss.timeRange ?? now...now
            losses.append(DropLoss(
                stream: loss.stream ?? .stderr, reason: loss.droppedForSpace ? .storageFull : .damaged(loss.reason),
                records: loss.records, bytes: loss.bytes, first: range.lowerBound, last: range.upperBound))
            if !loss.droppedForSpace { diagnostics.warning("disk buffer lost \(loss.records) records: \(loss.reason)") }
        }
    }

    /// One diagnostic per distinct error, not one per call.
    private func failed(_ what: String, _ error: DiskBufferError) {
        let text = "\(what): \(error)"
        if text != lastError { diagnostics.error(text) }
        lastError = text
    }
}
