/// Wall-clock time source, injectable so that tests control timestamps.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}
