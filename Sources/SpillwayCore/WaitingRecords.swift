/// Records the readers produced that the store could not take yet, in order.
///
/// An array read from `head` on, so that the store takes a run straight from it as a slice: the
/// records it cannot take yet stay where they are instead of being moved out and back (each
/// copy of a record retains and releases its read's buffer).
struct WaitingRecords {
    private var records: [LogRecord] = []
    private var head = 0

    var isEmpty: Bool { head == records.count }
    var count: Int { records.count - head }

    /// The records in order, oldest first.
    var pending: ArraySlice<LogRecord> { records[head...] }

    mutating func append(contentsOf more: some Collection<LogRecord>) {
        // The taken prefix is reclaimed before it outgrows what still waits.
        if head > 0 && head >= count {
            records.removeSubrange(..<head)
            head = 0
        }
        records.append(contentsOf: more)
    }

    /// The store took the first `taken` pending records.
    mutating func removeFirst(_ taken: Int) {
        head += taken
        if head == records.count { removeAll() }
    }

    mutating func removeAll() {
        records.removeAll(keepingCapacity: true)
        head = 0
    }
}
