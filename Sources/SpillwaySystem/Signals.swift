import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's signals: which it waits for and forwards, and sending them.
public enum Signals {
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
    public static func blockForSupervision() throws(SystemError) {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGTTIN, SIG_IGN)
        signal(SIGTTOU, SIG_IGN)
        var set = waitedSignals()
        try syscall(returningErrno: "pthread_sigmask", { pthread_sigmask(SIG_BLOCK, &set, nil) })
    }

    /// Waits for one of the waited signals and returns it.
    public static func wait() throws(SystemError) -> Int32 {
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
    public static func wakeSupervisor() { _ = try? syscall("kill", { Glibc.kill(getpid(), SIGCHLD) }) }

    /// SIGKILL to a workload that must not run (spillway could not set itself up after spawning it).
    public static func kill(_ pid: pid_t) { send(SIGKILL, to: pid, group: false) }

    /// SIGTERM to what is left of the workload's process group (as dumb-init does).
    public static func terminateGroup(of pid: pid_t) { send(SIGTERM, to: pid, group: true) }
}
