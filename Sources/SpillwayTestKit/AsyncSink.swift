import Dispatch
import SpillwayCore

/// The completion-handler calls of a `Sink` as async functions, for sink tests.
extension Sink {
    /// Sends `records` as batch `id` and returns the outcome.
    public func send(_ records: [LogRecord], id: UInt64 = 1) async -> SendOutcome {
        await withCheckedContinuation { c in
            send(Batch(id: id, records: records)) { c.resume(returning: $0) }
        }
    }

    public func shutdown() async {
        await withCheckedContinuation { c in shutdown { c.resume() } }
    }

    /// Shuts down and waits on this thread (for `defer`, where `await` is not allowed).
    public func shutdownSync() {
        let done = DispatchSemaphore(value: 0)
        shutdown { done.signal() }
        done.wait()
    }
}

extension SendOutcome {
    /// The reason of a retryable outcome; nil otherwise.
    public var reason: String? {
        if case .retryable(let reason) = self { return reason }
        return nil
    }
}
