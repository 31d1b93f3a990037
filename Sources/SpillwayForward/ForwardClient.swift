import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SpillwayCore
import SpillwayEventLoop
import Synchronization

// MARK: - Client (event-loop confined)

struct ConnectFailure: Error {
    var reason: String
}

/// Endpoint choice: failover and failback here, the balanced modes in `ServerPool`. Every method
/// runs on `loop`; that is what makes the `@unchecked Sendable` sound.
public final class ForwardClient: EventLoopSinkClient, @unchecked Sendable {
    public typealias Completion = @Sendable (SendOutcome) -> Void

    public let loop: any EventLoop
    let options: ForwardSinkOptions
    let encoder: ForwardEncoder
    let sslContext: NIOSSLContext?
    let diagnostics: any Diagnostics
    let handshake: Handshake?

    private(set) var active: ForwardConnection?
    private var draining: [ForwardConnection] = []
    /// Connections being opened (for shutdown).
    private var opening: [ForwardConnection] = []
    /// A connect attempt is running for batches that have no connection: they wait in `waiting`.
    private var connecting = false
    private var waiting: [(Batch, Completion)] = []
    /// Probes answered when the running connect attempt ends.
    private var probes: [@Sendable (Bool) -> Void] = []
    /// A failback attempt is running in the background; batches keep going to `active`.
    private var failingBack = false
    private var lastAttempt: NIODeadline?
    private var closed = false
    /// The "no ack at all" hint is logged once (one forward sink per process).
    var warnedNoAck = false
    /// Set unless the balance is failover.
    private var pool: ServerPool?
    /// Read by the metrics endpoint from its own thread.
    private let resent = Atomic<Int>(0)

    /// Every numeric address of a host name (blocking: called off the loop).
    let resolveHost: HostResolution?

    init(loop: any EventLoop, options: ForwardSinkOptions, encoder: ForwardEncoder,
         sslContext: NIOSSLContext?, diagnostics: any Diagnostics, resolveHost: HostResolution? = nil) {
        self.loop = loop
        self.resolveHost = resolveHost
        self.options = options
        self.encoder = encoder
        self.sslContext = sslContext
        self.diagnostics = diagnostics
        self.handshake = options.sharedKey.map {
            Handshake(selfHostname: options.selfHostname, sharedKey: $0,
                      username: options.username, password: options.password)
        }
        if options.balance != .failover { pool = ServerPool(client: self) }
    }

    public func send(_ batch: Batch, completion: @escaping Completion) {
        loop.preconditionInEventLoop()
        if closed {
            completion(.retryable(reason: "forward sink is shut down"))
            return
        }
        if let pool { return pool.send(batch, completion: completion) }
        if let c = active, c.isUsable {
            if c.endpointIndex > 0, !failingBack, let last = lastAttempt,
               NIODeadline.now() - last >= options.failbackInterval.timeAmount {
                failingBack = true
                lastAttempt = .now()
                attempt(0, upTo: c.endpointIndex, failback: true, reasons: [])
            }
            c.send(batch, completion: completion)
            return
        }
        waiting.append((batch, completion))
        if !connecting {
            connecting = true
            lastAttempt = .now()
            attempt(0, upTo: options.endpoints.count, failback: false, reasons: [])
        }
    }

    /// Reconnects (the connection is kept for the retry that follows): true once one is open.
    public func probe(completion: @escaping @Sendable (Bool) -> Void) {
        loop.preconditionInEventLoop()
        if closed { return completion(false) }
        if let pool { return pool.probe(completion: completion) }
        if let c = active, c.isUsable { return completion(true) }
        probes.append(completion)
        if !connecting {
            connecting = true
            lastAttempt = .now()
            attempt(0, upTo: options.endpoints.count, failback: false, reasons: [])
        }
    }

    /// Tries endpoints `index..<end` in order, each with the connect timeout.
    private func attempt(_ index: Int, upTo end: Int, failback: Bool, reasons: [String]) {
        if closed || index >= end {
            finishAttempt(nil, failback: failback, reasons: reasons)
            return
        }
        let conn = ForwardConnection(client: self, index: index, endpoint: options.endpoints[index])
        opening.append(conn)
        conn.open().whenComplete { result in
            self.opening.removeAll { $0 === conn }
            switch result {
            case .success:
                self.finishAttempt(conn, failback: failback, reasons: reasons)
            case .failure(let error):
                let reason = (error as? ConnectFailure)?.reason ?? "\(conn.name): \(describe(error))"
                self.diagnostics.debug("forward: \(reason)")
                self.attempt(index + 1, upTo: end, failback: failback, reasons: reasons + [reason])
            }
        }
    }

    private func finishAttempt(_ conn: ForwardConnection?, failback: Bool, reasons: [String]) {
        if failback { failingBack = false } else { connecting = false }
        if closed {
            conn?.close(reason: "forward sink is shut down")
            failWaiting("forward sink is shut down")
            return
        }
        if let conn {
            adopt(conn)
        } else if failback {
            diagnostics.debug("forward: preferred endpoints still unavailable: \(reasons.joined(separator: "; "))")
        }
        if !failback {
            let healthy = active?.isUsable == true
            let answered = probes
            probes = []
            for probe in answered { probe(healthy) }
        }
        if let c = active, c.isUsable {
            let queued = waiting
            waiting = []
            for (batch, completion) in queued { c.send(batch, completion: completion) }
        } else if !connecting {
            failWaiting(reasons.isEmpty ? "no forward endpoint available" : reasons.joined(separator: "; "))
        }
    }

    /// Makes `conn` the connection for new batches unless a preferred one is already open; a
    /// replaced connection is closed once its batches in flight are answered.
    private func adopt(_ conn: ForwardConnection) {
        guard let current = active, current.isUsable else {
            if conn.endpointIndex > 0 { diagnostics.info("forward: sending to fallback \(conn.name)") }
            active = conn
            return
        }
        if conn.endpointIndex < current.endpointIndex {
            diagnostics.info("forward: back on \(conn.name), leaving \(current.name)")
            active = conn
            draining.append(current)
            current.drain()
        } else {
            conn.close(reason: "not needed")
        }
    }

    private func failWaiting(_ reason: String) {
        let queued = waiting
        waiting = []
        for (_, completion) in queued { completion(.retryable(reason: reason)) }
    }

    public var resentBatches: Int { resent.load(ordering: .relaxed) }

    func noteResent() { resent.add(1, ordering: .relaxed) }

    /// Called by a connection when it is closed, for whatever reason.
    func connectionClosed(_ conn: ForwardConnection) {
        pool?.connectionClosed(conn)
        if active === conn { active = nil }
        draining.removeAll { $0 === conn }
    }

    /// How long shutdown waits for outstanding acks (the launcher gives the sink 1 s in all).
    static let shutdownGrace = TimeAmount.milliseconds(500)

    public func shutdown() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        closed = true
        failWaiting("forward sink is shut down")
        let answered = probes
        probes = []
        for probe in answered { probe(false) }
        let conns = [active].compactMap { $0 } + opening + draining + (pool?.shutdown() ?? [])
        active = nil
        draining = []
        // Acks for batches already written may still come: wait for them briefly (a line the
        // receiver acknowledged is delivered), then close what is left.
        let futures = conns.map { $0.drain() }
        let grace = loop.scheduleTask(in: Self.shutdownGrace) {
            for conn in conns { conn.close(reason: "forward sink is shut down") }
        }
        return EventLoopFuture.andAllComplete(futures, on: loop).always { _ in grace.cancel() }
    }
}
