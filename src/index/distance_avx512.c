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

AVX512 static inline __m512 load_f16(const uint16_t *x) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
}
AVX512 static inline __m512 load_f16_tail(const uint16_t *x, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x));
}
AVX512 static inline __m512 load_i8(const int8_t *x) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)x)));
}
AVX512 static inline __m512 load_i8_tail(const int8_t *x, __mmask16 m) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x)));
}

AVX512 static float dot_f32_avx512(const float *q, const float *x, int d) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float l2_f32_avx512(const float *q, const float *x, int d) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(x + i));
        __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(x + i + 16));
        a0 = _mm512_fmadd_ps(t0, t0, a0);
        a1 = _mm512_fmadd_ps(t1, t1, a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, x + i));
        a0 = _mm512_fmadd_ps(t, t, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float dot_f16_avx512(const float *q, const uint16_t *x, int d) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_f16(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_f16(x + i + 16), a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load_f16_tail(x + i, m), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float l2_f16_avx512(const float *q, const uint16_t *x, int d) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), load_f16(x + i));
        __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), load_f16(x + i + 16));
        a0 = _mm512_fmadd_ps(t0, t0, a0);
        a1 = _mm512_fmadd_ps(t1, t1, a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), load_f16_tail(x + i, m));
        a0 = _mm512_fmadd_ps(t, t, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float dot_i8_avx512(const float *q, const int8_t *x, float sc, int d) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_i8(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_i8(x + i + 16), a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load_i8_tail(x + i, m), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * sc;
}

AVX512 static float l2_i8_avx512(const float *q, const int8_t *x, float sc, int d) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), vs = _mm512_set1_ps(sc);
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 t0 = _mm512_fnmadd_ps(vs, load_i8(x + i), _mm512_loadu_ps(q + i));
        __m512 t1 = _mm512_fnmadd_ps(vs, load_i8(x + i + 16), _mm512_loadu_ps(q + i + 16));
        a0 = _mm512_fmadd_ps(t0, t0, a0);
        a1 = _mm512_fmadd_ps(t1, t1, a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = tail(SAIL_MIN(16, d - i));
        __m512 t = _mm512_fnmadd_ps(vs, load_i8_tail(x + i, m), _mm512_maskz_loadu_ps(m, q + i));
        a0 = _mm512_fmadd_ps(t, t, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
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
