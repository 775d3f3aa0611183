/* spectral_avx512.c: the AVX-512 vocabulary for spectral_simd.h (8 doubles
 * a vector). */
#include "spectral.h"

#include <immintrin.h>
#include <math.h>

#define SAIL_ISA_NAME "avx512"
#define SFX(name) name##_avx512
/* every function, so the file builds with any flags (spectral.h) */
#define TARGET __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define VD 8
typedef __m512d vd;

#define D_SET1 _mm512_set1_pd
#define D_LOAD _mm512_loadu_pd
#define D_STORE _mm512_storeu_pd
#define D_ADD _mm512_add_pd
#define D_SUB _mm512_sub_pd
#define D_MUL _mm512_mul_pd
#define D_DIV _mm512_div_pd
#define D_MAX _mm512_max_pd
#define D_FMA _mm512_fmadd_pd   /* a*b + c */
#define D_FNMA _mm512_fnmadd_pd /* c - a*b */

static inline TARGET vd d_load_ps(const float *p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
static inline TARGET void d_store_ps(float *p, vd v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
static inline TARGET vd d_pairs(double a, double b) { return _mm512_setr_pd(a, b, a, b, a, b, a, b); }
static inline TARGET vd d_swap(vd v) { return _mm512_permute_pd(v, 0x55); }
static inline TARGET vd d_rev(vd v) { return _mm512_shuffle_f64x2(v, v, 0x1b); }
static inline TARGET vd d_dup_even(vd v) { return _mm512_movedup_pd(v); }
static inline TARGET vd d_dup_odd(vd v) { return _mm512_unpackhi_pd(v, v); }
static inline TARGET void d_scatter(double *p, size_t stride, vd v) {
    __m128d q[4] = {_mm512_extractf64x2_pd(v, 0), _mm512_extractf64x2_pd(v, 1), _mm512_extractf64x2_pd(v, 2),
                    _mm512_extractf64x2_pd(v, 3)};
    for (int j = 0; j < 4; j++) {
        _mm_storel_pd(p + 2 * j * stride, q[j]);
        _mm_storeh_pd(p + (2 * j + 1) * stride, q[j]);
    }
}
static inline TARGET void d_scatter_even(double *p, size_t stride, vd v) {
    _mm_storel_pd(p, _mm512_extractf64x2_pd(v, 0));
    _mm_storel_pd(p + stride, _mm512_extractf64x2_pd(v, 1));
    _mm_storel_pd(p + 2 * stride, _mm512_extractf64x2_pd(v, 2));
    _mm_storel_pd(p + 3 * stride, _mm512_extractf64x2_pd(v, 3));
}
static inline TARGET double d_hsum(vd v) { return _mm512_reduce_add_pd(v); }
static inline TARGET void d_widen8(vd out[1], __m256 v) { out[0] = _mm512_cvtps_pd(v); }
static inline TARGET vd d_via_float(vd v) { return _mm512_cvtps_pd(_mm512_cvtpd_ps(v)); }
/* getmant's [0.75, 1.5) interval; getexp counts from [1, 2), so a mantissa
 * below 1 (the number's own was 1.5 or more) takes one more. */
static inline TARGET vd d_frexp(vd x, vd *e) {
    vd m = _mm512_getmant_pd(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
    __mmask8 small = _mm512_cmp_pd_mask(m, _mm512_set1_pd(1.0), _CMP_LT_OQ);
    *e = _mm512_mask_add_pd(_mm512_getexp_pd(x), small, _mm512_getexp_pd(x), _mm512_set1_pd(1.0));
    return m;
}

#include "spectral_simd.h"
