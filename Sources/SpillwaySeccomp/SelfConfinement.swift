/// `SPILLWAY_SECCOMP_SELF=true`: the filter spillway loads on all its own threads once the
/// workload is spawned and the sink is set up. It allows what the steady state does — the pipes,
/// the event loops, reconnects with TLS and name resolution, the disk buffer, reaping, signal
/// forwarding, the shutdown drain — and answers everything else with EPERM: a filter that killed
/// the log shipper would lose the logs it exists to keep. The list was found by running the
/// integration suite with the default action `SCMP_ACT_LOG` and reading the kernel's audit
/// records, and is proven by the suite's second pass with the filter on (scripts/test).
public enum SelfConfinement {
    /// Syscalls allowed without conditions. Names this architecture lacks (`open` on aarch64)
    /// are skipped by the compiler.
    public static let allowed: [String] = [
        // Descriptors and the pipes.
        "read", "readv", "pread64", "preadv", "write", "writev", "pwrite64", "pwritev", "close", "close_range",
        "dup", "dup2", "dup3", "fcntl", "ioctl", "lseek", "pipe", "pipe2", "splice",
        // Readiness and timers: the poll thread, NIO's epoll loop, libdispatch.
        "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
        // Files: the disk buffer, CA bundles and credential files, /proc/self for diagnostics.
        "open", "openat", "openat2", "stat", "fstat", "lstat", "newfstatat", "statx", "fstatfs", "statfs",
        "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "mkdir",
        "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "ftruncate", "fallocate",
        "fsync", "fdatasync", "sync_file_range", "flock", "fchmod", "umask", "fadvise64",
        // Memory.
        "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "membarrier",
        // Threads of NIO and libdispatch (clone only with CLONE_THREAD: see `plan`).
        "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
        "sched_yield", "sched_getaffinity", "gettid", "getpid", "getppid", "exit", "exit_group", "prctl",
        "arch_prctl", "sigaltstack",
        // Signals: forwarding to the workload, the supervisor's sigtimedwait, reaping.
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigpending", "tgkill",
        "tkill", "kill", "wait4", "waitid",
        // Time.
        "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
        "restart_syscall",
        // Sockets: forward (tcp, unix, TLS), CloudWatch and credential endpoints, name resolution.
        "socket", "connect", "bind", "listen", "accept", "accept4", "getsockname", "getpeername",
        "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
        "shutdown", "socketpair",
        // Identity, limits and randomness (TLS, chunk ids, jitter).
        "getrandom", "uname", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getrlimit",
        "prlimit64", "getrusage", "sysinfo", "times",
        // libdispatch sets its worker threads' priority from their QoS.
        "getpriority", "setpriority",
    ]

    /// CLONE_THREAD, from <linux/sched.h>.
    static let cloneThread: UInt64 = 0x0001_0000

    /// ENOSYS and EPERM, from <errno.h>.
    static let enosys: UInt16 = 38
    static let eperm: UInt16 = 1

    /// The filter: everything not listed fails with EPERM. `clone` is allowed only to make
    /// threads (a new process could exec anything); `clone3`, whose flags live in memory a filter
    /// cannot read, answers ENOSYS so that glibc falls back to `clone`.
    /// What a call outside the list gets: EPERM, never a kill.
    public static let defaultAction = SeccompAction.errno(eperm)

    public static func plan() -> SeccompFilterPlan {
        SeccompFilterPlan(
            defaultAction: defaultAction,
            architectures: [],
            rules: [
                .init(path: "allowed", names: allowed, action: .allow, conditionSets: [[]]),
                .init(
                    path: "clone", names: ["clone"], action: .allow,
                    conditionSets: [[SeccompArgument(index: 0, value: cloneThread, valueTwo: cloneThread, op: .maskedEqual)]]),
                .init(path: "clone3", names: ["clone3"], action: .errno(enosys), conditionSets: [[]]),
            ],
            badArchitectureAction: .errno(eperm))  // a call through another ABI (int 0x80) must not kill either
    }
}
