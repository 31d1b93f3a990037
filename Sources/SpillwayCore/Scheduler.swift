/// Where the delivery core runs: one serial context, its monotonic time, and its timers.
/// Production uses a Dispatch serial queue; tests use `ManualScheduler` from SpillwayTestKit.
public protocol Scheduler: AnyObject, Sendable {
    /// Monotonic time; only differences are meaningful.
    var now: ContinuousClock.Instant { get }
    /// Runs `work` in the serial context (used to hop back from sink completions).
    func execute(_ work: @escaping @Sendable () -> Void)
    /// Runs `work` in the serial context after `delay`, unless cancelled.
    func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> ScheduledWork
}

public protocol ScheduledWork: Sendable {
    func cancel()
}
