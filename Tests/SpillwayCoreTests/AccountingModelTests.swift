#if canImport(Glibc)
import Glibc
#endif
import Testing
import SpillwayTestKit
@testable import SpillwayCore

/// `DeliveryCore` over `MemoryStore` driven by seeded random operation sequences (see
/// `AccountingModel`): after every step `read == delivered + dropped + buffered`, delivered
/// never goes down, no record is delivered twice; after the shutdown deadline nothing is
/// buffered and every record read was delivered or dropped. A failure names its seed.
@Suite struct AccountingModelTests {
    /// ACCOUNTING_MODEL_SEEDS=5000 runs a long search.
    static let seeds = getenv("ACCOUNTING_MODEL_SEEDS").flatMap { UInt64(String(cString: $0)) } ?? 200
    static let steps = 300

    @Test(arguments: [BufferPolicy.block, .dropNewest, .dropOldest])
    func randomSequencesKeepTheAccounts(policy: BufferPolicy) {
        var failures = 0
        var coverage: [String: Int] = [:]
        for seed in 0..<Self.seeds {
            if let failure = Self.run(seed: seed, policy: policy, coverage: &coverage) {
                Issue.record("\(policy): \(failure)")
                failures += 1
                if failures >= 3 { return }
            }
        }
        // The sequences reach what they are meant to test.
        var expected = ["empty accept", "empty line", "large line", "delivered", "retryable", "rejected",
                        "out of order", "drop report sent", "abandoned with records", "drained before the deadline",
                        "dropped shutdownTimeout", "dropped emptyLine"]
        expected.append(policy == .block ? "paused" : "dropped bufferFull")
        for event in expected { #expect(coverage[event, default: 0] > 0, "\(policy): never \(event); \(coverage)") }
    }

    /// One sequence; nil when every check held.
    static func run(seed: UInt64, policy: BufferPolicy, steps: Int = steps, coverage: inout [String: Int]) -> String? {
        var rng = SplitMix64(seed: seed &* 0x1_0000_0001 &+ UInt64(policy.index))
        let sink = AccountingModel.randomSink(&rng)
        let capacities = [300, 1_000, 4_000, 20_000, 1 << 20]
        let capacity = capacities.randomElement(using: &rng)! + Int.random(in: 0..<200, using: &rng)
        let store = MemoryStore(capacity: capacity, policy: policy, limits: sink.batchLimits)
        let maxLine = [100, 1_000, 3_000].randomElement(using: &rng)!
        let model = AccountingModel(seed: seed, rng: rng, sink: sink, store: store, maxLine: maxLine)
        for _ in 0..<steps { model.randomStep() }
        model.shutdown(deadlineRounds: Int.random(in: 0...12, using: &model.rng))
        coverage.merge(model.coverage, uniquingKeysWith: +)
        for (reason, count) in model.core.stats.droppedByReason { coverage["dropped \(reason)", default: 0] += count }
        if let failure = model.failure { return "capacity \(capacity), \(failure)" }
        if model.buffered != 0 { return "seed \(seed): \(model.buffered) still buffered at the end" }
        if model.read != model.delivered + model.dropped {
            return "seed \(seed): read \(model.read) != delivered \(model.delivered) + dropped \(model.dropped)"
        }
        if let stray = model.deliveredIDs.keys.first(where: { $0 < 0 || $0 >= model.nextID }) {
            return "seed \(seed): delivered id \(stray) was never read"
        }
        return nil
    }

    /// The run is a function of its seed (the model's own check that failures replay).
    @Test func aSeedReplaysTheSameRun() {
        func summary(_ seed: UInt64) -> [Int] {
            var rng = SplitMix64(seed: seed)
            let sink = AccountingModel.randomSink(&rng)
            let model = AccountingModel(
                seed: seed, rng: rng, sink: sink,
                store: MemoryStore(capacity: 2_000, policy: .dropOldest, limits: sink.batchLimits))
            for _ in 0..<200 { model.randomStep() }
            return [model.read, model.delivered, model.dropped, model.buffered, sink.sent.count]
        }
        #expect(summary(7) == summary(7))
        #expect(summary(7) != summary(8))
    }
}

@Suite struct BatchLimitTests {
    /// Drop reports go out first in the next batch; the batch must still keep the sink's
    /// `maxRecords` (makeBatch takes at least one stored record whatever the reports took).
    @Test
    func dropReportsDoNotPushABatchPastMaxRecords() {
        let sink = ScriptedSink(limits: BatchLimits(maxRecords: 1, maxBytes: 1 << 20, bytesPerRecord: 0), automaticOutcome: nil)
        let scheduler = ManualScheduler()
        let core = DeliveryCore(
            sink: sink, store: MemoryStore(capacity: 1 << 20, policy: .block, limits: sink.batchLimits),
            scheduler: scheduler, clock: ManualWallClock(), flushInterval: .seconds(1), diagnostics: RecordingDiagnostics())
        core.accept(["x", "a", "b"].map { ModelRecord.make(id: Int($0.unicodeScalars.first!.value), length: 1, stream: .stdout) })
        scheduler.runPending()
        sink.answer(.rejected([Rejection(indices: 0..<1, reason: .rejected("too old"))]))
        scheduler.runPending()
        #expect(sink.sent.count == 2)
        #expect(sink.sent.allSatisfy { $0.records.count <= 1 }, "\(sink.sent.map(\.records.count))")
    }
}

extension BufferPolicy {
    fileprivate var index: Int {
        switch self {
        case .block: 0
        case .dropNewest: 1
        case .dropOldest: 2
        }
    }
}
