import Dispatch
import SpillwayCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads one non-blocking pipe with a Dispatch read source (epoll underneath) on `queue`.
///
/// `onData` gets each read's bytes and the wall-clock time of that read, and returns whether to
/// keep reading: returning false suspends the source (blocking mode's backpressure: the kernel
/// pipe fills and the workload blocks in write(2)) until `resume()`.
public final class PipeReader: @unchecked Sendable {
    public typealias DataHandler = (UnsafeRawBufferPointer, Timestamp) -> Bool

    private let fd: FileDescriptor
    private let queue: DispatchQueue
    private let source: DispatchSourceRead
    private let clock: WallClock
    private let buffer: UnsafeMutableRawBufferPointer
    private let onData: DataHandler
    private let onEnd: (SystemError?) -> Void
    // Touched only on `queue`.
    private var suspended = false
    private var finished = false
    /// Upper bound for the next read (blocking mode reads no more than the buffer can take).
    public var readLimit: Int

    public init(
        fd: FileDescriptor, queue: DispatchQueue, clock: WallClock, bufferSize: Int,
        onData: @escaping DataHandler, onEnd: @escaping (SystemError?) -> Void
    ) {
        self.fd = fd
        self.queue = queue
        self.clock = clock
        self.buffer = .allocate(byteCount: bufferSize, alignment: 16)
        self.readLimit = bufferSize
        self.onData = onData
        self.onEnd = onEnd
        self.source = DispatchSource.makeReadSource(fileDescriptor: fd.rawValue, queue: queue)
        source.setEventHandler { [unowned self] in self.readAvailable(rounds: Self.roundsPerEvent) }
        source.setCancelHandler { [fd, buffer] in
            try? fd.close()
            buffer.deallocate()
        }
    }

    public func start() { source.activate() }

    public var isFinished: Bool { finished }
    public var isSuspended: Bool { suspended }

    /// Resumes a source that `onData` paused. Call on `queue`.
    public func resume() {
        guard suspended, !finished else { return }
        suspended = false
        source.resume()
        // The pipe may hold data that arrived while suspended: Dispatch's epoll registration does
        // not report it again, so read now.
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
            let limit = max(1, min(readLimit, buffer.count))
            let result: Int?
            do {
                result = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<limit]))
            } catch {
                finish(error)
                return
            }
            guard let count = result else { return }  // EAGAIN: wait for the next event
            if count == 0 {
                finish(nil)
                return
            }
            let keepReading = onData(UnsafeRawBufferPointer(rebasing: buffer[..<count]), clock.now())
            if !keepReading && !suspended {
                suspended = true
                source.suspend()
            }
        }
    }

    private func finish(_ error: SystemError?) {
        finished = true
        if suspended {
            suspended = false
            source.resume()  // a suspended source cannot be cancelled cleanly
        }
        source.cancel()
        onEnd(error)
    }
}
