import Testing
import SpillwayCloudWatch
import SpillwayCore
import SpillwayForward
@testable import SpillwayConfiguration

/// Reads `SPILLWAY_LOG_CONFIGURATION` = `{"logDriver": driver, "options": options}` beside `env`.
func withOptions(
    _ driver: String, _ options: [String: String], env: [String: String] = [:], taskID: String? = nil
) throws(ConfigurationError) -> Configuration {
    let members = options.keys.sorted().map { "\"\($0)\": \"\(options[$0]!)\"" }.joined(separator: ", ")
    var env = env
    env["SPILLWAY_LOG_CONFIGURATION"] = "{\"logDriver\": \"\(driver)\", \"options\": {\(members)}}"
    return try Configuration.read(environment: env, command: ["/usr/local/bin/myapp"], hostname: "host1",
                                  logConfiguration: LogConfigurationInputs(ecs: taskID.map { ECSMetadata(taskID: $0) }))
}

func optionsError(_ driver: String, _ options: [String: String], env: [String: String] = [:]) -> ConfigurationError? {
    do {
        _ = try withOptions(driver, options, env: env)
        return nil
    } catch {
        return error
    }
}

let group = ["awslogs-group": "g", "awslogs-region": "eu-west-1"]

@Suite struct LogOptionMappingTests {
    @Test func awslogsOptionsMapOntoTheCloudWatchVariables() throws {
        let c = try withOptions("awslogs", group.merging([
            "awslogs-create-group": "true", "awslogs-create-stream": "false", "awslogs-stream": "s{x}",
            "awslogs-endpoint": "http://127.0.0.1:5000", "awslogs-format": "json/emf",
            "awslogs-force-flush-interval-seconds": "7", "mode": "non-blocking", "max-buffer-size": "1.5m",
            "awslogs-max-buffered-events": "4096", "awslogs-datetime-as-event-time": "false",
        ]) { a, _ in a })
        #expect(c.sink == .cloudwatch && c.mode == .nonBlocking)
        #expect(c.cloudwatch.group == "g" && c.cloudwatch.region == "eu-west-1")
        #expect(c.cloudwatch.createGroup && !c.cloudwatch.createStream)
        #expect(c.cloudwatch.stream == "s{x}")
        #expect(c.cloudwatch.endpoint == "http://127.0.0.1:5000" && c.cloudwatch.format == "json/emf")
        #expect(c.flushInterval == .seconds(7))
        #expect(c.maxBufferSize == 1_572_864)
        #expect(c.cloudwatch.message == .line)
    }

    @Test func streamPrefixNamesTheStreamAsECSDoes() throws {
        let viaMetadata = try withOptions("awslogs", group.merging(["awslogs-stream-prefix": "web"]) { a, _ in a }, taskID: "abc123")
        #expect(viaMetadata.cloudwatch.stream == "web/myapp/abc123")
        let viaContainerID = try withOptions("awslogs", group.merging(["awslogs-stream-prefix": "web"]) { a, _ in a },
                                             env: ["SPILLWAY_CONTAINER_ID": "cid"])
        #expect(viaContainerID.cloudwatch.stream == "web/myapp/cid")
        let e = optionsError("awslogs", group.merging(["awslogs-stream-prefix": "web"]) { a, _ in a })
        #expect(e?.description.contains("awslogs-stream-prefix") == true)
    }

    @Test func invalidValuesNameTheOption() {
        let cases: [(String, [String: String], String)] = [
            ("awslogs", group.merging(["awslogs-create-group": "maybe"]) { a, _ in a }, "awslogs-create-group"),
            ("awslogs", group.merging(["awslogs-force-flush-interval-seconds": "0"]) { a, _ in a }, "awslogs-force-flush-interval-seconds"),
            ("awslogs", group.merging(["awslogs-format": "xml"]) { a, _ in a }, "awslogs-format"),
            ("awslogs", group.merging(["awslogs-max-buffered-events": "0"]) { a, _ in a }, "awslogs-max-buffered-events"),
            ("awslogs", group.merging(["awslogs-datetime-as-event-time": "true"]) { a, _ in a }, "awslogs-datetime-as-event-time"),
            ("awslogs", ["awslogs-group": "bad group!"], "awslogs-group"),
            ("awslogs", group.merging(["mode": "sometimes"]) { a, _ in a }, "option mode"),
            ("fluentd", ["fluentd-address": "tcp://h/x"], "fluentd-address"),
            ("fluentd", ["fluentd-retry-wait": "soon"], "fluentd-retry-wait"),
            ("fluentd", ["fluentd-async-reconnect-interval": "20s"], "fluentd-async-reconnect-interval"),
            ("fluentd", ["cache-max-file": "0"], "cache-max-file"),
            ("fluentd", ["tag": "{{.ImageName}}"], "option tag"),
            ("awsfirelens", ["Name": "s3"], "option Name"),
            ("awsfirelens", ["Name": "forward", "Port": "99999"], "option Port"),
            ("awsfirelens", ["Name": "cloudwatch", "log_group_name": "g", "log_stream_name": "s", "log_key": "nosuch"], "log_key"),
        ]
        for (driver, options, named) in cases {
            let e = optionsError(driver, options)
            #expect(e?.description.contains(named) == true, "\(options): \(String(describing: e))")
        }
    }

    @Test func unknownAndRefusedOptionsAre125NamingThem() {
        for (driver, option) in [("awslogs", "awslogs-colour"), ("awslogs", "fluentd-address"), ("fluentd", "awslogs-group"),
                                 ("awslogs", "awslogs-datetime-timezone")] {
            var options = driver == "awslogs" ? group : [:]
            options[option] = "x"
            let e = optionsError(driver, options)
            #expect(e?.description.contains("option \(option)") == true, "\(String(describing: e))")
        }
        #expect(optionsError("json-file", [:])?.description.contains("logDriver") == true)
    }

    @Test func dockerRulesBetweenOptions() {
        let both = optionsError("awslogs", group.merging(["awslogs-datetime-format": "%Y", "awslogs-multiline-pattern": "^x"]) { a, _ in a })
        #expect(both?.description.contains("not both awslogs-datetime-format and awslogs-multiline-pattern") == true)
        let emf = optionsError("awslogs", group.merging(["awslogs-format": "json/emf", "awslogs-datetime-format": "%Y"]) { a, _ in a })
        #expect(emf?.description.contains("json/emf") == true)
        #expect(optionsError("awslogs", ["awslogs-region": "eu-west-1"])?.description.contains("awslogs-group") == true)
        let multiline = try? withOptions("awslogs", group.merging(["awslogs-datetime-format": "%Y"]) { a, _ in a })
        #expect(multiline?.multiline == .datetimeFormat("%Y"))
        #expect(multiline?.origins["SPILLWAY_MULTILINE_DATETIME_FORMAT"] == "logConfiguration option awslogs-datetime-format")
    }

    @Test func fluentdOptionsMapOntoTheForwardVariables() throws {
        let c = try withOptions("fluentd", [
            "fluentd-address": "fluentd.local", "tag": "docker.{{.Name}}.{{ .ID }}", "env": "HOME",
            "fluentd-async": "true", "fluentd-max-retries": "3", "fluentd-sub-second-precision": "false",
            "fluentd-request-ack": "false", "fluentd-write-timeout": "3s", "fluentd-read-timeout": "4s",
            "fluentd-buffer-limit": "1024", "fluentd-retry-wait": "1s", "fluentd-async-reconnect-interval": "2s",
            "max-buffer-size": "2m", "cache-disabled": "false", "cache-max-size": "10m", "cache-max-file": "2",
            "cache-compress": "true",
        ], env: ["SPILLWAY_CONTAINER_ID": "cid", "HOME": "/root"])
        #expect(c.sink == .forward)
        #expect(c.forward.endpoints == [.tcp(host: "fluentd.local", port: 24224)])
        #expect(c.forward.tag == "docker.myapp.cid")
        #expect(c.forward.timeAsInteger && !c.forward.requireAck)
        #expect(c.forward.writeTimeout == .seconds(3) && c.forward.ackTimeout == .seconds(4))
        #expect(c.maxBufferSize == 2 << 20)
        #expect(c.env == [.init(name: "HOME", value: "/root")])
        for (address, expected) in [("tcp://h:1", "tcp://h:1"), ("tls://h", "tls://h:24224"), ("unix:///run/f.sock", "unix:///run/f.sock")] {
            #expect(try LogOptions.fluentdAddress(address) == expected)
        }
    }

    @Test func firelensCloudWatchSendsTheRecordUnlessLogKeyIsLog() throws {
        let options = ["Name": "CloudWatch", "region": "eu-west-1", "log_group_name": "g", "auto_create_group": "On",
                       "log_stream_name": "s", "log_retention_days": "7", "endpoint": "logs.example",
                       "log_format": "json/emf", "Retry_Limit": "2"]
        let c = try withOptions("awsfirelens", options)
        #expect(c.sink == .cloudwatch && c.cloudwatch.createGroup && c.cloudwatch.retentionDays == 7)
        #expect(c.cloudwatch.endpoint == "https://logs.example" && c.cloudwatch.format == "json/emf")
        #expect(c.cloudwatch.message == .record(c.recordFields))
        let raw = try withOptions("awsfirelens", options.merging(["log_key": "log"]) { a, _ in a })
        #expect(raw.cloudwatch.message == .line)
        let prefixed = try withOptions("awsfirelens", ["Name": "cloudwatch_logs", "log_group_name": "g", "log_stream_prefix": "p-"], taskID: "t1")
        #expect(prefixed.cloudwatch.stream == "p-myapp-firelens-t1")
    }

    @Test func firelensForward() throws {
        let c = try withOptions("awsfirelens", ["Name": "forward", "Host": "127.0.0.1", "Port": "24225", "tls": "on",
                                                "tls.verify": "off", "Shared_Key": "k"])
        #expect(c.sink == .forward && c.forward.endpoints == [.tls(host: "127.0.0.1", port: 24225)])
        #expect(!c.forward.tlsVerify && c.forward.sharedKey == "k")
        #expect(!c.redactedDescription().contains("\"k\""))
    }
}

@Suite struct LogConfigurationLayerTests {
    @Test func environmentOverridesTheObjectAndOriginsSaySo() throws {
        let c = try withOptions("awslogs", group.merging(["mode": "non-blocking"]) { a, _ in a },
                                env: ["SPILLWAY_MODE": "blocking"])
        #expect(c.mode == .blocking)
        #expect(c.origins["SPILLWAY_MODE"] == "environment")
        #expect(c.origins["SPILLWAY_CLOUDWATCH_GROUP"] == "logConfiguration option awslogs-group")
        #expect(c.origins["SPILLWAY_SINK"] == "logConfiguration option logDriver")
        let shown = c.redactedDescription()
        #expect(shown.contains("SPILLWAY_CLOUDWATCH_GROUP=g  # logConfiguration option awslogs-group"))
        #expect(shown.contains("SPILLWAY_MODE=blocking  # environment"))
        #expect(shown.contains("SPILLWAY_DROP=newest  # default"))
    }

    private func fromFile(_ text: String, env: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
        var env = env
        env["SPILLWAY_LOG_CONFIGURATION_FILE"] = "/etc/task.json"
        return try Configuration.read(environment: env, command: ["app"], hostname: "h",
                                      logConfiguration: LogConfigurationInputs(fileContents: text))
    }

    private let task = """
        {"family": "t", "containerDefinitions": [
          {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "web-logs", "awslogs-region": "eu-west-1"}}},
          {"name": "worker", "logConfiguration": {"logDriver": "fluentd", "options": {"fluentd-address": "127.0.0.1:24225"}}}]}
        """

    @Test func aTaskDefinitionsContainerIsChosenBySpillwayName() throws {
        let web = try fromFile(task, env: ["SPILLWAY_NAME": "web"])
        #expect(web.sink == .cloudwatch && web.cloudwatch.group == "web-logs")
        let worker = try fromFile(task, env: ["SPILLWAY_NAME": "worker"])
        #expect(worker.sink == .forward && worker.forward.endpoints == [.tcp(host: "127.0.0.1", port: 24225)])
        let unnamed = errorOf { () throws(ConfigurationError) in _ = try self.fromFile(self.task) }
        #expect(unnamed?.description.contains("web, worker") == true)
        let missing = errorOf { () throws(ConfigurationError) in _ = try self.fromFile(self.task, env: ["SPILLWAY_NAME": "db"]) }
        #expect(missing?.description.contains("named db") == true)
    }

    @Test func aContainerDefinitionGivesItsNameAndLabels() throws {
        let c = try fromFile("""
            {"name": "api", "dockerLabels": {"team": "core", "tier": "1"},
             "logConfiguration": {"logDriver": "fluentd", "options": {"labels": "team"}}}
            """)
        #expect(c.name == "api" && c.labels == [.init(name: "team", value: "core")])
        let only = try fromFile(#"{"containerDefinitions": [{"name": "solo", "logConfiguration": {"logDriver": "fluentd"}}]}"#)
        #expect(only.name == "solo")
    }

    @Test func malformedDocumentsAre125() {
        for text in ["[]", "{", #"{"name": "x"}"#, #"{"logDriver": "awslogs", "options": {"awslogs-group": 3}}"#,
                     #"{"logDriver": "fluentd", "secretOptions": [{"name": "x", "valueFrom": "arn"}]}"#] {
            #expect(errorOf { () throws(ConfigurationError) in _ = try self.fromFile(text) } != nil, "\(text)")
        }
        let both = parseError(["SPILLWAY_LOG_CONFIGURATION": "{}", "SPILLWAY_LOG_CONFIGURATION_FILE": "/x"])
        #expect(both?.variable == "SPILLWAY_LOG_CONFIGURATION_FILE")
    }
}

private func errorOf(_ body: () throws(ConfigurationError) -> Void) -> ConfigurationError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}
