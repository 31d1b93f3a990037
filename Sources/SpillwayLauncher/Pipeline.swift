import Dispatch
import SpillwayCore
import SpillwayMetrics
import SpillwaySystem

/// Readers → framers → delivery core, all on one serial queue.
final class Pipeline: @unchecked Sendable {
    let queue = DispatchQueue(label: "spillway.pipeline")
    let core: DeliveryCore
    private let scheduler: DispatchScheduler
    private let clock: WallClock
    private let store: RecordStore
    private var watchdog: ScheduledWork?
    private var progressTimer: ScheduledWork?
    private var recordsRead = [0, 0]
    private var bytesRead = [0, 0]
    /// The figures a scrape and the stall warning read off the queue; set once, last in `init`.
    private var live: LiveFigures!
    private var publishTimer: ScheduledWork?
    private var workloadPID: Int32?
    /// Non-blocking drops: the count when the episode began, and the count at the last check.
    private var dropEpisode: (since: ContinuousClock.Instant, first: Int, seen: Int)?
    private var droppedSeen = 0
    private var lastDrop = ContinuousClock.now
    private let settings: PipelineSettings
    private let startTime: Timestamp
    /// The shutdown deadline passed: records read now are never held.
    private var pastDeadline = false
    private var readers: [PipeReader] = []
    private var framers: [Framer]
    private var paused: [Bool] = [false, false]
    private var ended = 0
    private var records: [LogRecord] = []
    /// Between the framers and `records` when multiline grouping is on.
    private let multiline: MultilineStage?
    private var framed: [LogRecord] = []
    private let passthrough: Bool
    private let flushInterval: Duration
    private let reportsProgress: Bool
    private let diagnostics: Diagnostics
    /// Read for the metrics (the core owns the sending).
    private let sink: Sink

    init(sink: Sink, store: RecordStore, clock: WallClock, configuration: PipelineSettings, diagnostics: Diagnostics) {
        self.sink = sink
        scheduler = DispatchScheduler(queue: queue)
        self.clock = clock
        self.store = store
        core = DeliveryCore(
            sink: sink, store: store, scheduler: scheduler, clock: clock,
            flushInterval: configuration.flushInterval, diagnostics: diagnostics)
        framers = LogStream.allCases.map { Framer(stream: $0, maxLineSize: configuration.maxLineSize) }
        let scheduler = scheduler
        multiline = configuration.multiline.map { m in
            MultilineStage(maxLineSize: configuration.maxLineSize, flushInterval: m.flushInterval,
                           scheduler: scheduler, startsRecord: m.start.matches)
        }
        passthrough = configuration.passthrough
        flushInterval = configuration.flushInterval
        reportsProgress = configuration.reportsProgress
        self.diagnostics = diagnostics
        settings = configuration
        startTime = clock.now()
        multiline?.onRelease = { [unowned self] stream, released in
            let i = Int(stream.rawValue)
            records = released
            let keepReading = offerRecords(i)
            if settings.reportsDropEpisodes { noteDrops() }
            if !keepReading {
                paused[i] = true
                beginPause()
            }
        }
        core.onRoom = { [unowned self] in
            endPause()
            for (i, reader) in readers.enumerated() where paused[i] {
                paused[i] = false
                reader.resume()
            }
        }
        live = LiveFigures(initial: figures(), stallWarning: configuration.stallWarning) { [weak self] episode, causes in
            guard let self else { return }
            // In a passthrough write the queue is blocked: warn from here. Otherwise the queue
            // knows whether the destination is down.
            if causes.contains(.passthrough) {
                warnStall(episode, "spillway's own stdout/stderr is not being read (SPILLWAY_PASSTHROUGH=true)")
            } else {
                queue.async { self.warnStall(episode, "\(self.settings.destination) \(self.core.destinationUp ? "not keeping up" : "unreachable")") }
            }
        }
    }

    private func warnStall(_ episode: Int, _ state: String) {
        guard live.markWarned(episode) else { return }
        diagnostics.warning(
            "the workload is blocked on logging: \(state) for \(formatDuration(settings.stallWarning)); " + settings.stallRemedy)
    }

    private func beginPause() { live.begin(.storeFull) }

    private func endPause() { noteResumed(live.end(.storeFull)) }

    private func noteResumed(_ episode: (length: Duration, warned: Bool)?) {
        guard let episode, episode.warned else { return }
        diagnostics.warning("the workload is no longer blocked on logging: it was blocked for \(formatted(episode.length))")
    }

    /// Non-blocking mode: called after each read; an episode ends after a second without drops.
    private func noteDrops() {
        let dropped = core.stats.droppedRecords
        guard dropped != droppedSeen else { return }
        if dropEpisode == nil {
            dropEpisode = (.now, droppedSeen, dropped)
            diagnostics.warning(
                "dropping records: the non-blocking buffer is full (\(settings.destination) "
                    + "\(core.destinationUp ? "not keeping up" : "unreachable")); the count follows when it stops")
            scheduleDropCheck()
        }
        droppedSeen = dropped
        lastDrop = .now
    }

    private func scheduleDropCheck() {
        _ = scheduler.schedule(after: .seconds(1)) { [weak self] in
            guard let self, let episode = dropEpisode else { return }
            if episode.seen != droppedSeen {
                dropEpisode?.seen = droppedSeen
                scheduleDropCheck()
                return
            }
            endDropEpisode("")
        }
    }

    private func endDropEpisode(_ when: String) {
        guard let episode = dropEpisode else { return }
        dropEpisode = nil
        diagnostics.warning(
            "stopped dropping records\(when): \(core.stats.droppedRecords - episode.first) dropped over "
                + formatted(lastDrop - episode.since))
    }

    private func formatted(_ d: Duration) -> String {
        let ms = d.nanoseconds / 1_000_000
        return ms < 10_000 ? "\(Double(ms) / 1000)s" : "\(ms / 1000)s"
    }

    /// What a scrape shows, read on the caller's thread (the endpoint's event loop): the
    /// pipeline's last published figures, the live backpressure clock and the process figures.
    func metricsSnapshot() -> MetricsSnapshot {
        var snapshot = live.published
        let usage = CurrentProcess.resourceUsage()
        snapshot.process = ProcessFigures(
            startTimeSeconds: Double(startTime.nanoseconds) / 1e9, cpuSeconds: usage.user + usage.system,
            residentBytes: CurrentProcess.residentBytes(), openFileDescriptors: CurrentProcess.openFileDescriptorCount())
        let (seconds, attoseconds) = live.total.components
        snapshot.backpressureSeconds = Double(seconds) + Double(attoseconds) / 1e18
        return snapshot
    }

    /// The endpoint is on: the figures are published every 50 ms (a scrape's figures are at most
    /// that old; at exit they are the summary's).
    func publishFigures() {
        queue.async { [self] in schedulePublishing() }
    }

    private func schedulePublishing() {
        live.published = figures()
        publishTimer = scheduler.schedule(after: .milliseconds(50)) { [weak self] in self?.schedulePublishing() }
    }

    /// The pipeline's figures, taken in one turn of the queue so that they agree with each other.
    private func figures() -> MetricsSnapshot {
        let streams = LogStream.allCases
        return MetricsSnapshot(
            delivery: core.stats,
            recordsRead: Dictionary(uniqueKeysWithValues: zip(streams, recordsRead)),
            bytesRead: Dictionary(uniqueKeysWithValues: zip(streams, bytesRead)),
            backpressureSeconds: 0,
            store: StoreFigures(
                kind: store.isDurable ? "disk" : "memory", records: core.bufferedRecords, bytes: store.storedBytes,
                segments: store.segmentCount),
            destinationUp: core.destinationUp,
            retryDelaySeconds: Double(core.retryDelay.nanoseconds) / 1e9,
            process: ProcessFigures(startTimeSeconds: 0, cpuSeconds: 0, residentBytes: 0, openFileDescriptors: 0),
            workloadPID: workloadPID, resentBatches: sink.resentBatches)
    }

    /// Starts reading the workload's stdout and stderr, as `watcher` reports them readable.
    func start(stdout: FileDescriptor, stderr: FileDescriptor, workloadPID: Int32, watcher: ReadinessWatcher) {
        queue.sync {
            self.workloadPID = workloadPID
            live.published = figures()
            for (index, fd) in [stdout, stderr].enumerated() {
                let reader = PipeReader(
                    fd: fd, queue: queue, watcher: watcher, clock: clock, bufferSize: 256 * 1024,
                    onData: { [unowned self] bytes, time in received(bytes, time: time, stream: index) },
                    onEnd: { [unowned self] error in streamEnded(index, error: error) })
                readers.append(reader)
            }
            readers.forEach { $0.start() }
            startDelivery()
        }
    }

    /// Delivers what the store holds (a disk backlog) and starts the store's upkeep. Call on `queue`.
    private func startDelivery() {
        core.start()
        store.start(scheduler: scheduler, interval: flushInterval)
        if reportsProgress { scheduleProgress() }
    }

    /// What an operator watching a stall wants to see each second (the figures of the summary).
    private func scheduleProgress() {
        progressTimer = scheduler.schedule(after: .seconds(1)) { [weak self] in
            guard let self else { return }
            let stats = core.stats
            diagnostics.debug(
                "progress read=\(recordsRead.reduce(0, +)) delivered=\(stats.deliveredRecords) dropped=\(stats.droppedRecords) "
                    + "buffered=\(core.bufferedRecords) paused=\(paused.contains(true))")
            scheduleProgress()
        }
    }

    /// `spillway --drain`: no workload, only the backlog. `completion` runs on `queue` once it
    /// is delivered, or once `stallTimeout` passed without a record delivered (what is left
    /// stays on disk).
    func drainBacklog(stallTimeout: Duration, completion: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            startDelivery()
            core.finishInput()
            watchProgress(every: stallTimeout, lastBuffered: core.bufferedRecords)
            core.drain { [self] in
                watchdog?.cancel()
                completion()
            }
        }
    }

    private func watchProgress(every interval: Duration, lastBuffered: Int) {
        watchdog = scheduler.schedule(after: interval) { [self] in
            let buffered = core.bufferedRecords
            if buffered < lastBuffered {
                watchProgress(every: interval, lastBuffered: buffered)
            } else {
                cutOff()
            }
        }
    }

    /// Gives up at a deadline (what is on disk stays there). Call on `queue`.
    func giveUp() { cutOff() }

    /// After delivery ended (the sink is shut down): what is still unanswered is settled, the
    /// store closed (a disk buffer synced and unlocked). Returns the final counts and the records
    /// still stored (on disk, for the next start), read in the same turn of the queue.
    func close() -> (stats: DeliveryStats, stored: Int) {
        var result = (stats: DeliveryStats(), stored: 0)
        queue.sync {
            progressTimer?.cancel()
            publishTimer?.cancel()
            multiline?.cancel()
            endDropEpisode(" at exit")
            core.settle()
            result = (core.stats, store.isDurable ? store.storedRecords : 0)
            live.published = figures()
            store.close()
        }
        return result
    }

    private func received(_ bytes: UnsafeRawBufferPointer, time: Timestamp, stream: Int) -> Bool {
        if passthrough {
            let own = stream == 0 ? FileDescriptor.standardOutput : FileDescriptor.standardError
            // Until the write returns nothing is read: backpressure like a full store.
            live.begin(.passthrough)
            try? own.writeAll(bytes)
            noteResumed(live.end(.passthrough))
        }
        bytesRead[stream] += bytes.count
        records.removeAll(keepingCapacity: true)
        if let multiline {
            framed.removeAll(keepingCapacity: true)
            framers[stream].frame(bytes, time: time, into: &framed)
            multiline.add(framed, stream: framers[stream].stream, into: &records)
        } else {
            framers[stream].frame(bytes, time: time, into: &records)
        }
        let keepReading = offerRecords(stream)
        if settings.reportsDropEpisodes { noteDrops() }
        if !keepReading {
            paused[stream] = true
            beginPause()
        }
        return keepReading
    }

    /// Hands the framed `records` to the core; false when the reader must pause. Past the
    /// deadline nothing is held, so reading never pauses.
    private func offerRecords(_ stream: Int) -> Bool {
        recordsRead[stream] += records.count
        guard !pastDeadline else {
            core.acceptAtDeadline(records)
            return true
        }
        return core.accept(records)
    }

    private func streamEnded(_ stream: Int, error: SystemError?) {
        diagnostics.debug("stream \(stream) ended \(error.map { "\($0)" } ?? "")")
        records.removeAll(keepingCapacity: true)
        if let multiline {
            framed.removeAll(keepingCapacity: true)
            framers[stream].finish(time: clock.now(), into: &framed)
            multiline.add(framed, stream: framers[stream].stream, into: &records)
            multiline.finish(stream: framers[stream].stream, into: &records)
        } else {
            framers[stream].finish(time: clock.now(), into: &records)
        }
        _ = offerRecords(stream)
        ended += 1
        if ended == readers.count { core.finishInput() }
    }

    /// The workload exited: read the pipes to EOF and deliver, all within `timeout`; then call
    /// `completion` (on the pipeline queue).
    func shutdown(timeout: Duration, completion: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            let deadline = scheduler.schedule(after: timeout) { [self] in cutOff() }
            core.flushAll()
            core.drain {
                deadline.cancel()
                completion()
            }
        }
    }

    /// At the deadline: what the pipes still hold (a bounded read: a grandchild may keep writing)
    /// is stored if the store is durable and counted as undelivered otherwise, one read at a
    /// time; then everything buffered in memory is counted as undelivered.
    private func cutOff() {
        pastDeadline = true
        endPause()
        for reader in readers where !reader.isFinished {
            reader.drainAvailable()
            reader.cancel()
        }
        core.abandon()
    }
}

struct PipelineSettings {
    var maxLineSize: Int
    var flushInterval: Duration
    var passthrough: Bool
    /// `SPILLWAY_LOG_LEVEL=debug`: a progress line every second.
    var reportsProgress: Bool
    var multiline: Multiline?

    struct Multiline {
        var start: PosixRegex
        var flushInterval: Duration
    }
    /// Readers paused this long get one warning, and one line when they resume.
    var stallWarning: Duration
    var destination: String
    /// What the stall warning suggests.
    var stallRemedy: String
    /// Non-blocking mode: one line when dropping starts, one when it stops.
    var reportsDropEpisodes: Bool
}
