/* spectral_simd.h: the spectral-feature kernels (contracts: kernels.h,
 * frame_prep .. log_floor) written once over a small double-precision
 * vocabulary that spectral_avx2.c and spectral_avx512.c define before
 * including it: VD doubles a vector (vd), D_* arithmetic, and
 *   d_load_ps / d_store_ps   VD floats widened / narrowed
 *   d_swap                   swap each (re, im) pair
 *   d_rev                    reverse the order of the pairs
 *   d_dup_even / d_dup_odd   each pair's first / second double in both
 *   d_scatter / d_scatter_even  every lane / each pair's first to p[j * stride]
 *   d_hsum                   sum of the lanes
 *   d_frexp                  x = m 2^e with m in [0.75, 1.5), x > 0 normal
 *   d_via_float              (double)(float)x
 *   TARGET                   the instruction set, on every function
 * The reference in spectral.c computes in the same order. */

/* ln x for x > 0 normal: e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1) in
 * [-1/7, 1/5], the series to s^13 (the next term is below 5e-12 of ln m). */
static inline TARGET vd SFX(d_log)(vd x) {
    vd e, m = d_frexp(x, &e);
    vd s = D_DIV(D_SUB(m, D_SET1(1.0)), D_ADD(m, D_SET1(1.0))), s2 = D_MUL(s, s);
    vd p = D_SET1(2.0 / 13);
    p = D_FMA(p, s2, D_SET1(2.0 / 11));
    p = D_FMA(p, s2, D_SET1(2.0 / 9));
    p = D_FMA(p, s2, D_SET1(2.0 / 7));
    p = D_FMA(p, s2, D_SET1(2.0 / 5));
    p = D_FMA(p, s2, D_SET1(2.0 / 3));
    p = D_FMA(p, s2, D_SET1(2.0));
    return D_FMA(e, D_SET1(M_LN2), D_MUL(p, s));
}

static TARGET void SFX(sail_frame_prep)(double *y, const float *x, const double *win, int n, double pre,
                                        int dc) {
    double mean = 0;
    if (dc) {
        vd acc = D_SET1(0.0);
        int i = 0;
        for (; i + VD <= n; i += VD) acc = D_ADD(acc, d_load_ps(x + i));
        mean = d_hsum(acc);
        for (; i < n; i++) mean += x[i];
        mean /= n;
    }
    vd vm = D_SET1(mean), vp = D_SET1(pre);
    double prev = x[0] - mean;
    y[0] = (prev - pre * prev) * win[0];
    int i = 1;
    for (; i + VD <= n; i += VD) {
        vd d = D_SUB(d_load_ps(x + i), vm), dp = D_SUB(d_load_ps(x + i - 1), vm);
        D_STORE(y + i, D_MUL(D_FNMA(vp, dp, d), D_LOAD(win + i)));
    }
    for (; i < n; i++) {
        double d = x[i] - mean;
        y[i] = (d - pre * (x[i - 1] - mean)) * win[i];
    }
}

/* The reference's half_bin, VD / 2 bins at a time: bins k.. against the
 * mirrored bins h-k.. loaded backwards. */
static TARGET void SFX(sail_half_power)(double *power, int stride, const double *z, const double *tw, int h) {
    const int vc = VD / 2;
    const vd half = D_SET1(0.5), conj = d_pairs(1.0, -1.0), halfpm = d_pairs(0.5, -0.5);
    int k = 1;
    for (; k + vc <= h; k += vc) {
        vd a = D_LOAD(z + 2 * k), b = D_MUL(d_rev(D_LOAD(z + 2 * (h - k - vc + 1))), conj);
        vd e = D_MUL(half, D_ADD(a, b)), o = D_MUL(d_swap(D_SUB(a, b)), halfpm);
        vd tv = D_LOAD(tw + 2 * k), c = d_dup_even(tv), s = D_MUL(d_dup_odd(tv), conj);
        vd xv = D_ADD(e, D_FMA(c, o, D_MUL(s, d_swap(o))));
        vd p = D_MUL(xv, xv);
        d_scatter_even(power + (size_t)k * stride, stride, D_ADD(p, d_swap(p)));
    }
    sail_half_power_ref_bins(power, stride, z, tw, h, k, h);
    sail_half_power_ref_bins(power, stride, z, tw, h, 0, 0);
}

static TARGET void SFX(sail_mel_block)(double *mel, const double *power, const float *w, const int *lo,
                                       const int *hi, int n_mels, int n_bins) {
    enum { NV = SAIL_MEL_LANES / VD };
    for (int m = 0; m < n_mels; m++) {
        const float *wm = w + (size_t)m * n_bins; // (n_bins)
        vd acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = D_SET1(0.0);
        for (int k = lo[m]; k < hi[m]; k++) {
            vd wk = D_SET1((double)wm[k]);
            for (int v = 0; v < NV; v++) acc[v] = D_FMA(wk, D_LOAD(power + k * SAIL_MEL_LANES + v * VD), acc[v]);
        }
        for (int v = 0; v < NV; v++) d_scatter(mel + (size_t)v * VD * n_mels + m, n_mels, acc[v]);
    }
}

static TARGET void SFX(sail_log_floor)(float *y, const double *x, size_t n, double floor, float sub,
                                       float div) {
    const vd lo = D_SET1(floor), vs = D_SET1(sub), vq = D_SET1(1.0 / div);
    size_t i = 0;
    for (; i + VD <= n; i += VD)
        d_store_ps(y + i, D_MUL(D_SUB(SFX(d_log)(d_via_float(D_MAX(D_LOAD(x + i), lo))), vs), vq));
    sail_log_floor_ref(y + i, x + i, n - i, floor, sub, div);
}

const sail_spectral_table SFX(sail_spectral) = {SAIL_ISA_NAME, SFX(sail_frame_prep), SFX(sail_half_power),
                                                SFX(sail_mel_block), SFX(sail_log_floor)};
