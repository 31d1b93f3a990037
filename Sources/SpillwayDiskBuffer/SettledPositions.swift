/// Positions that need no more delivery — acknowledged, or accounted as lost — kept as a
/// contiguous prefix plus the ranges settled out of order above it. Storage is released only
/// below the prefix.
struct SettledPositions {
    /// Every position below is settled.
    private(set) var prefix: UInt64
    /// Sorted, disjoint, not touching each other or the prefix.
    private var ranges: [Range<UInt64>] = []

    init(prefix: UInt64) { self.prefix = prefix }

    /// How many positions of `range` are settled.
    func count(in range: Range<UInt64>) -> UInt64 {
        var count = range.lowerBound < prefix ? min(prefix, range.upperBound) - range.lowerBound : 0
        for settled in ranges where settled.overlaps(range) {
            count += min(settled.upperBound, range.upperBound) - max(settled.lowerBound, range.lowerBound)
        }
        return count
    }

    /// The first `limit` ranges settled above the prefix, in order: what the ledger records.
    func rangesAbovePrefix(limit: Int) -> [Range<UInt64>] { Array(ranges.prefix(limit)) }

    mutating func insert(_ range: Range<UInt64>) {
        guard range.upperBound > prefix else { return }
        var new = max(range.lowerBound, prefix)..<range.upperBound
        // First range that ends at or after the new one's start: everything before stays.
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < new.lowerBound { low = mid + 1 } else { high = mid }
        }
        var last = low
        while last < ranges.count && ranges[last].lowerBound <= new.upperBound {
            new = min(new.lowerBound, ranges[last].lowerBound)..<max(new.upperBound, ranges[last].upperBound)
            last += 1
        }
        ranges.replaceSubrange(low..<last, with: CollectionOfOne(new))
        if ranges[0].lowerBound == prefix {
            prefix = ranges.removeFirst().upperBound
        }
    }
}

/// How many positions two ranges share.
func overlapCount(_ a: Range<UInt64>, _ b: Range<UInt64>) -> Int {
    let (lower, upper) = (max(a.lowerBound, b.lowerBound), min(a.upperBound, b.upperBound))
    return upper > lower ? Int(upper - lower) : 0
}
