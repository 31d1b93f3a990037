#include "CSpillway.h"

#include <seccomp.h>

void spw_seccomp_version(unsigned *major, unsigned *minor, unsigned *micro) {
    const struct scmp_version *v = seccomp_version();
    *major = v ? v->major : 0;
    *minor = v ? v->minor : 0;
    *micro = v ? v->micro : 0;
}
