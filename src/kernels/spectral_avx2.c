/* spectral_avx2.c: the AVX2+FMA vocabulary for spectral_simd.h (4 doubles
 * a vector). */
#include "spectral.h"

#include <immintrin.h>
#include <math.h>

#define SAIL_ISA_NAME "avx2"
#define SFX(name) name##_avx2
/* every function, so the file builds with any flags (spectral.h) */
#define TARGET __attribute__((target("avx2,fma")))
#define VD 4
typedef __m256d vd;

#define D_SET1 _mm256_set1_pd
#define D_LOAD _mm256_loadu_pd
#define D_STORE _mm256_storeu_pd
#define D_ADD _mm256_add_pd
#define D_SUB _mm256_sub_pd
#define D_MUL _mm256_mul_pd
#define D_DIV _mm256_div_pd
#define D_MAX _mm256_max_pd
#define D_FMA _mm256_fmadd_pd   /* a*b + c */
#define D_FNMA _mm256_fnmadd_pd /* c - a*b */

static inline TARGET vd d_load_ps(const float *p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
static inline TARGET void d_store_ps(float *p, vd v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
static inline TARGET vd d_pairs(double a, double b) { return _mm256_setr_pd(a, b, a, b); }
static inline TARGET vd d_swap(vd v) { return _mm256_permute_pd(v, 0x5); }
static inline TARGET vd d_rev(vd v) { return _mm256_permute4x64_pd(v, 0x4e); }
static inline TARGET vd d_dup_even(vd v) { return _mm256_movedup_pd(v); }
static inline TARGET vd d_dup_odd(vd v) { return _mm256_unpackhi_pd(v, v); }
static inline TARGET void d_scatter(double *p, size_t stride, vd v) {
    __m128d a = _mm256_castpd256_pd128(v), b = _mm256_extractf128_pd(v, 1);
    _mm_storel_pd(p, a);
    _mm_storeh_pd(p + stride, a);
    _mm_storel_pd(p + 2 * stride, b);
    _mm_storeh_pd(p + 3 * stride, b);
}
static inline TARGET void d_scatter_even(double *p, size_t stride, vd v) {
    _mm_storel_pd(p, _mm256_castpd256_pd128(v));
    _mm_storel_pd(p + stride, _mm256_extractf128_pd(v, 1));
}
static inline TARGET double d_hsum(vd v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
static inline TARGET void d_widen8(vd out[2], __m256 v) {
    out[0] = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    out[1] = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}
static inline TARGET vd d_via_float(vd v) { return _mm256_cvtps_pd(_mm256_cvtpd_ps(v)); }
/* The exponent field as a double through 2^52's bit pattern; a mantissa of
 * 1.5 or more halves into [0.75, 1). */
static inline TARGET vd d_frexp(vd x, vd *e) {
    const __m256i mant = _mm256_set1_epi64x(0x000fffffffffffffll), one = _mm256_set1_epi64x(0x3ff0000000000000ll);
    __m256i bits = _mm256_castpd_si256(x);
    vd m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, mant), one));
    __m256i ebits = _mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x4330000000000000ll));
    vd ex = _mm256_sub_pd(_mm256_castsi256_pd(ebits), _mm256_set1_pd(4503599627370496.0 + 1023));
    vd big = _mm256_cmp_pd(m, _mm256_set1_pd(1.5), _CMP_GE_OQ);
    *e = _mm256_add_pd(ex, _mm256_and_pd(big, _mm256_set1_pd(1.0)));
    return _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
}

#include "spectral_simd.h"
