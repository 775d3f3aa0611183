/* resize_avx2.c: AVX2 versions of the two resampling passes of resize.c.
 * They use PIL's exact 32-bit integer arithmetic (vpmulld, vpaddd), so the
 * bytes are identical to the portable kernels; only the grouping changes.
 * Functions carry target("avx2") so this file builds with any flags; resize.c
 * calls them only when the CPU has AVX2. */
#include "common.h"
#include "image/resize_impl.h"

#include <immintrin.h>
#include <stddef.h>

#define AVX2 __attribute__((target("avx2")))

/* Horizontal: two taps per vector. Six source bytes (two RGB pixels) are
 * spread to int32 lanes r0 g0 b0 _ r1 g1 b1 _ and multiplied by
 * k0 k0 k0 0 k1 k1 k1 0, laid out once per call (kx) so the inner loop is
 * load, shuffle, widen, multiply, add. A tap pair is loaded as 8 bytes, so
 * the vector path stops where that would read past the row; the scalar
 * tail finishes. Returns -1 when the coefficient layout cannot be
 * allocated. */
AVX2 int sail_rs_hpass_avx2(uint8_t *dst, int dst_w, const uint8_t *src, int src_w,
                            int rows, const sail_rs_coeffs *c) {
    const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1);
    const __m128i half = _mm_set1_epi32(1 << (SAIL_RS_PRECISION_BITS - 1));
    const size_t row_bytes = (size_t)src_w * 3, pairs = (size_t)(c->ksize + 1) / 2;
    __m256i *kx = sail_alloc_aligned(sizeof(__m256i) * pairs * (size_t)dst_w); /* (dst_w, pairs) */
    if (!kx) return -1;
    for (int i = 0; i < dst_w; i++) {
        const int32_t *k = c->k + (size_t)i * c->ksize;
        for (int x = 0; x + 1 < c->len[i]; x += 2)
            kx[i * pairs + x / 2] = _mm256_setr_epi32(k[x], k[x], k[x], 0, k[x + 1], k[x + 1],
                                                      k[x + 1], 0);
    }
    for (int y = 0; y < rows; y++) {
        const uint8_t *s = src + (size_t)y * row_bytes;
        uint8_t *d = dst + (size_t)y * dst_w * 3;
        for (int i = 0; i < dst_w; i++, d += 3) {
            const int32_t *k = c->k + (size_t)i * c->ksize;
            const __m256i *kv = kx + i * pairs;
            int first = c->first[i], n = c->len[i], x = 0;
            __m256i acc = _mm256_setzero_si256();
            for (; x + 1 < n && (size_t)(first + x) * 3 + 8 <= row_bytes; x += 2) {
                __m128i px = _mm_loadl_epi64((const __m128i *)(s + (size_t)(first + x) * 3));
                __m256i p32 = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(px, spread));
                acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(p32, kv[x / 2]));
            }
            __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc),
                                        _mm256_extracti128_si256(acc, 1));
            int32_t s3[4];
            _mm_storeu_si128((__m128i *)s3, _mm_add_epi32(sum, half));
            for (const uint8_t *p = s + (size_t)(first + x) * 3; x < n; x++, p += 3) {
                s3[0] += p[0] * k[x];
                s3[1] += p[1] * k[x];
                s3[2] += p[2] * k[x];
            }
            d[0] = sail_rs_clip8(s3[0]);
            d[1] = sail_rs_clip8(s3[1]);
            d[2] = sail_rs_clip8(s3[2]);
        }
    }
    sail_free(kx);
    return 0;
}

/* Vertical: 32 output bytes at a time held in four int32 accumulators,
 * taps innermost; arithmetic shift then signed and unsigned saturating
 * packs clamp to 0..255 exactly as PIL's clip8 does. */
AVX2 void sail_rs_vpass_avx2(uint8_t *dst, int dst_h, const uint8_t *src, int w,
                             const sail_rs_coeffs *c, int32_t *acc) {
    const size_t n = (size_t)w * 3;
    const __m256i half = _mm256_set1_epi32(1 << (SAIL_RS_PRECISION_BITS - 1));
    for (int y = 0; y < dst_h; y++) {
        const int32_t *k = c->k + (size_t)y * c->ksize;
        const uint8_t *s0 = src + (size_t)c->first[y] * n;
        uint8_t *d = dst + (size_t)y * n;
        int taps = c->len[y];
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
            __m256i a0 = half, a1 = half, a2 = half, a3 = half;
            for (int t = 0; t < taps; t++) {
                const uint8_t *s = s0 + (size_t)t * n + i;
                __m256i kk = _mm256_set1_epi32(k[t]);
                __m128i lo = _mm_loadu_si128((const __m128i *)s);
                __m128i hi = _mm_loadu_si128((const __m128i *)(s + 16));
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), kk));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(
                                              _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), kk));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), kk));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(
                                              _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), kk));
            }
            a0 = _mm256_srai_epi32(a0, SAIL_RS_PRECISION_BITS);
            a1 = _mm256_srai_epi32(a1, SAIL_RS_PRECISION_BITS);
            a2 = _mm256_srai_epi32(a2, SAIL_RS_PRECISION_BITS);
            a3 = _mm256_srai_epi32(a3, SAIL_RS_PRECISION_BITS);
            /* packs work per 128-bit lane; the permute restores order. */
            __m256i w01 = _mm256_packs_epi32(a0, a1), w23 = _mm256_packs_epi32(a2, a3);
            __m256i b = _mm256_packus_epi16(w01, w23);
            b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(d + i), b);
        }
        if (i == n) continue;
        for (size_t j = i; j < n; j++) acc[j] = 1 << (SAIL_RS_PRECISION_BITS - 1);
        for (int t = 0; t < taps; t++) {
            const uint8_t *s = s0 + (size_t)t * n;
            for (size_t j = i; j < n; j++) acc[j] += s[j] * k[t];
        }
        for (size_t j = i; j < n; j++) d[j] = sail_rs_clip8(acc[j]);
    }
}
