/* spectral.c: the plain C reference of the spectral-feature kernels
 * (contracts: spectral.h), in the order the SIMD versions in
 * spectral_simd.h compute, so that they differ only by fused multiply-adds
 * and the order of the mean's sum; and the choice of table. */
#include "spectral.h"

#include <math.h>
#include <pthread.h>

#include "cpu.h"

static void frame_prep_ref(double *y, const float *x, const double *win, int n, double pre, int dc) {
    double mean = 0;
    if (dc) {
        for (int i = 0; i < n; i++) mean += x[i];
        mean /= n;
    }
    double prev = x[0] - mean;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        y[i] = (d - pre * prev) * win[i];
        prev = d;
    }
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

const sail_spectral_table sail_spectral_ref = {"ref", frame_prep_ref, half_power_ref, mel_block_ref,
                                               sail_log_floor_ref};

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
