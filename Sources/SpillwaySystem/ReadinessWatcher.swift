import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Waits with poll(2), on one thread of its own, for descriptors to become readable and runs each
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

    private struct Watch {
        var fd: Int32
        var queue: DispatchQueue
        var handler: @Sendable () -> Void
        var armed: Bool
    }

    private struct State {
        var watches: [Int: Watch] = [:]
        var nextID = 0
    }

    public static let shared = try! ReadinessWatcher()

    private let state = Mutex(State())
    private let wake: Pipe

    private init() throws(SystemError) {
        wake = try Pipe()
        try wake.readEnd.setNonBlocking()
        try wake.writeEnd.setNonBlocking()
        let thread = DispatchQueue(label: "spillway.readiness-watcher")
        thread.async { [self] in run() }
    }

    /// Watches `fd`, unarmed. `handler` runs on `queue` each time it is armed and readable (or at
    /// end of file, or on error).
    public func add(fd: FileDescriptor, queue: DispatchQueue, handler: @escaping @Sendable () -> Void) -> Token {
        state.withLock { state in
            state.nextID += 1
            state.watches[state.nextID] = Watch(fd: fd.rawValue, queue: queue, handler: handler, armed: false)
            return Token(id: state.nextID)
        }
    }

    /// Waits for the next readiness of `token`'s descriptor.
    public func arm(_ token: Token) {
        state.withLock { $0.watches[token.id]?.armed = true }
        poke()
    }

    /// Stops watching. Once this returns the descriptor may be closed: the watcher never runs its
    /// handler again, and a poll(2) still in progress ignores what it reports for it.
    public func remove(_ token: Token) {
        _ = state.withLock { $0.watches.removeValue(forKey: token.id) }
        poke()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = Glibc.write(wake.writeEnd.rawValue, &byte, 1)  // EAGAIN: a wake-up is already pending
    }

    private func run() -> Never {
        var drain = [UInt8](repeating: 0, count: 64)
        while true {
            // In the order they were added: stdout before stderr when both are ready, so that
            // lines written back to back keep their order across streams.
            let armed = state.withLock { state in
                state.watches.filter { $0.value.armed }.map { ($0.key, $0.value.fd) }.sorted { $0.0 < $1.0 }
            }
            var fds = [pollfd(fd: wake.readEnd.rawValue, events: Int16(POLLIN), revents: 0)]
            fds += armed.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            guard (try? syscall("poll", { Glibc.poll(&fds, nfds_t(fds.count), -1) })) != nil else { continue }
            if fds[0].revents != 0 {
                while Glibc.read(wake.readEnd.rawValue, &drain, drain.count) > 0 {}
            }
            for (index, (id, _)) in armed.enumerated() where fds[index + 1].revents != 0 {
                let fired: Watch? = state.withLock { state in
                    guard var watch = state.watches[id], watch.armed else { return nil }
                    watch.armed = false
                    state.watches[id] = watch
                    return watch
                }
                if let fired { fired.queue.async(execute: fired.handler) }
            }
        }
    }
}
