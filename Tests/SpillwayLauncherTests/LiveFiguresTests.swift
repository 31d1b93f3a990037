import Dispatch
import SpillwayCore
@testable import SpillwayLauncher
import SpillwayMetrics
import Synchronization
import Testing

private func emptySnapshot() -> MetricsSnapshot {
    MetricsSnapshot(
        delivery: DeliveryStats(), recordsRead: [:], bytesRead: [:], backpressureSeconds: 0,
        store: StoreFigures(kind: "memory", records: 0, bytes: 0, segments: nil), destinationUp: true, retryDelaySeconds: 0,
        process: ProcessFigures(startTimeSeconds: 0, cpuSeconds: 0, residentBytes: 0, openFileDescriptors: 0), workloadPID: nil)
}

@Suite struct LiveFiguresTests {
    @Test func anEpisodeIsTheUnionOfItsCausesAndWarnsOnce() async throws {
        let stalls = Mutex<[(Int, PauseCauses)]>([])
        let box = Mutex<LiveFigures?>(nil)
        // As the pipeline does: the stall is reported until it is marked warned.
        let live = LiveFigures(initial: emptySnapshot(), stallWarning: .milliseconds(100)) { episode, causes in
            if box.withLock({ $0 })?.markWarned(episode) == true { stalls.withLock { $0.append((episode, causes)) } }
        }
        box.withLock { $0 = live }
        live.begin(.storeFull)
        live.begin(.passthrough)
        #expect(live.end(.storeFull) == nil, "the passthrough write still holds the readers")
        try await Task.sleep(for: .milliseconds(350))
        let seen = stalls.withLock { $0 }
        #expect(seen.count == 1)
        #expect(seen.first?.0 == 1 && seen.first?.1 == [.passthrough])
        #expect(!live.markWarned(1), "one warning per episode")
        let ended = try #require(live.end(.passthrough))
        #expect(ended.warned && ended.length >= .milliseconds(350))
        let total = live.total
        #expect(total == ended.length, "no time counted twice")
        try await Task.sleep(for: .milliseconds(50))
        #expect(live.total == total, "no clock runs between episodes")
        #expect(!live.markWarned(1), "an ended episode is not warned")
    }

    @Test func shortEpisodesDoNotWarn() async throws {
        let stalls = Mutex(0)
        let live = LiveFigures(initial: emptySnapshot(), stallWarning: .milliseconds(100)) { _, _ in stalls.withLock { $0 += 1 } }
        for _ in 0..<1000 {
            live.begin(.passthrough)
            live.end(.passthrough)
        }
        try await Task.sleep(for: .milliseconds(250))
        #expect(stalls.withLock { $0 } == 0)
    }
}
