import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SpillwayEventLoop

/// One HTTP request. `headers` are sent as given; the client adds `content-length` and,
/// when absent, `host`.
struct HTTPRequest {
    var method: HTTPMethod
    var endpoint: HTTPEndpoint
    var headers: [(String, String)]
    var body: ByteBuffer?
}

struct HTTPResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
}

struct HTTPFailure: Error, CustomStringConvertible {
    var reason: String
    /// Nothing of a response arrived: on a reused keep-alive connection this is the server
    /// having closed it while idle, and one retry on a fresh connection is safe.
    var beforeResponse: Bool
    var description: String { reason }
}

/// A small HTTP/1.1 client on SwiftNIO: keep-alive (one idle connection per server), connect and
/// response timeouts, TLS with the system's roots or `AWS_CA_BUNDLE`. AsyncHTTPClient would do,
/// but costs binary size the footprint budget (docs/architecture.md) does not have. Confined to `loop`.
final class HTTPClient: @unchecked Sendable {
    let loop: any EventLoop
    let connectTimeout: TimeAmount
    private let caFile: String?
    private var sslContext: NIOSSLContext?
    private var idle: [String: HTTPConnection] = [:]
    private var open: [ObjectIdentifier: HTTPConnection] = [:]
    private var closed = false
    /// Largest response body accepted (the services spillway talks to answer with a few KB).
    static let maxResponseBody = 4 << 20

    init(loop: any EventLoop, connectTimeout: TimeAmount, caFile: String?) {
        self.loop = loop
        self.connectTimeout = connectTimeout
        self.caFile = caFile
    }

    /// Sends `request` and collects the whole response within `timeout` (from the first byte
    /// written). With `keepAlive` the connection is kept for the next request to the same server.
    func execute(_ request: HTTPRequest, timeout: TimeAmount, keepAlive: Bool = true) -> EventLoopFuture<HTTPResponse> {
        loop.preconditionInEventLoop()
        if closed { return loop.makeFailedFuture(HTTPFailure(reason: "client is shut down", beforeResponse: true)) }
        let key = Self.key(request.endpoint)
        if keepAlive, let reused = idle.removeValue(forKey: key) {
            if reused.isActive {
                return run(request, on: reused, timeout: timeout, keepAlive: keepAlive).flatMapError { error in
                    guard let failure = error as? HTTPFailure, failure.beforeResponse, !self.closed else {
                        return self.loop.makeFailedFuture(error)
                    }
                    return self.fresh(request, timeout: timeout, keepAlive: keepAlive)
                }
            }
            reused.close()
        }
        return fresh(request, timeout: timeout, keepAlive: keepAlive)
    }

    private func fresh(_ request: HTTPRequest, timeout: TimeAmount, keepAlive: Bool) -> EventLoopFuture<HTTPResponse> {
        connect(request.endpoint, timeout: min(connectTimeout, timeout)).flatMap { conn in
            self.run(request, on: conn, timeout: timeout, keepAlive: keepAlive)
        }
    }

    private func run(_ request: HTTPRequest, on conn: HTTPConnection, timeout: TimeAmount, keepAlive: Bool) -> EventLoopFuture<HTTPResponse> {
        conn.send(request, timeout: timeout, keepAlive: keepAlive).map { response in
            if keepAlive, conn.reusable, !self.closed {
                let key = Self.key(request.endpoint)
                self.idle.removeValue(forKey: key)?.close()
                self.idle[key] = conn
            } else {
                conn.close()
            }
            return response
        }
    }

    private func connect(_ endpoint: HTTPEndpoint, timeout: TimeAmount) -> EventLoopFuture<HTTPConnection> {
        var context: NIOSSLContext? = nil
        if endpoint.secure {
            do {
                context = try tlsContext()
            } catch {
                return loop.makeFailedFuture(HTTPFailure(reason: "cannot set up TLS: \(error)", beforeResponse: true))
            }
        }
        let ssl = context
        let conn = HTTPConnection(loop: loop, endpoint: endpoint)
        open[ObjectIdentifier(conn)] = conn
        conn.onClose = { [weak self] c in
            guard let self else { return }
            self.open[ObjectIdentifier(c)] = nil
            for (k, v) in self.idle where v === c { self.idle[k] = nil }
        }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            // At the TCP level: `socketOption(.tcp_nodelay)` would be SOL_SOCKET's option 1,
            // SO_DEBUG, which only root may set (every connect failed with EACCES otherwise).
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let ops = channel.pipeline.syncOperations
                    if let ssl {
                        let isIP = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) != nil
                        try ops.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: isIP ? nil : endpoint.host))
                    }
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(HTTPResponseCollector(connection: conn))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let name = endpoint.hostHeader
        return bootstrap.connect(host: endpoint.host, port: endpoint.port).flatMapError { error in
            conn.close()
            return self.loop.makeFailedFuture(HTTPFailure(reason: "connect to \(name): \(describeHTTPError(error))", beforeResponse: true))
        }.map { channel in
            conn.attach(channel)
            return conn
        }
    }

    private func tlsContext() throws -> NIOSSLContext {
        if let sslContext { return sslContext }
        var config = TLSConfiguration.makeClientConfiguration()
        if let caFile { config.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: config)
        sslContext = context
        return context
    }

    func shutdown() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        closed = true
        let conns = Array(open.values)
        idle = [:]
        let futures = conns.map { $0.close() }
        return EventLoopFuture.andAllComplete(futures, on: loop)
    }

    private static func key(_ e: HTTPEndpoint) -> String {
        "\(e.secure ? "https" : "http")://\(e.host):\(e.port)"
    }
}

/// One connection; one request at a time. Confined to its loop.
final class HTTPConnection: @unchecked Sendable {
    let loop: any EventLoop
    let endpoint: HTTPEndpoint
    private var channel: (any Channel)?
    private var promise: EventLoopPromise<HTTPResponse>?
    private var timer: Scheduled<Void>?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private var isClosed = false
    private(set) var reusable = false
    var onClose: ((HTTPConnection) -> Void)?

    init(loop: any EventLoop, endpoint: HTTPEndpoint) {
        self.loop = loop
        self.endpoint = endpoint
    }

    var isActive: Bool { !isClosed && channel?.isActive == true && promise == nil }

    func attach(_ channel: any Channel) {
        if isClosed {
            channel.close(promise: nil)
        } else {
            self.channel = channel
        }
    }

    func send(_ request: HTTPRequest, timeout: TimeAmount, keepAlive: Bool) -> EventLoopFuture<HTTPResponse> {
        guard let channel, !isClosed, promise == nil else {
            return loop.makeFailedFuture(HTTPFailure(reason: "connection to \(endpoint.hostHeader) closed", beforeResponse: true))
        }
        let p = loop.makePromise(of: HTTPResponse.self)
        promise = p
        head = nil
        body = []
        reusable = false
        timer = loop.scheduleTask(in: timeout) { [self] in
            fail("no response from \(endpoint.hostHeader) within \(timeout.nanoseconds / 1_000_000) ms", beforeResponse: false)
        }
        var headers = HTTPHeaders()
        if !request.headers.contains(where: { $0.0.lowercased() == "host" }) {
            headers.add(name: "host", value: request.endpoint.hostHeader)
        }
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        headers.add(name: "content-length", value: String(request.body?.readableBytes ?? 0))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let requestHead = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.endpoint.target, headers: headers)
        channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
        if let b = request.body, b.readableBytes > 0 {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(b)), promise: nil)
        }
        let written = loop.makePromise(of: Void.self)
        written.futureResult.whenFailure { [self] error in
            fail("write to \(endpoint.hostHeader): \(describeHTTPError(error))", beforeResponse: head == nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: written)
        return p.futureResult
    }

    // Events from the collector.

    func received(head h: HTTPResponseHead) {
        guard promise != nil else { return }
        head = h
    }

    func received(body part: ByteBuffer) {
        guard promise != nil else { return }
        if body.count + part.readableBytes > HTTPClient.maxResponseBody {
            fail("response from \(endpoint.hostHeader) too large", beforeResponse: false)
            return
        }
        body.append(contentsOf: part.readableBytesView)
    }

    func receivedEnd() {
        guard let p = promise, let h = head else { return }
        promise = nil
        timer?.cancel()
        timer = nil
        reusable = h.isKeepAlive && !isClosed
        p.succeed(HTTPResponse(status: Int(h.status.code), headers: h.headers, body: body))
        body = []
    }

    func errorCaught(_ error: any Error) {
        fail("\(endpoint.hostHeader): \(describeHTTPError(error))", beforeResponse: head == nil)
    }

    func channelClosed() {
        fail("connection to \(endpoint.hostHeader) closed by the server", beforeResponse: head == nil)
    }

    private func fail(_ reason: String, beforeResponse: Bool) {
        if let p = promise {
            promise = nil
            timer?.cancel()
            timer = nil
            p.fail(HTTPFailure(reason: reason, beforeResponse: beforeResponse))
        }
        close()
    }

    @discardableResult
    func close() -> EventLoopFuture<Void> {
        if !isClosed {
            isClosed = true
            reusable = false
            if let p = promise {
                promise = nil
                timer?.cancel()
                p.fail(HTTPFailure(reason: "connection to \(endpoint.hostHeader) closed", beforeResponse: head == nil))
            }
            onClose?(self)
            onClose = nil
            channel?.close(promise: nil)
        }
        return channel?.closeFuture ?? loop.makeSucceededVoidFuture()
    }
}

final class HTTPResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let connection: HTTPConnection

    init(connection: HTTPConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let h):
            // 1xx informational heads precede the real one.
            if h.status.code >= 200 || h.status.code < 100 { connection.received(head: h) }
        case .body(let b): connection.received(body: b)
        case .end: connection.receivedEnd()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.errorCaught(error)
        context.close(promise: nil)
    }
}

/// "connection refused", "timed out after 5000 ms", …
/// A short description of a failed HTTP exchange: ours first, then the shared network text.
func describeHTTPError(_ error: any Error) -> String {
    switch error {
    case let e as HTTPFailure: return e.reason
    case let e as NIOSSLError: return "TLS: \(e)"
    default: return describeNetworkError(error)
    }
}
