import Dispatch
import SpillwayCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads one non-blocking pipe on `queue` whenever `watcher` reports it readable. A watcher that
/// fails ends the reader with its error.
///
/// `onData` gets each read's bytes and the wall-clock time of that read, and returns whether to
/// keep reading: returning false stops watching the pipe (blocking mode's backpressure: the
/// kernel pipe fills and the workload blocks in write(2)) until `resume()`.
public final class PipeReader: @unchecked Sendable {
    public typealias DataHandler = (UnsafeRawBufferPointer, Timestamp) -> Bool

    private let fd: FileDescriptor
    private let queue: DispatchQueue
    private let watcher: ReadinessWatcher
    private var token: ReadinessWatcher.Token?
    private let clock: WallClock
    private let buffer: UnsafeMutableRawBufferPointer
    private let onData: DataHandler
    private let onEnd: (SystemError?) -> Void
    // Touched only on `queue`.
    private var suspended = false
    private var finished = false

    public init(
        fd: FileDescriptor, queue: DispatchQueue, watcher: ReadinessWatcher, clock: WallClock, bufferSize: Int,
        onData: @escaping DataHandler, onEnd: @escaping (SystemError?) -> Void
    ) {
        self.fd = fd
        self.queue = queue
        self.watcher = watcher
        self.clock = clock
        self.buffer = .allocate(byteCount: bufferSize, alignment: 16)
        self.onData = onData
        self.onEnd = onEnd
    }

    deinit { buffer.deallocate() }

    /// Starts watching the pipe. Call on `queue`.
    public func start() {
        token = watcher.add(fd: fd, queue: queue) { [self] event in
            switch event {
            case .readable: readAvailable(rounds: Self.roundsPerEvent)
            case .failed(let error): if !finished { finish(error) }
            }
        }
        watcher.arm(token!)
    }

    public var isFinished: Bool { finished }

    /// Resumes reading after `onData` paused it. Call on `queue`.
    public func resume() {
        guard suspended, !finished else { return }
        suspended = false
        queue.async { [self] in readAvailable(rounds: Self.roundsPerEvent) }
    }

    /// Reads per turn before yielding the queue to other work (delivery completions, the other pipe).
    static let roundsPerEvent = 4

    /// Reads what is there now until EAGAIN, then stops: the shutdown path, where the workload is
    /// gone and nothing more will arrive except from grandchildren. Call on `queue`.
    public func drainAvailable() {
        guard !finished else { return }
        readAvailable(rounds: 16, ignoringSuspension: true)  // bounded: a grandchild may keep writing
    }

    /// Stops reading for good (shutdown timeout with a grandchild holding the pipe).
    public func cancel() {
        guard !finished else { return }
        finish(nil)
    }

    private func readAvailable(rounds: Int, ignoringSuspension: Bool = false) {
        var round = 0
        while !finished, ignoringSuspension || !suspended {
            if round == rounds {
                // More may be there: continue after whatever else waits on the queue.
                if !ignoringSuspension { queue.async { [self] in readAvailable(rounds: rounds) } }
                return
            }
            round += 1
            let result: Int?
            do {
                result = try fd.read(into: buffer)
            } catch {
                finish(error)
                return
            }
            guard let count = result else {  // EAGAIN: wait until the pipe is readable again
                if !ignoringSuspension { watcher.arm(token!) }
                return
            }
            if count == 0 {
                finish(nil)
                return
            }
            let keepReading = onData(UnsafeRawBufferPointer(rebasing: buffer[..<count]), clock.now())
            if !keepReading && !finished { suspended = true }
        }
    }

    private func finish(_ error: SystemError?) {
        finished = true
        if let token { watcher.remove(token) }
        try? fd.close()
        onEnd(error)
    }
}
