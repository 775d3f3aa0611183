/* ops_avx512.c: the AVX-512 vocabulary for ops_simd.h (16 floats a vector,
 * tails through opmasks) and with it the AVX-512 kernel table. */
#include "kernels_impl.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

#define SAIL_ISA_NAME "avx512"
#define SFX(name) name##_avx512
#define VW 16
typedef __m512 vf;

#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps()
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
#define V_FMA _mm512_fmadd_ps   /* a*b + c */
#define V_FNMA _mm512_fnmadd_ps /* c - a*b */

static inline __mmask16 tail_mask(int n) {
    return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
}
static inline vf v_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
static inline void v_store_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
static inline float v_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline float v_hmax(vf v) { return _mm512_reduce_max_ps(v); }
static inline vf v_floor(vf v) {
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}
/* p 2^n for integral n in [-126, 127]: vscalefps, one instruction where
 * building 2^n in the exponent field and multiplying take four (the same
 * exact product). */
static inline vf v_scale2i(vf p, vf n) { return _mm512_scalef_ps(p, n); }
static inline vf v_select_lt(vf a, vf b, vf t, vf f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
}
static inline vf v_abs(vf v) { return _mm512_abs_ps(v); }
/* x clamped to [-c, c] (c >= 0) in one instruction: vrangeps 2, the
 * smaller magnitude with x's sign (imm8 bits 3:2 = 00: the first operand's). */
static inline vf v_clamp_sym(vf x, float c) { return _mm512_range_ps(x, _mm512_set1_ps(c), 2); }
/* |mag| with the sign of sign. */
static inline vf v_copysign(vf mag, vf sign) {
    const __m512 sb = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(sb, mag), _mm512_and_ps(sb, sign));
}

#include "ops_simd.h"

/* A row of layernorm_bf16 (ln_rows' row): 32 values at a time, as
 * ln_row_f32 makes them, rounded as sail_round_bf16_avx512bf16 rounds. */
__attribute__((target("avx512bf16"))) static void ln_row_bf16(void *out, int r, const float *xr, const float *w,
                                                              const float *b, int n, float meanf, float rstdf) {
    uint16_t *yr = (uint16_t *)out + (size_t)r * n; // (n)
    vf mean = V_SET1(meanf), rstd = V_SET1(rstdf);
    int i = 0;
    if (w && b)
        for (; i + 32 <= n; i += 32) {
            vf lo = ln_affine_avx512(xr, w, b, mean, rstd, i), hi = ln_affine_avx512(xr, w, b, mean, rstd, i + 16);
            _mm512_storeu_si512(yr + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    for (; i < n; i += 32) {
        vf lo = ln_value_avx512(xr, w, b, mean, rstd, i, n - i);
        vf hi = ln_value_avx512(xr, w, b, mean, rstd, i + 16, n - i - 16);
        __mmask32 m = n - i >= 32 ? 0xffffffffu : (1u << (n - i)) - 1;
        _mm512_mask_storeu_epi16(yr + i, m, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

/* The table's layernorm_bf16 where vcvtne2ps2bf16 is (dispatch.c):
 * layernorm_avx512's values rounded to bf16 as they are made, not stored
 * as floats and read again (ViT-S's two LayerNorms a block hand their rows
 * to bf16 products). */
__attribute__((target("avx512bf16"))) void sail_layernorm_bf16_avx512bf16(uint16_t *yb, const float *x,
                                                                           const float *w, const float *b,
                                                                           int rows, int n, float eps) {
    ln_rows_avx512(yb, x, w, b, rows, n, eps, ln_row_bf16);
}

/* quantize_q8a with one block (32 values) in two vectors: the AVX2 version
 * needs four, and a longer reduction for the block's |max|. The same bits
 * as sail_quantize_q8a_ref: a NaN never wins the max (it is max's first
 * operand, and max returns the second when either is NaN) and becomes 127
 * in the clamp (min likewise); conversion rounds to nearest even, and
 * vpmovsdb cannot saturate within +-127. Sixteen blocks at a time share
 * one reduction of their maxima and one division each for d and 1 / d,
 * not a horizontal max and two scalar divisions a block (16 x 768 values,
 * a 16-token text's rows, on the caller alone: 2.32 -> 1.96 us). */
static inline __m512 q8a_absmax(const float *x) {
    __m512 m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x)), _mm512_setzero_ps());
    return _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16)), m);
}

static inline void q8a_block(sail_q8a *dst, const float *x, float d, float id) {
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f), idv = _mm512_set1_ps(id);
    __m512 t0 = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(_mm512_loadu_ps(x), idv), hi), lo);
    __m512 t1 = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 16), idv), hi), lo);
    dst->d = d;
    _mm_storeu_si128((__m128i *)dst->q, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(t0)));
    _mm_storeu_si128((__m128i *)(dst->q + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(t1)));
}

/* The |max| of 16 blocks from 32 x 16 values: lane 4 (b % 4) + b / 4
 * holds block b's (three rounds of pairwise shuffles and maxima). */
static inline __m512 q8a_max16(const float *x) {
    __m512 t[8], u[4];
    for (int i = 0; i < 8; i++) { /* 128-bit lanes: 0-1 block 2i's halves, 2-3 block 2i + 1's */
        __m512 a = q8a_absmax(x + 64 * i), b = q8a_absmax(x + 64 * i + 32);
        t[i] = _mm512_max_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
    for (int i = 0; i < 4; i++) /* lane L: 4 partial maxima of block 4i + L */
        u[i] = _mm512_max_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xDD));
    __m512 w0 = _mm512_max_ps(_mm512_unpacklo_ps(u[0], u[1]), _mm512_unpackhi_ps(u[0], u[1]));
    __m512 w1 = _mm512_max_ps(_mm512_unpacklo_ps(u[2], u[3]), _mm512_unpackhi_ps(u[2], u[3]));
    return _mm512_max_ps(_mm512_shuffle_ps(w0, w1, 0x44), _mm512_shuffle_ps(w0, w1, 0xEE));
}

void sail_quantize_q8a_avx512(sail_q8a *dst, const float *x, int n) {
    int nb = n / 32, b = 0;
    for (; b + 16 <= nb; b += 16) {
        __m512 d = _mm512_div_ps(q8a_max16(x + 32 * (size_t)b), _mm512_set1_ps(127.0f));
        __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        __m512 id = _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d);
        _Alignas(64) float dv[16], iv[16];
        _mm512_store_ps(dv, d);
        _mm512_store_ps(iv, id);
        for (int i = 0; i < 16; i++) {
            int l = 4 * (i % 4) + i / 4;
            q8a_block(dst + b + i, x + 32 * (size_t)(b + i), dv[l], iv[l]);
        }
    }
    for (; b < nb; b++) {
        float am = _mm512_reduce_max_ps(q8a_absmax(x + 32 * (size_t)b));
        float d = am / 127.0f;
        q8a_block(dst + b, x + 32 * (size_t)b, d, d != 0.0f ? 1.0f / d : 0.0f);
    }
}
