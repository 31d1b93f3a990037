import Dispatch
import SpillwayCloudWatch
import SpillwayConfiguration
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
import SpillwaySystem

extension Configuration {
    var pipelineSettings: PipelineSettings {
        PipelineSettings(
            maxLineSize: maxLineSize, flushInterval: flushInterval, passthrough: passthrough,
            reportsProgress: logLevel == .debug)
    }
}

enum SinkFactory {
    /// Throws a `ConfigurationError` naming the variable when a check with side effects fails.
    static func make(_ configuration: Configuration, diagnostics: Diagnostics) throws -> Sink {
        switch configuration.sink {
        case .cloudwatch:
            return try CloudWatchSink(
                options: configuration.cloudwatch, diagnostics: diagnostics, clock: SystemWallClock(),
                readFile: { path in try readSmallFile(path) })
        case .console:
            let queue = DispatchQueue(label: "spillway.console")
            return ConsoleSink(fields: configuration.recordFields, perform: { queue.async(execute: $0) }) { bytes in
                do {
                    try FileDescriptor.standardOutput.writeAll(bytes)
                    return true
                } catch {
                    return false
                }
            }
        case .forward:
            return try ForwardSink(options: configuration.forward, diagnostics: diagnostics)
        }
    }
}

enum StoreFactory {
    /// Memory for blocking and non-blocking modes; the disk buffer (locked, recovered, its
    /// backlog ready to replay) for filesystem mode.
    static func make(
        _ configuration: Configuration, limits: BatchLimits, clock: WallClock, diagnostics: Diagnostics
    ) throws(ConfigurationError) -> RecordStore {
        guard configuration.mode == .filesystem else {
            return MemoryStore(capacity: configuration.maxBufferSize, policy: configuration.bufferPolicy, limits: limits)
        }
        let buffer: DiskBuffer
        let directory = configuration.storage.directory
        do {
            buffer = try DiskBuffer(options: configuration.storage)
        } catch {
            throw ConfigurationError(variable: "SPILLWAY_STORAGE_PATH", message: "\(error)")
        }
        buffer.recoveryNotes.forEach { diagnostics.warning("storage \(directory): \($0)") }
        if buffer.unacknowledgedCount > 0 {
            diagnostics.info("replaying \(buffer.unacknowledgedCount) records left in \(directory)")
        }
        return DiskStore(buffer: buffer, clock: clock, diagnostics: diagnostics)
    }
}
