/// Cumulative-bucket histogram in seconds, Prometheus's shape: `counts[i]` observations were at
/// most `bounds[i]`; `count` and `sum` over all of them.
public struct LatencyHistogram: Sendable, Equatable {
    /// From a fast local receiver (milliseconds) to a long outage (minutes).
    public static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    /// Not cumulative: observations in (bounds[i-1], bounds[i]]; the last slot is +Inf.
    private var slots = [Int](repeating: 0, count: bounds.count + 1)
    public private(set) var count = 0
    public private(set) var sum = 0.0

    public init() {}

    /// `count` observations of the same value.
    public mutating func observe(seconds: Double, count: Int = 1) {
        let value = max(0, seconds)
        let slot = Self.bounds.firstIndex { value <= $0 } ?? Self.bounds.count
        slots[slot] += count
        self.count += count
        sum += value * Double(count)
    }

    /// Cumulative counts per bound, as the exposition format writes `_bucket{le}`.
    public var cumulativeCounts: [Int] {
        var running = 0
        return slots.dropLast().map { running += $0; return running }
    }
}
