#define _GNU_SOURCE
#include "CSpillway.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Everything below runs in the child between clone and exec, in the parent's memory:
// async-signal-safe calls only, and nothing written that the parent reads afterwards.

static void report_and_exit(int error_fd, int err) {
    ssize_t unused = write(error_fd, &err, sizeof(err));
    (void)unused;
    _exit(127);
}

static void write_listen_pid(char *entry) {
    static const char prefix[] = "LISTEN_PID=";
    char digits[16];
    int n = 0;
    for (unsigned long pid = (unsigned long)getpid(); pid > 0 || n == 0; pid /= 10) digits[n++] = (char)('0' + pid % 10);
    char *p = entry;
    for (const char *c = prefix; *c; c++) *p++ = *c;
    while (n > 0) *p++ = digits[--n];
    *p = '\0';
}

static void close_from(int first, int keep) {
    // Close every descriptor >= first except `keep` (the error pipe, closed by exec itself).
    if (keep > first && syscall(SYS_close_range, first, keep - 1, 0) != 0) {
        for (int fd = first; fd < keep; fd++) close(fd);
    }
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = keep + 1; fd < max; fd++) close((int)fd);
    }
}

static void child(const spw_spawn_plan *plan) {
    int error_fd = plan->error_fd;

    // The parent blocked every signal before spawning (no handler of its may run here); SIGTTOU stays blocked while we take the
    // terminal, or tcsetpgrp from a background group would stop us.
    if (setpgid(0, 0) != 0) report_and_exit(error_fd, errno);
    if (plan->foreground) {
        (void)tcsetpgrp(STDIN_FILENO, getpgrp());
    }

    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        signal(sig, SIG_DFL);
    }

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) report_and_exit(error_fd, errno);
    if (getppid() != plan->parent_pid) _exit(1); // the parent died before prctl took effect

    if (dup2(plan->stdout_fd, STDOUT_FILENO) < 0) report_and_exit(error_fd, errno);
    if (dup2(plan->stderr_fd, STDERR_FILENO) < 0) report_and_exit(error_fd, errno);

    // Keep 0-2 and the LISTEN_FDS range; move the error pipe above them first.
    int first_closed = 3 + plan->keep_fds;
    if (error_fd < first_closed) {
        int moved = fcntl(error_fd, F_DUPFD_CLOEXEC, first_closed);
        if (moved < 0) report_and_exit(error_fd, errno);
        error_fd = moved;
    }
    close_from(first_closed, error_fd);

    if (plan->listen_pid_entry != NULL) write_listen_pid(plan->listen_pid_entry);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    // Last before exec, so that the workload's profile never applies to the set-up above.
    if (plan->seccomp_filter != NULL) {
        if (spw_seccomp_install(plan->seccomp_filter, plan->seccomp_filter_len, 0) != 0) report_and_exit(error_fd, errno);
    }

    // PATH candidates in order; EACCES from any candidate wins over ENOENT, as execvp reports.
    int err = ENOENT;
    for (const char *const *path = plan->paths; *path != NULL; path++) {
        execve(*path, (char *const *)plan->argv, (char *const *)plan->envp);
        if (errno != ENOENT && errno != ENOTDIR) err = errno;
    }
    report_and_exit(error_fd, err);
}

static int child_entry(void *plan) {
    child((const spw_spawn_plan *)plan);
    return 127;
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPW_SPAWN_BY_FORK 1
#endif
#endif

pid_t spw_spawn(const spw_spawn_plan *plan) {
#ifdef SPW_SPAWN_BY_FORK
    // ThreadSanitizer's clone interceptor handles only fork-like clones (scripts/sanitize).
    pid_t forked = fork();
    if (forked == 0) child(plan);
    return forked;
#endif
    // As posix_spawn does: CLONE_VM|CLONE_VFORK borrows our memory until exec (fork copied the
    // page tables and made every page we wrote afterwards fault, a third of the start-up), and
    // a stack of its own keeps the child from overwriting our frames.
    const size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -1;
    pid_t pid = clone(child_entry, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)plan);
    int saved = errno;
    munmap(stack, stack_size);
    errno = saved;
    return pid;
}

int spw_wifexited(int status) { return WIFEXITED(status); }
int spw_wexitstatus(int status) { return WEXITSTATUS(status); }
int spw_wifsignaled(int status) { return WIFSIGNALED(status); }
int spw_wtermsig(int status) { return WTERMSIG(status); }

int spw_sigrtmax(void) { return SIGRTMAX; }
int spw_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int spw_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
int spw_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }
int spw_prctl1(int option, unsigned long arg) { return prctl(option, arg, 0, 0, 0); }
