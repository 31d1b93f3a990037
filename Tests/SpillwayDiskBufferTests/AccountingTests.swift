import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import SpillwayTestKit
import Testing

/// A disk store in a temporary directory, reopened as spillway's next start would.
private final class DiskFixture {
    let directory = TemporaryDirectory()
    let options: DiskBufferOptions
    private(set) var store: DiskStore?

    init(limit: Int = 1 << 20, full: FullPolicy = .block, segmentSize: Int? = nil) {
        options = DiskBufferOptions(directory: directory.storage, limit: limit, full: full, segmentSize: segmentSize)
    }

    func open() throws -> DiskStore {
        let store = DiskStore(
            buffer: try DiskBuffer(options: options), clock: ManualWallClock(), diagnostics: RecordingDiagnostics())
        self.store = store
        return store
    }

    func close() {
        store?.close()
        store = nil
    }

    deinit { close() }
}

private func core(_ sink: ScriptedSink, _ store: RecordStore, _ scheduler: ManualScheduler) -> DeliveryCore {
    let core = DeliveryCore(
        sink: sink, store: store, scheduler: scheduler, clock: ManualWallClock(), flushInterval: .seconds(1),
        backoff: Backoff(base: .zero, cap: .zero), diagnostics: RecordingDiagnostics())
    core.start()
    return core
}

/// `DeliveryCore` over `DiskStore` driven by the accounting model, across restarts: each seed
/// runs a sequence, shuts down at a random deadline, closes the store, reopens it and goes
/// on, then a last run drains the rest. What one run leaves buffered is what the next finds,
/// and in the end every record read was delivered or dropped.
@Suite struct DiskAccountingModelTests {
    /// DISK_ACCOUNTING_SEEDS=500 runs a long search.
    static let seeds = getenv("DISK_ACCOUNTING_SEEDS").flatMap { UInt64(String(cString: $0)) } ?? 30
    static let steps = 200

    /// With a window of one batch acknowledgements come in order; with a wider one they come out
    /// of order, and the ledger records the ranges settled above its prefix: either way a
    /// restart finds exactly what was buffered.
    @Test(arguments: [true, false])
    func randomSequencesKeepTheAccountsAcrossRestarts(inOrder: Bool) throws {
        var failures = 0
        var coverage: [String: Int] = [:]
        for seed in 0..<Self.seeds {
            if let failure = try Self.run(seed: seed, inOrder: inOrder, coverage: &coverage) {
                Issue.record(Comment(rawValue: failure))
                failures += 1
                if failures >= 3 { return }
            }
        }
        // The sequences reach what they are meant to test.
        var expected = ["delivered", "retryable", "rejected", "paused", "drop report sent", "dropped storageFull",
                        "dropped emptyLine", "abandoned with records", "reopened with a backlog",
                        "empty line", "large line"]
        if !inOrder { expected.append("out of order") }
        for event in expected { #expect(coverage[event, default: 0] > 0, "never \(event); \(coverage)") }
    }

    /// As above with a byte flipped in a random segment file between runs, half the time.
    @Test func damageBetweenRunsKeepsTheAccounts() throws {
        var failures = 0
        var coverage: [String: Int] = [:]
        for seed in 0..<Self.seeds {
            if let failure = try Self.run(seed: seed, inOrder: true, damage: true, coverage: &coverage) {
                Issue.record(Comment(rawValue: failure))
                failures += 1
                if failures >= 3 { return }
            }
        }
        #expect(coverage["damaged a segment", default: 0] > 0)
        #expect(coverage.keys.contains { $0.hasPrefix("dropped damaged") }, "\(coverage)")
    }

    static func run(
        seed: UInt64, inOrder: Bool, damage: Bool = false, steps: Int = steps, coverage: inout [String: Int]
    ) throws -> String? {
        var rng = SplitMix64(seed: seed &+ 0xD15C)
        let limit = [8 << 10, 16 << 10, 64 << 10].randomElement(using: &rng)! + Int.random(in: 0..<4_096, using: &rng)
        let full: FullPolicy = Bool.random(using: &rng) ? .block : .dropOldest
        let fixture = DiskFixture(limit: limit, full: full, segmentSize: limit / 4)
        let setting = "limit \(limit), \(full)"
        var totals = (read: 0, delivered: 0, dropped: 0)
        var leftBuffered = 0
        var nextID = 0
        var damageNote = ""
        for runIndex in 0..<3 {
            let store = try fixture.open()
            let last = runIndex == 2
            let sink = AccountingModel.randomSink(&rng)
            if inOrder { sink.maxInFlight = 1 }
            let model = AccountingModel(
                seed: seed, rng: rng, sink: sink, store: store, maxLine: limit / 8, firstID: nextID)
            if model.carried > 0 { coverage["reopened with a backlog", default: 0] += 1 }
            // Exactly: out-of-order acknowledgements are in the ledger. Damage between the runs
            // changes nothing here: what it destroyed is counted as dropped, at the start (then it
            // is in carried) or when the reader reaches it.
            if model.carried != leftBuffered {
                return "seed \(seed) (\(setting)), run \(runIndex): \(leftBuffered) buffered at close, "
                    + "\(model.carried) after reopen \(damageNote); recovery: \(store.buffer.recoveryNotes)"
            }
            if !last { for _ in 0..<(steps / 2) { model.randomStep() } }
            model.shutdown(deadlineRounds: last ? 10_000 : Int.random(in: 0...6, using: &model.rng))
            coverage.merge(model.coverage, uniquingKeysWith: +)
            for (reason, count) in model.core.stats.droppedByReason { coverage["dropped \(reason)", default: 0] += count }
            if let failure = model.failure { return "\(setting), run \(runIndex): \(failure)" }
            rng = model.rng
            nextID = model.nextID
            totals.read += model.read
            totals.delivered += model.delivered
            totals.dropped += model.dropped
            leftBuffered = model.buffered
            if last && leftBuffered != 0 { return "seed \(seed) (\(setting)): \(leftBuffered) still buffered after the last drain" }
            fixture.close()
            if damage && !last && Int.random(in: 0..<2, using: &rng) == 0 {
                // Damage between runs: what it destroys becomes a drop the next run counts.
                let files = try segmentFiles(fixture.options.directory)
                if let name = files.randomElement(using: &rng) {
                    let path = fixture.options.directory + "/" + name
                    let size = try fileSize(path)
                    // Any byte, the newest segment's header too: the ledger knows its record count.
                    if size > 0 {
                        let offset = Int.random(in: 0..<size, using: &rng)
                        try patchFile(path, at: offset, count: 1) { $0[0] ^= 0x20 }
                        damageNote = "byte \(offset) of \(size) in \(name) (of \(files.count) segments) flipped"
                        coverage["damaged a segment", default: 0] += 1
                    }
                }
            }
        }
        if totals.read != totals.delivered + totals.dropped {
            return "seed \(seed) (\(setting)): read \(totals.read) != delivered \(totals.delivered) + dropped \(totals.dropped)"
        }
        return nil
    }
}

@Suite struct DiskStoreTests {
    @Test func recordsStayStoredUntilReleased() throws {
        let fixture = DiskFixture()
        let store = try fixture.open()
        #expect(store.isDurable)
        #expect(store.isEmpty && store.storedRecords == 0)
        #expect(store.store(records(5)[...], dropped: { _ in Issue.record("nothing to drop") }) == 5)
        #expect(!store.isEmpty && store.storedRecords == 5)
        let taken = store.takeBatch(BatchLimits(maxRecords: 3, maxBytes: 1 << 20, bytesPerRecord: 0))
        #expect(lines(taken.records) == lines(Array(records(5).prefix(3))))
        #expect(taken.receipt.positions == 0..<3)
        // Taken is still stored (in flight); only the release frees it.
        #expect(store.storedRecords == 5 && !store.isEmpty)
        store.release(taken.receipt)
        #expect(store.storedRecords == 2)
        #expect(store.buffer.unacknowledgedCount == 2)
        // The shutdown deadline gives up nothing: it is on disk for the next start.
        #expect(store.abandon().isEmpty)
        #expect(store.storedRecords == 2)
        #expect(store.takeLosses().isEmpty)
    }

    @Test func aReopenedStoreHoldsWhatWasNotReleasedAndSendsItAtOnce() throws {
        let fixture = DiskFixture()
        let store = try fixture.open()
        _ = store.store(records(5)[...], dropped: { _ in })
        let first = store.takeBatch(BatchLimits(maxRecords: 2, maxBytes: 1 << 20, bytesPerRecord: 0))
        store.release(first.receipt)
        _ = store.takeBatch(BatchLimits(maxRecords: 2, maxBytes: 1 << 20, bytesPerRecord: 0))  // in flight at close
        fixture.close()

        let reopened = try fixture.open()
        #expect(reopened.storedRecords == 3)
        #expect(!reopened.isEmpty)
        // A backlog goes out without waiting for a full batch or the flush interval.
        #expect(reopened.batchDue(BatchLimits(maxRecords: 1_000, maxBytes: 1 << 20, bytesPerRecord: 0)))
        let sink = ScriptedSink()
        let scheduler = ManualScheduler()
        let delivery = core(sink, reopened, scheduler)
        scheduler.runPending()
        #expect(sink.deliveredLines == lines(Array(records(5).suffix(3))))
        #expect(delivery.stats.deliveredRecords == 3)
        #expect(delivery.bufferedRecords == 0)
    }

    /// The core keeps a sent batch stored until the sink answers; delivered releases it.
    @Test func theCoreReleasesAfterTheAck() throws {
        let fixture = DiskFixture()
        let store = try fixture.open()
        let sink = ScriptedSink(automaticOutcome: nil)
        let scheduler = ManualScheduler()
        let delivery = core(sink, store, scheduler)
        #expect(delivery.accept(records(4)))
        scheduler.advance(by: .seconds(1))
        #expect(sink.outstanding == 1)
        #expect(store.storedRecords == 4 && delivery.bufferedRecords == 4)
        sink.answer(.retryable(reason: "down"))
        scheduler.advance(by: .zero)
        #expect(sink.outstanding == 1 && store.storedRecords == 4)
        sink.answer(.rejected([Rejection(indices: 1..<2, reason: .rejected("too old"))]))
        scheduler.runPending()
        #expect(store.storedRecords == 0 && store.buffer.unacknowledgedCount == 0)
        #expect(delivery.stats.deliveredRecords == 3)
        #expect(delivery.stats.droppedByReason == [.rejected("too old"): 1])
        fixture.close()
        #expect(try fixture.open().storedRecords == 0)
    }

    /// A record damaged on disk, found when the reader reaches it after a restart, is a drop
    /// with a `.damaged` reason, reported in-band, and the accounts still add up.
    @Test func aDamagedRecordFoundWhileReadingIsDroppedAsDamaged() throws {
        let fixture = DiskFixture()
        let written = records(10, size: 40)
        let store = try fixture.open()
        #expect(store.store(written[...], dropped: { _ in }) == 10)
        fixture.close()
        let segment = fixture.options.directory + "/" + (try segmentFiles(fixture.options.directory)[0])
        try patchFile(segment, at: frameOffset(3, in: written) + 30, count: 1) { $0[0] ^= 0x10 }

        let reopened = try fixture.open()
        let sink = ScriptedSink()
        let scheduler = ManualScheduler()
        let delivery = core(sink, reopened, scheduler)
        // Found by the first read, which the start already made.
        #expect(delivery.bufferedRecords + delivery.stats.droppedRecords == 10)
        scheduler.advance(by: .seconds(1))
        var expected = written
        expected.remove(at: 3)
        #expect(sink.deliveredLines == lines(expected))
        #expect(delivery.stats.deliveredRecords == 9)
        #expect(delivery.stats.droppedRecords == 1)
        #expect(delivery.bufferedRecords == 0)
        let reasons = Array(delivery.stats.droppedByReason.keys)
        #expect(reasons.count == 1)
        if case .damaged(let what)? = reasons.first {
            #expect(what.contains("checksum mismatch"), "\(what)")
        } else {
            Issue.record("expected a damaged drop, got \(reasons)")
        }
        #expect(delivery.stats.droppedByReason.values.reduce(0, +) == 1)
        #expect(sink.deliveredReports.count == 1)
        #expect(sink.deliveredReports.first?.contains("dropped 1 records") == true)
        #expect(sink.deliveredReports.first?.contains("lost from the disk buffer") == true)
    }

    /// Drop-oldest at the storage limit: the deleted records are drops for `storageFull`,
    /// counted exactly, and read = delivered + dropped + buffered throughout.
    @Test func dropOldestAtTheStorageLimitIsCountedAsStorageFull() throws {
        let fixture = DiskFixture(limit: 4096, full: .dropOldest, segmentSize: 1024)
        let store = try fixture.open()
        let sink = ScriptedSink(automaticOutcome: nil)
        let scheduler = ManualScheduler()
        let delivery = core(sink, store, scheduler)
        let written = records(200, stream: .stderr)
        var read = 0
        for chunk in stride(from: 0, to: 200, by: 20) {
            #expect(delivery.accept(Array(written[chunk..<(chunk + 20)])))  // drop-oldest never blocks
            read += 20
            let s = delivery.stats
            #expect(read == s.deliveredRecords + s.droppedRecords + delivery.bufferedRecords)
        }
        let dropped = delivery.stats.droppedRecords
        #expect(dropped > 0)
        #expect(delivery.stats.droppedByReason == [.storageFull: dropped])
        delivery.finishInput()
        var drained = false
        delivery.drain { drained = true }
        for _ in 0..<1_000 where !drained {
            while sink.outstanding > 0 { sink.answer(.delivered) }
            scheduler.advance(by: .seconds(1))
            let s = delivery.stats
            #expect(read == s.deliveredRecords + s.droppedRecords + delivery.bufferedRecords)
        }
        #expect(drained)
        #expect(delivery.bufferedRecords == 0)
        #expect(delivery.stats.deliveredRecords + delivery.stats.droppedRecords == 200)
        #expect(sink.deliveredLines.count == delivery.stats.deliveredRecords)
        #expect(Set(sink.deliveredLines).count == sink.deliveredLines.count)
        // The newest records survive.
        #expect(sink.deliveredLines.last == lines([written[199]]).first)
        #expect(sink.deliveredReports.allSatisfy { $0.contains("(storage full)") })
        #expect(sink.deliveredReports.reduce(0) { $0 + droppedCount($1) } == dropped)
    }

    /// Out-of-order acknowledgement, then a restart: what the exit summary called buffered is
    /// what the next start finds.
    @Test
    func bufferedAtCloseIsWhatTheNextStartFinds() throws {
        let fixture = DiskFixture()
        let store = try fixture.open()
        let sink = ScriptedSink(
            limits: BatchLimits(maxRecords: 2, maxBytes: 1 << 20, bytesPerRecord: 0), maxInFlight: 2,
            automaticOutcome: nil)
        let scheduler = ManualScheduler()
        let delivery = core(sink, store, scheduler)
        delivery.accept(records(4))
        scheduler.runPending()
        #expect(sink.outstanding == 2)
        sink.answer(at: 1, .delivered)  // the second batch first
        scheduler.runPending()
        #expect(delivery.stats.deliveredRecords == 2)
        delivery.finishInput()
        delivery.drain {}
        delivery.abandon()
        let buffered = delivery.bufferedRecords
        #expect(buffered == 2)
        fixture.close()

        let reopened = try fixture.open()
        let next = ScriptedSink()
        let nextScheduler = ManualScheduler()
        let nextDelivery = core(next, reopened, nextScheduler)
        #expect(nextDelivery.bufferedRecords == buffered)
        nextScheduler.advance(by: .seconds(1))
        #expect(next.deliveredLines == lines(Array(records(4).prefix(2))))
    }
}

extension DiskStoreTests {
    /// After the shutdown deadline the drain has ended and spillway closes the disk buffer:
    /// the core must not go on sending what the store still holds (a timer firing after
    /// `DiskStore.close()` would read a closed buffer).
    @Test
    func nothingIsSentAfterTheShutdownDeadline() throws {
        let fixture = DiskFixture()
        let store = try fixture.open()
        let sink = ScriptedSink(
            limits: BatchLimits(maxRecords: 2, maxBytes: 1 << 20, bytesPerRecord: 0), maxInFlight: 1,
            automaticOutcome: nil)
        let scheduler = ManualScheduler()
        let delivery = core(sink, store, scheduler)
        delivery.accept(records(4))
        scheduler.runPending()
        #expect(sink.sent.count == 1)  // a full batch at once; two records wait unread
        delivery.finishInput()
        var drained = false
        delivery.drain { drained = true }
        delivery.abandon()
        #expect(drained)
        #expect(delivery.bufferedRecords == 4)  // on disk for the next start
        scheduler.advance(by: .seconds(5))
        #expect(sink.sent.count == 1, "sent after the deadline: \(sink.sent.map(\.records.count))")
    }
}

/// N of a drop report's "spillway: dropped N records …".
private func droppedCount(_ report: String) -> Int {
    let words = report.split(separator: " ")
    guard let at = words.firstIndex(of: "dropped"), at + 1 < words.count else { return 0 }
    return Int(words[at + 1]) ?? 0
}
