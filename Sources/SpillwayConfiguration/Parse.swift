import SpillwayCloudWatch
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward

extension Configuration {
    /// What the configuration is for: a workload's start (and `--check-config`), or `--drain`,
    /// which delivers filesystem mode's backlog and so implies that mode.
    public enum Purpose: Sendable { case run, drain }

    /// Reads the configuration from an environment: the only entry. Pure: the caller passes the
    /// environment, the workload's command (for the default name) and the host name (for
    /// templates). Refuses what this build does not have, resolves the AWS fallbacks, and
    /// checks every rule between variables.
    ///
    /// Per-variable errors come from the first bad variable in sorted key order; cross-field
    /// rules run afterwards in a fixed order, so the same environment always gives the same line.
    public static func parse(
        environment: [String: String], command: [String], hostname: String, for purpose: Purpose = .run,
        logConfiguration inputs: LogConfigurationInputs = LogConfigurationInputs()
    ) throws(ConfigurationError) -> Configuration {
        try read(environment: environment, command: command, hostname: hostname, for: purpose, logConfiguration: inputs)
    }

    /// `parse`'s body, internal so that the tests share one entry with it.
    static func read(
        environment real: [String: String], command: [String], hostname: String, for purpose: Purpose = .run,
        logConfiguration inputs: LogConfigurationInputs = LogConfigurationInputs()
    ) throws(ConfigurationError) -> Configuration {
        // The logConfiguration's variables lie beneath the environment's: a variable set wins.
        let layer = try logConfigurationLayer(environment: real, inputs: inputs)
        var layered = layer?.values ?? [:]
        // The two start rules are one slot: either one set in the environment replaces the object's.
        let multiline = ["SPILLWAY_MULTILINE_PATTERN", "SPILLWAY_MULTILINE_DATETIME_FORMAT"]
        if multiline.contains(where: { real[$0] != nil }) { multiline.forEach { layered[$0] = nil } }
        let environment = real.merging(layered) { set, _ in set }
        var draft = Draft(config: defaults(command: command, hostname: hostname, environment: real))

        for key in environment.keys.sorted() where key.hasPrefix("SPILLWAY_") {
            let value = environment[key]!
            let option = real[key] == nil ? layer.flatMap { l in l.options[key].map { "\(l.variable) option \($0)" } } : nil
            guard let variable = variable(named: key) else {
                // A layer key no variable has would be a bug of the mapping table: reported as unknown.
                throw ConfigurationError(variable: key, value: nil, expected: suggestion(for: key), kind: .unknownVariable)
            }
            do {
                try variable.apply(&draft, value)
            } catch {
                throw ConfigurationError(variable: option ?? key, value: value, expected: error.text)
            }
        }
        for key in environment.keys where key.hasPrefix("SPILLWAY_") {
            draft.config.origins[key] = real[key] != nil ? "environment" : layer?.origins[key]
        }
        if purpose == .drain {
            // The backlog is filesystem mode's; any other mode is a mistake worth naming.
            if let mode = environment["SPILLWAY_MODE"], draft.config.mode != .filesystem {
                throw ConfigurationError(
                    variable: "SPILLWAY_MODE", value: mode, expected: "filesystem (or unset) with --drain")
            }
            draft.config.mode = .filesystem
        }

        return try resolve(draft, environment: environment, hostname: hostname)
    }

    /// Defaults as README's tables give them (the sinks' and the disk buffer's own defaults);
    /// templates, record fields and sink-dependent values are filled in by `resolve`.
    static func defaults(command: [String], hostname: String, environment: [String: String]) -> Configuration {
        let name = Parse.defaultName(command: command)
        return Configuration(
            sink: .console, mode: .blocking, maxBufferSize: 1 << 20, drop: .newest,
            storage: DiskBufferOptions(directory: ""),
            name: name, containerID: nil,
            maxLineSize: 16 << 10, multiline: nil, multilineFlushInterval: .seconds(1),
            flushInterval: .seconds(1), shutdownTimeout: .seconds(5),
            passthrough: false, signalGroup: false, subreaper: false,
            seccompProfile: nil, seccompSelf: false, labels: [], env: [], logLevel: .info,
            logConfiguration: nil, logConfigurationFile: nil, origins: [:],
            metricsAddress: nil, stallWarning: .seconds(5),
            forward: ForwardSinkOptions(tag: "", fields: RecordFields(containerName: name), selfHostname: hostname),
            cloudwatch: CloudWatchSinkOptions(
                group: "", stream: "", environment: environment.filter { $0.key.hasPrefix("AWS_") || $0.key == "HOME" })
        )
    }

    /// Cross-field rules and everything that depends on more than one variable.
    private static func resolve(
        _ draft: Draft, environment env: [String: String], hostname: String
    ) throws(ConfigurationError) -> Configuration {
        var c = draft.config
        func fail(_ name: String, _ expected: String) -> ConfigurationError {
            // A value the logConfiguration gave is reported against its option.
            let origin = c.origins[name].flatMap { $0.hasPrefix("logConfiguration") ? " (from \($0))" : nil } ?? ""
            return ConfigurationError(variable: name + origin, value: env[name], expected: expected)
        }

        // Docker refuses awslogs-datetime-format with awslogs-multiline-pattern too.
        if let format = draft.multilineDatetimeFormat {
            if c.multiline != nil {
                throw fail("SPILLWAY_MULTILINE_DATETIME_FORMAT",
                           "unset while SPILLWAY_MULTILINE_PATTERN is set (one start rule: set one of the two)")
            }
            c.multiline = .datetimeFormat(format)
        }
        _ = try c.multilineRegex()

        // Sink-dependent defaults and limits.
        if c.sink == .cloudwatch {
            guard !c.cloudwatch.group.isEmpty else {
                throw fail("SPILLWAY_CLOUDWATCH_GROUP", "a log group name (required with SPILLWAY_SINK=cloudwatch)")
            }
            if !draft.maxLineSizeSet {
                c.maxLineSize = cloudWatchMaxEventSize
            } else if c.maxLineSize > cloudWatchMaxEventSize {
                throw fail("SPILLWAY_MAX_LINE_SIZE", "at most \(cloudWatchMaxEventSize) bytes with the cloudwatch sink (its event cap)")
            }
        }
        guard c.maxLineSize >= 1 else { throw fail("SPILLWAY_MAX_LINE_SIZE", "at least 1 byte") }

        // A buffer must hold one maximal record, or a long line could never enter it.
        let smallest = c.maxLineSize + LogRecord.overhead
        if c.maxBufferSize < smallest {
            let why = draft.maxBufferSizeSet ? "" : "; the default \(formatSize(c.maxBufferSize)) is too small"
            throw fail("SPILLWAY_MAX_BUFFER_SIZE",
                       "at least \(smallest) bytes (SPILLWAY_MAX_LINE_SIZE \(c.maxLineSize) + \(LogRecord.overhead) per record)\(why)")
        }
        if c.mode == .filesystem, c.storage.limit < smallest {
            throw fail("SPILLWAY_STORAGE_LIMIT",
                       "at least \(smallest) bytes (SPILLWAY_MAX_LINE_SIZE \(c.maxLineSize) + \(LogRecord.overhead) per record)")
        }
        guard c.storage.limit >= 1 else { throw fail("SPILLWAY_STORAGE_LIMIT", "at least 1 byte") }

        // Durations: zero would spin or never wait; only the shutdown timeout may be zero.
        let positive: [(String, Duration)] = [
            ("SPILLWAY_FLUSH_INTERVAL", c.flushInterval),
            ("SPILLWAY_MULTILINE_FLUSH_INTERVAL", c.multilineFlushInterval),
            ("SPILLWAY_FORWARD_ACK_TIMEOUT", c.forward.ackTimeout),
            ("SPILLWAY_FORWARD_CONNECT_TIMEOUT", c.forward.connectTimeout),
            ("SPILLWAY_FORWARD_WRITE_TIMEOUT", c.forward.writeTimeout),
            ("SPILLWAY_STALL_WARNING", c.stallWarning),
        ]
        for (name, d) in positive where d <= .zero {
            throw fail(name, "a duration greater than zero, such as 250ms, 5s or 1m")
        }

        // Server options mean something only to the balanced modes; a weight ignored would mislead.
        let servers = c.forward.endpoints
        switch c.forward.balance {
        case .failover where servers.contains(where: { $0.weight != ForwardEndpoint.defaultWeight || $0.standby }):
            throw fail("SPILLWAY_FORWARD_ADDRESS",
                       "addresses without ?weight= or ?standby= while SPILLWAY_FORWARD_BALANCE is failover (set it to weighted or round-robin)")
        case .roundRobin where servers.contains(where: { $0.weight != ForwardEndpoint.defaultWeight }):
            throw fail("SPILLWAY_FORWARD_ADDRESS",
                       "addresses without ?weight= while SPILLWAY_FORWARD_BALANCE is round-robin (weights need weighted)")
        default:
            break
        }
        if c.forward.balance != .failover, !servers.contains(where: { !$0.standby && $0.weight > 0 }) {
            throw fail("SPILLWAY_FORWARD_ADDRESS", "at least one server that is not a standby and has a weight above 0")
        }

        if c.passthrough, c.sink == .console {
            throw fail("SPILLWAY_PASSTHROUGH",
                       "false with SPILLWAY_SINK=console (both would write to spillway's stdout)")
        }

        // Forward handshake and TLS: half a pair would silently disable authentication.
        let f = c.forward
        if f.username != nil, f.password == nil {
            throw fail("SPILLWAY_FORWARD_PASSWORD", "a password, since SPILLWAY_FORWARD_USERNAME is set")
        }
        if f.password != nil, f.username == nil {
            throw fail("SPILLWAY_FORWARD_USERNAME", "a user name, since SPILLWAY_FORWARD_PASSWORD is set")
        }
        if f.username != nil, f.sharedKey == nil {
            throw fail("SPILLWAY_FORWARD_SHARED_KEY",
                       "a shared key, since SPILLWAY_FORWARD_USERNAME and SPILLWAY_FORWARD_PASSWORD are set "
                           + "(user authentication happens inside the shared-key handshake)")
        }
        if f.tlsCertFile != nil, f.tlsKeyFile == nil {
            throw fail("SPILLWAY_FORWARD_TLS_KEY", "a private key file, since SPILLWAY_FORWARD_TLS_CERT is set")
        }
        if f.tlsKeyFile != nil, f.tlsCertFile == nil {
            throw fail("SPILLWAY_FORWARD_TLS_CERT", "a certificate file, since SPILLWAY_FORWARD_TLS_KEY is set")
        }

        // Templates: {id} with no id would quietly produce names like "app." or "app/".
        let templates: [(String, Template)] = [
            ("SPILLWAY_STORAGE_PATH", draft.storagePath ?? Template(parts: [])),
            ("SPILLWAY_TAG", draft.tag),
            ("SPILLWAY_CLOUDWATCH_STREAM", draft.stream),
        ]
        for (name, template) in templates where template.usesID && c.containerID == nil {
            // A stream prefix's task id: on ECS main reads it from the task metadata endpoint.
            let ecs = c.origins[name]?.hasPrefix("logConfiguration") == true ? " (or ECS_CONTAINER_METADATA_URI_V4 for the task id)" : ""
            throw fail(name, "a template whose {id} has a value: set SPILLWAY_CONTAINER_ID\(ecs) or remove {id}")
        }
        c.forward.tag = draft.tag.expand(name: c.name, id: c.containerID, hostname: hostname)
        c.cloudwatch.stream = draft.stream.expand(name: c.name, id: c.containerID, hostname: hostname)
        if let path = draft.storagePath {
            c.storage.directory = path.expand(name: c.name, id: c.containerID, hostname: hostname)
        } else if let state = env["STATE_DIRECTORY"], !state.isEmpty {
            // systemd lists one directory per StateDirectory= entry, colon-separated: take the first.
            c.storage.directory = String(state.split(separator: ":").first ?? Substring(state))
        } else {
            c.storage.directory = "/var/lib/spillway/" + c.name
        }
        if c.sink == .cloudwatch {
            do { _ = try CloudWatchNames.stream(c.cloudwatch.stream) } catch {
                throw fail("SPILLWAY_CLOUDWATCH_STREAM", error.text)
            }
        }

        // Record fields: an env entry may not collide with a label.
        var fields: [RecordFields.Field] = []
        for name in draft.envNames {
            if c.labels.contains(where: { $0.name == name }) {
                throw fail("SPILLWAY_ENV", "names that are not also SPILLWAY_LABELS keys; \(name) is both")
            }
            if let value = env[name] { fields.append(RecordFields.Field(name: name, value: value)) }
        }
        c.env = fields
        c.forward.fields = c.recordFields
        switch draft.cloudWatchMessage {
        case .line: break
        case .record: c.cloudwatch.message = .record(c.recordFields)
        case .field(let name):
            // Every record carries the same fields, so a missing one is known now: Fluent Bit
            // would log an error and skip each record; spillway refuses to start instead.
            let fixed = [("container_name", c.name)] + (c.containerID.map { [("container_id", $0)] } ?? [])
                + c.recordFields.extra.map { ($0.name, $0.value) }
            if name == "log" {
                c.cloudwatch.message = .line
            } else if name == "source" {
                c.cloudwatch.message = .source
            } else if let value = fixed.first(where: { $0.0 == name })?.1 {
                c.cloudwatch.message = .fixed(field: name, value: value)
            } else {
                let names = (["log", "source"] + fixed.map(\.0)).joined(separator: ", ")
                throw fail("SPILLWAY_CLOUDWATCH_MESSAGE", "field:NAME naming a field every record has (\(names)); \(name) is none of them")
            }
        }

        // AWS fallbacks, as the AWS SDKs read them; a bad one matters only to the cloudwatch sink.
        let sources = c.cloudwatch.fallbackSources()
        for (name, source) in [("SPILLWAY_CLOUDWATCH_REGION", sources.region), ("SPILLWAY_CLOUDWATCH_ENDPOINT", sources.endpoint)] {
            if let source, c.origins[name] == nil { c.origins[name] = "environment \(source)" }
        }
        do {
            c.cloudwatch = try c.cloudwatch.withEnvironmentFallbacks()
        } catch let error where c.sink == .cloudwatch {
            throw error
        } catch {}
        return c
    }

    /// "did you mean" for a misspelt name: case slips, small edits, or a missing section prefix
    /// (SPILLWAY_GROUP for SPILLWAY_CLOUDWATCH_GROUP).
    static func suggestion(for key: String) -> String {
        let upper = key.uppercased()
        if variable(named: upper) != nil { return "did you mean \(upper)? (names are case-sensitive)" }
        // A missing or wrong section is a stronger hint than a small edit
        // (SPILLWAY_GROUP means SPILLWAY_CLOUDWATCH_GROUP, not SPILLWAY_DROP).
        var core = Substring(upper.dropFirst("SPILLWAY_".count))
        for section in ["FORWARD_", "CLOUDWATCH_"] where core.hasPrefix(section) { core = core.dropFirst(section.count) }
        let resectioned = ["SPILLWAY_", "SPILLWAY_FORWARD_", "SPILLWAY_CLOUDWATCH_"]
            .map { $0 + core }
            .filter { variable(named: $0) != nil }
        if resectioned.count == 1 { return "did you mean \(resectioned[0])?" }
        let scored = variables.map { ($0.name, Parse.levenshtein(upper, $0.name)) }
        if let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 3 { return "did you mean \(best.0)?" }
        return "spillway --help lists the variables it knows"
    }
}
