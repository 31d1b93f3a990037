#define _GNU_SOURCE
#include "CSpillway.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

void spw_seccomp_version(unsigned *major, unsigned *minor, unsigned *micro) {
    const struct scmp_version *v = seccomp_version();
    *major = v ? v->major : 0;
    *minor = v ? v->minor : 0;
    *micro = v ? v->micro : 0;
}

int spw_memfd_cloexec(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

long spw_seccomp_install(const void *filter, unsigned short length, int all_threads) {
    struct sock_fprog prog = {.len = length, .filter = (struct sock_filter *)filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, all_threads ? SECCOMP_FILTER_FLAG_TSYNC : 0, &prog);
}
