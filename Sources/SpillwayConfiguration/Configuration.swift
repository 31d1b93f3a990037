// Spillway's typed configuration. Everything comes from `SPILLWAY_*` environment variables
// (see DESIGN.md, "Configuration"); `parse` (Parse.swift) is a pure function so that every rule
// is unit-testable and only `main` reads the real environment. This module imports nothing but
// the standard library: Foundation would link ICU and break the 30 MB binary budget.

public struct Configuration: Sendable, Equatable {
    public enum SinkKind: String, Sendable, CaseIterable { case console, forward, cloudwatch }
    public enum Mode: String, Sendable, CaseIterable { case blocking, nonBlocking = "non-blocking", filesystem }
    public enum DropPolicy: String, Sendable, CaseIterable { case newest, oldest }
    public enum StorageFull: String, Sendable, CaseIterable { case block, dropOldest = "drop-oldest" }
    public enum StorageSync: String, Sendable, CaseIterable { case normal, full }
    public enum LogLevel: String, Sendable, CaseIterable, Comparable {
        case debug, info, warning, error
        public static func < (a: LogLevel, b: LogLevel) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }
    public enum Compression: String, Sendable, CaseIterable { case none, gzip }

    /// Bytes the buffers charge per record on top of its line bytes, so that many tiny lines
    /// cannot exceed a buffer. A buffer must hold at least one maximal record.
    public static let recordOverhead = 64
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

    /// One extra record field (from SPILLWAY_LABELS or SPILLWAY_ENV), in the order given.
    public struct Field: Sendable, Equatable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public struct Storage: Sendable, Equatable {
        public var path: String
        public var limit: Int
        public var full: StorageFull
        public var sync: StorageSync
    }

    public enum ForwardAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case tls(host: String, port: Int)
        case unix(path: String)

        /// The URI form SPILLWAY_FORWARD_ADDRESS takes; IPv6 hosts get their brackets back.
        public var description: String {
            func hostPort(_ host: String, _ port: Int) -> String {
                host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            }
            switch self {
            case .tcp(let host, let port): return "tcp://" + hostPort(host, port)
            case .tls(let host, let port): return "tls://" + hostPort(host, port)
            case .unix(let path): return "unix://" + path
            }
        }
    }

    public struct Forward: Sendable, Equatable {
        /// Failover order: the first that accepts a connection is used.
        public var addresses: [ForwardAddress]
        public var requireAck: Bool
        public var ackTimeout: Duration
        public var compress: Compression
        public var sharedKey: String?
        public var username: String?
        public var password: String?
        public var selfHostname: String
        /// nil = the system's trust roots.
        public var tlsCA: String?
        public var tlsCert: String?
        public var tlsKey: String?
        public var tlsVerify: Bool
        public var timeAsInteger: Bool
        public var connectTimeout: Duration
        public var writeTimeout: Duration
    }

    public struct CloudWatch: Sendable, Equatable {
        /// Required (checked by `parse`) when the sink is cloudwatch.
        public var group: String?
        public var stream: String
        public var createGroup: Bool
        public var createStream: Bool
        public var retentionDays: Int?
        /// nil = ask instance metadata (the sink does that; this module stays pure).
        public var region: String?
        /// nil = https://logs.<region>.amazonaws.com (the sink builds it once the region is known).
        public var endpoint: String?
        /// Only "json/emf" (sent as the x-amzn-logs-format header).
        public var format: String?
    }

    public var sink: SinkKind
    public var mode: Mode
    public var maxBufferSize: Int
    public var drop: DropPolicy
    public var storage: Storage
    public var name: String
    public var containerID: String?
    /// Expanded from its template.
    public var tag: String
    public var maxLineSize: Int
    public var multilinePattern: String?
    public var flushInterval: Duration
    public var shutdownTimeout: Duration
    public var passthrough: Bool
    public var signalGroup: Bool
    public var subreaper: Bool
    public var seccompProfile: String?
    public var seccompSelf: Bool
    public var labels: [Field]
    /// Names from SPILLWAY_ENV with their values; names missing from the environment are skipped.
    public var env: [Field]
    public var logLevel: LogLevel
    /// Raw JSON; interpreted by a later stage.
    public var logConfiguration: String?
    public var forward: Forward
    public var cloudwatch: CloudWatch
}
