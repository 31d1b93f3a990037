import SpillwayCore
#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_REALTIME for record timestamps (the framer keeps them monotonic per stream).
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}
