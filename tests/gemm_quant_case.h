/* gemm_quant_case.h: the random GEMM cases that test_gemm_quant.c (the
 * kernels against their references) and test_gemm_io.c (sail_gemm_w: threads,
 * rows, hand-overs) draw, with the reference table they quantise by. */
#ifndef SAIL_TEST_GEMM_QUANT_CASE_H
#define SAIL_TEST_GEMM_QUANT_CASE_H

#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

static unsigned long long g_rng = 0x9E3779B97F4A7C15ull;
static inline uint64_t next_u64(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return g_rng;
}
static inline float frand(void) { /* uniform in [-1, 1) */
    return (float)((next_u64() >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static inline void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = frand();
}

static const sail_kernel_table *g_ref;

/* Bytes of one stored weight row of K values. */
static inline size_t row_bytes(sail_wtype t, int K) {
    return t == SAIL_WT_Q8_0 ? (size_t)K / 32 * 34 : (size_t)K * 2;
}

/* One GEMM case: A (M, K) at lda = K + 3, one float past an aligned start;
 * W (N, K) stored as type, rows at an odd address and odd byte stride; its
 * widened copy Wf (N, K); C (M, ldc = N + 5) starting from C0. */
typedef struct qcase {
    int M, N, K, beta, has_bias, lda, ldc;
    int round_a;        /* bf16: the kernel rounds A to bf16 (bf16_rounds_a) */
    int wide;           /* q8_0: the kernel is gemm_q8_0_wide (A rounded, W widened to bf16) */
    int packed;         /* q8_0 (bf16): the kernel reads W as its level's q8_0_pack (bf16_pack) wrote it */
    sail_wtype type;
    size_t ldw;
    float *a_base, *A, *Wf, *bias, *C0, *C, *R;
    unsigned char *w_base, *W;
    sail_q8a *Aq;
} qcase;

static inline void qcase_init(qcase *q, sail_wtype type, int M, int N, int K, int variant) {
    memset(q, 0, sizeof *q);
    q->type = type; q->M = M; q->N = N; q->K = K;
    q->beta = variant & 1; q->has_bias = (variant >> 1) & 1;
    q->lda = K + 3; q->ldc = N + 5;
    q->ldw = row_bytes(type, K) + 3;
    q->a_base = malloc(((size_t)M * q->lda + 1) * sizeof(float));
    q->A = q->a_base + 1;
    fill(q->A, (size_t)M * q->lda);
    q->w_base = malloc(q->ldw * N + 1);
    q->W = q->w_base + 1;
    q->Wf = malloc((size_t)N * K * sizeof(float));
    uint32_t gt = type == SAIL_WT_F16 ? GGUF_T_F16 : type == SAIL_WT_BF16 ? GGUF_T_BF16 : GGUF_T_Q8_0;
    float *row = malloc((size_t)K * sizeof(float));
    for (int n = 0; n < N; n++) {
        unsigned char *w = q->W + (size_t)n * q->ldw;
        fill(row, K);
        if (n % 3 == 1 && K) row[(n * 7) % K] *= 9.0f; /* an outlier sets its block's scale */
        sail_quantize_row(gt, w, row, K);
        /* Other writers may store -128, which sail's quantiser never does. */
        if (type == SAIL_WT_Q8_0 && n % 4 == 2 && K) w[2 + (n % 32)] = 0x80;
        sail_dequantize_row(gt, q->Wf + (size_t)n * K, w, K);
    }
    free(row);
    q->bias = malloc((size_t)N * sizeof(float));
    fill(q->bias, N);
    size_t nc = (size_t)M * q->ldc;
    q->C0 = malloc(nc * sizeof(float)); q->C = malloc(nc * sizeof(float)); q->R = malloc(nc * sizeof(float));
    fill(q->C0, nc);
    memcpy(q->C, q->C0, nc * sizeof(float));
    memcpy(q->R, q->C0, nc * sizeof(float));
    if (type == SAIL_WT_Q8_0) {
        q->Aq = malloc((size_t)M * (K / 32) * sizeof(sail_q8a));
        for (int m = 0; m < M; m++) g_ref->quantize_q8a(q->Aq + (size_t)m * (K / 32), q->A + (size_t)m * q->lda, K);
    }
}

static inline void qcase_free(qcase *q) {
    free(q->a_base); free(q->w_base); free(q->Wf); free(q->bias);
    free(q->C0); free(q->C); free(q->R); free(q->Aq);
}

#endif
