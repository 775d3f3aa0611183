/* ops_simd.h: the element-wise kernels, softmax, layernorm and attention
 * primitives written once over a small vector vocabulary (vf, V_*, v_*).
 * ops_avx512.c and ops_avx2.c define that vocabulary and SFX() and then
 * include this file, so both ISAs share one implementation of the maths.
 *
 * Accuracy (checked by tests/test_kernels.c): exp is Cephes-style (range
 * reduction by ln2 in two parts, degree-5 polynomial, ~1-2 ulp); erf is the
 * rational approximation used by Eigen/XLA on [-4, 4] (abs error < 1e-6),
 * GELU's erf a lower-degree one of its own (v_gelu); tanh is Cephes tanhf
 * (polynomial below 0.625, exp-based above). */

#include <math.h>

#include "transpose8.h"

/* e^x; exactly 0 below the float range (so -inf gives 0, as softmax needs). */
static inline vf v_exp(vf x) {
    const vf lo = V_SET1(-87.33654f);
    vf xc = V_MIN(V_MAX(x, lo), V_SET1(88.0f));
    vf n = v_floor(V_FMA(xc, V_SET1(1.44269504088896341f), V_SET1(0.5f)));
    vf r = V_FNMA(n, V_SET1(0.693359375f), xc);       /* ln2 = C1 + C2 */
    r = V_FNMA(n, V_SET1(-2.12194440e-4f), r);
    vf p = V_SET1(1.9875691500E-4f);
    p = V_FMA(p, r, V_SET1(1.3981999507E-3f));
    p = V_FMA(p, r, V_SET1(8.3334519073E-3f));
    p = V_FMA(p, r, V_SET1(4.1665795894E-2f));
    p = V_FMA(p, r, V_SET1(1.6666665459E-1f));
    p = V_FMA(p, r, V_SET1(5.0000001201E-1f));
    p = V_FMA(p, V_MUL(r, r), V_ADD(r, V_SET1(1.0f)));
    return v_select_lt(x, lo, V_ZERO, v_scale2i(p, n));
}

/* c[0] x^(n-1) + ... + c[n-1] by Horner's rule (n a constant: unrolled). */
static inline __attribute__((always_inline)) vf v_poly(vf x, const float *c, int n) {
    vf p = V_SET1(c[0]);
#pragma GCC unroll 8
    for (int i = 1; i < n; i++) p = V_FMA(p, x, V_SET1(c[i]));
    return p;
}

/* erf(x) = x P(x^2) / Q(x^2) on [-4, 4]; |erf| rounds to 1 beyond. */
static inline vf v_erf(vf x) {
    static const float P[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                               -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                               -1.60960333262415e-02f};
    static const float Q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                               -7.37332916720468e-03f, -1.42647390514189e-02f};
    x = V_MIN(V_MAX(x, V_SET1(-4.0f)), V_SET1(4.0f));
    vf x2 = V_MUL(x, x);
    return V_DIV(V_MUL(x, v_poly(x2, P, 7)), v_poly(x2, Q, 5));
}

/* GELU as x/2 (1 + erf(x / sqrt 2)), erf(x / sqrt 2) = x P(x^2) / Q(x^2)
 * on [-5, 5]: P of degree 5 and Q of 3, fitted to GELU's own error
 * measure (|err| / max(1, |x|), Lawson's reweighted least squares), three
 * instructions fewer than v_erf's 6/4 and its two-sided clamp. Only erf's
 * argument is clamped, so x stays exact past it; the clamp's own error,
 * 1 - Phi(5) = 2.9e-7 of |x|, is within the bound. Max error in f32 0.49
 * of test_kernels.c's bound, 1e-6 max(1, |x|), at x = 4.47 (the 6/4
 * rational with the folded 1/sqrt(2): 0.23); ViT-S's fc1 with its GELU
 * 1.01 -> 0.94 ms a layer at 788 rows. */
static inline vf v_gelu(vf x) {
    static const float P[6] = {-7.30149274e-09f, 6.18836339e-07f, 3.63385589e-05f,
                               7.30124116e-03f,  4.80602384e-02f, 7.97892392e-01f};
    static const float Q[4] = {1.03213242e-03f, 2.19263453e-02f, 2.26938605e-01f, 1.0f};
    vf xc = v_clamp_sym(x, 5.0f), x2 = V_MUL(xc, xc);
    vf h = V_MUL(x, V_SET1(0.5f));
    return V_FMA(h, V_DIV(V_MUL(xc, v_poly(x2, P, 6)), v_poly(x2, Q, 4)), h);
}

static inline vf v_quick_gelu(vf x) {
    vf e = v_exp(V_MUL(x, V_SET1(-1.702f)));
    return V_DIV(x, V_ADD(V_SET1(1.0f), e));
}

static inline vf v_tanh(vf x) {
    vf ax = V_MIN(v_abs(x), V_SET1(9.0f));
    vf z = V_MUL(x, x);
    vf p = V_SET1(-5.70498872745E-3f);
    p = V_FMA(p, z, V_SET1(2.06390887954E-2f));
    p = V_FMA(p, z, V_SET1(-5.37397155531E-2f));
    p = V_FMA(p, z, V_SET1(1.33314422036E-1f));
    p = V_FMA(p, z, V_SET1(-3.33332819422E-1f));
    vf small = V_FMA(V_MUL(p, z), x, x);
    vf e = v_exp(V_ADD(ax, ax));
    vf big = V_SUB(V_SET1(1.0f), V_DIV(V_SET1(2.0f), V_ADD(e, V_SET1(1.0f))));
    return v_select_lt(ax, V_SET1(0.625f), small, v_copysign(big, x));
}

static inline vf v_gelu_tanh(vf x) {
    vf u = V_MUL(x, V_FMA(V_MUL(x, x), V_SET1(0.044715f), V_SET1(1.0f)));
    vf t = v_tanh(V_MUL(u, V_SET1(0.7978845608028654f)));
    return V_MUL(V_MUL(x, V_SET1(0.5f)), V_ADD(V_SET1(1.0f), t));
}

/* The derivatives (formulas beside the references in ops.c). */
static inline vf v_gelu_grad(vf u) {
    vf e = v_erf(V_MUL(u, V_SET1(0.70710678118654752f)));
    vf p = v_exp(V_MUL(V_MUL(u, u), V_SET1(-0.5f)));
    return V_FMA(V_MUL(u, p), V_SET1(0.3989422804014327f), V_FMA(e, V_SET1(0.5f), V_SET1(0.5f)));
}

static inline vf v_quick_gelu_grad(vf u) {
    vf s = V_DIV(V_SET1(1.0f), V_ADD(V_SET1(1.0f), v_exp(V_MUL(u, V_SET1(-1.702f)))));
    return V_FMA(V_MUL(V_MUL(u, V_SET1(1.702f)), s), V_SUB(V_SET1(1.0f), s), s);
}

/* 1 - t^2 as sech^2 z = 4 m / (1 + m)^2, m = e^-2|z|: v_tanh's t is 1 - 2^-24
 * at large z, and 1 - t^2 from it would be 1e-7 where the truth is 0. */
static inline vf v_gelu_tanh_grad(vf u) {
    const vf k = V_SET1(0.7978845608028654f);
    vf u2 = V_MUL(u, u);
    vf z = V_MUL(k, V_MUL(u, V_FMA(u2, V_SET1(0.044715f), V_SET1(1.0f))));
    vf t = v_tanh(z), m = v_exp(V_MUL(v_abs(z), V_SET1(-2.0f))), opm = V_ADD(V_SET1(1.0f), m);
    vf sech2 = V_DIV(V_MUL(V_SET1(4.0f), m), V_MUL(opm, opm));
    vf slope = V_MUL(V_MUL(V_MUL(u, V_SET1(0.5f)), k), sech2);
    return V_FMA(slope, V_FMA(u2, V_SET1(3.0f * 0.044715f), V_SET1(1.0f)), V_FMA(t, V_SET1(0.5f), V_SET1(0.5f)));
}

/* dx = dy * G(u) over n, the tail through a partial vector; dx may be dy or u. */
#define MAP_GRAD(G, dx, dy, u, n)                                                      \
    do {                                                                               \
        size_t i_ = 0;                                                                 \
        for (; i_ + VW <= (n); i_ += VW)                                               \
            V_STORE((dx) + i_, V_MUL(V_LOAD((dy) + i_), G(V_LOAD((u) + i_))));         \
        if (i_ < (n)) {                                                                \
            int r_ = (int)((n) - i_);                                                  \
            v_store_n((dx) + i_, V_MUL(v_load_n((dy) + i_, r_), G(v_load_n((u) + i_, r_))), r_); \
        }                                                                              \
    } while (0)

/* Applies F in place over x(n), the tail through a partial vector. */
#define MAP_INPLACE(F, x, n)                                                 \
    do {                                                                     \
        size_t i_ = 0;                                                       \
        for (; i_ + VW <= (n); i_ += VW) V_STORE((x) + i_, F(V_LOAD((x) + i_))); \
        if (i_ < (n)) {                                                      \
            int r_ = (int)((n) - i_);                                        \
            v_store_n((x) + i_, F(v_load_n((x) + i_, r_)), r_);              \
        }                                                                    \
    } while (0)

static void SFX(gelu)(float *x, size_t n) { MAP_INPLACE(v_gelu, x, n); }
static void SFX(quick_gelu)(float *x, size_t n) { MAP_INPLACE(v_quick_gelu, x, n); }
static void SFX(tanh)(float *x, size_t n) { MAP_INPLACE(v_tanh, x, n); }
static void SFX(gelu_tanh)(float *x, size_t n) { MAP_INPLACE(v_gelu_tanh, x, n); }

static void SFX(gelu_grad)(float *dx, const float *dy, const float *u, size_t n) {
    MAP_GRAD(v_gelu_grad, dx, dy, u, n);
}
static void SFX(quick_gelu_grad)(float *dx, const float *dy, const float *u, size_t n) {
    MAP_GRAD(v_quick_gelu_grad, dx, dy, u, n);
}
static void SFX(gelu_tanh_grad)(float *dx, const float *dy, const float *u, size_t n) {
    MAP_GRAD(v_gelu_tanh_grad, dx, dy, u, n);
}

static void SFX(add)(float *y, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) V_STORE(y + i, V_ADD(V_LOAD(a + i), V_LOAD(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

/* 8 x 8 blocks in AVX registers (transpose8.h), in column blocks of 32 so
 * the 8-row strips write lines of dst the previous strip left in L1. */
static void SFX(transpose)(const float *src, size_t lds, float *dst, size_t ldd, int rows, int cols) {
    enum { CB = 32 };
    for (int c0 = 0; c0 < cols; c0 += CB) {
        int c1 = c0 + CB < cols ? c0 + CB : cols, r = 0;
        for (; r + 8 <= rows; r += 8) {
            int c = c0;
            for (; c + 8 <= c1; c += 8) transpose8(src + (size_t)r * lds + c, lds, dst + (size_t)c * ldd + r, (int)ldd);
            for (; c < c1; c++)
                for (int i = 0; i < 8; i++) dst[(size_t)c * ldd + r + i] = src[(size_t)(r + i) * lds + c];
        }
        for (; r < rows; r++)
            for (int c = c0; c < c1; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
    }
}

static float SFX(dot)(const float *a, const float *b, int n) {
    vf s0 = V_ZERO, s1 = V_ZERO;
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        s0 = V_FMA(V_LOAD(a + i), V_LOAD(b + i), s0);
        s1 = V_FMA(V_LOAD(a + i + VW), V_LOAD(b + i + VW), s1);
    }
    for (; i + VW <= n; i += VW) s0 = V_FMA(V_LOAD(a + i), V_LOAD(b + i), s0);
    if (i < n) s1 = V_FMA(v_load_n(a + i, n - i), v_load_n(b + i, n - i), s1);
    return v_hsum(V_ADD(s0, s1));
}

#define EACH_ROW _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
_Static_assert(SAIL_LN_ROWS == 4, "EACH_ROW unrolls SAIL_LN_ROWS loops");

/* Mean and 1 / sqrt(var + eps) of R rows (pointers xr, rows n apart; R
 * a constant: the loops over rows unroll). The first pass fetches the
 * rows R on (the next call's, when rows are contiguous; a fetch past the
 * end never faults): LayerNorm's rows come from L2 or L3, the products'
 * residual adds having written them (ViT-S b8: 5.0% -> 4.5% of the
 * pass). Two passes (mean, then centred variance)
 * avoid the cancellation of E[x^2] - E[x]^2 and match PyTorch's float
 * LayerNorm to ~1e-6; the residual sum corrects the rounding of the first
 * mean (the "corrected two-pass" algorithm), which matters for rows with a
 * large common offset. Each row takes the same steps whatever R is, so the
 * same bits: R rows at once interleave their chains of dependent additions,
 * on which one row alone waits. */
static inline __attribute__((always_inline)) void SFX(rows_stats)(const float *const *xr, int R, int n, float eps,
                                                                  float *mean_out, float *rstd_out) {
    vf s0[SAIL_LN_ROWS], s1[SAIL_LN_ROWS], mean[SAIL_LN_ROWS];
    float meanf[SAIL_LN_ROWS];
    EACH_ROW s0[r] = s1[r] = V_ZERO;
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW)
        EACH_ROW {
            for (int o = 0; o < 2 * VW; o += 16) /* a line of the row R rows on */
                _mm_prefetch((const char *)(xr[r] + (size_t)R * n + i + o), _MM_HINT_T0);
            s0[r] = V_ADD(s0[r], V_LOAD(xr[r] + i));
            s1[r] = V_ADD(s1[r], V_LOAD(xr[r] + i + VW));
        }
    for (; i + VW <= n; i += VW)
        EACH_ROW s0[r] = V_ADD(s0[r], V_LOAD(xr[r] + i));
    if (i < n)
        EACH_ROW s1[r] = V_ADD(s1[r], v_load_n(xr[r] + i, n - i));
    EACH_ROW {
        meanf[r] = v_hsum(V_ADD(s0[r], s1[r])) / (float)n;
        mean[r] = V_SET1(meanf[r]);
        s0[r] = s1[r] = V_ZERO; /* now the sums of d^2 and of d */
    }
    for (i = 0; i + VW <= n; i += VW)
        EACH_ROW {
            vf d = V_SUB(V_LOAD(xr[r] + i), mean[r]);
            s1[r] = V_ADD(s1[r], d);
            s0[r] = V_FMA(d, d, s0[r]);
        }
    EACH_ROW {
        float ss = v_hsum(s0[r]), sds = v_hsum(s1[r]);
        for (int j = i; j < n; j++) {
            float d = xr[r][j] - meanf[r];
            sds += d;
            ss += d * d;
        }
        float corr = sds / (float)n;
        mean_out[r] = meanf[r] + corr;
        rstd_out[r] = 1.0f / sqrtf((ss - sds * corr) / (float)n + eps);
    }
}
#undef EACH_ROW

/* A row of LayerNorm, given its statistics, into row r of out: layernorm's
 * floats here, layernorm_bf16's bf16 (ops_avx512.c). */
typedef void (*SFX(ln_row_fn))(void *out, int r, const float *xr, const float *w, const float *b, int n,
                               float mean, float rstd);

/* LayerNorm's rows in groups of SAIL_LN_ROWS, whose statistics are taken
 * together, then each row by row(). */
static inline __attribute__((always_inline)) void SFX(ln_rows)(void *out, const float *x, const float *w,
                                                               const float *b, int rows, int n, float eps,
                                                               SFX(ln_row_fn) row) {
    for (int r0 = 0; r0 < rows; r0 += SAIL_LN_ROWS) {
        int nr = SAIL_MIN(SAIL_LN_ROWS, rows - r0);
        const float *xr[SAIL_LN_ROWS];
        float meanf[SAIL_LN_ROWS], rstdf[SAIL_LN_ROWS];
        for (int r = 0; r < nr; r++) xr[r] = x + (size_t)(r0 + r) * n;
        if (nr == SAIL_LN_ROWS) SFX(rows_stats)(xr, SAIL_LN_ROWS, n, eps, meanf, rstdf);
        else
            for (int r = 0; r < nr; r++) SFX(rows_stats)(xr + r, 1, n, eps, meanf + r, rstdf + r);
        for (int r = 0; r < nr; r++) row(out, r0 + r, xr[r], w, b, n, meanf[r], rstdf[r]);
    }
}

/* LayerNorm's value of x[i, i + VW) with both affine terms (the usual
 * case: no mask, no test per vector). */
static inline vf SFX(ln_affine)(const float *x, const float *w, const float *b, vf mean, vf rstd, int i) {
    return V_ADD(V_MUL(V_MUL(V_SUB(V_LOAD(x + i), mean), rstd), V_LOAD(w + i)), V_LOAD(b + i));
}

/* The same, in the same order of operations, of x[i, i + m) (zeros past
 * m; none if m <= 0), each affine term where given. */
static inline vf SFX(ln_value)(const float *x, const float *w, const float *b, vf mean, vf rstd, int i, int m) {
    m = SAIL_MAX(0, SAIL_MIN(VW, m));
    vf v = V_MUL(V_SUB(v_load_n(x + i, m), mean), rstd);
    if (w) v = V_MUL(v, v_load_n(w + i, m));
    if (b) v = V_ADD(v, v_load_n(b + i, m));
    return v;
}

/* In place too: each row reads only itself. */
static inline void SFX(ln_row_f32)(void *out, int r, const float *xr, const float *w, const float *b, int n,
                                   float meanf, float rstdf) {
    float *yr = (float *)out + (size_t)r * n; // (n)
    vf mean = V_SET1(meanf), rstd = V_SET1(rstdf);
    int i = 0;
    if (w && b)
        for (; i + VW <= n; i += VW) V_STORE(yr + i, SFX(ln_affine)(xr, w, b, mean, rstd, i));
    for (; i < n; i += VW) v_store_n(yr + i, SFX(ln_value)(xr, w, b, mean, rstd, i, n - i), SAIL_MIN(VW, n - i));
}

static void SFX(layernorm)(float *y, const float *x, const float *w, const float *b,
                           int rows, int n, float eps) {
    SFX(ln_rows)(y, x, w, b, rows, n, eps, SFX(ln_row_f32));
}

static void SFX(layernorm_grad)(float *dx, float *dw, float *db, const float *x, const float *dy,
                                const float *w, int rows, int n, float eps, float beta) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n, *g = dy + (size_t)r * n; // (n)
        float *dr = dx + (size_t)r * n;                                // (n)
        float meanf, rstdf;
        SFX(rows_stats)(&xr, 1, n, eps, &meanf, &rstdf);
        vf mean = V_SET1(meanf), rstd = V_SET1(rstdf), sg = V_ZERO, sgx = V_ZERO;
        for (int i = 0; i < n; i += VW) {
            int m = SAIL_MIN(VW, n - i);
            vf xh = V_MUL(V_SUB(v_load_n(xr + i, m), mean), rstd), gi = v_load_n(g + i, m);
            vf gy = V_MUL(gi, v_load_n(w + i, m));
            sg = V_ADD(sg, gy);
            sgx = V_FMA(gy, xh, sgx);
            v_store_n(dw + i, V_FMA(gi, xh, v_load_n(dw + i, m)), m);
            v_store_n(db + i, V_ADD(gi, v_load_n(db + i, m)), m);
        }
        vf msg = V_SET1(v_hsum(sg) / (float)n), msgx = V_SET1(v_hsum(sgx) / (float)n);
        for (int i = 0; i < n; i += VW) {
            int m = SAIL_MIN(VW, n - i);
            vf xh = V_MUL(V_SUB(v_load_n(xr + i, m), mean), rstd);
            vf gy = V_MUL(v_load_n(g + i, m), v_load_n(w + i, m));
            vf v = V_MUL(rstd, V_FNMA(xh, msgx, V_SUB(gy, msg)));
            if (beta != 0.0f) v = V_ADD(v, v_load_n(dr + i, m));
            v_store_n(dr + i, v, m);
        }
    }
}

/* The unnormalised half of softmax_row: exp(scale * (x - max)) in place,
 * returning their sum; a row of only -inf becomes zeros and returns 0. */
static float SFX(softmax_exp)(float *xr, int n, float scale) {
    vf vmax = V_SET1(-INFINITY);
    int i = 0;
    for (; i + VW <= n; i += VW) vmax = V_MAX(vmax, V_LOAD(xr + i));
    float mx = v_hmax(vmax);
    for (; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
    if (mx == -INFINITY) {
        memset(xr, 0, (size_t)n * sizeof(float));
        return 0.0f;
    }
    vmax = V_SET1(mx);
    vf vs = V_SET1(scale), s = V_ZERO;
    for (i = 0; i + VW <= n; i += VW) {
        vf e = v_exp(V_MUL(V_SUB(V_LOAD(xr + i), vmax), vs));
        V_STORE(xr + i, e);
        s = V_ADD(s, e);
    }
    float sum = v_hsum(s);
    if (i < n) { /* padded lanes would add exp(-max): sum the tail apart */
        v_store_n(xr + i, v_exp(V_MUL(V_SUB(v_load_n(xr + i, n - i), vmax), vs)), n - i);
        for (; i < n; i++) sum += xr[i];
    }
    return sum;
}

/* softmax(scale * x) of one row in place, scale > 0, computed as
 * exp(scale * (x - max)) so attention needs no separate scaling pass.
 * -inf entries get 0 and a row of only -inf becomes zeros. */
static void SFX(softmax_row)(float *xr, int n, float scale) {
    float sum = SFX(softmax_exp)(xr, n, scale);
    if (sum == 0.0f) return;
    int i;
    vf inv = V_SET1(1.0f / sum);
    for (i = 0; i + VW <= n; i += VW) V_STORE(xr + i, V_MUL(V_LOAD(xr + i), inv));
    if (i < n) v_store_n(xr + i, V_MUL(v_load_n(xr + i, n - i), inv), n - i);
}

/* Max-subtracted (scale 1 is exact); -inf entries get 0 and a row of only
 * -inf becomes zeros. */
static void SFX(softmax)(float *x, int rows, int n) {
    for (int r = 0; r < rows; r++) SFX(softmax_row)(x + (size_t)r * n, n, 1.0f);
}

/* A block of query rows as two GEMMs through the packed microkernel:
 * S = Q_blk K^T into scratch (rows, padded Tk), masked softmax per row, then
 * O_blk = P V. K and V are packed once per block instead of being streamed
 * once per query row as dot/axpy would, and every FMA runs register-blocked.
 * Scores right of a row's causal end are zeroed so the shared P V GEMM (as
 * deep as the block's last row sees) adds nothing for them. */
static void SFX(attn_block)(const sail_attn_args *a, int b, int h, int t0, int t1,
                            float *scratch) {
    const uint8_t *mask = a->key_mask ? a->key_mask + (size_t)b * a->Tk : NULL; // (Tk)
    const float *k = a->k + (size_t)b * a->Tk * a->k_stride + (size_t)h * a->hd; // (Tk, hd)
    const float *v = a->v + (size_t)b * a->Tk * a->v_stride + (size_t)h * a->hd; // (Tk, hd)
    size_t row0 = (size_t)b * a->Tq + t0;
    const float *q = a->q + row0 * a->q_stride + (size_t)h * a->hd;  // (rows, hd)
    float *o = a->out + row0 * a->out_stride + (size_t)h * a->hd;    // (rows, hd)
    int rows = t1 - t0, ld = (int)sail_attn_scratch_row(a->Tk);
    int kn = a->causal ? SAIL_MIN(t1, a->Tk) : a->Tk;
    SFX(sail_gemm)(rows, kn, a->hd, q, a->q_stride, k, a->k_stride, 1, NULL, 0.0f, scratch, ld);
    for (int i = 0; i < rows; i++) {
        float *s = scratch + (size_t)i * ld; // (kn)
        int kend = a->causal ? SAIL_MIN(t0 + i + 1, a->Tk) : a->Tk;
        if (mask)
            for (int j = 0; j < kend; j++)
                if (!mask[j]) s[j] = -INFINITY;
        SFX(softmax_row)(s, kend, a->scale);
        memset(s + kend, 0, (size_t)(kn - kend) * sizeof(float));
    }
    SFX(sail_gemm)(rows, a->hd, kn, scratch, ld, v, a->v_stride, 0, NULL, 0.0f, o, a->out_stride);
}

const sail_kernel_table SFX(sail_table) = {
    .name = SAIL_ISA_NAME,
    .gemm = SFX(sail_gemm),
    .layernorm = SFX(layernorm),
    .layernorm_grad = SFX(layernorm_grad),
    .gelu = SFX(gelu),
    .quick_gelu = SFX(quick_gelu),
    .tanh = SFX(tanh),
    .gelu_tanh = SFX(gelu_tanh),
    .gelu_grad = SFX(gelu_grad),
    .quick_gelu_grad = SFX(quick_gelu_grad),
    .gelu_tanh_grad = SFX(gelu_tanh_grad),
    .softmax = SFX(softmax),
    .add = SFX(add),
    .transpose = SFX(transpose),
    .dot = SFX(dot),
    .attn_block = SFX(attn_block),
    /* One AVX2 version serves both levels (an AVX-512 CPU has AVX2 and F16C). */
    .gemm_f16 = sail_gemm_f16_avx2,
    .gemm_bf16 = sail_gemm_bf16_avx2,
    .gemm_q8_0 = sail_gemm_q8_0_avx2,
    .gemm_q8_0_q8a = sail_gemm_q8_0_q8a_avx2,
    .q8_0_panels_size = sail_q8_0_panels_size_avx2,
    .q8_0_pack = sail_q8_0_pack_avx2,
    .quantize_q8a = sail_quantize_q8a_avx2,
    .round_bf16 = sail_round_bf16_ref,
};
