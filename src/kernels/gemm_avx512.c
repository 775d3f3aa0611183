/* gemm_avx512.c: single-threaded SGEMM for AVX-512, GotoBLAS/BLIS style.
 *
 * Loops: NC columns of B -> KC deep slice -> pack that B block (kc, nc) so it
 * sits in L2 -> for each MR-row strip of A: copy it (row-major, fixed stride
 * KC so broadcasts use immediate offsets; it stays in L1) -> for each NR
 * panel of the packed B: a 14x32 register-blocked microkernel.
 * 28 zmm accumulators hide the FMA latency; per k the kernel loads two B
 * vectors and broadcasts 14 A values for 28 FMAs. Edges: partial A strips are
 * zero-padded, partial B panels are zero-padded and stored through masks. */
#include "kernels_impl.h"
#include "common.h"

#include "transpose8.h"

#include <immintrin.h>
#include <string.h>

#define MR 14
#define NR 32
#define KC 384
#define NC 512

/* One NR panel from B (N, K) rows n0..n0+nr, depth kc: dst (kc, NR). */
static void pack_bt_panel(const float *B, int ldb, int nr, int kc, float *dst) {
    int k8 = kc & ~7, n8 = nr & ~7;
    for (int n = 0; n < n8; n += 8) {
        for (int k = 0; k < k8; k += 8)
            transpose8(B + (size_t)n * ldb + k, (size_t)ldb, dst + (size_t)k * NR + n, NR);
        for (int k = k8; k < kc; k++)
            for (int i = 0; i < 8; i++) dst[(size_t)k * NR + n + i] = B[(size_t)(n + i) * ldb + k];
    }
    for (int k = 0; k < kc; k++) {
        float *d = dst + (size_t)k * NR;
        for (int n = n8; n < nr; n++) d[n] = B[(size_t)n * ldb + k];
        for (int n = nr; n < NR; n++) d[n] = 0.0f;
    }
}

/* One NR panel from B (K, N) columns 0..nr, depth kc: dst (kc, NR). */
static void pack_bn_panel(const float *B, int ldb, int nr, int kc, float *dst) {
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr <= 16 ? 0 : nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1);
    for (int k = 0; k < kc; k++) {
        const float *b = B + (size_t)k * ldb;
        _mm512_store_ps(dst + (size_t)k * NR, _mm512_maskz_loadu_ps(m0, b));
        _mm512_store_ps(dst + (size_t)k * NR + 16, _mm512_maskz_loadu_ps(m1, b + 16));
    }
}

/* C(mr, nr) (+)= Ap(MR, kc) * Bp(kc, NR) [+ bias]. accum: add to C. */
static void kernel_14x32(int kc, const float *restrict Ap, const float *restrict Bp,
                         float *C, int ldc, int mr, int nr, int accum,
                         const float *bias) {
    __m512 c[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
        Bp += NR;
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(Ap[i * KC + k]);
            c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
        }
    }
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr <= 16 ? 0 : nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m512 v0 = _mm512_add_ps(c[i][0], bias0), v1 = _mm512_add_ps(c[i][1], bias1);
        if (accum) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
        }
        _mm512_mask_storeu_ps(row, m0, v0);
        _mm512_mask_storeu_ps(row + 16, m1, v1);
    }
}

#define MICROKERNEL kernel_14x32
#include "gemm_driver.h"

void sail_gemm_avx512(int M, int N, int K, const float *A, int lda, const float *B,
                      int ldb, int b_trans, const float *bias, float beta, float *C,
                      int ldc) {
    gemm_blocked(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
}
