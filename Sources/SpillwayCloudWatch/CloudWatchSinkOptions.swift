import SpillwayCore

/// Settings of the CloudWatch Logs sink (SPILLWAY_CLOUDWATCH_* in README). `environment` is the
/// process environment as a dictionary: the credential chain and the region/endpoint fallbacks
/// read the standard `AWS_*` variables from it (this module never calls getenv).
public struct CloudWatchSinkOptions: Sendable, Equatable {
    /// What an event's message is: the line, the whole record as a JSON object (what a
    /// FireLens Fluent Bit sidecar sends without log_key), or one field's value (with log_key).
    public enum MessageFormat: Sendable, Equatable {
        case line
        case record(RecordFields)
        /// The `source` field: stdout or stderr.
        case source
        /// A field whose value every record shares (container_name, a label, ...).
        case fixed(field: String, value: String)
    }

    /// SPILLWAY_CLOUDWATCH_GROUP.
    public var group: String
    /// SPILLWAY_CLOUDWATCH_STREAM, already template-expanded.
    public var stream: String
    /// SPILLWAY_CLOUDWATCH_CREATE_GROUP (default false).
    public var createGroup: Bool
    /// SPILLWAY_CLOUDWATCH_CREATE_STREAM (default true).
    public var createStream: Bool
    /// SPILLWAY_CLOUDWATCH_RETENTION_DAYS: applied with PutRetentionPolicy to a group spillway creates.
    public var retentionDays: Int?
    /// SPILLWAY_CLOUDWATCH_REGION; nil: AWS_REGION, AWS_DEFAULT_REGION, then instance metadata.
    public var region: String?
    /// SPILLWAY_CLOUDWATCH_ENDPOINT; nil: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, AWS_ENDPOINT_URL, then
    /// https://logs.<region>.amazonaws.com.
    public var endpoint: String?
    /// SPILLWAY_CLOUDWATCH_CREDENTIALS_ENDPOINT: a path on the ECS agent (169.254.170.2) that is
    /// then the only credential source, as Docker's awslogs-credentials-endpoint.
    public var credentialsEndpoint: String?
    /// SPILLWAY_CLOUDWATCH_FORMAT: "json/emf" sends `x-amzn-logs-format: json/emf`.
    public var format: String?
    /// SPILLWAY_CLOUDWATCH_MESSAGE.
    public var message: MessageFormat = .line
    /// The process environment's AWS_* variables (credentials, region, endpoints, AWS_CA_BUNDLE)
    /// and HOME (the shared credential files).
    public var environment: [String: String]
    public var connectTimeout: Duration
    /// Whole PutLogEvents exchange (and the create calls), from the first byte written.
    public var requestTimeout: Duration
    /// STS and the container credentials endpoint.
    public var credentialsTimeout: Duration
    /// Each instance-metadata request (the region lookup at start waits for about this long).
    public var metadataTimeout: Duration

    public init(
        group: String, stream: String, createGroup: Bool = false, createStream: Bool = true,
        retentionDays: Int? = nil, region: String? = nil, endpoint: String? = nil, format: String? = nil,
        environment: [String: String] = [:], connectTimeout: Duration = .seconds(5),
        requestTimeout: Duration = .seconds(30), credentialsTimeout: Duration = .seconds(5),
        metadataTimeout: Duration = .seconds(1)
    ) {
        self.group = group
        self.stream = stream
        self.createGroup = createGroup
        self.createStream = createStream
        self.retentionDays = retentionDays
        self.region = region
        self.endpoint = endpoint
        self.format = format
        self.environment = environment
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.credentialsTimeout = credentialsTimeout
        self.metadataTimeout = metadataTimeout
    }
}
