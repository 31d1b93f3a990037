#ifndef C_SPILLWAY_H
#define C_SPILLWAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/types.h>

/// What the child does between fork and exec. Filled in by Swift before the fork, read-only after.
typedef struct {
    /// Candidate paths to execve, in order (PATH search done by the parent); NULL-terminated.
    const char *const *paths;
    const char *const *argv;
    const char *const *envp;
    /// Write ends of the pipes that become the child's fd 1 and 2.
    int stdout_fd;
    int stderr_fd;
    /// Close-on-exec pipe: the child writes its exec errno here.
    int error_fd;
    /// Descriptors 3..3+keep_fds-1 pass through (systemd LISTEN_FDS).
    int keep_fds;
    /// Make the child the terminal's foreground process group (stdin is a tty).
    int foreground;
    /// When non-NULL, an envp entry of at least 32 bytes that the child overwrites with
    /// "LISTEN_PID=<its pid>" (systemd socket activation names the process that owns the fds).
    char *listen_pid_entry;
    /// Parent pid for the PR_SET_PDEATHSIG race check.
    pid_t parent_pid;
    /// Optional seccomp BPF program (struct sock_filter array) to install right before exec.
    const void *seccomp_filter;
    unsigned short seccomp_filter_len;
} spw_spawn_plan;

/// Starts the child (clone with CLONE_VM|CLONE_VFORK) and sets it up. C because only
/// async-signal-safe code may run between clone and exec, and Swift's runtime (allocation, locks)
/// is not. Returns once the child has exec'd or exited: the pid, or -1 with errno.
pid_t spw_spawn(const spw_spawn_plan *plan);

/// Wait-status decoding. C because WIFEXITED and friends are macros Swift cannot import.
int spw_wifexited(int status);
int spw_wexitstatus(int status);
int spw_wifsignaled(int status);
int spw_wtermsig(int status);

/// pipe2(2) with O_CLOEXEC. C because Swift's Glibc module does not export pipe2.
int spw_pipe_cloexec(int fds[2]);

/// fcntl(F_SETPIPE_SZ). C because the constant and the variadic fcntl are not importable.
int spw_set_pipe_size(int fd, int size);

/// CRC-32C with the SSE4.2 `crc32` instruction, on the raw state (start with ~0, invert at the
/// end). C because Swift has no intrinsic for it. Only when `spw_crc32c_hardware()` says the CPU
/// has it.
int spw_crc32c_hardware(void);
uint32_t spw_crc32c_update(uint32_t state, const void *data, size_t length);

/// fcntl with an int argument (F_GETFL/F_SETFL/F_GETFD/F_DUPFD_CLOEXEC). C because fcntl is variadic.
int spw_fcntl_int(int fd, int cmd, int arg);

/// prctl with one argument. C because prctl is variadic.
int spw_prctl1(int option, unsigned long arg);

/// Highest real-time signal. C because SIGRTMAX is a macro over a glibc function.
int spw_sigrtmax(void);

/// libseccomp's runtime version, for --version. C so that libseccomp stays behind the C target.
void spw_seccomp_version(unsigned *major, unsigned *minor, unsigned *micro);

/// memfd_create(2) with MFD_CLOEXEC, where libseccomp exports the BPF program (2.5.4 has no
/// in-memory export). C because Swift's Glibc module does not export memfd_create.
int spw_memfd_cloexec(const char *name);

/// Sets no_new_privs and installs a BPF seccomp program (`length` instructions) on the calling
/// thread, or with `all_threads` on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
/// Returns 0, -1 with errno, or the id of a thread that could not be synchronised. Async-signal-
/// safe: the forked child calls it before exec. C because seccomp(2) has no glibc wrapper and
/// syscall(2) is variadic.
long spw_seccomp_install(const void *filter, unsigned short length, int all_threads);

// libseccomp itself, for SpillwaySystem's SeccompCompiler (none of its calls used is variadic).
#include <seccomp.h>

// mallopt, which Glibc's Swift module leaves out, for CurrentProcess.configureMalloc.
#include <malloc.h>

#endif
