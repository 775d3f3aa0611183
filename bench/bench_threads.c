/* bench_threads.c: what a second thread buys at each GEMM shape of the
 * models: ViT-S/16 @224 at batch 1 and 8 (197 tokens a picture; the patch
 * embedding, qkv, proj, fc1, fc2), BERT-base at 1, 4 and 16 tokens and
 * at 4 texts of 16 tokens (64 rows), and CLIP ViT-B/32's image (8 x 50
 * tokens) and text (8 x 77) towers at batch 8, with W stored as f32 and as
 * q8_0 (sail_gemm_w, the active kernel level; q8_0 packed once, as models
 * keep it). First the pool's own cost: one run of 2 empty tasks, right
 * after another run (workers still spinning) and after 1 ms of rest
 * (workers asleep on their condition variable).
 *
 * Timing: wall clock (a pool's time is the wall time of its slowest
 * thread), 1 and 2 threads taking turns within each repetition so that a
 * change of machine load moves both alike, each turn after one untimed
 * call that wakes its pool, as a model's previous op leaves it; medians of
 * --reps after one warm-up. On a shared machine the second thread may find
 * no free core: the ratio then says what the pool does under load, not
 * what the code can.
 *
 *   bench_threads [--reps R] [--only TEXT] */
#include "kernels/kernels.h"
#include "gemm_case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape { const char *name; int M, N, K; } shape;
static const shape SHAPES[] = {
    {"ViT b1 patch", 196, 384, 768},   {"ViT b1 qkv", 197, 1152, 384},
    {"ViT b1 proj", 197, 384, 384},    {"ViT b1 fc1", 197, 1536, 384},
    {"ViT b1 fc2", 197, 384, 1536},    {"ViT b8 patch", 1568, 384, 768},
    {"ViT b8 qkv", 1576, 1152, 384},   {"ViT b8 proj", 1576, 384, 384},
    {"ViT b8 fc1", 1576, 1536, 384},   {"ViT b8 fc2", 1576, 384, 1536},
    {"BERT 1 tok qkv", 1, 2304, 768},  {"BERT 1 tok fc1", 1, 3072, 768},
    {"BERT 1 tok fc2", 1, 768, 3072},  {"BERT 4 tok qkv", 4, 2304, 768},
    {"BERT 4 tok fc2", 4, 768, 3072},  {"BERT 16 qkv", 16, 2304, 768},
    {"BERT 16 o", 16, 768, 768},       {"BERT 16 fc1", 16, 3072, 768},
    {"BERT 16 fc2", 16, 768, 3072},    {"BERT 4x16 qkv", 64, 2304, 768},
    {"BERT 4x16 o", 64, 768, 768},     {"BERT 4x16 fc1", 64, 3072, 768},
    {"BERT 4x16 fc2", 64, 768, 3072},  {"CLIP i8 qkv", 400, 2304, 768},
    {"CLIP i8 o", 400, 768, 768},      {"CLIP i8 fc1", 400, 3072, 768},
    {"CLIP i8 fc2", 400, 768, 3072},   {"CLIP t8 qkv", 616, 1536, 512},
    {"CLIP t8 o", 616, 512, 512},      {"CLIP t8 fc1", 616, 2048, 512},
    {"CLIP t8 fc2", 616, 512, 2048},
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])
enum { MAX_REPS = 101 };

static void noop(void *ctx, int task, int thread) { (void)ctx; (void)task; (void)thread; }

/* Median microseconds of one run of 2 empty tasks, `rest` seconds after
 * the previous run. */
static double wake_us(sail_pool *pool, double rest, int reps) {
    double t[MAX_REPS];
    for (int r = 0; r <= reps; r++) {
        double until = bench_now() + rest;
        while (bench_now() < until) {}
        double t0 = bench_now();
        sail_pool_run(pool, noop, NULL, 2);
        if (r) t[r - 1] = (bench_now() - t0) * 1e6;
    }
    return bench_median(t, reps);
}

int main(int argc, char **argv) {
    int reps = 11;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    sail_pool *pools[2] = {sail_pool_new(1), sail_pool_new(2)};
    printf("# kernels: %s; wall-clock medians of %d\n", sail_kernel_level(), reps);
    printf("# pool of 2, one run of 2 empty tasks: %.1f us back to back, %.1f us after 1 ms idle\n",
           wake_us(pools[1], 0, 101), wake_us(pools[1], 1e-3, 101));
    printf("%-15s %-15s %10s %10s %7s %10s %10s %7s\n", "shape", "M x N x K", "f32 1t us",
           "2t us", "2t/1t", "q8_0 1t us", "2t us", "2t/1t");
    unsigned seed = 1;
    for (int s = 0; s < N_SHAPES; s++) {
        const shape *sh = &SHAPES[s];
        bench_gemm_case gc;
        if (!bench_gemm_case_pick(&gc, sh->name, only, sh->M, sh->N, sh->K, &seed)) continue;
        size_t rb;
        unsigned char *Wq = bench_gemm_case_quantize(&gc, GGUF_T_Q8_0, 1, &rb);
        sail_wmat wm[2] = {{gc.W, (size_t)sh->K * sizeof(float), SAIL_WT_F32, NULL}, {Wq, rb, SAIL_WT_Q8_0, NULL}};
        /* q8_0 in the panels a model keeps from a Linear's second use on
         * (sail_gemm_w_pack), so no task packs W; none at levels without */
        size_t pbytes = sail_gemm_w_packed_size(&wm[1], sh->N, sh->K);
        void *Wp = pbytes ? bench_aligned(pbytes) : NULL;
        if (Wp) sail_gemm_w_pack(&wm[1], sh->N, sh->K, Wp);
        void *scratch = malloc(sail_gemm_w_scratch(&wm[1], sh->M, sh->K) + 64);
        double dt[2][2][MAX_REPS], us[2][2];
        for (int r = 0; r <= reps; r++)
            for (int t = 0; t < 2; t++)
                for (int p = 0; p < 2; p++) {
                    /* one call untimed first: in a model the layer's other
                     * ops keep the pool's workers awake, here the other
                     * pool's turn lets them fall asleep (a wake-up on this
                     * VM then costs about a quantisation of A) */
                    sail_gemm_w(pools[p], sh->M, sh->N, sh->K, gc.A, sh->K, &wm[t], NULL, 0.0f, gc.C, sh->N,
                                scratch);
                    double t0 = bench_now();
                    for (int k = 0; k < gc.inner; k++)
                        sail_gemm_w(pools[p], sh->M, sh->N, sh->K, gc.A, sh->K, &wm[t], NULL, 0.0f, gc.C,
                                    sh->N, scratch);
                    if (r) dt[t][p][r - 1] = (bench_now() - t0) / gc.inner;
                }
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < 2; p++) us[t][p] = bench_median(dt[t][p], reps) * 1e6;
        printf("%-15s %-15s %10.1f %10.1f %6.2fx %10.1f %10.1f %6.2fx\n", sh->name, gc.dims, us[0][0],
               us[0][1], us[0][0] / us[0][1], us[1][0], us[1][1], us[1][0] / us[1][1]);
        fflush(stdout);
        bench_gemm_case_free(&gc); free(Wq); free(Wp); free(scratch);
    }
    sail_pool_free(pools[0]);
    sail_pool_free(pools[1]);
    sail_kernels_release();
    return 0;
}
