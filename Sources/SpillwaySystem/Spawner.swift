import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// Why the workload could not be started, mapped to the exit codes README lists.
public enum SpawnError: Error, CustomStringConvertible {
    /// execve failed in the child: 127 for "not found", 126 for everything else.
    case exec(command: String, errno: Int32)
    case system(SystemError)

    public var exitCode: Int32 {
        switch self {
        case .exec(_, let e): return (e == ENOENT || e == ENOTDIR) ? 127 : 126
        case .system: return 125
        }
    }

    public var description: String {
        switch self {
        case .exec(let command, let e): return "\(command): \(String(cString: strerror(e)))"
        case .system(let error): return "cannot start the workload: \(error)"
        }
    }
}

/// A started workload: its pid and the read ends of its stdout and stderr pipes.
public struct SpawnedProcess: Sendable {
    public let pid: pid_t
    public let stdout: FileDescriptor
    public let stderr: FileDescriptor
}

public enum Spawner {
    /// Starts `arguments` (clone and exec) with its stdout/stderr on fresh pipes (non-blocking read ends,
    /// grown to `pipeSize` where allowed). Call from the thread that lives as long as spillway:
    /// PR_SET_PDEATHSIG fires when the spawning *thread* exits. With `seccompFilter` (a BPF program
    /// from `SeccompCompiler`) the child sets PR_SET_NO_NEW_PRIVS and loads it right before exec;
    /// a failure to load it is an exec error (126).
    public static func spawn(
        arguments: [String],
        environment: [String],
        keepFileDescriptors: Int,
        pipeSize: Int32,
        seccompFilter: [UInt8]? = nil,
        diagnostics: (String) -> Void
    ) throws(SpawnError) -> SpawnedProcess {
        do {
            let out = try Pipe()
            let err = try Pipe()
            let status = try Pipe()
            for pipe in [out, err] {
                try pipe.readEnd.setNonBlocking()
                growPipe(pipe.readEnd, to: pipeSize, diagnostics: diagnostics)
            }
            let pid = try launch(
                arguments: arguments, environment: environment, keep: keepFileDescriptors,
                seccompFilter: seccompFilter, out: out.writeEnd, err: err.writeEnd, status: status.writeEnd)
            try out.writeEnd.close()
            try err.writeEnd.close()
            try status.writeEnd.close()
            defer { try? status.readEnd.close() }
            if let execErrno = try readExecErrno(status.readEnd) {
                _ = try? Reaper.waitExit(pid)
                try? out.readEnd.close()
                try? err.readEnd.close()
                throw SpawnError.exec(command: arguments[0], errno: execErrno)
            }
            return SpawnedProcess(pid: pid, stdout: out.readEnd, stderr: err.readEnd)
        } catch let error as SpawnError {
            throw error
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            fatalError("unexpected \(error)")
        }
    }

    private static func growPipe(_ fd: FileDescriptor, to size: Int32, diagnostics: (String) -> Void) {
        let wanted = min(size, pipeMaxSize() ?? size)
        do {
            _ = try fd.setPipeSize(wanted)
        } catch {
            diagnostics("could not grow the pipe to \(wanted) bytes (\(error)); reading will be slower")
        }
    }

    /// Candidate paths for execve: the command itself if it has a slash, else each PATH entry.
    static func candidatePaths(for command: String, path: String?) -> [String] {
        if command.contains("/") { return [command] }
        let dirs = (path ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .split(separator: ":", omittingEmptySubsequences: false)
        return dirs.map { $0.isEmpty ? command : "\($0)/\(command)" }
    }

    private static func launch(
        arguments: [String], environment: [String], keep: Int, seccompFilter: [UInt8]?,
        out: FileDescriptor, err: FileDescriptor, status: FileDescriptor
    ) throws(SystemError) -> pid_t {
        let pathVariable = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
        let paths = candidatePaths(for: arguments[0], path: pathVariable)
        let foreground = FileDescriptor.standardInput.isTerminal
        // With inherited LISTEN_FDS the child gets a LISTEN_PID slot it fills with its own pid.
        let environment = keep > 0 ? environment + ["LISTEN_PID=" + String(repeating: " ", count: 24)] : environment
        return try withCStringArray(paths) { cPaths throws(SystemError) in
            try withCStringArray(arguments) { cArgs throws(SystemError) in
                try withCStringArray(environment) { cEnv throws(SystemError) in
                    let listenPidEntry = keep > 0 ? UnsafeMutablePointer(mutating: cEnv[environment.count - 1]) : nil
                    let filter = seccompFilter ?? []
                    // Array.withUnsafeBytes rethrows untyped errors: carry the typed one out as a Result.
                    return try filter.withUnsafeBytes { (program) -> Result<pid_t, SystemError> in
                        var plan = spw_spawn_plan(
                            paths: cPaths, argv: cArgs, envp: cEnv,
                            stdout_fd: out.rawValue, stderr_fd: err.rawValue, error_fd: status.rawValue,
                            keep_fds: Int32(keep), foreground: foreground ? 1 : 0,
                            listen_pid_entry: listenPidEntry, parent_pid: getpid(),
                            seccomp_filter: seccompFilter == nil ? nil : program.baseAddress,
                            seccomp_filter_len: UInt16(program.count / 8))
                        return Result { () throws(SystemError) in try syscall("clone", { spw_spawn(&plan) }) }
                    }.get()
                }
            }
        }
    }

    /// Blocks until exec happened (EOF: 0 bytes, the close-on-exec pipe closed) or failed (errno).
    private static func readExecErrno(_ fd: FileDescriptor) throws(SystemError) -> Int32? {
        var value: Int32 = 0
        let n = try syscall("read(exec status)", {
            withUnsafeMutableBytes(of: &value) { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
        })
        return n == MemoryLayout<Int32>.size ? value : nil
    }
}

/// NULL-terminated C string array valid for the duration of `body`.
func withCStringArray<R, E: Error>(
    _ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws(E) -> R
) throws(E) -> R {
    let duplicated: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { duplicated.forEach { free($0) } }
    return try duplicated.withUnsafeBufferPointer { (buffer) throws(E) -> R in
        try buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
            (p) throws(E) -> R in try body(p)
        }
    }
}
