/* bench_gemm_quant.c: GEMM throughput (GFLOP/s) of a Linear layer, y = x W^T,
 * with W stored as f32, f16, bf16 and q8_0 (sail_gemm_w, the active kernel
 * level), at the shapes of ViT-S/16 @224 (197 tokens: qkv, proj, fc1, fc2;
 * batch 8: 1576 rows, and the patch embedding)
 * BERT-base at batch 1 (16 tokens; 1 token: the few-row path), and CLIP's
 * text fc1 at 77, 154 and 308 rows (either side of the amx level's
 * 128-row switch to gemm_q8_0_wide) and its image tower's qkv and fc2 at
 * batch 8 (400 rows), with
 * each type's ratio to f32 measured in the same run. The "cold" shapes
 * rotate over copies of W that together exceed the L3 cache (COLD_BYTES),
 * as a model's layers do, so their weights come from memory: the line
 * under them gives GB/s of weights read, to compare with the read
 * bandwidth of the machine.
 *
 * Timing: the types take turns within each repetition (f32, f16, bf16,
 * q8_0, f32, ...), so a change of machine load or clock moves them alike;
 * one thread is timed in thread CPU time (other load on a shared machine
 * inflates it little), the pool of --threads in wall time. Medians of
 * --reps after one warm-up round. The CPU model, its AVX-512 flags and the
 * kernel level come first.
 *
 *   bench_gemm_quant [--threads N] [--reps R] [--one] [--only TEXT]
 *   (--one: 1 thread only; --only: the shapes whose name contains TEXT)
 */
#include "kernels/kernels.h"
#include "gemm_case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape { const char *name; int M, N, K, cold; } shape;

static const shape SHAPES[] = {
    {"ViT-S qkv", 197, 1152, 384, 0},  {"ViT-S proj", 197, 384, 384, 0},
    {"ViT-S fc1", 197, 1536, 384, 0},  {"ViT-S fc2", 197, 384, 1536, 0},
    {"ViT-S b8 patch", 1568, 384, 768, 0}, {"ViT-S b8 qkv", 1576, 1152, 384, 0},
    {"ViT-S b8 proj", 1576, 384, 384, 0},  {"ViT-S b8 fc1", 1576, 1536, 384, 0},
    {"ViT-S b8 fc2", 1576, 384, 1536, 0},
    {"BERT qkv 16 tok", 16, 2304, 768, 0}, {"BERT o 16 tok", 16, 768, 768, 0},
    {"BERT fc1 16 tok", 16, 3072, 768, 0}, {"BERT fc2 16 tok", 16, 768, 3072, 0},
    {"BERT fc1 1 tok", 1, 3072, 768, 0},   {"BERT fc2 4 tok", 4, 768, 3072, 0},
    {"BERT fc1 1 cold", 1, 3072, 768, 1}, {"BERT fc1 4 cold", 4, 3072, 768, 1},
    {"BERT fc1 16 cold", 16, 3072, 768, 1},
    {"CLIP text fc1 77 tok", 77, 3072, 768, 0}, {"CLIP text fc1 2x77", 154, 3072, 768, 0},
    {"CLIP text fc1 4x77", 308, 3072, 768, 0},
    {"CLIP image b8 qkv", 400, 2304, 768, 0}, {"CLIP image b8 fc2", 400, 768, 3072, 0},
};
/* Bytes of distinct weight copies a cold shape cycles through (above the
 * L3 of the CPUs seen: 32 MB per Zen 5 CCD). */
#define COLD_BYTES ((size_t)256 << 20)
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

/* q8_0 twice: as stored (packed into the kernel's panels on every call) and
 * in the panels a model keeps (sail_gemm_w_pack at a Linear's second use),
 * which is what a loaded q8_0 model runs. */
enum { NT = 5, MAX_REPS = 101 };
static const uint32_t TYPES[NT] = {GGUF_T_F32, GGUF_T_F16, GGUF_T_BF16, GGUF_T_Q8_0, GGUF_T_Q8_0};
static const char *const NAMES[NT] = {"f32", "f16", "bf16", "q8_0 stored", "q8_0 panels"};
static const int PACKED[NT] = {0, 0, 0, 0, 1};

static void print_cpu(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096], model[256] = "unknown";
    int have_flags = 0;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
                model[strcspn(model, "\n")] = 0;
            } else if (!have_flags && !strncmp(line, "flags", 5)) {
                have_flags = 1;
                printf("# AVX-512 flags:");
                for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n"))
                    if (!strncmp(t, "avx512", 6)) printf(" %s", t);
                printf("\n");
            }
        }
        fclose(f);
    }
    printf("# CPU: %s; kernels: %s\n", model, sail_kernel_level());
}

int main(int argc, char **argv) {
    int threads = 2, reps = 15, one_only = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--one")) one_only = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    print_cpu();
    sail_pool *one = sail_pool_new(1), *many = one_only ? NULL : sail_pool_new(threads);
    printf("# GFLOP/s, median of %d; 1 thread in CPU time%s; (xN) = ratio to f32\n", reps,
           one_only ? "" : ", then the pool in wall time");
    printf("%-16s %-15s %-4s", "shape", "M x N x K", "thr");
    for (int t = 0; t < NT; t++) printf(" %15s", NAMES[t]);
    printf("\n");
    unsigned seed = 1;
    for (int s = 0; s < N_SHAPES; s++) {
        const shape *sh = &SHAPES[s];
        bench_gemm_case gc;
        if (!bench_gemm_case_pick(&gc, sh->name, only, sh->M, sh->N, sh->K, &seed)) continue;
        unsigned char *Wq[NT], *Wp[NT] = {0};
        size_t pbytes[NT] = {0};
        sail_wmat wm[NT];
        void *scratch[NT];
        int copies[NT];
        size_t wbytes[NT];
        for (int t = 0; t < NT; t++) {
            size_t rb;
            wbytes[t] = gguf_type_nbytes(TYPES[t], (uint64_t)sh->K) * sh->N;
            copies[t] = sh->cold ? (int)(COLD_BYTES / wbytes[t]) + 1 : 1;
            Wq[t] = bench_gemm_case_quantize(&gc, TYPES[t], copies[t], &rb);
            wm[t] = (sail_wmat){Wq[t], rb, (sail_wtype)TYPES[t], NULL};
            pbytes[t] = PACKED[t] ? sail_gemm_w_packed_size(&wm[t], sh->N, sh->K) : 0;
            if (pbytes[t]) { /* one set of panels per copy of W */
                Wp[t] = bench_gemm_case_need(bench_aligned(pbytes[t] * copies[t]));
                for (int c = 0; c < copies[t]; c++) {
                    sail_wmat one = wm[t];
                    sail_gemm_w_pack(&one, sh->N, sh->K, Wp[t] + (size_t)c * pbytes[t]);
                }
            }
            scratch[t] = malloc(sail_gemm_w_scratch(&wm[t], sh->M, sh->K) + 64);
        }
        for (int p = 0; p < (one_only ? 1 : 2); p++) {
            sail_pool *pool = p ? many : one;
            clockid_t clock = p ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
            double dt[NT][MAX_REPS], g[NT];
            for (int r = 0; r <= reps; r++)
                for (int t = 0; t < NT; t++) {
                    /* Small shapes repeat the call (gc.inner); cold ones take
                     * the next copy of W each call. */
                    int n = sh->cold ? copies[t] : gc.inner;
                    double t0 = bench_seconds(clock);
                    for (int k = 0; k < n; k++) {
                        sail_wmat w = wm[t];
                        w.data = Wq[t] + (size_t)(k % copies[t]) * wbytes[t];
                        if (Wp[t]) w.packed = Wp[t] + (size_t)(k % copies[t]) * pbytes[t];
                        sail_gemm_w(pool, sh->M, sh->N, sh->K, gc.A, sh->K, &w, NULL, 0.0f, gc.C, sh->N,
                                    scratch[t]);
                    }
                    if (r) dt[t][r - 1] = (bench_seconds(clock) - t0) / n;
                }
            for (int t = 0; t < NT; t++) g[t] = gc.flop / bench_median(dt[t], reps) / 1e9;
            printf("%-16s %-15s %-4d", p ? "" : sh->name, p ? "" : gc.dims, p ? threads : 1);
            for (int t = 0; t < NT; t++) {
                char cell[32];
                if (t) snprintf(cell, sizeof cell, "%.1f (%.2fx)", g[t], g[t] / g[0]);
                else snprintf(cell, sizeof cell, "%.1f", g[t]);
                printf(" %15s", cell);
            }
            printf("\n");
            if (sh->cold) {
                printf("%-16s %-15s %-4s", "", "GB/s of W", "");
                for (int t = 0; t < NT; t++) /* bytes the kernel reads: the panels where it has them */
                    printf(" %15.1f", g[t] / gc.flop * 1e9 * (pbytes[t] ? pbytes[t] : wbytes[t]) / 1e9);
                printf("\n");
            }
            fflush(stdout);
        }
        for (int t = 0; t < NT; t++) { free(Wq[t]); free(Wp[t]); free(scratch[t]); }
        bench_gemm_case_free(&gc);
    }
    sail_pool_free(one);
    sail_pool_free(many);
    sail_kernels_release();
    return 0;
}
