/* swin_cfg.c: HTSAT's configuration (swin_cfg.h): its checks, its
 * sail.htsat.* metadata keys and the ClapFeatureExtractor front end that
 * makes its spectrograms. Apart from swin.c's forward pass, so what reads
 * or checks a model file needs no encoder code. */
#include "config.h"
#include "keys.h"

#include <stdio.h>
#include <string.h>

static const char *const pad_names[] = {"repeatpad", "repeat", "pad"};

int sail_swin_width(const sail_swin_cfg *c, int s) { return c->embed << s; }
int sail_swin_hidden(const sail_swin_cfg *c) { return sail_swin_width(c, c->stages - 1); }

int sail_swin_frames(const sail_swin_cfg *c) {
    return (int)sail_logmel_frames(&c->mel, c->max_samples);
}

int sail_swin_ffn(const sail_swin_cfg *c, int d) { return (int)((double)c->mlp_ratio * d); }

/* ------------------------------------------------------------ config -- */

sail_status sail_swin_check(const sail_config *c, sail_error *err) {
    const sail_swin_cfg *sc = &c->swin;
    int p = sc->patch, w = sc->window;
    if (sc->stages < 1 || sc->stages > SAIL_SWIN_MAX_STAGES)
        return sail_set_error(err, SAIL_ERR_FORMAT, "HTSAT: %d stages (depths); sail takes 1..%d", sc->stages,
                              SAIL_SWIN_MAX_STAGES);
    if (sc->embed < 1 || sc->embed > 4096 || (int64_t)sc->embed << (sc->stages - 1) > 16384)
        return sail_set_error(err, SAIL_ERR_FORMAT, "HTSAT: width %d doubling over %d stages is out of range "
                              "(at most 16384)", sc->embed, sc->stages);
    if (!(sc->eps > 0) || !(sc->mlp_ratio > 0) || sc->act < 0 || sc->act > SAIL_ACT_GELU_TANH)
        return sail_set_error(err, SAIL_ERR_FORMAT, "HTSAT: layer_norm_eps, mlp_ratio or the activation is invalid");
    if (sc->spec < 1 || sc->spec > 1024 || p < 1 || p > 64 || sc->spec % p || w < 1 || w > 64)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "HTSAT: spec_size %d must be a multiple of patch_size %d (spec_size 1..1024, patch "
                              "1..64) and window_size %d in 1..64", sc->spec, p, w);
    int g = sc->spec / p;
    for (int s = 0; s < sc->stages; s++) {
        int d = sail_swin_width(sc, s), r = g >> s;
        if (sc->depths[s] < 1 || sc->depths[s] > 64 || sc->heads[s] < 1 || d % sc->heads[s])
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "HTSAT stage %d: depth %d (1..64) and %d heads, which must divide its width %d", s,
                                  sc->depths[s], sc->heads[s], d);
        if (sail_swin_ffn(sc, d) < 1 || sail_swin_ffn(sc, d) > 65536)
            return sail_set_error(err, SAIL_ERR_FORMAT, "HTSAT stage %d: MLP width %d is out of range", s,
                                  sail_swin_ffn(sc, d));
        /* the original's bias table fits one window size only: a grid smaller
           than the window fails there, one not a multiple is padded (unsupported) */
        if ((r << s) != g || r < w || r % w)
            return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                                  "HTSAT stage %d: a %dx%d token grid (spec_size %d / patch %d, halved per stage) is "
                                  "not a multiple of window_size %d; sail needs every stage's grid to be one",
                                  s, r, r, sc->spec, p, w);
    }
    int m = sc->mel.n_mels, frames = sail_swin_frames(sc);
    if (frames < 1 || sc->max_samples < 1 || sc->max_samples > (1 << 26))
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "HTSAT front end: invalid log-mel parameters or max length %d samples", sc->max_samples);
    if (m < 1 || sc->spec % m || (int64_t)frames > (int64_t)sc->spec * (sc->spec / m))
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "HTSAT: %d mel bins x %d frames do not fold into a %dx%d image (spec_size must be a "
                              "multiple of the mel bins, frames at most spec_size^2 / mel bins)",
                              m, frames, sc->spec, sc->spec);
    if ((unsigned)sc->pad > SAIL_CLAP_PAD) return sail_set_error(err, SAIL_ERR_FORMAT, "HTSAT: unknown padding");
    if (sc->fusion && (sc->fuse_channels < 1 || sc->fuse_channels > 4096 || g < 3 || sc->spec < 3 * p))
        return sail_set_error(err, SAIL_ERR_FORMAT, "HTSAT fusion: %d channels (1..4096) or a grid of %d patches "
                              "(at least 3) is invalid", sc->fuse_channels, g);
    return SAIL_OK;
}

/* An integer array key of n_max values at most: its length in *n. */
static void get_ints(reader *k, const char *key, int *out, int *n) {
    const gguf_kv *kv = gguf_find_kv(k->f, key);
    if (k->s) return;
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->v.arr.n < 1 || kv->v.arr.n > SAIL_SWIN_MAX_STAGES) {
        k->s = sail_set_error(k->err, SAIL_ERR_FORMAT, "metadata %s is missing or not an array of 1..%d numbers", key,
                              SAIL_SWIN_MAX_STAGES);
        return;
    }
    float v[SAIL_SWIN_MAX_STAGES];
    if ((k->s = gguf_get_f32_array(k->f, key, v, kv->v.arr.n, k->err))) return;
    *n = (int)kv->v.arr.n;
    for (int i = 0; i < *n && !k->s; i++) {
        if (!(v[i] >= 0 && v[i] <= 1024)) /* before the cast, which a huge value would make undefined */
            k->s = sail_set_error(k->err, SAIL_ERR_FORMAT, "metadata %s[%d] is %g; expected 0..1024", key, i, v[i]);
        else
            out[i] = (int)v[i];
    }
}

sail_status sail_swin_read(const gguf_file *f, sail_config *c, sail_error *err) {
    sail_swin_cfg *sc = &c->swin;
    reader k = {f, err, SAIL_OK};
    int nd = 0, nh = 0, fmax_on = 0, pad = 0;
    sc->on = 1;
    get_ints(&k, "sail.htsat.depths", sc->depths, &nd);
    get_ints(&k, "sail.htsat.heads", sc->heads, &nh);
    if (!k.s && nd != nh) k.s = sail_set_error(err, SAIL_ERR_FORMAT, "sail.htsat.depths and heads differ in length");
    sc->stages = nd;
    get_int(&k, "sail.htsat.embed", &sc->embed);
    get_int(&k, "sail.htsat.window", &sc->window);
    get_int(&k, "sail.htsat.spec_size", &sc->spec);
    get_int(&k, "sail.htsat.patch_size", &sc->patch);
    get_float(&k, "sail.htsat.mlp_ratio", &sc->mlp_ratio);
    get_bool(&k, "sail.htsat.patch_norm", &sc->patch_norm);
    get_int(&k, "sail.htsat.act", &sc->act);
    get_float(&k, "sail.htsat.eps", &sc->eps);
    sail_logmel_params *m = &sc->mel;
    *m = sail_logmel_clap_params();
    get_int(&k, "sail.htsat.sample_rate", &m->sample_rate);
    get_int(&k, "sail.htsat.n_fft", &m->n_fft);
    get_int(&k, "sail.htsat.hop", &m->hop);
    get_int(&k, "sail.htsat.mel_bins", &m->n_mels);
    get_float(&k, "sail.htsat.fmin", &m->fmin);
    get_float(&k, "sail.htsat.fmax", &m->fmax);
    get_bool(&k, "sail.htsat.htk_mel", &m->htk_mel);
    get_bool(&k, "sail.htsat.slaney_norm", &fmax_on);
    m->slaney_norm = fmax_on;
    get_int(&k, "sail.htsat.max_samples", &sc->max_samples);
    get_enum(&k, "sail.htsat.padding", pad_names, 3, &pad);
    sc->pad = (sail_clap_pad)pad;
    if (gguf_find_kv(f, "sail.htsat.fusion")) {
        get_bool(&k, "sail.htsat.fusion", &sc->fusion);
        get_int(&k, "sail.htsat.fuse_channels", &sc->fuse_channels);
    }
    return k.s;
}

sail_status sail_swin_write(const sail_config *c, gguf_writer *w) {
    const sail_swin_cfg *sc = &c->swin;
    const sail_logmel_params *m = &sc->mel;
    int32_t d[SAIL_SWIN_MAX_STAGES], h[SAIL_SWIN_MAX_STAGES];
    for (int i = 0; i < sc->stages; i++) d[i] = sc->depths[i], h[i] = sc->heads[i];
    sail_status s = gguf_set_array(w, "sail.htsat.depths", GGUF_VT_I32, d, (uint64_t)sc->stages);
    if (!s) s = gguf_set_array(w, "sail.htsat.heads", GGUF_VT_I32, h, (uint64_t)sc->stages);
    if (!s) s = gguf_set_i32(w, "sail.htsat.embed", sc->embed);
    if (!s) s = gguf_set_i32(w, "sail.htsat.window", sc->window);
    if (!s) s = gguf_set_i32(w, "sail.htsat.spec_size", sc->spec);
    if (!s) s = gguf_set_i32(w, "sail.htsat.patch_size", sc->patch);
    if (!s) s = gguf_set_f32(w, "sail.htsat.mlp_ratio", sc->mlp_ratio);
    if (!s) s = gguf_set_bool(w, "sail.htsat.patch_norm", sc->patch_norm);
    if (!s) s = gguf_set_i32(w, "sail.htsat.act", sc->act);
    if (!s) s = gguf_set_f32(w, "sail.htsat.eps", sc->eps);
    if (!s) s = gguf_set_i32(w, "sail.htsat.sample_rate", m->sample_rate);
    if (!s) s = gguf_set_i32(w, "sail.htsat.n_fft", m->n_fft);
    if (!s) s = gguf_set_i32(w, "sail.htsat.hop", m->hop);
    if (!s) s = gguf_set_i32(w, "sail.htsat.mel_bins", m->n_mels);
    if (!s) s = gguf_set_f32(w, "sail.htsat.fmin", m->fmin);
    if (!s) s = gguf_set_f32(w, "sail.htsat.fmax", m->fmax);
    if (!s) s = gguf_set_bool(w, "sail.htsat.htk_mel", m->htk_mel);
    if (!s) s = gguf_set_bool(w, "sail.htsat.slaney_norm", m->slaney_norm);
    if (!s) s = gguf_set_i32(w, "sail.htsat.max_samples", sc->max_samples);
    if (!s) s = gguf_set_str(w, "sail.htsat.padding", pad_names[sc->pad]);
    if (!s && sc->fusion) s = gguf_set_bool(w, "sail.htsat.fusion", 1);
    if (!s && sc->fusion) s = gguf_set_i32(w, "sail.htsat.fuse_channels", sc->fuse_channels);
    return s;
}

void sail_swin_describe(const sail_config *c, char *buf, size_t cap) {
    const sail_swin_cfg *sc = &c->swin;
    char depths[64] = "", heads[64] = "";
    size_t nd = 0, nh = 0;
    for (int i = 0; i < sc->stages; i++) {
        nd += (size_t)snprintf(depths + nd, sizeof depths - nd, "%s%d", i ? "," : "", sc->depths[i]);
        nh += (size_t)snprintf(heads + nh, sizeof heads - nh, "%s%d", i ? "," : "", sc->heads[i]);
    }
    snprintf(buf, cap,
             " audio=htsat audio_depths=%s audio_heads=%s audio_embed=%d audio_width=%d audio_window=%d "
             "audio_spec=%d audio_patch=%d audio_rate=%d audio_mel_bins=%d audio_fft=%d/%d audio_band=%g..%g "
             "audio_max_samples=%d audio_padding=%s audio_fusion=%d",
             depths, heads, sc->embed, sail_swin_hidden(sc), sc->window, sc->spec, sc->patch,
             sc->mel.sample_rate, sc->mel.n_mels, sc->mel.n_fft, sc->mel.hop, sc->mel.fmin, sc->mel.fmax,
             sc->max_samples, pad_names[sc->pad], sc->fusion ? sc->fuse_channels : 0);
}

/* --------------------------------------------------------- front end -- */

/* A clip longer than max_samples for the fusion: its whole log-mel (total
 * frames) cropped to `frames` at the middle of each third of the possible
 * starts (np.array_split's thirds; an empty third starts at 0), then the
 * whole shrunk to `frames` (F.interpolate bilinear, align_corners=False,
 * in float as torch runs it). */
static sail_status fused_long(const sail_swin_cfg *sc, const float *wave, int64_t n, float *spec, sail_error *err) {
    int m = sc->mel.n_mels, frames = sail_swin_frames(sc);
    int64_t total = sail_logmel_frames(&sc->mel, n);
    float *whole = total > 0 ? sail_malloc((size_t)total * m * sizeof *whole) : NULL; /* (total, m) */
    if (!whole) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the audio features");
    sail_status s = sail_logmel(&sc->mel, wave, n, whole, err);
    int64_t starts = total - frames + 1, q = starts / 3, r = starts % 3;
    for (int k = 0; !s && k < 3; k++) {
        int64_t len = q + (k < r), at = k * q + SAIL_MIN(k, r), idx = len ? at + len / 2 : 0;
        for (int t = 0; t < frames; t++)
            for (int b = 0; b < m; b++)
                spec[((size_t)k * m + b) * frames + t] = whole[(size_t)(idx + t) * m + b];
    }
    float scale = (float)total / (float)frames;
    for (int t = 0; !s && t < frames; t++) {
        float src = scale * ((float)t + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int64_t i0 = (int64_t)src, i1 = i0 + (i0 < total - 1);
        float l1 = src - (float)i0, l0 = 1.0f - l1;
        for (int b = 0; b < m; b++)
            spec[((size_t)3 * m + b) * frames + t] = l0 * whole[(size_t)i0 * m + b] + l1 * whole[(size_t)i1 * m + b];
    }
    sail_free(whole);
    return s;
}

sail_status sail_swin_spectrogram(const sail_config *c, const float *wave, int64_t n, float *spec,
                                  sail_error *err) {
    const sail_swin_cfg *sc = &c->swin;
    int64_t len = sc->max_samples;
    int m = sc->mel.n_mels, frames = sail_swin_frames(sc);
    if (n < 1) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the clip has no samples");
    /* a clip of one chunk more than fits makes exactly `frames`: four copies, as a shorter one */
    if (sc->fusion && n > len && sail_logmel_frames(&sc->mel, n) != frames) return fused_long(sc, wave, n, spec, err);
    if (sc->fusion && n > len) len = n;
    float *buf = sail_calloc((size_t)len, sizeof *buf);
    float *tf = sail_malloc((size_t)frames * m * sizeof *tf); /* (frames, mels) */
    sail_status s = buf && tf ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the audio features");
    if (!s) {
        /* a longer clip: its first max_samples (the original crops at random) */
        int64_t copies = n >= len ? 1 : sc->pad == SAIL_CLAP_PAD ? 1 : sc->pad == SAIL_CLAP_REPEAT ? len / n + 1 : len / n;
        for (int64_t i = 0, at = 0; i < copies && at < len; i++, at += n)
            memcpy(buf + at, wave, (size_t)SAIL_MIN(n, len - at) * sizeof *buf);
        s = sail_logmel(&sc->mel, buf, len, tf, err);
    }
    for (int t = 0; !s && t < frames; t++)
        for (int b = 0; b < m; b++) spec[(size_t)b * frames + t] = tf[(size_t)t * m + b];
    for (int k = 1; !s && sc->fusion && k < 4; k++)
        memcpy(spec + (size_t)k * m * frames, spec, (size_t)m * frames * sizeof *spec);
    sail_free(buf);
    sail_free(tf);
    return s;
}
