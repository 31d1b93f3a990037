import DequeModule

/// What a memory store does when it is full.
public enum BufferPolicy: Sendable, Equatable {
    /// Take nothing more: the readers pause and the workload blocks in write(2) (blocking mode).
    case block
    /// Keep taking; drop the arriving record, or the oldest one not yet in a batch (non-blocking).
    case dropNewest
    case dropOldest
}

/// The memory buffer of the blocking and non-blocking modes. Its size counts each record's bytes
/// plus `LogRecord.overhead` — also while a record is in flight, until the sink answered.
public final class MemoryStore: RecordStore {
    public let capacity: Int
    public let policy: BufferPolicy
    private let bytesPerRecord: Int
    private var unsent = Deque<LogRecord>()
    /// Cost of every record not yet released.
    private var cost = 0
    /// Of that, the records in flight (taken into a batch, not yet answered).
    private var takenCost = 0
    private var taken = 0
    /// Unsent records measured as the sink counts a batch (bytes + its per-record charge).
    private var unsentBatchBytes = 0

    public init(capacity: Int, policy: BufferPolicy, limits: BatchLimits) {
        self.capacity = capacity
        self.policy = policy
        self.bytesPerRecord = limits.bytesPerRecord
    }

    public var isEmpty: Bool { unsent.isEmpty }
    public var storedRecords: Int { unsent.count + taken }
    public var storedBytes: Int { cost }
    public var isDurable: Bool { false }

    public func store(_ records: ArraySlice<LogRecord>, dropped: (DropLoss) -> Void) -> Int {
        var total = 0
        var batchBytes = 0
        for record in records {
            total += record.bufferCost
            batchBytes += record.line.count + bytesPerRecord
        }
        if cost + total <= capacity {
            unsent.append(contentsOf: records)  // the common case: one bulk append
            cost += total
            unsentBatchBytes += batchBytes
            return records.count
        }
        for (offset, record) in records.enumerated() {
            if cost + record.bufferCost <= capacity {
                append(record)
                continue
            }
            switch policy {
            case .block:
                return offset
            case .dropNewest:
                dropped(DropLoss(record, reason: .bufferFull))
            case .dropOldest:
                while cost + record.bufferCost > capacity, let oldest = popUnsent() {
                    cost -= oldest.bufferCost
                    dropped(DropLoss(oldest, reason: .bufferFull))
                }
                if cost + record.bufferCost <= capacity {
                    append(record)
                } else {
                    dropped(DropLoss(record, reason: .bufferFull))  // the rest is in flight
                }
            }
        }
        return records.count
    }

    public func batchDue(_ limits: BatchLimits) -> Bool {
        // Batches in flight free nothing until answered: only what waits to be sent counts here.
        unsent.count >= limits.maxRecords || unsentBatchBytes >= limits.maxBytes || cost - takenCost >= capacity / 2
    }

    public func takeBatch(_ limits: BatchLimits) -> (records: [LogRecord], receipt: StoreReceipt) {
        // Measure first (reading through the deque, no copies), then take the run out at once.
        var count = 0
        var lineBytes = 0
        for index in unsent.indices {
            guard count < limits.maxRecords else { break }
            let size = unsent[index].line.count
            if count > 0 && lineBytes + size + (count + 1) * limits.bytesPerRecord > limits.maxBytes { break }
            lineBytes += size
            count += 1
        }
        // Moved out one by one: a copy and a removal would retain and release every record's storage.
        var records: [LogRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count { records.append(unsent.removeFirst()) }
        let batchCost = lineBytes + count * LogRecord.overhead  // Σ bufferCost
        unsentBatchBytes -= lineBytes + count * bytesPerRecord
        taken += count
        takenCost += batchCost
        return (records, StoreReceipt(cost: batchCost, positions: 0..<UInt64(count)))
    }

    public func release(_ receipt: StoreReceipt) {
        cost -= receipt.cost
        takenCost -= receipt.cost
        taken -= receipt.positions.count
    }

    public func abandon() -> [LogRecord] {
        defer {
            unsent.removeAll()
            cost = 0
            takenCost = 0
            taken = 0
            unsentBatchBytes = 0
        }
        return Array(unsent)
    }

    private func append(_ record: LogRecord) {
        unsent.append(record)
        cost += record.bufferCost
        unsentBatchBytes += record.line.count + bytesPerRecord
    }

    private func popUnsent() -> LogRecord? {
        guard let record = unsent.popFirst() else { return nil }
        unsentBatchBytes -= record.line.count + bytesPerRecord
        return record
    }
}
