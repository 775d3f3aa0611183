/* ops_avx2.c: the AVX2+FMA vocabulary for ops_simd.h (8 floats a vector,
 * tails through vmaskmov) and with it the AVX2 kernel table. */
#include "kernels_impl.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

#define SAIL_ISA_NAME "avx2"
#define SFX(name) name##_avx2
#define VW 8
typedef __m256 vf;

#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps()
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_FMA _mm256_fmadd_ps   /* a*b + c */
#define V_FNMA _mm256_fnmadd_ps /* c - a*b */

/* Lanes [0, n) set: a sliding window over -1s followed by 0s. */
static inline __m256i tail_mask(int n) {
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - SAIL_MIN(n, 8)));
}
static inline vf v_load_n(const float *p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
static inline void v_store_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
static inline float v_hsum(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline float v_hmax(vf v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
/* x clamped to [-c, c] (c >= 0). */
static inline vf v_clamp_sym(vf x, float c) { return V_MIN(V_MAX(x, V_SET1(-c)), V_SET1(c)); }
static inline vf v_floor(vf v) { return _mm256_floor_ps(v); }
/* p 2^n for integral n in [-126, 127], 2^n built in the exponent field. */
static inline vf v_scale2i(vf p, vf n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}
static inline vf v_select_lt(vf a, vf b, vf t, vf f) {
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline vf v_abs(vf v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
/* |mag| with the sign of sign. */
static inline vf v_copysign(vf mag, vf sign) {
    const __m256 sb = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sb, mag), _mm256_and_ps(sb, sign));
}

#include "ops_simd.h"
