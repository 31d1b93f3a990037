import SpillwayCore

/// Everything one scrape shows, copied in one turn of the pipeline's queue (so the figures agree
/// with each other) and rendered off it.
public struct MetricsSnapshot: Sendable {
    /// The figures of the exit summary.
    public var delivery: DeliveryStats
    public var recordsRead: [LogStream: Int]
    public var bytesRead: [LogStream: Int]
    /// Time at least one reader was paused: the workload could block in write(2) meanwhile.
    public var backpressureSeconds: Double
    public var store: StoreFigures
    public var destinationUp: Bool
    public var retryDelaySeconds: Double
    public var process: ProcessFigures
    public var workloadPID: Int32?
    /// `Sink.resentBatches`.
    public var resentBatches: Int

    public init(
        delivery: DeliveryStats, recordsRead: [LogStream: Int], bytesRead: [LogStream: Int], backpressureSeconds: Double,
        store: StoreFigures, destinationUp: Bool, retryDelaySeconds: Double, process: ProcessFigures, workloadPID: Int32?,
        resentBatches: Int = 0
    ) {
        self.delivery = delivery
        self.recordsRead = recordsRead
        self.bytesRead = bytesRead
        self.backpressureSeconds = backpressureSeconds
        self.store = store
        self.destinationUp = destinationUp
        self.retryDelaySeconds = retryDelaySeconds
        self.process = process
        self.workloadPID = workloadPID
        self.resentBatches = resentBatches
    }
}

/// What the record store holds now.
public struct StoreFigures: Sendable {
    /// "memory" or "disk".
    public var kind: String
    public var records: Int
    public var bytes: Int
    /// Disk only.
    public var segments: Int?

    public init(kind: String, records: Int, bytes: Int, segments: Int?) {
        self.kind = kind
        self.records = records
        self.bytes = bytes
        self.segments = segments
    }
}

/// Prometheus's standard `process_*` figures of spillway itself.
public struct ProcessFigures: Sendable {
    public var startTimeSeconds: Double
    public var cpuSeconds: Double
    public var residentBytes: Int
    public var openFileDescriptors: Int

    public init(startTimeSeconds: Double, cpuSeconds: Double, residentBytes: Int, openFileDescriptors: Int) {
        self.startTimeSeconds = startTimeSeconds
        self.cpuSeconds = cpuSeconds
        self.residentBytes = residentBytes
        self.openFileDescriptors = openFileDescriptors
    }
}
