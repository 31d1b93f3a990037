import NIOCore
import NIOHTTP1
import SpillwayCore
import SpillwayEventLoop

/// One attempt at one batch: PutLogEvents for each planned request in order, creating the stream
/// (and group) on ResourceNotFoundException and putting again within the attempt. Never retries
/// or waits on its own: the delivery core owns backoff. Confined to `loop`.
public final class CloudWatchClient: EventLoopSinkClient, @unchecked Sendable {
    public typealias Completion = @Sendable (SendOutcome) -> Void

    public let loop: any EventLoop
    let http: HTTPClient
    let credentials: CredentialCache
    let signer: SigV4Signer
    let endpoint: HTTPEndpoint
    /// The missing group is said once, loudly; the retries that follow say it as warnings.
    private var reportedMissingGroup = false
    let options: CloudWatchSinkOptions
    let clock: any WallClock
    let diagnostics: any Diagnostics
    var planner = EventPlanner()

    /// Requests of a batch already delivered by an attempt that then failed: a retry of the same
    /// batch skips them rather than sending them twice.
    private struct Progress {
        var batch: UInt64
        var delivered: Set<EventKey>
        var rejected: [Int: DropReason]
    }
    private var progress: Progress?
    /// The group was created by spillway and its retention is not yet set.
    private var retentionPending = false
    private var closed = false

    init(loop: any EventLoop, http: HTTPClient, credentials: CredentialCache, signer: SigV4Signer,
         endpoint: HTTPEndpoint, options: CloudWatchSinkOptions, clock: any WallClock, diagnostics: any Diagnostics) {
        self.loop = loop
        self.http = http
        self.credentials = credentials
        self.signer = signer
        self.endpoint = endpoint
        self.options = options
        self.clock = clock
        self.diagnostics = diagnostics
        planner.body = switch options.message {
        case .line: .line
        case .record(let fields): .record(ConsoleEncoder(fields: fields))
        case .source: .source
        case .fixed(_, let value): .fixed(Array(value.utf8))
        }
    }

    private var streamName: String { "\(options.group):\(options.stream)" }

    /// A probe takes at most this long: the delivery core probes once a second.
    static let probeTimeout: Duration = .seconds(2)

    /// The cheap request of a backoff's probe: DescribeLogStreams of this stream's name. Any
    /// answer but a retryable one (5xx, throttling) shows the service is back, whatever it says
    /// (a missing group or a denied permission is the real send's business).
    public func probe(completion: @escaping @Sendable (Bool) -> Void) {
        guard !closed else { return completion(false) }
        let body = JSONWriter.object([("logGroupName", options.group), ("logStreamNamePrefix", options.stream)])
        call("DescribeLogStreams", body: body, timeout: min(Self.probeTimeout, options.requestTimeout)).whenComplete { result in
            switch result {
            case .success(.retryable), .failure: completion(false)
            case .success: completion(true)
            }
        }
    }

    // MARK: one attempt

    public func send(_ batch: Batch, completion: @escaping Completion) {
        loop.preconditionInEventLoop()
        guard !closed else {
            completion(.retryable(reason: "cloudwatch sink is shut down"))
            return
        }
        var previous = Progress(batch: batch.id, delivered: [], rejected: [:])
        if let p = progress, p.batch == batch.id { previous = p }
        progress = nil
        let plan = planner.plan(batch.records, now: clock.now(), skip: previous.delivered)
        var start = previous
        start.rejected.merge(plan.rejected) { old, _ in old }
        let state = start
        applyRetentionIfPending().whenComplete { _ in
            self.put(plan, index: 0, state: state, completion: completion)
        }
    }

    private func put(_ plan: EventPlan, index: Int, state: Progress, completion: @escaping Completion) {
        guard index < plan.requests.count else {
            completion(state.rejected.isEmpty ? .delivered : .rejected(rejections(from: state.rejected)))
            return
        }
        let range = plan.requests[index]
        let events = plan.events[range]
        putEvents(events, createIfMissing: true).whenComplete { result in
            var state = state
            switch result {
            case .success(.ok(let json)):
                if let info = RejectedEventsInfo(json?["rejectedLogEventsInfo"]) {
                    for (position, event) in events.enumerated() {
                        if let reason = info.reason(at: position), state.rejected[event.record] == nil {
                            state.rejected[event.record] = reason
                        }
                    }
                }
                if plan.requests.count > 1 {
                    for event in events { state.delivered.insert(event.key) }
                }
                self.put(plan, index: index + 1, state: state, completion: completion)
            case .success(.invalid(let text)):
                if CloudWatchAPI.isEventTooLarge(text), self.planner.maxMessageBytes > 64 * 1024 {
                    // The service's cap is lower than ours: cut events smaller from now on. Cut
                    // positions change, so pieces already sent cannot be matched: start over.
                    self.planner.maxMessageBytes /= 2
                    state.delivered = []
                    self.progress = state
                    completion(.retryable(reason: "CloudWatch PutLogEvents: \(text); events are cut at \(self.planner.maxMessageBytes) bytes from now on"))
                    return
                }
                self.diagnostics.warning("cloudwatch: PutLogEvents refused \(events.count) events for good: \(text)")
                for event in events where state.rejected[event.record] == nil {
                    state.rejected[event.record] = .rejected("refused: \(text)")
                }
                self.put(plan, index: index + 1, state: state, completion: completion)
            case .success(let other):
                self.progress = state
                completion(.retryable(reason: "CloudWatch PutLogEvents: \(Self.text(other))"))
            case .failure(let error):
                self.progress = state
                completion(.retryable(reason: "CloudWatch PutLogEvents: \(describeHTTPError(error))"))
            }
        }
    }

    private static func text(_ answer: CloudWatchAPI.Answer) -> String {
        switch answer {
        case .ok: return "ok"
        case .alreadyExists: return "already exists"
        case .notFound(let t), .auth(let t), .invalid(let t), .retryable(let t): return t
        }
    }

    /// PutLogEvents; when the stream or group is missing, creates them as allowed and puts again.
    private func putEvents(_ events: ArraySlice<PlannedEvent>, createIfMissing: Bool) -> EventLoopFuture<CloudWatchAPI.Answer> {
        let body = CloudWatchAPI.putLogEventsBody(group: options.group, stream: options.stream, events: events)
        return call("PutLogEvents", body: body, timeout: options.requestTimeout).flatMap { answer in
            guard case .notFound(let text) = answer, createIfMissing else {
                return self.loop.makeSucceededFuture(answer)
            }
            guard self.options.createStream else {
                return self.loop.makeSucceededFuture(.retryable(
                    "\(text) (log stream \(self.streamName); SPILLWAY_CLOUDWATCH_CREATE_STREAM=false)"))
            }
            return self.createStream().flatMap { created in
                guard case .ok = created else { return self.loop.makeSucceededFuture(created) }
                return self.putEvents(events, createIfMissing: false)
            }
        }
    }

    private func createStream() -> EventLoopFuture<CloudWatchAPI.Answer> {
        let body = JSONWriter.object([("logGroupName", options.group), ("logStreamName", options.stream)])
        return call("CreateLogStream", body: body, timeout: options.requestTimeout).flatMap { answer in
            switch answer {
            case .ok:
                self.diagnostics.info("cloudwatch: created log stream \(self.streamName)")
                return self.loop.makeSucceededFuture(.ok(nil))
            case .alreadyExists:
                return self.loop.makeSucceededFuture(.ok(nil))
            case .notFound(let text):
                guard self.options.createGroup else {
                    if !self.reportedMissingGroup {
                        self.reportedMissingGroup = true
                        self.diagnostics.error(
                            "cloudwatch: log group \(self.options.group) does not exist and SPILLWAY_CLOUDWATCH_CREATE_GROUP "
                                + "is false: create the group or set SPILLWAY_CLOUDWATCH_CREATE_GROUP=true; retrying meanwhile")
                    }
                    return self.loop.makeSucceededFuture(.retryable(
                        "\(text) (log group \(self.options.group); create it or set SPILLWAY_CLOUDWATCH_CREATE_GROUP=true)"))
                }
                return self.createGroup().flatMap { created in
                    guard case .ok = created else { return self.loop.makeSucceededFuture(created) }
                    return self.call("CreateLogStream", body: body, timeout: self.options.requestTimeout).map { again in
                        if case .alreadyExists = again { return .ok(nil) }
                        if case .ok = again { self.diagnostics.info("cloudwatch: created log stream \(self.streamName)") }
                        return again
                    }
                }
            default:
                return self.loop.makeSucceededFuture(answer)
            }
        }
    }

    private func createGroup() -> EventLoopFuture<CloudWatchAPI.Answer> {
        let body = JSONWriter.object([("logGroupName", options.group)])
        return call("CreateLogGroup", body: body, timeout: options.requestTimeout).flatMap { answer in
            switch answer {
            case .alreadyExists:
                return self.loop.makeSucceededFuture(.ok(nil))
            case .ok:
                self.diagnostics.info("cloudwatch: created log group \(self.options.group)")
                self.retentionPending = self.options.retentionDays != nil
                return self.applyRetentionIfPending().map { _ in .ok(nil) }
            default:
                return self.loop.makeSucceededFuture(answer)
            }
        }
    }

    /// PutRetentionPolicy on a group spillway created. Its failure never holds up the logs: a
    /// transient one is tried again before the next batch, a refusal is reported once.
    private func applyRetentionIfPending() -> EventLoopFuture<Void> {
        guard retentionPending, let days = options.retentionDays else { return loop.makeSucceededVoidFuture() }
        var w = JSONWriter()
        w.raw("{\"logGroupName\":")
        w.string(options.group)
        w.raw(",\"retentionInDays\":")
        w.integer(Int64(days))
        w.raw("}")
        return call("PutRetentionPolicy", body: w.bytes, timeout: options.requestTimeout).map { answer in
            switch answer {
            case .ok:
                self.retentionPending = false
                self.diagnostics.info("cloudwatch: retention of \(self.options.group) set to \(days) days")
            case .retryable(let text):
                self.diagnostics.debug("cloudwatch: PutRetentionPolicy failed, will try again: \(text)")
            case .auth(let text), .invalid(let text), .notFound(let text):
                self.retentionPending = false
                self.diagnostics.warning("cloudwatch: cannot set the retention of \(self.options.group): \(text)")
            case .alreadyExists:
                self.retentionPending = false
            }
        }.recover { error in
            self.diagnostics.debug("cloudwatch: PutRetentionPolicy failed, will try again: \(describeHTTPError(error))")
        }
    }

    // MARK: signed calls

    /// One signed call. Network and credential failures fail the future; service answers succeed
    /// it with their meaning. An auth error makes the next call fetch new credentials.
    func call(_ action: String, body: [UInt8], timeout: Duration) -> EventLoopFuture<CloudWatchAPI.Answer> {
        credentials.get().flatMap { credentials in
            let request = self.signedRequest(action, body: body, credentials: credentials)
            return self.http.execute(request, timeout: timeout.timeAmount)
        }.map { response in
            let answer = CloudWatchAPI.classify(status: response.status,
                                                errorTypeHeader: response.headers.first(name: "x-amzn-errortype"),
                                                body: response.body)
            if case .auth = answer { self.credentials.invalidate() }
            return answer
        }
    }

    func signedRequest(_ action: String, body: [UInt8], credentials: AWSCredentials) -> HTTPRequest {
        let amzDate = AWSTime.amzDate(clock.now())
        var headers: [(String, String)] = [
            ("host", endpoint.hostHeader),
            ("content-type", CloudWatchAPI.contentType),
            ("x-amz-date", amzDate),
            ("x-amz-target", CloudWatchAPI.targetPrefix + action),
        ]
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        if action == "PutLogEvents", let format = options.format { headers.append(("x-amzn-logs-format", format)) }
        let payloadHash = body.withUnsafeBytes { SigV4Signer.hexSHA256(buffer: $0) }
        let signed = signer.sign(method: "POST", path: endpoint.path, query: endpoint.query, headers: headers,
                                 payloadHash: payloadHash, amzDate: amzDate, credentials: credentials)
        headers.append(("authorization", signed.authorization))
        headers.append(("user-agent", userAgent))
        return HTTPRequest(method: .POST, endpoint: endpoint, headers: headers, body: ByteBuffer(bytes: body))
    }

    public func shutdown() -> EventLoopFuture<Void> {
        closed = true
        return http.shutdown()
    }
}
