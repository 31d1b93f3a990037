import SpillwayCloudWatch
import SpillwayConfiguration
import SpillwayCore
import SpillwayDiskBuffer
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
            flushInterval: flushInterval, passthrough: passthrough,
            reportsProgress: diagnosticLevel == .debug)
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

extension Configuration {
    func cloudWatchOptions(environment: [String: String]) -> CloudWatchSinkOptions {
        CloudWatchSinkOptions(
            group: cloudwatch.group ?? "", stream: cloudwatch.stream, createGroup: cloudwatch.createGroup,
            createStream: cloudwatch.createStream, retentionDays: cloudwatch.retentionDays,
            region: cloudwatch.region, endpoint: cloudwatch.endpoint, format: cloudwatch.format,
            environment: environment)
    }

    var diskBufferOptions: DiskBufferOptions {
        DiskBufferOptions(
            directory: storage.path, limit: storage.limit,
            full: storage.full == .dropOldest ? .dropOldest : .block,
            sync: storage.sync == .full ? .full : .normal)
    }
}

/// A sink or store that cannot be set up (an unreadable TLS file, a locked storage directory):
/// a 125 naming the variable.
struct SetupError: Error, CustomStringConvertible {
    var variable: String
    var message: String
    var description: String { "\(variable): \(message)" }
}

enum SinkFactory {
    static func make(
        _ configuration: Configuration, environment: [String: String], diagnostics: Diagnostics
    ) throws(SetupError) -> Sink {
        switch configuration.sink {
        case .cloudwatch:
            do {
                return try CloudWatchSink(
                    options: configuration.cloudWatchOptions(environment: environment), diagnostics: diagnostics)
            } catch let error as CloudWatchSinkSetupError {
                throw SetupError(variable: error.variable, message: error.message)
            } catch {
                throw SetupError(variable: "SPILLWAY_SINK", message: "\(error)")
            }
        case .console:
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
                throw SetupError(variable: variable, message: error.message)
            } catch {
                throw SetupError(variable: "SPILLWAY_SINK", message: "\(error)")
            }
        }
    }
}

enum StoreFactory {
    /// Memory for blocking and non-blocking modes; the disk buffer (locked, recovered, its
    /// backlog ready to replay) for filesystem mode.
    static func make(
        _ configuration: Configuration, limits: BatchLimits, clock: WallClock, diagnostics: Diagnostics
    ) throws(SetupError) -> RecordStore {
        guard configuration.mode == .filesystem else {
            return MemoryStore(
                capacity: configuration.maxBufferSize, policy: configuration.pipelineSettings.policy, limits: limits)
        }
        let buffer: DiskBuffer
        do {
            buffer = try DiskBuffer(options: configuration.diskBufferOptions)
        } catch {
            throw SetupError(variable: "SPILLWAY_STORAGE_PATH", message: "\(error)")
        }
        buffer.recoveryNotes.forEach { diagnostics.warning("storage \(configuration.storage.path): \($0)") }
        if buffer.unacknowledgedCount > 0 {
            diagnostics.info("replaying \(buffer.unacknowledgedCount) records left in \(configuration.storage.path)")
        }
        return DiskStore(buffer: buffer, clock: clock, diagnostics: diagnostics)
    }
}
