/* bench_gemm.c: sail_gemm against OpenBLAS cblas_sgemm on the shapes the
 * models run (ViT-S/16 at batch 8, BERT-base on 16 tokens) and 2048^3, with
 * the same thread count for both, best of several runs after a warm-up.
 *   bench_gemm [--threads N] [--reps R] */
#include "kernels/kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape { const char *name; int M, N, K; } shape;

static const shape SHAPES[] = {
    {"gemm 2048x2048x2048", 2048, 2048, 2048},
    {"vit-s qkv  1576x1152x384", 1576, 1152, 384},
    {"vit-s proj 1576x384x384", 1576, 384, 384},
    {"vit-s fc1  1576x1536x384", 1576, 1536, 384},
    {"vit-s fc2  1576x384x1536", 1576, 384, 1536},
    {"bert qkv   16x2304x768", 16, 2304, 768},
    {"bert proj  16x768x768", 16, 768, 768},
    {"bert fc1   16x3072x768", 16, 3072, 768},
    {"bert fc2   16x768x3072", 16, 768, 3072},
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_matrix(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    return x;
}

/* Best GFLOP/s over reps runs (plus one warm-up) of C = A B^T + bias, the
 * Linear-layer case. Repetitions scale so small shapes run long enough. */
static void bench_shape(const shape *s, sail_pool *pool, int reps) {
    int M = s->M, N = s->N, K = s->K;
    float *A = random_matrix((size_t)M * K), *B = random_matrix((size_t)N * K);
    float *bias = random_matrix(N), *C = malloc((size_t)M * N * sizeof(float));
    double flops = 2.0 * M * N * K;
    int inner = flops > 2e9 ? 1 : (int)(2e9 / flops / 4) + 1;
    double best_sail = 1e30, best_blas = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t = now();
        for (int i = 0; i < inner; i++)
            sail_gemm(pool, M, N, K, A, K, B, K, 1, bias, 0.0f, C, N);
        t = (now() - t) / inner;
        if (r > 0 && t < best_sail) best_sail = t;
        t = now();
        for (int i = 0; i < inner; i++) {
            for (int m = 0; m < M; m++) memcpy(C + (size_t)m * N, bias, N * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K,
                        1.0f, C, N);
        }
        t = (now() - t) / inner;
        if (r > 0 && t < best_blas) best_blas = t;
    }
    double gs = flops / best_sail * 1e-9, gb = flops / best_blas * 1e-9;
    printf("%-26s sail %6.1f GFLOP/s  openblas %6.1f GFLOP/s  ratio %.2f\n", s->name, gs, gb,
           gs / gb);
    fflush(stdout);
    free(A); free(B); free(bias); free(C);
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    openblas_set_num_threads(threads);
    sail_pool *pool = sail_pool_new(threads);
    if (!pool) return 1;
    printf("# sail %s, %d threads (openblas the same; bias added by a copy + beta=1)\n",
           sail_kernels_isa(), sail_pool_size(pool));
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) bench_shape(&SHAPES[i], pool, reps);
    sail_pool_free(pool);
    sail_kernels_release();
    return 0;
}
