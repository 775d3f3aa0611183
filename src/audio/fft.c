/* fft.c: what both mel front ends share: the power spectrum's plans (the
 * power8 kernel's twiddles at powers of two, FFTW double-precision plans
 * at other sizes; why double: audio_impl.h) and mel filter banks, each made
 * once and kept for the life of the process, and the block of frames the
 * kernels run on.
 *
 * FFTW_ESTIMATE: planning takes microseconds, never runs trial transforms
 * on our buffers, and picks the same algorithm on every run, so features
 * are reproducible bit for bit (FFTW_MEASURE may choose a different plan,
 * and so different rounding, from one process to the next). */
#include "audio/audio_impl.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define MAX_PLANS 32

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sail_spectrum g_plans[MAX_PLANS]; /* kept for the life of the process */
static int g_n_plans;

/* Even n: the split's twiddles, and unless power8 runs, the n/2-point
 * complex plan, in place on the frame (its samples read as complex pairs);
 * odd n: real-to-complex into n/2 + 1 bins. power8 runs at powers of two
 * where the kernels are SIMD: the plain C one is slower than FFTW, itself
 * vectorised (docs/AUDIO.md). */
static sail_status make_plan(int n, sail_spectrum *sp, sail_error *err) {
    int h = n / 2, even = n % 2 == 0, pow2 = (n & (n - 1)) == 0 && sail_spectral() != &sail_spectral_ref;
    double *in = pow2 ? NULL : sail_alloc_aligned((size_t)(n + 2) * sizeof(double));
    fftw_complex *out = pow2 ? NULL : sail_alloc_aligned((size_t)(h + 1) * sizeof(fftw_complex));
    double *tw = even ? sail_malloc((size_t)(h + 1) * 2 * sizeof(double)) : NULL;
    fftw_plan p = NULL;
    if (in && out && (tw || !even))
        p = even ? fftw_plan_dft_1d(h, (fftw_complex *)in, out, FFTW_FORWARD, FFTW_ESTIMATE)
                 : fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
    sail_free(in);
    sail_free(out);
    if (pow2 ? !tw : !p) {
        sail_free(tw);
        return pow2 ? sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the FFT twiddles of size %d", n)
                    : sail_set_error(err, SAIL_ERR_NOMEM, "FFTW could not plan a transform of size %d", n);
    }
    for (int k = 0; even && k <= h; k++) {
        tw[2 * k] = cos(M_PI * k / h);
        tw[2 * k + 1] = sin(M_PI * k / h);
    }
    *sp = (sail_spectrum){n, p, tw};
    return SAIL_OK;
}

sail_status sail_spectrum_plan(int n, sail_spectrum *out, sail_error *err) {
    if (n < 2 || n > (1 << 20))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "FFT size %d is not in 2..%d", n, 1 << 20);
    sail_status s = SAIL_OK;
    pthread_mutex_lock(&g_lock);
    int i = 0;
    while (i < g_n_plans && g_plans[i].n != n) i++;
    if (i == MAX_PLANS)
        s = sail_set_error(err, SAIL_ERR_LIMIT, "more than %d distinct FFT sizes in one process", MAX_PLANS);
    else if (i == g_n_plans && !(s = make_plan(n, &g_plans[i], err)))
        g_n_plans++;
    if (!s) *out = g_plans[i];
    pthread_mutex_unlock(&g_lock);
    return s;
}

sail_status sail_melbank_alloc(sail_melbank *b, int n_mels, int n_bins, sail_error *err) {
    memset(b, 0, sizeof *b);
    b->n_mels = n_mels;
    b->n_bins = n_bins;
    b->lo = sail_calloc((size_t)n_mels, sizeof(int));
    b->hi = sail_calloc((size_t)n_mels, sizeof(int));
    b->w = sail_calloc((size_t)n_mels * (size_t)n_bins, sizeof(float));
    if (b->lo && b->hi && b->w) return SAIL_OK;
    sail_melbank_free(b);
    return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d mel filters", n_mels);
}

void sail_melbank_ranges(sail_melbank *b) {
    for (int m = 0; m < b->n_mels; m++) {
        const float *w = b->w + (size_t)m * b->n_bins;
        int lo = 0, hi = b->n_bins;
        while (lo < hi && w[lo] == 0) lo++;
        while (hi > lo && w[hi - 1] == 0) hi--;
        b->lo[m] = lo;
        b->hi[m] = hi;
    }
}

void sail_melbank_free(sail_melbank *b) {
    sail_free(b->lo);
    sail_free(b->hi);
    sail_free(b->w);
    memset(b, 0, sizeof *b);
}

#define MAX_BANKS 32

static struct {
    double key[SAIL_MELBANK_KEY];
    sail_melbank bank;
} g_banks[MAX_BANKS]; /* kept for the life of the process, under g_lock */
static int g_n_banks;

sail_status sail_melbank_get(const double key[SAIL_MELBANK_KEY], sail_melbank_make make, const void *ctx,
                             const sail_melbank **out, sail_error *err) {
    sail_status s = SAIL_OK;
    pthread_mutex_lock(&g_lock);
    int i = 0;
    while (i < g_n_banks && memcmp(g_banks[i].key, key, sizeof g_banks[i].key)) i++;
    if (i == MAX_BANKS)
        s = sail_set_error(err, SAIL_ERR_LIMIT, "more than %d distinct mel filter banks in one process", MAX_BANKS);
    else if (i == g_n_banks && !(s = make(ctx, &g_banks[i].bank, err))) {
        memcpy(g_banks[i].key, key, sizeof g_banks[i].key);
        g_n_banks++;
    }
    if (!s) *out = &g_banks[i].bank;
    pthread_mutex_unlock(&g_lock);
    return s;
}

sail_status sail_frame_work_alloc(sail_frame_work *w, int win_len, int n_fft, int n_mels, const char *what,
                                  sail_error *err) {
    enum { N = 6 };
    size_t nb = (size_t)n_fft / 2 + 1, lanes = SAIL_MEL_LANES, at[N], total = 0;
    size_t bytes[N] = {(size_t)win_len * sizeof(double), (size_t)n_fft * sizeof(double),
                       (size_t)n_fft * lanes * sizeof(double), nb * sizeof(fftw_complex), nb * lanes * sizeof(double),
                       (size_t)n_mels * lanes * sizeof(double)};
    for (int i = 0; i < N; i++) {
        at[i] = total;
        total += (bytes[i] + 63) & ~(size_t)63;
    }
    uint8_t *p = sail_alloc_aligned(total);
    memset(w, 0, sizeof *w);
    if (!p) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %s buffers", what);
    *w = (sail_frame_work){p, (double *)(p + at[0]), (double *)(p + at[1]), (double *)(p + at[2]),
                           (fftw_complex *)(p + at[3]), (double *)(p + at[4]), (double *)(p + at[5])};
    return SAIL_OK;
}

void sail_frame_work_free(sail_frame_work *w) {
    sail_free(w->block);
    memset(w, 0, sizeof *w);
}

void sail_frame_put(const sail_spectrum *sp, sail_frame_work *w, int f) {
    double *power = w->power + f; // (n/2 + 1) at stride SAIL_MEL_LANES
    if (!sp->plan) {
        for (int i = 0; i < sp->n; i++) w->x8[i * SAIL_MEL_LANES + f] = w->buf[i];
    } else if (sp->tw) {
        fftw_execute_dft(sp->plan, (fftw_complex *)w->buf, w->spec);
        sail_spectral()->half_power(power, SAIL_MEL_LANES, (const double *)w->spec, sp->tw, sp->n / 2);
    } else {
        fftw_execute_dft_r2c(sp->plan, w->buf, w->spec);
        for (int k = 0; k <= sp->n / 2; k++)
            power[k * SAIL_MEL_LANES] = w->spec[k][0] * w->spec[k][0] + w->spec[k][1] * w->spec[k][1];
    }
}

/* A dead frame's samples (power8) or spectrum (FFTW) are zeroed: the
 * transform of zeros is zeros. */
void sail_frames_power(const sail_spectrum *sp, sail_frame_work *w, unsigned live) {
    if (!live) { /* a block of padding (Whisper's): no transform */
        memset(w->power, 0, ((size_t)sp->n / 2 + 1) * SAIL_MEL_LANES * sizeof *w->power);
        return;
    }
    for (int f = 0; f < SAIL_MEL_LANES; f++) {
        if (live >> f & 1) continue;
        if (sp->plan)
            for (int k = 0; k <= sp->n / 2; k++) w->power[k * SAIL_MEL_LANES + f] = 0;
        else
            for (int i = 0; i < sp->n; i++) w->x8[i * SAIL_MEL_LANES + f] = 0;
    }
    if (!sp->plan) sail_spectral()->power8(w->power, w->x8, sp->tw, sp->n);
}

void sail_frames_mel(const sail_melbank *b, sail_frame_work *w) {
    sail_spectral()->mel_block(w->mel, w->power, b->w, b->lo, b->hi, b->n_mels, b->n_bins);
}

/* Blocks of a fixed size, each checked without an early exit, so the
 * compiler vectorises the check; the first bad sample is then found in the
 * bad block. */
sail_status sail_audio_check_samples(const float *wave, int64_t n, sail_error *err) {
    enum { BLOCK = 1024 };
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int bad = 0;
        if (n - i0 >= BLOCK)
            for (int i = 0; i < BLOCK; i++) bad |= !(fabsf(wave[i0 + i]) <= SAIL_AUDIO_MAX_SAMPLE);
        else
            bad = 1;
        for (int64_t i = i0; bad && i < SAIL_MIN(n, i0 + BLOCK); i++)
            if (!(fabsf(wave[i]) <= SAIL_AUDIO_MAX_SAMPLE))
                return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                      "sample %lld is %g; audio features take samples of magnitude at most %g "
                                      "(decoded audio is in [-1, 1])", (long long)i, wave[i], SAIL_AUDIO_MAX_SAMPLE);
    }
    return SAIL_OK;
}
