import SpillwayCore

/// Copies of records appended while the reader was caught up, so that a reader keeping up (a
/// healthy sink) gets them without reading and verifying them back from disk. Bounded; the disk
/// stays the truth: after a restart, or when the reader falls behind by more than the budget,
/// it reads the segments.
struct RecentRecords {
    /// Records and line bytes kept, counted as `LogRecord.bufferCost`.
    let budget: Int
    /// Position of the first record kept.
    private(set) var first: UInt64 = 0
    /// Taken slots before `head` are emptied at once (their lines freed) and compacted away later.
    private var records: [LogRecord] = []
    private var head = 0
    private var cost = 0

    init(budget: Int) { self.budget = budget }

    var isEmpty: Bool { head == records.count }

    /// Keeps `batch` (its lines are shared, not copied), stored at `position`, when they continue the run kept so far (or
    /// start one where the reader is) and fit the budget; otherwise the run stops growing until
    /// the reader has drained it and caught up.
    mutating func add(_ batch: ArraySlice<LogRecord>, at position: UInt64, readerAt reader: UInt64) {
        guard isEmpty ? position == reader : first + UInt64(records.count - head) == position else { return }
        var lineBytes = 0
        for index in batch.indices { lineBytes += batch[index].line.count }
        let batchCost = lineBytes + batch.count * LogRecord.overhead
        guard cost + batchCost <= budget else { return }
        if isEmpty {
            first = position
            records.removeAll(keepingCapacity: true)
            head = 0
        }
        cost += batchCost
        // The lines share the framer's read buffers: kept as they are, not copied.
        records.append(contentsOf: batch)
    }

    /// Takes records from `position` (the reader's) into `batch` while they fit; returns how many.
    mutating func take(at position: UInt64, into batch: inout BatchBuilder) -> Int {
        drop(below: position)
        guard first == position else { return 0 }
        var taken = 0
        while !isEmpty && !batch.isFull && batch.fits(records[head]) {
            batch.add(removeFirst())
            taken += 1
        }
        return taken
    }

    /// Forgets records below `position` (read from disk, or dropped).
    mutating func drop(below position: UInt64) {
        while !isEmpty && first < position { removeFirst() }
    }

    /// Moves the first record out, leaving an empty one in its slot (so its lines are freed as
    /// soon as the reader's batch lets go of them).
    @discardableResult
    private mutating func removeFirst() -> LogRecord {
        let record = records.withUnsafeMutableBufferPointer { slots in
            let slot = slots.baseAddress! + head
            let record = slot.move()
            slot.initialize(to: LogRecord(time: record.time, stream: .stdout, line: []))
            return record
        }
        cost -= record.bufferCost
        head += 1
        first += 1
        if head >= 1024 && head * 2 >= records.count {
            records.removeFirst(head)
            head = 0
        }
        return record
    }
}
