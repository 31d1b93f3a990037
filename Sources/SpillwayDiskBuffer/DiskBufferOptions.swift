import SpillwayCore

/// What `append` does when the storage limit (or a full disk) is reached.
public enum FullPolicy: String, Sendable, Equatable, CaseIterable {
    /// Store what fits and return the count: the caller keeps the rest and stops reading
    /// (backpressure, as in blocking mode).
    case block
    /// Delete the oldest segment to make room, and report its unread records as lost.
    case dropOldest = "drop-oldest"
}

/// When data is forced to the disk (fsync). Either way every append reaches the page cache with
/// write(2) before it returns, so a crash of spillway alone loses nothing stored.
public enum SyncPolicy: String, Sendable, Equatable, CaseIterable {
    /// On segment roll and on `sync()` (every flush interval): a power loss may lose the last
    /// interval.
    case normal
    /// Before `append` returns.
    case full
}

public struct DiskBufferOptions: Sendable, Equatable {
    public var directory: String
    /// Bytes of segment files on disk (headers and frames included).
    public var limit: Int
    public var full: FullPolicy
    public var sync: SyncPolicy
    /// A segment is closed when the next frame would take it past this size; a record larger
    /// than a segment gets a segment of its own. At most `limit / 2`, so that space is always
    /// freed in steps smaller than the limit.
    public var segmentSize: Int

    public init(
        directory: String, limit: Int = 100 << 20, full: FullPolicy = .block, sync: SyncPolicy = .normal,
        segmentSize: Int? = nil
    ) {
        self.directory = directory
        self.limit = limit
        self.full = full
        self.sync = sync
        self.segmentSize = segmentSize ?? min(8 << 20, max(limit / 4, 64 << 10))
    }
}

/// Records handed out by `read`, with the positions to acknowledge once the sink has them.
/// `positions` may be wider than `records.count` when records in between were lost (skipped
/// damage): acknowledging those positions too is harmless.
public struct DiskBatch: Sendable {
    public var records: [LogRecord]
    public var positions: Range<UInt64>
}

/// Records the buffer lost, with why, for the caller to count and report in-band.
public struct DiskLoss: Sendable, Equatable {
    public var reason: String
    /// nil when the records could not be decoded (damaged data).
    public var stream: LogStream?
    public var records: Int
    /// Line bytes when the records were decoded; otherwise the damaged bytes on disk.
    public var bytes: Int
    /// Times of the first and last lost record, when they were decoded.
    public var timeRange: ClosedRange<Timestamp>?
    /// Deleted by drop-oldest at the storage limit or on a full disk (not damage).
    public var droppedForSpace: Bool

    public init(
        reason: String, stream: LogStream?, records: Int, bytes: Int, timeRange: ClosedRange<Timestamp>?,
        droppedForSpace: Bool = false
    ) {
        self.reason = reason
        self.droppedForSpace = droppedForSpace
        self.stream = stream
        self.records = records
        self.bytes = bytes
        self.timeRange = timeRange
    }
}
