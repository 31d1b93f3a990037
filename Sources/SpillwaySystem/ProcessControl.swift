import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes, signals and reaping: the parts of tini that are system calls.
public enum ProcessControl {
    /// Signals spillway handles itself: it forwards every one except these. The synchronous ones
    /// concern spillway's own faults; SIGTTIN/SIGTTOU would stop spillway; SIGPIPE is ignored
    /// (a closed stdout is a counted drop, not a death); SIGCHLD means "reap".
    /// A switch, not a `Set`: instantiating `Set<Int32>` checks its `Hashable` conformance at run
    /// time, a scan of every conformance in the static binary that cost about 0.6 ms of start-up.
    static func isNotForwarded(_ signal: Int32) -> Bool {
        switch signal {
        case SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS,
            SIGTTIN, SIGTTOU, SIGPIPE, SIGCHLD:
            true
        default:
            false
        }
    }

    /// The set the supervisor waits for: every forwardable signal plus SIGCHLD.
    static func waitedSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in 1...spw_sigrtmax() where !isNotForwarded(sig) || sig == SIGCHLD {
            sigaddset(&set, sig)
        }
        return set
    }

    /// Blocks every waited signal in the calling thread. Call first thing in main, before any
    /// thread exists, so that Dispatch and NIO threads inherit the mask and only the supervisor's
    /// sigtimedwait receives signals.
    public static func blockSignalsForSupervision() throws(SystemError) {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGTTIN, SIG_IGN)
        signal(SIGTTOU, SIG_IGN)
        var set = waitedSignals()
        try syscall(returningErrno: "pthread_sigmask", { pthread_sigmask(SIG_BLOCK, &set, nil) })
    }

    /// Waits for one of the waited signals and returns it.
    public static func waitForSignal() throws(SystemError) -> Int32 {
        var set = waitedSignals()
        return try syscall("sigwaitinfo", { sigwaitinfo(&set, nil) })
    }

    public static func isForwardable(_ signal: Int32) -> Bool { !isNotForwarded(signal) }

    /// SIGTERM, SIGINT, SIGHUP: what asks a process to stop.
    public static func isStopRequest(_ signal: Int32) -> Bool { signal == SIGTERM || signal == SIGINT || signal == SIGHUP }

    /// Sends `signal` to the process, or to its whole process group.
    public static func send(_ signal: Int32, to pid: pid_t, group: Bool) {
        // ESRCH (already gone) is expected during shutdown; nothing else can fail for our child.
        _ = try? syscall(expecting: ESRCH, "kill", { Glibc.kill(group ? -pid : pid, signal) })
    }

    /// Wakes the supervisor's signal wait from another thread. SIGCHLD is never forwarded, and a
    /// spurious one only costs a reap attempt.
    public static func wakeSupervisor() { Glibc.kill(getpid(), SIGCHLD) }

    /// SIGTERM to what is left of the workload's process group (as dumb-init does).
    public static func terminateGroup(of pid: pid_t) { send(SIGTERM, to: pid, group: true) }

    /// Reaps every exited child without blocking; returns the main child's wait status if it was
    /// among them. As PID 1 or a subreaper this also collects orphans.
    public static func reapAll(main: pid_t) -> Int32? {
        var mainStatus: Int32?
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }  // 0: children remain but none exited; -1: ECHILD or EINTR
            if pid == main { mainStatus = status }
        }
        return mainStatus
    }

    /// Blocking wait for one child, for a child that failed to exec.
    public static func waitExit(_ pid: pid_t) throws(SystemError) -> Int32 {
        var status: Int32 = 0
        try syscall("waitpid", { waitpid(pid, &status, 0) })
        return status
    }

    /// The shell convention: the exit code, or 128+N for a death by signal N.
    public static func exitCode(fromWaitStatus status: Int32) -> Int32 {
        if spw_wifexited(status) != 0 { return spw_wexitstatus(status) }
        if spw_wifsignaled(status) != 0 { return 128 + spw_wtermsig(status) }
        return 125
    }

    public static func becomeSubreaper() throws(SystemError) {
        try syscall("prctl(PR_SET_CHILD_SUBREAPER)", { spw_prctl1(PR_SET_CHILD_SUBREAPER, 1) })
    }

    public static var currentPID: pid_t { getpid() }

    public static func exit(_ code: Int32) -> Never { Glibc.exit(code) }

    /// The environment as "NAME=value" strings.
    public static func environment() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result
    }

    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// CPU seconds (user, system) and peak RSS in KiB of spillway itself, without its children.
    public static func ownResourceUsage() -> (user: Double, system: Double, maxRSSKiB: Int) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss)
    }

    /// libseccomp's runtime version, e.g. "2.5.4".
    public static func seccompVersion() -> String {
        var major: UInt32 = 0, minor: UInt32 = 0, micro: UInt32 = 0
        spw_seccomp_version(&major, &minor, &micro)
        return "\(major).\(minor).\(micro)"
    }
}
