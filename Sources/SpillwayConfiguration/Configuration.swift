// Spillway's typed configuration, in the vocabulary of the modules it configures: the sinks'
// options, the disk buffer's options, the core's record fields and diagnostic level. Everything
// comes from `SPILLWAY_*` environment variables; `parse` (Parse.swift) is a pure function so that
// every rule is unit-testable and only `main` reads the real environment. No Foundation: it would
// link ICU and break the 30 MB binary budget.

import SpillwayCloudWatch
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
import SpillwayMetrics
import SpillwaySystem

public struct Configuration: Sendable, Equatable {
    public enum SinkKind: String, Sendable, CaseIterable { case console, forward, cloudwatch }
    public enum Mode: String, Sendable, CaseIterable { case blocking, nonBlocking = "non-blocking", filesystem }
    public enum DropPolicy: String, Sendable, CaseIterable { case newest, oldest }

    /// CloudWatch's event cap as spillway applies it (the service's exact limit is unpublished).
    public static let cloudWatchMaxEventSize = 1_000_000
    /// Retention values PutRetentionPolicy accepts.
    public static let cloudWatchRetentionDays = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ]
    /// Record fields spillway itself writes; labels and env entries may not shadow them.
    public static let reservedRecordFields = [
        "log", "source", "container_name", "container_id",
        "partial_message", "partial_id", "partial_ordinal", "partial_last",
    ]

    public var sink: SinkKind
    public var mode: Mode
    public var maxBufferSize: Int
    public var drop: DropPolicy
    /// Filesystem mode.
    public var storage: DiskBufferOptions
    public var name: String
    public var containerID: String?
    public var maxLineSize: Int
    /// What starts a multiline record; nil = every line is a record.
    public var multiline: MultilineStart?
    public var multilineFlushInterval: Duration
    public var flushInterval: Duration
    public var shutdownTimeout: Duration
    public var passthrough: Bool
    public var signalGroup: Bool
    public var subreaper: Bool
    public var seccompProfile: String?
    public var seccompSelf: Bool
    /// SPILLWAY_LABELS, in the order given.
    public var labels: [RecordFields.Field]
    /// Names from SPILLWAY_ENV with their values; names missing from the environment are skipped.
    public var env: [RecordFields.Field]
    public var logLevel: DiagnosticLevel
    /// SPILLWAY_LOG_CONFIGURATION as given (its options are read into the variables beside it).
    public var logConfiguration: String?
    /// SPILLWAY_LOG_CONFIGURATION_FILE's path.
    public var logConfigurationFile: String?
    /// Where each SPILLWAY_* value came from, when not the default: "environment" or
    /// "logConfiguration option awslogs-group" (shown by --check-config).
    public var origins: [String: String]
    /// SPILLWAY_METRICS_ADDRESS: where the Prometheus endpoint listens; nil = no endpoint.
    public var metricsAddress: MetricsAddress?
    /// SPILLWAY_STALL_WARNING: readers paused this long get one warning.
    public var stallWarning: Duration
    /// The forward sink's options; its tag and record fields are resolved from the variables above.
    public var forward: ForwardSinkOptions
    /// The CloudWatch sink's options, with the AWS environment fallbacks resolved.
    public var cloudwatch: CloudWatchSinkOptions

    /// The fields every record carries: `container_name`, `container_id`, labels, env.
    public var recordFields: RecordFields {
        RecordFields(containerName: name, containerID: containerID, extra: labels + env)
    }

    /// How the memory buffer behaves when full.
    public var bufferPolicy: BufferPolicy {
        switch (mode, drop) {
        case (.nonBlocking, .newest): .dropNewest
        case (.nonBlocking, .oldest): .dropOldest
        default: .block
        }
    }
}

extension Configuration {
    /// The compiled multiline start rule. Parsing checks it, so a bad regex names its variable
    /// and the logConfiguration option it came from.
    public func multilineRegex() throws(ConfigurationError) -> PosixRegex? {
        guard let multiline else { return nil }
        do {
            return try PosixRegex(multiline.regex)
        } catch {
            let (name, value) = switch multiline {
            case .pattern(let p): ("SPILLWAY_MULTILINE_PATTERN", p)
            case .datetimeFormat(let f): ("SPILLWAY_MULTILINE_DATETIME_FORMAT", f)
            }
            let origin = origins[name].flatMap { $0.hasPrefix("logConfiguration") ? " (from \($0))" : nil } ?? ""
            let converted = if case .datetimeFormat = multiline { " (as the regex \(multiline.regex))" } else { "" }
            throw ConfigurationError(
                variable: name + origin, value: value, expected: "a valid regular expression\(converted): \(error.reason)")
        }
    }
}
