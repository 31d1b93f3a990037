import DequeModule

/// Batcher and retry loop between the framer and a sink, over a `RecordStore` — all on one
/// serial scheduler.
///
/// Records wait in the store until a batch is due (full, the store filling up, `flushInterval`
/// after the oldest waiting record arrived, or shutdown). A sent batch stays stored until the
/// sink answers: delivered releases it, retryable sends the same batch again after a backoff
/// (one backoff for every failure), rejected counts the refused records as dropped. Records the
/// store cannot take yet (backpressure) wait here, and the readers pause until `onRoom`.
public final class DeliveryCore: @unchecked Sendable {
    private let sink: Sink
    private let store: RecordStore
    private let scheduler: Scheduler
    private let clock: WallClock
    private let flushInterval: Duration
    private let diagnostics: Diagnostics
    private let limits: BatchLimits

    private struct Sent {
        var batch: Batch
        var receipt: StoreReceipt
    }

    /// In-band drop reports; they go out first, outside the store, so they are never dropped.
    private var reports = Deque<LogRecord>()
    private var retries = Deque<Sent>()
    private var inFlight: [UInt64: Sent] = [:]
    /// Batches in flight at the deadline: their outcome is unknown until the sink answers or is
    /// shut down. A late answer counts (a line the destination got is delivered); `settle`
    /// counts the rest as undelivered.
    private var unresolved: [UInt64: Sent] = [:]
    private var waiting = WaitingRecords()
    private var nextBatchID: UInt64 = 1
    private var backoff: Backoff
    private var random = SystemRandomNumberGenerator()
    private var backingOff = false
    private var backoffTimer: ScheduledWork?
    /// While backing off, the sink is probed this often; a healthy probe ends the backoff.
    private let probeInterval: Duration = .seconds(1)
    private var flushTimer: ScheduledWork?
    private var flushDue = false
    private var inputFinished = false
    /// The workload has exited: every batch is due at once, nothing waits for the flush timer.
    private var flushingAll = false
    /// The shutdown deadline passed: the drain ends whatever a durable store still holds.
    private var abandoned = false
    private var drainCompletion: (() -> Void)?
    private var lastFailureReason: String?

    public private(set) var stats = DeliveryStats()
    /// Called (on the scheduler) when a reader paused by `accept` returning false may read again.
    public var onRoom: (() -> Void)?

    public init(
        sink: Sink, store: RecordStore, scheduler: Scheduler, clock: WallClock, flushInterval: Duration,
        backoff: Backoff = Backoff(), diagnostics: Diagnostics
    ) {
        self.sink = sink
        self.store = store
        self.scheduler = scheduler
        self.clock = clock
        self.flushInterval = flushInterval
        self.backoff = backoff
        self.diagnostics = diagnostics
        self.limits = sink.batchLimits
    }

    /// False from a failed send until the next delivery.
    public var destinationUp: Bool { lastFailureReason == nil }

    /// The ceiling of the next retry delay (zero while delivering).
    public var retryDelay: Duration { backoff.ceiling }

    /// Records not yet answered for: stored (in flight included), waiting to be stored, and (a
    /// memory store) in flight at the deadline.
    public var bufferedRecords: Int {
        store.storedRecords + waiting.count
            + (store.isDurable ? 0 : unresolved.values.reduce(0) { $0 + $1.batch.records.count { !$0.isDropReport } })
    }

    /// Starts delivering what the store already holds (a disk backlog from an earlier run).
    public func start() {
        if !store.isEmpty { startFlushTimer() }
        pump()
    }

    /// Offers freshly framed records. Returns false when the caller must stop reading until
    /// `onRoom` (backpressure); the records are kept, nothing is lost.
    @discardableResult
    public func accept(_ records: [LogRecord]) -> Bool {
        if waiting.isEmpty {
            let taken = storeNow(records[...])
            waiting.append(contentsOf: records[taken...])
        } else {
            waiting.append(contentsOf: records)
        }
        pump()
        return waiting.isEmpty
    }

    /// Stores what the store takes of `records`; returns how many it took.
    private func storeNow(_ records: ArraySlice<LogRecord>) -> Int {
        guard !records.isEmpty else { return 0 }
        let wasEmpty = store.isEmpty
        let taken = store.store(records) { stats.dropped($0) }
        if wasEmpty && !store.isEmpty { startFlushTimer() }
        return taken
    }

    /// Moves records that waited for room into the store; tells paused readers to go on.
    private func refill() {
        guard !waiting.isEmpty else { return }
        let taken = storeNow(waiting.pending)
        waiting.removeFirst(taken)
        if waiting.isEmpty { onRoom?() }
    }

    /// The workload has exited (a grandchild may still hold a pipe): from now on every batch is
    /// due at once, so the shutdown timeout is spent delivering, not waiting for a timer.
    public func flushAll() {
        flushingAll = true
        pump()
    }

    /// Records read at the shutdown deadline (what the pipes still held): a durable store keeps
    /// what it takes now; the rest is counted as undelivered at once, never held in memory.
    public func acceptAtDeadline(_ records: [LogRecord]) {
        let taken = store.isDurable && waiting.isEmpty ? store.store(records[...]) { stats.dropped($0) } : 0
        for record in records[taken...] { stats.dropped(record, reason: .shutdownTimeout, reportable: false) }
    }

    /// No more input will come (every pipe reached EOF or was abandoned): send what is left now.
    public func finishInput() {
        inputFinished = true
        pump()
        checkDrained()
    }

    /// `completion` runs on the scheduler once input has finished and nothing is left to
    /// deliver, or after `abandon()`.
    public func drain(completion: @escaping () -> Void) {
        drainCompletion = completion
        checkDrained()
    }

    private func checkDrained() {
        guard let completion = drainCompletion, inputFinished,
              abandoned || (store.isEmpty && waiting.isEmpty && reports.isEmpty && retries.isEmpty && inFlight.isEmpty)
        else { return }
        drainCompletion = nil
        completion()
    }

    /// The shutdown deadline: what is still in memory is counted as dropped (undelivered at the
    /// shutdown timeout); a durable store keeps its records for the next start. The drain ends.
    public func abandon() {
        guard drainCompletion != nil else { return }
        inputFinished = true
        abandoned = true
        var lost = Array(waiting.pending) + store.abandon()
        if !store.isDurable { lost += retries.flatMap(\.batch.records) }
        lost.forEach { stats.dropped($0, reason: .shutdownTimeout, reportable: false) }
        retries.removeAll()
        unresolved = inFlight
        inFlight.removeAll()
        waiting.removeAll()
        reports.removeAll()
        // Nothing is sent after the deadline: the store is closed next.
        flushTimer?.cancel()
        flushTimer = nil
        if let reason = lastFailureReason, !lost.isEmpty {
            diagnostics.warning("shutdown timeout reached with records undelivered; last error: \(reason)")
        }
        checkDrained()
    }

    /// The sink has been shut down: batches still unanswered since the deadline are undelivered
    /// (a durable store keeps them for the next start).
    public func settle() {
        for sent in unresolved.values { settleUndelivered(sent) }
        unresolved.removeAll()
    }

    private func settleUndelivered(_ sent: Sent) {
        guard !store.isDurable else { return }
        sent.batch.records.forEach { stats.dropped($0, reason: .shutdownTimeout, reportable: false) }
    }

    private func startFlushTimer() {
        flushTimer?.cancel()
        flushTimer = scheduler.schedule(after: flushInterval) { [self] in
            flushDue = true
            pump()
        }
    }

    /// Admits waiting records as room allows, then sends every batch that is due, as far as the
    /// in-flight window and the backoff allow.
    private func pump() {
        guard !abandoned else { return }
        var sent: Bool
        repeat {
            countStoreLosses()
            refill()
            sent = false
            while !backingOff, inFlight.count < sink.maxInFlight {
                if let retry = retries.popFirst() {
                    stats.retried()
                    send(retry)
                } else if batchDue, let batch = makeBatch() {
                    send(batch)
                } else {
                    break
                }
                sent = true
            }
        } while sent && !waiting.isEmpty
        countStoreLosses()
        if !reports.isEmpty && inFlight.isEmpty && !backingOff {
            scheduler.execute { [self] in pump() }  // losses found by the last read
        }
        if store.isEmpty && reports.isEmpty {
            flushDue = false
            flushTimer?.cancel()
            flushTimer = nil
        }
    }

    private var batchDue: Bool {
        if !reports.isEmpty { return true }
        guard !store.isEmpty else { return false }
        // Readers waiting for room with nothing in flight: a fuller batch would only stall the
        // workload. With batches in flight, their answers make the room; until then the records
        // gather into a fuller batch (a small one would only add a round trip per batch).
        return flushDue || flushingAll || inputFinished || (!waiting.isEmpty && inFlight.isEmpty)
            || store.batchDue(limits)
    }

    /// Losses the store found on its own (a disk store: damage, drop-oldest) are counted and
    /// reported like any other drop.
    private func countStoreLosses() {
        let losses = store.takeLosses()
        guard !losses.isEmpty else { return }
        losses.forEach { stats.dropped($0) }
        if !backingOff { reportDrops() }
    }

    /// Nil when nothing could be taken (a disk store skipped damaged records, now counted).
    private func makeBatch() -> Sent? {
        // Drop reports go first; stored records fill what room the batch has left.
        var records = Array(reports.prefix(limits.maxRecords))
        reports.removeFirst(records.count)
        var rest = limits
        rest.maxRecords = limits.maxRecords - records.count
        rest.maxBytes = max(1, limits.maxBytes - records.reduce(0) { $0 + $1.line.count + limits.bytesPerRecord })
        let taken = rest.maxRecords > 0 ? store.takeBatch(rest) : (records: [], receipt: StoreReceipt())
        // Usually there is no report: take the store's array as it is rather than copying it.
        if records.isEmpty { records = taken.records } else { records += taken.records }
        guard !records.isEmpty else { return nil }
        defer { nextBatchID += 1 }
        return Sent(batch: Batch(id: nextBatchID, records: records), receipt: taken.receipt)
    }

    private func send(_ sent: Sent) {
        let id = sent.batch.id
        diagnostics.debug("send batch \(id): \(sent.batch.records.count) records, \(waiting.count) waiting")
        inFlight[id] = sent
        sink.send(sent.batch) { [self] outcome in
            scheduler.execute { [self] in complete(id, outcome) }
        }
    }

    private func complete(_ id: UInt64, _ outcome: SendOutcome) {
        if let late = unresolved.removeValue(forKey: id) {
            switch outcome {
            case .delivered: release(late, rejected: [])
            case .rejected(let rejections): release(late, rejected: rejections)
            case .retryable: settleUndelivered(late)
            }
            return
        }
        guard let sent = inFlight.removeValue(forKey: id) else { return }
        switch outcome {
        case .delivered:
            release(sent, rejected: [])
        case .rejected(let rejections):
            stats.failedSend("rejected")
            release(sent, rejected: rejections)
        case .retryable(let reason):
            stats.failedSend("retryable")
            retries.append(sent)
            retryLater(reason)
        }
        pump()
        checkDrained()
    }

    private func release(_ sent: Sent, rejected: [Rejection]) {
        var bytes = 0
        var delivered = 0
        let now = clock.now()
        if rejected.isEmpty {
            // The common case, once per batch of thousands: count without copying records
            // (each copy of a record retains and releases its line's storage).
            // Records of one read share its time: one latency observation per run of equal times.
            sent.batch.records.withUnsafeBufferPointer { records in
                var run = (time: Timestamp(nanoseconds: 0), count: 0)
                for i in records.indices {
                    if records[i].isDropReport {
                        stats.reportSent()
                        continue
                    }
                    delivered += 1
                    bytes += records[i].line.count
                    if records[i].time != run.time {
                        if run.count > 0 { stats.observeLatency(read: run.time, acknowledged: now, count: run.count) }
                        run = (records[i].time, 0)
                    }
                    run.count += 1
                }
                if run.count > 0 { stats.observeLatency(read: run.time, acknowledged: now, count: run.count) }
            }
        } else {
            var refused = [DropReason?](repeating: nil, count: sent.batch.records.count)
            for r in rejected { for i in r.indices where i < refused.count { refused[i] = r.reason } }
            for (i, record) in sent.batch.records.enumerated() {
                if let reason = refused[i] {
                    // An empty line is skipped, not a gap worth a note in the logs (as Fluent Bit skips it).
                    stats.dropped(record, reason: reason, reportable: reason != .emptyLine)
                } else if record.isDropReport {
                    stats.reportSent()
                } else {
                    delivered += 1
                    bytes += record.line.count
                    stats.observeLatency(read: record.time, acknowledged: now)
                }
            }
        }
        stats.delivered(records: delivered, bytes: bytes, at: now)
        // After the deadline a memory store has already let go of its records; a disk store
        // still acknowledges, so a late answer is not replayed at the next start.
        guard !abandoned || store.isDurable else { return }
        store.release(sent.receipt)
        guard !abandoned else { return }
        if !backingOff { backoff.succeed() }
        lastFailureReason = nil
        reportDrops()
    }

    /// Once the sink accepts data again, the gap becomes visible where people read the logs.
    private func reportDrops() {
        guard stats.hasUnreportedDrops else { return }
        reports.append(contentsOf: stats.takeDropReports(at: clock.now()))
    }

    private func retryLater(_ reason: String) {
        if lastFailureReason != reason { diagnostics.warning("delivery failed, will retry: \(reason)") }
        lastFailureReason = reason
        guard !backingOff else { return }
        backingOff = true
        let delay = backoff.fail(using: &random)
        backoffTimer = scheduler.schedule(after: delay) { [self] in endBackoff() }
        if delay > probeInterval { scheduleProbe() }
    }

    private func endBackoff() {
        guard backingOff else { return }
        backingOff = false
        backoffTimer?.cancel()
        backoffTimer = nil
        pump()
        checkDrained()
    }

    /// Recovery within a second of the destination's return, however long the backoff grew.
    private func scheduleProbe() {
        _ = scheduler.schedule(after: probeInterval) { [self] in
            guard backingOff, !abandoned else { return }
            sink.probe { healthy in
                self.scheduler.execute { [self] in
                    guard backingOff else { return }
                    if healthy {
                        diagnostics.debug("probe succeeded: retrying now")
                        endBackoff()
                    } else {
                        scheduleProbe()
                    }
                }
            }
        }
    }
}
