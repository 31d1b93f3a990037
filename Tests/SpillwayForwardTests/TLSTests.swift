#if canImport(Glibc)
import Glibc
#endif
import SpillwayCore
import SpillwayTestKit
import Testing

@testable import SpillwayForward

@Suite(.serialized, .timeLimit(.minutes(1)))
struct TLSTests {
    let caFile: String
    let otherCAFile: String

    init() throws {
        caFile = try temporaryFile("ca.pem", caPEM)
        otherCAFile = try temporaryFile("other.pem", otherCAPEM)
    }

    func cleanUp() {
        unlink(caFile)
        unlink(otherCAFile)
    }

    @Test(arguments: ["localhost", "127.0.0.1"])
    func verifiedWithCAFile(host: String) async throws {
        defer { cleanUp() }
        let server = try await TestServer.start(tls: try serverTLSContext())
        let sink = try ForwardSink(options: options([.tls(host: host, port: server.port)]) { $0.tlsCAFile = caFile },
                                   diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        #expect(try await server.messageCount == 1)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func untrustedCertificateIsRetryable() async throws {
        defer { cleanUp() }
        let server = try await TestServer.start(tls: try serverTLSContext())
        let diagnostics = RecordingDiagnostics()
        let sink = try ForwardSink(options: options([.tls(host: "localhost", port: server.port)]) { $0.tlsCAFile = otherCAFile },
                                   diagnostics: diagnostics)
        let outcome = await sink.send(twoRecords)
        #expect(outcome.reason?.hasPrefix("TLS handshake with tls://localhost:\(server.port): ") == true, "\(outcome)")
        #expect(try await server.messageCount == 0)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func wrongHostNameIsRetryable() async throws {
        defer { cleanUp() }
        let server = try await TestServer.start(tls: try serverTLSContext())
        // Trusted CA, but the certificate does not name 127.0.0.2.
        let sink = try ForwardSink(options: options([.tls(host: "127.0.0.2", port: server.port)]) { $0.tlsCAFile = caFile },
                                   diagnostics: RecordingDiagnostics())
        let outcome = await sink.send(twoRecords)
        #expect(outcome.reason != nil, "\(outcome)")
        await sink.shutdown()
        try await server.stop()
    }

    @Test func verificationOff() async throws {
        defer { cleanUp() }
        let server = try await TestServer.start(tls: try serverTLSContext())
        let sink = try ForwardSink(options: options([.tls(host: "localhost", port: server.port)]) { $0.tlsVerify = false },
                                   diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        await sink.shutdown()
        try await server.stop()
    }

    @Test func handshakeOverTLS() async throws {
        defer { cleanUp() }
        let server = try await TestServer.start(.init(sharedKey: "k"), tls: try serverTLSContext())
        let sink = try ForwardSink(options: options([.tls(host: "localhost", port: server.port)]) {
            $0.tlsCAFile = caFile
            $0.sharedKey = "k"
        }, diagnostics: RecordingDiagnostics())
        #expect(await sink.send(twoRecords) == .delivered)
        await sink.shutdown()
        try await server.stop()
    }
}
