/* spectral.c: the plain C reference of the spectral-feature kernels
 * (contracts: spectral.h), in the order the SIMD versions in
 * spectral_simd.h compute, so that they differ only by fused multiply-adds
 * and the order of the mean's sum; and the choice of table. */
#include "spectral.h"

#include <math.h>
#include <pthread.h>

#include "cpu.h"

/* One frame into y[i * stride] (frame_prep's contract). */
static void prep_frame(double *y, size_t stride, const float *x, const double *win, int n, double pre, int dc) {
    double mean = 0;
    if (dc) {
        for (int i = 0; i < n; i++) mean += x[i];
        mean /= n;
    }
    double prev = x[0] - mean;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        y[i * stride] = (d - pre * prev) * win[i];
        prev = d;
    }
}

static void frame_prep_ref(double *y, const float *x, const double *win, int n, double pre, int dc) {
    prep_frame(y, 1, x, win, n, pre, dc);
}

static void frame_prep8_ref(double *y, const float *x, size_t shift, const double *win, int n, double pre, int dc) {
    for (int f = 0; f < SAIL_MEL_LANES; f++) prep_frame(y + f, SAIL_MEL_LANES, x + f * shift, win, n, pre, dc);
}

/* X[k] = E[k] + W^k O[k] with E, O the DFTs of the even and odd samples:
 * E = (Z[k] + conj Z[h-k]) / 2, O = -i (Z[k] - conj Z[h-k]) / 2, W^k =
 * cos - i sin (Z's index taken mod h). */
static double half_bin(const double *z, const double *tw, int h, int k) {
    const double *a = z + 2 * (k % h), *b = z + 2 * ((h - k) % h);
    double er = 0.5 * (a[0] + b[0]), ei = 0.5 * (a[1] - b[1]);
    double or_ = 0.5 * (a[1] + b[1]), oi = -0.5 * (a[0] - b[0]);
    double c = tw[2 * k], s = tw[2 * k + 1];
    double xr = er + (c * or_ + s * oi), xi = ei + (c * oi - s * or_);
    return xr * xr + xi * xi;
}

void sail_half_power_ref_bins(double *power, int stride, const double *z, const double *tw, int h, int k0, int k1) {
    for (int k = k0; k <= k1; k++) power[(size_t)k * stride] = half_bin(z, tw, h, k);
}

static void half_power_ref(double *power, int stride, const double *z, const double *tw, int h) {
    sail_half_power_ref_bins(power, stride, z, tw, h, 0, h);
}

/* power8's layout: complex number e of every frame at z + e * 2L, its real
 * parts then its imaginary parts, L = SAIL_MEL_LANES. */
enum { L = SAIL_MEL_LANES };

/* u, v := u + v, (u - v) (c - i s) */
static void bfly_ref(double *u, double *v, double c, double s) {
    for (int f = 0; f < L; f++) {
        double dr = u[f] - v[f], di = u[L + f] - v[L + f];
        u[f] += v[f];
        u[L + f] += v[L + f];
        v[f] = dr * c + di * s;
        v[L + f] = di * c - dr * s;
    }
}

/* The last two stages on four numbers: twiddles 1 and -i, no products. */
static void radix4_ref(double *a) {
    double *a1 = a + 2 * L, *a2 = a + 4 * L, *a3 = a + 6 * L;
    for (int f = 0; f < L; f++) {
        double t0r = a[f] + a2[f], t0i = a[L + f] + a2[L + f], t2r = a[f] - a2[f], t2i = a[L + f] - a2[L + f];
        double t1r = a1[f] + a3[f], t1i = a1[L + f] + a3[L + f], dr = a1[f] - a3[f], di = a1[L + f] - a3[L + f];
        a[f] = t0r + t1r;
        a[L + f] = t0i + t1i;
        a1[f] = t0r - t1r;
        a1[L + f] = t0i - t1i;
        a2[f] = t2r + di;
        a2[L + f] = t2i - dr;
        a3[f] = t2r - di;
        a3[L + f] = t2i + dr;
    }
}

/* half_bin on every frame: a = Z[k], b = Z[h - k]. */
static void split_ref(double *power, const double *a, const double *b, double c, double s) {
    for (int f = 0; f < L; f++) {
        double er = 0.5 * (a[f] + b[f]), ei = 0.5 * (a[L + f] - b[L + f]);
        double or_ = 0.5 * (a[L + f] + b[L + f]), oi = 0.5 * (b[f] - a[f]);
        double xr = er + (c * or_ + s * oi), xi = ei + (c * oi - s * or_);
        power[f] = xr * xr + xi * xi;
    }
}

static void power8_ref(double *power, double *x, const double *tw, int n) {
    int h = n / 2;
    for (int m = h; m >= 8; m >>= 1) /* span m: twiddle j is W_m^j = tw's entry j * 2h/m */
        for (int b = 0; b < h; b += m)
            for (int j = 0; j < m / 2; j++) {
                const double *t = tw + 2 * j * (2 * h / m);
                bfly_ref(x + (b + j) * 2 * L, x + (b + j + m / 2) * 2 * L, t[0], t[1]);
            }
    for (int b = 0; h >= 4 && b < h; b += 4) radix4_ref(x + b * 2 * L);
    if (h == 2) bfly_ref(x, x + 2 * L, 1, 0);
    split_ref(power, x, x, tw[0], tw[1]);
    split_ref(power + (size_t)h * L, x, x, tw[2 * h], tw[2 * h + 1]);
    for (int k = 1, rp = 0; k < h; k++) { /* rp = rev(k - 1); rev(h - k) = (h - 1) ^ rev(k - 1) */
        int r = sail_rev_next(rp, h);
        split_ref(power + (size_t)k * L, x + r * 2 * L, x + ((h - 1) ^ rp) * 2 * L, tw[2 * k], tw[2 * k + 1]);
        rp = r;
    }
}

static void mel_block_ref(double *mel, const double *power, const float *w, const int *lo, const int *hi, int n_mels,
                          int n_bins) {
    for (int f = 0; f < SAIL_MEL_LANES; f++)
        for (int m = 0; m < n_mels; m++) {
            const float *wm = w + (size_t)m * n_bins; // (n_bins)
            double acc = 0;
            for (int k = lo[m]; k < hi[m]; k++) acc += wm[k] * power[k * SAIL_MEL_LANES + f];
            mel[f * n_mels + m] = acc;
        }
}

void sail_log_floor_ref(float *y, const double *x, size_t n, double floor, float sub, float div) {
    for (size_t i = 0; i < n; i++) y[i] = (logf((float)(x[i] > floor ? x[i] : floor)) - sub) / div;
}

const sail_spectral_table sail_spectral_ref = {"ref", frame_prep_ref, frame_prep8_ref, half_power_ref, power8_ref,
                                               mel_block_ref, sail_log_floor_ref};

extern const sail_spectral_table sail_spectral_avx2, sail_spectral_avx512;

const sail_spectral_table *sail_spectral_avx2_if_supported(void) {
    const sail_cpu_features *c = sail_cpu();
    return c->avx2 && c->fma ? &sail_spectral_avx2 : NULL;
}

const sail_spectral_table *sail_spectral_avx512_if_supported(void) {
    const sail_cpu_features *c = sail_cpu();
    return c->avx512f && c->avx512dq && c->fma ? &sail_spectral_avx512 : NULL;
}

static const sail_spectral_table *g_table;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    const sail_spectral_table *avx512 = sail_spectral_avx512_if_supported(), *avx2 = sail_spectral_avx2_if_supported();
    g_table = avx512 ? avx512 : avx2 ? avx2 : &sail_spectral_ref;
}

const sail_spectral_table *sail_spectral(void) {
    pthread_once(&g_once, choose);
    return g_table;
}
