/* bench_gemm_quant.c: GEMM throughput (GFLOP/s) of a Linear layer, y = x W^T,
 * with W stored as f32, f16, bf16 and q8_0 (sail_gemm_w), at the shapes of
 * BERT-base with 16 tokens (batch 1: memory-bound, W read once per call)
 * and ViT-S/16 @224 (compute-bound). One thread is timed in thread CPU
 * time, so other load on the machine inflates it little; the pool of
 * --threads (default 2) in wall time. Best of reps after one warm-up.
 *
 *   bench_gemm_quant [--threads N] [--reps R]
 */
#include "format/gguf.h"
#include "format/quant.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct shape { const char *name; int M, N, K; } shape;

static const shape SHAPES[] = {
    {"BERT qkv 16 tok", 16, 2304, 768},   {"BERT fc1 16 tok", 16, 3072, 768},
    {"BERT fc2 16 tok", 16, 768, 3072},   {"ViT-S qkv b1", 197, 1152, 384},
    {"ViT-S fc1 b8", 1576, 1536, 384},    {"ViT-S fc2 b8", 1576, 384, 1536},
};

static const uint32_t TYPES[4] = {GGUF_T_F32, GGUF_T_F16, GGUF_T_BF16, GGUF_T_Q8_0};
static const char *const NAMES[4] = {"f32", "f16", "bf16", "q8_0"};

/* Best GFLOP/s of reps calls, timed on `clock`. */
static double gflops(sail_pool *pool, clockid_t clock, const shape *s, const float *A,
                     const sail_wmat *W, float *C, void *scratch, int reps) {
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = seconds(clock);
        sail_gemm_w(pool, s->M, s->N, s->K, A, s->K, W, NULL, 0.0f, C, s->N, scratch);
        double dt = seconds(clock) - t0;
        if (r && dt < best) best = dt;
    }
    return 2.0 * s->M * s->N * s->K / best / 1e9;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    sail_pool *one = sail_pool_new(1), *many = sail_pool_new(threads);
    printf("GFLOP/s, 1 thread (CPU time) | %d threads (wall); kernels: %s\n", threads, sail_kernels_isa());
    printf("%-16s %-16s", "shape", "M x N x K");
    for (int t = 0; t < 4; t++) printf(" %13s", NAMES[t]);
    printf("\n");
    unsigned seed = 1;
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
        const shape *sh = &SHAPES[s];
        float *A = malloc((size_t)sh->M * sh->K * sizeof(float));
        float *W = malloc((size_t)sh->N * sh->K * sizeof(float));
        float *C = malloc((size_t)sh->M * sh->N * sizeof(float));
        for (size_t i = 0; i < (size_t)sh->M * sh->K; i++) A[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
        for (size_t i = 0; i < (size_t)sh->N * sh->K; i++) W[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
        char dims[32];
        snprintf(dims, sizeof dims, "%dx%dx%d", sh->M, sh->N, sh->K);
        printf("%-16s %-16s", sh->name, dims);
        for (int t = 0; t < 4; t++) {
            size_t rb = gguf_type_nbytes(TYPES[t], (uint64_t)sh->K);
            unsigned char *Wq = malloc(rb * sh->N);
            for (int n = 0; n < sh->N; n++) sail_quantize_row(TYPES[t], Wq + n * rb, W + (size_t)n * sh->K, sh->K);
            sail_wmat wm = {Wq, rb, (sail_wtype)TYPES[t]};
            void *scratch = malloc(sail_gemm_w_scratch(&wm, sh->M, sh->K) + 64);
            double g1 = gflops(one, CLOCK_THREAD_CPUTIME_ID, sh, A, &wm, C, scratch, reps);
            double gn = gflops(many, CLOCK_MONOTONIC, sh, A, &wm, C, scratch, reps);
            printf(" %6.1f |%6.1f", g1, gn);
            fflush(stdout);
            free(Wq);
            free(scratch);
        }
        printf("\n");
        free(A);
        free(W);
        free(C);
    }
    sail_pool_free(one);
    sail_pool_free(many);
    sail_kernels_release();
    return 0;
}
