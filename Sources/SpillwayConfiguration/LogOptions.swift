import SpillwayCore
import SpillwaySystem

/// An option refused or malformed: errors name the option, as Docker's do.
struct LogOptionError: Error {
    var option: String
    var value: String?
    var expected: String
}

/// The one mapping table from `logConfiguration` options to SPILLWAY_* variables (README,
/// "Coming from awslogs / fluentd / FireLens", lists the same rows). A row either maps its value
/// onto variables or refuses it; an option no row names is refused, as Docker refuses it.
enum LogOptions {
    enum Driver: String, Sendable { case awslogs, fluentd, firelensCloudWatch, firelensForward }

    struct Context {
        var layer: LogConfigurationLayer
        var option: String
        let taskID: String?
        let container: JSONValue?
        /// Spillway's environment, which the workload inherits (env-regex matches its names).
        let environment: [String: String]
        mutating func set(_ variable: String, _ value: String) { layer.set(variable, value, option: option) }
    }

    struct Row: Sendable {
        let option: String
        let drivers: Set<Driver>
        /// nil: refused, `why` says what to do instead.
        let map: (@Sendable (String, inout Context) throws(Expected) -> Void)?
        let why: String

        init(_ option: String, _ drivers: Set<Driver>, _ map: @escaping @Sendable (String, inout Context) throws(Expected) -> Void) {
            (self.option, self.drivers, self.map, self.why) = (option, drivers, map, "")
        }

        init(_ option: String, _ drivers: Set<Driver>, refused why: String) {
            (self.option, self.drivers, self.map, self.why) = (option, drivers, nil, why)
        }
    }

    static let everyDriver: Set<Driver> = [.awslogs, .fluentd, .firelensCloudWatch, .firelensForward]
    static let firelens: Set<Driver> = [.firelensCloudWatch, .firelensForward]

    static let rows: [Row] = [
        // Docker's generic options, and spillway's own in the same spirit.
        Row("mode", everyDriver, to("SPILLWAY_MODE")),
        Row("max-buffer-size", everyDriver, to("SPILLWAY_MAX_BUFFER_SIZE")),
        Row("drop", everyDriver, to("SPILLWAY_DROP")),
        Row("storage-path", everyDriver, to("SPILLWAY_STORAGE_PATH")),
        Row("storage-limit", everyDriver, to("SPILLWAY_STORAGE_LIMIT")),
        Row("storage-full", everyDriver, to("SPILLWAY_STORAGE_FULL")),
        Row("storage-sync", everyDriver, to("SPILLWAY_STORAGE_SYNC")),
        // Docker's dual-logging cache serves `docker logs`; spillway keeps no local copy to cache.
        Row("cache-disabled", everyDriver, checkedBool),
        Row("cache-max-size", everyDriver, { v, _ throws(Expected) in _ = try Parse.size(v) }),
        Row("cache-max-file", everyDriver, { v, _ throws(Expected) in
            guard let n = Parse.integer(v), n > 0 else { throw Expected("a positive whole number") }
        }),
        Row("cache-compress", everyDriver, checkedBool),

        // awslogs (moby daemon/logger/awslogs) and the ECS agent's awslogs-stream-prefix.
        Row("awslogs-group", [.awslogs], to("SPILLWAY_CLOUDWATCH_GROUP")),
        Row("awslogs-region", [.awslogs], to("SPILLWAY_CLOUDWATCH_REGION")),
        Row("awslogs-stream", [.awslogs], { v, c throws(Expected) in c.set("SPILLWAY_CLOUDWATCH_STREAM", literal(v)) }),
        Row("awslogs-stream-prefix", [.awslogs], { v, c throws(Expected) in
            // ECS names the stream prefix/container-name/task-id.
            guard !v.isEmpty else { throw Expected("a stream prefix") }
            c.set("SPILLWAY_CLOUDWATCH_STREAM", literal(v) + "/{name}/" + (c.taskID.map(literal) ?? "{id}"))
        }),
        Row("awslogs-create-group", [.awslogs], bool("SPILLWAY_CLOUDWATCH_CREATE_GROUP")),
        Row("awslogs-create-stream", [.awslogs], bool("SPILLWAY_CLOUDWATCH_CREATE_STREAM")),
        Row("awslogs-endpoint", [.awslogs], to("SPILLWAY_CLOUDWATCH_ENDPOINT")),
        Row("awslogs-credentials-endpoint", [.awslogs], to("SPILLWAY_CLOUDWATCH_CREDENTIALS_ENDPOINT")),
        Row("awslogs-datetime-format", [.awslogs], to("SPILLWAY_MULTILINE_DATETIME_FORMAT")),
        Row("awslogs-multiline-pattern", [.awslogs], to("SPILLWAY_MULTILINE_PATTERN")),
        Row("awslogs-format", [.awslogs], to("SPILLWAY_CLOUDWATCH_FORMAT")),
        Row("awslogs-force-flush-interval-seconds", [.awslogs], { v, c throws(Expected) in
            guard let n = Parse.integer(v), n > 0 else { throw Expected("a positive whole number of seconds") }
            c.set("SPILLWAY_FLUSH_INTERVAL", "\(n)s")
        }),
        // A count of events in Docker; spillway's bound is max-buffer-size, in bytes.
        Row("awslogs-max-buffered-events", [.awslogs], { v, _ throws(Expected) in
            guard let n = Parse.integer(v), n > 0 else { throw Expected("a positive whole number") }
        }),
        Row("awslogs-datetime-as-event-time", [.awslogs], { v, _ throws(Expected) in
            guard try goBool(v) == "false" else {
                throw Expected("false: spillway stamps each record with the time it read the line, not a time parsed from it")
            }
        }),
        Row("awslogs-datetime-timezone", [.awslogs], refused: "nothing: it needs awslogs-datetime-as-event-time, which spillway does not do"),
        // Docker reads the tag, then lets awslogs-stream (which the ECS agent makes of the prefix) win.
        Row("tag", [.awslogs], { v, c throws(Expected) in
            let stream = try goTemplate(v)
            if c.layer.values["SPILLWAY_CLOUDWATCH_STREAM"] == nil { c.set("SPILLWAY_CLOUDWATCH_STREAM", stream) }
        }),

        // fluentd (moby daemon/logger/fluentd).
        Row("fluentd-address", [.fluentd], { v, c throws(Expected) in c.set("SPILLWAY_FORWARD_ADDRESS", try fluentdAddress(v)) }),
        Row("tag", [.fluentd], { v, c throws(Expected) in c.set("SPILLWAY_TAG", try goTemplate(v)) }),
        Row("labels", [.fluentd], { v, c throws(Expected) in c.set("SPILLWAY_LABELS", try dockerLabels(v, c.container)) }),
        // Rows run in sorted order: labels-regex and env-regex add to what labels and env chose.
        Row("labels-regex", [.fluentd], { v, c throws(Expected) in
            let regex = try compile(v)
            let labels = try dockerLabels(c.container)
            let chosen = c.layer.values["SPILLWAY_LABELS"].map { [$0] } ?? []
            let named = Set(chosen.flatMap { $0.split(separator: ",").map { String($0.prefix { $0 != "=" }) } })
            let matching = labels.keys.sorted().filter { !named.contains($0) && regex.matches(Array($0.utf8)[...]) }
            let pairs = chosen + matching.compactMap { name in labels[name]?.string.map { "\(name)=\($0)" } }
            c.set("SPILLWAY_LABELS", pairs.joined(separator: ","))
        }),
        Row("env", [.fluentd], to("SPILLWAY_ENV")),
        Row("env-regex", [.fluentd], { v, c throws(Expected) in
            let regex = try compile(v)
            let chosen = c.layer.values["SPILLWAY_ENV"].map { $0.split(separator: ",").map(String.init) } ?? []
            // Never spillway's own variables or the secrets SPILLWAY_ENV refuses by name.
            let matching = c.environment.keys.sorted().filter { name in
                !chosen.contains(name) && !name.hasPrefix("SPILLWAY_") && !Parse.secretEnvironment.contains(name)
                    && !Configuration.reservedRecordFields.contains(name) && regex.matches(Array(name.utf8)[...])
            }
            c.set("SPILLWAY_ENV", (chosen + matching).joined(separator: ","))
        }),
        Row("fluentd-async", [.fluentd], checkedBool),
        Row("fluentd-async-connect", [.fluentd], checkedBool),
        Row("fluentd-async-reconnect-interval", [.fluentd], { v, _ throws(Expected) in
            let d = try Parse.duration(v)
            guard d == .zero || (Duration.milliseconds(100)...Duration.seconds(10)).contains(d) else {
                throw Expected("a duration from 100ms to 10s (Docker's range)")
            }
        }),
        // A count of pending messages in fluent-logger-golang; spillway's bound is max-buffer-size, in bytes.
        Row("fluentd-buffer-limit", [.fluentd], { v, _ throws(Expected) in _ = try Parse.size(v) }),
        Row("fluentd-retry-wait", [.fluentd], { v, _ throws(Expected) in _ = try Parse.duration(v) }),
        Row("fluentd-max-retries", [.fluentd], { v, _ throws(Expected) in
            guard let n = Parse.integer(v), n >= 0 else { throw Expected("a whole number") }
        }),
        Row("fluentd-sub-second-precision", [.fluentd], { v, c throws(Expected) in
            c.set("SPILLWAY_FORWARD_TIME_AS_INTEGER", try goBool(v) == "true" ? "false" : "true")
        }),
        Row("fluentd-request-ack", [.fluentd], bool("SPILLWAY_FORWARD_REQUIRE_ACK")),
        Row("fluentd-read-timeout", [.fluentd], timeout("SPILLWAY_FORWARD_ACK_TIMEOUT")),
        Row("fluentd-write-timeout", [.fluentd], timeout("SPILLWAY_FORWARD_WRITE_TIMEOUT")),

        // awsfirelens: the Fluent Bit output's options (names case-insensitive, as in Fluent Bit).
        Row("name", firelens, { _, _ throws(Expected) in }),
        Row("region", [.firelensCloudWatch], to("SPILLWAY_CLOUDWATCH_REGION")),
        Row("log_group_name", [.firelensCloudWatch], to("SPILLWAY_CLOUDWATCH_GROUP")),
        Row("log_stream_name", [.firelensCloudWatch], { v, c throws(Expected) in c.set("SPILLWAY_CLOUDWATCH_STREAM", literal(v)) }),
        Row("log_stream_prefix", [.firelensCloudWatch], { v, c throws(Expected) in
            // FireLens tags a container's records <container name>-firelens-<task id>.
            c.set("SPILLWAY_CLOUDWATCH_STREAM", literal(v) + "{name}-firelens-" + (c.taskID.map(literal) ?? "{id}"))
        }),
        Row("auto_create_group", [.firelensCloudWatch], { v, c throws(Expected) in c.set("SPILLWAY_CLOUDWATCH_CREATE_GROUP", try fluentBitBool(v)) }),
        Row("log_retention_days", [.firelensCloudWatch], to("SPILLWAY_CLOUDWATCH_RETENTION_DAYS")),
        Row("endpoint", [.firelensCloudWatch], { v, c throws(Expected) in
            c.set("SPILLWAY_CLOUDWATCH_ENDPOINT", v.contains(text: "://") ? v : "https://" + v)
        }),
        Row("log_key", [.firelensCloudWatch], { v, c throws(Expected) in
            guard !Parse.trimmed(v).isEmpty else { throw Expected("the name of a record field, such as log") }
            c.set("SPILLWAY_CLOUDWATCH_MESSAGE", v == "log" ? "line" : "field:" + v)
        }),
        Row("log_format", [.firelensCloudWatch], to("SPILLWAY_CLOUDWATCH_FORMAT")),
        Row("retry_limit", firelens, { v, _ throws(Expected) in
            let lower = Parse.trimmed(v).lowercased()
            guard lower == "false" || lower == "no_limits" || (Parse.integer(v) ?? -1) >= 0 else {
                throw Expected("a number, False or no_limits")
            }
        }),
        Row("host", [.firelensForward], { _, _ throws(Expected) in }),
        Row("port", [.firelensForward], { _, _ throws(Expected) in }),
        Row("tls", [.firelensForward], { v, _ throws(Expected) in _ = try fluentBitBool(v) }),
        Row("tls.verify", [.firelensForward], { v, c throws(Expected) in c.set("SPILLWAY_FORWARD_TLS_VERIFY", try fluentBitBool(v)) }),
        Row("shared_key", [.firelensForward], to("SPILLWAY_FORWARD_SHARED_KEY")),
    ]

    /// Translates `logConfiguration` (logDriver and options) into `layer`.
    static func translate(
        _ logConfiguration: JSONValue, container: JSONValue?, taskID: String?, environment: [String: String],
        into layer: inout LogConfigurationLayer
    ) throws(LogOptionError) {
        var options: [String: String] = [:]
        if case .object(let members)? = logConfiguration["options"] {
            for (key, value) in members {
                guard let s = value.string else { throw LogOptionError(option: key, value: nil, expected: "a string value") }
                options[key] = s
            }
        } else if let o = logConfiguration["options"], o != .null {
            throw LogOptionError(option: "options", value: nil, expected: "an object of string values")
        }
        if case .array(let secrets)? = logConfiguration["secretOptions"], !secrets.isEmpty {
            throw LogOptionError(option: "secretOptions", value: nil,
                                 expected: "none: spillway cannot resolve Secrets Manager or SSM references; pass the value in a SPILLWAY_* variable")
        }
        let driverName = logConfiguration["logDriver"]?.string ?? ""
        let driver: Driver
        let isFirelens = driverName == "awsfirelens"
        if isFirelens {
            // Fluent Bit's keys are case-insensitive.
            options = Dictionary(options.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
            switch options["name"]?.lowercased() {
            case "cloudwatch_logs", "cloudwatch": driver = .firelensCloudWatch
            case "forward": driver = .firelensForward
            default:
                throw LogOptionError(option: "Name", value: options["name"],
                                     expected: "cloudwatch_logs, cloudwatch or forward (the Fluent Bit outputs spillway replaces)")
            }
        } else if driverName == "awslogs" {
            driver = .awslogs
        } else if driverName == "fluentd" {
            driver = .fluentd
        } else {
            throw LogOptionError(option: "logDriver", value: driverName, expected: "awslogs, fluentd or awsfirelens")
        }
        layer.set("SPILLWAY_SINK", driver == .awslogs || driver == .firelensCloudWatch ? "cloudwatch" : "forward", option: "logDriver")
        if driver == .firelensCloudWatch, options["log_key"] == nil {
            layer.set("SPILLWAY_CLOUDWATCH_MESSAGE", "record", option: "Name")
        }

        var context = Context(layer: layer, option: "", taskID: taskID, container: container, environment: environment)
        for key in options.keys.sorted() {
            let value = options[key]!
            guard let row = rows.first(where: { $0.option == key && $0.drivers.contains(driver) }) else {
                throw LogOptionError(option: key, value: value, expected: "an option the \(driverName) log driver knows (unknown log opt)")
            }
            guard let map = row.map else {
                throw LogOptionError(option: key, value: value, expected: row.why)
            }
            context.option = key
            do { try map(value, &context) } catch { throw LogOptionError(option: key, value: value, expected: error.text) }
        }
        layer = context.layer
        try crossChecks(options, driver: driver)
        if driver == .firelensForward { try forwardAddress(options, into: &layer) }
    }

    /// Rules between options, as Docker and Fluent Bit apply them.
    private static func crossChecks(_ o: [String: String], driver: Driver) throws(LogOptionError) {
        func both(_ a: String, _ b: String) -> LogOptionError {
            LogOptionError(option: b, value: o[b], expected: "not both \(a) and \(b)")
        }
        switch driver {
        case .awslogs:
            guard o["awslogs-group"] != nil else {
                throw LogOptionError(option: "awslogs-group", value: nil, expected: "a log group (awslogs requires awslogs-group)")
            }
            if o["awslogs-datetime-format"] != nil, o["awslogs-multiline-pattern"] != nil {
                throw both("awslogs-datetime-format", "awslogs-multiline-pattern")
            }
            if o["awslogs-format"] == "json/emf" {
                for key in ["awslogs-datetime-format", "awslogs-multiline-pattern"] where o[key] != nil {
                    throw LogOptionError(option: key, value: o[key], expected: "unset when awslogs-format is json/emf (as in Docker)")
                }
            }
            if o["awslogs-stream"] != nil, o["awslogs-stream-prefix"] != nil { throw both("awslogs-stream", "awslogs-stream-prefix") }
        case .firelensCloudWatch:
            guard o["log_group_name"] != nil else {
                throw LogOptionError(option: "log_group_name", value: nil, expected: "a log group (the cloudwatch output requires log_group_name)")
            }
            if o["log_stream_name"] != nil, o["log_stream_prefix"] != nil { throw both("log_stream_name", "log_stream_prefix") }
            if o["log_stream_name"] == nil, o["log_stream_prefix"] == nil {
                throw LogOptionError(option: "log_stream_name", value: nil, expected: "log_stream_name or log_stream_prefix (as Fluent Bit requires)")
            }
        case .fluentd, .firelensForward:
            break
        }
    }

    /// Fluent Bit's forward output: Host (default 127.0.0.1), Port (default 24224), tls.
    private static func forwardAddress(_ o: [String: String], into layer: inout LogConfigurationLayer) throws(LogOptionError) {
        let host = o["host"] ?? "127.0.0.1"
        let port = o["port"] ?? "24224"
        guard let p = Parse.integer(port), (1...65535).contains(p) else {
            throw LogOptionError(option: "Port", value: port, expected: "a port number 1-65535")
        }
        let tls = (try? fluentBitBool(o["tls"] ?? "off")) == "true"
        let bracketed = host.contains(text: ":") ? "[\(host)]" : host
        layer.set("SPILLWAY_FORWARD_ADDRESS", "\(tls ? "tls" : "tcp")://\(bracketed):\(p)", option: o["host"] != nil ? "Host" : "Port")
    }
}
