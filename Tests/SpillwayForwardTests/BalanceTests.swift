import SpillwayCore
import SpillwayTestKit
import Synchronization
import Testing

@testable import SpillwayForward

@Suite struct ServerWeightsTests {
    typealias S = ServerWeights.Server

    /// How often each server comes up in `count` choices.
    func shares(_ servers: [S], _ count: Int = 600) -> [Int] {
        var weights = ServerWeights(servers, seed: 7)
        var out = Array(repeating: 0, count: servers.count)
        for _ in 0..<count { if let i = weights.next() { out[i] += 1 } }
        return out
    }

    @Test func proportionalToWeights() {
        let servers = [S(weight: 60, standby: false, healthy: true), S(weight: 30, standby: false, healthy: true),
                       S(weight: 10, standby: false, healthy: true)]
        // The cycle holds each server weight/gcd times (repeated to at least 6 per server).
        #expect(shares(servers, 600) == [360, 180, 60])
        #expect(ServerWeights(servers, seed: 1).cycle.count == 10)
    }

    @Test func equalWeightsAlternate() {
        let servers = Array(repeating: S(weight: 1, standby: false, healthy: true), count: 3)
        #expect(shares(servers, 360) == [120, 120, 120])
        // Repeated to 6 per server, so a shuffle still mixes them.
        #expect(ServerWeights(servers, seed: 1).cycle.count == 18)
    }

    @Test func zeroWeightAndDownServersGetNothing() {
        let servers = [S(weight: 60, standby: false, healthy: true), S(weight: 0, standby: false, healthy: true),
                       S(weight: 60, standby: false, healthy: false)]
        #expect(shares(servers) == [600, 0, 0])
    }

    @Test func standbyOnlyForADownRegularServer() {
        var servers = [S(weight: 50, standby: false, healthy: true), S(weight: 50, standby: false, healthy: true),
                       S(weight: 50, standby: true, healthy: true), S(weight: 50, standby: true, healthy: true)]
        #expect(shares(servers) == [600, 0, 0, 0].enumerated().map { $0.offset < 2 ? 300 : 0 })
        servers[1].healthy = false
        // The first healthy standby covers the lost weight; the second is not needed.
        #expect(shares(servers) == [300, 0, 300, 0])
        servers[0].healthy = false
        #expect(shares(servers) == [0, 0, 300, 300])
        servers[2].healthy = false
        #expect(shares(servers) == [0, 0, 0, 600])
        servers[3].healthy = false
        var none = ServerWeights(servers, seed: 1)
        #expect(none.next() == nil)
    }

    @Test func sameSeedSameCycle() {
        let servers = [S(weight: 3, standby: false, healthy: true), S(weight: 1, standby: false, healthy: true)]
        #expect(ServerWeights(servers, seed: 3).cycle == ServerWeights(servers, seed: 3).cycle)
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct BalancedSinkTests {
    func balanced(_ endpoints: [ForwardEndpoint], _ balance: ForwardBalance = .weighted,
                  recoverWait: Duration = .seconds(10)) -> ForwardSinkOptions {
        options(endpoints) {
            $0.balance = balance
            $0.recoverWait = recoverWait
        }
    }

    /// A host name that resolves to two addresses is two servers, each with a connection.
    @Test func everyAddressOfANameIsAServer() async throws {
        let server = try await TestServer.start()
        let lookups = Mutex(0)
        let endpoint = ForwardEndpoint(.tcp(host: "aggregators.test", port: server.port))
        let sink = try ForwardSink(options: balanced([endpoint], .roundRobin), diagnostics: RecordingDiagnostics(),
                                   resolveHost: { name in
                                       lookups.withLock { $0 += 1 }
                                       return name == "aggregators.test" ? ["127.0.0.1", "localhost"] : []
                                   })
        // The first lookup starts with the sink; its answer hops onto the sink's loop.
        for _ in 0..<200 where lookups.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        for id in 1...20 { #expect(await sink.send([record("line \(id)")], id: UInt64(id)) == .delivered) }
        #expect(try await server.messageCount == 20)
        #expect(try await server.onLoop { server.connections } == 2)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func weightedSpreadsBatchesOverConnections() async throws {
        let servers = [try await TestServer.start(), try await TestServer.start(), try await TestServer.start()]
        let endpoints = zip(servers, [3, 2, 1]).map { ForwardEndpoint(.tcp(host: "127.0.0.1", port: $0.port), weight: $1) }
        let sink = try ForwardSink(options: balanced(endpoints), diagnostics: RecordingDiagnostics())
        #expect(sink.maxInFlight == 8 * 3)
        for id in 1...180 { #expect(await sink.send([record("line \(id)")], id: UInt64(id)) == .delivered) }
        var counts: [Int] = []
        for server in servers { counts.append(try await server.messageCount) }
        // Ten turns of the cycle (3, 2, 1, repeated three times).
        #expect(counts == [90, 60, 30])
        for server in servers { #expect(try await server.onLoop { server.connections } == 1) }
        await sink.shutdown()
        for server in servers { try await server.stop() }
    }

    @Test func aFailedServerIsSkippedAndBatchesResent() async throws {
        let good = try await TestServer.start()
        let closing = try await TestServer.start(.init(closeOnMessage: true))
        let refused = try await TestServer.refusedPort()
        let diagnostics = RecordingDiagnostics()
        let sink = try ForwardSink(
            options: balanced([good.endpoint, closing.endpoint, .tcp(host: "127.0.0.1", port: refused)], .roundRobin),
            diagnostics: diagnostics)
        // Every batch is delivered though two of three servers fail: the failed ones are resent.
        for id in 1...30 { #expect(await sink.send([record("line \(id)")], id: UInt64(id)) == .delivered) }
        #expect(try await good.messageCount == 30)
        // Batches in flight on the closing server went elsewhere: counted (possible duplicates).
        #expect(sink.resentBatches >= 1)
        let warnings = diagnostics.messages(.warning).filter { $0.contains("is down") }
        #expect(warnings.count == 2)
        await sink.shutdown()
        try await good.stop()
        try await closing.stop()
    }

    @Test func noHealthyServerIsRetryableAndAProbeBringsOneBack() async throws {
        let port = try await TestServer.refusedPort()
        let other = try await TestServer.refusedPort()
        let sink = try ForwardSink(
            options: balanced([.tcp(host: "127.0.0.1", port: port), .tcp(host: "127.0.0.1", port: other)], .roundRobin),
            diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome.reason?.contains("connect to tcp://127.0.0.1:\(port): connection refused") == true)
        #expect(outcome.reason?.contains("connect to tcp://127.0.0.1:\(other): connection refused") == true)
        #expect(await probe(sink) == false)
        let back = try await TestServer.start(port: port)
        // No other server is healthy: the recovered one takes traffic at once, not after 10 s.
        #expect(await probe(sink) == true)
        #expect(await sink.send(twoRecords, id: 2) == .delivered)
        #expect(try await back.messageCount == 1)
        await sink.shutdown()
        try await back.stop()
    }

    @Test func aRecoveredServerWaitsForRecoverWait() async throws {
        let steady = try await TestServer.start()
        let port = try await TestServer.refusedPort()
        let sink = try ForwardSink(
            options: balanced([steady.endpoint, .tcp(host: "127.0.0.1", port: port)], .roundRobin,
                              recoverWait: .milliseconds(1500)),
            diagnostics: RecordingDiagnostics())
        for id in 1...4 { #expect(await sink.send([record("a")], id: UInt64(id)) == .delivered) }
        #expect(try await steady.messageCount == 4)
        let back = try await TestServer.start(port: port)
        // Probed within a second, then accepted 1.5 s later: nothing before, traffic after.
        try await Task.sleep(for: .milliseconds(1200))
        for id in 5...8 { #expect(await sink.send([record("b")], id: UInt64(id)) == .delivered) }
        #expect(try await back.messageCount == 0)
        try await Task.sleep(for: .milliseconds(3000))
        for id in 9...20 { #expect(await sink.send([record("c")], id: UInt64(id)) == .delivered) }
        #expect(try await back.messageCount > 0)
        await sink.shutdown()
        try await steady.stop()
        try await back.stop()
    }

    @Test func withoutHeartbeatADownServerIsTriedAgainAfterRecoverWait() async throws {
        let steady = try await TestServer.start()
        let port = try await TestServer.refusedPort()
        var o = balanced([steady.endpoint, .tcp(host: "127.0.0.1", port: port)], .roundRobin, recoverWait: .milliseconds(500))
        o.heartbeat = .none
        let sink = try ForwardSink(options: o, diagnostics: RecordingDiagnostics())
        for id in 1...4 { #expect(await sink.send([record("a")], id: UInt64(id)) == .delivered) }
        let back = try await TestServer.start(port: port)
        // Never probed: no connection before the wait; tried again (and used) after it.
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await back.onLoop { back.connections } == 0)
        try await Task.sleep(for: .milliseconds(800))
        for id in 5...12 { #expect(await sink.send([record("b")], id: UInt64(id)) == .delivered) }
        #expect(try await back.messageCount > 0)
        await sink.shutdown()
        try await steady.stop()
        try await back.stop()
    }

    func probe(_ sink: ForwardSink) async -> Bool {
        await withCheckedContinuation { c in sink.probe { c.resume(returning: $0) } }
    }
}
