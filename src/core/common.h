/* common.h: internal helpers shared by every layer: errors, checked size
 * arithmetic, allocation. Not part of the public API. */
#ifndef SAIL_COMMON_H
#define SAIL_COMMON_H

#include "sail.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SAIL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SAIL_PRINTF(a, b)
#endif

/* Fill err (if non-NULL) with status and a formatted message; returns status
 * so callers can write `return sail_set_error(err, SAIL_ERR_IO, ...)`. */
sail_status sail_set_error(sail_error *err, sail_status status,
                           const char *fmt, ...) SAIL_PRINTF(3, 4);

/* Prefix an existing error message with context ("model.gguf: ..."). */
void sail_error_prefix(sail_error *err, const char *fmt, ...) SAIL_PRINTF(2, 3);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool sail_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool sail_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Allocation through one place so tests can inject failures later
 * (sail_malloc and sail_free are public: sail.h). sail_alloc_aligned
 * returns 64-byte aligned memory; free with sail_free. */
void *sail_calloc(size_t n, size_t size);
void *sail_realloc(void *p, size_t n);
void *sail_alloc_aligned(size_t n);
char *sail_strdup(const char *s);

/* Advice on the whole pages inside [p, p + n); no effect where the kernel
 * declines. drop: give the pages of a read-only file mapping back (they stop
 * counting as this process's memory and are read again from the file if
 * touched; never on memory written by the process). huge: back what is not
 * yet touched with transparent huge pages (2 MiB), so a large buffer's first
 * touch costs a fault per 2 MiB rather than per 4 KiB. */
void sail_pages_drop(const void *p, size_t n);
void sail_pages_huge(void *p, size_t n);

#define SAIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SAIL_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
