import Dispatch
import SpillwayCore
@testable import SpillwayLauncher
import SpillwaySystem
import SpillwayTestKit
import Testing

@Suite struct InvocationTests {
    @Test func flagsComeBeforeTheCommandAndDashDashEndsThem() throws {
        #expect(try Invocation.parse(["app", "--help"]).get() == .run(command: ["app", "--help"]))
        #expect(try Invocation.parse(["--", "--app"]).get() == .run(command: ["--app"]))
        #expect(try Invocation.parse(["--check-config", "--", "app", "-v"]).get() == .checkConfiguration(command: ["app", "-v"]))
        #expect(try Invocation.parse(["--drain"]).get() == .drain(command: []))
        #expect(try Invocation.parse(["--drain", "app"]).get() == .drain(command: ["app"]))
        #expect(try Invocation.parse(["-h"]).get() == .help)
        #expect(try Invocation.parse(["--version", "app"]).get() == .version)
    }

    @Test func usageErrorsSayWhat() {
        func message(_ arguments: [String]) -> String? {
            guard case .failure(let error) = Invocation.parse(arguments) else { return nil }
            return error.message.split(separator: "\n").first.map(String.init)
        }
        #expect(message([]) == "no command given")
        #expect(message(["--"]) == "no command given")
        #expect(message(["-x", "app"]) == "unknown option -x")
        #expect(message(["--check-config", "--drain"]) == "--check-config and --drain do not go together")
    }
}

@Suite struct ChildEnvironmentTests {
    @Test func spillwayVariablesNeverReachTheWorkload() {
        let child = ChildEnvironment(["PATH=/bin", "SPILLWAY_FORWARD_SHARED_KEY=secret", "SPILLWAY_X=1", "HOME=/root"],
                                     ownPID: 42)
        #expect(child.environment == ["PATH=/bin", "HOME=/root"])
        #expect(child.listenFDs == 0)
    }

    @Test func socketActivationPassesThroughOnlyWhenItNamesUs() {
        let ours = ChildEnvironment(["LISTEN_PID=42", "LISTEN_FDS=2", "LISTEN_FDNAMES=a:b"], ownPID: 42)
        #expect(ours.listenFDs == 2)
        #expect(ours.environment == ["LISTEN_FDS=2", "LISTEN_FDNAMES=a:b"])  // the spawner adds the child's LISTEN_PID
        let theirs = ChildEnvironment(["LISTEN_PID=7", "LISTEN_FDS=2"], ownPID: 42)
        #expect(theirs.listenFDs == 0)
        #expect(theirs.environment == ["LISTEN_PID=7", "LISTEN_FDS=2"])
        #expect(ChildEnvironment(["LISTEN_PID=42", "LISTEN_FDS=-3"], ownPID: 42).listenFDs == 0)
    }
}

@Suite struct PipelineTests {
    /// Real pipes and the real watcher: what the workload writes on both streams is framed,
    /// delivered and counted; the drain ends once both pipes reach EOF.
    @Test func linesFromBothPipesAreDeliveredAndCounted() throws {
        let watcher = try ReadinessWatcher.start()
        defer { watcher.stop() }
        let (out, err) = (try Pipe(), try Pipe())
        let sink = ScriptedSink(limits: BatchLimits(maxRecords: 50, maxBytes: 1 << 20, bytesPerRecord: 0))
        let store = MemoryStore(capacity: 1 << 20, policy: .block, limits: sink.batchLimits)
        let diagnostics = RecordingDiagnostics()
        let pipeline = Pipeline(
            sink: sink, store: store, clock: SystemWallClock(),
            configuration: PipelineSettings(
                maxLineSize: 16, flushInterval: .milliseconds(20), passthrough: false, reportsProgress: true,
                stallWarning: .seconds(5), destination: "a scripted sink", stallRemedy: "", reportsDropEpisodes: false),
            diagnostics: diagnostics)
        pipeline.start(stdout: out.readEnd, stderr: err.readEnd, workloadPID: 1, watcher: watcher)
        for i in 0..<200 { try Array("line \(i)\n".utf8).withUnsafeBytes { try out.writeEnd.writeAll($0) } }
        try Array("0123456789abcdefghijklmnopqrstuvwxyzABCD\nlast".utf8).withUnsafeBytes { try err.writeEnd.writeAll($0) }
        try out.writeEnd.close()
        try err.writeEnd.close()

        let done = DispatchSemaphore(value: 0)
        pipeline.shutdown(timeout: .seconds(10)) { done.signal() }
        #expect(done.wait(timeout: .now() + 15) == .success)
        let (stats, stored) = pipeline.close()
        #expect(stored == 0)
        // 200 lines, the 40-byte line cut into 16 + 16 + 8, and the unterminated tail at EOF.
        #expect(stats.deliveredRecords == 204)
        #expect(stats.droppedRecords == 0)
        func lines(_ stream: LogStream) -> [String] {
            sink.delivered.filter { $0.stream == stream }.map { String(decoding: $0.line, as: UTF8.self) }
        }
        #expect(lines(.stdout) == (0..<200).map { "line \($0)" })
        #expect(lines(.stderr) == ["0123456789abcdef", "ghijklmnopqrstuv", "wxyzABCD", "last"])
        #expect(sink.delivered.filter { $0.stream == .stderr }.compactMap(\.partial).count == 3)
    }
}
