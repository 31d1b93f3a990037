import SpillwayConfiguration
import SpillwayCore
import SpillwayForward
import SpillwaySystem

/// Configuration → the typed settings each module takes.
extension Configuration {
    var diagnosticLevel: DiagnosticLevel {
        switch logLevel {
        case .debug: return .debug
        case .info: return .info
        case .warning: return .warning
        case .error: return .error
        }
    }

    var recordFields: RecordFields {
        RecordFields(
            containerName: name, containerID: containerID,
            extra: (labels + env).map { RecordFields.Field(name: $0.name, value: $0.value) })
    }

    var pipelineSettings: PipelineSettings {
        let policy: BufferPolicy = switch (mode, drop) {
        case (.nonBlocking, .newest): .dropNewest
        case (.nonBlocking, .oldest): .dropOldest
        default: .block
        }
        return PipelineSettings(
            policy: policy, bufferSize: maxBufferSize, maxLineSize: maxLineSize,
            flushInterval: flushInterval, passthrough: passthrough)
    }
}

extension Configuration {
    var forwardOptions: ForwardSinkOptions {
        let endpoints: [ForwardEndpoint] = forward.addresses.map {
            switch $0 {
            case .tcp(let host, let port): .tcp(host: host, port: port)
            case .tls(let host, let port): .tls(host: host, port: port)
            case .unix(let path): .unix(path: path)
            }
        }
        return ForwardSinkOptions(
            endpoints: endpoints, tag: tag, containerName: name, containerID: containerID,
            extraFields: (labels + env).map { (name: $0.name, value: $0.value) },
            requireAck: forward.requireAck, ackTimeout: forward.ackTimeout,
            compressGzip: forward.compress == .gzip, sharedKey: forward.sharedKey,
            username: forward.username, password: forward.password, selfHostname: forward.selfHostname,
            tlsCAFile: forward.tlsCA, tlsCertFile: forward.tlsCert, tlsKeyFile: forward.tlsKey,
            tlsVerify: forward.tlsVerify, timeAsInteger: forward.timeAsInteger,
            connectTimeout: forward.connectTimeout, writeTimeout: forward.writeTimeout)
    }
}

/// A sink that cannot be set up (e.g. an unreadable TLS file): a 125 naming the variable.
struct SinkSetupError: Error, CustomStringConvertible {
    var variable: String
    var message: String
    var description: String { "\(variable): \(message)" }
}

enum SinkFactory {
    static func make(_ configuration: Configuration, diagnostics: Diagnostics) throws(SinkSetupError) -> Sink {
        switch configuration.sink {
        case .console, .cloudwatch:
            return ConsoleSink(fields: configuration.recordFields) { bytes in
                do {
                    try FileDescriptor.standardOutput.writeAll(bytes)
                    return true
                } catch {
                    return false
                }
            }
        case .forward:
            do {
                return try ForwardSink(options: configuration.forwardOptions, diagnostics: diagnostics)
            } catch let error as ForwardSinkSetupError {
                let variable = switch error.option {
                case "tlsCAFile": "SPILLWAY_FORWARD_TLS_CA"
                case "tlsCertFile": "SPILLWAY_FORWARD_TLS_CERT"
                case "tlsKeyFile": "SPILLWAY_FORWARD_TLS_KEY"
                default: "SPILLWAY_FORWARD_ADDRESS"
                }
                throw SinkSetupError(variable: variable, message: error.message)
            } catch {
                throw SinkSetupError(variable: "SPILLWAY_SINK", message: "\(error)")
            }
        }
    }
}
