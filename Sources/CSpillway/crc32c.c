#include "CSpillway.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

int spw_crc32c_hardware(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2")))
uint32_t spw_crc32c_update(uint32_t state, const void *data, size_t length) {
    const unsigned char *p = data;
    uint64_t c = state;
    for (; length >= 8; p += 8, length -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
    }
    uint32_t c32 = (uint32_t)c;
    for (; length > 0; p++, length--) c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}
#else
int spw_crc32c_hardware(void) { return 0; }
uint32_t spw_crc32c_update(uint32_t state, const void *data, size_t length) { (void)data; (void)length; return state; }
#endif
