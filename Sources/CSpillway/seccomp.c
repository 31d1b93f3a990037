#define _GNU_SOURCE
#include "CSpillway.h"

#include <sys/mman.h>

#include <seccomp.h>

void spw_seccomp_version(unsigned *major, unsigned *minor, unsigned *micro) {
    const struct scmp_version *v = seccomp_version();
    *major = v ? v->major : 0;
    *minor = v ? v->minor : 0;
    *micro = v ? v->micro : 0;
}

int spw_memfd_cloexec(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
