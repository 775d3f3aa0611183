/* bench.h: the clocks and the median every benchmark program reads its
 * figures through, so they all time and summarise the same way. */
#ifndef SAIL_BENCH_H
#define SAIL_BENCH_H

#include <stdlib.h>
#include <time.h>

/* Seconds on clock id: CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID
 * or CLOCK_THREAD_CPUTIME_ID for CPU time. */
static inline double bench_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Wall-clock seconds and milliseconds (CLOCK_MONOTONIC). */
static inline double bench_now(void) { return bench_seconds(CLOCK_MONOTONIC); }
static inline double bench_ms(void) { return 1e3 * bench_seconds(CLOCK_MONOTONIC); }
/* CPU seconds of the calling thread. */
static inline double bench_thread_cpu(void) { return bench_seconds(CLOCK_THREAD_CPUTIME_ID); }

/* qsort's ascending order of doubles. */
static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v in place). */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* bytes in whole cache lines, 64-byte aligned (free with free), as the
 * models' arenas and packed panels are: from malloc, a zmm load of a row
 * would straddle two cache lines. NULL when out of memory. */
static inline void *bench_aligned(size_t bytes) { return aligned_alloc(64, (bytes + 63) & ~(size_t)63); }

/* n floats in [-1, 1], multiples of 1/1000, from rand_r(seed), 64-byte
 * aligned; NULL when out of memory. */
static inline float *bench_uniform(size_t n, unsigned *seed) {
    float *x = bench_aligned(n * sizeof *x);
    for (size_t i = 0; x && i < n; i++) x[i] = (float)(rand_r(seed) % 2001 - 1000) / 1000.0f;
    return x;
}

#endif
