/* bench_peak: this CPU's arithmetic ceilings, the yardsticks the GEMM,
 * training and tower benchmarks divide by. Ten independent chains per
 * thread hide each instruction's latency.
 *
 *   f32   FMA, 2 flops per lane (AVX-512 zmm, else AVX2 ymm)
 *   bf16  vdpbf16ps zmm: 2 products + 2 adds per f32 lane = 4 flops
 *   int8  vpdpbusd zmm: 4 products + 4 adds per int32 lane = 8 ops;
 *         without VNNI, AVX2 vpmaddubsw + vpmaddwd (+ vpaddd) ymm, the
 *         q8_0 path of AVX2 CPUs: 64 ops per three instructions
 *   amx   Intel AMX tiles (the amx level), 4 independent C tiles of 16 x 16:
 *         tdpbf16ps 16x16x32 bf16 (2 flops per product), tdpbssd int8 at a
 *         tile's full depth (16x16x64) and at one q8_0 block's (16x16x32),
 *         the depth sail's q8_0 kernel can use (2 ops per product)
 *   read  GB/s streaming a 256 MB buffer per thread (far above any L3), the
 *         bound of a GEMM that reads its weights once (batch-1 texts)
 *
 * Timing: each thread times itself in thread CPU time (what other load on
 * a shared machine steals is not counted), after one warm-up run that also
 * ramps the clock; the figure is the median of 5 runs, summed over the
 * threads. A one-shot wall-clock loop reads up to 40% low.
 *
 *   bench_peak [--threads N] [--all]   one line per kind and thread count
 *   1..N (default 2); without --all only f32 (the line bench/run_train.sh
 *   reads). */
#include "bench.h"
#include "core/cpu.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ITERS 50000000L

static volatile float sink;
static volatile int isink;

#define CHAINS(T, SET, FMA, ADD)                                                             \
    T x0 = SET(1), x1 = SET(2), x2 = SET(3), x3 = SET(4), x4 = SET(5), x5 = SET(6), x6 = SET(7), \
      x7 = SET(8), x8 = SET(9), x9 = SET(10), m = SET(0.9999f), c = SET(1e-4f);                \
    for (long i = 0; i < ITERS / 10; i++) {                                                  \
        x0 = FMA(x0, m, c); x1 = FMA(x1, m, c); x2 = FMA(x2, m, c); x3 = FMA(x3, m, c);      \
        x4 = FMA(x4, m, c); x5 = FMA(x5, m, c); x6 = FMA(x6, m, c); x7 = FMA(x7, m, c);      \
        x8 = FMA(x8, m, c); x9 = FMA(x9, m, c);                                              \
        __asm__ volatile("" : "+v"(m), "+v"(c));                                            \
    }                                                                                        \
    x0 = ADD(ADD(ADD(x0, x1), ADD(x2, x3)), ADD(ADD(x4, x5), ADD(ADD(x6, x7), ADD(x8, x9))));

/* Each kind: the ops one call does, and the call. Returns its CPU seconds. */
__attribute__((target("avx2,fma"))) static double run_f32_ymm(void) {
    double t = bench_thread_cpu();
    CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)
    float o[8];
    _mm256_storeu_ps(o, x0);
    sink = o[0];
    return bench_thread_cpu() - t;
}

__attribute__((target("avx512f"))) static double run_f32_zmm(void) {
    double t = bench_thread_cpu();
    CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
    sink = _mm512_reduce_add_ps(x0);
    return bench_thread_cpu() - t;
}

/* The dot-product instructions: 20 independent accumulators in zmm0-19
 * written in assembly (gcc 12 keeps an array of vdpbf16ps / vpdpbusd
 * accumulators in memory or copies each before its use, and then reads a
 * third to a half of the rate). ITERS instructions per call. */
#define DP_I(op, n) op " %%zmm30, %%zmm31, %%zmm" #n "\n\t"
#define DP_X10(op, a) DP_I(op, a##0) DP_I(op, a##1) DP_I(op, a##2) DP_I(op, a##3) DP_I(op, a##4) \
    DP_I(op, a##5) DP_I(op, a##6) DP_I(op, a##7) DP_I(op, a##8) DP_I(op, a##9)
#define DP_X20(op) DP_I(op, 0) DP_I(op, 1) DP_I(op, 2) DP_I(op, 3) DP_I(op, 4) DP_I(op, 5) \
    DP_I(op, 6) DP_I(op, 7) DP_I(op, 8) DP_I(op, 9) DP_X10(op, 1)
#define DP_LOOP(op)                                                                          \
    long n = ITERS / 20;                                                                     \
    double t = bench_thread_cpu();                                                           \
    __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\t"                                 \
                     "vpxord %%zmm31, %%zmm31, %%zmm31\n"                                    \
                     "1:\n\t" DP_X20(op) "dec %0\n\tjnz 1b"                                  \
                     : "+r"(n)::"memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",    \
                       "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",   \
                       "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm30",        \
                       "xmm31");                                                             \
    return bench_thread_cpu() - t;

__attribute__((target("avx512f"))) static double run_bf16_zmm(void) { DP_LOOP("vdpbf16ps") }
__attribute__((target("avx512f"))) static double run_int8_zmm(void) { DP_LOOP("vpdpbusd") }

/* AVX2 int8 as the q8_0 kernel does it: maddubs, madd with ones, add. */
__attribute__((target("avx2"))) static double run_int8_ymm(void) {
    double t = bench_thread_cpu();
    __m256i x[10];
    for (int i = 0; i < 10; i++) x[i] = _mm256_set1_epi32(i);
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    for (long i = 0; i < ITERS / 10; i++) {
#pragma GCC unroll 10
        for (int k = 0; k < 10; k++)
            x[k] = _mm256_add_epi32(x[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m256i s = x[0];
    for (int i = 1; i < 10; i++) s = _mm256_add_epi32(s, x[i]);
    isink = _mm256_extract_epi32(s, 0);
    return bench_thread_cpu() - t;
}

/* AMX: the thread's tiles configured (C in 0-3, A in 4 of depth `depth`
 * bytes, B in 5), then AMX_ITERS tile products, four chains. sail_cpu()
 * has asked Linux for the tile state. */
#define AMX_ITERS 4000000L
typedef struct amx_cfg {
    unsigned char palette, start_row, reserved[14];
    unsigned short colsb[16];
    unsigned char rows[16];
} amx_cfg;
#define AMX_X4(op) op " %%tmm5, %%tmm4, %%tmm0\n\t" op " %%tmm5, %%tmm4, %%tmm1\n\t" \
    op " %%tmm5, %%tmm4, %%tmm2\n\t" op " %%tmm5, %%tmm4, %%tmm3\n\t"
#define AMX_LOOP(op, depth)                                                                 \
    amx_cfg c = {.palette = 1};                                                             \
    for (int i = 0; i < 4; i++) { c.rows[i] = 16; c.colsb[i] = 64; }                        \
    c.rows[4] = 16; c.colsb[4] = depth;                                                     \
    c.rows[5] = depth / 4; c.colsb[5] = 64;                                                 \
    long n = AMX_ITERS / 4;                                                                 \
    __asm__ volatile("ldtilecfg %0\n\ttilezero %%tmm4\n\ttilezero %%tmm5" ::"m"(c));       \
    double t = bench_thread_cpu();                                                          \
    __asm__ volatile("1:\n\t" AMX_X4(op) "dec %0\n\tjnz 1b" : "+r"(n)::"memory");          \
    t = bench_thread_cpu() - t;                                                             \
    __asm__ volatile("tilerelease");                                                        \
    return t;
static double run_amx_bf16(void) { AMX_LOOP("tdpbf16ps", 64) }
static double run_amx_int8(void) { AMX_LOOP("tdpbssd", 64) }
static double run_amx_int8_q8(void) { AMX_LOOP("tdpbssd", 32) }

/* Streams g_read_bytes of a 256 MB buffer: thread i of a run reads buffer
 * i, made and touched on first use and kept for later runs (freed at
 * exit). All of it by default, past any cache; --read-mib sizes a working
 * set like a model's weights, which a large L3 may hold between calls. */
enum { READ_BYTES = 256 << 20, MAX_THREADS = 256 };
static float *g_read_buf[MAX_THREADS];
static size_t g_read_bytes = READ_BYTES;
static __thread int t_index;
__attribute__((target("avx2"))) static double run_read(void) {
    float *buf = g_read_buf[t_index];
    size_t n = g_read_bytes / sizeof(float);
    if (!buf) {
        buf = g_read_buf[t_index] = aligned_alloc(64, READ_BYTES);
        if (!buf) return 1e30;
        memset(buf, 0, READ_BYTES);
    }
    /* Four streams, a quarter of the buffer each, every line fetched 4 KiB
     * ahead: one stream left to the hardware prefetchers read 20-25% less
     * on the Xeon measured (and half as much from its large L3), below what
     * the GEMMs' own prefetching reaches, so it was no ceiling. */
    size_t q = n / 4 & ~(size_t)15;
    double t = bench_thread_cpu();
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    for (size_t i = 0; i < q; i += 16) {
        for (int s = 0; s < 4; s++) _mm_prefetch((const char *)(buf + s * q + i) + 4096, _MM_HINT_T0);
        a = _mm256_add_ps(a, _mm256_add_ps(_mm256_load_ps(buf + i), _mm256_load_ps(buf + i + 8)));
        b = _mm256_add_ps(b, _mm256_add_ps(_mm256_load_ps(buf + q + i), _mm256_load_ps(buf + q + i + 8)));
        c = _mm256_add_ps(c, _mm256_add_ps(_mm256_load_ps(buf + 2 * q + i), _mm256_load_ps(buf + 2 * q + i + 8)));
        d = _mm256_add_ps(d, _mm256_add_ps(_mm256_load_ps(buf + 3 * q + i), _mm256_load_ps(buf + 3 * q + i + 8)));
    }
    float o[8];
    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    sink = o[0];
    return bench_thread_cpu() - t;
}

typedef struct kind {
    const char *name, *unit;
    double (*fn)(void);
    double ops; /* per call */
} kind;

typedef struct job { const kind *k; double sec; int index; } job;

static void *thread_main(void *arg) {
    job *j = arg;
    t_index = j->index;
    j->sec = j->k->fn();
    return NULL;
}

/* Median over 5 runs of the summed per-thread rates, after a warm-up. */
static double measure(const kind *k, int n) {
    double rate[5];
    pthread_t t[256];
    job j[256];
    for (int r = -1; r < 5; r++) {
        for (int i = 0; i < n; i++) {
            j[i].k = k;
            j[i].index = i;
            pthread_create(&t[i], NULL, thread_main, &j[i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            pthread_join(t[i], NULL);
            sum += k->ops / j[i].sec;
        }
        if (r >= 0) rate[r] = sum;
    }
    qsort(rate, 5, sizeof *rate, bench_cmp_double);
    return rate[2] / 1e9;
}

int main(int argc, char **argv) {
    int max_threads = 2, all = 0;
    double read_mib = 0; /* 0: 256 MiB a thread */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) max_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--all")) all = 1;
        else if (!strcmp(argv[i], "--read-mib") && i + 1 < argc) read_mib = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_peak [--threads N] [--all] [--read-mib M]\n"
                            "  --read-mib M: measure only read bandwidth, over M MiB in all split\n"
                            "                across the threads (a model's weight bytes), <= 256 a thread\n");
            return 2;
        }
    }
    if (read_mib < 0 || read_mib > 256.0 * MAX_THREADS) {
        fprintf(stderr, "bench_peak: --read-mib must be between 0 and %d\n", 256 * MAX_THREADS);
        return 2;
    }
    if (max_threads < 1 || max_threads > MAX_THREADS) max_threads = 2;
    __builtin_cpu_init();
    int zmm = __builtin_cpu_supports("avx512f");
    if (!zmm && !__builtin_cpu_supports("fma")) {
        printf("peak: this CPU has neither AVX-512 nor FMA; no figure\n");
        return 0;
    }
    if (read_mib > 0) {
        if (!__builtin_cpu_supports("avx2")) {
            printf("skip: no avx2 (read bandwidth not measured)\n");
            return 0;
        }
        kind k = {"read bandwidth", "GB/s", run_read, 0};
        for (int n = 1; n <= max_threads; n++) {
            size_t each = (size_t)(read_mib * (1 << 20) / n) & ~(size_t)255; /* 4 streams of whole vectors */
            g_read_bytes = each < READ_BYTES ? each : READ_BYTES;
            k.ops = (double)g_read_bytes;
            printf("peak read bandwidth over %.1f MiB threads %d %.1f GB/s\n",
                   (double)g_read_bytes * n / (1 << 20), n, measure(&k, n));
        }
        for (int i = 0; i < MAX_THREADS; i++) free(g_read_buf[i]);
        return 0;
    }
    kind kinds[7];
    int nk = 0;
    kinds[nk++] = zmm ? (kind){"f32 fma zmm", "GFLOP/s", run_f32_zmm, ITERS * 16.0 * 2}
                      : (kind){"f32 fma ymm", "GFLOP/s", run_f32_ymm, ITERS * 8.0 * 2};
    if (all) {
        if (zmm && __builtin_cpu_supports("avx512bf16"))
            kinds[nk++] = (kind){"bf16 vdpbf16ps zmm", "GFLOP/s", run_bf16_zmm, ITERS * 16.0 * 4};
        else printf("skip: no avx512_bf16 (bf16 ceiling not measured)\n");
        if (zmm && __builtin_cpu_supports("avx512vnni"))
            kinds[nk++] = (kind){"int8 vpdpbusd zmm", "GOP/s", run_int8_zmm, ITERS * 16.0 * 8};
        else if (__builtin_cpu_supports("avx2"))
            kinds[nk++] = (kind){"int8 maddubs+madd ymm", "GOP/s", run_int8_ymm, ITERS * 32.0 * 2};
        if (sail_cpu()->amx_int8) {
            kinds[nk++] = (kind){"bf16 tdpbf16ps amx", "GFLOP/s", run_amx_bf16, AMX_ITERS * 16.0 * 16 * 32 * 2};
            kinds[nk++] = (kind){"int8 tdpbssd amx", "GOP/s", run_amx_int8, AMX_ITERS * 16.0 * 16 * 64 * 2};
            kinds[nk++] = (kind){"int8 tdpbssd amx, depth 32 (a q8_0 block)", "GOP/s", run_amx_int8_q8,
                                 AMX_ITERS * 16.0 * 16 * 32 * 2};
        } else printf("skip: no amx_int8, or Linux refused the tile state (AMX ceilings not measured)\n");
        if (__builtin_cpu_supports("avx2"))
            kinds[nk++] = (kind){"read bandwidth", "GB/s", run_read, (double)READ_BYTES};
    }
    for (int k = 0; k < nk; k++)
        for (int n = 1; n <= max_threads; n++)
            printf("peak %s threads %d %.1f %s\n", kinds[k].name, n, measure(&kinds[k], n),
                   kinds[k].unit);
    for (int i = 0; i < MAX_THREADS; i++) free(g_read_buf[i]);
    return 0;
}
