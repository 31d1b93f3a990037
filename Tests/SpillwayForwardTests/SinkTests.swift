import SpillwayCore
import SpillwayTestKit
import Testing

@testable import SpillwayForward

func options(_ endpoints: [ForwardEndpoint], ackTimeout: Duration = .seconds(5),
             configure: (inout ForwardSinkOptions) -> Void = { _ in }) -> ForwardSinkOptions {
    var o = ForwardSinkOptions(endpoints: endpoints, tag: "test.app",
                               fields: RecordFields(containerName: "web", containerID: "c0ffee",
                                                    extra: [.init(name: "env", value: "test")]), ackTimeout: ackTimeout,
                               connectTimeout: .seconds(2), writeTimeout: .seconds(5))
    configure(&o)
    return o
}

let twoRecords = [record("first line"), record("second line", .stderr)]

@Suite(.serialized, .timeLimit(.minutes(1)))
struct SinkTests {
    @Test(arguments: [TestServer.Behavior.Acks.str, .bin])
    func deliveredOnAck(acks: TestServer.Behavior.Acks) async throws {
        let server = try await TestServer.start(.init(acks: acks))
        let sink = try ForwardSink(options: options([server.endpoint]), diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        #expect(await sink.send([record("third")], id: 2) == .delivered)
        let received = try await server.onLoop { server.received }
        #expect(received.count == 2)
        let records = try decodeRecords(received[0])
        #expect(records.count == 2)
        #expect(records[0]["log"] == Array("first line".utf8))
        #expect(records[0]["source"] == Array("stdout".utf8))
        #expect(records[1]["source"] == Array("stderr".utf8))
        #expect(records[1]["container_name"] == Array("web".utf8))
        #expect(records[1]["container_id"] == Array("c0ffee".utf8))
        #expect(records[1]["env"] == Array("test".utf8))
        #expect(received[0].arrayValue?[0] == .str(Array("test.app".utf8)))
        let chunk = try #require(received[0].arrayValue?[2]["chunk"])
        guard case .str(let chunkBytes) = chunk else {
            Issue.record("chunk is not a str")
            return
        }
        #expect(chunkBytes.count == 24 && chunkBytes.suffix(2) == [0x3D, 0x3D])
        #expect(try await server.onLoop { server.connections } == 1)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func retryableWithoutAckAndOneWarning() async throws {
        let server = try await TestServer.start(.init(acks: .none))
        let diagnostics = RecordingDiagnostics()
        let sink = try ForwardSink(options: options([server.endpoint], ackTimeout: .milliseconds(200)),
                                   diagnostics: diagnostics)
        let first = await sink.send(twoRecords)
        #expect(first == .retryable(reason: "no ack from \(server.endpoint) within 200ms"))
        let second = await sink.send(twoRecords, id: 2)
        #expect(second.reason?.hasPrefix("no ack") == true)
        let warnings = diagnostics.messages(.warning)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("SPILLWAY_FORWARD_REQUIRE_ACK=false") == true)
        #expect(try await server.onLoop { server.connections } == 2)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func peerCloseIsRetryable() async throws {
        let server = try await TestServer.start(.init(closeOnMessage: true))
        let sink = try ForwardSink(options: options([server.endpoint]), diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome == .retryable(reason: "connection to \(server.endpoint) closed by the receiver"))
        await sink.shutdown()
        try await server.stop()
    }

    @Test func connectionRefusedIsRetryable() async throws {
        let port = try await TestServer.refusedPort()
        let sink = try ForwardSink(options: options([.tcp(host: "127.0.0.1", port: port)]), diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome == .retryable(reason: "connect to tcp://127.0.0.1:\(port): connection refused"))
        await sink.shutdown()
    }

    @Test func unixSocketThatDoesNotExist() async throws {
        let sink = try ForwardSink(options: options([.unix(path: "/tmp/spillway-test-missing-\(port())/sock")]),
                                   diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome.reason?.hasPrefix("connect to unix:///tmp/spillway-test-missing-") == true)
        await sink.shutdown()
    }

    @Test func unixSocket() async throws {
        let path = "/tmp/spillway-forward-test-\(port()).sock"
        let server = try await TestServer.start(unixPath: path)
        let sink = try ForwardSink(options: options([.unix(path: path)]), diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func failoverToSecondEndpoint() async throws {
        let refused = try await TestServer.refusedPort()
        let server = try await TestServer.start()
        let sink = try ForwardSink(options: options([.tcp(host: "127.0.0.1", port: refused), server.endpoint]),
                                   diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        #expect(try await server.messageCount == 1)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func allEndpointsDownNamesEach() async throws {
        let a = try await TestServer.refusedPort()
        let b = try await TestServer.refusedPort()
        let sink = try ForwardSink(options: options([.tcp(host: "127.0.0.1", port: a), .tcp(host: "127.0.0.1", port: b)]),
                                   diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome == .retryable(reason: "connect to tcp://127.0.0.1:\(a): connection refused; "
            + "connect to tcp://127.0.0.1:\(b): connection refused"))
        await sink.shutdown()
    }

    @Test func failbackToFirstEndpoint() async throws {
        let preferredPort = try await TestServer.refusedPort()
        let fallback = try await TestServer.start()
        let sink = try ForwardSink(
            options: options([.tcp(host: "127.0.0.1", port: preferredPort), fallback.endpoint]) {
                $0.failbackInterval = .milliseconds(100)
            },
            diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        #expect(try await fallback.messageCount == 1)
        let preferred = try await TestServer.start(port: preferredPort)
        // Within the interval: stays on the fallback.
        #expect(await sink.send(twoRecords, id: 2) == .delivered)
        #expect(try await fallback.messageCount == 2)
        try await Task.sleep(for: .milliseconds(150))
        // Past the interval: the preferred endpoint is tried in the background while batches keep
        // going to the fallback; once it is up, new batches go there.
        var sent = 0
        while try await preferred.messageCount == 0 && sent < 100 {
            #expect(await sink.send(twoRecords, id: UInt64(3 + sent)) == .delivered)
            sent += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await preferred.messageCount == 1)
        let onFallback = try await fallback.messageCount
        #expect(await sink.send(twoRecords, id: 1000) == .delivered)
        #expect(try await preferred.messageCount == 2)
        #expect(try await fallback.messageCount == onFallback)
        // The fallback connection is closed once its batches are answered.
        var waited = 0
        while try await fallback.onLoop({ fallback.closedConnections }) == 0 && waited < 200 {
            try await Task.sleep(for: .milliseconds(5))
            waited += 1
        }
        #expect(try await fallback.onLoop { fallback.closedConnections } == 1)
        await sink.shutdown()
        try await preferred.stop()
        try await fallback.stop()
    }

    @Test func severalInFlightAckedOutOfOrder() async throws {
        let server = try await TestServer.start(.init(acks: .reversed(after: 4)))
        let sink = try ForwardSink(options: options([server.endpoint]), diagnostics: RecordingDiagnostics())
        // The first send connects; the others wait for that connection: all four share it.
        let outcomes = await withTaskGroup(of: SendOutcome.self) { group in
            for i in 0..<4 {
                group.addTask { await sink.send([record("batch \(i)")], id: UInt64(i)) }
            }
            var all: [SendOutcome] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes == Array(repeating: .delivered, count: 4))
        #expect(try await server.messageCount == 4)
        #expect(try await server.onLoop { server.connections } == 1)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func withoutAcksDeliveredOnWrite() async throws {
        let server = try await TestServer.start(.init(acks: .none))
        let sink = try ForwardSink(options: options([server.endpoint]) { $0.requireAck = false }, diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        await sink.shutdown()
        // The message carried no chunk.
        try await Task.sleep(for: .milliseconds(50))
        let received = try await server.onLoop { server.received }
        #expect(received.count == 1)
        #expect(received.first?.arrayValue?[2]["chunk"] == nil)
        #expect(received.first?.arrayValue?[2]["size"] == .int(2))
        try await server.stop()
    }

    @Test func gzipThroughTheWire() async throws {
        let server = try await TestServer.start()
        let sink = try ForwardSink(options: options([server.endpoint]) { $0.compression = .gzip }, diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        let message = try #require(try await server.onLoop { server.received }.first)
        let parts = try #require(message.arrayValue)
        #expect(parts[2]["compressed"] == .str(Array("gzip".utf8)))
        let compressed = try #require(parts[1].bytes)
        let plain = try gunzip(compressed)
        let records = try decodeRecords(.array([parts[0], .bin(plain), parts[2]]))
        #expect(records.map { $0["log"] } == [Array("first line".utf8), Array("second line".utf8)])
        await sink.shutdown()
        try await server.stop()
    }

    @Test func handshakeWithSharedKey() async throws {
        let server = try await TestServer.start(.init(sharedKey: "s3cret"))
        let diagnostics = RecordingDiagnostics()
        let sink = try ForwardSink(options: options([server.endpoint]) {
            $0.sharedKey = "s3cret"
            $0.selfHostname = "client-host"
        }, diagnostics: diagnostics)
        #expect(await sink.send(twoRecords) == .delivered)
        let ping = try #require(try await server.onLoop { server.pings }.first)
        #expect(ping[1] == .str(Array("client-host".utf8)))
        #expect(diagnostics.messages(.warning).isEmpty)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func handshakeRejected() async throws {
        let server = try await TestServer.start(.init(sharedKey: "right"))
        let diagnostics = RecordingDiagnostics()
        let sink = try ForwardSink(options: options([server.endpoint]) { $0.sharedKey = "wrong" }, diagnostics: diagnostics)
        let outcome = await sink.send(twoRecords)
        #expect(outcome == .retryable(reason: "handshake rejected by \(server.endpoint): shared_key mismatch"))
        #expect(diagnostics.messages(.warning).count == 1)
        #expect(diagnostics.messages(.warning).allSatisfy { !$0.contains("wrong") && !$0.contains("right") })
        #expect(try await server.messageCount == 0)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func pongDigestMismatch() async throws {
        let server = try await TestServer.start(.init(sharedKey: "key", pongKey: "other"))
        let sink = try ForwardSink(options: options([server.endpoint]) { $0.sharedKey = "key" }, diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome == .retryable(
            reason: "handshake with \(server.endpoint): PONG digest mismatch: wrong shared key on the receiver?"))
        await sink.shutdown()
        try await server.stop()
    }

    @Test func handshakeTimesOutWhenNoHelo() async throws {
        // A receiver without a shared key sends no HELO.
        let server = try await TestServer.start()
        let sink = try ForwardSink(options: options([server.endpoint]) {
            $0.sharedKey = "key"
            $0.connectTimeout = .milliseconds(200)
        }, diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome == .retryable(reason: "handshake with \(server.endpoint): no answer within 200ms"))
        await sink.shutdown()
        try await server.stop()
    }

    @Test func writeTimeoutWhenTheReceiverStopsReading() async throws {
        let server = try await TestServer.start(.init(stall: true))
        let sink = try ForwardSink(options: options([server.endpoint]) {
            $0.writeTimeout = .milliseconds(300)
        }, diagnostics: RecordingDiagnostics())
        // 64 MiB: more than the loopback socket buffers of both ends can hold.
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        let records = (0..<64).map { _ in LogRecord(time: knownTime, stream: .stdout, line: big[...]) }
        let outcome = await sink.send(records)
        #expect(outcome == .retryable(reason: "write to \(server.endpoint) did not complete within 300ms"))
        await sink.shutdown()
        try await server.stop()
    }

    @Test func batchesWaitUnencodedWhileTheSocketIsFullAndGoOutInOrder() async throws {
        let server = try await TestServer.start(.init(stall: true))
        let sink = try ForwardSink(options: options([server.endpoint]) { $0.maxInFlight = 12 }, diagnostics: RecordingDiagnostics())
        // 16 MiB fill the loopback socket buffers of both ends; the batches after it wait as records.
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        let filler = (0..<16).map { _ in LogRecord(time: knownTime, stream: .stdout, line: big[...]) }
        // Sent one after another from here: they reach the loop, and the connection, in this order.
        let (outcomes, done) = AsyncStream.makeStream(of: SendOutcome.self)
        let batches = [filler] + (1...10).map { [record("batch \($0)")] }
        for (id, records) in batches.enumerated() {
            sink.send(Batch(id: UInt64(id), records: records)) { done.yield($0) }
        }
        var unencoded = 0
        for _ in 0..<200 where unencoded < 10 {
            try await Task.sleep(for: .milliseconds(10))
            unencoded = try await sink.client.loop.submit { sink.client.active?.unencodedBatches ?? 0 }.get()
        }
        #expect(unencoded == 10)
        try await server.resumeReading()
        var all: [SendOutcome] = []
        for await outcome in outcomes {
            all.append(outcome)
            if all.count == 11 { break }
        }
        #expect(all == Array(repeating: .delivered, count: 11))
        let received = try await server.onLoop { server.received }
        let lines = try received.dropFirst().map { try decodeRecords($0)[0]["log"].map { String(decoding: $0, as: UTF8.self) } }
        #expect(lines == (1...10).map { "batch \($0)" })
        await sink.shutdown()
        try await server.stop()
    }

    @Test func shutdownFailsBatchesInFlight() async throws {
        let server = try await TestServer.start(.init(acks: .none))
        let sink = try ForwardSink(options: options([server.endpoint]), diagnostics: RecordingDiagnostics())
        async let outcome = sink.send(twoRecords)
        while try await server.messageCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await sink.shutdown()
        #expect(await outcome == .retryable(reason: "forward sink is shut down"))
        try await server.stop()
    }

    @Test func useAfterShutdown() async throws {
        let sink = try ForwardSink(options: options([.tcp(host: "127.0.0.1", port: 1)]), diagnostics: RecordingDiagnostics())
        await sink.shutdown()
        await sink.shutdown()
        #expect(await sink.send(twoRecords) == .retryable(reason: "forward sink is shut down"))
    }

    @Test func setupErrors() throws {
        #expect(throws: ConfigurationError.self) {
            try ForwardSink(options: options([]), diagnostics: RecordingDiagnostics())
        }
        do {
            _ = try ForwardSink(options: options([.tls(host: "localhost", port: 1)]) { $0.tlsCAFile = "/nonexistent/ca.pem" },
                                diagnostics: RecordingDiagnostics())
            Issue.record("a missing CA file must be an error")
        } catch let e as ConfigurationError {
            #expect(e.variable == "SPILLWAY_FORWARD_TLS_CA")
            #expect(e.expected.contains("/nonexistent/ca.pem"))
        }
    }

    @Test func endpointDescriptions() {
        #expect(ForwardEndpoint.tcp(host: "127.0.0.1", port: 24224).description == "tcp://127.0.0.1:24224")
        #expect(ForwardEndpoint.tls(host: "::1", port: 24284).description == "tls://[::1]:24284")
        #expect(ForwardEndpoint.unix(path: "/var/run/fluent.sock").description == "unix:///var/run/fluent.sock")
    }
}

/// A number that differs between test runs (for socket paths).
func port() -> UInt32 {
    UInt32.random(in: 100_000...999_999)
}
