/* embed_audio.c: the public audio embedding calls. Clips (files, encoded
 * bytes or samples) are decoded and resampled to the model's rate, turned
 * into the spectrogram its audio tower reads (src/model/inputs.c), a few at
 * a time so memory stays at one batch, and embedded. Decoding and features
 * run outside the model lock. */
#include "audio/audio_impl.h"
#include "model/model.h"

#include <string.h>

enum { CLIP_BATCH = 4 };

/* Clip i decoded to mono at the model's rate. */
typedef sail_status (*clip_source)(void *ctx, int i, const sail_audio_options *o, sail_audio *a,
                                   sail_error *err);

static sail_status embed_clips(sail_model *m, clip_source get, void *ctx, int n, int dim, float *out,
                               sail_error *err) {
    if (!m) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model is NULL");
    if (n < 0 || (n && !out)) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "bad clip count %d or NULL output", n);
    if (!sail_has_audio(&m->cfg)) return sail_no_encoder(&m->cfg, "audio", err);
    if (!n) return SAIL_OK;
    sail_vit_geom g = sail_vit_audio(&m->cfg);
    size_t per = (size_t)g.h * g.w;
    float *spec = sail_malloc((size_t)SAIL_MIN(n, CLIP_BATCH) * per * sizeof *spec);
    if (!spec) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the audio features");
    sail_audio_options o = sail_config_audio_options(&m->cfg);
    sail_status s = SAIL_OK;
    /* a bad dim: its message (sail_embed_spectrograms checks it first), before any decoding */
    if (dim < 0 || dim > m->cfg.dim) s = sail_embed_spectrograms(m, spec, 1, dim, out, err);
    for (int i = 0; i < n && !s; i += CLIP_BATCH) {
        int nb = SAIL_MIN(CLIP_BATCH, n - i);
        for (int j = 0; j < nb && !s; j++) {
            sail_audio a = {0};
            s = get(ctx, i + j, &o, &a, err);
            if (!s) s = sail_audio_spectrogram(&m->cfg, a.samples, a.n, spec + (size_t)j * per, err);
            sail_audio_free(&a);
            if (s && n > 1) sail_error_prefix(err, "clip %d", i + j);
        }
        if (!s) s = sail_embed_spectrograms(m, spec, nb, dim, out + (size_t)i * (dim ? dim : m->cfg.dim), err);
    }
    sail_free(spec);
    return s;
}

static sail_status from_file(void *ctx, int i, const sail_audio_options *o, sail_audio *a, sail_error *err) {
    const char *const *paths = ctx;
    if (!paths[i]) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "audio path %d is NULL", i);
    return sail_audio_decode_file(paths[i], o, a, err);
}

typedef struct bytes_src { const void *const *data; const size_t *sizes; } bytes_src;

static sail_status from_bytes(void *ctx, int i, const sail_audio_options *o, sail_audio *a, sail_error *err) {
    const bytes_src *b = ctx;
    return sail_audio_decode_bytes(b->data[i], b->sizes[i], o, a, err);
}

typedef struct pcm_src { const float *samples; int64_t n; int rate; } pcm_src;

static sail_status from_pcm(void *ctx, int i, const sail_audio_options *o, sail_audio *a, sail_error *err) {
    const pcm_src *p = ctx;
    (void)i;
    return sail_audio_resample(p->samples, p->n, p->rate, o->sample_rate, a, err);
}

sail_status sail_embed_audio_files(sail_model *m, const char *const *paths, int n, int dim, float *out,
                                   sail_error *err) {
    if (n > 0 && !paths) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "paths is NULL");
    return embed_clips(m, from_file, (void *)paths, n, dim, out, err);
}

sail_status sail_embed_audio_bytes(sail_model *m, const void *const *data, const size_t *sizes, int n, int dim,
                                   float *out, sail_error *err) {
    if (n > 0 && (!data || !sizes)) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "data or sizes is NULL");
    bytes_src b = {data, sizes};
    return embed_clips(m, from_bytes, &b, n, dim, out, err);
}

sail_status sail_embed_audio_pcm(sail_model *m, const float *samples, int64_t n_samples, int rate, int dim,
                                 float *out, sail_error *err) {
    if (!samples || n_samples < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no samples (samples %s, n_samples = %lld)",
                              samples ? "given" : "NULL", (long long)n_samples);
    pcm_src p = {samples, n_samples, rate};
    return embed_clips(m, from_pcm, &p, 1, dim, out, err);
}

sail_status sail_model_fbank_params(const sail_model *m, sail_fbank_params *out, sail_error *err) {
    if (!m || !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model or output is NULL");
    if (!sail_has_audio(&m->cfg)) return sail_no_encoder(&m->cfg, "audio", err);
    if (m->cfg.swin.on)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "this model's audio tower (CLAP's HTSAT) reads a log-mel "
                              "spectrogram (sail_logmel), not a Kaldi fbank");
    *out = m->cfg.audio.fbank;
    return SAIL_OK;
}
