/* logmel.c: the STFT log-mel front end of Whisper and CLAP. One function
 * serves both; sail_logmel_params holds what differs (FFT size, hop, mel
 * scale and range, the log). Per frame: center framing with numpy's
 * reflect padding (torch.stft(center=True) and Hugging Face's spectrogram
 * agree where torch allows it), periodic Hann window, power spectrum,
 * librosa's triangular mel filters, then the log the model expects; in
 * double (audio_impl.h says why), stored as float. */
#include "audio/audio_impl.h"

#include <math.h>
#include <string.h>

#define MEL_FLOOR 1e-10 /* Whisper's clamp and Hugging Face's mel_floor */

sail_logmel_params sail_logmel_whisper_params(int n_mels) {
    sail_logmel_params p = {
        .sample_rate = 16000, .n_fft = 400, .hop = 160, .n_mels = n_mels, .fmin = 0, .fmax = 0,
        .htk_mel = 0, .slaney_norm = 1, .log = SAIL_LOG_WHISPER, .drop_last_frame = 1, .pad_samples = 480000,
    };
    return p;
}

sail_logmel_params sail_logmel_clap_params(void) {
    sail_logmel_params p = {
        .sample_rate = 48000, .n_fft = 1024, .hop = 480, .n_mels = 64, .fmin = 50, .fmax = 14000,
        .htk_mel = 0, .slaney_norm = 1, .log = SAIL_LOG_DB, .drop_last_frame = 0, .pad_samples = 0,
    };
    return p;
}

static sail_status check_params(const sail_logmel_params *p, sail_error *err) {
    if (!p) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "log-mel parameters are NULL");
    if (p->sample_rate < 1000 || p->sample_rate > 768000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "log-mel sample rate %d Hz is not in 1000..768000",
                              p->sample_rate);
    if (p->n_fft < 16 || p->n_fft > 65536 || p->hop < 1 || p->hop > p->n_fft)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "n_fft %d must be in 16..65536 and hop %d in 1..n_fft",
                              p->n_fft, p->hop);
    if (p->n_mels < 1 || p->n_mels > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "n_mels %d is not in 1..1024", p->n_mels);
    double nyquist = 0.5 * p->sample_rate, fmax = p->fmax > 0 ? p->fmax : nyquist;
    if (!(p->fmin >= 0 && p->fmin < fmax && fmax <= nyquist))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "mel range %g..%g Hz is not inside 0..%g Hz (Nyquist)",
                              p->fmin, fmax, nyquist);
    if ((unsigned)p->log > SAIL_LOG_DB)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "unknown log kind %d", (int)p->log);
    if (p->pad_samples < 0 || p->pad_samples > ((int64_t)1 << 40))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "pad_samples %lld is out of range",
                              (long long)p->pad_samples);
    return SAIL_OK;
}

/* Frames of a centred STFT over n samples (n_fft / 2 padding each side). */
static int64_t stft_frames(const sail_logmel_params *p, int64_t n) {
    return 1 + (n + 2 * (p->n_fft / 2) - p->n_fft) / p->hop;
}

int64_t sail_logmel_frames(const sail_logmel_params *p, int64_t n) {
    if (check_params(p, NULL) || n < 1) return -1;
    if (p->pad_samples > 0) n = p->pad_samples;
    return stft_frames(p, n) - (p->drop_last_frame != 0);
}

/* librosa's mel scales (hz_to_mel / mel_to_hz): Slaney's is linear below
 * 1 kHz and logarithmic above; HTK's is 2595 log10(1 + f / 700). */
static double hz_to_mel(double f, int htk) {
    if (htk) return 2595.0 * log10(1.0 + f / 700.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000, logstep = log(6.4) / 27;
    return f >= min_log_hz ? min_log_hz / f_sp + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz(double m, int htk) {
    if (htk) return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000, min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27;
    return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : f_sp * m;
}

/* librosa.filters.mel: n_mels + 2 edges evenly spaced in mel, triangles
 * between neighbours over the FFT bin frequencies, optionally scaled to
 * equal area (norm="slaney"); computed in double, stored as float32 as
 * librosa stores them. */
static sail_status slaney_melbank(const void *ctx, sail_melbank *b, sail_error *err) {
    const sail_logmel_params *p = ctx;
    int nb = p->n_fft / 2 + 1, nm = p->n_mels;
    sail_status s = sail_melbank_alloc(b, nm, nb, err);
    if (s) return s;
    double *edge = sail_malloc((size_t)(nm + 2) * sizeof *edge);
    if (!edge) {
        sail_melbank_free(b);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for mel filters");
    }
    double fmax = p->fmax > 0 ? p->fmax : 0.5 * p->sample_rate;
    double lo = hz_to_mel(p->fmin, p->htk_mel), hi = hz_to_mel(fmax, p->htk_mel), step = (hi - lo) / (nm + 1);
    for (int i = 0; i < nm + 2; i++) edge[i] = mel_to_hz(i == nm + 1 ? hi : lo + i * step, p->htk_mel);
    double bin_hz = (double)p->sample_rate / p->n_fft; /* np.fft.rfftfreq */
    for (int m = 0; m < nm; m++) {
        double norm = p->slaney_norm ? 2.0 / (edge[m + 2] - edge[m]) : 1.0;
        for (int k = 0; k < nb; k++) {
            double f = k * bin_hz;
            double lower = (f - edge[m]) / (edge[m + 1] - edge[m]), upper = (edge[m + 2] - f) / (edge[m + 2] - edge[m + 1]);
            double v = lower < upper ? lower : upper;
            b->w[(size_t)m * nb + k] = v > 0 ? (float)(v * norm) : 0.0f;
        }
    }
    sail_free(edge);
    sail_melbank_ranges(b);
    return SAIL_OK;
}

/* numpy's reflect padding of a length-n signal, any distance out: the
 * signal mirrored about its end samples, repeated with period 2 (n - 1). */
static int64_t reflect(int64_t i, int64_t n) {
    if (n == 1) return 0;
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/* Frame t's windowed samples into buf. The signal is wave[0..n) followed
 * by zeros up to len (pad_samples), reflected at both ends of len. */
static void load_frame(const sail_logmel_params *p, const float *wave, int64_t n, int64_t len, int64_t t,
                       const double *win, double *buf) {
    int64_t start = t * p->hop - p->n_fft / 2;
    if (start >= 0 && start + p->n_fft <= n) { /* inside the clip: the window alone (no DC, no pre-emphasis) */
        sail_spectral()->frame_prep(buf, wave + start, win, p->n_fft, 0.0, 0);
        return;
    }
    for (int j = 0; j < p->n_fft; j++) {
        int64_t i = start + j;
        if (i < 0 || i >= len) i = reflect(i, len);
        buf[j] = (i < n ? wave[i] : 0.0) * win[j];
    }
}

/* Whisper: floor at the clip's maximum minus 8 (80 dB), then (x + 4) / 4. */
static void whisper_finish(float *out, int64_t count, double max) {
    double floor8 = max - 8.0;
    for (int64_t i = 0; i < count; i++) out[i] = (float)(((out[i] > floor8 ? out[i] : floor8) + 4.0) / 4.0);
}

/* Frames t0 .. t0+nf-1 into their rows of out; returns the largest log.
 * A frame of padding zeros alone is left out (power 0: every mel the floor). */
static double logmel_block(const sail_logmel_params *p, const float *wave, int64_t n, int64_t len, int64_t t0,
                           int nf, const sail_spectrum *sp, const sail_melbank *b, sail_frame_work *w, float *out) {
    double max = -INFINITY;
    unsigned live = 0;
    int64_t start0 = t0 * p->hop - p->n_fft / 2, end = (t0 + nf - 1) * p->hop - p->n_fft / 2 + p->n_fft;
    if (!sp->plan && nf == SAIL_MEL_LANES && start0 >= 0 && end <= n) { /* power8, every frame inside the clip */
        sail_spectral()->frame_prep8(w->x8, wave + start0, (size_t)p->hop, w->win, p->n_fft, 0.0, 0);
        live = (1u << nf) - 1;
    } else {
        for (int f = 0; f < nf; f++) {
            int64_t start = (t0 + f) * p->hop - p->n_fft / 2;
            if (start >= n && start + p->n_fft <= len) continue;
            load_frame(p, wave, n, len, t0 + f, w->win, w->buf);
            sail_frame_put(sp, w, f);
            live |= 1u << f;
        }
    }
    sail_frames_power(sp, w, live);
    sail_frames_mel(b, w);
    /* log10 as ln / ln 10: within two float ulps of log10f */
    float *rows = out + t0 * p->n_mels;
    size_t count = (size_t)nf * p->n_mels;
    sail_spectral()->log_floor(rows, w->mel, count, MEL_FLOOR, 0.0f, (float)M_LN10);
    for (size_t i = 0; i < count; i++) {
        if (rows[i] > max) max = rows[i];
        if (p->log == SAIL_LOG_DB) rows[i] *= 10.0f;
    }
    return max;
}

static void logmel_frames(const sail_logmel_params *p, const float *wave, int64_t n, int64_t len, int64_t frames,
                          const sail_spectrum *sp, const sail_melbank *b, sail_frame_work *w, float *out) {
    double max = -INFINITY;
    for (int j = 0; j < p->n_fft; j++) w->win[j] = 0.5 - 0.5 * cos(2 * M_PI * j / p->n_fft);
    for (int64_t t = 0; t < frames; t += SAIL_MEL_LANES) {
        double mb = logmel_block(p, wave, n, len, t, (int)SAIL_MIN(frames - t, SAIL_MEL_LANES), sp, b, w, out);
        if (mb > max) max = mb;
    }
    if (p->log == SAIL_LOG_WHISPER) whisper_finish(out, frames * p->n_mels, max);
}

sail_status sail_logmel(const sail_logmel_params *p, const float *wave, int64_t n, float *out, sail_error *err) {
    sail_status s = check_params(p, err);
    if (s) return s;
    if (n < 1 || !wave) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "log-mel needs at least one sample");
    if ((s = sail_audio_check_samples(wave, n, err))) return s;
    int64_t len = p->pad_samples > 0 ? p->pad_samples : n;
    int64_t frames = stft_frames(p, len) - (p->drop_last_frame != 0);
    if (frames == 0) return SAIL_OK;
    if (!out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no output buffer");
    if (n > len) n = len; /* cut to pad_samples */
    sail_spectrum sp;
    if ((s = sail_spectrum_plan(p->n_fft, &sp, err))) return s;
    const double key[SAIL_MELBANK_KEY] = {1, p->n_fft, p->n_mels, p->sample_rate, p->fmin, p->fmax, p->htk_mel,
                                          p->slaney_norm};
    const sail_melbank *b;
    if ((s = sail_melbank_get(key, slaney_melbank, p, &b, err))) return s;
    sail_frame_work w;
    if (!(s = sail_frame_work_alloc(&w, p->n_fft, p->n_fft, p->n_mels, "log-mel", err)))
        logmel_frames(p, wave, n, len, frames, &sp, b, &w, out);
    sail_frame_work_free(&w);
    return s;
}
