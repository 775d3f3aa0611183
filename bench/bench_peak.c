/* bench_peak: this CPU's f32 FMA ceiling (GFLOP/s), the yardstick the
 * training and tower benchmarks divide by. Ten independent FMA chains per
 * thread hide the FMA latency; 2 flops per lane. The widest vectors the CPU
 * has are used (AVX-512 zmm, else AVX2 ymm).
 *
 *   bench_peak [--threads N]   one line per thread count 1..N (default 2) */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ITERS 100000000L

static volatile float sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define CHAINS(T, SET, FMA, ADD)                                                             \
    T x0 = SET(1), x1 = SET(2), x2 = SET(3), x3 = SET(4), x4 = SET(5), x5 = SET(6), x6 = SET(7), \
      x7 = SET(8), x8 = SET(9), x9 = SET(10), m = SET(0.9999f), c = SET(1e-4f);                \
    for (long i = 0; i < ITERS / 10; i++) {                                                  \
        x0 = FMA(x0, m, c); x1 = FMA(x1, m, c); x2 = FMA(x2, m, c); x3 = FMA(x3, m, c);      \
        x4 = FMA(x4, m, c); x5 = FMA(x5, m, c); x6 = FMA(x6, m, c); x7 = FMA(x7, m, c);      \
        x8 = FMA(x8, m, c); x9 = FMA(x9, m, c);                                              \
    }                                                                                        \
    x0 = ADD(ADD(ADD(x0, x1), ADD(x2, x3)), ADD(ADD(x4, x5), ADD(ADD(x6, x7), ADD(x8, x9))));

__attribute__((target("avx2,fma"))) static void *run_avx2(void *arg) {
    CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)
    float o[8];
    _mm256_storeu_ps(o, x0);
    sink = o[0];
    return arg;
}

__attribute__((target("avx512f"))) static void *run_avx512(void *arg) {
    CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
    sink = _mm512_reduce_add_ps(x0);
    return arg;
}

int main(int argc, char **argv) {
    int max_threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) max_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_peak [--threads N]\n");
            return 2;
        }
    }
    if (max_threads < 1 || max_threads > 256) max_threads = 2;
    __builtin_cpu_init();
    int zmm = __builtin_cpu_supports("avx512f");
    if (!zmm && !__builtin_cpu_supports("fma")) {
        printf("peak: this CPU has neither AVX-512 nor FMA; no figure\n");
        return 0;
    }
    void *(*fn)(void *) = zmm ? run_avx512 : run_avx2;
    double lanes = zmm ? 16 : 8;
    pthread_t t[256];
    for (int n = 1; n <= max_threads; n++) {
        double s = now();
        for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, fn, NULL);
        for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
        double sec = now() - s;
        printf("peak f32 fma %s threads %d %.1f GFLOP/s\n", zmm ? "zmm" : "ymm", n,
               (double)ITERS * lanes * 2 * n / sec / 1e9);
    }
    return 0;
}
