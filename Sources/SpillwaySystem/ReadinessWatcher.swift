import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Waits with poll(2), on a thread of its own, for descriptors to become readable and runs each
/// one's handler on its queue — one-shot, like a Dispatch read source: a descriptor is watched
/// again only after `arm`.
///
/// Why not `DispatchSourceRead`: libdispatch on Linux unregisters a source's epoll note from its
/// manager thread when the pipe hangs up, racing the source's own cancellation; the manager then
/// reads a freed note in `_dispatch_event_loop_drain` (swift-corelibs-libdispatch#949). Spillway hit
/// it in about 9 of 10 runs when a workload exited right after a large write. poll(2) keeps no
/// registration that could dangle.
public final class ReadinessWatcher: Sendable {
    public struct Token: Hashable, Sendable { fileprivate let id: Int }

    /// What a handler is told.
    public enum Event: Sendable {
        /// The descriptor is readable (or at end of file, or in error); the watch is unarmed.
        case readable
        /// poll(2) failed: the watcher's thread has ended and reports nothing more, for any watch.
        case failed(SystemError)
    }

    private struct Watch {
        var fd: Int32
        var queue: DispatchQueue
        var handler: @Sendable (Event) -> Void
        var armed: Bool
    }

    private struct State {
        var watches: [Int: Watch] = [:]
        var nextID = 0
        var failure: SystemError?
        var thread: PosixThread?
        var stopped = false
    }

    private let state = Mutex(State())
    /// Interrupts poll(2) when the set of armed descriptors changes, or to stop.
    private let wake: Pipe

    private init(wake: Pipe) {
        self.wake = wake
    }

    /// Starts a watcher on a new thread. `stop()` ends it.
    public static func start() throws(SystemError) -> ReadinessWatcher {
        let wake = try Pipe()
        do {
            try wake.readEnd.setNonBlocking()
            try wake.writeEnd.setNonBlocking()
            let watcher = ReadinessWatcher(wake: wake)
            let thread = try PosixThread.start { watcher.run() }
            watcher.state.withLock { $0.thread = thread }
            return watcher
        } catch {
            try? wake.readEnd.close()
            try? wake.writeEnd.close()
            throw error
        }
    }

    /// Ends the thread and closes the wake-up pipe; handlers already queued still run. Call from
    /// another thread than the watcher's; later calls do nothing.
    public func stop() {
        let thread = state.withLock { state -> PosixThread? in
            guard !state.stopped else { return nil }
            state.stopped = true
            wakeUp()
            return state.thread
        }
        guard let thread else { return }
        thread.join()
        try? wake.readEnd.close()
        try? wake.writeEnd.close()
    }

    /// Watches `fd`, unarmed. `handler` runs on `queue` each time it is armed and readable, or
    /// once if the watcher fails.
    public func add(fd: FileDescriptor, queue: DispatchQueue, handler: @escaping @Sendable (Event) -> Void) -> Token {
        state.withLock { state in
            state.nextID += 1
            state.watches[state.nextID] = Watch(fd: fd.rawValue, queue: queue, handler: handler, armed: false)
            if let failure = state.failure { queue.async { handler(.failed(failure)) } }
            return Token(id: state.nextID)
        }
    }

    /// Waits for the next readiness of `token`'s descriptor.
    public func arm(_ token: Token) {
        state.withLock { state in
            state.watches[token.id]?.armed = true
            if !state.stopped { wakeUp() }
        }
    }

    /// Stops watching. Once this returns the descriptor may be closed: the watcher never runs its
    /// handler again, and a poll(2) still in progress ignores what it reports for it.
    public func remove(_ token: Token) {
        state.withLock { state in
            state.watches.removeValue(forKey: token.id)
            if !state.stopped { wakeUp() }
        }
    }

    /// Call with the lock held and the pipe open: `stop` closes it under the same lock's cover.
    private func wakeUp() {
        var byte: UInt8 = 1
        // EAGAIN: the pipe is full, so a wake-up is pending anyway.
        _ = try? syscall(expecting: EAGAIN, "write(wake-up pipe)", { Glibc.write(wake.writeEnd.rawValue, &byte, 1) })
    }

    private func run() {
        let drain = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
        defer { drain.deallocate() }
        do {
            while try waitOnce(drain: drain) {}
        } catch {
            fail(error)
        }
    }

    /// One poll(2): dispatches the handlers of what became readable. False once stopped.
    private func waitOnce(drain: UnsafeMutableRawBufferPointer) throws(SystemError) -> Bool {
        // In the order they were added: stdout before stderr when both are ready, so that lines
        // written back to back keep their order across streams.
        let armed = state.withLock { state -> [(id: Int, fd: Int32)]? in
            guard !state.stopped else { return nil }
            return state.watches.filter { $0.value.armed }.map { ($0.key, $0.value.fd) }.sorted { $0.id < $1.id }
        }
        guard let armed else { return false }
        var fds = [pollfd(fd: wake.readEnd.rawValue, events: Int16(POLLIN), revents: 0)]
        fds += armed.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        try syscall("poll", { Glibc.poll(&fds, nfds_t(fds.count), -1) })
        if fds[0].revents != 0 {
            while try wake.readEnd.read(into: drain) ?? 0 > 0 {}
        }
        for (index, (id, _)) in armed.enumerated() where fds[index + 1].revents != 0 {
            let fired: Watch? = state.withLock { state in
                guard var watch = state.watches[id], watch.armed else { return nil }
                watch.armed = false
                state.watches[id] = watch
                return watch
            }
            if let fired { fired.queue.async { fired.handler(.readable) } }
        }
        return true
    }

    /// Tells every watch, once, that nothing more will be reported: the thread ends rather than
    /// retry a poll(2) that keeps failing.
    private func fail(_ error: SystemError) {
        let watches = state.withLock { state in
            state.failure = error
            return Array(state.watches.values)
        }
        for watch in watches { watch.queue.async { watch.handler(.failed(error)) } }
    }
}
