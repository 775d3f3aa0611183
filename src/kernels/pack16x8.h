/* pack16x8.h: the 16 x 8 dword transpose behind the AVX-512 dot-product
 * GEMMs (gemm_vnni_avx512.c, gemm_bf16_avx512.c; and attention's bf16 key
 * panels, attn_bf16_avx512.c). Their weight panels hold,
 * for each group of 4 int8 (or 2 bf16) along K, that group of 16 weight
 * rows side by side in one zmm, the operand layout of vpdpbusd and
 * vdpbf16ps. Loading 32 bytes of each of 16 rows and transposing the dwords
 * gives 8 such vectors. Include only from files compiled with AVX-512F.
 * Also the end of their direct (few-row) tiles: sums of 4 accumulators and
 * the store of 4 outputs; and the store of a 32-column packed-path tile,
 * shared with gemm_avx512.c's f32 microkernel; and their lane masks; and
 * the packing of a q8_0 block (also for gemm_amx_avx512.c). */
#ifndef SAIL_PACK16X8_H
#define SAIL_PACK16X8_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The transpose from registers: z[k] holds 32 bytes of row k in its lanes
 * 0-1 (128-bit) and of row k + 8 in lanes 2-3; dst + 64 q receives dword q
 * of rows 0..15 in order, for q < nq (the rest is not stored). */
static inline void transpose16x8(const __m512i z[8], uint8_t *dst, int nq) {
    __m512i t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_unpacklo_epi32(z[k], z[k + 1]);
        t[k + 1] = _mm512_unpackhi_epi32(z[k], z[k + 1]);
    }
    /* u[0..3]: dwords {0,4}, {1,5}, {2,6}, {3,7} of rows 0-3 (and 8-11);
     * u[4..7] the same for rows 4-7 (and 12-15). */
    for (int h = 0; h < 2; h++) {
        __m512i *s = t + 4 * h, *d = u + 4 * h;
        d[0] = _mm512_unpacklo_epi64(s[0], s[2]);
        d[1] = _mm512_unpackhi_epi64(s[0], s[2]);
        d[2] = _mm512_unpacklo_epi64(s[1], s[3]);
        d[3] = _mm512_unpackhi_epi64(s[1], s[3]);
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    for (int q = 0; q < 4; q++) {
        if (q < nq) _mm512_storeu_si512(dst + 64 * q, _mm512_permutex2var_epi64(u[q], lo, u[q + 4]));
        if (q + 4 < nq) _mm512_storeu_si512(dst + 64 * (q + 4), _mm512_permutex2var_epi64(u[q], hi, u[q + 4]));
    }
}

/* 32 bytes at row r of src (rows ld bytes apart), r = 0..15, become 8
 * vectors: dst + 64 q holds dword q of rows 0..15 in order. */
static inline void pack16x8(const uint8_t *src, size_t ld, uint8_t *dst) {
    __m512i z[8];
    for (int k = 0; k < 8; k++) /* row k in lanes 0-1 (128-bit), row k + 8 in lanes 2-3 */
        z[k] = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(src + (size_t)k * ld))),
            _mm256_loadu_si256((const __m256i *)(src + (size_t)(k + 8) * ld)), 1);
    transpose16x8(z, dst, 8);
}

/* The same for nr < 16 rows or fewer than 32 bytes (nbytes <= 32): what
 * is missing is zero. */
static inline void pack16x8_part(const uint8_t *src, size_t ld, int nr, int nbytes,
                                 uint8_t *dst) {
    uint8_t tmp[16 * 32];
    for (int r = 0; r < 16; r++) {
        int n = r < nr ? nbytes : 0;
        for (int i = 0; i < n; i++) tmp[32 * r + i] = src[(size_t)r * ld + i];
        for (int i = n; i < 32; i++) tmp[32 * r + i] = 0;
    }
    pack16x8(tmp, 32, dst);
}

/* One q8_0 block (34 bytes: f16 scale, 32 int8) of each of rows [0, nr)
 * of W (nr <= 16, rows ldw bytes apart): its int8 as 8 vectors into q
 * (pack16x8's layout, signed, zero past nr) and its 16 scales as f32 into
 * d. The int8 q8_0 panels of gemm_vnni_avx512.c and gemm_amx_avx512.c. 16
 * rows are 16 streams, too many for the hardware prefetcher: each row's
 * line 4 blocks ahead is asked for. */
static inline void pack16x8_q8_block(const uint8_t *src, size_t ldw, int nr, uint8_t *q, float *d) {
    for (int r = 0; r < nr; r++) _mm_prefetch((const char *)src + (size_t)r * ldw + 4 * 34, _MM_HINT_T0);
    if (nr == 16) pack16x8(src + 2, ldw, q);
    else pack16x8_part(src + 2, ldw, nr, 32, q);
    uint16_t h[16] = {0};
    for (int r = 0; r < nr; r++) memcpy(&h[r], src + (size_t)r * ldw, 2);
    _mm512_storeu_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h)));
}

/* The sums of the 16 lanes of v0..v3 as lanes 0..3 (12 shuffles and adds
 * where four separate reductions take about 30). */
static inline __m128 hsum4x16(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m512 t0 = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 t1 = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(3, 2, 3, 2)));
    /* 128-bit lane k: four partial sums of v_k */
    __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)));
    u = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(2, 3, 0, 1)));
    u = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m512i first = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(first, u));
}

/* c[0..n) = bias[0..n) (or 0) + beta c + s[0..n), n <= 4, as the
 * references order it. */
static inline void store4(float *c, __m128 s, int n, const float *bias, float beta) {
    __mmask8 m = (__mmask8)((1u << n) - 1);
    __m128 base = bias ? _mm_maskz_loadu_ps(m, bias) : _mm_setzero_ps();
    if (beta != 0.0f) base = _mm_add_ps(base, _mm_mul_ps(_mm_set1_ps(beta), _mm_maskz_loadu_ps(m, c)));
    _mm_mask_storeu_ps(c, m, _mm_add_ps(base, s));
}

/* Lanes [0, n) of 16 (or 32) set; none for n <= 0. */
static inline __mmask16 mask16(int n) {
    return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1);
}
static inline __mmask32 mask32(int n) {
    return (__mmask32)(n >= 32 ? 0xffffffffu : n <= 0 ? 0 : (1u << n) - 1);
}

/* The end of a packed-path microkernel: rows [0, mr) of C(mr, nr) (+)= the
 * accumulators c (rows of 32 columns as two halves) + bias (or 0); accum:
 * add to C. Columns nr..32 are neither read nor written. Inlined with
 * constant rows (the kernel's MR), so c stays in registers. */
static inline __attribute__((always_inline)) void store_tile32(__m512 c[][2], int rows, float *C,
                                                               int ldc, int mr, int nr, int accum,
                                                               const float *bias) {
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    if (bias) {
        b0 = _mm512_maskz_loadu_ps(m0, bias);
        b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < rows; i++) {
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m512 v0 = _mm512_add_ps(c[i][0], b0), v1 = _mm512_add_ps(c[i][1], b1);
        if (accum) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
        }
        _mm512_mask_storeu_ps(row, m0, v0);
        _mm512_mask_storeu_ps(row + 16, m1, v1);
    }
}

#endif
