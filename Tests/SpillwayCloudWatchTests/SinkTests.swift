import Dispatch
import NIOCore
import SpillwayCore
import SpillwayTestKit
import Testing

@testable import SpillwayCloudWatch

/// Thread-safe mutable state for server closures and file stand-ins.
final class Box<T>: @unchecked Sendable {
    private let lock = DispatchQueue(label: "box")
    private var value: T
    init(_ value: T) { self.value = value }
    func get() -> T { lock.sync { value } }
    func set(_ v: T) { lock.sync { value = v } }
    func update<R>(_ f: (inout T) -> R) -> R { lock.sync { f(&value) } }
}

let testClock = ManualWallClock(Timestamp(nanoseconds: baseNanos))
/// A machine without shared credential files.
let noFiles: @Sendable (String) throws -> [UInt8] = { path in throw CredentialsError("no file \(path)") }

func makeSink(_ server: FakeServer, env: [String: String] = [:], files: Box<[String: String]> = Box([:]),
              configure: (inout CloudWatchSinkOptions) -> Void = { _ in }, diagnostics: any Diagnostics = RecordingDiagnostics()) throws -> CloudWatchSink {
    var environment = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
                       "AWS_EC2_METADATA_DISABLED": "true"]
    environment.merge(env) { $1 }
    var o = CloudWatchSinkOptions(group: "/app/group", stream: "web/host", endpoint: server.url, environment: environment,
                                  connectTimeout: .seconds(2), requestTimeout: .seconds(5))
    configure(&o)
    return try CloudWatchSink(options: o, diagnostics: diagnostics, clock: testClock, readFile: { path in
        guard let text = files.get()[path] else { throw CredentialsError("no file \(path)") }
        return Array(text.utf8)
    })
}

func notFound(_ what: String) -> FakeServer.Response {
    .init(status: 400, body: #"{"__type":"ResourceNotFoundException","message":"The specified log \#(what) does not exist."}"#)
}

func messages(_ request: FakeServer.Request) throws -> [String] {
    let json = try JSONValue.parse(request.body)
    guard case .array(let events)? = json["logEvents"] else { return [] }
    return events.compactMap { $0["message"]?.string }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct SinkTests {
    @Test func deliversSignedPutLogEvents() async throws {
        let server = try FakeServer { _ in .init() }
        let sink = try makeSink(server, env: ["AWS_SESSION_TOKEN": "session-token"]) { $0.format = "json/emf" }
        #expect(sink.batchLimits == BatchLimits(maxRecords: 10_000, maxBytes: 1_048_576, bytesPerRecord: 26))
        #expect(sink.maxInFlight == 1)
        #expect(await sink.send([record("first"), record("second", ms: 1)]) == .delivered)
        #expect(await sink.send([record("third", ms: 2)], id: 2) == .delivered)
        let requests = server.requests
        #expect(requests.count == 2)
        let r = requests[0]
        #expect(r.method == .POST && r.uri == "/")
        #expect(r.target == "PutLogEvents")
        #expect(r.headers.first(name: "content-type") == "application/x-amz-json-1.1")
        #expect(r.headers.first(name: "x-amzn-logs-format") == "json/emf")
        #expect(r.headers.first(name: "x-amz-security-token") == "session-token")
        #expect(r.headers.first(name: "x-amz-date") == "20260101T100000Z")
        let auth = try #require(r.headers.first(name: "authorization"))
        #expect(auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/logs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target;x-amzn-logs-format, Signature="))
        let json = try JSONValue.parse(r.body)
        #expect(json["logGroupName"]?.string == "/app/group" && json["logStreamName"]?.string == "web/host")
        #expect(try messages(r) == ["first", "second"])
        // Keep-alive: one connection for both.
        #expect(server.connectionCount == 1)
        await sink.shutdown()
        server.stop()
    }

    @Test func createsTheStreamAndPutsAgain() async throws {
        let created = Box(false)
        let server = try FakeServer { r in
            switch r.target {
            case "PutLogEvents": return created.get() ? .init() : notFound("stream")
            case "CreateLogStream":
                created.set(true)
                return .init()
            default: return .init(status: 500)
            }
        }
        let sink = try makeSink(server)
        #expect(await sink.send([record("a")]) == .delivered)
        #expect(server.targets == ["PutLogEvents", "CreateLogStream", "PutLogEvents"])
        #expect(server.requests[1].bodyText == #"{"logGroupName":"/app/group","logStreamName":"web/host"}"#)
        await sink.shutdown()
        server.stop()
    }

    @Test func streamAlreadyExistsCountsAsCreated() async throws {
        let puts = Box(0)
        let server = try FakeServer { r in
            switch r.target {
            case "PutLogEvents": return puts.update { $0 += 1; return $0 } == 1 ? notFound("stream") : .init()
            default: return .init(status: 400, body: #"{"__type":"ResourceAlreadyExistsException"}"#)
            }
        }
        let sink = try makeSink(server)
        #expect(await sink.send([record("a")]) == .delivered)
        #expect(server.targets == ["PutLogEvents", "CreateLogStream", "PutLogEvents"])
        await sink.shutdown()
        server.stop()
    }

    @Test func createsGroupWithRetentionWhenAllowed() async throws {
        let state = Box((group: false, stream: false))
        let server = try FakeServer { r in
            switch r.target {
            case "PutLogEvents": return state.get().stream ? .init() : notFound("stream")
            case "CreateLogStream":
                guard state.get().group else { return notFound("group") }
                state.update { $0.stream = true }
                return .init()
            case "CreateLogGroup":
                state.update { $0.group = true }
                return .init()
            default: return .init()
            }
        }
        let sink = try makeSink(server) {
            $0.createGroup = true
            $0.retentionDays = 7
        }
        #expect(await sink.send([record("a")]) == .delivered)
        #expect(server.targets == ["PutLogEvents", "CreateLogStream", "CreateLogGroup", "PutRetentionPolicy", "CreateLogStream", "PutLogEvents"])
        #expect(server.requests[3].bodyText == #"{"logGroupName":"/app/group","retentionInDays":7}"#)
        await sink.shutdown()
        server.stop()
    }

    @Test func missingGroupWithoutCreateGroupIsRetryable() async throws {
        let server = try FakeServer { r in r.target == "PutLogEvents" ? notFound("stream") : notFound("group") }
        let sink = try makeSink(server)
        let outcome = await sink.send([record("a")])
        #expect(outcome.reason?.contains("SPILLWAY_CLOUDWATCH_CREATE_GROUP=true") == true)
        #expect(server.targets == ["PutLogEvents", "CreateLogStream"])
        await sink.shutdown()
        server.stop()
    }

    @Test func missingStreamWithoutCreateStreamIsRetryable() async throws {
        let server = try FakeServer { _ in notFound("stream") }
        let sink = try makeSink(server) { $0.createStream = false }
        let outcome = await sink.send([record("a")])
        #expect(outcome.reason?.contains("SPILLWAY_CLOUDWATCH_CREATE_STREAM=false") == true)
        #expect(server.targets == ["PutLogEvents"])
        await sink.shutdown()
        server.stop()
    }

    @Test func throttlingAndServerErrorsAreRetryable() async throws {
        let answers = Box([
            FakeServer.Response(status: 400, body: #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
            FakeServer.Response(status: 503, body: "unavailable"),
        ])
        let server = try FakeServer { _ in answers.update { $0.isEmpty ? .init() : $0.removeFirst() } }
        let sink = try makeSink(server)
        #expect(await sink.send([record("a")]).reason == "CloudWatch PutLogEvents: ThrottlingException (HTTP 400): Rate exceeded")
        #expect(await sink.send([record("a")]).reason == "CloudWatch PutLogEvents: HTTP 503")
        #expect(await sink.send([record("a")]) == .delivered)
        await sink.shutdown()
        server.stop()
    }

    @Test func connectionRefusedIsRetryable() async throws {
        let server = try FakeServer { _ in .init() }
        let url = server.url
        server.stop()
        let sink = try makeSink(server) { $0.endpoint = url }
        let outcome = await sink.send([record("a")])
        #expect(outcome.reason?.hasPrefix("CloudWatch PutLogEvents: connect to 127.0.0.1:") == true)
        #expect(outcome.reason?.hasSuffix("connection refused") == true)
        await sink.shutdown()
    }

    @Test func serviceRejectionsMapToRecords() async throws {
        // Events are sent sorted: [b(ms 1), c(ms 2), a(ms 3)]; the service calls the first too old
        // and the last too new.
        let server = try FakeServer { _ in
            .init(body: #"{"nextSequenceToken":"1","rejectedLogEventsInfo":{"tooOldLogEventEndIndex":1,"tooNewLogEventStartIndex":2}}"#)
        }
        let sink = try makeSink(server)
        let outcome = await sink.send([record("a", ms: 3), record(""), record("b", ms: 1), record("c", ms: 2)])
        #expect(outcome == .rejected([
            Rejection(indices: 0..<1, reason: .rejected("too new")),
            Rejection(indices: 1..<2, reason: .emptyLine),
            Rejection(indices: 2..<3, reason: .rejected("too old")),
        ]))
        #expect(try messages(server.requests[0]) == ["b", "c", "a"])
        await sink.shutdown()
        server.stop()
    }

    @Test func onlyEmptyLinesSendNothing() async throws {
        let server = try FakeServer { _ in .init() }
        let sink = try makeSink(server)
        #expect(await sink.send([record(""), record("")]) == .rejected([Rejection(indices: 0..<2, reason: .emptyLine)]))
        #expect(server.requests.isEmpty)
        await sink.shutdown()
        server.stop()
    }

    @Test func aRetriedBatchSkipsRequestsAlreadyDelivered() async throws {
        // Three records over 24 h apart make three requests; the second fails once.
        let day: Int64 = 86_400_000
        let puts = Box(0)
        let server = try FakeServer { _ in
            puts.update { $0 += 1; return $0 } == 2 ? .init(status: 500) : .init()
        }
        let sink = try makeSink(server)
        let records = [record("old", ms: -2 * day), record("mid", ms: -day), record("new")]
        #expect(await sink.send(records, id: 7) != .delivered)
        #expect(await sink.send(records, id: 7) == .delivered)
        let sent = try server.requests.map { try messages($0) }
        #expect(sent == [["old"], ["mid"], ["mid"], ["new"]])
        // Another batch id starts from scratch.
        #expect(await sink.send(records, id: 8) == .delivered)
        #expect(server.requests.count == 7)
        await sink.shutdown()
        server.stop()
    }

    @Test func authErrorRereadsCredentialsAndRetries() async throws {
        let files = Box(["/creds": "[default]\naws_access_key_id = AKIDOLD\naws_secret_access_key = s\n"])
        let server = try FakeServer { r in
            let auth = r.headers.first(name: "authorization") ?? ""
            return auth.contains("AKIDOLD")
                ? .init(status: 400, body: #"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#)
                : .init()
        }
        let sink = try makeSink(server, env: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/creds"],
                                files: files)
        let first = await sink.send([record("a")])
        #expect(first.reason?.contains("ExpiredTokenException") == true)
        files.set(["/creds": "[default]\naws_access_key_id = AKIDNEW\naws_secret_access_key = s\n"])
        #expect(await sink.send([record("a")]) == .delivered)
        await sink.shutdown()
        server.stop()
    }

    @Test func eventTooLargeLowersTheCap() async throws {
        let server = try FakeServer { r in
            let big = (try? messages(r))?.contains { $0.utf8.count > 600_000 } ?? false
            return big ? .init(status: 400, body: #"{"__type":"InvalidParameterException","message":"Log event too large"}"#) : .init()
        }
        let sink = try makeSink(server)
        let line = String(repeating: "x", count: 900_000)
        let outcome = await sink.send([record(line)])
        #expect(outcome.reason?.contains("events are cut at 500000 bytes") == true)
        #expect(await sink.send([record(line)]) == .delivered)
        #expect(try messages(server.requests.last!).map(\.count) == [500_000, 400_000])
        await sink.shutdown()
        server.stop()
    }

    @Test func otherInvalidParameterRefusesTheEvents() async throws {
        let server = try FakeServer { _ in .init(status: 400, body: #"{"__type":"InvalidParameterException","message":"bad"}"#) }
        let diagnostics = RecordingDiagnostics()
        let sink = try makeSink(server, diagnostics: diagnostics)
        #expect(await sink.send([record("a"), record("b")]) ==
            .rejected([Rejection(indices: 0..<2, reason: .rejected("refused: InvalidParameterException (HTTP 400): bad"))]))
        #expect(diagnostics.messages(.warning).count == 1)
        await sink.shutdown()
        server.stop()
    }

    @Test func closedKeepAliveConnectionIsReplaced() async throws {
        let server = try FakeServer { _ in .init(close: true) }
        let sink = try makeSink(server)
        for id in 1...3 {
            #expect(await sink.send([record("a")], id: UInt64(id)) == .delivered)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(server.connectionCount == 3)
        await sink.shutdown()
        server.stop()
    }

    @Test func endpointPathIsKeptAndSigned() async throws {
        let server = try FakeServer { _ in .init() }
        let sink = try makeSink(server) { $0.endpoint = server.url + "/some%20base/" }
        #expect(await sink.send([record("a")]) == .delivered)
        #expect(server.requests[0].uri == "/some%20base/")
        await sink.shutdown()
        server.stop()
    }

    @Test func sendAfterShutdownIsRetryable() async throws {
        let server = try FakeServer { _ in .init() }
        let sink = try makeSink(server)
        await sink.shutdown()
        #expect(await sink.send([record("a")]).reason == "cloudwatch sink is shut down")
        server.stop()
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct SetupTests {
    func setupError(_ env: [String: String], configure: (inout CloudWatchSinkOptions) -> Void = { _ in }) -> ConfigurationError? {
        var o = CloudWatchSinkOptions(group: "g", stream: "s", environment: env, metadataTimeout: .milliseconds(300))
        configure(&o)
        do {
            _ = try CloudWatchSink(options: o, diagnostics: RecordingDiagnostics(), clock: testClock, readFile: noFiles)
            return nil
        } catch let e as ConfigurationError {
            return e
        } catch {
            return ConfigurationError(variable: "?", message: "\(error)")
        }
    }

    @Test func badEndpointNamesTheVariable() {
        #expect(setupError(["AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"]) { $0.endpoint = "ftp://x" }?.variable == "SPILLWAY_CLOUDWATCH_ENDPOINT")
        #expect(setupError(["AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "nonsense", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])?.variable == "AWS_ENDPOINT_URL")
    }

    @Test func noRegionWithoutMetadata() {
        #expect(setupError(["AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])?.variable == "SPILLWAY_CLOUDWATCH_REGION")
    }

    @Test func noCredentialsAtAll() {
        #expect(setupError(["AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1", "HOME": "/nonexistent"])?.variable == "AWS_ACCESS_KEY_ID")
    }

    @Test func unreachableMetadataGivesNoRegionWithinAboutASecond() throws {
        let server = try FakeServer { _ in .init() }
        let url = server.url
        server.stop()
        let start = ContinuousClock.now
        let error = setupError(["AWS_EC2_METADATA_SERVICE_ENDPOINT": url, "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        #expect(error?.variable == "SPILLWAY_CLOUDWATCH_REGION")
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func regionFromInstanceMetadata() throws {
        let server = try FakeServer { r in
            switch (r.method, r.uri) {
            case (.PUT, "/latest/api/token"):
                return r.headers.first(name: "x-aws-ec2-metadata-token-ttl-seconds") == "21600" ? .init(body: "TOKEN") : .init(status: 400)
            case (.GET, "/latest/meta-data/placement/region"):
                return r.headers.first(name: "x-aws-ec2-metadata-token") == "TOKEN" ? .init(body: "eu-central-1") : .init(status: 401)
            default:
                return .init(status: 404)
            }
        }
        let sink = try CloudWatchSink(options: CloudWatchSinkOptions(
            group: "g", stream: "s",
            environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url, "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"]),
            diagnostics: RecordingDiagnostics(), clock: testClock, readFile: noFiles)
        #expect(sink.region == "eu-central-1")
        #expect(sink.endpointDescription == "https://logs.eu-central-1.amazonaws.com/")
        sink.shutdown {}
        server.stop()
    }
}

@Suite struct ProbeTests {
    func probe(_ sink: CloudWatchSink) async -> Bool {
        await withCheckedContinuation { continuation in sink.probe { continuation.resume(returning: $0) } }
    }

    @Test func anyAnswerButARetryableOneIsHealthy() async throws {
        let answers = Box([
            FakeServer.Response(status: 503, body: "unavailable"),
            FakeServer.Response(status: 400, body: #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
            FakeServer.Response(status: 400, body: #"{"__type":"ResourceNotFoundException","message":"no group"}"#),
            FakeServer.Response(status: 200, body: #"{"logStreams":[]}"#),
        ])
        let server = try FakeServer { _ in answers.update { $0.isEmpty ? .init() : $0.removeFirst() } }
        let sink = try makeSink(server)
        #expect(await probe(sink) == false)
        #expect(await probe(sink) == false)
        #expect(await probe(sink) == true)
        #expect(await probe(sink) == true)
        #expect(server.targets == Array(repeating: "DescribeLogStreams", count: 4))
        await sink.shutdown()
        server.stop()
    }

    @Test func anUnreachableServiceIsNot() async throws {
        let server = try FakeServer { _ in .init() }
        let url = server.url
        server.stop()
        let sink = try makeSink(server) { $0.endpoint = url }
        #expect(await probe(sink) == false)
        await sink.shutdown()
    }
}
