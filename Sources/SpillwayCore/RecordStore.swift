/// Where records wait between the framer and the sink: memory (blocking and non-blocking modes)
/// or disk (filesystem mode). The delivery core owns batching, the in-flight window, retries and
/// drop reports; a store only keeps records in order until the sink has answered for them.
public protocol RecordStore: AnyObject {
    /// Stores records in order and returns how many it took. Fewer than offered means full with
    /// backpressure: the caller keeps the rest and offers them again later. A store that drops
    /// instead (non-blocking, drop-oldest) takes everything and reports each loss to `dropped`.
    func store(_ records: ArraySlice<LogRecord>, dropped: (DropLoss) -> Void) -> Int
    /// No record is waiting to be taken into a batch.
    var isEmpty: Bool { get }
    /// A batch should go out now rather than at the flush interval: it would be full, or the
    /// store is filling up.
    func batchDue(_ limits: BatchLimits) -> Bool
    /// Takes up to `limits` of the oldest waiting records; they stay stored until `release`.
    func takeBatch(_ limits: BatchLimits) -> (records: [LogRecord], receipt: StoreReceipt)
    /// The sink answered for good (delivered, or rejected and counted): free their space.
    func release(_ receipt: StoreReceipt)
    /// Records stored and not yet released, taken ones included.
    var storedRecords: Int { get }
    /// Bytes those records take: a memory store's cost, a disk store's bytes on disk.
    var storedBytes: Int { get }
    /// Segment files on disk; nil for a memory store.
    var segmentCount: Int? { get }
    /// Records that outlive spillway (on disk): not lost at the shutdown deadline.
    var isDurable: Bool { get }
    /// The shutdown deadline: gives up what waits in memory and returns it, to be counted.
    func abandon() -> [LogRecord]
    /// Records the store lost on its own since the last call (a disk store: drop-oldest, damage
    /// found on disk or at recovery), to be counted and reported.
    func takeLosses() -> [DropLoss]
    /// Delivery starts: a store with periodic upkeep (a disk store's background fsync) schedules
    /// it on the delivery core's scheduler, every `interval`.
    func start(scheduler: Scheduler, interval: Duration)
    /// Delivery has ended: stops the upkeep, makes what is stored durable and releases the store.
    func close()
}

extension RecordStore {
    public var segmentCount: Int? { nil }
    public func takeLosses() -> [DropLoss] { [] }
    public func start(scheduler: Scheduler, interval: Duration) {}
    public func close() {}
}

/// What a store needs back to release a batch.
public struct StoreReceipt: Sendable, Equatable {
    /// Buffer cost of the records (memory stores).
    public var cost: Int
    /// Positions of the records (disk stores).
    public var positions: Range<UInt64>

    public init(cost: Int = 0, positions: Range<UInt64> = 0..<0) {
        self.cost = cost
        self.positions = positions
    }
}

/// Records a store gave up, with why. Disk stores may know only counts and a time range.
public struct DropLoss: Sendable {
    public var stream: LogStream
    public var reason: DropReason
    public var records: Int
    public var bytes: Int
    public var first: Timestamp
    public var last: Timestamp

    public init(stream: LogStream, reason: DropReason, records: Int, bytes: Int, first: Timestamp, last: Timestamp) {
        self.stream = stream
        self.reason = reason
        self.records = records
        self.bytes = bytes
        self.first = first
        self.last = last
    }

    public init(_ record: LogRecord, reason: DropReason) {
        self.init(stream: record.stream, reason: reason, records: 1, bytes: record.line.count,
                  first: record.time, last: record.time)
    }
}
