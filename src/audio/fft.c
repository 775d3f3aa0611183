/* fft.c: FFTW double-precision plans (why double: audio_impl.h), made once per size and kept for the
 * life of the process, and the mel filter bank helpers both front ends use.
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
static struct {
    int n;
    fftw_plan plan;
} g_plans[MAX_PLANS];
static int g_n_plans;

static fftw_plan make_plan(int n) {
    double *in = sail_alloc_aligned((size_t)n * sizeof(double));
    fftw_complex *out = sail_alloc_aligned((size_t)(n / 2 + 1) * sizeof(fftw_complex));
    fftw_plan p = in && out ? fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE) : NULL;
    sail_free(in);
    sail_free(out);
    return p;
}

sail_status sail_fft_plan_r2c(int n, fftw_plan *out, sail_error *err) {
    if (n < 2 || n > (1 << 20))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "FFT size %d is not in 2..%d", n, 1 << 20);
    sail_status s = SAIL_OK;
    pthread_mutex_lock(&g_lock);
    int i = 0;
    while (i < g_n_plans && g_plans[i].n != n) i++;
    if (i == g_n_plans) {
        fftw_plan p = i < MAX_PLANS ? make_plan(n) : NULL;
        if (i >= MAX_PLANS)
            s = sail_set_error(err, SAIL_ERR_LIMIT, "more than %d distinct FFT sizes in one process", MAX_PLANS);
        else if (!p)
            s = sail_set_error(err, SAIL_ERR_NOMEM, "FFTW could not plan a transform of size %d", n);
        else {
            g_plans[i].n = n;
            g_plans[i].plan = p;
            g_n_plans++;
        }
    }
    if (!s) *out = g_plans[i].plan;
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

void sail_melbank_apply(const sail_melbank *b, const double *power, double *out) {
    for (int m = 0; m < b->n_mels; m++) {
        const float *w = b->w + (size_t)m * b->n_bins;
        double acc = 0;
        for (int k = b->lo[m]; k < b->hi[m]; k++) acc += w[k] * power[k];
        out[m] = acc;
    }
}

void sail_melbank_free(sail_melbank *b) {
    sail_free(b->lo);
    sail_free(b->hi);
    sail_free(b->w);
    memset(b, 0, sizeof *b);
}

sail_status sail_frame_work_alloc(sail_frame_work *w, int win_len, int n_fft, int n_mels, const char *what,
                                  sail_error *err) {
    size_t nb = (size_t)n_fft / 2 + 1, at[5], total = 0;
    size_t bytes[5] = {(size_t)win_len * sizeof(double), (size_t)n_fft * sizeof(double), nb * sizeof(fftw_complex),
                       nb * sizeof(double), (size_t)n_mels * sizeof(double)};
    for (int i = 0; i < 5; i++) {
        at[i] = total;
        total += (bytes[i] + 63) & ~(size_t)63;
    }
    uint8_t *p = sail_alloc_aligned(total);
    memset(w, 0, sizeof *w);
    if (!p) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %s buffers", what);
    *w = (sail_frame_work){p, (double *)(p + at[0]), (double *)(p + at[1]), (fftw_complex *)(p + at[2]),
                           (double *)(p + at[3]), (double *)(p + at[4])};
    return SAIL_OK;
}

void sail_frame_work_free(sail_frame_work *w) {
    sail_free(w->block);
    memset(w, 0, sizeof *w);
}

void sail_frame_mel(const sail_melbank *b, fftw_plan plan, sail_frame_work *w) {
    fftw_execute_dft_r2c(plan, w->buf, w->spec);
    for (int k = 0; k < b->n_bins; k++) w->power[k] = w->spec[k][0] * w->spec[k][0] + w->spec[k][1] * w->spec[k][1];
    sail_melbank_apply(b, w->power, w->mel);
}

sail_status sail_audio_check_samples(const float *wave, int64_t n, sail_error *err) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(wave[i]) <= SAIL_AUDIO_MAX_SAMPLE))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                  "sample %lld is %g; audio features take samples of magnitude at most %g "
                                  "(decoded audio is in [-1, 1])", (long long)i, wave[i], SAIL_AUDIO_MAX_SAMPLE);
    return SAIL_OK;
}
