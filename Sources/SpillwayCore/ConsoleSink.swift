
/// Fields every record carries besides its line (Docker's log drivers' set).
public struct RecordFields: Sendable, Equatable {
    public var containerName: String
    public var containerID: String?
    /// Labels and selected environment variables, in configuration order.
    public var extra: [Field]

    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(containerName: String, containerID: String? = nil, extra: [Field] = []) {
        self.containerName = containerName
        self.containerID = containerID
        self.extra = extra
    }
}

/// The `console` sink: one JSON object per record on spillway's stdout.
///
/// Encoding runs in the sink's own serial context (`perform`: a queue the caller owns), so
/// framing and encoding use both cores.
public final class ConsoleSink: Sink {
    public let batchLimits = BatchLimits(maxRecords: 8192, maxBytes: 1 << 20, bytesPerRecord: 0)
    public let maxInFlight = 2
    private let perform: @Sendable (@escaping @Sendable () -> Void) -> Void
    private let encoder: ConsoleEncoder
    /// Writes the bytes; false when the output is gone (EPIPE): records are then dropped.
    private let output: @Sendable (UnsafeRawBufferPointer) -> Bool

    public init(
        fields: RecordFields, perform: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
        output: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool
    ) {
        self.encoder = ConsoleEncoder(fields: fields)
        self.perform = perform
        self.output = output
    }

    public func send(_ batch: Batch, completion: @escaping @Sendable (SendOutcome) -> Void) {
        perform { [encoder, output] in
            var bytes: [UInt8] = []
            var cache = ConsoleEncoder.SecondCache()
            batch.records.withUnsafeBufferPointer { records in  // borrowed, not copied, one by one
                bytes.reserveCapacity(records.indices.reduce(0) { $0 + records[$1].line.count + 128 })
                for i in records.indices { encoder.encode(records[i], into: &bytes, cache: &cache) }
            }
            let written = bytes.withUnsafeBytes { output($0) }
            completion(written ? .delivered : .rejected([Rejection(indices: batch.records.indices, reason: .outputClosed)]))
        }
    }

    public func shutdown(completion: @escaping @Sendable () -> Void) {
        perform { completion() }
    }
}
