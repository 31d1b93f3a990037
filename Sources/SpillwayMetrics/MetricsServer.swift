import NIOCore
import NIOHTTP1
import NIOPosix

/// The Prometheus endpoint: `GET /metrics` on an event loop of its own, so it answers while the
/// destination is down, the workload blocked or the shutdown drain running. It never waits on
/// the pipeline: `snapshot` reads a copy of the figures the pipeline published (behind a lock),
/// and the figures are rendered here, on the endpoint's loop.
public final class MetricsServer: Sendable {
    public typealias SnapshotSource = @Sendable () -> MetricsSnapshot

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.group = group
        self.channel = channel
    }

    /// Binds `address` (a unix socket path left by an earlier run is replaced) and serves.
    public static func start(at address: MetricsAddress, snapshot: @escaping SnapshotSource) throws -> MetricsServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(snapshot: snapshot))
                }
            }
        do {
            let channel: any Channel
            switch address {
            case .tcp(let host, let port): channel = try bootstrap.bind(host: host, port: port).wait()
            case .unix(let path): channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
            }
            return MetricsServer(group: group, channel: channel)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// Stops listening; connections close with the group.
    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

private final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let snapshot: MetricsServer.SnapshotSource
    private var request: HTTPRequestHead?

    init(snapshot: @escaping MetricsServer.SnapshotSource) { self.snapshot = snapshot }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == "/metrics" else { return respond(.notFound, "not found; try /metrics\n", head, context) }
        guard head.method == .GET || head.method == .HEAD else {
            return respond(.methodNotAllowed, "only GET\n", head, context, extra: [("Allow", "GET, HEAD")])
        }
        respond(.ok, Exposition.render(snapshot()), head, context, contentType: Exposition.contentType)
    }

    private func respond(
        _ status: HTTPResponseStatus, _ body: String, _ request: HTTPRequestHead, _ context: ChannelHandlerContext,
        contentType: String = "text/plain; charset=utf-8", extra: [(String, String)] = []
    ) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(body.utf8.count))] + extra)
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let channel = context.channel
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !request.isKeepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
    }
}
