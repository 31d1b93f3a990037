import SpillwayCore

/// The weighted choice of Fluentd's out_forward (`rebuild_weight_array`), pure: each healthy
/// regular server appears in a shuffled cycle as often as its weight (divided by the weights'
/// gcd); standby servers stand in, in order, for the weight of regular servers that are down.
/// Rebuilt whenever a server's health changes; `next()` walks the cycle.
struct ServerWeights {
    struct Server: Equatable {
        var weight: Int
        var standby: Bool
        var healthy: Bool
    }

    /// Server indices, each as often as its share.
    private(set) var cycle: [Int]
    private var position = 0

    init(_ servers: [Server], seed: UInt64) {
        var chosen = servers.indices.filter { !servers[$0].standby && servers[$0].healthy && servers[$0].weight > 0 }
        var lostWeight = servers.filter { !$0.standby && !$0.healthy }.reduce(0) { $0 + $1.weight }
        for i in servers.indices where servers[i].standby && servers[i].healthy && lostWeight > 0 {
            chosen.append(i)
            lostWeight -= servers[i].weight
        }
        let divisor = chosen.reduce(0) { gcd($0, servers[$1].weight) }
        var cycle: [Int] = []
        if divisor > 0 {
            for i in chosen { cycle += Array(repeating: i, count: servers[i].weight / divisor) }
        }
        // A short cycle is repeated so that a shuffle still spreads neighbours (as Fluentd does).
        if !cycle.isEmpty, chosen.count * 6 / cycle.count > 1 {
            cycle = Array(repeating: cycle, count: chosen.count * 6 / cycle.count).flatMap { $0 }
        }
        var generator = SplitMix64(seed: seed)
        cycle.shuffle(using: &generator)
        self.cycle = cycle
    }

    /// The next server, nil when no server may take traffic.
    mutating func next() -> Int? {
        guard !cycle.isEmpty else { return nil }
        position = (position + 1) % cycle.count
        return cycle[position]
    }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
