import Testing
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
import SpillwayMetrics
@testable import SpillwayConfiguration

@Suite struct DefaultsTests {
    @Test func emptyEnvironmentGivesTheTablesDefaults() throws {
        let c = try parse([:])
        #expect(c.sink == .console)
        #expect(c.mode == .blocking)
        #expect(c.maxBufferSize == 1_048_576)
        #expect(c.drop == .newest)
        #expect(c.storage == .init(directory: "/var/lib/spillway/myapp", limit: 100 * 1_048_576, full: .block, sync: .normal))
        #expect(c.name == "myapp")
        #expect(c.containerID == nil)
        #expect(c.forward.tag == "spillway.myapp")
        #expect(c.maxLineSize == 16 * 1024)
        #expect(c.multiline == nil && c.multilineFlushInterval == .seconds(1))
        #expect(c.flushInterval == .seconds(1))
        #expect(c.shutdownTimeout == .seconds(5))
        #expect(!c.passthrough && !c.signalGroup && !c.subreaper)
        #expect(c.seccompProfile == nil && !c.seccompSelf)
        #expect(c.labels.isEmpty && c.env.isEmpty)
        #expect(c.logLevel == .info)
        #expect(c.logConfiguration == nil)

        let f = c.forward
        #expect(f.endpoints == [.tcp(host: "127.0.0.1", port: 24224)])
        #expect(f.requireAck)
        #expect(f.ackTimeout == .seconds(30))
        #expect(f.compression == .none)
        #expect(f.sharedKey == nil && f.username == nil && f.password == nil)
        #expect(f.selfHostname == "host1")
        #expect(f.tlsCAFile == nil && f.tlsCertFile == nil && f.tlsKeyFile == nil)
        #expect(f.tlsVerify)
        #expect(!f.timeAsInteger)
        #expect(f.connectTimeout == .seconds(5))
        #expect(f.writeTimeout == .seconds(10))

        let w = c.cloudwatch
        #expect(w.group.isEmpty)
        #expect(w.stream == "myapp/host1")
        #expect(!w.createGroup && w.createStream)
        #expect(w.retentionDays == nil && w.region == nil && w.endpoint == nil && w.format == nil)
    }

    @Test func otherEnvironmentIsIgnored() throws {
        #expect(try parse(["PATH": "/bin", "spillway_sink": "bogus", "XSPILLWAY_SINK": "x"]) == parse([:]))
    }

    @Test func recordOverheadIsPublic() {
        #expect(LogRecord.overhead == 64)
    }
}

@Suite struct EnumTests {
    @Test(arguments: [
        ("console", Configuration.SinkKind.console), ("forward", .forward), ("fluentd", .forward),
        ("FORWARD", .forward), ("cloudwatch", .cloudwatch), ("awslogs", .cloudwatch),
    ])
    func sink(_ text: String, _ kind: Configuration.SinkKind) throws {
        let c = try parse(["SPILLWAY_SINK": text, "SPILLWAY_CLOUDWATCH_GROUP": "g"])
        #expect(c.sink == kind)
    }

    @Test func sinkErrorListsChoicesAndAliases() {
        #expect(parseError(["SPILLWAY_SINK": "kafka"])?.description
            == #"SPILLWAY_SINK="kafka": expected one of console, forward, cloudwatch (aliases fluentd, awslogs)"#)
    }

    @Test func modes() throws {
        #expect(try parse(["SPILLWAY_MODE": "blocking"]).mode == .blocking)
        #expect(try parse(["SPILLWAY_MODE": "non-blocking"]).mode == .nonBlocking)
        #expect(try parse(["SPILLWAY_MODE": "filesystem"]).mode == .filesystem)
        #expect(parseError(["SPILLWAY_MODE": "nonblocking"])?.description
            == #"SPILLWAY_MODE="nonblocking": expected one of blocking, non-blocking, filesystem"#)
    }

    @Test func drop() throws {
        #expect(try parse(["SPILLWAY_DROP": "oldest"]).drop == .oldest)
        #expect(try parse(["SPILLWAY_DROP": "newest"]).drop == .newest)
        // Accepted in any mode: only non-blocking uses it.
        #expect(try parse(["SPILLWAY_DROP": "oldest", "SPILLWAY_MODE": "blocking"]).drop == .oldest)
        #expect(parseError(["SPILLWAY_DROP": "random"])?.expected == "one of newest, oldest")
    }

    @Test func storage() throws {
        let c = try parse([
            "SPILLWAY_STORAGE_FULL": "drop-oldest", "SPILLWAY_STORAGE_SYNC": "full", "SPILLWAY_STORAGE_LIMIT": "1g",
        ])
        #expect(c.storage.full == .dropOldest)
        #expect(c.storage.sync == .full)
        #expect(c.storage.limit == 1 << 30)
        #expect(parseError(["SPILLWAY_STORAGE_FULL": "drop"])?.expected == "one of block, drop-oldest")
        #expect(parseError(["SPILLWAY_STORAGE_SYNC": "always"])?.expected == "one of normal, full")
    }

    @Test func logLevel() throws {
        #expect(try parse(["SPILLWAY_LOG_LEVEL": "debug"]).logLevel == .debug)
        #expect(try parse(["SPILLWAY_LOG_LEVEL": "warning"]).logLevel == .warning)
        #expect(try parse(["SPILLWAY_LOG_LEVEL": "warn"]).logLevel == .warning)
        #expect(try parse(["SPILLWAY_LOG_LEVEL": "ERROR"]).logLevel == .error)
        #expect(parseError(["SPILLWAY_LOG_LEVEL": "trace"]) != nil)
        #expect(DiagnosticLevel.debug < .error)
    }

    @Test func compress() throws {
        #expect(try parse(["SPILLWAY_FORWARD_COMPRESS": "gzip"]).forward.compression == .gzip)
        #expect(try parse(["SPILLWAY_FORWARD_COMPRESS": "none"]).forward.compression == .none)
        #expect(parseError(["SPILLWAY_FORWARD_COMPRESS": "zstd"])?.expected == "one of none, gzip")
    }
}

@Suite struct VariableTests {
    @Test func everyBooleanVariable() throws {
        let c = try parse([
            "SPILLWAY_SINK": "forward",
            "SPILLWAY_PASSTHROUGH": "yes", "SPILLWAY_SIGNAL_GROUP": "1", "SPILLWAY_SUBREAPER": "TRUE",
            "SPILLWAY_SECCOMP_SELF": "true", "SPILLWAY_FORWARD_REQUIRE_ACK": "no", "SPILLWAY_FORWARD_TLS_VERIFY": "0",
            "SPILLWAY_FORWARD_TIME_AS_INTEGER": "true", "SPILLWAY_CLOUDWATCH_CREATE_GROUP": "true",
            "SPILLWAY_CLOUDWATCH_CREATE_STREAM": "false",
        ])
        #expect(c.passthrough && c.signalGroup && c.subreaper && c.seccompSelf)
        #expect(!c.forward.requireAck && !c.forward.tlsVerify && c.forward.timeAsInteger)
        #expect(c.cloudwatch.createGroup && !c.cloudwatch.createStream)
    }

    @Test func everyDurationVariable() throws {
        let c = try parse([
            "SPILLWAY_FLUSH_INTERVAL": "250ms", "SPILLWAY_SHUTDOWN_TIMEOUT": "8s",
            "SPILLWAY_FORWARD_ACK_TIMEOUT": "1m", "SPILLWAY_FORWARD_CONNECT_TIMEOUT": "2s",
            "SPILLWAY_FORWARD_WRITE_TIMEOUT": "1h",
        ])
        #expect(c.flushInterval == .milliseconds(250))
        #expect(c.shutdownTimeout == .seconds(8))
        #expect(c.forward.ackTimeout == .seconds(60))
        #expect(c.forward.connectTimeout == .seconds(2))
        #expect(c.forward.writeTimeout == .seconds(3600))
    }

    @Test func stringVariables() throws {
        let c = try parse([
            "SPILLWAY_CONTAINER_ID": "abc123", "SPILLWAY_SECCOMP_PROFILE": "/etc/p.json",
            "SPILLWAY_MULTILINE_PATTERN": "^\\S", "SPILLWAY_LOG_CONFIGURATION": #"{"logDriver":"fluentd"}"#,
            "SPILLWAY_FORWARD_SHARED_KEY": "k", "SPILLWAY_FORWARD_USERNAME": "u", "SPILLWAY_FORWARD_PASSWORD": "p",
            "SPILLWAY_FORWARD_SELF_HOSTNAME": "me", "SPILLWAY_FORWARD_TLS_CA": "/ca.pem",
            "SPILLWAY_FORWARD_TLS_CERT": "/c.pem", "SPILLWAY_FORWARD_TLS_KEY": "/k.pem",
        ])
        #expect(c.containerID == "abc123")
        #expect(c.seccompProfile == "/etc/p.json")
        #expect(c.multiline == .pattern("^\\S"))
        #expect(c.logConfiguration == #"{"logDriver":"fluentd"}"#)
        #expect(c.forward.sharedKey == "k" && c.forward.username == "u" && c.forward.password == "p")
        #expect(c.forward.selfHostname == "me")
        #expect(c.forward.tlsCAFile == "/ca.pem" && c.forward.tlsCertFile == "/c.pem" && c.forward.tlsKeyFile == "/k.pem")
    }

    @Test func multilineStartRulesAndFlushInterval() throws {
        let c = try parse(["SPILLWAY_MULTILINE_DATETIME_FORMAT": "%H:%M", "SPILLWAY_MULTILINE_FLUSH_INTERVAL": "250ms"])
        #expect(c.multiline == .datetimeFormat("%H:%M"))
        #expect(c.multiline?.regex == "(?:[0,1][0-9]|2[0-3]):[0-5][0-9]")
        #expect(c.multilineFlushInterval == .milliseconds(250))
        let both = try #require(parseError(["SPILLWAY_MULTILINE_PATTERN": "^x", "SPILLWAY_MULTILINE_DATETIME_FORMAT": "%Y"]))
        #expect(both.variable == "SPILLWAY_MULTILINE_DATETIME_FORMAT")
        #expect(both.description.contains("SPILLWAY_MULTILINE_PATTERN"))
        #expect(parseError(["SPILLWAY_MULTILINE_FLUSH_INTERVAL": "0"])?.variable == "SPILLWAY_MULTILINE_FLUSH_INTERVAL")
        #expect(parseError(["SPILLWAY_MULTILINE_FLUSH_INTERVAL": "1x"])?.variable == "SPILLWAY_MULTILINE_FLUSH_INTERVAL")
        #expect(parseError(["SPILLWAY_MULTILINE_DATETIME_FORMAT": ""])?.variable == "SPILLWAY_MULTILINE_DATETIME_FORMAT")
    }

    @Test func logConfigurationMustLookLikeAnObject() {
        #expect(parseError(["SPILLWAY_LOG_CONFIGURATION": "awslogs"])?.variable == "SPILLWAY_LOG_CONFIGURATION")
    }

    @Test(arguments: ["SPILLWAY_CONTAINER_ID", "SPILLWAY_TAG", "SPILLWAY_NAME", "SPILLWAY_FORWARD_SHARED_KEY",
                      "SPILLWAY_SECCOMP_PROFILE", "SPILLWAY_STORAGE_PATH", "SPILLWAY_CLOUDWATCH_GROUP"])
    func emptyValueIsAnErrorNotUnset(_ name: String) {
        let e = parseError([name: ""])
        #expect(e?.variable == name)
        #expect(e?.value == "")
    }

    @Test func emptyListsAreEmpty() throws {
        let c = try parse(["SPILLWAY_LABELS": "", "SPILLWAY_ENV": ""])
        #expect(c.labels.isEmpty && c.env.isEmpty)
    }

    @Test func forwardAddressList() throws {
        let c = try parse(["SPILLWAY_FORWARD_ADDRESS": "tls://a:24284,unix:///run/f.sock"])
        #expect(c.forward.endpoints == [.tls(host: "a", port: 24284), .unix(path: "/run/f.sock")])
    }

    // A tls CA without any tls:// address is accepted: it is harmless.
    @Test func tlsSettingsWithoutTLSAddress() throws {
        #expect(try parse(["SPILLWAY_FORWARD_TLS_CA": "/ca.pem"]).forward.tlsCAFile == "/ca.pem")
    }
}

@Suite struct NameAndTemplateTests {
    @Test(arguments: [
        (["/usr/bin/python3", "app.py"], "python3"), (["node"], "node"), (["./run me.sh"], "run_me.sh"),
        (["/opt/app/"], "app"), (["/opt/ünï"], "_n_"), ([], "spillway"), (["/"], "spillway"), ([".."], "spillway"),
        (["a:b@c"], "a_b_c"),
    ])
    func defaultNameIsSanitisedBasename(_ command: [String], _ name: String) throws {
        #expect(try parse([:], command: command).name == name)
    }

    @Test func explicitName() throws {
        let c = try parse(["SPILLWAY_NAME": "web-1.api_x"])
        #expect(c.name == "web-1.api_x")
        #expect(c.forward.tag == "spillway.web-1.api_x")
        #expect(c.cloudwatch.stream == "web-1.api_x/host1")
        #expect(c.storage.directory == "/var/lib/spillway/web-1.api_x")
    }

    @Test(arguments: ["a/b", "..", ".", "has space", "é", String(repeating: "n", count: 256)])
    func badNames(_ name: String) {
        #expect(parseError(["SPILLWAY_NAME": name])?.variable == "SPILLWAY_NAME")
    }

    @Test func tagTemplateFields() throws {
        let c = try parse(["SPILLWAY_TAG": "{hostname}.{name}.{id}", "SPILLWAY_CONTAINER_ID": "c1"])
        #expect(c.forward.tag == "host1.myapp.c1")
        #expect(try parse(["SPILLWAY_TAG": "plain"]).forward.tag == "plain")
        #expect(try parse(["SPILLWAY_TAG": "{{name}}-{name}"]).forward.tag == "{name}-myapp")
    }

    @Test(arguments: ["{nope}", "{name", "name}", "{}", "{NAME}", "{ name }"])
    func badTemplates(_ template: String) {
        let e = parseError(["SPILLWAY_TAG": template])
        #expect(e?.variable == "SPILLWAY_TAG")
        #expect(e?.expected.contains("{name}, {id}, {short_id} and {hostname}") == true)
    }

    @Test func unknownFieldIsNamed() {
        #expect(parseError(["SPILLWAY_CLOUDWATCH_STREAM": "{pod}"])?.description
            == #"SPILLWAY_CLOUDWATCH_STREAM="{pod}": expected text with the template fields {name}, {id}, {short_id} and {hostname} ({{ and }} for literal braces); {pod} is not a field"#)
    }

    @Test func idWithoutContainerIDIsAnError() {
        let e = parseError(["SPILLWAY_TAG": "app.{id}"])
        #expect(e?.variable == "SPILLWAY_TAG")
        #expect(e?.description.contains("SPILLWAY_CONTAINER_ID") == true)
        #expect(parseError(["SPILLWAY_CLOUDWATCH_STREAM": "{id}"])?.variable == "SPILLWAY_CLOUDWATCH_STREAM")
        #expect(parseError(["SPILLWAY_STORAGE_PATH": "/d/{id}"])?.variable == "SPILLWAY_STORAGE_PATH")
    }

    @Test func streamTemplate() throws {
        let c = try parse(["SPILLWAY_CLOUDWATCH_STREAM": "{name}/{id}", "SPILLWAY_CONTAINER_ID": "task-9"])
        #expect(c.cloudwatch.stream == "myapp/task-9")
    }

    @Test func expandedStreamMustBeAValidCloudWatchName() {
        let env = ["SPILLWAY_SINK": "cloudwatch", "SPILLWAY_CLOUDWATCH_GROUP": "g"]
        var bad = env
        bad["SPILLWAY_CLOUDWATCH_STREAM"] = "{name}:*"
        #expect(parseError(bad)?.variable == "SPILLWAY_CLOUDWATCH_STREAM")
        bad["SPILLWAY_CLOUDWATCH_STREAM"] = String(repeating: "s", count: 513)
        #expect(parseError(bad)?.variable == "SPILLWAY_CLOUDWATCH_STREAM")
        // A host name with a colon only matters when the stream is used.
        #expect(throws: Never.self) { try Configuration.parse(environment: [:], command: ["a"], hostname: "h:1") }
    }

    @Test func storagePath() throws {
        #expect(try parse(["STATE_DIRECTORY": "/var/lib/myunit"]).storage.directory == "/var/lib/myunit")
        #expect(try parse(["STATE_DIRECTORY": "/var/lib/a:/var/lib/b"]).storage.directory == "/var/lib/a")
        #expect(try parse(["STATE_DIRECTORY": ""]).storage.directory == "/var/lib/spillway/myapp")
        let explicit = ["SPILLWAY_STORAGE_PATH": "/data/{name}", "STATE_DIRECTORY": "/var/lib/myunit"]
        #expect(try parse(explicit).storage.directory == "/data/myapp")
    }
}

@Suite struct LabelsAndEnvTests {
    @Test func labelsKeepOrderAndTrim() throws {
        let c = try parse(["SPILLWAY_LABELS": "team=core, env = prod ,url=http://x/?a=b,empty=,"])
        #expect(c.labels == [
            .init(name: "team", value: "core"), .init(name: "env", value: "prod"),
            .init(name: "url", value: "http://x/?a=b"), .init(name: "empty", value: ""),
        ])
    }

    @Test(arguments: ["novalue", "=v", "a=1,a=2", "log=x", "source=x", "container_name=x", "partial_id=1"])
    func badLabels(_ text: String) {
        #expect(parseError(["SPILLWAY_LABELS": text])?.variable == "SPILLWAY_LABELS")
    }

    @Test func envResolvesValuesAndSkipsMissing() throws {
        let c = try parse(["SPILLWAY_ENV": "REGION, MISSING,VERSION,REGION", "REGION": "eu", "VERSION": "1.2", "OTHER": "x"])
        #expect(c.env == [.init(name: "REGION", value: "eu"), .init(name: "VERSION", value: "1.2")])
    }

    @Test(arguments: ["SPILLWAY_FORWARD_SHARED_KEY", "SPILLWAY_SINK", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                      "log", "A=B"])
    func refusedEnvNames(_ name: String) {
        let e = parseError(["SPILLWAY_ENV": name, "SPILLWAY_FORWARD_SHARED_KEY": "s3cret", "AWS_SECRET_ACCESS_KEY": "aws"])
        #expect(e?.variable == "SPILLWAY_ENV")
        #expect(e?.description.contains("s3cret") == false)
    }

    @Test func envMayNotCollideWithLabels() {
        let e = parseError(["SPILLWAY_ENV": "team", "SPILLWAY_LABELS": "team=a", "team": "b"])
        #expect(e?.variable == "SPILLWAY_ENV")
    }
}

@Suite struct CrossFieldTests {
    @Test func cloudwatchNeedsAGroup() {
        let e = parseError(["SPILLWAY_SINK": "awslogs"])
        #expect(e?.variable == "SPILLWAY_CLOUDWATCH_GROUP")
        #expect(e?.value == nil)
        #expect(e?.description
            == "SPILLWAY_CLOUDWATCH_GROUP (not set): expected a log group name (required with SPILLWAY_SINK=cloudwatch)")
    }

    @Test func groupOnlyRequiredForCloudWatch() throws {
        #expect(try parse(["SPILLWAY_SINK": "forward"]).cloudwatch.group.isEmpty)
    }

    @Test(arguments: ["/aws/ecs/app", "my-group_1.#x"])
    func goodGroups(_ g: String) throws {
        #expect(try parse(["SPILLWAY_CLOUDWATCH_GROUP": g]).cloudwatch.group == g)
    }

    @Test(arguments: ["has space", "a:b", "a*", String(repeating: "g", count: 513)])
    func badGroups(_ g: String) {
        #expect(parseError(["SPILLWAY_CLOUDWATCH_GROUP": g])?.variable == "SPILLWAY_CLOUDWATCH_GROUP")
    }

    @Test func cloudwatchLineSizeDefaultAndCap() throws {
        let env = ["SPILLWAY_SINK": "cloudwatch", "SPILLWAY_CLOUDWATCH_GROUP": "g"]
        #expect(try parse(env).maxLineSize == 1_000_000)
        #expect(try parse(env.merging(["SPILLWAY_MAX_LINE_SIZE": "256k"]) { $1 }).maxLineSize == 262_144)
        #expect(try parse(env.merging(["SPILLWAY_MAX_LINE_SIZE": "1000000"]) { $1 }).maxLineSize == 1_000_000)
        let e = parseError(env.merging(["SPILLWAY_MAX_LINE_SIZE": "1m", "SPILLWAY_MAX_BUFFER_SIZE": "4m"]) { $1 })
        #expect(e?.variable == "SPILLWAY_MAX_LINE_SIZE")
        #expect(e?.expected.contains("1000000") == true)
        // Other sinks may go above the CloudWatch cap.
        #expect(try parse(["SPILLWAY_MAX_LINE_SIZE": "1m", "SPILLWAY_MAX_BUFFER_SIZE": "2m"]).maxLineSize == 1 << 20)
    }

    @Test func bufferMustHoldOneMaximalRecord() throws {
        #expect(try parse(["SPILLWAY_MAX_LINE_SIZE": "1000", "SPILLWAY_MAX_BUFFER_SIZE": "1064"]).maxBufferSize == 1064)
        let e = parseError(["SPILLWAY_MAX_LINE_SIZE": "1000", "SPILLWAY_MAX_BUFFER_SIZE": "1063"])
        #expect(e?.variable == "SPILLWAY_MAX_BUFFER_SIZE")
        #expect(e?.value == "1063")
        #expect(e?.expected.contains("1064") == true)
        // The default buffer is named too when the line size outgrows it.
        let d = parseError(["SPILLWAY_MAX_LINE_SIZE": "1m"])
        #expect(d?.variable == "SPILLWAY_MAX_BUFFER_SIZE")
        #expect(d?.value == nil)
        #expect(d?.description.contains("default 1m") == true)
    }

    @Test func lineSizeAtLeastOne() {
        #expect(parseError(["SPILLWAY_MAX_LINE_SIZE": "0"])?.variable == "SPILLWAY_MAX_LINE_SIZE")
        #expect(throws: Never.self) { try parse(["SPILLWAY_MAX_LINE_SIZE": "1"]) }
    }

    @Test func storageLimit() {
        #expect(parseError(["SPILLWAY_STORAGE_LIMIT": "0"])?.variable == "SPILLWAY_STORAGE_LIMIT")
        #expect(parseError(["SPILLWAY_STORAGE_LIMIT": "16k", "SPILLWAY_MODE": "filesystem"])?.variable
            == "SPILLWAY_STORAGE_LIMIT")
    }

    @Test func passthroughWithConsoleIsAnError() throws {
        let e = parseError(["SPILLWAY_PASSTHROUGH": "true"])
        #expect(e?.variable == "SPILLWAY_PASSTHROUGH")
        #expect(e?.description.contains("SPILLWAY_SINK=console") == true)
        #expect(try parse(["SPILLWAY_PASSTHROUGH": "true", "SPILLWAY_SINK": "forward"]).passthrough)
        #expect(try parse(["SPILLWAY_PASSTHROUGH": "false"]).passthrough == false)
    }

    @Test(arguments: ["SPILLWAY_FLUSH_INTERVAL", "SPILLWAY_FORWARD_ACK_TIMEOUT", "SPILLWAY_FORWARD_CONNECT_TIMEOUT",
                      "SPILLWAY_FORWARD_WRITE_TIMEOUT", "SPILLWAY_STALL_WARNING"])
    func zeroDurationsAreErrors(_ name: String) {
        #expect(parseError([name: "0s"])?.variable == name)
        #expect(parseError([name: "0ms"])?.description.contains("greater than zero") == true)
    }

    @Test func metricsAddresses() throws {
        #expect(try parse([:]).metricsAddress == nil)
        #expect(try parse(["SPILLWAY_METRICS_ADDRESS": "tcp://127.0.0.1:9464"]).metricsAddress == .tcp(host: "127.0.0.1", port: 9464))
        #expect(try parse(["SPILLWAY_METRICS_ADDRESS": "tcp://[::1]:9464"]).metricsAddress == .tcp(host: "::1", port: 9464))
        #expect(try parse(["SPILLWAY_METRICS_ADDRESS": "unix:///run/app/metrics.sock"]).metricsAddress == .unix(path: "/run/app/metrics.sock"))
        for bad in ["127.0.0.1:9464", "tls://127.0.0.1:9464", "tcp://127.0.0.1", "unix://relative", "tcp://a:1,tcp://b:2"] {
            let e = parseError(["SPILLWAY_METRICS_ADDRESS": bad])
            #expect(e?.variable == "SPILLWAY_METRICS_ADDRESS", "\(bad)")
            #expect(e?.description.contains("tcp://127.0.0.1:PORT") == true, "\(bad)")
        }
    }

    @Test func stallWarningDefaultsToFiveSeconds() throws {
        #expect(try parse([:]).stallWarning == .seconds(5))
        #expect(try parse(["SPILLWAY_STALL_WARNING": "250ms"]).stallWarning == .milliseconds(250))
    }

    @Test func shutdownTimeoutMayBeZero() throws {
        #expect(try parse(["SPILLWAY_SHUTDOWN_TIMEOUT": "0s"]).shutdownTimeout == .zero)
    }

    @Test func credentialsComeInPairs() {
        #expect(parseError(["SPILLWAY_FORWARD_USERNAME": "u", "SPILLWAY_FORWARD_SHARED_KEY": "k"])?.variable
            == "SPILLWAY_FORWARD_PASSWORD")
        #expect(parseError(["SPILLWAY_FORWARD_PASSWORD": "p", "SPILLWAY_FORWARD_SHARED_KEY": "k"])?.variable
            == "SPILLWAY_FORWARD_USERNAME")
        #expect(parseError(["SPILLWAY_FORWARD_USERNAME": "u", "SPILLWAY_FORWARD_PASSWORD": "p"])?.variable
            == "SPILLWAY_FORWARD_SHARED_KEY")
        #expect(parseError(["SPILLWAY_FORWARD_TLS_CERT": "/c.pem"])?.variable == "SPILLWAY_FORWARD_TLS_KEY")
        #expect(parseError(["SPILLWAY_FORWARD_TLS_KEY": "/k.pem"])?.variable == "SPILLWAY_FORWARD_TLS_CERT")
    }

    @Test func retentionDays() throws {
        for days in Configuration.cloudWatchRetentionDays {
            #expect(try parse(["SPILLWAY_CLOUDWATCH_RETENTION_DAYS": String(days)]).cloudwatch.retentionDays == days)
        }
        for bad in ["0", "2", "10", "3654", "7d", "-1", "", "x"] {
            let e = parseError(["SPILLWAY_CLOUDWATCH_RETENTION_DAYS": bad])
            #expect(e?.variable == "SPILLWAY_CLOUDWATCH_RETENTION_DAYS")
            #expect(e?.expected.contains("1, 3, 5, 7, 14, 30") == true)
        }
    }

    @Test func format() throws {
        #expect(try parse(["SPILLWAY_CLOUDWATCH_FORMAT": "json/emf"]).cloudwatch.format == "json/emf")
        #expect(parseError(["SPILLWAY_CLOUDWATCH_FORMAT": "json"])?.variable == "SPILLWAY_CLOUDWATCH_FORMAT")
    }

    @Test func regionPrecedence() throws {
        let aws = ["AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"]
        #expect(try parse(aws.merging(["SPILLWAY_CLOUDWATCH_REGION": "ap-south-1"]) { $1 }).cloudwatch.region == "ap-south-1")
        #expect(try parse(aws).cloudwatch.region == "eu-west-1")
        #expect(try parse(["AWS_DEFAULT_REGION": "us-east-2"]).cloudwatch.region == "us-east-2")
        #expect(try parse(["AWS_REGION": "", "AWS_DEFAULT_REGION": "us-east-2"]).cloudwatch.region == "us-east-2")
        #expect(try parse([:]).cloudwatch.region == nil)
        #expect(parseError(["SPILLWAY_CLOUDWATCH_REGION": "EU West"])?.variable == "SPILLWAY_CLOUDWATCH_REGION")
    }

    @Test func endpointPrecedence() throws {
        let aws = ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://localhost:5000", "AWS_ENDPOINT_URL": "http://other:1"]
        let mine = ["SPILLWAY_CLOUDWATCH_ENDPOINT": "https://logs.example.com"]
        #expect(try parse(aws.merging(mine) { $1 }).cloudwatch.endpoint == "https://logs.example.com")
        #expect(try parse(aws).cloudwatch.endpoint == "http://localhost:5000")
        #expect(try parse(["AWS_ENDPOINT_URL": "http://other:1"]).cloudwatch.endpoint == "http://other:1")
        #expect(try parse(aws.merging(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]) { $1 }).cloudwatch.endpoint == nil)
        #expect(try parse([:]).cloudwatch.endpoint == nil)
        #expect(parseError(["SPILLWAY_CLOUDWATCH_ENDPOINT": "logs.example.com"])?.variable == "SPILLWAY_CLOUDWATCH_ENDPOINT")
        #expect(parseError(["SPILLWAY_CLOUDWATCH_ENDPOINT": "https://"])?.variable == "SPILLWAY_CLOUDWATCH_ENDPOINT")
    }
}
