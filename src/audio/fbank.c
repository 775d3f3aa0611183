/* fbank.c: Kaldi's log mel filterbank as torchaudio.compliance.kaldi.fbank
 * (torchaudio 0.13) computes it, with the Audio Spectrogram Transformer's
 * padding and normalisation on top. The order of operations per frame is
 * kaldi.py's _get_window: remove the DC offset, pre-emphasis (the first
 * sample against itself), window, zero-pad to a power of two; then the
 * power spectrum, the mel bank (Kaldi's mel scale 1127 ln(1 + f / 700),
 * triangles in mel, the Nyquist bin unused) and ln(max(e, FLT_EPSILON)).
 * dither is always 0 (AST's setting; a random input would make features
 * irreproducible) and snip_edges is always on (only whole windows). Each
 * frame is computed in double (audio_impl.h says why) and stored as float. */
#include "audio/audio_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

sail_fbank_params sail_fbank_ast_params(void) {
    sail_fbank_params p = {
        .sample_rate = 16000, .frame_length_ms = 25, .frame_shift_ms = 10, .num_mel_bins = 128,
        .low_freq = 20, .high_freq = 0, .preemphasis = 0.97f, .remove_dc_offset = 1,
        .window = SAIL_WINDOW_HANNING, .max_length = 1024, .norm_mean = -4.2677393f, .norm_std = 4.5689974f,
    };
    return p;
}

/* Samples per window and per shift, truncated as kaldi.py does in double:
 * int(sample_frequency * frame_length * 0.001). */
static void frame_sizes(const sail_fbank_params *p, int *size, int *shift, int *padded) {
    *size = (int)((double)p->sample_rate * p->frame_length_ms * 0.001);
    *shift = (int)((double)p->sample_rate * p->frame_shift_ms * 0.001);
    int n = 1;
    while (n < *size) n *= 2;
    *padded = n;
}

sail_status sail_fbank_check(const sail_fbank_params *p, sail_error *err) {
    if (!p) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "fbank parameters are NULL");
    if (p->sample_rate < 1000 || p->sample_rate > 768000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "fbank sample rate %d Hz is not in 1000..768000",
                              p->sample_rate);
    if (!(p->frame_length_ms > 0 && p->frame_length_ms <= 1000 && p->frame_shift_ms > 0 &&
          p->frame_shift_ms <= 1000))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "fbank frame length %g ms and shift %g ms must be in (0, 1000]",
                              p->frame_length_ms, p->frame_shift_ms);
    int size, shift, padded;
    frame_sizes(p, &size, &shift, &padded);
    if (size < 2 || shift < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "an fbank window of %d samples and shift of %d is too short",
                              size, shift);
    if (p->num_mel_bins < 4 || p->num_mel_bins > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "num_mel_bins %d is not in 4..1024", p->num_mel_bins);
    double nyquist = 0.5 * p->sample_rate, high = p->high_freq <= 0 ? p->high_freq + nyquist : p->high_freq;
    if (!(p->low_freq >= 0 && p->low_freq < nyquist && high > 0 && high <= nyquist && p->low_freq < high))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "fbank band %g..%g Hz is not inside 0..%g Hz (Nyquist)",
                              p->low_freq, high, nyquist);
    if (!(p->preemphasis >= 0 && p->preemphasis <= 1))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "preemphasis %g is not in 0..1", p->preemphasis);
    if ((unsigned)p->window > SAIL_WINDOW_RECTANGULAR)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "unknown window type %d", (int)p->window);
    if (p->max_length < 0 || p->max_length > (1 << 20) || p->norm_std < 0 || !isfinite(p->norm_mean))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "max_length %d or norm_std %g is negative or too large",
                              p->max_length, p->norm_std);
    return SAIL_OK;
}

int64_t sail_fbank_frames(const sail_fbank_params *p, int64_t n) {
    if (sail_fbank_check(p, NULL)) return -1;
    if (p->max_length > 0) return p->max_length;
    int size, shift, padded;
    frame_sizes(p, &size, &shift, &padded);
    return n < size ? 0 : 1 + (n - size) / shift;
}

/* kaldi.py's _feature_window_function (symmetric windows over size - 1). */
static void make_window(sail_window type, int size, double *w) {
    double a = 2 * M_PI / (size - 1);
    for (int i = 0; i < size; i++) {
        double hann = 0.5 - 0.5 * cos(a * i);
        switch (type) {
        case SAIL_WINDOW_POVEY: w[i] = pow(hann, 0.85); break;
        case SAIL_WINDOW_HAMMING: w[i] = 0.54 - 0.46 * cos(a * i); break;
        case SAIL_WINDOW_RECTANGULAR: w[i] = 1; break;
        default: w[i] = hann; break;
        }
    }
}

static double kaldi_mel(double f) { return 1127.0 * log(1.0 + f / 700.0); }

/* kaldi.py's get_mel_banks without VTLN warping: triangles evenly spaced in
 * mel between low and high, evaluated at the first padded/2 bins. The
 * edges are scalars in double; everything per bin is float32, one rounding
 * per operation in torch's order, because torchaudio builds the bank in
 * float32 even for float64 input. The slopes subtract mels of ~2000 that
 * differ by ~20, so computing them in double would move weights by up to
 * 2e-5 and a filter's energy by 1e-4 relative. The log is rounded from
 * double (torch's float log differs from that in ~1% of the bins, by one
 * unit in the last place). */
typedef struct {
    const sail_fbank_params *p;
    int padded;
} kaldi_ctx;

static sail_status kaldi_melbank(const void *ctx, sail_melbank *b, sail_error *err) {
    const sail_fbank_params *p = ((const kaldi_ctx *)ctx)->p;
    int padded = ((const kaldi_ctx *)ctx)->padded;
    int n_bins = padded / 2 + 1, nm = p->num_mel_bins;
    float *mel = sail_malloc((size_t)n_bins * sizeof *mel); /* (padded / 2) each bin's mel */
    sail_status s = mel ? sail_melbank_alloc(b, nm, n_bins, err)
                        : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for mel filters");
    if (s) {
        sail_free(mel);
        return s;
    }
    double nyquist = 0.5 * p->sample_rate, high = p->high_freq <= 0 ? p->high_freq + nyquist : p->high_freq;
    double mlo = kaldi_mel(p->low_freq);
    float lo = (float)mlo, delta = (float)((kaldi_mel(high) - mlo) / (nm + 1));
    float bin_hz = (float)((double)p->sample_rate / padded);
    for (int k = 0; k < padded / 2; k++) mel[k] = 1127.0f * (float)log((double)(1.0f + bin_hz * (float)k / 700.0f));
    for (int m = 0; m < nm; m++) {
        float left = (float)m * delta + lo, center = (float)(m + 1) * delta + lo, right = (float)(m + 2) * delta + lo;
        for (int k = 0; k < padded / 2; k++) {
            float up = (mel[k] - left) / (center - left), down = (right - mel[k]) / (right - center);
            float v = up < down ? up : down;
            b->w[(size_t)m * n_bins + k] = v > 0 ? v : 0.0f;
        }
    }
    sail_free(mel);
    sail_melbank_ranges(b);
    return SAIL_OK;
}

/* Frames t0 .. t0+nf-1 (nf <= SAIL_MEL_LANES) into their rows of out:
 * each frame prepared and transformed, then the block's mel sums and their
 * logs, ln(max(e, FLT_EPSILON)) of the energy rounded to float, and AST's
 * normalisation (x - mean) / (2 std) when norm_std > 0. */
static void fbank_block(const sail_fbank_params *p, const float *wave, int64_t t0, int nf, int size, int shift,
                        const sail_spectrum *sp, const sail_melbank *b, sail_frame_work *w, float *out) {
    const sail_spectral_table *k = sail_spectral();
    if (!sp->plan && nf == SAIL_MEL_LANES) { /* power8: the whole block at once */
        k->frame_prep8(w->x8, wave + t0 * shift, shift, w->win, size, p->preemphasis, p->remove_dc_offset);
        memset(w->x8 + (size_t)size * SAIL_MEL_LANES, 0, (size_t)(sp->n - size) * SAIL_MEL_LANES * sizeof *w->x8);
    } else {
        for (int f = 0; f < nf; f++) {
            k->frame_prep(w->buf, wave + (t0 + f) * shift, w->win, size, p->preemphasis, p->remove_dc_offset);
            memset(w->buf + size, 0, (size_t)(sp->n - size) * sizeof *w->buf);
            sail_frame_put(sp, w, f);
        }
    }
    sail_frames_power(sp, w, (1u << nf) - 1);
    sail_frames_mel(b, w);
    int norm = p->norm_std > 0;
    k->log_floor(out + t0 * b->n_mels, w->mel, (size_t)nf * b->n_mels, FLT_EPSILON, norm ? p->norm_mean : 0.0f,
                 norm ? 2 * p->norm_std : 1.0f);
}

/* AST: rows past the clip are zeros, normalised as the rest:
 * ASTFeatureExtractor pads before it normalises. */
static void ast_pad(const sail_fbank_params *p, int64_t computed, int64_t rows, float *out) {
    float zero = p->norm_std > 0 ? (0.0f - p->norm_mean) / (2 * p->norm_std) : 0.0f;
    for (int64_t i = computed * p->num_mel_bins; i < rows * p->num_mel_bins; i++) out[i] = zero;
}

sail_status sail_fbank(const sail_fbank_params *p, const float *wave, int64_t n, float *out, sail_error *err) {
    sail_status s = sail_fbank_check(p, err);
    if (s) return s;
    if (n < 0 || (n && !wave)) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no samples (n = %lld)", (long long)n);
    if ((s = sail_audio_check_samples(wave, n, err))) return s;
    int size, shift, padded;
    frame_sizes(p, &size, &shift, &padded);
    int64_t frames = n < size ? 0 : 1 + (n - size) / shift;
    int64_t rows = p->max_length > 0 ? p->max_length : frames;
    int64_t computed = SAIL_MIN(frames, rows);
    if (rows == 0) return SAIL_OK; /* a clip shorter than one window, without padding */
    if (!out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no output buffer");
    sail_spectrum sp;
    if ((s = sail_spectrum_plan(padded, &sp, err))) return s;
    const double key[SAIL_MELBANK_KEY] = {0, padded, p->num_mel_bins, p->sample_rate, p->low_freq, p->high_freq};
    const sail_melbank *b;
    if ((s = sail_melbank_get(key, kaldi_melbank, &(kaldi_ctx){p, padded}, &b, err))) return s;
    sail_frame_work w;
    if (!(s = sail_frame_work_alloc(&w, size, padded, p->num_mel_bins, "fbank", err))) {
        make_window(p->window, size, w.win);
        for (int64_t t = 0; t < computed; t += SAIL_MEL_LANES)
            fbank_block(p, wave, t, (int)SAIL_MIN(computed - t, SAIL_MEL_LANES), size, shift, &sp, b, &w, out);
        ast_pad(p, computed, rows, out);
    }
    sail_frame_work_free(&w);
    return s;
}
