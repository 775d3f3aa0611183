/* alloc.c: the single allocation point of the library. */
#include "common.h"
#include "fault.h"

#include <stdlib.h>
#include <string.h>

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
    return p;
}

char *sail_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sail_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
