import DequeModule

/// What the delivery core does with records when its memory buffer is full.
public enum BufferPolicy: Sendable, Equatable {
    /// Stop reading: the caller pauses its readers until `onRoom` (blocking mode).
    case block
    /// Keep reading; drop the newest record (the one arriving) or the oldest unsent one.
    case dropNewest
    case dropOldest
}

/// Buffer, batcher and retry loop between the framer and a sink — all on one serial scheduler.
///
/// Records wait in `unsent` until a batch is due (full, or `flushInterval` after the oldest
/// unsent record arrived, or shutdown). A sent batch stays counted in the buffer until the sink
/// answers: delivered releases it, retryable puts it at the front of the queue again after a
/// backoff, rejected counts the refused records as dropped. The buffer's size counts each
/// record's bytes plus `LogRecord.overhead`, so many tiny lines cannot exceed it.
public final class DeliveryCore: @unchecked Sendable {
    private let sink: Sink
    private let scheduler: Scheduler
    private let clock: WallClock
    private let policy: BufferPolicy
    private let capacity: Int
    private let flushInterval: Duration
    private let diagnostics: Diagnostics
    private let limits: BatchLimits

    private var unsent = Deque<LogRecord>()
    private var retries = Deque<Batch>()
    private var inFlight: [UInt64: Batch] = [:]
    /// Records the readers produced that did not fit (blocking mode); they wait in order.
    private var waiting = Deque<LogRecord>()
    private var bufferedCost = 0
    /// Unsent records measured as the sink counts a batch (bytes + its per-record charge).
    private var unsentBatchBytes = 0
    private var nextBatchID: UInt64 = 1
    private var backoff: Backoff
    private var random = SystemRandomNumberGenerator()
    private var backingOff = false
    private var flushTimer: ScheduledWork?
    private var flushDue = false
    private var inputFinished = false
    private var drainCompletion: (() -> Void)?
    private var lastFailureReason: String?

    public private(set) var stats = DeliveryStats()
    /// Called (on the scheduler) when a reader paused by `accept` returning false may read again.
    public var onRoom: (() -> Void)?

    public init(
        sink: Sink, scheduler: Scheduler, clock: WallClock, policy: BufferPolicy, capacity: Int,
        flushInterval: Duration, backoff: Backoff = Backoff(), diagnostics: Diagnostics
    ) {
        self.sink = sink
        self.scheduler = scheduler
        self.clock = clock
        self.policy = policy
        self.capacity = capacity
        self.flushInterval = flushInterval
        self.backoff = backoff
        self.diagnostics = diagnostics
        self.limits = sink.batchLimits
    }

    /// Records held in memory: unsent, in flight, awaiting retry, and waiting to enter.
    public var bufferedRecords: Int {
        unsent.count + waiting.count + retries.reduce(0) { $0 + $1.records.count }
            + inFlight.values.reduce(0) { $0 + $1.records.count }
    }

    public var bufferedBytes: Int { bufferedCost }

    /// Offers freshly framed records. Returns false when the caller must stop reading until
    /// `onRoom` (blocking mode, buffer full); the records are kept, nothing is lost.
    @discardableResult
    public func accept(_ records: [LogRecord]) -> Bool {
        for record in records { admit(record) }
        pump()
        return waiting.isEmpty
    }

    private func admit(_ record: LogRecord) {
        let cost = record.bufferCost
        if waiting.isEmpty && bufferedCost + cost <= capacity {
            enqueue(record)
            return
        }
        switch policy {
        case .block:
            waiting.append(record)
        case .dropNewest:
            stats.dropped(record, reason: .bufferFull)
        case .dropOldest:
            while bufferedCost + cost > capacity, let oldest = dequeueUnsent() {
                bufferedCost -= oldest.bufferCost
                stats.dropped(oldest, reason: .bufferFull)
            }
            if bufferedCost + cost <= capacity {
                enqueue(record)
            } else {
                stats.dropped(record, reason: .bufferFull)  // everything else is in flight
            }
        }
    }

    private func enqueue(_ record: LogRecord, first: Bool = false) {
        if unsent.isEmpty { startFlushTimer() }
        if first { unsent.prepend(record) } else { unsent.append(record) }
        bufferedCost += record.bufferCost
        unsentBatchBytes += record.line.count + limits.bytesPerRecord
    }

    private func dequeueUnsent() -> LogRecord? {
        guard let record = unsent.popFirst() else { return nil }
        unsentBatchBytes -= record.line.count + limits.bytesPerRecord
        return record
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
        guard let completion = drainCompletion, inputFinished, unsent.isEmpty, waiting.isEmpty,
              retries.isEmpty, inFlight.isEmpty else { return }
        drainCompletion = nil
        completion()
    }

    /// The shutdown deadline: whatever is still buffered is counted as dropped (undelivered at the
    /// shutdown timeout) and the drain completes.
    public func abandon() {
        guard drainCompletion != nil else { return }
        inputFinished = true
        for batch in retries { batch.records.forEach { stats.dropped($0, reason: .shutdownTimeout, reportable: false) } }
        for batch in inFlight.values { batch.records.forEach { stats.dropped($0, reason: .shutdownTimeout, reportable: false) } }
        for record in unsent { stats.dropped(record, reason: .shutdownTimeout, reportable: false) }
        for record in waiting { stats.dropped(record, reason: .shutdownTimeout, reportable: false) }
        retries.removeAll()
        inFlight.removeAll()
        unsent.removeAll()
        waiting.removeAll()
        bufferedCost = 0
        unsentBatchBytes = 0
        if let reason = lastFailureReason {
            diagnostics.warning("shutdown timeout reached with records undelivered; last error: \(reason)")
        }
        checkDrained()
    }

    /// Counts records that never reached the buffer (e.g. still in a pipe at the deadline).
    public func countUndelivered(_ records: [LogRecord]) {
        records.forEach { stats.dropped($0, reason: .shutdownTimeout, reportable: false) }
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
        var sent: Bool
        repeat {
            refill()
            sent = false
            while !backingOff, inFlight.count < sink.maxInFlight {
                if let batch = retries.popFirst() {
                    send(batch)
                } else if !unsent.isEmpty, flushDue || inputFinished || unsentFillsABatch || underPressure {
                    send(makeBatch())
                } else {
                    break
                }
                sent = true
            }
        } while sent && !waiting.isEmpty
        if unsent.isEmpty {
            flushDue = false
            flushTimer?.cancel()
            flushTimer = nil
        }
    }

    /// Half the buffer in use, or readers waiting: waiting for a fuller batch would only stall
    /// the workload (blocking) or drop records (non-blocking).
    private var underPressure: Bool { !waiting.isEmpty || bufferedCost >= capacity / 2 }

    private var unsentFillsABatch: Bool {
        unsent.count >= limits.maxRecords || unsentBatchBytes >= limits.maxBytes
    }

    private func makeBatch() -> Batch {
        var records: [LogRecord] = []
        records.reserveCapacity(min(unsent.count, limits.maxRecords))
        var bytes = 0
        while let next = unsent.first, records.count < limits.maxRecords {
            let size = next.line.count + limits.bytesPerRecord
            if !records.isEmpty && bytes + size > limits.maxBytes { break }
            records.append(dequeueUnsent()!)
            bytes += size
        }
        defer { nextBatchID += 1 }
        return Batch(id: nextBatchID, records: records)
    }

    private func send(_ batch: Batch) {
        diagnostics.debug("send batch \(batch.id): \(batch.records.count) records, buffered \(bufferedCost) bytes, \(waiting.count) waiting")
        inFlight[batch.id] = batch
        sink.send(batch) { [self] outcome in
            scheduler.execute { [self] in complete(batch.id, outcome) }
        }
    }

    private func complete(_ id: UInt64, _ outcome: SendOutcome) {
        guard let batch = inFlight.removeValue(forKey: id) else { return }  // abandoned at deadline
        switch outcome {
        case .delivered:
            release(batch, rejected: [])
        case .rejected(let rejections):
            release(batch, rejected: rejections)
        case .retryable(let reason):
            retries.append(batch)
            retryLater(reason)
        }
        pump()
        checkDrained()
    }

    private func release(_ batch: Batch, rejected: [Rejection]) {
        var bytes = 0
        var delivered = 0
        var refused = [DropReason?](repeating: nil, count: batch.records.count)
        for r in rejected { for i in r.indices where i < refused.count { refused[i] = .rejected(r.reason) } }
        for (i, record) in batch.records.enumerated() {
            bufferedCost -= record.bufferCost
            if let reason = refused[i] {
                stats.dropped(record, reason: reason)
            } else if !record.isDropReport {
                delivered += 1
                bytes += record.line.count
            }
        }
        stats.delivered(records: delivered, bytes: bytes)
        if !backingOff { backoff.succeed() }
        lastFailureReason = nil
        reportDrops()
    }

    /// Once the sink accepts data again, the gap becomes visible where people read the logs.
    private func reportDrops() {
        guard stats.hasUnreportedDrops else { return }
        // Ahead of newer records, and outside the capacity: a report must never be dropped.
        for report in stats.takeDropReports(at: clock.now()).reversed() {
            enqueue(report, first: true)
            stats.reportSent()
        }
    }

    private func retryLater(_ reason: String) {
        if lastFailureReason != reason { diagnostics.warning("delivery failed, will retry: \(reason)") }
        lastFailureReason = reason
        guard !backingOff else { return }
        backingOff = true
        let delay = backoff.fail(using: &random)
        _ = scheduler.schedule(after: delay) { [self] in
            backingOff = false
            pump()
            checkDrained()
        }
    }

    /// Moves records that waited for room into the buffer; tells paused readers to go on.
    private func refill() {
        guard !waiting.isEmpty else { return }
        while let next = waiting.first, bufferedCost + next.bufferCost <= capacity {
            enqueue(waiting.removeFirst())
        }
        if waiting.isEmpty { onRoom?() }
    }
}
