/* gemm_avx2.c: single-threaded SGEMM for AVX2+FMA, the same GotoBLAS/BLIS
 * structure as gemm_avx512.c (see there) with a 6x16 microkernel: 12 ymm
 * accumulators, two B vectors and one broadcast fill 15 of 16 registers. */
#include "kernels_impl.h"
#include "common.h"
#include "transpose8.h"

#include <immintrin.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 384
#define NC 512

/* Lanes [0, n) set, for vmaskmov on partial panels. */
static inline __m256i lanes(int n) {
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - SAIL_MAX(0, SAIL_MIN(n, 8))));
}

/* One NR panel from B (N, K) rows 0..nr, depth kc: dst (kc, NR). */
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
    __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
    for (int k = 0; k < kc; k++) {
        const float *b = B + (size_t)k * ldb;
        _mm256_store_ps(dst + (size_t)k * NR, _mm256_maskload_ps(b, m0));
        _mm256_store_ps(dst + (size_t)k * NR + 8, _mm256_maskload_ps(b + 8, m1));
    }
}

/* C(mr, nr) (+)= Ap(MR, kc) * Bp(kc, NR) [+ bias]. accum: add to C. */
static void kernel_6x16(int kc, const float *restrict Ap, const float *restrict Bp,
                        float *C, int ldc, int mr, int nr, int accum, const float *bias) {
    __m256 c[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
        Bp += NR;
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(Ap + i * KC + k);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
        }
    }
    __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias) {
        bias0 = _mm256_maskload_ps(bias, m0);
        bias1 = _mm256_maskload_ps(bias + 8, m1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m256 v0 = _mm256_add_ps(c[i][0], bias0), v1 = _mm256_add_ps(c[i][1], bias1);
        if (accum) {
            v0 = _mm256_add_ps(v0, _mm256_maskload_ps(row, m0));
            v1 = _mm256_add_ps(v1, _mm256_maskload_ps(row + 8, m1));
        }
        _mm256_maskstore_ps(row, m0, v0);
        _mm256_maskstore_ps(row + 8, m1, v1);
    }
}

#define MICROKERNEL kernel_6x16
#include "gemm_driver.h"

void sail_gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, int b_trans, const float *bias, float beta, float *C,
                    int ldc) {
    gemm_blocked(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
}
