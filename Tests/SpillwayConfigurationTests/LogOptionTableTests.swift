import Testing
import SpillwayCore
@testable import SpillwayConfiguration

/// Every row of `LogOptions.rows`, option by option: a valid value starts, an invalid one is a
/// 125 naming the option, and an option no row names for the driver is refused.
@Suite struct LogOptionTableTests {
    enum Kind: String { case awslogs, fluentd, cloudwatch = "awsfirelens cloudwatch", forward = "awsfirelens forward" }

    struct Case {
        var option: String
        var kinds: [Kind]
        var valid: String
        /// nil: every value is accepted (the option is checked where it is used, or not at all).
        var invalid: String?
        /// A refused option: no value is valid.
        var refused = false
    }

    static let every: [Kind] = [.awslogs, .fluentd, .cloudwatch, .forward]
    static let cases: [Case] = [
        Case(option: "mode", kinds: every, valid: "non-blocking", invalid: "sometimes"),
        Case(option: "max-buffer-size", kinds: every, valid: "2m", invalid: "lots"),
        Case(option: "drop", kinds: every, valid: "oldest", invalid: "middle"),
        Case(option: "storage-path", kinds: every, valid: "/tmp/spillway", invalid: "{pod}"),
        Case(option: "storage-limit", kinds: every, valid: "10m", invalid: "big"),
        Case(option: "storage-full", kinds: every, valid: "drop-oldest", invalid: "explode"),
        Case(option: "storage-sync", kinds: every, valid: "full", invalid: "never"),
        Case(option: "cache-disabled", kinds: every, valid: "True", invalid: "yes"),
        Case(option: "cache-max-size", kinds: every, valid: "10m", invalid: "big"),
        Case(option: "cache-max-file", kinds: every, valid: "2", invalid: "0"),
        Case(option: "cache-compress", kinds: every, valid: "0", invalid: "no"),
        Case(option: "awslogs-group", kinds: [.awslogs], valid: "g", invalid: "bad group!"),
        Case(option: "awslogs-region", kinds: [.awslogs], valid: "eu-west-1", invalid: "EU WEST"),
        Case(option: "awslogs-stream", kinds: [.awslogs], valid: "s", invalid: "a:b"),
        Case(option: "awslogs-stream-prefix", kinds: [.awslogs], valid: "p", invalid: ""),
        Case(option: "awslogs-create-group", kinds: [.awslogs], valid: "t", invalid: "maybe"),
        Case(option: "awslogs-create-stream", kinds: [.awslogs], valid: "F", invalid: "maybe"),
        Case(option: "awslogs-endpoint", kinds: [.awslogs], valid: "http://127.0.0.1:5000", invalid: "ftp://x"),
        Case(option: "awslogs-credentials-endpoint", kinds: [.awslogs], valid: "/v2/credentials/id", invalid: "v2"),
        Case(option: "awslogs-datetime-format", kinds: [.awslogs], valid: "%Y-%m-%d", invalid: ""),
        Case(option: "awslogs-multiline-pattern", kinds: [.awslogs], valid: "^x", invalid: "(unclosed"),
        Case(option: "awslogs-format", kinds: [.awslogs], valid: "json/emf", invalid: "xml"),
        Case(option: "awslogs-force-flush-interval-seconds", kinds: [.awslogs], valid: "5", invalid: "0"),
        Case(option: "awslogs-max-buffered-events", kinds: [.awslogs], valid: "10", invalid: "-1"),
        Case(option: "awslogs-datetime-as-event-time", kinds: [.awslogs], valid: "false", invalid: "true"),
        Case(option: "awslogs-datetime-timezone", kinds: [.awslogs], valid: "UTC", invalid: nil, refused: true),
        Case(option: "tag", kinds: [.awslogs, .fluentd], valid: "x.{{.Name}}.{{.ID}}", invalid: "{{.ImageName}}"),
        Case(option: "fluentd-address", kinds: [.fluentd], valid: "127.0.0.1:24224", invalid: "tcp://h/x"),
        Case(option: "labels", kinds: [.fluentd], valid: "team", invalid: nil),
        Case(option: "labels-regex", kinds: [.fluentd], valid: "^t", invalid: "(x"),
        Case(option: "env", kinds: [.fluentd], valid: "HOME", invalid: "SPILLWAY_X"),
        Case(option: "env-regex", kinds: [.fluentd], valid: "^HO", invalid: "(x"),
        Case(option: "fluentd-async", kinds: [.fluentd], valid: "TRUE", invalid: "yes"),
        Case(option: "fluentd-async-connect", kinds: [.fluentd], valid: "f", invalid: "on"),
        Case(option: "fluentd-async-reconnect-interval", kinds: [.fluentd], valid: "1s", invalid: "20s"),
        Case(option: "fluentd-buffer-limit", kinds: [.fluentd], valid: "1m", invalid: "lots"),
        Case(option: "fluentd-retry-wait", kinds: [.fluentd], valid: "1s", invalid: "soon"),
        Case(option: "fluentd-max-retries", kinds: [.fluentd], valid: "3", invalid: "-1"),
        Case(option: "fluentd-sub-second-precision", kinds: [.fluentd], valid: "true", invalid: "on"),
        Case(option: "fluentd-request-ack", kinds: [.fluentd], valid: "False", invalid: "no"),
        Case(option: "fluentd-read-timeout", kinds: [.fluentd], valid: "0", invalid: "soon"),
        Case(option: "fluentd-write-timeout", kinds: [.fluentd], valid: "5s", invalid: "-5s"),
        Case(option: "name", kinds: [.cloudwatch, .forward], valid: "", invalid: "s3"),
        Case(option: "region", kinds: [.cloudwatch], valid: "eu-west-1", invalid: "EU"),
        Case(option: "log_group_name", kinds: [.cloudwatch], valid: "g", invalid: "bad group!"),
        Case(option: "log_stream_name", kinds: [.cloudwatch], valid: "s", invalid: "a:b"),
        Case(option: "log_stream_prefix", kinds: [.cloudwatch], valid: "p-", invalid: "a:"),
        Case(option: "auto_create_group", kinds: [.cloudwatch], valid: "On", invalid: "maybe"),
        Case(option: "log_retention_days", kinds: [.cloudwatch], valid: "7", invalid: "8"),
        Case(option: "endpoint", kinds: [.cloudwatch], valid: "logs.example", invalid: "ftp://x"),
        Case(option: "log_key", kinds: [.cloudwatch], valid: "source", invalid: "nosuch"),
        Case(option: "log_format", kinds: [.cloudwatch], valid: "json/emf", invalid: "xml"),
        Case(option: "retry_limit", kinds: [.cloudwatch, .forward], valid: "no_limits", invalid: "sometimes"),
        Case(option: "host", kinds: [.forward], valid: "127.0.0.1", invalid: nil),
        Case(option: "port", kinds: [.forward], valid: "24225", invalid: "99999"),
        Case(option: "tls", kinds: [.forward], valid: "on", invalid: "maybe"),
        Case(option: "tls.verify", kinds: [.forward], valid: "off", invalid: "maybe"),
        Case(option: "shared_key", kinds: [.forward], valid: "k", invalid: ""),
    ]

    /// A container definition (dockerLabels for labels) whose logConfiguration has `option: value`
    /// beside what its driver requires.
    static func read(_ kind: Kind, _ option: String, _ value: String) throws(ConfigurationError) -> Configuration {
        var options: [String: String] = switch kind {
        case .awslogs: ["awslogs-group": "g"]
        case .fluentd: [:]
        case .cloudwatch: ["Name": "cloudwatch", "log_group_name": "g", "log_stream_name": "s"]
        case .forward: ["Name": "forward"]
        }
        if option == "log_stream_prefix" { options["log_stream_name"] = nil }
        if option == "name" {
            // The valid case: the output's other spelling.
            options["Name"] = value.isEmpty ? (kind == .cloudwatch ? "CloudWatch_Logs" : "FORWARD") : value
        } else {
            options[option] = value
        }
        func quoted(_ s: String) -> String { "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" }
        let members = options.keys.sorted().map { "\(quoted($0)): \(quoted(options[$0]!))" }.joined(separator: ", ")
        let driver = kind == .awslogs || kind == .fluentd ? kind.rawValue : "awsfirelens"
        let text = #"{"name": "app", "dockerLabels": {"team": "core"}, "logConfiguration": {"logDriver": "\#(driver)", "options": {\#(members)}}}"#
        return try Configuration.read(environment: ["SPILLWAY_LOG_CONFIGURATION": text, "SPILLWAY_CONTAINER_ID": "cid", "HOME": "/root"],
                                      command: ["app"], hostname: "h")
    }

    static func error(_ kind: Kind, _ option: String, _ value: String) -> ConfigurationError? {
        do {
            _ = try read(kind, option, value)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyRowHasACase() {
        for row in LogOptions.rows {
            #expect(Self.cases.contains { $0.option == row.option }, "no case for \(row.option)")
        }
    }

    @Test(arguments: cases) func validAndInvalidValues(_ c: Case) {
        for kind in c.kinds {
            let valid = Self.error(kind, c.option, c.valid)
            if c.refused {
                #expect(valid?.description.lowercased().contains("option \(c.option)") == true, "\(kind) \(c.option): \(String(describing: valid))")
                continue
            }
            #expect(valid == nil, "\(kind) \(c.option)=\(c.valid): \(String(describing: valid))")
            guard let invalid = c.invalid else { continue }
            let e = Self.error(kind, c.option, invalid)
            #expect(e?.description.lowercased().contains("option \(c.option)") == true,
                    "\(kind) \(c.option)=\(invalid): \(String(describing: e))")
        }
    }

    @Test func unknownOptionsAreRefusedNamingThem() {
        let foreign: [Kind: String] = [.awslogs: "fluentd-address", .fluentd: "awslogs-group", .cloudwatch: "host", .forward: "log_group_name"]
        for kind in Self.every {
            for option in ["no-such-option", foreign[kind]!] {
                let e = Self.error(kind, option, "x")
                #expect(e?.description.lowercased().contains("option \(option)") == true, "\(kind) \(option): \(String(describing: e))")
            }
        }
    }
}

extension LogOptionTableTests.Case: CustomTestStringConvertible {
    var testDescription: String { option }
}
