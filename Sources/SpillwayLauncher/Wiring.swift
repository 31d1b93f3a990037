import Dispatch
import SpillwayCloudWatch
import SpillwayConfiguration
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
import SpillwaySeccomp
import SpillwaySystem

extension Configuration {
    /// Throws a `ConfigurationError` naming the multiline variable whose regex does not compile.
    func pipelineSettings() throws(ConfigurationError) -> PipelineSettings {
        PipelineSettings(
            maxLineSize: maxLineSize, flushInterval: flushInterval, passthrough: passthrough,
            reportsProgress: logLevel == .debug, multiline: try multilineSettings(), stallWarning: stallWarning,
            destination: destination,
            stallRemedy: mode == .filesystem
                ? "SPILLWAY_STORAGE_LIMIT or SPILLWAY_STORAGE_FULL=drop-oldest would keep it running"
                : "SPILLWAY_MODE=filesystem would keep it running",
            reportsDropEpisodes: mode == .nonBlocking)
    }

    /// The destination as diagnostics name it.
    var destination: String {
        switch sink {
        case .console: "spillway's stdout"
        case .forward: forward.endpoints.map(\.description).joined(separator: ",")
        case .cloudwatch: "CloudWatch Logs \(cloudwatch.group)/\(cloudwatch.stream)"
        }
    }

    private func multilineSettings() throws(ConfigurationError) -> PipelineSettings.Multiline? {
        guard let start = try multilineRegex() else { return nil }
        return .init(start: start, flushInterval: multilineFlushInterval)
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
            return try ForwardSink(options: configuration.forward, diagnostics: diagnostics,
                                   resolveHost: { HostResolver.addresses(of: $0) })
        }
    }
}

enum StoreFactory {
    /// Memory for blocking and non-blocking modes; the disk buffer (locked, recovered, its
    /// backlog ready to replay) for filesystem mode.
    /// `recording`: the origin a run writes beside its segments for a later `--drain`.
    static func make(
        _ configuration: Configuration, limits: BatchLimits, clock: WallClock, recording origin: RecordOrigin?,
        diagnostics: Diagnostics
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
        if let origin {
            do {
                try buffer.record(origin: origin.encoded())
            } catch {
                throw ConfigurationError(variable: "SPILLWAY_STORAGE_PATH", message: "\(error)")
            }
        }
        buffer.recoveryNotes.forEach { diagnostics.warning("storage \(directory): \($0)") }
        if buffer.unacknowledgedCount > 0 {
            diagnostics.info("replaying \(buffer.unacknowledgedCount) records left in \(directory)")
        }
        return DiskStore(buffer: buffer, clock: clock, diagnostics: diagnostics)
    }
}

/// The two seccomp filters a start may need, compiled before anything is spawned so that a bad
/// profile is a 125 with nothing running.
struct SeccompFilters {
    /// SPILLWAY_SECCOMP_PROFILE: installed in the child right before exec.
    var workload: CompiledSeccompFilter?
    /// SPILLWAY_SECCOMP_SELF: loaded on spillway's own threads once the workload and sink are up.
    var spillway: CompiledSeccompFilter?
}

enum SeccompFactory {
    static let variable = "SPILLWAY_SECCOMP_PROFILE"
    static let selfVariable = "SPILLWAY_SECCOMP_SELF"

    static func make(_ configuration: Configuration, diagnostics: Diagnostics) throws(ConfigurationError) -> SeccompFilters {
        SeccompFilters(
            workload: try workload(configuration, diagnostics: diagnostics),
            spillway: try spillway(configuration, diagnostics: diagnostics))
    }

    /// spillway's own filter (`SelfConfinement`), when SPILLWAY_SECCOMP_SELF is true.
    static func spillway(_ configuration: Configuration, diagnostics: Diagnostics) throws(ConfigurationError) -> CompiledSeccompFilter? {
        guard configuration.seccompSelf else { return nil }
        do {
            let compiled = try SeccompCompiler.selfConfinementFilter()
            diagnostics.debug("seccomp: spillway itself: \(summary(compiled))")
            return compiled
        } catch {
            throw ConfigurationError(variable: selfVariable, message: "cannot build spillway's own filter: \(error)")
        }
    }

    /// The workload's filter from `SPILLWAY_SECCOMP_PROFILE` (a path, or `default` for the built-in
    /// profile), evaluated for this host and compiled; nil when the variable is unset. Syscall
    /// names this libseccomp does not know are skipped with one warning.
    static func workload(_ configuration: Configuration, diagnostics: Diagnostics) throws(ConfigurationError) -> CompiledSeccompFilter? {
        guard let source = configuration.seccompProfile else { return nil }
        let started = ContinuousClock.now
        let name = source == "default" ? "the default profile" : source
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(variable: variable, message: "\(name): \(message)")
        }
        let compiled: CompiledSeccompFilter
        if source == "default" {
            do {
                compiled = try SeccompCompiler.defaultProfileFilter(host: { host(diagnostics: diagnostics) })
            } catch {
                throw failure("\(error)")
            }
        } else {
            let limit = 4 << 20
            let bytes: [UInt8]
            do {
                bytes = try readSmallFile(source, limit: limit + 1)
            } catch {
                throw failure("cannot read the profile: \(error)")
            }
            guard bytes.count <= limit else { throw failure("larger than 4 MiB; not a seccomp profile") }
            do {
                compiled = try SeccompCompiler.compile(SeccompProfile.parse(bytes).evaluate(for: host(diagnostics: diagnostics)))
            } catch {
                throw failure("\(error)")
            }
        }
        if !compiled.unknownSyscalls.isEmpty {
            diagnostics.warning(
                "\(variable): \(name): skipping \(compiled.unknownSyscalls.count) syscall names libseccomp "
                    + "\(CurrentProcess.seccompVersion()) does not know: \(compiled.unknownSyscalls.joined(separator: ", "))")
        }
        if !compiled.unknownArchitectures.isEmpty {
            diagnostics.warning(
                "\(variable): \(name): skipping architectures libseccomp \(CurrentProcess.seccompVersion()) does not know: "
                    + compiled.unknownArchitectures.joined(separator: ", "))
        }
        let elapsed = (ContinuousClock.now - started).components
        let micros = elapsed.seconds * 1_000_000 + elapsed.attoseconds / 1_000_000_000_000
        diagnostics.debug("seccomp: \(name): \(summary(compiled)), compiled in \(micros) µs")
        return compiled
    }

    static func summary(_ filter: CompiledSeccompFilter) -> String {
        "\(filter.ruleCount) rules, default action \(filter.defaultAction), \(filter.instructionCount) BPF instructions"
    }

    /// What the workload will run with: this architecture, spillway's effective capabilities
    /// (an exec keeps them for root, as a container's process holds its set), the running kernel.
    static func host(diagnostics: Diagnostics) -> SeccompHost {
        var capabilities: Set<String> = []
        if let status = try? readSmallFile("/proc/self/status", limit: 64 << 10),
           let effective = SeccompHost.capabilities(procStatus: String(decoding: status, as: UTF8.self)) {
            capabilities = effective
        } else {
            diagnostics.warning("\(variable): cannot read Uid, CapBnd, CapInh or CapAmb from /proc/self/status; includes/excludes see no capabilities")
        }
        let release = CurrentProcess.kernelRelease()
        let kernel = KernelVersion(release: release) ?? KernelVersion(major: 0, minor: 0)
        if KernelVersion(release: release) == nil {
            diagnostics.warning("\(variable): cannot parse the kernel release \"\(release)\"; minKernel sees 0.0")
        }
        return SeccompHost(capabilities: capabilities, kernel: kernel)
    }
}
