import Dispatch
import SpillwayCore
import Testing
@testable import SpillwaySystem

@Suite struct SyscallTests {
    @Test func failuresNameTheCallAndErrno() {
        #expect(throws: SystemError(call: "open(/nonexistent/x)", errno: 2)) {
            _ = try readSmallFile("/nonexistent/x")
        }
        #expect(SystemError(call: "read", errno: 11).description.hasPrefix("read: "))
    }

    @Test func nonBlockingReadReportsEmptyAsNilAndEOFAsZero() throws {
        let pipe = try Pipe()
        try pipe.readEnd.setNonBlocking()
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try buffer.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) } == nil)
        try [UInt8](arrayLiteral: 104, 105).withUnsafeBytes { try pipe.writeEnd.writeAll($0) }
        #expect(try buffer.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) } == 2)
        try pipe.writeEnd.close()
        #expect(try buffer.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) } == 0)
        try pipe.readEnd.close()
    }

    @Test func pipesGrowWithinTheSystemLimit() throws {
        let pipe = try Pipe()
        defer {
            try? pipe.readEnd.close()
            try? pipe.writeEnd.close()
        }
        let limit = try #require(pipeMaxSize())
        #expect(try pipe.readEnd.setPipeSize(min(1 << 20, limit)) >= min(1 << 20, limit))
    }

    @Test func readSmallFileReadsProcFiles() throws {
        let text = String(decoding: try readSmallFile("/proc/self/status"), as: UTF8.self)
        #expect(text.contains("Pid:"))
    }
}

@Suite struct SpawnTests {
    @Test func commandsWithASlashAreNotSearched() {
        #expect(Spawner.candidatePaths(for: "./app", path: "/bin") == ["./app"])
        #expect(Spawner.candidatePaths(for: "app", path: "/a::/b") == ["/a/app", "app", "/b/app"])
    }

    @Test func exitCodesFollowTheShellConvention() {
        #expect(Reaper.exitCode(fromWaitStatus: 3 << 8) == 3)  // exited with 3
        #expect(Reaper.exitCode(fromWaitStatus: 9) == 137)      // killed by SIGKILL
        #expect(Reaper.exitCode(fromWaitStatus: 15) == 143)
    }

    @Test func execFailuresMapTo127And126() {
        #expect(SpawnError.exec(command: "x", errno: 2).exitCode == 127)   // ENOENT
        #expect(SpawnError.exec(command: "x", errno: 13).exitCode == 126)  // EACCES
    }

    @Test func spawnsAndReadsTheChildsOutput() throws {
        let child = try Spawner.spawn(
            arguments: ["/bin/sh", "-c", "echo out; echo err >&2; exit 5"], environment: ["PATH=/usr/bin:/bin"],
            keepFileDescriptors: 0, pipeSize: 1 << 16, diagnostics: { _ in })
        let status = try Reaper.waitExit(child.pid)
        #expect(Reaper.exitCode(fromWaitStatus: status) == 5)
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = try buffer.withUnsafeMutableBytes { try child.stdout.read(into: $0) } ?? 0
        #expect(String(decoding: buffer[..<n], as: UTF8.self) == "out\n")
        let m = try buffer.withUnsafeMutableBytes { try child.stderr.read(into: $0) } ?? 0
        #expect(String(decoding: buffer[..<m], as: UTF8.self) == "err\n")
        try child.stdout.close()
        try child.stderr.close()
    }

    @Test func aMissingCommandIsAnExecError() {
        #expect(throws: SpawnError.self) {
            _ = try Spawner.spawn(arguments: ["no-such-command-xyz"], environment: ["PATH=/usr/bin:/bin"],
                                  keepFileDescriptors: 0, pipeSize: 1 << 16, diagnostics: { _ in })
        }
    }
}

@Suite struct PipeReaderTests {
    @Test func deliversEveryByteThenEndsAndResumesAfterAPause() throws {
        let watcher = try ReadinessWatcher.start()
        defer { watcher.stop() }
        let pipe = try Pipe()
        try pipe.readEnd.setNonBlocking()
        let queue = DispatchQueue(label: "test.reader")
        let ended = DispatchSemaphore(value: 0)
        final class State: @unchecked Sendable {
            var bytes: [UInt8] = []
            var paused = false
            var reader: PipeReader?
        }
        let state = State()
        let reader = PipeReader(
            fd: pipe.readEnd, queue: queue, watcher: watcher, clock: SystemWallClock(), bufferSize: 4,
            onData: { bytes, _ in
                state.bytes += bytes
                if !state.paused {
                    state.paused = true
                    queue.asyncAfter(deadline: .now() + .milliseconds(50)) { state.reader?.resume() }
                    return false  // pause once; the data written meanwhile must still arrive
                }
                return true
            },
            onEnd: { _ in ended.signal() })
        state.reader = reader
        reader.start()
        try Array("hello, pipe reader".utf8).withUnsafeBytes { try pipe.writeEnd.writeAll($0) }
        try pipe.writeEnd.close()
        #expect(ended.wait(timeout: .now() + .seconds(5)) == .success)
        queue.sync { #expect(String(decoding: state.bytes, as: UTF8.self) == "hello, pipe reader") }
    }
}
