/* audio_impl.h: what the feature files share: the cached FFTW plans and
 * triangular mel filters stored by their non-zero range. Internal. */
#ifndef SAIL_AUDIO_IMPL_H
#define SAIL_AUDIO_IMPL_H

#include "common.h"

#include <fftw3.h>

/* A single-precision real-to-complex plan of size n (n floats in, n/2 + 1
 * complex out, out of place), created once per size and shared. Execute it
 * with fftwf_execute_dft_r2c on sail_alloc_aligned arrays (64-byte
 * aligned, as the plan's own were). Thread-safe: planning, which FFTW
 * does not allow concurrently, happens under a lock; executing a plan on
 * new arrays may run on any number of threads at once. */
sail_status sail_fft_plan_r2c(int n, fftwf_plan *out, sail_error *err);

/* Mel filters over n_bins spectrum bins; filter m is non-zero only on bins
 * lo[m] .. hi[m]-1, so applying the bank costs the filters' widths, not
 * n_mels x n_bins. */
typedef struct sail_melbank {
    int n_mels, n_bins;
    int *lo, *hi;   /* (n_mels) */
    float *w;       /* (n_mels, n_bins) */
} sail_melbank;

/* Room for n_mels filters over n_bins bins, zeroed. */
sail_status sail_melbank_alloc(sail_melbank *b, int n_mels, int n_bins, sail_error *err);

/* Record each filter's non-zero range after w is filled. */
void sail_melbank_ranges(sail_melbank *b);

/* out[m] = sum over bins of w[m][k] * power[k]. */
void sail_melbank_apply(const sail_melbank *b, const float *power, float *out);

void sail_melbank_free(sail_melbank *b);

#endif
