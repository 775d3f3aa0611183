/* spectral_simd.h: the spectral-feature kernels (contracts: spectral.h,
 * frame_prep .. log_floor) written once over a small double-precision
 * vocabulary that spectral_avx2.c and spectral_avx512.c define before
 * including it: VD doubles a vector (vd), D_* arithmetic, and
 *   d_load_ps / d_store_ps   VD floats widened / narrowed
 *   d_swap                   swap each (re, im) pair
 *   d_rev                    reverse the order of the pairs
 *   d_dup_even / d_dup_odd   each pair's first / second double in both
 *   d_scatter / d_scatter_even  every lane / each pair's first to p[j * stride]
 *   d_widen8                 8 floats to 8 / VD vectors
 *   d_hsum                   sum of the lanes
 *   d_frexp                  x = m 2^e with m in [0.75, 1.5), x > 0 normal
 *   d_via_float              (double)(float)x
 *   TARGET                   the instruction set, on every function
 * The reference in spectral.c computes in the same order. */

/* Frames a block (SAIL_MEL_LANES) and the vectors that hold one value of each. */
enum { L = SAIL_MEL_LANES, NV = SAIL_MEL_LANES / VD };

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

/* The mean of x[0..n) (dc), else 0. */
static inline TARGET double SFX(mean)(const float *x, int n, int dc) {
    if (!dc) return 0;
    vd acc = D_SET1(0.0);
    int i = 0;
    for (; i + VD <= n; i += VD) acc = D_ADD(acc, d_load_ps(x + i));
    double sum = d_hsum(acc);
    for (; i < n; i++) sum += x[i];
    return sum / n;
}

static TARGET void SFX(sail_frame_prep)(double *y, const float *x, const double *win, int n, double pre,
                                        int dc) {
    double mean = SFX(mean)(x, n, dc);
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

/* r[i] lane j becomes r[j] lane i (8 x 8 floats). */
static inline TARGET void SFX(transpose8_ps)(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        s[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x31);
    }
}

/* Eight samples of the eight frames at a time, transposed in registers so
 * that lanes are frames; the predecessor carried from vector to vector. */
static TARGET void SFX(sail_frame_prep8)(double *y, const float *x, size_t shift, const double *win, int n,
                                         double pre, int dc) {
    double means[L];
    for (int f = 0; f < L; f++) means[f] = SFX(mean)(x + f * shift, n, dc);
    vd vm[NV], prev[NV], vp = D_SET1(pre);
    for (int q = 0; q < NV; q++) {
        vm[q] = D_LOAD(means + q * VD);
        prev[q] = D_SET1(0.0); /* sample 0 is its own predecessor */
    }
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 r[8];
        for (int f = 0; f < 8; f++) r[f] = _mm256_loadu_ps(x + f * shift + i);
        SFX(transpose8_ps)(r);
        for (int j = 0; j < 8; j++) {
            vd d[NV];
            d_widen8(d, r[j]);
            vd w = D_SET1(win[i + j]);
            for (int q = 0; q < NV; q++) {
                d[q] = D_SUB(d[q], vm[q]);
                if (i + j == 0) prev[q] = d[q];
                D_STORE(y + (i + j) * L + q * VD, D_MUL(D_FNMA(vp, prev[q], d[q]), w));
                prev[q] = d[q];
            }
        }
    }
    for (; i < n; i++)
        for (int f = 0; f < L; f++) {
            const float *xf = x + f * shift;
            double d = xf[i] - means[f], dp = xf[i ? i - 1 : 0] - means[f];
            y[i * L + f] = (d - pre * dp) * win[i];
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

/* power8: complex number e of every frame at x + e * 2L, NV vectors of
 * real parts then as many of imaginary parts; the reference's butterflies
 * (spectral.c), two stages a pass and blocks in memory order, which changes
 * no value. (ur, ui), (vr, vi) := u + v, (u - v) (c - i s): */
static inline TARGET void SFX(bfly_r)(vd *ur, vd *ui, vd *vr, vd *vi, vd c, vd s) {
    vd dr = D_SUB(*ur, *vr), di = D_SUB(*ui, *vi);
    *ur = D_ADD(*ur, *vr);
    *ui = D_ADD(*ui, *vi);
    *vr = D_FMA(dr, c, D_MUL(di, s));
    *vi = D_FNMA(dr, s, D_MUL(di, c));
}

/* Stages m and m/2 in one pass over four numbers a, a + m/4, a + m/2,
 * a + 3m/4 (q: m/4 apart): the same butterflies, one load and store each. */
static inline TARGET void SFX(bfly2)(double *a, size_t q, const double *w1, const double *w2, const double *w3) {
    vd c1 = D_SET1(w1[0]), s1 = D_SET1(w1[1]), c2 = D_SET1(w2[0]), s2 = D_SET1(w2[1]);
    vd c3 = D_SET1(w3[0]), s3 = D_SET1(w3[1]);
    for (int k = 0; k < NV; k++) {
        double *p0 = a + k * VD, *p1 = p0 + q, *p2 = p1 + q, *p3 = p2 + q;
        vd r0 = D_LOAD(p0), i0 = D_LOAD(p0 + L), r1 = D_LOAD(p1), i1 = D_LOAD(p1 + L);
        vd r2 = D_LOAD(p2), i2 = D_LOAD(p2 + L), r3 = D_LOAD(p3), i3 = D_LOAD(p3 + L);
        SFX(bfly_r)(&r0, &i0, &r2, &i2, c1, s1);
        SFX(bfly_r)(&r1, &i1, &r3, &i3, c2, s2);
        SFX(bfly_r)(&r0, &i0, &r1, &i1, c3, s3);
        SFX(bfly_r)(&r2, &i2, &r3, &i3, c3, s3);
        D_STORE(p0, r0);
        D_STORE(p0 + L, i0);
        D_STORE(p1, r1);
        D_STORE(p1 + L, i1);
        D_STORE(p2, r2);
        D_STORE(p2 + L, i2);
        D_STORE(p3, r3);
        D_STORE(p3 + L, i3);
    }
}

/* One stage's butterfly in memory: u, v := u + v, (u - v) (c - i s). */
static inline TARGET void SFX(bfly)(double *u, double *v, vd c, vd s) {
    for (int q = 0; q < NV; q++) {
        double *pu = u + q * VD, *pv = v + q * VD;
        vd ur = D_LOAD(pu), ui = D_LOAD(pu + L), vr = D_LOAD(pv), vi = D_LOAD(pv + L);
        SFX(bfly_r)(&ur, &ui, &vr, &vi, c, s);
        D_STORE(pu, ur);
        D_STORE(pu + L, ui);
        D_STORE(pv, vr);
        D_STORE(pv + L, vi);
    }
}

/* The last two stages on four numbers: twiddles 1 and -i, no products. */
static inline TARGET void SFX(radix4)(double *a) {
    for (int q = 0; q < NV; q++) {
        double *p0 = a + q * VD, *p1 = p0 + 2 * L, *p2 = p0 + 4 * L, *p3 = p0 + 6 * L;
        vd a0r = D_LOAD(p0), a0i = D_LOAD(p0 + L), a1r = D_LOAD(p1), a1i = D_LOAD(p1 + L);
        vd a2r = D_LOAD(p2), a2i = D_LOAD(p2 + L), a3r = D_LOAD(p3), a3i = D_LOAD(p3 + L);
        vd t0r = D_ADD(a0r, a2r), t0i = D_ADD(a0i, a2i), t2r = D_SUB(a0r, a2r), t2i = D_SUB(a0i, a2i);
        vd t1r = D_ADD(a1r, a3r), t1i = D_ADD(a1i, a3i), dr = D_SUB(a1r, a3r), di = D_SUB(a1i, a3i);
        D_STORE(p0, D_ADD(t0r, t1r));
        D_STORE(p0 + L, D_ADD(t0i, t1i));
        D_STORE(p1, D_SUB(t0r, t1r));
        D_STORE(p1 + L, D_SUB(t0i, t1i));
        D_STORE(p2, D_ADD(t2r, di));
        D_STORE(p2 + L, D_SUB(t2i, dr));
        D_STORE(p3, D_SUB(t2r, di));
        D_STORE(p3 + L, D_ADD(t2i, dr));
    }
}

/* half_bin on every frame: a = Z[k], b = Z[h - k]. */
static inline TARGET void SFX(split)(double *power, const double *a, const double *b, double cs, double ss) {
    const vd half = D_SET1(0.5), c = D_SET1(cs), s = D_SET1(ss);
    for (int q = 0; q < NV; q++) {
        vd ar = D_LOAD(a + q * VD), ai = D_LOAD(a + L + q * VD), br = D_LOAD(b + q * VD), bi = D_LOAD(b + L + q * VD);
        vd er = D_MUL(half, D_ADD(ar, br)), ei = D_MUL(half, D_SUB(ai, bi));
        vd or_ = D_MUL(half, D_ADD(ai, bi)), oi = D_MUL(half, D_SUB(br, ar));
        vd xr = D_ADD(er, D_FMA(c, or_, D_MUL(s, oi))), xi = D_ADD(ei, D_FNMA(s, or_, D_MUL(c, oi)));
        D_STORE(power + q * VD, D_FMA(xr, xr, D_MUL(xi, xi)));
    }
}

static TARGET void SFX(sail_power8)(double *power, double *x, const double *tw, int n) {
    int h = n / 2, m = h;
    /* span m: twiddle j is W_m^j = tw's entry j * 2h/m; blocks walked in
     * order (sequential streams, not strided ones that share cache sets) */
    for (; m >= 16; m /= 4)
        for (int b = 0; b < h; b += m)
            for (int j = 0; j < m / 4; j++)
                SFX(bfly2)(x + (b + j) * 2 * L, (size_t)m / 4 * 2 * L, tw + 2 * j * (2 * h / m),
                           tw + 2 * (j + m / 4) * (2 * h / m), tw + 2 * j * (4 * h / m));
    for (int b = 0; m == 8 && b < h; b += m)
        for (int j = 0; j < 4; j++) {
            const double *t = tw + 2 * j * (2 * h / m);
            SFX(bfly)(x + (b + j) * 2 * L, x + (b + j + 4) * 2 * L, D_SET1(t[0]), D_SET1(t[1]));
        }
    for (int b = 0; h >= 4 && b < h; b += 4) SFX(radix4)(x + b * 2 * L);
    if (h == 2) SFX(bfly)(x, x + 2 * L, D_SET1(1.0), D_SET1(0.0));
    SFX(split)(power, x, x, tw[0], tw[1]);
    SFX(split)(power + (size_t)h * L, x, x, tw[2 * h], tw[2 * h + 1]);
    for (int k = 1, rp = 0; k < h; k++) { /* rp = rev(k - 1); rev(h - k) = (h - 1) ^ rev(k - 1) */
        int r = sail_rev_next(rp, h);
        SFX(split)(power + (size_t)k * L, x + r * 2 * L, x + ((h - 1) ^ rp) * 2 * L, tw[2 * k], tw[2 * k + 1]);
        rp = r;
    }
}

static TARGET void SFX(sail_mel_block)(double *mel, const double *power, const float *w, const int *lo,
                                       const int *hi, int n_mels, int n_bins) {
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

const sail_spectral_table SFX(sail_spectral) = {SAIL_ISA_NAME, SFX(sail_frame_prep), SFX(sail_frame_prep8),
                                                SFX(sail_half_power), SFX(sail_power8), SFX(sail_mel_block),
                                                SFX(sail_log_floor)};
