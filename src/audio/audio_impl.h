/* audio_impl.h: what the feature files share: the cached FFTW plans and
 * triangular mel filters stored by their non-zero range. Internal. */
#ifndef SAIL_AUDIO_IMPL_H
#define SAIL_AUDIO_IMPL_H

#include "common.h"
#include "kernels/spectral.h"

#include <fftw3.h>

/* The power spectrum of real frames of n samples, planned once per size
 * and shared (thread-safe: planning, which FFTW does not allow
 * concurrently, happens under a lock; executing a plan on new arrays may run
 * on any number of threads at once). n a power of two, with SIMD kernels:
 * the power8 kernel, SAIL_MEL_LANES frames at once, an FFT vectorised
 * across frames (faster than FFTW here: docs/AUDIO.md); no FFTW plan.
 * Other even n: FFTW's n/2-point complex transform of the frame read as
 * complex pairs, split into the real transform's bins by the half_power
 * kernel (faster than FFTW's own real transform); odd n: FFTW's
 * real-to-complex plan.
 *
 * Double, not single precision: log energies span ~90 dB within a frame
 * (pre-emphasis leaves the lowest mel bins 1e-9 of the peak's power), and
 * a float32 transform's rounding, relative to the frame's peak, moves
 * those bins' logs by up to 1e-3 (torchaudio's own float32 fbank differs
 * from its float64 one by 1.4e-3 on the test clips). */
typedef struct sail_spectrum {
    int n;
    fftw_plan plan;     /* NULL where power8 runs */
    const double *tw;   /* (n/2 + 1, 2) cos, sin of pi k / (n/2); NULL for odd n */
} sail_spectrum;

sail_status sail_spectrum_plan(int n, sail_spectrum *out, sail_error *err);

/* Mel filters over n_bins spectrum bins; filter m is non-zero only on bins
 * lo[m] .. hi[m]-1, so applying the bank costs the filters' widths, not
 * n_mels x n_bins. */
typedef struct sail_melbank {
    int n_mels, n_bins;
    int *lo, *hi;   /* (n_mels) */
    float *w;       /* (n_mels, n_bins) float32, as torchaudio and librosa keep them */
} sail_melbank;

/* Room for n_mels filters over n_bins bins, zeroed. */
sail_status sail_melbank_alloc(sail_melbank *b, int n_mels, int n_bins, sail_error *err);

/* Record each filter's non-zero range after w is filled. */
void sail_melbank_ranges(sail_melbank *b);

void sail_melbank_free(sail_melbank *b);

/* The bank make builds from ctx, built once per distinct key (every value
 * the bank depends on, the front end's kind first) and kept for the life of
 * the process like the FFT plans: a model's front end builds it at its first
 * clip, and no clip allocates and frees it again. */
#define SAIL_MELBANK_KEY 8
typedef sail_status (*sail_melbank_make)(const void *ctx, sail_melbank *b, sail_error *err);
sail_status sail_melbank_get(const double key[SAIL_MELBANK_KEY], sail_melbank_make make, const void *ctx,
                             const sail_melbank **out, sail_error *err);

/* Scratch of a mel feature (fbank, log-mel), which runs SAIL_MEL_LANES
 * frames at a time: one frame's samples (zero-padded to the transform) and
 * FFTW's spectrum of it, or the block's samples for power8; the block's
 * power spectra and mel sums; carved from one block, each array 64-byte
 * aligned as the FFT plan's own were. */
typedef struct sail_frame_work {
    void *block;          /* the allocation */
    double *win;          /* (win_len) */
    double *buf;          /* (n_fft) */
    double *x8;           /* (n_fft, SAIL_MEL_LANES) sample i of frame f at i * SAIL_MEL_LANES + f: power8's input */
    fftw_complex *spec;   /* (n_fft / 2 + 1) */
    double *power;        /* (n_fft / 2 + 1, SAIL_MEL_LANES) bin k of frame f at k * SAIL_MEL_LANES + f */
    double *mel;          /* (SAIL_MEL_LANES, n_mels) */
} sail_frame_work;

/* w's block; what names the feature in the out-of-memory error (w is then
 * all NULL). */
sail_status sail_frame_work_alloc(sail_frame_work *w, int win_len, int n_fft, int n_mels, const char *what,
                                  sail_error *err);
void sail_frame_work_free(sail_frame_work *w);

/* Frame f of the block := w->buf (sp->n samples): FFTW transforms it now
 * into its power spectrum; for power8 it becomes column f of w->x8. A block
 * of whole frames can skip this and fill w->x8 with frame_prep8. */
void sail_frame_put(const sail_spectrum *sp, sail_frame_work *w, int f);

/* The block's power spectra, given the frames whose bits are set in live
 * (the others' spectra are zeros): power8 on w->x8 (which it overwrites),
 * or what FFTW made frame by frame. */
void sail_frames_power(const sail_spectrum *sp, sail_frame_work *w, unsigned live);

/* w->mel := b applied to the block's SAIL_MEL_LANES power spectra (the mel
 * sums in double over float32 weights; a frame the block does not use has
 * zeros, and its sums are dropped). */
void sail_frames_mel(const sail_melbank *b, sail_frame_work *w);

/* Audio of nominal magnitude 1 (decoders give [-1, 1]; Kaldi's int16 scale
 * is 32768): larger samples overflow float32 power spectra to infinity, so
 * every feature refuses them up front, naming the first. */
#define SAIL_AUDIO_MAX_SAMPLE 65536.0f
sail_status sail_audio_check_samples(const float *wave, int64_t n, sail_error *err);

/* n mono samples at in_rate resampled to out_rate exactly as decoding
 * resamples (libswresample's defaults): a clip given here and the same
 * clip decoded from a mono float file agree. Limits as decoding's (rates,
 * SAIL_AUDIO_MAX_SECONDS); NaN or infinite samples are SAIL_ERR_FORMAT.
 * Free *out with sail_audio_free. Thread-safe. */
sail_status sail_audio_resample(const float *in, int64_t n, int in_rate, int out_rate, sail_audio *out,
                                sail_error *err);

/* Fbank parameters sail_fbank accepts (a model file's audio front end is
 * checked with it at load); the message names the bad one. */
sail_status sail_fbank_check(const sail_fbank_params *p, sail_error *err);

#endif
