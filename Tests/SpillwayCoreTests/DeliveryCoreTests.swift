import Testing
import SpillwayTestKit
@testable import SpillwayCore

private func records(_ texts: [String], stream: LogStream = .stdout, at ns: Int64 = 1_000) -> [LogRecord] {
    texts.map { LogRecord(time: Timestamp(nanoseconds: ns), stream: stream, line: ArraySlice($0.utf8)) }
}

private func numbered(_ range: Range<Int>) -> [String] { range.map { "line-\($0)" } }

private struct Harness {
    let scheduler = ManualScheduler()
    let sink: ScriptedSink
    let core: DeliveryCore
    let diagnostics = RecordingDiagnostics()

    init(policy: BufferPolicy, capacity: Int, sink: ScriptedSink = ScriptedSink(), flush: Duration = .seconds(1),
         durable: Bool = false, backoff: Backoff = Backoff(base: .milliseconds(100), cap: .seconds(1))) {
        self.sink = sink
        let memory = MemoryStore(capacity: capacity, policy: policy, limits: sink.batchLimits)
        core = DeliveryCore(
            sink: sink, store: durable ? DurableStore(memory) : memory,
            scheduler: scheduler, clock: ManualWallClock(), flushInterval: flush,
            backoff: backoff, diagnostics: diagnostics)
    }
}

/// A store whose records outlive the process, as the disk buffer's do: what it holds at the
/// shutdown deadline is kept, not counted as lost.
private final class DurableStore: RecordStore {
    let memory: MemoryStore
    init(_ memory: MemoryStore) { self.memory = memory }
    func store(_ records: ArraySlice<LogRecord>, dropped: (DropLoss) -> Void) -> Int { memory.store(records, dropped: dropped) }
    var isEmpty: Bool { memory.isEmpty }
    func batchDue(_ limits: BatchLimits) -> Bool { memory.batchDue(limits) }
    func takeBatch(_ limits: BatchLimits) -> (records: [LogRecord], receipt: StoreReceipt) { memory.takeBatch(limits) }
    func release(_ receipt: StoreReceipt) { memory.release(receipt) }
    var storedRecords: Int { memory.storedRecords }
    var storedBytes: Int { memory.storedBytes }
    var isDurable: Bool { true }
    func abandon() -> [LogRecord] { [] }
}

@Suite struct DeliveryCoreTests {
    @Test func aHealthyProbeEndsALongBackoffWithinASecond() {
        let sink = ScriptedSink(automaticOutcome: nil)
        // The delay is random in [0, 40 s]: almost always the probe brings the retry forward.
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink, backoff: Backoff(base: .seconds(40), cap: .seconds(40)))
        h.core.accept(records(["a"]))
        h.scheduler.advance(by: .seconds(1))
        sink.answer(.retryable(reason: "connection refused"))
        h.scheduler.runPending()
        h.scheduler.advance(by: .seconds(3))
        if sink.sent.count == 1 { #expect(sink.probes == 3, "one probe a second while backing off") }
        sink.probeHealthy = true
        h.scheduler.advance(by: .seconds(1))
        #expect(sink.sent.count == 2, "the retry goes as soon as a probe succeeds")
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(h.core.stats.deliveredRecords == 1)
        #expect(h.core.destinationUp)
        let probes = sink.probes
        h.scheduler.advance(by: .seconds(60))
        #expect(sink.probes == probes, "no probing while delivering")
    }

    @Test func batchesGoOutAfterTheFlushInterval() {
        let h = Harness(policy: .block, capacity: 1 << 20)
        #expect(h.core.accept(records(["a", "b"])))
        #expect(h.sink.sent.isEmpty)
        h.scheduler.advance(by: .milliseconds(999))
        #expect(h.sink.sent.isEmpty)
        h.scheduler.advance(by: .milliseconds(1))
        #expect(h.sink.deliveredLines == ["a", "b"])
        #expect(h.core.stats.deliveredRecords == 2)
        #expect(h.core.bufferedRecords == 0)
    }

    @Test func fullBatchesGoOutAtOnceWithinTheLimits() {
        let sink = ScriptedSink(limits: BatchLimits(maxRecords: 3, maxBytes: 1 << 20, bytesPerRecord: 0), maxInFlight: 4)
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink)
        h.core.accept(records(numbered(0..<7)))
        h.scheduler.runPending()
        #expect(sink.sent.map(\.records.count) == [3, 3])
        h.scheduler.advance(by: .seconds(1))
        #expect(sink.sent.map(\.records.count) == [3, 3, 1])
        #expect(sink.deliveredLines == numbered(0..<7))
    }

    @Test func byteLimitCountsThePerRecordCharge() {
        let sink = ScriptedSink(limits: BatchLimits(maxRecords: 100, maxBytes: 100, bytesPerRecord: 26), maxInFlight: 8)
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink)
        h.core.accept(records(Array(repeating: "0123456789", count: 5)))  // 36 each: 2 fit in 100
        h.scheduler.advance(by: .seconds(1))
        #expect(sink.sent.map(\.records.count) == [2, 2, 1])
    }

    @Test func blockingModeStopsReadingWhenFullAndResumesAfterDelivery() {
        let sink = ScriptedSink(automaticOutcome: nil)
        let h = Harness(policy: .block, capacity: 3 * (1 + LogRecord.overhead), sink: sink)
        var resumed = 0
        h.core.onRoom = { resumed += 1 }
        #expect(h.core.accept(records(["1", "2"])))
        #expect(!h.core.accept(records(["3", "4", "5"])))  // 4 and 5 wait: nothing is dropped
        #expect(h.core.bufferedRecords == 5)
        h.scheduler.advance(by: .seconds(1))
        #expect(sink.outstanding == 1)
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(resumed == 1)
        h.scheduler.advance(by: .seconds(1))
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(sink.deliveredLines == ["1", "2", "3", "4", "5"])
        #expect(h.core.stats.droppedRecords == 0)
    }

    @Test func withABatchInFlightWaitingRecordsGatherIntoAFullerBatch() {
        let sink = ScriptedSink(automaticOutcome: nil)
        sink.maxInFlight = 4
        let unit = 1 + LogRecord.overhead
        let h = Harness(policy: .block, capacity: 8 * unit, sink: sink)
        var resumed = 0
        h.core.onRoom = { resumed += 1 }
        h.core.accept(records(["a"]))
        h.scheduler.advance(by: .seconds(1))  // the flush interval sends a batch of one
        h.core.accept(records(numbered(0..<7).map { String($0.last!) }))  // half the buffer unsent: due
        #expect(sink.sent.map(\.records.count) == [1, 7])
        #expect(!h.core.accept(records(["x", "y", "z"])))  // full: the readers pause
        sink.answer(.delivered)  // one record's room: "x" is stored, but a batch is still in flight
        h.scheduler.runPending()
        #expect(sink.sent.count == 2)
        #expect(resumed == 0)
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(resumed == 1)
        h.scheduler.advance(by: .seconds(1))
        #expect(sink.sent.map(\.records.count) == [1, 7, 3])
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(sink.deliveredLines == ["a", "0", "1", "2", "3", "4", "5", "6", "x", "y", "z"])
    }

    @Test func nothingIsReleasedBeforeTheSinkAnswers() {
        let sink = ScriptedSink(automaticOutcome: nil)
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink)
        h.core.accept(records(["x"]))
        h.scheduler.advance(by: .seconds(1))
        #expect(h.core.bufferedRecords == 1)
    }

    @Test func retryableFailuresAreResentAfterBackoffInOrder() {
        let sink = ScriptedSink(automaticOutcome: nil)
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink)
        h.core.accept(records(["a", "b"]))
        h.scheduler.advance(by: .seconds(1))
        sink.answer(.retryable(reason: "connection refused"))
        h.scheduler.runPending()
        #expect(sink.sent.count == 1)
        h.scheduler.advance(by: .milliseconds(100))  // first backoff ceiling
        #expect(sink.sent.count == 2)
        #expect(sink.sent[1].records.map { String(decoding: $0.line, as: UTF8.self) } == ["a", "b"])
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(sink.deliveredLines == ["a", "b"])
        #expect(h.diagnostics.messages.contains { $0.1.contains("connection refused") })
    }

    @Test func nonBlockingDropsTheNewestAndReportsInBand() {
        let sink = ScriptedSink(automaticOutcome: nil)
        let h = Harness(policy: .dropNewest, capacity: 2 * (1 + LogRecord.overhead), sink: sink)
        #expect(h.core.accept(records(["1", "2", "3", "4"], stream: .stderr)))
        #expect(h.core.stats.droppedRecords == 2)
        h.scheduler.advance(by: .seconds(1))
        sink.answer(.delivered)
        h.scheduler.runPending()
        h.scheduler.advance(by: .seconds(1))
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(sink.deliveredLines == ["1", "2"])
        #expect(sink.deliveredReports.count == 1)
        #expect(sink.deliveredReports[0].hasPrefix("spillway: dropped 2 records (2 bytes) between 1970-01-01T00:00:00Z and 1970-01-01T00:00:00Z (non-blocking buffer full)"))
        #expect(sink.delivered.last?.stream == .stderr)
        #expect(h.core.stats.deliveredRecords == 2)
    }

    @Test func nonBlockingDropOldestKeepsTheNewest() {
        let sink = ScriptedSink()
        let h = Harness(policy: .dropOldest, capacity: 2 * (1 + LogRecord.overhead), sink: sink)
        h.core.accept(records(["1", "2", "3", "4"]))
        h.scheduler.advance(by: .seconds(1))
        #expect(sink.deliveredLines == ["3", "4"])
        #expect(h.core.stats.droppedRecords == 2)
    }

    @Test func rejectedRecordsAreCountedWithTheirReason() {
        let sink = ScriptedSink(automaticOutcome: nil)
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink)
        h.core.accept(records(["old", "new"]))
        h.scheduler.advance(by: .seconds(1))
        sink.answer(.rejected([Rejection(indices: 0..<1, reason: .rejected("too old"))]))
        h.scheduler.runPending()
        #expect(h.core.stats.droppedByReason[.rejected("too old")] == 1)
        #expect(h.core.stats.deliveredRecords == 1)
        #expect(sink.outstanding == 1)  // the report goes out at once
        sink.answer(.delivered)
        h.scheduler.runPending()
        #expect(sink.deliveredReports.count == 1)
        #expect(sink.deliveredReports[0].contains("(rejected by the destination: too old)"))
    }

    @Test func drainDeliversEverythingAtOnce() {
        let h = Harness(policy: .block, capacity: 1 << 20)
        h.core.accept(records(["a"]))
        var done = false
        h.core.drain { done = true }
        h.scheduler.runPending()
        #expect(!done)  // input has not ended yet
        h.core.finishInput()
        h.scheduler.runPending()
        #expect(done)
        #expect(h.sink.deliveredLines == ["a"])
    }

    @Test func abandonCountsWhatIsLeftAsUndelivered() {
        let sink = ScriptedSink(automaticOutcome: .retryable(reason: "down"))
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink)
        h.core.accept(records(["a", "b", "c"]))
        var done = false
        h.core.drain { done = true }
        h.scheduler.advance(by: .seconds(2))
        #expect(!done)
        h.core.abandon()
        #expect(done)
        #expect(h.core.stats.droppedByReason[.shutdownTimeout] == 3)
        #expect(h.core.stats.summary(exitCode: 0, buffered: 0).hasPrefix("spillway: exit code=0 delivered=0 dropped=3 buffered=0"))
    }

    /// A disk backlog larger than a batch stays unread at the deadline; the drain must still end.
    @Test func abandonEndsTheDrainWhileADurableStoreStillHoldsRecords() {
        let sink = ScriptedSink(limits: BatchLimits(maxRecords: 2, maxBytes: 1 << 20, bytesPerRecord: 0),
                                automaticOutcome: .retryable(reason: "down"))
        let h = Harness(policy: .block, capacity: 1 << 20, sink: sink, durable: true)
        h.core.accept(records(numbered(0..<10)))
        h.core.finishInput()
        var done = false
        h.core.drain { done = true }
        h.scheduler.advance(by: .seconds(2))
        #expect(!done)
        h.core.abandon()
        #expect(done)
        #expect(h.core.stats.droppedRecords == 0)
        #expect(h.core.bufferedRecords == 10)
    }

    @Test func backoffIsExponentialWithFullJitterAndResets() {
        var backoff = Backoff(base: .milliseconds(250), cap: .seconds(30))
        var rng = SystemRandomNumberGenerator()
        var ceilings: [Duration] = []
        for _ in 0..<10 {
            let delay = backoff.fail(using: &rng)
            ceilings.append(backoff.ceiling)
            #expect(delay >= .zero && delay <= backoff.ceiling)
        }
        #expect(ceilings.prefix(4) == [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2)])
        #expect(ceilings.last == .seconds(30))
        backoff.succeed()
        #expect(backoff.ceiling == .zero)
    }
}
