import Dispatch
import SpillwayCloudWatch
import SpillwayConfiguration
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayMetrics
import SpillwaySeccomp
import SpillwaySystem

let spillwayVersion = "0.1.0"

/// Runs spillway: configuration, the workload, the pipeline, and the supervisor loop (tini's
/// one straight line: wait for a signal, forward it, reap, leave when the main child is gone).
public enum Launcher {
    public static func run(arguments: [String]) -> Int32 {
        let invocation: Invocation
        switch Invocation.parse(arguments) {
        case .success(let parsed): invocation = parsed
        case .failure(let error):
            StandardErrorDiagnostics.write("spillway: \(error.message)")
            return 125
        }
        switch invocation {
        case .help:
            print(Invocation.usage + "\n\n" + Configuration.helpText())
            return 0
        case .version:
            print("spillway \(spillwayVersion) (libseccomp \(CurrentProcess.seccompVersion()))")
            return 0
        case .checkConfiguration(let command):
            guard let configuration = configure(command: command, environment: environmentDictionary()),
                  let seccomp = validate(configuration)
            else { return 125 }
            print(configuration.redactedDescription())
            if let filter = seccomp.workload {
                print("seccomp: \(SeccompFactory.summary(filter))")
            }
            if let filter = seccomp.spillway {
                print("seccomp of spillway itself: \(SeccompFactory.summary(filter))")
            }
            return 0
        case .run(let command):
            guard let configuration = configure(command: command, environment: environmentDictionary()) else {
                return 125
            }
            return supervise(command: command, configuration: configuration)
        case .drain(let command):
            let environment = environmentDictionary()
            guard let configuration = configure(command: command, environment: environment, for: .drain) else {
                return 125
            }
            return drain(configuration: configuration, environment: environment)
        }
    }

    /// Parses and validates the environment; prints the one-line error and returns nil on failure.
    static func configure(
        command: [String], environment: [String: String], for purpose: Configuration.Purpose = .run
    ) -> Configuration? {
        do {
            return try Configuration.parse(
                environment: environment, command: command, hostname: CurrentProcess.hostname(), for: purpose,
                logConfiguration: try logConfigurationInputs(environment))
        } catch {
            StandardErrorDiagnostics.write("spillway: \(error)")
            return nil
        }
    }

    /// What parsing a logConfiguration needs from outside: the file's text and, on ECS when
    /// something uses them, the task and container metadata.
    static func logConfigurationInputs(_ environment: [String: String]) throws(ConfigurationError) -> LogConfigurationInputs {
        var inputs = LogConfigurationInputs()
        if let path = environment["SPILLWAY_LOG_CONFIGURATION_FILE"], !path.isEmpty {
            do {
                inputs.fileContents = String(decoding: try readSmallFile(path, limit: 4 << 20), as: UTF8.self)
            } catch {
                throw ConfigurationError(variable: "SPILLWAY_LOG_CONFIGURATION_FILE", message: "\(path): \(error)")
            }
        }
        if Configuration.needsECSMetadata(environment: environment, fileContents: inputs.fileContents),
           let uri = environment["ECS_CONTAINER_METADATA_URI_V4"] {
            inputs.ecs = try ECSTaskMetadata.fetch(uri: uri).get()
        }
        return inputs
    }

    /// `--check-config`: every check a start runs short of spawning the workload — the sink set up
    /// (TLS files, credential source, region), the store opened (storage directory, lock,
    /// recovery), the seccomp filters compiled — then all released. Prints the one-line error and
    /// returns nil on failure; otherwise the compiled filters.
    static func validate(_ configuration: Configuration) -> SeccompFilters? {
        let diagnostics = StandardErrorDiagnostics(minimumLevel: .warning)
        guard let seccomp = compileSeccomp(configuration, diagnostics: diagnostics) else { return nil }
        guard let (sink, pipeline) = makePipeline(configuration, recording: nil, diagnostics: diagnostics) else { return nil }
        _ = close(sink: sink, pipeline: pipeline)
        return seccomp
    }

    /// The seccomp filters the configuration asks for; nil after printing a 125 error.
    static func compileSeccomp(_ configuration: Configuration, diagnostics: Diagnostics) -> SeccompFilters? {
        do {
            return try SeccompFactory.make(configuration, diagnostics: diagnostics)
        } catch {
            StandardErrorDiagnostics.write("spillway: \(error)")
            return nil
        }
    }

    static func environmentDictionary() -> [String: String] {
        var result: [String: String] = [:]
        for entry in CurrentProcess.environment() {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            result[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return result
    }

    static func supervise(command: [String], configuration: Configuration) -> Int32 {
        let diagnostics = StandardErrorDiagnostics(minimumLevel: configuration.logLevel)
        let watcher: ReadinessWatcher
        do {
            if configuration.subreaper && CurrentProcess.pid != 1 {
                try Reaper.becomeSubreaper()
            }
            watcher = try ReadinessWatcher.start()
        } catch {
            diagnostics.error("\(error)")
            return 125
        }
        defer { watcher.stop() }

        guard let seccomp = compileSeccomp(configuration, diagnostics: diagnostics),
              let (sink, pipeline) = makePipeline(configuration, recording: configuration.origin, diagnostics: diagnostics)
        else { return 125 }
        guard let metrics = startMetrics(configuration, pipeline: pipeline) else {
            _ = close(sink: sink, pipeline: pipeline)
            return 125
        }
        defer { stop(metrics, at: configuration.metricsAddress) }

        let child: SpawnedProcess
        let inherited = ChildEnvironment(CurrentProcess.environment(), ownPID: CurrentProcess.pid)
        do {
            child = try Spawner.spawn(
                arguments: command, environment: inherited.environment,
                keepFileDescriptors: inherited.listenFDs, pipeSize: 1 << 20, seccompFilter: seccomp.workload?.program,
                diagnostics: { diagnostics.debug($0) })
        } catch {
            diagnostics.error("\(error)")
            return error.exitCode
        }
        if let own = seccomp.spillway, !confine(with: own, diagnostics: diagnostics) {
            // Running unconfined was not what the operator asked for: stop before reading a line.
            Signals.kill(child.pid)
            _ = try? Reaper.waitExit(child.pid)
            _ = close(sink: sink, pipeline: pipeline)
            return 125
        }
        pipeline.start(stdout: child.stdout, stderr: child.stderr, workloadPID: child.pid, watcher: watcher)

        let exitCode = waitForWorkload(child.pid, configuration: configuration, diagnostics: diagnostics)
        if configuration.signalGroup {
            Signals.terminateGroup(of: child.pid)
        }
        let finished = DispatchSemaphore(value: 0)
        pipeline.shutdown(timeout: configuration.shutdownTimeout) {
            finished.signal()
            Signals.wakeSupervisor()
        }
        // Keep reaping orphans (as PID 1) and forwarding signals while the drain runs.
        while finished.wait(timeout: .now()) == .timedOut {
            supervisorStep(child.pid, group: configuration.signalGroup)
        }
        finish(sink: sink, pipeline: pipeline, exitCode: exitCode, diagnostics: diagnostics)
        return exitCode
    }

    /// The sink, the store and the pipeline between them; nil after printing a 125 error.
    static func makePipeline(
        _ configuration: Configuration, recording origin: RecordOrigin?, diagnostics: Diagnostics
    ) -> (Sink, Pipeline)? {
        let clock = SystemWallClock()
        do {
            let settings = try configuration.pipelineSettings()
            let sink = try SinkFactory.make(configuration, diagnostics: diagnostics)
            let store: RecordStore
            do {
                store = try StoreFactory.make(
                    configuration, limits: sink.batchLimits, clock: clock, recording: origin, diagnostics: diagnostics)
            } catch {
                sink.shutdown {}
                throw error
            }
            let pipeline = Pipeline(
                sink: sink, store: store, clock: clock, configuration: settings,
                diagnostics: diagnostics)
            return (sink, pipeline)
        } catch {
            StandardErrorDiagnostics.write("spillway: \(error)")
            return nil
        }
    }

    /// The Prometheus endpoint when SPILLWAY_METRICS_ADDRESS asks for one (`.some(nil)` when
    /// not); nil after printing a 125 error (the address cannot be bound).
    static func startMetrics(_ configuration: Configuration, pipeline: Pipeline) -> MetricsServer?? {
        guard let address = configuration.metricsAddress else { return .some(nil) }
        do {
            let server = try MetricsServer.start(at: address) { pipeline.metricsSnapshot() }
            pipeline.publishFigures()
            return .some(server)
        } catch {
            StandardErrorDiagnostics.write(
                "spillway: \(ConfigurationError(variable: "SPILLWAY_METRICS_ADDRESS", value: address.description, expected: "an address spillway can listen on (\(error))", kind: .unusable))")
            return nil
        }
    }

    /// Stops the endpoint and removes its unix socket file, which closing leaves behind.
    static func stop(_ metrics: MetricsServer?, at address: MetricsAddress?) {
        guard let metrics else { return }
        metrics.stop()
        if case .unix(let path) = address { _ = try? FileSystem.remove(path) }
    }

    /// Shuts the sink down (briefly: delivery has ended), then closes the pipeline and its store.
    static func close(sink: Sink, pipeline: Pipeline) -> (stats: DeliveryStats, stored: Int) {
        let sinkClosed = DispatchSemaphore(value: 0)
        sink.shutdown { sinkClosed.signal() }
        _ = sinkClosed.wait(timeout: .now() + .seconds(1))
        return pipeline.close()
    }

    /// Closes the sink and the store; prints the summary line. Returns the records left on disk.
    @discardableResult
    static func finish(sink: Sink, pipeline: Pipeline, exitCode: Int32, diagnostics: Diagnostics) -> Int {
        let (stats, stored) = close(sink: sink, pipeline: pipeline)
        StandardErrorDiagnostics.write(stats.summary(exitCode: exitCode, buffered: stored))
        diagnostics.debug({
            let usage = CurrentProcess.resourceUsage()
            return "resources user=\(usage.user)s system=\(usage.system)s max_rss=\(usage.maxRSSKiB)KiB"
        }())
        return stored
    }

    /// `spillway --drain`: delivers the backlog and exits 0, or 1 when records stay on disk
    /// (no progress for SPILLWAY_SHUTDOWN_TIMEOUT, or SIGTERM/SIGINT).
    static func drain(configuration parsed: Configuration, environment: [String: String]) -> Int32 {
        var configuration = parsed
        let diagnostics = StandardErrorDiagnostics(minimumLevel: configuration.logLevel)
        let directory = configuration.storage.directory
        // Opening the store would create the directory: a mistyped path must stay uncreated.
        if case .success(nil) = Result(catching: { () throws(SystemError) in try FileSystem.status(directory) }) {
            diagnostics.info("nothing to drain: \(directory) does not exist")
            return 0
        }
        // The backlog goes out under the names and fields it was read with.
        if let bytes = DiskBuffer.recordedOrigin(in: directory), let origin = RecordOrigin(decoding: bytes) {
            configuration = configuration.replaying(origin, environment: environment)
        }
        guard let seccomp = compileSeccomp(configuration, diagnostics: diagnostics),
              let (sink, pipeline) = makePipeline(configuration, recording: nil, diagnostics: diagnostics)
        else { return 125 }
        guard let metrics = startMetrics(configuration, pipeline: pipeline) else {
            _ = close(sink: sink, pipeline: pipeline)
            return 125
        }
        defer { stop(metrics, at: configuration.metricsAddress) }
        if let own = seccomp.spillway, !confine(with: own, diagnostics: diagnostics) {
            _ = close(sink: sink, pipeline: pipeline)
            return 125
        }
        let finished = DispatchSemaphore(value: 0)
        let stallTimeout = max(configuration.shutdownTimeout, .seconds(1))
        pipeline.drainBacklog(stallTimeout: stallTimeout) {
            finished.signal()
            Signals.wakeSupervisor()
        }
        while finished.wait(timeout: .now()) == .timedOut {
            if let signal = try? Signals.wait(), Signals.isStopRequest(signal) {
                pipeline.queue.async { pipeline.giveUp() }
            }
        }
        let stored = finish(sink: sink, pipeline: pipeline, exitCode: 0, diagnostics: diagnostics)
        guard stored == 0 else {
            diagnostics.error(
                "\(stored) records remain in \(configuration.storage.directory): no delivery progress for \(stallTimeout) "
                    + "or stopped; run --drain again when the destination is reachable")
            return 1
        }
        return 0
    }

    /// SPILLWAY_SECCOMP_SELF: loads spillway's own filter on all its threads; false after
    /// printing why it could not.
    static func confine(with filter: CompiledSeccompFilter, diagnostics: Diagnostics) -> Bool {
        do {
            try SeccompCompiler.confineThisProcess(with: filter)
            return true
        } catch {
            diagnostics.error("SPILLWAY_SECCOMP_SELF: cannot confine spillway: \(error)")
            return false
        }
    }

    /// The supervisor loop until the main child exits; returns its exit code.
    static func waitForWorkload(_ pid: Int32, configuration: Configuration, diagnostics: Diagnostics) -> Int32 {
        while true {
            if let status = supervisorStep(pid, group: configuration.signalGroup) {
                return Reaper.exitCode(fromWaitStatus: status)
            }
        }
    }

    /// Waits for one signal, forwards it, reaps; returns the main child's wait status once it
    /// has exited.
    @discardableResult
    static func supervisorStep(_ pid: Int32, group: Bool) -> Int32? {
        let signal = try? Signals.wait()
        if let signal, Signals.isForwardable(signal) {
            Signals.send(signal, to: pid, group: group)
        }
        return Reaper.reapAll(main: pid)
    }
}
