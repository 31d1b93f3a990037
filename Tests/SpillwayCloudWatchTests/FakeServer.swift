import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import SpillwayCore

/// An in-process HTTP/1.1 server on 127.0.0.1 that answers with a closure, for scripted
/// CloudWatch, instance-metadata and container-credentials answers.
final class FakeServer: @unchecked Sendable {
    struct Request {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: [UInt8]
        var connection: Int
        var target: String? { headers.first(name: "x-amz-target").map { String($0.dropFirst("Logs_20140328.".count)) } }
        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    struct Response {
        var status: Int = 200
        var body: String = "{}"
        var headers: [(String, String)] = []
        /// Close the connection after answering.
        var close = false
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: (any Channel)!
    private let queue = DispatchQueue(label: "fake-server")
    private var _requests: [Request] = []
    private var connections = 0
    private let handler: @Sendable (Request) -> Response

    private(set) var port = 0
    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [Request] { queue.sync { _requests } }
    var connectionCount: Int { queue.sync { connections } }
    var targets: [String] { requests.compactMap(\.target) }

    init(_ handler: @escaping @Sendable (Request) -> Response) throws {
        self.handler = handler
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                let id = queue.sync { () -> Int in
                    connections += 1
                    return connections
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self, connection: id))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress!.port!
    }

    fileprivate func answer(_ request: Request) -> Response {
        queue.sync { _requests.append(request) }
        return handler(request)
    }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: FakeServer
        let connection: Int
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(server: FakeServer, connection: Int) {
            self.server = server
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = []
            case .body(let b):
                body.append(contentsOf: b.readableBytesView)
            case .end:
                guard let h = head else { return }
                let r = server.answer(Request(method: h.method, uri: h.uri, headers: h.headers, body: body, connection: connection))
                var headers = HTTPHeaders(r.headers)
                headers.add(name: "content-length", value: String(r.body.utf8.count))
                if r.close { headers.add(name: "connection", value: "close") }
                let responseHead = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
                context.write(Self.wrapOutboundOut(.head(responseHead)), promise: nil)
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: r.body)))), promise: nil)
                let close = r.close
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if close { context.close(promise: nil) }
                }
            }
        }
    }
}

