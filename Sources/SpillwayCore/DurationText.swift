/// A duration as the configuration writes it, in the largest unit that divides it exactly:
/// `1h`, `2m`, `30s`, `250ms`, `1500us`, `7ns`.
public func formatDuration(_ d: Duration) -> String {
    let (seconds, attoseconds) = d.components
    let ns = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    guard ns != 0 else { return "0s" }
    let units: [(Int64, String)] = [(3_600_000_000_000, "h"), (60_000_000_000, "m"), (1_000_000_000, "s"),
                                    (1_000_000, "ms"), (1000, "us")]
    for (per, unit) in units where ns % per == 0 { return "\(ns / per)\(unit)" }
    return "\(ns)ns"
}
