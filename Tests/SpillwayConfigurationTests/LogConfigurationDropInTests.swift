import Testing
import SpillwayCloudWatch
import SpillwayCore
@testable import SpillwayConfiguration

/// Options that must read exactly as Docker, the ECS agent and Fluent Bit read them: the ECS
/// metadata, credentials endpoint, regex-chosen fields, log_key, and what Docker accepts.
@Suite struct LogConfigurationDropInTests {
    @Test func credentialsEndpointIsTheECSAgentsPath() throws {
        let c = try withOptions("awslogs", group.merging(["awslogs-credentials-endpoint": "/v2/credentials/uuid"]) { a, _ in a })
        #expect(c.cloudwatch.credentialsEndpoint == "/v2/credentials/uuid")
        #expect(c.origins["SPILLWAY_CLOUDWATCH_CREDENTIALS_ENDPOINT"] == "logConfiguration option awslogs-credentials-endpoint")
        let bad = optionsError("awslogs", group.merging(["awslogs-credentials-endpoint": "http://x/"]) { a, _ in a })
        #expect(bad?.description.contains("option awslogs-credentials-endpoint") == true)
    }

    @Test func envRegexAddsMatchingVariablesOfTheWorkload() throws {
        let env = ["APP_VERSION": "3", "APP_REGION": "eu", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "s",
                   "SPILLWAY_CONTAINER_ID": "cid"]
        let c = try withOptions("fluentd", ["env": "HOME", "env-regex": "^(APP_|AWS_|SPILLWAY_)"], env: env)
        #expect(c.env.map(\.name) == ["HOME", "APP_REGION", "APP_VERSION"])
        let alone = try withOptions("fluentd", ["env-regex": "VERSION"], env: env)
        #expect(alone.env == [.init(name: "APP_VERSION", value: "3")])
        let bad = optionsError("fluentd", ["env-regex": "(unclosed"])
        #expect(bad?.description.contains("option env-regex") == true)
    }

    @Test func labelsRegexAddsMatchingDockerLabels() throws {
        let text = """
            {"name": "api", "dockerLabels": {"team": "core", "tier": "1", "com.example.owner": "ops"},
             "logConfiguration": {"logDriver": "fluentd", "options": {"labels": "tier", "labels-regex": "^(t|com\\\\.example)"}}}
            """
        let c = try Configuration.read(environment: ["SPILLWAY_LOG_CONFIGURATION": text], command: ["app"], hostname: "h")
        #expect(c.labels == [.init(name: "tier", value: "1"), .init(name: "com.example.owner", value: "ops"),
                             .init(name: "team", value: "core")])
        let bare = optionsError("fluentd", ["labels-regex": "."])
        #expect(bare?.description.contains("option labels-regex") == true && bare?.description.contains("dockerLabels") == true)
    }

    @Test func logKeyNamesAnyFieldEveryRecordHas() throws {
        let firelens = ["Name": "cloudwatch", "log_group_name": "g", "log_stream_name": "s"]
        func message(_ key: String, env: [String: String] = [:]) throws -> CloudWatchSinkOptions.MessageFormat {
            try withOptions("awsfirelens", firelens.merging(["log_key": key]) { a, _ in a }, env: env).cloudwatch.message
        }
        #expect(try message("log") == .line)
        #expect(try message("source") == .source)
        #expect(try message("container_name") == .fixed(field: "container_name", value: "myapp"))
        #expect(try message("team", env: ["SPILLWAY_LABELS": "team=core"]) == .fixed(field: "team", value: "core"))
        let missing = optionsError("awsfirelens", firelens.merging(["log_key": "container_id"]) { a, _ in a })
        #expect(missing?.description.contains("log_key") == true && missing?.description.contains("container_id is none") == true)
        let shown = try withOptions("awsfirelens", firelens.merging(["log_key": "source"]) { a, _ in a }).redactedDescription()
        #expect(shown.contains("SPILLWAY_CLOUDWATCH_MESSAGE=field:source  # logConfiguration option log_key"))
    }

    @Test func theContainerMetadataNamesTheContainerBelowTheOtherNames() throws {
        let ecs = ECSMetadata(taskID: "t1", taskARN: "arn:aws:ecs:eu-west-1:1:task/c/t1", cluster: "c",
                              taskDefinition: "web:3", containerName: "web-container")
        let options = "{\"logDriver\": \"awslogs\", \"options\": {\"awslogs-group\": \"g\", \"awslogs-region\": \"eu-west-1\", \"awslogs-stream-prefix\": \"p\"}}"
        func read(_ env: [String: String], file: String? = nil) throws -> Configuration {
            try Configuration.read(environment: env, command: ["app"], hostname: "h",
                                   logConfiguration: LogConfigurationInputs(fileContents: file, ecs: ecs))
        }
        let c = try read(["SPILLWAY_LOG_CONFIGURATION": options])
        #expect(c.cloudwatch.stream == "p/web-container/t1")
        #expect(c.origins["SPILLWAY_NAME"] == "ECS container metadata Name")
        #expect(try read(["SPILLWAY_LOG_CONFIGURATION": options, "SPILLWAY_NAME": "mine"]).cloudwatch.stream == "p/mine/t1")
        let definition = "{\"name\": \"defined\", \"logConfiguration\": \(options)}"
        #expect(try read(["SPILLWAY_LOG_CONFIGURATION_FILE": "/f"], file: definition).cloudwatch.stream == "p/defined/t1")
    }

    @Test func theMetadataIsFetchedOnlyWhenSomethingUsesIt() {
        let uri = ["ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:1/v4/x"]
        func needs(_ config: String, _ env: [String: String] = [:]) -> Bool {
            Configuration.needsECSMetadata(environment: uri.merging(env) { a, _ in a }.merging(["SPILLWAY_LOG_CONFIGURATION": config]) { a, _ in a },
                                           fileContents: nil)
        }
        let prefixed = #"{"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream-prefix": "p"}}"#
        #expect(needs(prefixed))
        #expect(!needs(prefixed, ["SPILLWAY_CLOUDWATCH_STREAM": "s"]))
        #expect(!needs(#"{"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream": "s"}}"#))
        let firelens = #"{"logDriver": "awsfirelens", "options": {"name": "cloudwatch", "log_group_name": "g", "log_stream_name": "s"}}"#
        #expect(needs(firelens))
        #expect(!needs(firelens, ["SPILLWAY_CLOUDWATCH_MESSAGE": "line"]))
        #expect(!needs(firelens, ["SPILLWAY_LABELS": "a=b"]))
        #expect(!Configuration.needsECSMetadata(environment: ["SPILLWAY_LOG_CONFIGURATION": prefixed], fileContents: nil))
    }

    @Test func firelensRecordsCarryTheTasksFields() throws {
        let ecs = ECSMetadata(taskID: "t1", taskARN: "arn:aws:ecs:eu-west-1:1:task/c/t1", cluster: "c", taskDefinition: "web:3")
        let firelens = #"{"logDriver": "awsfirelens", "options": {"Name": "cloudwatch", "log_group_name": "g", "log_stream_name": "s"}}"#
        let c = try Configuration.read(environment: ["SPILLWAY_LOG_CONFIGURATION": firelens], command: ["app"], hostname: "h",
                                       logConfiguration: LogConfigurationInputs(ecs: ecs))
        #expect(c.labels == [.init(name: "ecs_cluster", value: "c"), .init(name: "ecs_task_arn", value: ecs.taskARN),
                             .init(name: "ecs_task_definition", value: "web:3")])
        #expect(c.cloudwatch.message == .record(c.recordFields))
        #expect(c.origins["SPILLWAY_LABELS"] == "ECS task metadata")
    }

    @Test func dockerValidConfigurationsAreAccepted() throws {
        let both = try withOptions("awslogs", group.merging(["awslogs-stream": "s", "tag": "{{.Name}}"]) { a, _ in a })
        #expect(both.cloudwatch.stream == "s")
        let prefix = try withOptions("awslogs", group.merging(["awslogs-stream-prefix": "p", "tag": "t"]) { a, _ in a }, taskID: "t1")
        #expect(prefix.cloudwatch.stream == "p/myapp/t1")
        #expect(optionsError("awslogs", group.merging(["awslogs-stream": "s", "tag": "{{.Image}}"]) { a, _ in a }) != nil)
        let zero = try withOptions("fluentd", ["fluentd-write-timeout": "0", "fluentd-read-timeout": "0s"])
        #expect(zero.forward.writeTimeout == .seconds(10) && zero.forward.ackTimeout == .seconds(30))
        for (text, value) in [("1", true), ("t", true), ("T", true), ("TRUE", true), ("true", true), ("True", true),
                              ("0", false), ("f", false), ("F", false), ("FALSE", false), ("false", false), ("False", false)] {
            let c = try withOptions("awslogs", group.merging(["awslogs-create-group": text, "awslogs-create-stream": text]) { a, _ in a })
            #expect(c.cloudwatch.createGroup == value && c.cloudwatch.createStream == value, "\(text)")
            let f = try withOptions("fluentd", ["fluentd-request-ack": text, "fluentd-sub-second-precision": text, "fluentd-async": text])
            #expect(f.forward.requireAck == value && f.forward.timeAsInteger == !value, "\(text)")
        }
        for text in ["yes", "tRuE", "on", ""] {
            #expect(optionsError("fluentd", ["fluentd-async-connect": text])?.description.contains("option fluentd-async-connect") == true)
        }
    }

    @Test func aMultilineVariableReplacesEitherStartOption() throws {
        let c = try withOptions("awslogs", group.merging(["awslogs-datetime-format": "%Y"]) { a, _ in a },
                                env: ["SPILLWAY_MULTILINE_PATTERN": "^x"])
        #expect(c.multiline == .pattern("^x"))
        #expect(c.origins["SPILLWAY_MULTILINE_PATTERN"] == "environment" && c.origins["SPILLWAY_MULTILINE_DATETIME_FORMAT"] == nil)
        let d = try withOptions("awslogs", group.merging(["awslogs-multiline-pattern": "^x"]) { a, _ in a },
                                env: ["SPILLWAY_MULTILINE_DATETIME_FORMAT": "%Y"])
        #expect(d.multiline == .datetimeFormat("%Y"))
    }

    @Test func awsFallbacksShowTheirVariable() throws {
        let c = try parse(["SPILLWAY_SINK": "cloudwatch", "SPILLWAY_CLOUDWATCH_GROUP": "g", "AWS_DEFAULT_REGION": "eu-west-2",
                           "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"])
        #expect(c.origins["SPILLWAY_CLOUDWATCH_REGION"] == "environment AWS_DEFAULT_REGION")
        #expect(c.origins["SPILLWAY_CLOUDWATCH_ENDPOINT"] == "environment AWS_ENDPOINT_URL")
        #expect(c.redactedDescription().contains("SPILLWAY_CLOUDWATCH_REGION=eu-west-2  # environment AWS_DEFAULT_REGION"))
        let own = try parse(["SPILLWAY_SINK": "cloudwatch", "SPILLWAY_CLOUDWATCH_GROUP": "g", "SPILLWAY_CLOUDWATCH_REGION": "us-east-1",
                             "AWS_REGION": "eu-west-2"])
        #expect(own.origins["SPILLWAY_CLOUDWATCH_REGION"] == "environment")
    }

    @Test func aBadStartRegexNamesTheOption() {
        let e = optionsError("awslogs", group.merging(["awslogs-multiline-pattern": "(unclosed"]) { a, _ in a })
        #expect(e?.description.contains("SPILLWAY_MULTILINE_PATTERN (from logConfiguration option awslogs-multiline-pattern)") == true,
                "\(String(describing: e))")
        #expect(parseError(["SPILLWAY_MULTILINE_PATTERN": "(unclosed"])?.variable == "SPILLWAY_MULTILINE_PATTERN")
    }

    @Test func dockersIDIsTheShortOne() throws {
        let id = String(repeating: "0123456789abcdef", count: 4)
        let c = try withOptions("fluentd", ["tag": "{{.ID}}/{{.FullID}}"], env: ["SPILLWAY_CONTAINER_ID": id])
        #expect(c.forward.tag == "0123456789ab/" + id)
        #expect(try parse(["SPILLWAY_TAG": "x.{short_id}", "SPILLWAY_CONTAINER_ID": id]).forward.tag == "x.0123456789ab")
    }
}
