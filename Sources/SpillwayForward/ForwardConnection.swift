import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SpillwayCore
import SpillwayEventLoop

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

    private struct Unwritten {
        var batch: Batch
        /// The ack id; nil without acks.
        var chunk: [UInt8]?
        /// The batch's key in `pending`.
        var key: [UInt8]
    }

    let client: ForwardClient
    let endpointIndex: Int
    let endpoint: ForwardEndpoint
    /// The numeric address to connect to instead of the endpoint's host name (the name still
    /// names the TLS server); nil: the name is resolved by the connect itself.
    let resolvedAddress: String?
    let name: String
    private var loop: any EventLoop { client.loop }
    private var options: ForwardSinkOptions { client.options }

    private var state: State = .connecting
    private var channel: (any Channel)?
    private let readyPromise: EventLoopPromise<Void>
    /// Completed once the connection is closed (its channel too, if it had one).
    private let closedPromise: EventLoopPromise<Void>
    private var setupTimer: Scheduled<Void>?
    private var readyCompleted = false
    private var pending: [[UInt8]: InFlight] = [:]
    /// Batches sent and not yet encoded (their completions are in `pending`), oldest first.
    private var unwritten: [Unwritten] = []
    private var sequence: UInt64 = 0
    private var everAcked = false
    private var draining = false
    private var loggedUnexpected = false
    /// Why the connection ended, once it has.
    private(set) var closeReason: String?

    init(client: ForwardClient, index: Int, endpoint: ForwardEndpoint, resolvedAddress: String? = nil) {
        self.client = client
        self.endpointIndex = index
        self.endpoint = endpoint
        self.resolvedAddress = resolvedAddress
        self.name = endpoint.address.name(resolvedTo: resolvedAddress)
        self.readyPromise = client.loop.makePromise(of: Void.self)
        self.closedPromise = client.loop.makePromise(of: Void.self)
    }

    /// Batches waiting for the channel to take more before they are encoded.
    var unencodedBatches: Int { unwritten.count }

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
        switch endpoint.address {
        case .tcp(let host, let port), .tls(let host, let port):
            connected = bootstrap.connect(host: resolvedAddress ?? host, port: port)
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
            if endpoint.isTLS, let ssl = client.sslContext {
                try ops.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: endpoint.address.hostName))
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
            guard pending[ack] != nil else {
                noteUnexpected("an ack for an unknown chunk")
                return
            }
            everAcked = true
            finish(ack, .delivered)
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
        guard isUsable, channel != nil else {
            completion(.retryable(reason: "connection to \(name) lost"))
            return
        }
        let chunk: [UInt8]? = options.requireAck ? Base64.encode(randomBytes(16)) : nil
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
        if chunk != nil {
            let ackTimeout = options.ackTimeout
            inFlight.ackTimer = loop.scheduleTask(in: ackTimeout.timeAmount) {
                self.ackTimedOut(ackTimeout)
            }
        }
        pending[key] = inFlight
        unwritten.append(Unwritten(batch: batch, chunk: chunk, key: key))
        writeWhileWritable()
    }

    /// Encodes and writes the batches waiting, oldest first, while the channel takes more (its
    /// unsent bytes are under NIO's high-water mark): a batch is encoded once the socket can take
    /// it, so one or two encoded messages wait in memory, not one per batch in flight.
    func writeWhileWritable() {
        guard let channel else { return }
        while !unwritten.isEmpty && channel.isWritable {
            let next = unwritten.removeFirst()
            let message: ByteBuffer
            do {
                message = try client.encoder.encodeMessage(next.batch.records, chunk: next.chunk, allocator: channel.allocator)
            } catch {
                finish(next.key, .retryable(reason: "encoding a forward message failed: \(error)"))
                continue
            }
            let promise = loop.makePromise(of: Void.self)
            let (key, requireAck) = (next.key, next.chunk != nil)
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
    }

    /// Completes the batch under `key` with `outcome` (its timers cancelled); a draining
    /// connection closes once nothing is left.
    private func finish(_ key: [UInt8], _ outcome: SendOutcome) {
        guard let inFlight = pending.removeValue(forKey: key) else { return }
        inFlight.writeTimer?.cancel()
        inFlight.ackTimer?.cancel()
        inFlight.completion(outcome)
        closeIfDrained()
    }

    private func writeCompleted(key: [UInt8], requireAck: Bool) {
        guard requireAck else { return finish(key, .delivered) }
        pending[key]?.writeTimer?.cancel()
        pending[key]?.writeTimer = nil
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

    /// Stop taking batches; close once the ones in flight are answered. The future completes
    /// when the connection is closed.
    @discardableResult
    func drain() -> EventLoopFuture<Void> {
        draining = true
        closeIfDrained()
        return closedPromise.futureResult
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
        closeReason = reason
        setupTimer?.cancel()
        setupTimer = nil
        if let channel {
            channel.close(promise: nil)
            channel.closeFuture.cascade(to: closedPromise)
        } else {
            closedPromise.succeed(())
        }
        if !readyCompleted {
            readyCompleted = true
            readyPromise.fail(ConnectFailure(reason: reason))
        }
        let inFlight = pending
        pending = [:]
        unwritten = []
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

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writeWhileWritable()
        context.fireChannelWritabilityChanged()
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

extension ForwardEndpoint.Address {
    /// The host when it is a name (not an IP literal, not a unix socket): what TLS calls the
    /// server, and what the balanced modes look up.
    var hostName: String? {
        switch self {
        case .tcp(let host, _), .tls(let host, _):
            return (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        case .unix:
            return nil
        }
    }

    /// How messages name a connection here, with the number its name resolved to, if any.
    func name(resolvedTo address: String?) -> String {
        description + (address.map { " (\($0))" } ?? "")
    }
}
