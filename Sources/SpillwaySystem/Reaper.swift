import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// Collecting exited children, and what their wait status means.
public enum Reaper {
    /// Reaps every exited child without blocking; returns the main child's wait status if it was
    /// among them. As PID 1 or a subreaper this also collects orphans.
    public static func reapAll(main: pid_t) -> Int32? {
        var mainStatus: Int32?
        while true {
            var status: Int32 = 0
            // ECHILD: no children left; 0: children remain but none has exited.
            guard case .success(let pid)? = try? syscall(expecting: ECHILD, "waitpid", { waitpid(-1, &status, WNOHANG) }),
                pid > 0
            else { break }
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

    /// Makes orphaned descendants children of spillway, so that it reaps them (PID 1 does anyway).
    public static func becomeSubreaper() throws(SystemError) {
        try syscall("prctl(PR_SET_CHILD_SUBREAPER)", { spw_prctl1(PR_SET_CHILD_SUBREAPER, 1) })
    }
}
