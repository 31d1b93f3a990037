import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SpillwayCore
import SpillwayEventLoop

/// Sends batches to a Fluentd forward-protocol receiver (Fluentd, Fluent Bit, FireLens, …).
///
/// Each batch becomes one PackedForward message (see `ForwardEncoder`), encoded on the sink's own
/// event loop thread. With `requireAck` a batch is delivered only when the receiver acks its chunk
/// id; several batches may be in flight on one connection. The sink never retries and never
/// schedules a reconnect: any failure completes the batch `.retryable` with a short reason, and the
/// delivery core calls `send` again after its backoff; `send` connects lazily, trying the
/// endpoints in order.
public typealias ForwardSink = EventLoopSink<ForwardClient>

extension EventLoopSink where Client == ForwardClient {
    /// Throws a `ConfigurationError` naming the variable when a TLS file cannot be loaded or no
    /// endpoint is given. `resolveHost` gives every address of a host name, so that the balanced
    /// modes make each a server; without it a name is one server.
    public convenience init(
        options: ForwardSinkOptions, diagnostics: any Diagnostics, resolveHost: HostResolution? = nil
    ) throws {
        guard !options.endpoints.isEmpty else {
            throw ConfigurationError(variable: "SPILLWAY_FORWARD_ADDRESS", message: "no forward endpoint given")
        }
        var sslContext: NIOSSLContext? = nil
        if options.endpoints.contains(where: \.isTLS) {
            sslContext = try Self.makeSSLContext(options)
        }
        let encoder = ForwardEncoder(options: options)
        let slack = encoder.messageOverheadEstimate + 64 + options.maxMessageBytes / 64
        let limits = BatchLimits(
            maxRecords: 1 << 20,
            maxBytes: Swift.max(options.maxMessageBytes - slack, 1024),
            bytesPerRecord: encoder.bytesPerRecordEstimate
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = ForwardClient(loop: group.next(), options: options, encoder: encoder,
                                   sslContext: sslContext, diagnostics: diagnostics, resolveHost: resolveHost)
        self.init(client: client, group: group, name: "forward", batchLimits: limits,
                  maxInFlight: Swift.max(options.maxInFlight, 1) * (options.balance == .failover ? 1 : options.endpoints.count))
    }

    static func makeSSLContext(_ options: ForwardSinkOptions) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        if let ca = options.tlsCAFile {
            do {
                config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw ConfigurationError(variable: "SPILLWAY_FORWARD_TLS_CA", message: "cannot load the TLS CA file \(ca): \(pemProblem(error))")
            }
        }
        if let cert = options.tlsCertFile {
            do {
                config.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            } catch {
                throw ConfigurationError(variable: "SPILLWAY_FORWARD_TLS_CERT", message: "cannot load the TLS certificate file \(cert): \(pemProblem(error))")
            }
            guard let key = options.tlsKeyFile else {
                throw ConfigurationError(variable: "SPILLWAY_FORWARD_TLS_KEY", message: "a TLS client certificate needs its key file")
            }
            do {
                config.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw ConfigurationError(variable: "SPILLWAY_FORWARD_TLS_KEY", message: "cannot load the TLS key file \(key): \(pemProblem(error))")
            }
        } else if options.tlsKeyFile != nil {
            throw ConfigurationError(variable: "SPILLWAY_FORWARD_TLS_CERT", message: "a TLS key file needs its certificate file")
        }
        config.certificateVerification = options.tlsVerify ? .fullVerification : .none
        do {
            return try NIOSSLContext(configuration: config)
        } catch {
            throw ConfigurationError(variable: "SPILLWAY_FORWARD_TLS_CA", message: "cannot set up TLS: \(error)")
        }
    }
}

// MARK: - Helpers

/// Why a PEM file could not be used, in words rather than NIO's case names.
private func pemProblem(_ error: any Error) -> String {
    switch error as? NIOSSLError {
    case .failedToLoadCertificate?: return "missing, unreadable, or not a PEM certificate"
    case .failedToLoadPrivateKey?: return "missing, unreadable, or not a PEM private key"
    default: return "\(error)"
    }
}

/// A short human description of a connection error ("connection refused").
func describe(_ error: any Error) -> String {
    switch error {
    case let e as ConnectFailure:
        return e.reason
    default:
        return describeNetworkError(error)
    }
}
