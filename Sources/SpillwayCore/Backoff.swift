/// Exponential backoff with full jitter: the n-th consecutive failure waits a uniformly random
/// time in [0, min(cap, base * 2^(n-1))]. One instance schedules every retry and reconnect.
public struct Backoff: Sendable {
    public let base: Duration
    public let cap: Duration
    public private(set) var failures = 0

    public init(base: Duration = .milliseconds(250), cap: Duration = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the next delay, before jitter.
    public var ceiling: Duration {
        guard failures > 0 else { return .zero }
        let doublings = min(failures - 1, 32)
        let nanos = base.nanoseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        return nanos.overflow ? cap : min(cap, .nanoseconds(nanos.partialValue))
    }

    /// Records a failure and returns how long to wait before the next attempt.
    public mutating func fail<G: RandomNumberGenerator>(using random: inout G) -> Duration {
        failures += 1
        let ceiling = ceiling.nanoseconds
        return .nanoseconds(ceiling == 0 ? 0 : Int64.random(in: 0...ceiling, using: &random))
    }

    public mutating func succeed() { failures = 0 }
}

extension Duration {
    /// Whole nanoseconds (saturating), the unit our timers use.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled + attoseconds / 1_000_000_000
    }
}
