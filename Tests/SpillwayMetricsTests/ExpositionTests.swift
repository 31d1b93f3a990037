import SpillwayCore
import SpillwayTestKit
import Testing

@testable import SpillwayMetrics

/// Delivers `lines` through a real delivery core, one retryable failure first, and returns the
/// core's figures: the same DeliveryStats the exit summary prints.
private func deliveredStats(_ lines: [String], clock: ManualWallClock) -> (DeliveryStats, DeliveryCore) {
    let scheduler = ManualScheduler()
    let sink = ScriptedSink(automaticOutcome: nil)
    let store = MemoryStore(capacity: 1 << 20, policy: .block, limits: sink.batchLimits)
    let core = DeliveryCore(
        sink: sink, store: store, scheduler: scheduler, clock: clock, flushInterval: .seconds(1),
        backoff: Backoff(base: .milliseconds(100), cap: .seconds(1)), diagnostics: RecordingDiagnostics())
    let read = clock.now()
    core.accept(lines.map { LogRecord(time: read, stream: .stdout, line: ArraySlice($0.utf8)) })
    scheduler.advance(by: .seconds(1))
    sink.answer(.retryable(reason: "connection refused"))
    scheduler.runPending()
    #expect(!core.destinationUp)
    #expect(core.retryDelay == .milliseconds(100))
    scheduler.advance(by: .seconds(1))
    clock.time = Timestamp(nanoseconds: read.nanoseconds + 2_000_000_000)
    sink.answer(.delivered)
    scheduler.runPending()
    #expect(core.destinationUp)
    return (core.stats, core)
}

private func snapshot(_ stats: DeliveryStats, store: StoreFigures) -> MetricsSnapshot {
    MetricsSnapshot(
        delivery: stats, recordsRead: [.stdout: 3], bytesRead: [.stdout: 12], backpressureSeconds: 1.5,
        store: store, destinationUp: true, retryDelaySeconds: 0,
        process: ProcessFigures(startTimeSeconds: 1_767_261_600, cpuSeconds: 0.25, residentBytes: 4096, openFileDescriptors: 7),
        workloadPID: 42)
}

@Suite struct ExpositionTests {
    @Test func countersAreTheSummaryFigures() {
        let clock = ManualWallClock()
        let (stats, _) = deliveredStats(["a", "bb", "ccc"], clock: clock)
        let text = Exposition.render(snapshot(stats, store: StoreFigures(kind: "memory", records: 0, bytes: 0, segments: nil)))
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(stats.summary(exitCode: 0, buffered: 0).hasPrefix("spillway: exit code=0 delivered=3 dropped=0 buffered=0 bytes=6"))
        for expected in [
            "spillway_records_read_total{stream=\"stdout\"} 3",
            "spillway_records_read_total{stream=\"stderr\"} 0",
            "spillway_bytes_read_total{stream=\"stdout\"} 12",
            "spillway_records_delivered_total 3",
            "spillway_bytes_delivered_total 6",
            "spillway_backpressure_seconds_total 1.5",
            "spillway_batches_retried_total 1",
            "spillway_batches_resent_total 0",
            "spillway_send_failures_total{kind=\"retryable\"} 1",
            "spillway_send_failures_total{kind=\"rejected\"} 0",
            "spillway_buffered_records{store=\"memory\"} 0",
            "spillway_destination_up 1",
            "spillway_last_delivery_timestamp_seconds 1767261602",
            "spillway_delivery_latency_seconds_bucket{le=\"1\"} 0",
            "spillway_delivery_latency_seconds_bucket{le=\"2.5\"} 3",
            "spillway_delivery_latency_seconds_bucket{le=\"+Inf\"} 3",
            "spillway_delivery_latency_seconds_count 3",
            "spillway_delivery_latency_seconds_sum 6",
            "spillway_workload_pid 42",
            "process_open_fds 7",
            "# TYPE spillway_records_dropped_total counter",
            "# TYPE spillway_delivery_latency_seconds histogram",
        ] {
            #expect(lines.contains(expected), "missing \(expected)")
        }
        #expect(!text.contains("spillway_disk_segments"))
        #expect(text.hasSuffix("\n"))
    }

    @Test func everyFamilyHasHelpAndTypeOnce() {
        let (stats, _) = deliveredStats(["a"], clock: ManualWallClock())
        let text = Exposition.render(snapshot(stats, store: StoreFigures(kind: "disk", records: 5, bytes: 900, segments: 2)))
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        let helps = text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }
        #expect(types.count == helps.count)
        #expect(Set(types).count == types.count)
        #expect(text.contains("spillway_disk_segments 2\n"))
        #expect(text.contains("spillway_disk_bytes 900\n"))
        #expect(text.contains("spillway_buffered_records{store=\"disk\"} 5\n"))
    }

    @Test func everyReasonWithoutDetailIsThereAtZeroBeforeTheFirstDrop() {
        let (stats, _) = deliveredStats(["a"], clock: ManualWallClock())
        let text = Exposition.render(snapshot(stats, store: StoreFigures(kind: "memory", records: 0, bytes: 0, segments: nil)))
        for reason in DropReason.withoutDetail {
            #expect(text.contains("spillway_records_dropped_total{reason=\"\(Exposition.escaped(reason.text))\"} 0\n"), "\(reason)")
        }
    }

    @Test func dropReasonsAreEscapedLabelValues() {
        #expect(Exposition.escaped("a \"b\" \\ c\nd") == "a \\\"b\\\" \\\\ c\\nd")
        #expect(Exposition.number(3) == "3")
        #expect(Exposition.number(0.25) == "0.25")
    }

    @Test func histogramBucketsAreCumulative() {
        var h = LatencyHistogram()
        for s in [0.001, 0.02, 0.02, 3, 1000] { h.observe(seconds: s) }
        let counts = h.cumulativeCounts
        #expect(counts.first == 1)
        #expect(counts[LatencyHistogram.bounds.firstIndex(of: 0.025)!] == 3)
        #expect(counts[LatencyHistogram.bounds.firstIndex(of: 5)!] == 4)
        #expect(counts.last == 4)
        #expect(h.count == 5)
    }

    @Test func aRunOfEqualLatenciesCountsAsThatManyObservations() {
        var once = LatencyHistogram(), each = LatencyHistogram()
        once.observe(seconds: 0.02, count: 3)
        for _ in 0..<3 { each.observe(seconds: 0.02) }
        #expect(once == each)
    }
}
