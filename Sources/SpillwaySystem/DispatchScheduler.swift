import Dispatch
import SpillwayCore

/// The delivery core's serial context: a Dispatch queue and its timers.
public final class DispatchScheduler: Scheduler, @unchecked Sendable {
    public let queue: DispatchQueue
    private let clock = ContinuousClock()

    public init(queue: DispatchQueue) { self.queue = queue }

    public var now: ContinuousClock.Instant { clock.now }

    public func execute(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }

    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> ScheduledWork {
        let item = DispatchWorkItem(block: work)
        let nanos = max(0, delay.nanoseconds)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: nanos)), execute: item)
        return DispatchScheduledWork(item: item)
    }
}

struct DispatchScheduledWork: ScheduledWork, @unchecked Sendable {
    let item: DispatchWorkItem
    func cancel() { item.cancel() }
}
