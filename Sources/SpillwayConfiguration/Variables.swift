import SpillwayCloudWatch
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
import SpillwayMetrics

// The one table of variables: name, default, meaning, how to read it and how to show its
// effective value. Help, --check-config, "did you mean" and the unknown-variable check all
// derive from it, so a variable cannot be parsed yet missing from --help.

/// State while parsing: the configuration so far plus what can only be resolved once every
/// variable has been read (templates need the name, defaults depend on the sink).
struct Draft {
    var config: Configuration
    var maxLineSizeSet = false
    var maxBufferSizeSet = false
    var tag = Template.defaultTag
    var stream = Template.defaultStream
    var storagePath: Template?
    var envNames: [String] = []
    var multilineDatetimeFormat: String?
    var cloudWatchMessage = CloudWatchMessage.line

    /// SPILLWAY_CLOUDWATCH_MESSAGE as read; a field is looked up once the record's fields are known.
    enum CloudWatchMessage { case line, record, field(String) }
}

struct Variable: Sendable {
    enum Section: String, Sendable, CaseIterable {
        case general = "General"
        case forward = "Forward sink (SPILLWAY_SINK=forward)"
        case cloudwatch = "CloudWatch Logs sink (SPILLWAY_SINK=cloudwatch)"
    }

    let name: String
    let section: Section
    let defaultText: String
    let meaning: String
    let apply: @Sendable (inout Draft, String) throws(Expected) -> Void
    /// The effective value, or nil when unset.
    let effective: @Sendable (Configuration) -> String?
    /// Shown for nil.
    let unsetText: String
    /// Never printed, never quoted in errors.
    var secret: Bool { ConfigurationError.secretVariables.contains(name) }

    init(
        _ name: String, _ section: Section, default defaultText: String, _ meaning: String,
        unset unsetText: String = "(unset)",
        apply: @escaping @Sendable (inout Draft, String) throws(Expected) -> Void,
        effective: @escaping @Sendable (Configuration) -> String?
    ) {
        self.name = name
        self.section = section
        self.defaultText = defaultText
        self.meaning = meaning
        self.unsetText = unsetText
        self.apply = apply
        self.effective = effective
    }
}

extension Configuration {
    /// Every variable spillway reads, in the order of README's tables.
    public static var variableNames: [String] { variables.map(\.name) }

    static let sinkAliases: [String: SinkKind] = ["fluentd": .forward, "awslogs": .cloudwatch]

    static let variables: [Variable] = [
        Variable("SPILLWAY_SINK", .general, default: "console",
                 "forward (alias fluentd), cloudwatch (alias awslogs) or console (JSON lines on stdout)",
                 apply: { d, v throws(Expected) in
                     d.config.sink = try Parse.choice(v, SinkKind.self, aliases: sinkAliases,
                                                      aliasText: " (aliases fluentd, awslogs)")
                 }, effective: { $0.sink.rawValue }),
        Variable("SPILLWAY_MODE", .general, default: "blocking",
                 "blocking, non-blocking or filesystem: what happens when the sink is slow or down",
                 apply: { d, v throws(Expected) in d.config.mode = try Parse.choice(v, Mode.self) },
                 effective: { $0.mode.rawValue }),
        Variable("SPILLWAY_MAX_BUFFER_SIZE", .general, default: "1m",
                 "memory buffer of the blocking and non-blocking modes",
                 apply: { d, v throws(Expected) in
                     d.config.maxBufferSize = try Parse.size(v)
                     d.maxBufferSizeSet = true
                 }, effective: { formatSize($0.maxBufferSize) }),
        Variable("SPILLWAY_DROP", .general, default: "newest",
                 "non-blocking: newest or oldest, which record goes when the buffer is full",
                 apply: { d, v throws(Expected) in d.config.drop = try Parse.choice(v, DropPolicy.self) },
                 effective: { $0.drop.rawValue }),
        Variable("SPILLWAY_STORAGE_PATH", .general, default: "$STATE_DIRECTORY, else /var/lib/spillway/{name}",
                 "filesystem mode: directory for buffered records, one spillway per directory",
                 apply: { d, v throws(Expected) in
                     d.storagePath = try Template.parse(Parse.nonEmpty(v, "a directory"))
                 }, effective: { $0.storage.directory }),
        Variable("SPILLWAY_STORAGE_LIMIT", .general, default: "100m",
                 "filesystem mode: most bytes kept on disk",
                 apply: { d, v throws(Expected) in d.config.storage.limit = try Parse.size(v) },
                 effective: { formatSize($0.storage.limit) }),
        Variable("SPILLWAY_STORAGE_FULL", .general, default: "block",
                 "filesystem mode at the limit: block (backpressure) or drop-oldest (counted)",
                 apply: { d, v throws(Expected) in d.config.storage.full = try Parse.choice(v, FullPolicy.self) },
                 effective: { $0.storage.full.rawValue }),
        Variable("SPILLWAY_STORAGE_SYNC", .general, default: "normal",
                 "normal (fsync on roll and each flush interval) or full (fsync before a batch counts as stored)",
                 apply: { d, v throws(Expected) in d.config.storage.sync = try Parse.choice(v, SyncPolicy.self) },
                 effective: { $0.storage.sync.rawValue }),
        Variable("SPILLWAY_NAME", .general, default: "the command's basename",
                 "instance name: record field container_name, default tag, storage directory",
                 apply: { d, v throws(Expected) in d.config.name = try Parse.name(v) },
                 effective: { $0.name }),
        Variable("SPILLWAY_CONTAINER_ID", .general, default: "unset",
                 "record field container_id and template field {id}",
                 apply: { d, v throws(Expected) in d.config.containerID = try Parse.nonEmpty(v, "a container id") },
                 effective: { $0.containerID }),
        Variable("SPILLWAY_TAG", .general, default: "spillway.{name}",
                 "forward tag; template fields {name}, {id}, {short_id}, {hostname}",
                 apply: { d, v throws(Expected) in d.tag = try Template.parse(Parse.nonEmpty(v, "a tag")) },
                 effective: { $0.forward.tag }),
        Variable("SPILLWAY_MAX_LINE_SIZE", .general, default: "16k (cloudwatch: 1000000)",
                 "longer lines become partial records",
                 apply: { d, v throws(Expected) in
                     d.config.maxLineSize = try Parse.size(v)
                     d.maxLineSizeSet = true
                 }, effective: { formatSize($0.maxLineSize) }),
        Variable("SPILLWAY_MULTILINE_PATTERN", .general, default: "unset",
                 "regex (RE2/awslogs syntax) that starts a new record; other lines join the previous one with \\n",
                 apply: { d, v throws(Expected) in
                     d.config.multiline = MultilineStart.pattern(try Parse.nonEmpty(v, "a regular expression"))
                 }, effective: { if case .pattern(let p) = $0.multiline { p } else { nil } }),
        Variable("SPILLWAY_MULTILINE_DATETIME_FORMAT", .general, default: "unset",
                 "strftime format (%Y-%m-%d ...) whose match anywhere in a line starts a new record",
                 apply: { d, v throws(Expected) in
                     d.multilineDatetimeFormat = try Parse.nonEmpty(v, "an strftime format such as %Y-%m-%d %H:%M:%S")
                 }, effective: { if case .datetimeFormat(let f) = $0.multiline { f } else { nil } }),
        Variable("SPILLWAY_MULTILINE_FLUSH_INTERVAL", .general, default: "1s",
                 "a held multiline record goes out after this long with no new line",
                 apply: { d, v throws(Expected) in d.config.multilineFlushInterval = try Parse.duration(v) },
                 effective: { formatDuration($0.multilineFlushInterval) }),
        Variable("SPILLWAY_FLUSH_INTERVAL", .general, default: "1s",
                 "longest a record waits before its batch is sent",
                 apply: { d, v throws(Expected) in d.config.flushInterval = try Parse.duration(v) },
                 effective: { formatDuration($0.flushInterval) }),
        Variable("SPILLWAY_SHUTDOWN_TIMEOUT", .general, default: "5s",
                 "drain time after the workload exits; keep it below the stop grace period",
                 apply: { d, v throws(Expected) in d.config.shutdownTimeout = try Parse.duration(v) },
                 effective: { formatDuration($0.shutdownTimeout) }),
        Variable("SPILLWAY_PASSTHROUGH", .general, default: "false",
                 "also copy the workload's output to spillway's own stdout/stderr",
                 apply: { d, v throws(Expected) in d.config.passthrough = try Parse.bool(v) },
                 effective: { String($0.passthrough) }),
        Variable("SPILLWAY_SIGNAL_GROUP", .general, default: "false",
                 "signal the workload's process group, and SIGTERM what is left of it when the child exits",
                 apply: { d, v throws(Expected) in d.config.signalGroup = try Parse.bool(v) },
                 effective: { String($0.signalGroup) }),
        Variable("SPILLWAY_SUBREAPER", .general, default: "false",
                 "become a child subreaper when not PID 1",
                 apply: { d, v throws(Expected) in d.config.subreaper = try Parse.bool(v) },
                 effective: { String($0.subreaper) }),
        Variable("SPILLWAY_SECCOMP_PROFILE", .general, default: "unset",
                 "Docker/OCI seccomp profile (JSON file) applied to the workload before exec; 'default' for the built-in profile",
                 apply: { d, v throws(Expected) in d.config.seccompProfile = try Parse.nonEmpty(v, "a path to a seccomp profile") },
                 effective: { $0.seccompProfile }),
        Variable("SPILLWAY_SECCOMP_SELF", .general, default: "false",
                 "confine spillway itself to the syscalls it needs",
                 apply: { d, v throws(Expected) in d.config.seccompSelf = try Parse.bool(v) },
                 effective: { String($0.seccompSelf) }),
        Variable("SPILLWAY_LABELS", .general, default: "unset",
                 "k=v,k=v fields added to every record",
                 apply: { d, v throws(Expected) in d.config.labels = try Parse.labels(v) },
                 effective: { c in c.labels.isEmpty ? nil : c.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",") }),
        Variable("SPILLWAY_ENV", .general, default: "unset",
                 "names of environment variables whose values are added to every record",
                 apply: { d, v throws(Expected) in d.envNames = try Parse.envNames(v) },
                 effective: { c in c.env.isEmpty ? nil : c.env.map(\.name).joined(separator: ",") }),
        Variable("SPILLWAY_LOG_LEVEL", .general, default: "info",
                 "spillway's own diagnostics: debug, info, warning or error",
                 apply: { d, v throws(Expected) in
                     d.config.logLevel = try Parse.choice(v, DiagnosticLevel.self, aliases: ["warn": .warning], aliasText: " (alias warn)")
                 }, effective: { $0.logLevel.rawValue }),
        Variable("SPILLWAY_METRICS_ADDRESS", .general, default: "unset",
                 "tcp://127.0.0.1:PORT, tcp://[::1]:PORT or unix:///path: Prometheus text at GET /metrics",
                 apply: { d, v throws(Expected) in d.config.metricsAddress = try Parse.metricsAddress(v) },
                 effective: { $0.metricsAddress?.description }),
        Variable("SPILLWAY_STALL_WARNING", .general, default: "5s",
                 "warn once when the readers have been paused (the workload blocked on logging) this long",
                 apply: { d, v throws(Expected) in d.config.stallWarning = try Parse.duration(v) },
                 effective: { formatDuration($0.stallWarning) }),
        Variable("SPILLWAY_LOG_CONFIGURATION", .general, default: "unset",
                 "an ECS/Docker logConfiguration JSON object, mapped onto these variables (those set beside it win)",
                 apply: { d, v throws(Expected) in
                     guard Parse.trimmed(v).hasPrefix("{") else { throw Expected("a JSON object such as {\"logDriver\":\"awslogs\",\"options\":{...}}") }
                     d.config.logConfiguration = v
                 }, effective: { c in
                     // A FireLens forward output's Shared_Key is a secret: never printed.
                     guard let text = c.logConfiguration, text.lowercased().contains(text: "shared_key") else { return c.logConfiguration }
                     return "(set, redacted: it holds a Shared_Key)"
                 }),
        Variable("SPILLWAY_LOG_CONFIGURATION_FILE", .general, default: "unset",
                 "the same from a file: a logConfiguration, a container definition or a task definition",
                 apply: { d, v throws(Expected) in d.config.logConfigurationFile = try Parse.nonEmpty(v, "a path to a JSON file") },
                 effective: { $0.logConfigurationFile }),

        Variable("SPILLWAY_FORWARD_ADDRESS", .forward, default: "tcp://127.0.0.1:24224",
                 "tcp://host:port, tls://host:port or unix:///path, comma-separated; ?weight=N&standby=true per server with SPILLWAY_FORWARD_BALANCE",
                 apply: { d, v throws(Expected) in d.config.forward.endpoints = try Parse.forwardAddresses(v) },
                 effective: { $0.forward.endpoints.map(\.description).joined(separator: ",") }),
        Variable("SPILLWAY_FORWARD_BALANCE", .forward, default: "failover",
                 "failover (in order), round-robin or weighted (by each server's weight, Fluentd's out_forward)",
                 apply: { d, v throws(Expected) in d.config.forward.balance = try Parse.choice(v, ForwardBalance.self) },
                 effective: { $0.forward.balance.rawValue }),
        Variable("SPILLWAY_FORWARD_RECOVER_WAIT", .forward, default: "10s",
                 "a failed server gets traffic again this long after a probe succeeds (at once when no other is healthy)",
                 apply: { d, v throws(Expected) in d.config.forward.recoverWait = try Parse.duration(v) },
                 effective: { formatDuration($0.forward.recoverWait) }),
        Variable("SPILLWAY_FORWARD_HEARTBEAT", .forward, default: "transport",
                 "transport (a down server is probed with a connect every second) or none",
                 apply: { d, v throws(Expected) in d.config.forward.heartbeat = try Parse.choice(v, ForwardHeartbeat.self) },
                 effective: { $0.forward.heartbeat.rawValue }),
        Variable("SPILLWAY_FORWARD_REQUIRE_ACK", .forward, default: "true",
                 "release a batch only when the receiver acknowledged its chunk id",
                 apply: { d, v throws(Expected) in d.config.forward.requireAck = try Parse.bool(v) },
                 effective: { String($0.forward.requireAck) }),
        Variable("SPILLWAY_FORWARD_ACK_TIMEOUT", .forward, default: "30s",
                 "no ack by then: reconnect and resend",
                 apply: { d, v throws(Expected) in d.config.forward.ackTimeout = try Parse.duration(v) },
                 effective: { formatDuration($0.forward.ackTimeout) }),
        Variable("SPILLWAY_FORWARD_COMPRESS", .forward, default: "none",
                 "none or gzip (CompressedPackedForward)",
                 apply: { d, v throws(Expected) in d.config.forward.compression = try Parse.choice(v, ForwardCompression.self) },
                 effective: { $0.forward.compression.rawValue }),
        Variable("SPILLWAY_FORWARD_SHARED_KEY", .forward, default: "unset",
                 "shared key for the HELO/PING/PONG handshake",
                 apply: { d, v throws(Expected) in d.config.forward.sharedKey = try Parse.nonEmpty(v, "a shared key") },
                 effective: { $0.forward.sharedKey }),
        Variable("SPILLWAY_FORWARD_USERNAME", .forward, default: "unset",
                 "user name for the handshake (with SPILLWAY_FORWARD_PASSWORD)",
                 apply: { d, v throws(Expected) in d.config.forward.username = try Parse.nonEmpty(v, "a user name") },
                 effective: { $0.forward.username }),
        Variable("SPILLWAY_FORWARD_PASSWORD", .forward, default: "unset",
                 "password for the handshake (with SPILLWAY_FORWARD_USERNAME)",
                 apply: { d, v throws(Expected) in d.config.forward.password = try Parse.nonEmpty(v, "a password") },
                 effective: { $0.forward.password }),
        Variable("SPILLWAY_FORWARD_SELF_HOSTNAME", .forward, default: "the host name",
                 "hostname sent in the handshake",
                 apply: { d, v throws(Expected) in d.config.forward.selfHostname = try Parse.nonEmpty(v, "a host name") },
                 effective: { $0.forward.selfHostname }),
        Variable("SPILLWAY_FORWARD_TLS_CA", .forward, default: "system roots",
                 "PEM file of the CA certificates to trust", unset: "(unset: system roots)",
                 apply: { d, v throws(Expected) in d.config.forward.tlsCAFile = try Parse.nonEmpty(v, "a path to a PEM file") },
                 effective: { $0.forward.tlsCAFile }),
        Variable("SPILLWAY_FORWARD_TLS_CERT", .forward, default: "unset",
                 "client certificate (PEM), with SPILLWAY_FORWARD_TLS_KEY",
                 apply: { d, v throws(Expected) in d.config.forward.tlsCertFile = try Parse.nonEmpty(v, "a path to a PEM file") },
                 effective: { $0.forward.tlsCertFile }),
        Variable("SPILLWAY_FORWARD_TLS_KEY", .forward, default: "unset",
                 "client private key (PEM), with SPILLWAY_FORWARD_TLS_CERT",
                 apply: { d, v throws(Expected) in d.config.forward.tlsKeyFile = try Parse.nonEmpty(v, "a path to a PEM file") },
                 effective: { $0.forward.tlsKeyFile }),
        Variable("SPILLWAY_FORWARD_TLS_VERIFY", .forward, default: "true",
                 "verify the receiver's certificate and host name",
                 apply: { d, v throws(Expected) in d.config.forward.tlsVerify = try Parse.bool(v) },
                 effective: { String($0.forward.tlsVerify) }),
        Variable("SPILLWAY_FORWARD_TIME_AS_INTEGER", .forward, default: "false",
                 "integer seconds instead of EventTime",
                 apply: { d, v throws(Expected) in d.config.forward.timeAsInteger = try Parse.bool(v) },
                 effective: { String($0.forward.timeAsInteger) }),
        Variable("SPILLWAY_FORWARD_CONNECT_TIMEOUT", .forward, default: "5s",
                 "give up a connection attempt after this",
                 apply: { d, v throws(Expected) in d.config.forward.connectTimeout = try Parse.duration(v) },
                 effective: { formatDuration($0.forward.connectTimeout) }),
        Variable("SPILLWAY_FORWARD_WRITE_TIMEOUT", .forward, default: "10s",
                 "a write that makes no progress this long drops the connection",
                 apply: { d, v throws(Expected) in d.config.forward.writeTimeout = try Parse.duration(v) },
                 effective: { formatDuration($0.forward.writeTimeout) }),

        Variable("SPILLWAY_CLOUDWATCH_GROUP", .cloudwatch, default: "required",
                 "log group",
                 apply: { d, v throws(Expected) in d.config.cloudwatch.group = try CloudWatchNames.group(v) },
                 effective: { $0.cloudwatch.group.isEmpty ? nil : $0.cloudwatch.group }),
        Variable("SPILLWAY_CLOUDWATCH_STREAM", .cloudwatch, default: "{name}/{hostname}",
                 "log stream; template fields {name}, {id}, {short_id}, {hostname}",
                 apply: { d, v throws(Expected) in d.stream = try Template.parse(Parse.nonEmpty(v, "a log stream name")) },
                 effective: { $0.cloudwatch.stream }),
        Variable("SPILLWAY_CLOUDWATCH_CREATE_GROUP", .cloudwatch, default: "false",
                 "create the group when missing",
                 apply: { d, v throws(Expected) in d.config.cloudwatch.createGroup = try Parse.bool(v) },
                 effective: { String($0.cloudwatch.createGroup) }),
        Variable("SPILLWAY_CLOUDWATCH_CREATE_STREAM", .cloudwatch, default: "true",
                 "create the stream when missing",
                 apply: { d, v throws(Expected) in d.config.cloudwatch.createStream = try Parse.bool(v) },
                 effective: { String($0.cloudwatch.createStream) }),
        Variable("SPILLWAY_CLOUDWATCH_RETENTION_DAYS", .cloudwatch, default: "unset",
                 "retention of a group spillway creates: 1, 3, 5, 7, 14, 30, ... 3653 days",
                 apply: { d, v throws(Expected) in d.config.cloudwatch.retentionDays = try CloudWatchNames.retention(v) },
                 effective: { $0.cloudwatch.retentionDays.map(String.init) }),
        Variable("SPILLWAY_CLOUDWATCH_REGION", .cloudwatch, default: "AWS_REGION, AWS_DEFAULT_REGION, instance metadata",
                 "AWS region", unset: "(unset: instance metadata)",
                 apply: { d, v throws(Expected) in d.config.cloudwatch.region = try CloudWatchNames.region(v) },
                 effective: { $0.cloudwatch.region }),
        Variable("SPILLWAY_CLOUDWATCH_ENDPOINT", .cloudwatch,
                 default: "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, AWS_ENDPOINT_URL, https://logs.<region>.amazonaws.com",
                 "CloudWatch Logs endpoint URL", unset: "(unset: https://logs.<region>.amazonaws.com)",
                 apply: { d, v throws(Expected) in d.config.cloudwatch.endpoint = try CloudWatchNames.endpoint(v) },
                 effective: { $0.cloudwatch.endpoint }),
        Variable("SPILLWAY_CLOUDWATCH_CREDENTIALS_ENDPOINT", .cloudwatch, default: "unset",
                 "a path such as /v2/credentials/ID on the ECS agent (169.254.170.2): then the only credential source (awslogs-credentials-endpoint)",
                 apply: { d, v throws(Expected) in
                     let path = Parse.trimmed(v)
                     guard path.hasPrefix("/"), !path.contains(where: { $0 == " " || $0 == "?" || $0 == "#" }) else {
                         throw Expected("a path starting with /, such as /v2/credentials/ID")
                     }
                     d.config.cloudwatch.credentialsEndpoint = path
                 }, effective: { $0.cloudwatch.credentialsEndpoint }),
        Variable("SPILLWAY_CLOUDWATCH_FORMAT", .cloudwatch, default: "unset",
                 "json/emf sends the x-amzn-logs-format header (embedded metric format)",
                 apply: { d, v throws(Expected) in
                     guard v == "json/emf" else { throw Expected("json/emf (or leave it unset)") }
                     d.config.cloudwatch.format = v
                 }, effective: { $0.cloudwatch.format }),
        Variable("SPILLWAY_CLOUDWATCH_MESSAGE", .cloudwatch, default: "line",
                 "line (the event is the line), record (the record as a JSON object, as FireLens sends it) or field:NAME (that field's value, as FireLens log_key)",
                 apply: { d, v throws(Expected) in
                     let s = Parse.trimmed(v)
                     switch s.lowercased() {
                     case "line": d.cloudWatchMessage = .line
                     case "record": d.cloudWatchMessage = .record
                     case let f where f.hasPrefix("field:") && f.count > 6: d.cloudWatchMessage = .field(String(s.dropFirst(6)))
                     default: throw Expected("line, record or field:NAME")
                     }
                 }, effective: { c in
                     switch c.cloudwatch.message {
                     case .line: "line"
                     case .record: "record"
                     case .source: "field:source"
                     case .fixed(let field, _): "field:" + field
                     }
                 }),
    ]

    static func variable(named name: String) -> Variable? {
        variables.first { $0.name == name }
    }
}

/// CloudWatch Logs' own naming rules, checked here so a typo is a 125 rather than an endless retry.
enum CloudWatchNames {
    static func group(_ raw: String) throws(Expected) -> String {
        let ok = (1...512).contains(raw.utf8.count) && raw.unicodeScalars.allSatisfy {
            Parse.isNameCharacter($0) || $0 == "/" || $0 == "#"
        }
        guard ok else { throw Expected("a log group name of 1-512 letters, digits, '.', '_', '-', '/' and '#'") }
        return raw
    }

    static func stream(_ s: String) throws(Expected) -> String {
        guard (1...512).contains(s.utf8.count), !s.contains(where: { $0 == ":" || $0 == "*" }) else {
            throw Expected("a log stream name of 1-512 characters without ':' or '*'; it expands to \"\(s)\"")
        }
        return s
    }

    static func retention(_ raw: String) throws(Expected) -> Int {
        guard let days = Parse.integer(raw), Configuration.cloudWatchRetentionDays.contains(days) else {
            throw Expected("one of " + Configuration.cloudWatchRetentionDays.map(String.init).joined(separator: ", ") + " (days)")
        }
        return days
    }

    static func region(_ raw: String) throws(Expected) -> String {
        let ok = !raw.isEmpty && raw.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        guard ok else { throw Expected("an AWS region such as us-east-1") }
        return raw
    }

    static func endpoint(_ raw: String) throws(Expected) -> String {
        let lower = raw.lowercased()
        let rest = lower.hasPrefix("https://") ? lower.dropFirst(8) : lower.hasPrefix("http://") ? lower.dropFirst(7) : nil
        guard let rest, !rest.isEmpty, !rest.hasPrefix("/"), !raw.contains(where: { $0 == " " }) else {
            throw Expected("a URL such as https://logs.us-east-1.amazonaws.com")
        }
        return raw
    }
}
