/* distance_avx2.c: AVX2 + FMA + F16C distance kernels (see distance.h).
 * Several 8-lane accumulators hide FMA latency; the tail (d % 8) runs in
 * a scalar loop. */
#include "distance.h"

#include <immintrin.h>

#include "common.h"

/* target() on every function, so the file builds with any flags (the
 * fuzz harness compiles it without -mavx2); dispatch checks the CPU. */
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline __m256 load_i8(const int8_t *x) {
    __m128i b = _mm_loadl_epi64((const __m128i *)x);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

AVX2 static inline __m256 load_f16(const uint16_t *x) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
}

/* The stored types share their loops: dot_x and l2_x take the type as a
 * constant and are inlined into each kernel, so each gets its own loads. */
enum { X_F32, X_F16, X_I8 };

/* x[i, i + 8) of stored type t as f32, and x[i] alone. */
AVX2 static inline __m256 load8(const void *x, int i, int t) {
    if (t == X_F32) return _mm256_loadu_ps((const float *)x + i);
    if (t == X_F16) return load_f16((const uint16_t *)x + i);
    return load_i8((const int8_t *)x + i);
}
static inline float load1(const void *x, int i, int t) {
    if (t == X_F32) return ((const float *)x)[i];
    if (t == X_F16) return sail_f16_to_f32(((const uint16_t *)x)[i]);
    return (float)((const int8_t *)x)[i];
}

/* sum q[i] x[i] for f32 and int8 codes: four accumulators, two loads per
 * FMA, so this is load-bound, not latency-bound, on 512-d vectors. */
AVX2 static inline __attribute__((always_inline)) float dot_x(const float *q, const void *x, int d, int t) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(x, i, t), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(x, i + 8, t), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), load8(x, i + 16, t), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), load8(x, i + 24, t), a3);
    }
    for (; i + 8 <= d; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(x, i, t), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < d; i++) s += q[i] * load1(x, i, t);
    return s;
}

/* q - x at lanes [i, i + 8); int8 codes stand for sc x, taken off q in
 * one fnmadd. */
AVX2 static inline __m256 diff8(const float *q, const void *x, int i, __m256 vs, int t) {
    if (t == X_I8) return _mm256_fnmadd_ps(vs, load8(x, i, t), _mm256_loadu_ps(q + i));
    return _mm256_sub_ps(_mm256_loadu_ps(q + i), load8(x, i, t));
}

/* sum (q[i] - x[i])^2: two accumulators. sc: the int8 scale (unused
 * otherwise). */
AVX2 static inline __attribute__((always_inline)) float l2_x(const float *q, const void *x, float sc, int d, int t) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), vs = _mm256_set1_ps(sc);
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 t0 = diff8(q, x, i, vs, t), t1 = diff8(q, x, i + 8, vs, t);
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        a1 = _mm256_fmadd_ps(t1, t1, a1);
    }
    if (i + 8 <= d) {
        __m256 t0 = diff8(q, x, i, vs, t);
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < d; i++) {
        float v = t == X_I8 ? q[i] - sc * load1(x, i, t) : q[i] - load1(x, i, t);
        s += v * v;
    }
    return s;
}

AVX2 static float dot_f32_avx2(const float *q, const float *x, int d) { return dot_x(q, x, d, X_F32); }
AVX2 static float l2_f32_avx2(const float *q, const float *x, int d) { return l2_x(q, x, 0.0f, d, X_F32); }

/* Its own loop, with two accumulators: dot_x's four would add in another
 * order and change the last bits of its results. */
AVX2 static float dot_f16_avx2(const float *q, const uint16_t *x, int d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_f16(x + i + 8), a1);
    }
    if (i + 8 <= d) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(x + i), a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < d; i++) s += q[i] * sail_f16_to_f32(x[i]);
    return s;
}

AVX2 static float l2_f16_avx2(const float *q, const uint16_t *x, int d) { return l2_x(q, x, 0.0f, d, X_F16); }
AVX2 static float dot_i8_avx2(const float *q, const int8_t *x, float sc, int d) {
    return dot_x(q, x, d, X_I8) * sc;
}
AVX2 static float l2_i8_avx2(const float *q, const int8_t *x, float sc, int d) {
    return l2_x(q, x, sc, d, X_I8);
}

AVX2 static void f16_to_f32_avx2(float *out, const uint16_t *in, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_f16(in + i));
    for (; i < n; i++) out[i] = sail_f16_to_f32(in[i]);
}

AVX2 static void i8_to_f32_avx2(float *out, const int8_t *in, float s, size_t n) {
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(vs, load_i8(in + i)));
    for (; i < n; i++) out[i] = s * (float)in[i];
}

/* 6 rows x 16 queries: 12 accumulators, two panel vectors and one
 * broadcast take 15 of the 16 registers. The rows are read in place (one
 * broadcast per element, no packing) and the panel stays in L1/L2 while
 * the caller sweeps a block of rows, so this runs at GEMM speed without a
 * score matrix: the tile is compared with the heaps' bounds while it is
 * still in registers. Named accumulators, not an array: gcc spills an
 * array to the stack on every iteration. */
#define TILE_ROW(i) \
    a = _mm256_broadcast_ss(r##i + k); \
    c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0); \
    c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);
#define TILE_OUT(i) \
    { \
        __m256 ra = _mm256_broadcast_ss(radd + i); \
        __m256 v0 = _mm256_add_ps(_mm256_add_ps(qa0, ra), _mm256_mul_ps(vm, c##i##0)); \
        __m256 v1 = _mm256_add_ps(_mm256_add_ps(qa1, ra), _mm256_mul_ps(vm, c##i##1)); \
        _mm256_storeu_ps(dist + 16 * i, v0); \
        _mm256_storeu_ps(dist + 16 * i + 8, v1); \
        any = _mm256_or_ps(any, _mm256_or_ps(_mm256_cmp_ps(v0, t0, _CMP_LE_OQ), _mm256_cmp_ps(v1, t1, _CMP_LE_OQ))); \
    }

AVX2 static int scan_tile_avx2(const float *const rows[SAIL_TILE_ROWS], const float *panel, int d, const float *qadd,
                               const float *radd, float mul, const float *bound, float *dist) {
    __m256 z = _mm256_setzero_ps();
    __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
    for (int k = 0; k < d; k++, panel += SAIL_TILE_QUERIES) {
        __m256 b0 = _mm256_loadu_ps(panel), b1 = _mm256_loadu_ps(panel + 8), a;
        TILE_ROW(0) TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4) TILE_ROW(5)
    }
    __m256 qa0 = _mm256_loadu_ps(qadd), qa1 = _mm256_loadu_ps(qadd + 8), vm = _mm256_set1_ps(mul);
    __m256 t0 = _mm256_loadu_ps(bound), t1 = _mm256_loadu_ps(bound + 8), any = z;
    TILE_OUT(0) TILE_OUT(1) TILE_OUT(2) TILE_OUT(3) TILE_OUT(4) TILE_OUT(5)
    return _mm256_movemask_ps(any);
}

const sail_dist_table sail_dist_avx2 = {
    "avx2", dot_f32_avx2, l2_f32_avx2, dot_f16_avx2, l2_f16_avx2,
    dot_i8_avx2, l2_i8_avx2, f16_to_f32_avx2, i8_to_f32_avx2, scan_tile_avx2,
};
