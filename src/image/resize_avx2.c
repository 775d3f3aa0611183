/* resize_avx2.c: AVX2 versions of the two resampling passes of resize.c.
 * Both give PIL's exact 32-bit integer sums (the horizontal pass through
 * 16-bit vpmaddwd on split weights, the vertical one through vpmulld), so
 * the bytes are identical to the portable kernels (tests/test_image.c
 * compares them on random taps); only the grouping changes.
 * Functions carry target("avx2") so this file builds with any flags; resize.c
 * calls them only when the CPU has AVX2. */
#include "common.h"
#include "image/resize_impl.h"

#include <immintrin.h>
#include <stddef.h>

#define AVX2 __attribute__((target("avx2")))

/* Horizontal: two taps per vector with vpmaddwd. The taps are 22-bit fixed
 * point, too wide for a 16-bit multiply, so each is split exactly as
 * k = kh * 2^15 + kl (kl in 0..32767, kh small and signed): the low 128-bit
 * lane multiplies the pixel pair by (kl0, kl1), the high lane by (kh0, kh1),
 * and the total lo + (hi << 15) is PIL's int32 sum (all wrapping 32-bit
 * arithmetic, so equal to it whenever PIL's own sum fits). A pixel pair is
 * six bytes r0 g0 b0 r1 g1 b1, spread to 16-bit r0 r1 g0 g1 b0 b1 0 0 in
 * both lanes. */

/* The weights of taps x, x+1 of one output (a missing tap weighs 0). */
AVX2 static __m256i pair_weights(const int32_t *k, int x, int n) {
    int32_t k0 = k[x], k1 = x + 1 < n ? k[x + 1] : 0;
    int16_t l0 = (int16_t)(k0 & 0x7fff), l1 = (int16_t)(k1 & 0x7fff);
    int16_t h0 = (int16_t)(k0 >> 15), h1 = (int16_t)(k1 >> 15);
    return _mm256_setr_epi16(l0, l1, l0, l1, l0, l1, 0, 0, h0, h1, h0, h1, h0, h1, 0, 0);
}

/* Output pixel i of one row from its vector sum: the scalar taps past the
 * vector loop (p points at the first), the rounding half, then the shift
 * and saturating packs that are PIL's clip8 on three lanes. */
AVX2 static void finish_px(uint8_t *d, __m256i acc, const uint8_t *p, const int32_t *k, int x,
                           int n) {
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc),
                                _mm_slli_epi32(_mm256_extracti128_si256(acc, 1), 15));
    int32_t t[4] = {1 << (SAIL_RS_PRECISION_BITS - 1), 1 << (SAIL_RS_PRECISION_BITS - 1),
                    1 << (SAIL_RS_PRECISION_BITS - 1), 0};
    for (; x < n; x++, p += 3)
        for (int ch = 0; ch < 3; ch++) t[ch] += p[ch] * k[x];
    __m128i v = _mm_add_epi32(sum, _mm_loadu_si128((const __m128i *)t));
    v = _mm_srai_epi32(v, SAIL_RS_PRECISION_BITS);
    v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
    uint32_t rgb = (uint32_t)_mm_cvtsi128_si32(v);
    d[0] = (uint8_t)rgb;
    d[1] = (uint8_t)(rgb >> 8);
    d[2] = (uint8_t)(rgb >> 16);
}

/* Rows s0 and s1 (may be the same row) into d0 and d1: two rows share each
 * weight load and give two independent chains. */
AVX2 static void row_pair(uint8_t *d0, uint8_t *d1, const uint8_t *s0, const uint8_t *s1,
                          int dst_w, const sail_rs_coeffs *c, const __m256i *kx,
                          size_t pairs, const int *np) {
    const __m256i spread = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1));
    for (int i = 0; i < dst_w; i++, d0 += 3, d1 += 3) {
        const __m256i *kv = kx + i * pairs;
        size_t off = (size_t)c->first[i] * 3;
        const uint8_t *p0 = s0 + off, *p1 = s1 + off;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        for (int q = 0; q < np[i]; q++, p0 += 6, p1 += 6) {
            __m256i x0 = _mm256_broadcastq_epi64(_mm_loadl_epi64((const __m128i *)p0));
            __m256i x1 = _mm256_broadcastq_epi64(_mm_loadl_epi64((const __m128i *)p1));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_shuffle_epi8(x0, spread), kv[q]));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_shuffle_epi8(x1, spread), kv[q]));
        }
        const int32_t *k = c->k + (size_t)i * c->ksize;
        finish_px(d0, a0, p0, k, np[i] * 2, c->len[i]);
        finish_px(d1, a1, p1, k, np[i] * 2, c->len[i]);
    }
}

/* A pair is loaded as 8 bytes, so the vector loop of output i covers the
 * np[i] pairs that stay inside the row; the scalar tail takes the other
 * taps. Returns -1 when the weight layout cannot be allocated. */
AVX2 int sail_rs_hpass_avx2(uint8_t *dst, int dst_w, const uint8_t *src, int src_w,
                            int rows, const sail_rs_coeffs *c) {
    const size_t row_bytes = (size_t)src_w * 3, pairs = (size_t)(c->ksize + 1) / 2;
    __m256i *kx = sail_alloc_aligned(sizeof(__m256i) * pairs * (size_t)dst_w); /* (dst_w, pairs) */
    int *np = sail_malloc(sizeof(int) * (size_t)dst_w);
    if (!kx || !np) {
        sail_free(kx);
        sail_free(np);
        return -1;
    }
    for (int i = 0; i < dst_w; i++) {
        int x = 0;
        for (; x < c->len[i] && (size_t)(c->first[i] + x) * 3 + 8 <= row_bytes; x += 2)
            kx[i * pairs + x / 2] = pair_weights(c->k + (size_t)i * c->ksize, x, c->len[i]);
        np[i] = x / 2;
    }
    for (int y = 0; y < rows; y += 2) {
        int y1 = y + 1 < rows ? y + 1 : y; /* an odd last row is done twice */
        row_pair(dst + (size_t)y * dst_w * 3, dst + (size_t)y1 * dst_w * 3,
                 src + (size_t)y * row_bytes, src + (size_t)y1 * row_bytes, dst_w, c, kx, pairs,
                 np);
    }
    sail_free(kx);
    sail_free(np);
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
