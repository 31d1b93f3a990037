/// Multiline grouping of both streams between the Framer and the delivery core, with the flush
/// interval's timer: a held record goes out once `flushInterval` passed with no new line on
/// its stream (monotonic time). Runs in the scheduler's serial context.
public final class MultilineStage: @unchecked Sendable {
    private var groupers: [MultilineGrouper]
    private var lastLine: [ContinuousClock.Instant]
    private let scheduler: Scheduler
    private let flushInterval: Duration
    private var timer: ScheduledWork?
    private var released: [LogRecord] = []
    /// Records the timer released, for one stream; in the scheduler's context.
    public var onRelease: (LogStream, [LogRecord]) -> Void = { _, _ in }

    public init(
        maxLineSize: Int, flushInterval: Duration, scheduler: Scheduler,
        startsRecord: @escaping (ArraySlice<UInt8>) -> Bool
    ) {
        groupers = LogStream.allCases.map {
            MultilineGrouper(stream: $0, maxLineSize: maxLineSize, startsRecord: startsRecord)
        }
        lastLine = LogStream.allCases.map { _ in scheduler.now }
        self.scheduler = scheduler
        self.flushInterval = flushInterval
    }

    /// Groups one read's `records` of `stream`; appends the completed ones to `out`.
    public func add(_ records: [LogRecord], stream: LogStream, into out: inout [LogRecord]) {
        guard !records.isEmpty else { return }
        let i = Int(stream.rawValue)
        for record in records { groupers[i].add(record, into: &out) }
        lastLine[i] = scheduler.now
        arm()
    }

    /// End of `stream`: its held record goes out.
    public func finish(stream: LogStream, into out: inout [LogRecord]) {
        groupers[Int(stream.rawValue)].flush(into: &out)
    }

    public func cancel() {
        timer?.cancel()
        timer = nil
    }

    /// One timer for both streams, due when the earliest held record's interval is up.
    private func arm() {
        guard timer == nil else { return }
        let due = groupers.indices.filter { groupers[$0].isHolding }.map { lastLine[$0] + flushInterval }.min()
        guard let due else { return }
        timer = scheduler.schedule(after: max(.zero, due - scheduler.now)) { [self] in
            timer = nil
            let now = scheduler.now
            for i in groupers.indices where groupers[i].isHolding && now - lastLine[i] >= flushInterval {
                released.removeAll(keepingCapacity: true)
                groupers[i].flush(into: &released)
                onRelease(groupers[i].stream, released)
            }
            arm()
        }
    }
}
