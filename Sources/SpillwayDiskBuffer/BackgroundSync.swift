import Dispatch
import SpillwaySystem
import Synchronization

/// fsyncs (and the deletes that must follow a ledger fsync) on a queue of its own, for the
/// `normal` sync policy: a segment roll, a settled segment's removal or the periodic sync must
/// not hold up appends and reads for the disk's latency (on the bench's disk, about 4.6 ms per
/// fdatasync, twice per 8 MiB segment, cut filesystem mode's throughput by more than half).
/// Each job works on a descriptor of its own (a dup, or one handed over), so the buffer may
/// close or delete files meanwhile. The first error is kept and thrown by the next `check`.
final class BackgroundSync: Sendable {
    private let queue = DispatchQueue(label: "spillway.disk-buffer.sync")
    private let failure = Mutex<SystemError?>(nil)

    /// fdatasyncs `fd` and closes it: the caller hands it over.
    func synchronizeAndClose(_ fd: FileDescriptor) {
        enqueue { () throws(SystemError) in
            defer { try? fd.close() }
            try fd.synchronizeData()
        }
    }

    /// fdatasyncs a file the caller keeps using.
    func synchronize(_ fd: FileDescriptor) throws(SystemError) {
        synchronizeAndClose(try fd.duplicate())
    }

    /// Deletes a file after the jobs queued before (the ledger's fsync). The buffer keeps
    /// `directory` open until `finish` has run.
    func remove(_ name: String, in directory: Directory) {
        enqueue { () throws(SystemError) in try directory.remove(name) }
    }

    /// fsyncs the directory's entries; the buffer keeps it open until `finish` has run.
    func synchronize(_ directory: Directory) {
        enqueue { () throws(SystemError) in try directory.synchronize() }
    }

    /// Waits for every job queued so far; throws the first error any of them met.
    func finish() throws(SystemError) {
        queue.sync {}
        try check()
    }

    /// Throws the first error met so far, without waiting.
    func check() throws(SystemError) {
        if let error = failure.withLock({ error in defer { error = nil }; return error }) { throw error }
    }

    /// Runs `job` in order after those queued before; keeps its error if it is the first.
    private func enqueue(_ job: @escaping @Sendable () throws(SystemError) -> Void) {
        queue.async { [self] in
            do throws(SystemError) { try job() } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
    }
}
