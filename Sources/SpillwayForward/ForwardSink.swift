import Dispatch
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS  // TLSUserEvent; built as part of swift-nio for NIOSSL (see the report: declare the product)
import SpillwayCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends batches to a Fluentd forward-protocol receiver (Fluentd, Fluent Bit, FireLens, …).
///
/// Each batch becomes one PackedForward message (see `ForwardEncoder`), encoded on the sink's own
/// event loop thread. With `requireAck` a batch is delivered only when the receiver acks its chunk
/// id; several batches may be in flight on one connection. The sink never retries and never
/// schedules a reconnect: any failure completes the batch `.retryable` with a short reason, and the
/// delivery core calls `send` again after its backoff; `send` connects lazily, trying the
/// endpoints in order.
public final class ForwardSink: Sink {
    public let batchLimits: BatchLimits
    public let maxInFlight: Int

    private let group: MultiThreadedEventLoopGroup
    private let client: ForwardClient
    /// Guards against use after `shutdown` (the event loop is gone then).
    private let lifecycle = ShutdownFlag()

    /// Throws `ForwardSinkSetupError` when a TLS file cannot be loaded or no endpoint is given.
    public init(options: ForwardSinkOptions, diagnostics: any Diagnostics) throws {
        guard !options.endpoints.isEmpty else {
            throw ForwardSinkSetupError(option: "endpoints", message: "no forward endpoint given")
        }
        var sslContext: NIOSSLContext? = nil
        if options.endpoints.contains(where: { if case .tls = $0 { return true } else { return false } }) {
            sslContext = try Self.makeSSLContext(options)
        }
        let encoder = ForwardEncoder(options: options)
        let slack = encoder.messageOverheadEstimate + 64 + options.maxMessageBytes / 64
        self.batchLimits = BatchLimits(
            maxRecords: 1 << 20,
            maxBytes: Swift.max(options.maxMessageBytes - slack, 1024),
            bytesPerRecord: encoder.bytesPerRecordEstimate
        )
        self.maxInFlight = Swift.max(options.maxInFlight, 1)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.client = ForwardClient(loop: group.next(), options: options, encoder: encoder,
                                    sslContext: sslContext, diagnostics: diagnostics)
    }

    public func send(_ batch: Batch, completion: @escaping @Sendable (SendOutcome) -> Void) {
        let client = self.client
        guard !lifecycle.isSet else {
            completion(.retryable(reason: "forward sink is shut down"))
            return
        }
        client.loop.execute { client.send(batch, completion: completion) }
    }

    public func shutdown(completion: @escaping @Sendable () -> Void) {
        let client = self.client
        let group = self.group
        guard lifecycle.set() else {
            completion()
            return
        }
        client.loop.execute {
            client.shutdown().whenComplete { _ in
                // Not from the loop's own thread.
                DispatchQueue.global().async {
                    group.shutdownGracefully { _ in completion() }
                }
            }
        }
    }

    static func makeSSLContext(_ options: ForwardSinkOptions) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        if let ca = options.tlsCAFile {
            do {
                config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw ForwardSinkSetupError(option: "tlsCAFile", message: "cannot load the TLS CA file \(ca): \(error)")
            }
        }
        if let cert = options.tlsCertFile {
            do {
                config.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            } catch {
                throw ForwardSinkSetupError(option: "tlsCertFile", message: "cannot load the TLS certificate file \(cert): \(error)")
            }
            guard let key = options.tlsKeyFile else {
                throw ForwardSinkSetupError(option: "tlsKeyFile", message: "a TLS client certificate needs its key file")
            }
            do {
                config.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw ForwardSinkSetupError(option: "tlsKeyFile", message: "cannot load the TLS key file \(key): \(error)")
            }
        } else if options.tlsKeyFile != nil {
            throw ForwardSinkSetupError(option: "tlsCertFile", message: "a TLS key file needs its certificate file")
        }
        config.certificateVerification = options.tlsVerify ? .fullVerification : .none
        do {
            return try NIOSSLContext(configuration: config)
        } catch {
            throw ForwardSinkSetupError(option: "tlsCAFile", message: "cannot set up TLS: \(error)")
        }
    }
}

/// A flag that is set once, from any thread.
final class ShutdownFlag: @unchecked Sendable {
    private let queue = DispatchQueue(label: "spillway.forward.lifecycle")
    private var value = false

    var isSet: Bool { queue.sync { value } }

    /// Sets the flag; false if it was already set.
    func set() -> Bool {
        queue.sync {
            if value { return false }
            value = true
            return true
        }
    }
}

// MARK: - Client (event-loop confined)

struct ConnectFailure: Error {
    var reason: String
}

/// Endpoint choice, failover and failback. Every method runs on `loop`; that is what makes the
/// `@unchecked Sendable` sound.
final class ForwardClient: @unchecked Sendable {
    typealias Completion = @Sendable (SendOutcome) -> Void

    let loop: any EventLoop
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
    /// A failback attempt is running in the background; batches keep going to `active`.
    private var failingBack = false
    private var lastAttempt: NIODeadline?
    private var closed = false
    /// The "no ack at all" hint is logged once (one forward sink per process).
    var warnedNoAck = false

    init(loop: any EventLoop, options: ForwardSinkOptions, encoder: ForwardEncoder,
         sslContext: NIOSSLContext?, diagnostics: any Diagnostics) {
        self.loop = loop
        self.options = options
        self.encoder = encoder
        self.sslContext = sslContext
        self.diagnostics = diagnostics
        self.handshake = options.sharedKey.map {
            Handshake(selfHostname: options.selfHostname, sharedKey: $0,
                      username: options.username, password: options.password)
        }
    }

    func send(_ batch: Batch, completion: @escaping Completion) {
        loop.preconditionInEventLoop()
        if closed {
            completion(.retryable(reason: "forward sink is shut down"))
            return
        }
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

    /// Called by a connection when it is closed, for whatever reason.
    func connectionClosed(_ conn: ForwardConnection) {
        if active === conn { active = nil }
        draining.removeAll { $0 === conn }
    }

    func shutdown() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        closed = true
        failWaiting("forward sink is shut down")
        let conns = [active].compactMap { $0 } + opening + draining
        active = nil
        draining = []
        let futures = conns.map { $0.close(reason: "forward sink is shut down") }
        return EventLoopFuture.andAllComplete(futures, on: loop)
    }
}

// MARK: - Connection (event-loop confined)

/// One connection to one endpoint: transport, TLS, handshake, batches in flight and their timers.
final class ForwardConnection: @unchecked Sendable {
    private enum State {
        case connecting
        case tlsHandshake
        case awaitingHelo
        case awaitingPong(salt: [UInt8], nonce: [UInt8])
        case ready
        case closed
    }

    private struct InFlight {
        var completion: ForwardClient.Completion
        var writeTimer: Scheduled<Void>?
        var ackTimer: Scheduled<Void>?
    }

    let client: ForwardClient
    let endpointIndex: Int
    let endpoint: ForwardEndpoint
    let name: String
    private var loop: any EventLoop { client.loop }
    private var options: ForwardSinkOptions { client.options }

    private var state: State = .connecting
    private var channel: (any Channel)?
    private let readyPromise: EventLoopPromise<Void>
    private var setupTimer: Scheduled<Void>?
    private var readyCompleted = false
    private var pending: [[UInt8]: InFlight] = [:]
    private var sequence: UInt64 = 0
    private var everAcked = false
    private var draining = false
    private var loggedUnexpected = false

    init(client: ForwardClient, index: Int, endpoint: ForwardEndpoint) {
        self.client = client
        self.endpointIndex = index
        self.endpoint = endpoint
        self.name = endpoint.description
        self.readyPromise = client.loop.makePromise(of: Void.self)
    }

    var isUsable: Bool {
        if case .ready = state { return !draining }
        return false
    }

    // MARK: opening

    func open() -> EventLoopFuture<Void> {
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(options.connectTimeout.timeAmount)
            .channelOption(ChannelOptions.autoRead, value: false)
        let connected: EventLoopFuture<any Channel>
        switch endpoint {
        case .tcp(let host, let port), .tls(let host, let port):
            connected = bootstrap.connect(host: host, port: port)
        case .unix(let path):
            connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                self.transportConnected(channel)
            case .failure(let error):
                self.fail("connect to \(self.name): \(describe(error))")
            }
        }
        return readyPromise.futureResult
    }

    private func transportConnected(_ channel: any Channel) {
        guard case .connecting = state else {
            // Closed (shutdown) while connecting.
            channel.close(promise: nil)
            return
        }
        self.channel = channel
        do {
            let ops = channel.pipeline.syncOperations
            if case .tls(let host, _) = endpoint, let ssl = client.sslContext {
                let isIP = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                try ops.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: isIP ? nil : host))
                state = .tlsHandshake
            } else {
                state = client.handshake == nil ? .ready : .awaitingHelo
            }
            try ops.addHandler(ByteToMessageHandler(MsgPackFrameDecoder()))
            try ops.addHandler(ForwardChannelHandler(connection: self))
            try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        } catch {
            fail("connect to \(name): \(describe(error))")
            return
        }
        guard channel.isActive else {
            fail("connection to \(name) closed by the receiver")
            return
        }
        if case .ready = state {
            readyCompleted = true
            readyPromise.succeed(())
            return
        }
        let timeout = options.connectTimeout
        setupTimer = loop.scheduleTask(in: timeout.timeAmount) {
            self.handshakeFailed("\(self.setupPhase) with \(self.name): no answer within \(formatDuration(timeout))")
        }
    }

    private var setupPhase: String {
        switch state {
        case .tlsHandshake: return "TLS handshake"
        default: return "handshake"
        }
    }

    private func becomeReady() {
        setupTimer?.cancel()
        setupTimer = nil
        state = .ready
        readyCompleted = true
        readyPromise.succeed(())
    }

    // MARK: events from the channel

    func tlsHandshakeCompleted() {
        guard case .tlsHandshake = state else { return }
        if client.handshake == nil {
            becomeReady()
        } else {
            state = .awaitingHelo
        }
    }

    func received(_ value: MsgPackValue) {
        switch state {
        case .awaitingHelo:
            guard let handshake = client.handshake else { return }
            do {
                let helo = try Handshake.parseHelo(value)
                let salt = Handshake.makeSalt()
                state = .awaitingPong(salt: salt, nonce: helo.nonce)
                var buffer = channel!.allocator.buffer(capacity: 512)
                buffer.writeBytes(handshake.ping(helo: helo, salt: salt))
                channel!.writeAndFlush(buffer, promise: nil)
            } catch let failure as Handshake.Failure {
                handshakeFailed(failure.reason(endpoint: name))
            } catch {
                handshakeFailed("handshake with \(name): \(error)")
            }
        case .awaitingPong(let salt, let nonce):
            guard let handshake = client.handshake else { return }
            do {
                try handshake.verifyPong(value, salt: salt, nonce: nonce)
                becomeReady()
            } catch let failure as Handshake.Failure {
                handshakeFailed(failure.reason(endpoint: name))
            } catch {
                handshakeFailed("handshake with \(name): \(error)")
            }
        case .ready:
            guard let ack = value["ack"]?.bytes else {
                noteUnexpected("a message that is not an ack")
                return
            }
            guard var inFlight = pending.removeValue(forKey: ack) else {
                noteUnexpected("an ack for an unknown chunk")
                return
            }
            everAcked = true
            inFlight.writeTimer?.cancel()
            inFlight.ackTimer?.cancel()
            inFlight.writeTimer = nil
            inFlight.completion(.delivered)
            closeIfDrained()
        case .connecting, .tlsHandshake, .closed:
            return
        }
    }

    /// Logs the first unexpected message of a connection (a receiver talking another protocol
    /// would otherwise flood the log); they are ignored.
    private func noteUnexpected(_ what: String) {
        if loggedUnexpected { return }
        loggedUnexpected = true
        client.diagnostics.debug("forward: ignoring \(what) from \(name)")
    }

    func transportError(_ error: any Error) {
        switch state {
        case .tlsHandshake:
            handshakeFailed("TLS handshake with \(name): \(describe(error))")
        case .awaitingHelo, .awaitingPong:
            handshakeFailed("handshake with \(name): \(describe(error))")
        default:
            fail("\(name): \(describe(error))")
        }
    }

    func transportClosed() {
        switch state {
        case .tlsHandshake, .awaitingHelo, .awaitingPong:
            handshakeFailed("connection to \(name) closed by the receiver during the \(setupPhase)")
        default:
            fail("connection to \(name) closed by the receiver")
        }
    }

    private func handshakeFailed(_ reason: String) {
        client.diagnostics.warning("forward: \(reason)")
        fail(reason)
    }

    // MARK: batches

    func send(_ batch: Batch, completion: @escaping ForwardClient.Completion) {
        guard isUsable, let channel else {
            completion(.retryable(reason: "connection to \(name) lost"))
            return
        }
        let requireAck = options.requireAck
        let chunk: [UInt8]? = requireAck ? Base64.encode(randomBytes(16)) : nil
        let message: ByteBuffer
        do {
            message = try client.encoder.encodeMessage(batch.records, chunk: chunk, allocator: channel.allocator)
        } catch {
            completion(.retryable(reason: "encoding a forward message failed: \(error)"))
            return
        }
        let key: [UInt8]
        if let chunk {
            key = chunk
        } else {
            sequence += 1
            key = withUnsafeBytes(of: sequence) { Array($0) }
        }
        let writeTimeout = options.writeTimeout
        var inFlight = InFlight(completion: completion)
        inFlight.writeTimer = loop.scheduleTask(in: writeTimeout.timeAmount) {
            self.fail("write to \(self.name) did not complete within \(formatDuration(writeTimeout))")
        }
        if requireAck {
            let ackTimeout = options.ackTimeout
            inFlight.ackTimer = loop.scheduleTask(in: ackTimeout.timeAmount) {
                self.ackTimedOut(ackTimeout)
            }
        }
        pending[key] = inFlight
        let promise = loop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in
            switch result {
            case .success:
                self.writeCompleted(key: key, requireAck: requireAck)
            case .failure(let error):
                self.fail("write to \(self.name): \(describe(error))")
            }
        }
        channel.writeAndFlush(message, promise: promise)
    }

    private func writeCompleted(key: [UInt8], requireAck: Bool) {
        guard var inFlight = pending[key] else { return }
        inFlight.writeTimer?.cancel()
        inFlight.writeTimer = nil
        if requireAck {
            pending[key] = inFlight
        } else {
            pending[key] = nil
            inFlight.completion(.delivered)
            closeIfDrained()
        }
    }

    private func ackTimedOut(_ timeout: Duration) {
        if !everAcked && !client.warnedNoAck {
            client.warnedNoAck = true
            client.diagnostics.warning(
                "forward: the receiver at \(name) sent no ack within \(formatDuration(timeout)); "
                    + "if it does not support acks, set SPILLWAY_FORWARD_REQUIRE_ACK=false")
        }
        fail("no ack from \(name) within \(formatDuration(timeout))")
    }

    // MARK: closing

    /// Stop taking batches; close once the ones in flight are answered.
    func drain() {
        draining = true
        closeIfDrained()
    }

    private func closeIfDrained() {
        if draining && pending.isEmpty {
            _ = close(reason: "connection to \(name) closed after failback")
        }
    }

    /// Closes the connection; batches still in flight complete `.retryable(reason)`.
    @discardableResult
    func close(reason: String) -> EventLoopFuture<Void> {
        let channel = self.channel
        fail(reason)
        guard let channel else { return loop.makeSucceededVoidFuture() }
        return channel.closeFuture
    }

    /// Ends the connection: fails the open attempt or every batch in flight with `reason`.
    private func fail(_ reason: String) {
        if case .closed = state { return }
        state = .closed
        setupTimer?.cancel()
        setupTimer = nil
        if let channel {
            channel.close(promise: nil)
        }
        if !readyCompleted {
            readyCompleted = true
            readyPromise.fail(ConnectFailure(reason: reason))
        }
        let inFlight = pending
        pending = [:]
        for (_, p) in inFlight {
            p.writeTimer?.cancel()
            p.ackTimer?.cancel()
        }
        for (_, p) in inFlight {
            p.completion(.retryable(reason: reason))
        }
        client.connectionClosed(self)
    }
}

/// Passes decoded messages and channel events to the connection.
final class ForwardChannelHandler: ChannelInboundHandler {
    typealias InboundIn = MsgPackValue

    private let connection: ForwardConnection

    init(connection: ForwardConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(Self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.transportClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.transportError(error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            connection.tlsHandshakeCompleted()
        }
        context.fireUserInboundEventTriggered(event)
    }
}

// MARK: - Helpers

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        let (nanos, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .nanoseconds(Int64.max) }
        return .nanoseconds(nanos &+ attoseconds / 1_000_000_000)
    }
}

/// "5s", "250ms".
func formatDuration(_ d: Duration) -> String {
    let (seconds, attoseconds) = d.components
    if attoseconds == 0 { return "\(seconds)s" }
    let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    return "\(ms)ms"
}

/// A short human description of a connection error ("connection refused").
func describe(_ error: any Error) -> String {
    switch error {
    case let e as IOError:
        return errnoText(e.errnoCode)
    case let e as NIOConnectionError:
        if let first = e.connectionErrors.first {
            return describe(first.error)
        }
        if e.dnsAError != nil || e.dnsAAAAError != nil {
            return "cannot resolve host \(e.host)"
        }
        return "no address for \(e.host)"
    case let e as ChannelError:
        switch e {
        case .connectTimeout(let t):
            return "timed out after \(formatDuration(.nanoseconds(t.nanoseconds)))"
        case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed:
            return "connection closed"
        default:
            return "\(e)"
        }
    case let e as ConnectFailure:
        return e.reason
    default:
        return "\(error)"
    }
}

private func errnoText(_ code: CInt) -> String {
    guard let p = strerror(code) else { return "errno \(code)" }
    var s = String(cString: p)
    if let first = s.first, first.isUppercase, s.dropFirst().first?.isLowercase == true {
        s = first.lowercased() + s.dropFirst()
    }
    return s
}
