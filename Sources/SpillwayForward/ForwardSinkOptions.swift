import SpillwayCore

/// Every numeric address a host name resolves to; empty when it does not resolve.
public typealias HostResolution = @Sendable (String) -> [String]

/// One receiver: its address and, for the balanced modes, its share of the traffic.
public struct ForwardEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case tls(host: String, port: Int)
        case unix(path: String)

        /// `tcp://host:port`, `tls://host:port`, `unix:///path` (IPv6 hosts in brackets).
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

    /// Fluentd's `<server>` default weight.
    public static let defaultWeight = 60

    public var address: Address
    /// Share of the traffic with `SPILLWAY_FORWARD_BALANCE=weighted`; 0 = none.
    public var weight: Int
    /// Takes traffic only in place of a regular server that is down.
    public var standby: Bool

    public init(_ address: Address, weight: Int = ForwardEndpoint.defaultWeight, standby: Bool = false) {
        self.address = address
        self.weight = weight
        self.standby = standby
    }

    public static func tcp(host: String, port: Int) -> ForwardEndpoint { .init(.tcp(host: host, port: port)) }
    public static func tls(host: String, port: Int) -> ForwardEndpoint { .init(.tls(host: host, port: port)) }
    public static func unix(path: String) -> ForwardEndpoint { .init(.unix(path: path)) }

    public var isTLS: Bool {
        if case .tls = address { return true }
        return false
    }

    /// The address, then the options that differ from the defaults (`tcp://a:24224?weight=30`).
    public var description: String {
        var options: [String] = []
        if weight != Self.defaultWeight { options.append("weight=\(weight)") }
        if standby { options.append("standby=true") }
        return address.description + (options.isEmpty ? "" : "?" + options.joined(separator: "&"))
    }
}

/// How batches are spread over several endpoints.
public enum ForwardBalance: String, Sendable, Equatable, CaseIterable {
    /// All to the first healthy endpoint in order; back to a preferred one when it returns.
    case failover
    /// Evenly over the healthy regular servers, each on its own connection.
    case roundRobin = "round-robin"
    /// In proportion to each server's weight (Fluentd's out_forward).
    case weighted
}

/// How an idle or failed server's health is checked.
public enum ForwardHeartbeat: String, Sendable, Equatable, CaseIterable {
    /// The connection is the heartbeat: a down server is probed with a connect every second.
    case transport
    /// No probe of its own: a down server is tried again `recoverWait` after it failed.
    case none
}

/// How a forward message carries its entries.
public enum ForwardCompression: String, Sendable, Equatable, CaseIterable {
    /// PackedForward.
    case none
    /// CompressedPackedForward.
    case gzip
}

/// Settings of the Fluentd forward-protocol sink (SPILLWAY_FORWARD_* in README).
public struct ForwardSinkOptions: Sendable, Equatable {
    /// Receivers: with `failover` tried in order, the first preferred (failback); else balanced.
    public var endpoints: [ForwardEndpoint]
    /// Forward tag of every message.
    public var tag: String
    /// `container_name`, `container_id` and the extra str fields of every record.
    public var fields: RecordFields
    /// Send a `chunk` id per message and count it delivered only on `{"ack": chunk}`.
    public var requireAck: Bool
    /// No ack this long after the write: close the connection, the batch is retryable.
    public var ackTimeout: Duration
    public var compression: ForwardCompression
    /// Shared key of the handshake (HELO/PING/PONG); nil = no handshake.
    public var sharedKey: String?
    /// User authentication of the handshake.
    public var username: String?
    public var password: String?
    /// Our host name in the handshake.
    public var selfHostname: String
    /// PEM file of CA certificates for `tls://`; nil = the system roots.
    public var tlsCAFile: String?
    /// Client certificate chain and key (PEM) for `tls://`, optional.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    /// Verify the receiver's certificate and host name.
    public var tlsVerify: Bool
    /// Integer seconds instead of EventTime.
    public var timeAsInteger: Bool
    /// Bound of one TCP connect (per endpoint), and again of the TLS and forward handshakes that
    /// follow it (together).
    public var connectTimeout: Duration
    /// A write not completed this long: close the connection, in-flight batches are retryable.
    public var writeTimeout: Duration
    /// Target size of one encoded forward message (the batch limits are derived from it).
    public var maxMessageBytes: Int
    /// Batches outstanding at once.
    public var maxInFlight: Int
    /// While connected to a fallback endpoint, retry the preferred ones this often.
    public var failbackInterval: Duration
    public var balance: ForwardBalance
    /// A server whose probe succeeded gets traffic again this long after (Fluentd's recover_wait).
    public var recoverWait: Duration
    public var heartbeat: ForwardHeartbeat

    public init(
        endpoints: [ForwardEndpoint] = [.tcp(host: "127.0.0.1", port: 24224)],
        tag: String,
        fields: RecordFields,
        requireAck: Bool = true,
        ackTimeout: Duration = .seconds(30),
        compression: ForwardCompression = .none,
        sharedKey: String? = nil,
        username: String? = nil,
        password: String? = nil,
        selfHostname: String = "localhost",
        tlsCAFile: String? = nil,
        tlsCertFile: String? = nil,
        tlsKeyFile: String? = nil,
        tlsVerify: Bool = true,
        timeAsInteger: Bool = false,
        connectTimeout: Duration = .seconds(5),
        writeTimeout: Duration = .seconds(10),
        maxMessageBytes: Int = 512 * 1024,
        maxInFlight: Int = 8,
        failbackInterval: Duration = .seconds(5),
        balance: ForwardBalance = .failover,
        recoverWait: Duration = .seconds(10),
        heartbeat: ForwardHeartbeat = .transport
    ) {
        self.endpoints = endpoints
        self.tag = tag
        self.fields = fields
        self.requireAck = requireAck
        self.ackTimeout = ackTimeout
        self.compression = compression
        self.sharedKey = sharedKey
        self.username = username
        self.password = password
        self.selfHostname = selfHostname
        self.tlsCAFile = tlsCAFile
        self.tlsCertFile = tlsCertFile
        self.tlsKeyFile = tlsKeyFile
        self.tlsVerify = tlsVerify
        self.timeAsInteger = timeAsInteger
        self.connectTimeout = connectTimeout
        self.writeTimeout = writeTimeout
        self.maxMessageBytes = maxMessageBytes
        self.maxInFlight = maxInFlight
        self.failbackInterval = failbackInterval
        self.balance = balance
        self.recoverWait = recoverWait
        self.heartbeat = heartbeat
    }
}
