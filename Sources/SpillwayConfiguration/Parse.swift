extension Configuration {
    /// Reads the configuration from an environment. Pure: the caller passes the environment,
    /// the workload's command (for the default name) and the host name (for templates).
    ///
    /// Per-variable errors come from the first bad variable in sorted key order; cross-field
    /// rules run afterwards in a fixed order, so the same environment always gives the same line.
    public static func parse(
        environment: [String: String], command: [String], hostname: String
    ) throws(ConfigurationError) -> Configuration {
        var draft = Draft(config: defaults(command: command, hostname: hostname, environment: environment))

        for key in environment.keys.sorted() where key.hasPrefix("SPILLWAY_") {
            let value = environment[key]!
            guard let variable = variable(named: key) else {
                throw ConfigurationError(variable: key, value: nil, expected: suggestion(for: key), kind: .unknownVariable)
            }
            do {
                try variable.apply(&draft, value)
            } catch {
                throw ConfigurationError(variable: key, value: value, expected: error.text)
            }
        }

        return try resolve(draft, environment: environment, hostname: hostname)
    }

    /// Defaults as DESIGN.md's tables give them; templates and sink-dependent values are
    /// filled in by `resolve`.
    static func defaults(command: [String], hostname: String, environment: [String: String]) -> Configuration {
        Configuration(
            sink: .console, mode: .blocking, maxBufferSize: 1 << 20, drop: .newest,
            storage: Storage(path: "", limit: 100 << 20, full: .block, sync: .normal),
            name: Parse.defaultName(command: command), containerID: nil, tag: "",
            maxLineSize: 16 << 10, multilinePattern: nil,
            flushInterval: .seconds(1), shutdownTimeout: .seconds(5),
            passthrough: false, signalGroup: false, subreaper: false,
            seccompProfile: nil, seccompSelf: false, labels: [], env: [], logLevel: .info, logConfiguration: nil,
            forward: Forward(
                addresses: [.tcp(host: "127.0.0.1", port: 24224)], requireAck: true, ackTimeout: .seconds(30),
                compress: .none, sharedKey: nil, username: nil, password: nil, selfHostname: hostname,
                tlsCA: nil, tlsCert: nil, tlsKey: nil, tlsVerify: true, timeAsInteger: false,
                connectTimeout: .seconds(5), writeTimeout: .seconds(10)
            ),
            cloudwatch: CloudWatch(
                group: nil, stream: "", createGroup: false, createStream: true, retentionDays: nil,
                region: nil, endpoint: nil, format: nil
            )
        )
    }

    /// Cross-field rules and everything that depends on more than one variable.
    private static func resolve(
        _ draft: Draft, environment env: [String: String], hostname: String
    ) throws(ConfigurationError) -> Configuration {
        var c = draft.config
        func fail(_ name: String, _ expected: String) -> ConfigurationError {
            ConfigurationError(variable: name, value: env[name], expected: expected)
        }

        // Sink-dependent defaults and limits.
        if c.sink == .cloudwatch {
            guard c.cloudwatch.group != nil else {
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
        let smallest = c.maxLineSize + recordOverhead
        if c.maxBufferSize < smallest {
            let why = draft.maxBufferSizeSet ? "" : "; the default \(formatSize(c.maxBufferSize)) is too small"
            throw fail("SPILLWAY_MAX_BUFFER_SIZE",
                       "at least \(smallest) bytes (SPILLWAY_MAX_LINE_SIZE \(c.maxLineSize) + \(recordOverhead) per record)\(why)")
        }
        if c.mode == .filesystem, c.storage.limit < smallest {
            throw fail("SPILLWAY_STORAGE_LIMIT",
                       "at least \(smallest) bytes (SPILLWAY_MAX_LINE_SIZE \(c.maxLineSize) + \(recordOverhead) per record)")
        }
        guard c.storage.limit >= 1 else { throw fail("SPILLWAY_STORAGE_LIMIT", "at least 1 byte") }

        // Durations: zero would spin or never wait; only the shutdown timeout may be zero.
        let positive: [(String, Duration)] = [
            ("SPILLWAY_FLUSH_INTERVAL", c.flushInterval),
            ("SPILLWAY_FORWARD_ACK_TIMEOUT", c.forward.ackTimeout),
            ("SPILLWAY_FORWARD_CONNECT_TIMEOUT", c.forward.connectTimeout),
            ("SPILLWAY_FORWARD_WRITE_TIMEOUT", c.forward.writeTimeout),
        ]
        for (name, d) in positive where d <= .zero {
            throw fail(name, "a duration greater than zero, such as 250ms, 5s or 1m")
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
                       "a shared key, since user authentication happens inside the shared-key handshake")
        }
        if f.tlsCert != nil, f.tlsKey == nil {
            throw fail("SPILLWAY_FORWARD_TLS_KEY", "a private key file, since SPILLWAY_FORWARD_TLS_CERT is set")
        }
        if f.tlsKey != nil, f.tlsCert == nil {
            throw fail("SPILLWAY_FORWARD_TLS_CERT", "a certificate file, since SPILLWAY_FORWARD_TLS_KEY is set")
        }

        // Templates: {id} with no id would quietly produce names like "app." or "app/".
        let templates: [(String, Template)] = [
            ("SPILLWAY_STORAGE_PATH", draft.storagePath ?? Template(parts: [])),
            ("SPILLWAY_TAG", draft.tag),
            ("SPILLWAY_CLOUDWATCH_STREAM", draft.stream),
        ]
        for (name, template) in templates where template.usesID && c.containerID == nil {
            throw fail(name, "a template whose {id} has a value: set SPILLWAY_CONTAINER_ID or remove {id}")
        }
        c.tag = draft.tag.expand(name: c.name, id: c.containerID, hostname: hostname)
        c.cloudwatch.stream = draft.stream.expand(name: c.name, id: c.containerID, hostname: hostname)
        if let path = draft.storagePath {
            c.storage.path = path.expand(name: c.name, id: c.containerID, hostname: hostname)
        } else if let state = env["STATE_DIRECTORY"], !state.isEmpty {
            // systemd lists one directory per StateDirectory= entry, colon-separated: take the first.
            c.storage.path = String(state.split(separator: ":").first ?? Substring(state))
        } else {
            c.storage.path = "/var/lib/spillway/" + c.name
        }
        if c.sink == .cloudwatch {
            do { _ = try CloudWatchNames.stream(c.cloudwatch.stream) } catch {
                throw fail("SPILLWAY_CLOUDWATCH_STREAM", error.text)
            }
        }

        // Record fields: an env entry may not collide with a label.
        var fields: [Field] = []
        for name in draft.envNames {
            if c.labels.contains(where: { $0.name == name }) {
                throw fail("SPILLWAY_ENV", "names that are not also SPILLWAY_LABELS keys; \(name) is both")
            }
            if let value = env[name] { fields.append(Field(name: name, value: value)) }
        }
        c.env = fields

        // AWS fallbacks, as the AWS SDKs read them; empty counts as unset, as there.
        if c.cloudwatch.region == nil {
            c.cloudwatch.region = firstNonEmpty(env, ["AWS_REGION", "AWS_DEFAULT_REGION"])
        }
        if c.cloudwatch.endpoint == nil, !isTrue(env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]) {
            c.cloudwatch.endpoint = firstNonEmpty(env, ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL"])
        }
        return c
    }

    private static func firstNonEmpty(_ env: [String: String], _ names: [String]) -> String? {
        for name in names { if let v = env[name], !v.isEmpty { return v } }
        return nil
    }

    private static func isTrue(_ v: String?) -> Bool {
        guard let v else { return false }
        return (try? Parse.bool(v)) ?? false
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
