/* alloc.c: the single allocation point of the library. */
#include "common.h"
#include "fault.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *sail_malloc(size_t n) { return sail_fault_hit(SAIL_FAULT_ALLOC) ? NULL : malloc(n ? n : 1); }
void *sail_calloc(size_t n, size_t size) {
    return sail_fault_hit(SAIL_FAULT_ALLOC) ? NULL : calloc(n ? n : 1, size ? size : 1);
}
void *sail_realloc(void *p, size_t n) { return sail_fault_hit(SAIL_FAULT_ALLOC) ? NULL : realloc(p, n ? n : 1); }
void sail_free(void *p) { free(p); }

void *sail_alloc_aligned(size_t n) {
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n || sail_fault_hit(SAIL_FAULT_ALLOC)) return NULL;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) return NULL;
    /* Blocks this big hold activations, gradients, moments or packed
     * weights, swept whole and often: huge pages where the kernel gives them
     * on request (THP "madvise"), a fault and a TLB entry per 2 MiB. */
    if (rounded >= (size_t)2 << 20) sail_pages_huge(p, rounded);
    return p;
}

char *sail_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sail_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* madvise over the whole units of `unit` bytes inside [p, p + n). */
static void advise_inside(const void *p, size_t n, uintptr_t unit, int advice) {
    uintptr_t a = ((uintptr_t)p + unit - 1) & ~(unit - 1), b = ((uintptr_t)p + n) & ~(unit - 1);
    if (b > a) madvise((void *)a, b - a, advice);
}

void sail_pages_drop(const void *p, size_t n) {
    advise_inside(p, n, (uintptr_t)sysconf(_SC_PAGESIZE), MADV_DONTNEED);
}

void sail_pages_huge(void *p, size_t n) { advise_inside(p, n, (uintptr_t)2 << 20, MADV_HUGEPAGE); }
