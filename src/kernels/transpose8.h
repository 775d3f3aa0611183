/* transpose8.h: an 8x8 float transpose with AVX shuffles, used by the GEMM
 * packers of both SIMD levels to turn rows of a (N, K) weight into k-major
 * panels, and the f32 packer of such a panel that both f32 GEMMs use.
 * Include only from files compiled with AVX enabled. */
#ifndef SAIL_TRANSPOSE8_H
#define SAIL_TRANSPOSE8_H

#include <immintrin.h>
#include <stddef.h>

/* 8x8 transpose in registers: r[i] lane j becomes r[j] lane i. */
static inline void transpose8_regs(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* 8x8 transpose of rows src[r*ld .. +8] into dst[c*dst_ld .. +8]. */
static inline void transpose8(const float *src, size_t ld, float *dst, int dst_ld) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * ld);
    transpose8_regs(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * dst_ld, r[i]);
}

/* Rows [0, nr) of B (N, K) (rows ldb apart), depth kc, into the panel dst
 * (kc, np): row n of step k at dst[k * np + n], rows nr..np zero. While at
 * it, prefetches the rows of the next panel (nr_next of them, np on; 0: no
 * prefetch): the operands often come from memory, and short row segments
 * are where the hardware prefetchers lag. */
static inline void pack_bt_panel(const float *B, int ldb, int nr, int kc, float *dst, int np,
                                 int nr_next) {
    int k8 = kc & ~7, n8 = nr & ~7;
    for (int n = 0; n < n8; n += 8) {
        for (int k = 0; k < k8; k += 8) {
            if (!(k & 15))
                for (int i = n; i < n + 8 && i < nr_next; i++)
                    _mm_prefetch((const char *)(B + (size_t)(np + i) * ldb + k), _MM_HINT_T0);
            transpose8(B + (size_t)n * ldb + k, (size_t)ldb, dst + (size_t)k * np + n, np);
        }
        for (int k = k8; k < kc; k++)
            for (int i = 0; i < 8; i++) dst[(size_t)k * np + n + i] = B[(size_t)(n + i) * ldb + k];
    }
    for (int k = 0; k < kc; k++) {
        float *d = dst + (size_t)k * np;
        for (int n = n8; n < nr; n++) d[n] = B[(size_t)n * ldb + k];
        for (int n = nr; n < np; n++) d[n] = 0.0f;
    }
}

#endif
