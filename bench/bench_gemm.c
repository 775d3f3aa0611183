/* bench_gemm.c: sail_gemm against OpenBLAS cblas_sgemm on the shapes the
 * models run (ViT-S/16 at batch 8, BERT-base on 16 tokens, 2048^3) and the
 * ones training the tiny preset runs (rows = 64 pairs x 16 or 17 tokens,
 * width 256, FFN 1024): forward C = X W^T + b, weight gradient dW += dY^T X
 * (B not transposed, beta 1) and input gradient dX = dY W.
 *
 * The two libraries alternate, `reps` times per shape after a warm-up, at
 * the same thread count; each turn runs the GEMM enough times for ~0.25
 * GFLOP. Printed: the median GFLOP/s of each, and the median of the
 * per-turn ratios (sail / OpenBLAS, > 1 means sail is faster), which is what
 * stays comparable on a machine shared with other jobs. --clock cpu (1
 * thread only) times the CPU of the calling thread, where both libraries
 * then compute, instead of wall time: the steadier figure on a loaded
 * machine, and blind to OpenBLAS's idle workers, which spin in sched_yield
 * after start-up unless OPENBLAS_NUM_THREADS=1 is set. Each shape's result
 * is checked against OpenBLAS's so a broken kernel cannot post a number.
 * --shape M,N,K,BT,BETA runs one shape of your own instead of the table.
 * --threads 1,2 alternates both counts within each turn and adds the 1 -> 2
 * thread scaling of each library, measured under the same conditions.
 *   bench_gemm [--threads N[,N...]] [--reps R] [--only SUBSTRING] [--clock wall|cpu]
 *              [--shape M,N,K,BT,BETA] */
#include "kernels/kernels.h"
#include "bench.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *name;
    int M, N, K;
    int bt, beta; /* B transposed (a Linear weight); accumulate into C */
    int bias;
} shape;

static const shape SHAPES[] = {
    {"gemm 2048^3 (A B^T)", 2048, 2048, 2048, 1, 0, 1},
    {"vit-s qkv   1576x1152x384", 1576, 1152, 384, 1, 0, 1},
    {"vit-s proj  1576x384x384", 1576, 384, 384, 1, 0, 1},
    {"vit-s fc1   1576x1536x384", 1576, 1536, 384, 1, 0, 1},
    {"vit-s fc2   1576x384x1536", 1576, 384, 1536, 1, 0, 1},
    {"bert qkv    16x2304x768", 16, 2304, 768, 1, 0, 1},
    {"bert proj   16x768x768", 16, 768, 768, 1, 0, 1},
    {"bert fc1    16x3072x768", 16, 3072, 768, 1, 0, 1},
    {"bert fc2    16x768x3072", 16, 768, 3072, 1, 0, 1},
    {"train qkv   1088x768x256", 1088, 768, 256, 1, 0, 1},
    {"train fc1   1088x1024x256", 1088, 1024, 256, 1, 0, 1},
    {"train fc2   1088x256x1024", 1088, 256, 1024, 1, 0, 1},
    {"train dW1   1024x256x1088 +", 1024, 256, 1088, 0, 1, 0},
    {"train dW2   256x1024x1088 +", 256, 1024, 1088, 0, 1, 0},
    {"train dX1   1088x256x1024", 1088, 256, 1024, 0, 0, 0},
    {"train dX2   1088x1024x256", 1088, 1024, 256, 0, 0, 0},
    {"train qkv   64x768x256", 64, 768, 256, 1, 0, 1},
    {"train dX2   64x1024x256", 64, 1024, 256, 0, 0, 0},
    {"train dW2   256x1024x64 +", 256, 1024, 64, 0, 1, 0},
};

static clockid_t g_clock = CLOCK_MONOTONIC;

static float *random_matrix(size_t n) {
    float *x = malloc(n * sizeof(float));
    if (!x) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    return x;
}

static void run_sail(const shape *s, sail_pool *pool, const float *A, const float *B,
                     const float *bias, float *C) {
    sail_gemm(pool, s->M, s->N, s->K, A, s->K, B, s->bt ? s->K : s->N, s->bt,
              s->bias ? bias : NULL, (float)s->beta, C, s->N);
}

/* The same product through cblas; a bias is a copy into C and beta = 1. */
static void run_blas(const shape *s, const float *A, const float *B, const float *bias,
                     float *C) {
    float beta = (float)s->beta;
    if (s->bias) {
        for (int m = 0; m < s->M; m++) memcpy(C + (size_t)m * s->N, bias, s->N * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, s->bt ? CblasTrans : CblasNoTrans, s->M, s->N,
                s->K, 1.0f, A, s->K, B, s->bt ? s->K : s->N, beta, C, s->N);
}

/* Largest |sail - OpenBLAS| relative to the product's scale, one call each
 * from the same starting C. */
static double check(const shape *s, sail_pool *pool, const float *A, const float *B,
                    const float *bias, float *C1, float *C2) {
    size_t n = (size_t)s->M * s->N;
    for (size_t i = 0; i < n; i++) C1[i] = C2[i] = (float)(i % 7) - 3.0f;
    run_sail(s, pool, A, B, bias, C1);
    run_blas(s, A, B, bias, C2);
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)C1[i] - C2[i]);
        if (!(e <= err)) err = e; /* NaN propagates */
    }
    return err / sqrt((double)s->K);
}

#define MAX_COUNTS 4

/* The thread counts being compared, with a pool for each. */
typedef struct setup {
    int n, threads[MAX_COUNTS];
    sail_pool *pools[MAX_COUNTS];
} setup;

/* Times sail and OpenBLAS alternately at every thread count, reps turns.
 * One line per count, then (with several) the scaling of each library from
 * the first count: its median time there over its median time here. */
static int bench_shape(const shape *s, const setup *st, int reps) {
    int M = s->M, N = s->N, K = s->K;
    float *A = random_matrix((size_t)M * K), *B = random_matrix((size_t)N * K);
    float *bias = random_matrix(N), *C = random_matrix((size_t)M * N);
    float *C2 = random_matrix((size_t)M * N);
    double err = check(s, st->pools[st->n - 1], A, B, bias, C, C2);
    if (!(err < 1e-4)) {
        printf("%-28s MISMATCH vs OpenBLAS: scaled max error %.3g\n", s->name, err);
        free(A); free(B); free(bias); free(C); free(C2);
        return 1;
    }
    double flops = 2.0 * M * N * K;
    int inner = flops > 2.5e8 ? 1 : (int)(2.5e8 / flops) + 1;
    size_t nt = (size_t)st->n * reps;
    double *ts = malloc(3 * nt * sizeof(double)), *tb = ts + nt, *ratio = tb + nt;
    if (!ts) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        for (int c = 0; c < st->n; c++) {
            openblas_set_num_threads(st->threads[c]);
            double t0 = bench_seconds(g_clock);
            for (int i = 0; i < inner; i++) run_sail(s, st->pools[c], A, B, bias, C);
            double t1 = bench_seconds(g_clock);
            for (int i = 0; i < inner; i++) run_blas(s, A, B, bias, C2);
            double t2 = bench_seconds(g_clock);
            if (r < 0) continue;
            size_t at = (size_t)c * reps + r;
            ts[at] = (t1 - t0) / inner;
            tb[at] = (t2 - t1) / inner;
            ratio[at] = tb[at] / ts[at];
        }
    }
    double ms[MAX_COUNTS], mb[MAX_COUNTS];
    for (int c = 0; c < st->n; c++) {
        ms[c] = bench_median(ts + (size_t)c * reps, reps);
        mb[c] = bench_median(tb + (size_t)c * reps, reps);
        printf("%-28s bt=%d T=%d sail %6.1f GFLOP/s  openblas %6.1f GFLOP/s  ratio %.2f\n",
               s->name, s->bt, st->threads[c], flops / ms[c] * 1e-9, flops / mb[c] * 1e-9,
               bench_median(ratio + (size_t)c * reps, reps));
    }
    for (int c = 1; c < st->n; c++)
        printf("%-28s scaling T=%d->%d: sail %.2fx  openblas %.2fx\n", s->name, st->threads[0],
               st->threads[c], ms[0] / ms[c], mb[0] / mb[c]);
    fflush(stdout);
    free(ts);
    free(A); free(B); free(bias); free(C); free(C2);
    return 0;
}

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--threads N[,N...]] [--reps R] [--only SUBSTRING] "
            "[--clock wall|cpu] [--shape M,N,K,BT,BETA]\n", argv0);
    return 2;
}

int main(int argc, char **argv) {
    int reps = 7;
    setup st = {1, {2}, {NULL}};
    const char *only = NULL;
    shape custom = {"custom", 0, 0, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *p = argv[++i];
            for (st.n = 0; st.n < MAX_COUNTS; st.n++) {
                char *end;
                long t = strtol(p, &end, 10);
                if (end == p || t < 1 || t > 256) return usage(argv[0]);
                st.threads[st.n] = (int)t;
                if (*end != ',') break;
                p = end + 1;
            }
            if (st.n++ == MAX_COUNTS) return usage(argv[0]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--clock") && i + 1 < argc && !strcmp(argv[i + 1], "cpu")) {
            g_clock = CLOCK_THREAD_CPUTIME_ID;
            i++;
        } else if (!strcmp(argv[i], "--clock") && i + 1 < argc && !strcmp(argv[i + 1], "wall")) {
            i++;
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc &&
                   sscanf(argv[++i], "%d,%d,%d,%d,%d", &custom.M, &custom.N, &custom.K,
                          &custom.bt, &custom.beta) == 5 &&
                   custom.M > 0 && custom.N > 0 && custom.K > 0) {
            custom.bias = !custom.beta;
        } else {
            return usage(argv[0]);
        }
    }
    if (reps < 1) return usage(argv[0]);
    for (int c = 0; c < st.n; c++)
        if (st.threads[c] > 1 && g_clock != CLOCK_MONOTONIC) {
            fprintf(stderr, "bench_gemm: --clock cpu needs --threads 1 (workers run elsewhere)\n");
            return 2;
        }
    int bad = 0;
    for (int c = 0; c < st.n && !bad; c++) bad = !(st.pools[c] = sail_pool_new(st.threads[c]));
    if (!bad) {
        printf("# sail %s vs OpenBLAS, %s clock, medians of %d alternations "
               "(ratio > 1: sail faster; '+': beta 1)\n",
               sail_kernel_level(), g_clock == CLOCK_MONOTONIC ? "wall" : "thread-cpu", reps);
        if (custom.M) {
            char name[64];
            snprintf(name, sizeof name, "%dx%dx%d%s", custom.M, custom.N, custom.K,
                     custom.beta ? " +" : "");
            custom.name = name;
            bad = bench_shape(&custom, &st, reps);
        } else {
            for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
                if (!only || strstr(SHAPES[i].name, only))
                    bad |= bench_shape(&SHAPES[i], &st, reps);
        }
    }
    for (int c = 0; c < st.n; c++) sail_pool_free(st.pools[c]);
    sail_kernels_release();
    return bad;
}
