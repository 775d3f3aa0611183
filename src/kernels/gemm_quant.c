/* gemm_quant.c: the plain C GEMMs on weights in their stored type (f16,
 * bf16, q8_0) and the q8_0 activation quantiser: the references the SIMD
 * versions (gemm_quant_avx2.c) are tested against, and the portable
 * fallback. The threaded driver, sail_gemm_w, is in gemm.c. */
#include "kernels_impl.h"
#include "common.h"

#include <math.h>
#include <string.h>

/* Weights are widened a piece of a row at a time, so each one is converted
 * once per call rather than once per row of A. */
enum { PIECE = 256 };

static void widen(float *dst, const uint8_t *src, int n, int bf16) {
    for (int i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * (size_t)i, 2);
        dst[i] = bf16 ? sail_bf16_to_f32(h) : sail_f16_to_f32(h);
    }
}

/* C = bias + beta*C over the (M, N) block, before the products are added. */
static void init_c(int M, int N, const float *bias, float beta, float *C, int ldc) {
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc; // (N)
        for (int n = 0; n < N; n++) c[n] = sail_gemm_base(c + n, bias, n, beta);
    }
}

static void gemm_half_ref(int M, int N, int K, const float *A, int lda, const uint8_t *W,
                          size_t ldw, int bf16, const float *bias, float beta, float *C,
                          int ldc) {
    init_c(M, N, bias, beta, C, ldc);
    float w[PIECE];
    for (int n = 0; n < N; n++) {
        const uint8_t *wr = W + (size_t)n * ldw; // (K) 16-bit values
        for (int k0 = 0; k0 < K; k0 += PIECE) {
            int kc = SAIL_MIN(PIECE, K - k0);
            widen(w, wr + 2 * (size_t)k0, kc, bf16);
            for (int m = 0; m < M; m++) {
                const float *a = A + (size_t)m * lda + k0; // (kc)
                float s = 0.0f;
                for (int k = 0; k < kc; k++) s += a[k] * w[k];
                C[(size_t)m * ldc + n] += s;
            }
        }
    }
}

SAIL_GEMM_HALF_ENTRIES(ref, gemm_half_ref)

/* f32 to bf16 as vcvtneps2bf16 does it: nearest even; zeros and
 * subnormals become a zero of their sign; NaN stays NaN (made quiet). */
static uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* A bf16 as vdpbf16ps reads it: subnormals are zero. */
static float bf16_daz(uint16_t h) {
    return (h & 0x7f80u) == 0 ? ((h & 0x8000u) ? -0.0f : 0.0f) : sail_bf16_to_f32(h);
}

float sail_bf16_dp_value(float x) { return bf16_daz(bf16_round(x)); }

void sail_round_bf16_ref(uint16_t *dst, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_round(x[i]);
}

void sail_gemm_bf16a_ref(int M, int N, int K, const float *A, int lda, const void *W,
                         size_t ldw, const float *bias, float beta, float *C, int ldc) {
    init_c(M, N, bias, beta, C, ldc);
    float a[PIECE], w[PIECE];
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc; // (N)
        for (int k0 = 0; k0 < K; k0 += PIECE) {
            int kc = SAIL_MIN(PIECE, K - k0);
            for (int k = 0; k < kc; k++) a[k] = sail_bf16_dp_value(A[(size_t)m * lda + k0 + k]);
            for (int n = 0; n < N; n++) {
                const uint8_t *wr = (const uint8_t *)W + (size_t)n * ldw + 2 * (size_t)k0;
                for (int k = 0; k < kc; k++) {
                    uint16_t h;
                    memcpy(&h, wr + 2 * (size_t)k, 2);
                    w[k] = bf16_daz(h);
                }
                float s = 0.0f; /* each product is exact: two 8-bit significands */
                for (int k = 0; k < kc; k++) s += a[k] * w[k];
                c[n] += s;
            }
        }
    }
}

enum { Q8_BYTES = 2 + SAIL_Q8_0_BLOCK }; /* a weight block in the file */

void sail_gemm_q8_0_bf16a_ref(int M, int N, int K, const float *A, int lda, const void *W,
                              size_t ldw, const float *bias, float beta, float *C, int ldc) {
    init_c(M, N, bias, beta, C, ldc);
    float a[SAIL_Q8_0_BLOCK], w[SAIL_Q8_0_BLOCK];
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc; // (N)
        for (int k0 = 0; k0 + SAIL_Q8_0_BLOCK <= K; k0 += SAIL_Q8_0_BLOCK) {
            for (int k = 0; k < SAIL_Q8_0_BLOCK; k++) a[k] = sail_bf16_dp_value(A[(size_t)m * lda + k0 + k]);
            for (int n = 0; n < N; n++) {
                const uint8_t *blk = (const uint8_t *)W + (size_t)n * ldw + (size_t)(k0 / SAIL_Q8_0_BLOCK) * Q8_BYTES;
                uint16_t d16;
                memcpy(&d16, blk, 2);
                float d = sail_f16_to_f32(d16); /* d q is exact in f32: 11 by 8 bits */
                for (int k = 0; k < SAIL_Q8_0_BLOCK; k++) w[k] = sail_bf16_dp_value(d * (float)(int8_t)blk[2 + k]);
                float s = 0.0f;
                for (int k = 0; k < SAIL_Q8_0_BLOCK; k++) s += a[k] * w[k];
                c[n] += s;
            }
        }
    }
}

void sail_gemm_q8_0_ref(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W,
                        size_t ldw, const void *Wp, const float *bias, float beta, float *C, int ldc) {
    int nb = K / SAIL_Q8_0_BLOCK;
    init_c(M, N, bias, beta, C, ldc);
    for (int m = 0; m < M; m++) {
        const sail_q8a *a = A + (size_t)m * lda; // (nb)
        for (int n = 0; n < N; n++) {
            const uint8_t *w = (const uint8_t *)W + (size_t)n * ldw; // (nb) blocks
            float s = 0.0f;
            for (int b = 0; b < nb; b++, w += Q8_BYTES) {
                uint16_t d16;
                memcpy(&d16, w, 2);
                int32_t dot = 0; /* at most 32 * 128 * 127: exact */
                for (int j = 0; j < SAIL_Q8_0_BLOCK; j++) dot += (int8_t)w[2 + j] * a[b].q[j];
                s += (float)dot * (a[b].d * sail_f16_to_f32(d16));
            }
            C[(size_t)m * ldc + n] += s;
        }
    }
}

void sail_quantize_q8a_ref(sail_q8a *dst, const float *x, int n) {
    for (int b = 0; b < n / SAIL_Q8_0_BLOCK; b++, x += SAIL_Q8_0_BLOCK) {
        float amax = 0.0f;
        for (int j = 0; j < SAIL_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        dst[b].d = d;
        for (int j = 0; j < SAIL_Q8_0_BLOCK; j++) {
            /* The clamp keeps NaN and rounding at the edge in range, the way
             * the SIMD min/max do (a NaN becomes 127). */
            float v = fmaxf(fminf(x[j] * id, 127.0f), -127.0f);
            dst[b].q[j] = (int8_t)lrintf(v);
        }
    }
}
