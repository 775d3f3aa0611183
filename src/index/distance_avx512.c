/* distance_avx512.c: AVX-512 (F, BW, VL) distance kernels (see distance.h).
 * Sixteen lanes per register and masked loads for the tail (d % 16), so a
 * 100-d vector needs no scalar loop; the int8 and f16 codes widen in
 * registers as in the AVX2 file. */
#include "distance.h"

#include <immintrin.h>

#include "common.h"

/* target() on every function, so the file builds with any flags (the fuzz
 * harnesses compile it without -mavx512f); dispatch checks the CPU. */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))

/* Lanes [0, n) of 16 set (n <= 16). */
AVX512 static inline __mmask16 tail(int n) { return (__mmask16)((1u << n) - 1); }

AVX512 static inline __m512 load_f16_tail(const uint16_t *x, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x));
}
AVX512 static inline __m512 load_i8_tail(const int8_t *x, __mmask16 m) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x)));
}

/* The three stored types share one loop per distance: dot_x and l2_x take
 * the type as a constant and are inlined into each kernel, so each gets
 * its own loads (as widen16 does in the GEMMs). */
enum { X_F32, X_F16, X_I8 };

/* x[i, i + 16) of stored type t as f32. */
AVX512 static inline __m512 load16(const void *x, int i, int t) {
    if (t == X_F32) return _mm512_loadu_ps((const float *)x + i);
    if (t == X_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)x + i)));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)x + i))));
}
/* The same for the lanes of m only (the rest 0). */
AVX512 static inline __m512 load16_tail(const void *x, int i, __mmask16 m, int t) {
    if (t == X_F32) return _mm512_maskz_loadu_ps(m, (const float *)x + i);
    if (t == X_F16) return load_f16_tail((const uint16_t *)x + i, m);
    return load_i8_tail((const int8_t *)x + i, m);
}

/* sum q[i] x[i]: two accumulators, the tail (d % 16) in one masked step. */
AVX512 static inline __attribute__((always_inline)) float dot_x(const float *q, const void *x, int d, int t) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load16(x, i, t), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load16(x, i + 16, t), a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load16_tail(x, i, m, t), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* q - x at lanes [i, i + 16), and at the lanes of m only; int8 codes stand
 * for sc x, taken off q in one fnmadd. */
AVX512 static inline __m512 diff16(const float *q, const void *x, int i, __m512 vs, int t) {
    if (t == X_I8) return _mm512_fnmadd_ps(vs, load16(x, i, t), _mm512_loadu_ps(q + i));
    return _mm512_sub_ps(_mm512_loadu_ps(q + i), load16(x, i, t));
}
AVX512 static inline __m512 diff16_tail(const float *q, const void *x, int i, __mmask16 m, __m512 vs, int t) {
    if (t == X_I8) return _mm512_fnmadd_ps(vs, load16_tail(x, i, m, t), _mm512_maskz_loadu_ps(m, q + i));
    return _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), load16_tail(x, i, m, t));
}

/* sum (q[i] - x[i])^2, as dot_x. sc: the int8 scale (unused otherwise). */
AVX512 static inline __attribute__((always_inline)) float l2_x(const float *q, const void *x, float sc, int d, int t) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), vs = _mm512_set1_ps(sc);
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 t0 = diff16(q, x, i, vs, t), t1 = diff16(q, x, i + 16, vs, t);
        a0 = _mm512_fmadd_ps(t0, t0, a0);
        a1 = _mm512_fmadd_ps(t1, t1, a1);
    }
    for (; i < d; i += 16) {
        __m512 v = diff16_tail(q, x, i, tail(SAIL_MIN(16, d - i)), vs, t);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float dot_f32_avx512(const float *q, const float *x, int d) { return dot_x(q, x, d, X_F32); }
AVX512 static float l2_f32_avx512(const float *q, const float *x, int d) { return l2_x(q, x, 0.0f, d, X_F32); }
AVX512 static float dot_f16_avx512(const float *q, const uint16_t *x, int d) { return dot_x(q, x, d, X_F16); }
AVX512 static float l2_f16_avx512(const float *q, const uint16_t *x, int d) { return l2_x(q, x, 0.0f, d, X_F16); }
AVX512 static float dot_i8_avx512(const float *q, const int8_t *x, float sc, int d) {
    return dot_x(q, x, d, X_I8) * sc;
}
AVX512 static float l2_i8_avx512(const float *q, const int8_t *x, float sc, int d) {
    return l2_x(q, x, sc, d, X_I8);
}

AVX512 static void f16_to_f32_avx512(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail((int)SAIL_MIN(16, n - i));
        _mm512_mask_storeu_ps(out + i, m, load_f16_tail(in + i, m));
    }
}

AVX512 static void i8_to_f32_avx512(float *out, const int8_t *in, float s, size_t n) {
    __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail((int)SAIL_MIN(16, n - i));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(vs, load_i8_tail(in + i, m)));
    }
}

/* 6 rows x 16 queries: one 16-lane accumulator per row (the AVX2 tile needs
 * two), the panel's k-th column one load, each row element one broadcast;
 * compared with the heaps' bounds while still in registers. */
#define TILE_ROW(i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(r##i[k]), b, c##i);
#define TILE_OUT(i) \
    { \
        __m512 v = _mm512_fmadd_ps(vm, c##i, _mm512_add_ps(qa, _mm512_set1_ps(radd[i]))); \
        _mm512_storeu_ps(dist + 16 * i, v); \
        any |= _mm512_cmp_ps_mask(v, t, _CMP_LE_OQ); \
    }

AVX512 static int scan_tile_avx512(const float *const rows[SAIL_TILE_ROWS], const float *panel, int d,
                                   const float *qadd, const float *radd, float mul, const float *bound, float *dist) {
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
    for (int k = 0; k < d; k++, panel += SAIL_TILE_QUERIES) {
        __m512 b = _mm512_loadu_ps(panel);
        TILE_ROW(0) TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4) TILE_ROW(5)
    }
    __m512 qa = _mm512_loadu_ps(qadd), vm = _mm512_set1_ps(mul), t = _mm512_loadu_ps(bound);
    __mmask16 any = 0;
    TILE_OUT(0) TILE_OUT(1) TILE_OUT(2) TILE_OUT(3) TILE_OUT(4) TILE_OUT(5)
    return any != 0;
}

const sail_dist_table sail_dist_avx512 = {
    "avx512", dot_f32_avx512, l2_f32_avx512, dot_f16_avx512, l2_f16_avx512,
    dot_i8_avx512, l2_i8_avx512, f16_to_f32_avx512, i8_to_f32_avx512, scan_tile_avx512,
};
