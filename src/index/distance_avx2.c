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

AVX2 static float dot_f32_avx2(const float *q, const float *x, int d) {
    /* four accumulators: two loads per FMA, so this is load-bound, not
     * latency-bound, on 512-d vectors */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= d; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < d; i++) s += q[i] * x[i];
    return s;
}

AVX2 static float l2_f32_avx2(const float *q, const float *x, int d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i));
        __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(x + i + 8));
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        a1 = _mm256_fmadd_ps(t1, t1, a1);
    }
    if (i + 8 <= d) {
        __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i));
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < d; i++) {
        float t = q[i] - x[i];
        s += t * t;
    }
    return s;
}

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

AVX2 static float l2_f16_avx2(const float *q, const uint16_t *x, int d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), load_f16(x + i));
        __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), load_f16(x + i + 8));
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        a1 = _mm256_fmadd_ps(t1, t1, a1);
    }
    if (i + 8 <= d) {
        __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), load_f16(x + i));
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < d; i++) {
        float t = q[i] - sail_f16_to_f32(x[i]);
        s += t * t;
    }
    return s;
}

AVX2 static float dot_i8_avx2(const float *q, const int8_t *x, float sc, int d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_i8(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_i8(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), load_i8(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), load_i8(x + i + 24), a3);
    }
    for (; i + 8 <= d; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_i8(x + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < d; i++) s += q[i] * (float)x[i];
    return s * sc;
}

AVX2 static float l2_i8_avx2(const float *q, const int8_t *x, float sc, int d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), vs = _mm256_set1_ps(sc);
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 t0 = _mm256_fnmadd_ps(vs, load_i8(x + i), _mm256_loadu_ps(q + i));
        __m256 t1 = _mm256_fnmadd_ps(vs, load_i8(x + i + 8), _mm256_loadu_ps(q + i + 8));
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        a1 = _mm256_fmadd_ps(t1, t1, a1);
    }
    if (i + 8 <= d) {
        __m256 t0 = _mm256_fnmadd_ps(vs, load_i8(x + i), _mm256_loadu_ps(q + i));
        a0 = _mm256_fmadd_ps(t0, t0, a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < d; i++) {
        float t = q[i] - sc * (float)x[i];
        s += t * t;
    }
    return s;
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

const sail_dist_table sail_dist_avx2 = {
    "avx2", dot_f32_avx2, l2_f32_avx2, dot_f16_avx2, l2_f16_avx2,
    dot_i8_avx2, l2_i8_avx2, f16_to_f32_avx2, i8_to_f32_avx2,
};
