import SpillwayCore

/// Workload records that carry their id: in the time (every record, empty lines too) and at
/// the start of the line (`#<id>;` then filler, when the line is long enough).
public enum ModelRecord {
    public static let baseTime: Int64 = 1_767_261_600_000_000_000

    public static func make(id: Int, length: Int, stream: LogStream) -> LogRecord {
        let tag = Array("#\(id);".utf8)
        var line = [UInt8](tag.prefix(length))
        if length > line.count { line += [UInt8](repeating: UInt8(ascii: "x"), count: length - line.count) }
        return LogRecord(time: Timestamp(nanoseconds: baseTime + Int64(id)), stream: stream, line: line[...])
    }

    /// The id, checked against the line's tag when the line holds all of it; nil when they disagree.
    public static func id(of record: LogRecord) -> Int? {
        let id = Int(record.time.nanoseconds - baseTime)
        let tag = Array("#\(id);".utf8)
        if record.line.count >= tag.count, !record.line.prefix(tag.count).elementsEqual(tag) { return nil }
        if record.line.count < tag.count, !tag.starts(with: record.line) { return nil }
        return id
    }
}

/// Drives one `DeliveryCore` over a store with seeded random operations — accepts (empty and
/// large lines included), sink answers in random order (delivered, retryable, rejected for
/// random indices), timer advances, hops, finishInput — and checks the accounting after every
/// step: `carried + read == delivered + dropped + buffered`, delivered never decreasing, no
/// record delivered twice within the run. `carried` is what an earlier run left in a durable
/// store. The first broken rule ends the run; `failure` names seed, step and operation.
public final class AccountingModel {
    public let seed: UInt64
    public var rng: SplitMix64
    public let scheduler = ManualScheduler()
    public let clock = ManualWallClock()
    public let sink: ScriptedSink
    public let store: RecordStore
    public let core: DeliveryCore
    public let flushInterval: Duration
    /// Records buffered by an earlier run when this one started.
    public let carried: Int
    /// Records accepted in this run.
    public private(set) var read = 0
    public private(set) var nextID: Int
    public private(set) var failure: String?
    /// Workload ids the sink acknowledged in this run (through the core), with how often.
    public private(set) var deliveredIDs: [Int: Int] = [:]
    public private(set) var steps = 0
    /// How often each kind of event happened: for tests to check the sequences reach them.
    public private(set) var coverage: [String: Int] = [:]
    public private(set) var isPaused = false
    public private(set) var inputFinished = false
    public private(set) var drained = false
    public private(set) var abandoned = false
    /// Bytes of the longest line offered.
    public let maxLine: Int
    private var lastDelivered = 0
    private var lastOperation = "start"
    private var history: [String] = []

    public init(
        seed: UInt64, rng: SplitMix64, sink: ScriptedSink, store: RecordStore, flushInterval: Duration = .seconds(1),
        maxLine: Int = 2_000, firstID: Int = 0
    ) {
        self.seed = seed
        self.rng = rng
        self.sink = sink
        self.store = store
        self.flushInterval = flushInterval
        self.maxLine = maxLine
        nextID = firstID
        // A zero backoff base keeps retry timers deterministic (the core's jitter is not seeded);
        // they still wait for the next advance, so backing off is exercised.
        core = DeliveryCore(
            sink: sink, store: store, scheduler: scheduler, clock: clock, flushInterval: flushInterval,
            backoff: Backoff(base: .zero, cap: .zero), diagnostics: RecordingDiagnostics())
        core.start()
        // What the store held at the start: still buffered, or found lost by the start itself.
        carried = core.bufferedRecords + core.stats.droppedRecords + core.stats.deliveredRecords
        core.onRoom = { [unowned self] in isPaused = false }
        lastOperation = "start (carried \(carried))"
        check()
    }

    /// Random sink limits and window.
    public static func randomSink(_ rng: inout SplitMix64) -> ScriptedSink {
        let limits = BatchLimits(
            maxRecords: Int.random(in: 1...40, using: &rng), maxBytes: Int.random(in: 64...8_000, using: &rng),
            bytesPerRecord: Bool.random(using: &rng) ? 0 : 26)
        return ScriptedSink(limits: limits, maxInFlight: Int.random(in: 1...4, using: &rng), automaticOutcome: nil)
    }

    public var delivered: Int { core.stats.deliveredRecords }
    public var dropped: Int { core.stats.droppedRecords }
    public var buffered: Int { core.bufferedRecords }

    // MARK: Operations

    /// One random operation, then the checks.
    public func randomStep() {
        guard failure == nil else { return }
        steps += 1
        let roll = Int.random(in: 0..<1_000, using: &rng)
        switch roll {
        case 0..<320 where !inputFinished && (!isPaused || roll < 30):  // now and then past a pause
            acceptRandomBatch()
        case 0..<600:
            answerRandom(delivered: 50)
        case 600..<750:
            lastOperation = "runPending"
            scheduler.runPending()
            checkSinkAgrees()
        case 750..<997:
            advance(.milliseconds(Int.random(in: 0...1_500, using: &rng)))
        default:  // input ends early now and then; otherwise at the shutdown
            lastOperation = "finishInput"
            inputFinished = true
            core.finishInput()
        }
        check()
    }

    public func acceptRandomBatch() {
        let count = Int.random(in: 0...8, using: &rng)
        var batch: [LogRecord] = []
        for _ in 0..<count {
            let kind = Int.random(in: 0..<100, using: &rng)
            let length = kind < 12 ? 0 : kind < 20 ? Int.random(in: maxLine / 2...maxLine, using: &rng)
                : Int.random(in: 1...80, using: &rng)
            batch.append(ModelRecord.make(
                id: nextID, length: length, stream: Bool.random(using: &rng) ? .stdout : .stderr))
            nextID += 1
        }
        read += count
        let ok = core.accept(batch)
        lastOperation = "accept \(count) (ids ..<\(nextID)) -> \(ok)"
        if !ok { isPaused = true; coverage["paused", default: 0] += 1 }
        if count == 0 { coverage["empty accept", default: 0] += 1 }
        for r in batch {
            if r.line.isEmpty { coverage["empty line", default: 0] += 1 }
            if r.line.count >= maxLine / 2 { coverage["large line", default: 0] += 1 }
        }
    }

    /// Answers a random outstanding batch: delivered with `delivered` percent, else retryable
    /// or rejected for a random part.
    public func answerRandom(delivered: Int) {
        let outstanding = sink.outstandingBatches
        guard !outstanding.isEmpty else {
            lastOperation = "answer (none outstanding)"
            return
        }
        let index = Int.random(in: 0..<outstanding.count, using: &rng)
        let batch = outstanding[index]
        let roll = Int.random(in: 0..<100, using: &rng)
        let outcome: SendOutcome
        if roll < delivered {
            outcome = .delivered
        } else if roll < delivered + (100 - delivered) / 2 {
            outcome = .retryable(reason: "model says retry")
        } else {
            var rejections: [Rejection] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let lower = Int.random(in: 0..<batch.records.count, using: &rng)
                let upper = Int.random(in: (lower + 1)...batch.records.count, using: &rng)
                let reasons: [DropReason] = [.emptyLine, .rejected("too large"), .rejected("expired")]
                rejections.append(Rejection(indices: lower..<upper, reason: reasons.randomElement(using: &rng)!))
            }
            outcome = .rejected(rejections)
        }
        answer(at: index, outcome)
    }

    public func answer(at index: Int, _ outcome: SendOutcome) {
        let batch = sink.outstandingBatches[index]
        if index > 0 { coverage["out of order", default: 0] += 1 }
        switch outcome {
        case .delivered: coverage["delivered", default: 0] += 1
        case .retryable: coverage["retryable", default: 0] += 1
        case .rejected: coverage["rejected", default: 0] += 1
        }
        if batch.records.contains(where: \.isDropReport) { coverage["drop report sent", default: 0] += 1 }
        lastOperation = "answer batch \(batch.id) (\(batch.records.count) records) of \(sink.outstanding): \(outcome)"
        if !abandoned {
            var refused = Set<Int>()
            if case .rejected(let rejections) = outcome { for r in rejections { refused.formUnion(r.indices) } }
            if outcome != .retryable(reason: "model says retry") {
                for (i, record) in batch.records.enumerated() where !record.isDropReport && !refused.contains(i) {
                    guard let id = ModelRecord.id(of: record) else {
                        fail("a delivered line does not match its id: \(record)")
                        return
                    }
                    deliveredIDs[id, default: 0] += 1
                    if deliveredIDs[id]! > 1 { fail("record \(id) delivered twice") }
                }
            }
        }
        sink.answer(at: index, outcome)
    }

    public func advance(_ delay: Duration) {
        lastOperation = "advance \(delay)"
        clock.time.nanoseconds += delay.nanoseconds
        scheduler.advance(by: delay)
        checkSinkAgrees()
    }

    /// Shutdown: input ends, the drain waits, the sink answers (mostly delivered) for
    /// `deadlineRounds` flush intervals, then the deadline abandons what is left.
    public func shutdown(deadlineRounds: Int) {
        guard failure == nil else { return }
        if !inputFinished {
            lastOperation = "finishInput (shutdown)"
            inputFinished = true
            core.finishInput()
            check()
        }
        lastOperation = "drain"
        core.drain { [unowned self] in drained = true }
        check()
        var round = 0
        while !drained && round < deadlineRounds && failure == nil {
            while sink.outstanding > 0 && failure == nil {
                answerRandom(delivered: 85)
                check()
            }
            advance(flushInterval)
            check()
            round += 1
        }
        guard failure == nil else { return }
        let before = (delivered, dropped)
        let drainedBefore = drained
        lastOperation = "abandon (drained: \(drained))"
        abandoned = true
        let held = buffered
        core.abandon()
        if delivered + dropped > before.0 + before.1 || (store.isDurable && held > 0) {
            coverage["abandoned with records", default: 0] += 1
        }
        if drainedBefore { coverage["drained before the deadline", default: 0] += 1 }
        check()
        if !drained { fail("the drain did not end at abandon") }
        // A memory store buffers only what is in flight at the deadline: its outcome is not known
        // yet (answers already given are counted once their hop has run).
        scheduler.runPending()
        check()
        let unanswered = sink.outstandingBatches.reduce(0) { $0 + $1.records.count { !$0.isDropReport } }
        if !store.isDurable && buffered != unanswered {
            fail("a memory store buffers \(buffered) after abandon, \(unanswered) of them in flight")
        }
        if drainedBefore && before != (delivered, dropped) {
            // Drained before the deadline: abandon has nothing left to count.
            fail("abandon after the drain changed the counts: \(before) -> \((delivered, dropped))")
        }
        // Late answers count: a line the destination took is delivered, one it did not is
        // undelivered (memory) or stays stored (disk). Nothing new is sent.
        let sentBefore = sink.sent.count
        while sink.outstanding > 0 && failure == nil {
            answerRandom(delivered: 70)
            check()
        }
        scheduler.runPending()
        scheduler.advance(by: flushInterval)
        lastOperation = "settle after abandon"
        core.settle()
        check()
        if sink.sent.count != sentBefore { fail("\(sink.sent.count - sentBefore) batches sent after the deadline") }
        if !store.isDurable && buffered != 0 { fail("a memory store still buffers \(buffered) once settled") }
    }

    // MARK: Checks

    public func check() {
        guard failure == nil else { return }
        history.append("\(steps): \(lastOperation) => read \(read) delivered \(delivered) dropped \(dropped) buffered \(buffered)")
        if history.count > 12 { history.removeFirst() }
        if carried + read != delivered + dropped + buffered {
            fail("carried \(carried) + read \(read) != delivered \(delivered) + dropped \(dropped) + buffered \(buffered)")
        }
        if delivered < lastDelivered { fail("delivered went down: \(lastDelivered) -> \(delivered)") }
        lastDelivered = delivered
    }

    /// After the hops ran: what the sink acknowledged is what the core counts as delivered.
    private func checkSinkAgrees() {
        guard failure == nil, !abandoned else { return }
        let acknowledged = deliveredIDs.values.reduce(0, +)
        if acknowledged != delivered { fail("the sink acknowledged \(acknowledged) records, the core counts \(delivered)") }
    }

    public func fail(_ message: String) {
        guard failure == nil else { return }
        failure = "seed \(seed), step \(steps), after \(lastOperation): \(message)\n  "
            + history.joined(separator: "\n  ")
    }
}
