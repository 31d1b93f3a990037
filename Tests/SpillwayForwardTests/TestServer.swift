import SpillwayDigest
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import NIOCore
import NIOPosix
import NIOSSL
import SpillwayCore

@testable import SpillwayForward

/// An in-process forward receiver on 127.0.0.1 (or a unix socket) that can ack, not ack, close,
/// stall or run the shared-key handshake.
final class TestServer: @unchecked Sendable {
    struct Behavior: Sendable {
        enum Acks: Sendable {
            case str, bin, none
            /// Hold acks until this many messages arrived, then ack them newest first.
            case reversed(after: Int)
        }
        var acks: Acks = .str
        /// Close the connection on each message instead of answering.
        var closeOnMessage = false
        /// Never read (the client's writes stall once the socket buffers are full).
        var stall = false
        /// Run the handshake with this key; PONG's digest uses `pongKey` (default: the same key).
        var sharedKey: String? = nil
        var pongKey: String? = nil
        var hostname = "test-server"
    }

    let group: MultiThreadedEventLoopGroup
    let behavior: Behavior
    private(set) var channel: (any Channel)!
    // Server-loop state.
    var received: [MsgPackValue] = []
    var connections = 0
    var closedConnections = 0
    var pings: [[MsgPackValue]] = []
    /// Accepted connections, so that a stalled server can start reading them.
    var accepted: [any Channel] = []

    var port: Int { channel.localAddress!.port! }
    var endpoint: ForwardEndpoint { .tcp(host: "127.0.0.1", port: port) }

    private init(behavior: Behavior) {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.behavior = behavior
    }

    static func start(_ behavior: Behavior = Behavior(), port: Int = 0, unixPath: String? = nil,
                      tls: NIOSSLContext? = nil) async throws -> TestServer {
        let server = TestServer(behavior: behavior)
        let bootstrap = ServerBootstrap(group: server.group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: !behavior.stall)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let tls { try ops.addHandler(NIOSSLServerHandler(context: tls)) }
                    try ops.addHandler(ByteToMessageHandler(MsgPackFrameDecoder(parser: MsgPackParser(maxLength: 64 << 20))))
                    try ops.addHandler(TestServerHandler(server: server))
                }
            }
        do {
            if let unixPath {
                server.channel = try await bootstrap.bind(unixDomainSocketPath: unixPath, cleanupExistingSocketFile: true).get()
            } else {
                server.channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
            }
        } catch {
            try? await server.group.shutdownGracefully()
            throw error
        }
        return server
    }

    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await group.next().submit(body).get()
    }

    /// A stalled server starts reading what its connections were sent.
    func resumeReading() async throws {
        for channel in try await onLoop({ self.accepted }) {
            try await channel.setOption(ChannelOptions.autoRead, value: true)
            channel.read()
        }
    }

    var messageCount: Int {
        get async throws { try await onLoop { self.received.count } }
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    /// A port on 127.0.0.1 that refuses connections (bound, then closed).
    static func refusedPort() async throws -> Int {
        let server = try await start()
        let port = server.port
        try await server.stop()
        return port
    }
}

/// The server side of the test PKI.
func serverTLSContext() throws -> NIOSSLContext {
    let cert = try NIOSSLCertificate(bytes: Array(serverCertPEM.utf8), format: .pem)
    let key = try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)
    return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: [.certificate(cert)],
                                                                      privateKey: .privateKey(key)))
}

/// Writes `text` to a new file under /tmp and returns its path.
func temporaryFile(_ name: String, _ text: String) throws -> String {
    let path = "/tmp/spillway-forward-test-\(port())-\(name)"
    guard let f = fopen(path, "w") else { throw MsgPackDecodingError(description: "cannot create \(path)") }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw MsgPackDecodingError(description: "cannot write \(path)") }
    return path
}

/// The records of a received PackedForward message, as maps of str keys to bytes.
func decodeRecords(_ message: MsgPackValue) throws -> [[String: [UInt8]]] {
    guard let parts = message.arrayValue, parts.count == 3, case .bin(let entries) = parts[1] else {
        throw MsgPackDecodingError(description: "not a PackedForward message")
    }
    var out: [[String: [UInt8]]] = []
    var rest = entries[...]
    while !rest.isEmpty {
        guard let (entry, used) = try MsgPackParser().parse(Array(rest)) else {
            throw MsgPackDecodingError(description: "truncated entry")
        }
        rest = rest.dropFirst(used)
        guard let pair = entry.arrayValue, pair.count == 2, case .map(let fields) = pair[1] else {
            throw MsgPackDecodingError(description: "entry is not [time, record]")
        }
        var record: [String: [UInt8]] = [:]
        for f in fields {
            guard case .str(let k) = f.key, case .str(let v) = f.value else {
                throw MsgPackDecodingError(description: "record field is not str: str")
            }
            record[String(decoding: k, as: UTF8.self)] = v
        }
        out.append(record)
    }
    return out
}

private func sha512Hex(_ parts: [UInt8]...) -> [UInt8] {
    let digest = Digest.sha512(parts)
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in digest {
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 15)])
    }
    return out
}

private func str(_ b: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    MsgPack.appendStr(b, to: &out)
    return out
}

final class TestServerHandler: ChannelInboundHandler {
    typealias InboundIn = MsgPackValue
    typealias OutboundOut = ByteBuffer

    let server: TestServer
    private var nonce: [UInt8] = []
    private var handshakeDone = true
    private var heldAcks: [[UInt8]] = []

    init(server: TestServer) { self.server = server }

    private func write(_ context: ChannelHandlerContext, _ bytes: [UInt8]) {
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        server.connections += 1
        server.accepted.append(context.channel)
        if server.behavior.sharedKey != nil {
            handshakeDone = false
            // Raw random bytes in a str, as Fluent Bit sends them (invalid UTF-8 on purpose).
            nonce = [0xFF, 0x00, 0xC3, 0x28] + randomBytes(12)
            var helo: [UInt8] = [0x92] + str(Array("HELO".utf8)) + [0x83]
            helo += str(Array("nonce".utf8)) + str(nonce)
            helo += str(Array("auth".utf8)) + str([])
            helo += str(Array("keepalive".utf8)) + [0xC3]
            write(context, helo)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.closedConnections += 1
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = Self.unwrapInboundIn(data)
        if !handshakeDone {
            handlePing(context, value)
            return
        }
        server.received.append(value)
        if server.behavior.closeOnMessage {
            context.close(promise: nil)
            return
        }
        guard let parts = value.arrayValue, parts.count == 3, let chunk = parts[2]["chunk"]?.bytes else { return }
        switch server.behavior.acks {
        case .none:
            break
        case .str:
            write(context, [0x81] + str(Array("ack".utf8)) + str(chunk))
        case .bin:
            var ack: [UInt8] = [0x81] + str(Array("ack".utf8))
            MsgPack.appendBin(chunk, to: &ack)
            write(context, ack)
        case .reversed(let after):
            heldAcks.append(chunk)
            if heldAcks.count == after {
                for c in heldAcks.reversed() {
                    write(context, [0x81] + str(Array("ack".utf8)) + str(c))
                }
                heldAcks = []
            }
        }
    }

    private func handlePing(_ context: ChannelHandlerContext, _ value: MsgPackValue) {
        guard let key = server.behavior.sharedKey, let f = value.arrayValue, f.count == 6 else {
            context.close(promise: nil)
            return
        }
        server.pings.append(f)
        // Every PING field must be a str (Fluent Bit closes on bin).
        for field in f {
            guard case .str = field else {
                context.close(promise: nil)
                return
            }
        }
        let hostname = f[1].bytes!, salt = f[2].bytes!, digest = f[3].bytes!
        let expected = sha512Hex(salt, hostname, nonce, Array(key.utf8))
        var pong: [UInt8] = [0x95] + str(Array("PONG".utf8))
        if digest != expected {
            pong += [0xC2] + str(Array("shared_key mismatch".utf8)) + str([]) + str([])
            write(context, pong)
            return
        }
        let serverHost = Array(server.behavior.hostname.utf8)
        let pongKey = Array((server.behavior.pongKey ?? key).utf8)
        pong += [0xC3] + str([]) + str(serverHost) + str(sha512Hex(salt, serverHost, nonce, pongKey))
        write(context, pong)
        handshakeDone = true
    }
}
