import SpillwayCore

/// A scheduler whose time moves only when a test says so. Work runs synchronously in `advance`.
public final class ManualScheduler: Scheduler, @unchecked Sendable {
    private var current = ContinuousClock.now
    private var timers: [(due: ContinuousClock.Instant, seq: Int, work: Timer)] = []
    private var pending: [@Sendable () -> Void] = []
    private var seq = 0

    final class Timer: ScheduledWork, @unchecked Sendable {
        var cancelled = false
        let work: @Sendable () -> Void
        init(_ work: @escaping @Sendable () -> Void) { self.work = work }
        func cancel() { cancelled = true }
    }

    public init() {}

    public var now: ContinuousClock.Instant { current }

    /// Hops from sink completions are queued and run by `runPending`/`advance`.
    public func execute(_ work: @escaping @Sendable () -> Void) { pending.append(work) }

    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> ScheduledWork {
        let timer = Timer(work)
        seq += 1
        timers.append((current + delay, seq, timer))
        return timer
    }

    /// Runs queued hops until none are left.
    public func runPending() {
        while !pending.isEmpty {
            let work = pending.removeFirst()
            work()
        }
    }

    /// Moves time forward, firing due timers in order (and the hops they cause).
    public func advance(by delay: Duration) {
        let target = current + delay
        runPending()
        while let next = timers.filter({ !$0.work.cancelled && $0.due <= target }).min(by: { ($0.due, $0.seq) < ($1.due, $1.seq) }) {
            timers.removeAll { $0.seq == next.seq }
            current = next.due
            next.work.work()
            runPending()
        }
        timers.removeAll { $0.work.cancelled }
        current = target
    }

    /// Timers not yet fired or cancelled.
    public var scheduledCount: Int { timers.filter { !$0.work.cancelled }.count }
}
