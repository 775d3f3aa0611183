/* spectral.h: the kernels of the audio front ends (src/audio: Kaldi
 * fbank, log-mel), in double precision: a C reference (spectral.c) and
 * AVX2 and AVX-512 versions (spectral_simd.h), in a table of their own
 * chosen by the one dispatch rule (sail_cpu(): the CPU, SAIL_ISA,
 * SAIL_FORCE_REF), as the index distances are. Every function carries its
 * instruction set in a target() attribute, so the files build with any
 * flags (the fuzz harnesses compile their sources without the Makefile's). */
#ifndef SAIL_SPECTRAL_H
#define SAIL_SPECTRAL_H

#include <stddef.h>

/* Frames per mel_block call. */
#define SAIL_MEL_LANES 8

typedef struct sail_spectral_table {
    const char *name;
    /* frame_prep: y[i] = (d[i] - pre * d[i-1]) * win[i] for i < n, with
     * d[i] = x[i] - mean (mean of x[0..n) when dc, else 0) and d[-1] = d[0]:
     * Kaldi's DC removal, pre-emphasis and window in one pass. */
    void (*frame_prep)(double *y, const float *x, const double *win, int n, double pre, int dc);
    /* frame_prep8: frame_prep of the SAIL_MEL_LANES frames at x + f * shift
     * at once, into power8's layout: y[i * SAIL_MEL_LANES + f]. */
    void (*frame_prep8)(double *y, const float *x, size_t shift, const double *win, int n, double pre, int dc);
    /* power[k * stride] = |X[k]|^2, k = 0..h, of a real frame of 2h samples
     * from z, the h-point complex DFT of the frame read as h complex numbers
     * (even samples real, odd imaginary; re/im interleaved); tw[2k], tw[2k+1]
     * = cos(pi k / h), sin(pi k / h) for k = 0..h. h >= 1. */
    void (*half_power)(double *power, int stride, const double *z, const double *tw, int h);
    /* power[k * SAIL_MEL_LANES + f] = |X_f[k]|^2, k = 0..n/2, for the
     * SAIL_MEL_LANES real frames of n samples in x, interleaved (sample i of
     * frame f at x[i * SAIL_MEL_LANES + f]); n a power of two, 2..2^20; tw
     * as half_power's for h = n/2. The FFT runs vectorised across frames
     * (one SIMD lane a frame) and in place: x is left holding scratch. Per
     * frame: an h-point radix-2 decimation-in-frequency complex FFT of the
     * frame read as h complex numbers (even samples real, odd imaginary),
     * its last two stages as one radix-4 pass (twiddles 1 and -i), then
     * half_power's split reading the FFT's bit-reversed order. */
    void (*power8)(double *power, double *x, const double *tw, int n);
    /* mel(SAIL_MEL_LANES, n_mels)[f][m] = sum over k in [lo[m], hi[m]) of
     * w[m * n_bins + k] * power[k * SAIL_MEL_LANES + f]: a block of frames'
     * power spectra (bin-major, frames side by side) through one filter bank,
     * summed in k order, out frame-major. */
    void (*mel_block)(double *mel, const double *power, const float *w, const int *lo, const int *hi, int n_mels,
                      int n_bins);
    /* y[i] = (logf((float)max(x[i], floor)) - sub) / div in float, within two
     * float ulps of it, for x[i] <= FLT_MAX (NaN: floor), floor at least
     * FLT_MIN and div > 0 (AST's normalisation; sub 0 and div 1 for none). */
    void (*log_floor)(float *y, const double *x, size_t n, double floor, float sub, float div);
} sail_spectral_table;

extern const sail_spectral_table sail_spectral_ref;
/* The table for this CPU (thread-safe). */
const sail_spectral_table *sail_spectral(void);
/* The AVX2 / AVX-512 tables where this CPU has them and the rule allows
 * them, else NULL (for tests). */
const sail_spectral_table *sail_spectral_avx2_if_supported(void);
const sail_spectral_table *sail_spectral_avx512_if_supported(void);

/* Internal to the kernel files: the reference's bins k0..k1 (inclusive) of
 * half_power, for the SIMD versions' tails, its log_floor, and the
 * bit-reversal step power8's split walks the FFT's output with. */
void sail_half_power_ref_bins(double *power, int stride, const double *z, const double *tw, int h, int k0, int k1);
void sail_log_floor_ref(float *y, const double *x, size_t n, double floor, float sub, float div);
/* rev(k + 1) from r = rev(k), rev reversing the log2(h) bits of k < h
 * (h a power of two; bit-reversed increment). */
static inline int sail_rev_next(int r, int h) {
    int m = h >> 1;
    while (r & m) {
        r ^= m;
        m >>= 1;
    }
    return r | m;
}

#endif
