/* inputs.c: the model's tokenizer and image preprocessing (inputs.h). */
#include "inputs.h"

#include <string.h>

/* A string array of the file as n NUL-terminated copies. */
static sail_status str_array(const gguf_file *f, const char *key, char ***out, int *n_out,
                             sail_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_STRING || kv->v.arr.n > (1u << 24))
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s (an array of at most 2^24 strings) is missing", key);
    int n = (int)kv->v.arr.n;
    char **v = sail_calloc(n ? (size_t)n : 1, sizeof *v);
    if (!v) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        gguf_str g = kv->v.arr.strs[i];
        if (!(v[i] = sail_malloc(g.len + 1))) {
            sail_vocab_free(v, n);
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        }
        memcpy(v[i], g.ptr, g.len);
        v[i][g.len] = 0;
    }
    *out = v;
    *n_out = n;
    return SAIL_OK;
}

/* The SentencePiece keys: the spiece.model bytes (copied out of the
 * mapping) and do_lower_case (SiglipTokenizer's default when absent). */
static sail_status spm_keys(const gguf_file *f, sail_vocab_kv *v, sail_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, "tokenizer.spm.model");
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_U8 || !kv->v.arr.n || kv->v.arr.n > (1u << 30))
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "tokenizer.spm.model (the spiece.model bytes, a uint8 array of 1 byte to 1 GiB) is missing");
    if (!(v->spm = sail_malloc(kv->v.arr.n))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    memcpy(v->spm, kv->v.arr.data, kv->v.arr.n);
    v->n_spm = kv->v.arr.n;
    v->spm_lowercase = 1;
    if (gguf_find_kv(f, "tokenizer.spm.lowercase"))
        return gguf_get_bool(f, "tokenizer.spm.lowercase", &v->spm_lowercase, err);
    return SAIL_OK;
}

sail_status sail_vocab_kv_read(const gguf_file *f, const sail_config *c, sail_vocab_kv *v,
                               sail_error *err) {
    memset(v, 0, sizeof *v);
    sail_status s = str_array(f, "tokenizer.ggml.tokens", &v->tokens, &v->n, err);
    if (!s && v->n != c->vocab_size)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "the vocabulary has %d tokens but sail.text.vocab_size is %d",
                           v->n, c->vocab_size);
    if (!s && c->towers.bpe) s = str_array(f, "tokenizer.ggml.merges", &v->merges, &v->n_merges, err);
    v->gpt2 = c->towers.bpe == 2;
    if (!s && c->towers.spm) s = spm_keys(f, v, err);
    if (s) sail_vocab_kv_free(v);
    return s;
}

sail_status sail_vocab_kv_write(const sail_vocab_kv *v, gguf_writer *w) {
    sail_status s = gguf_set_str(w, "tokenizer.ggml.model", v->merges ? (v->gpt2 ? "gpt2" : "clip") : v->spm ? "spm" : "bert");
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (uint64_t)v->n);
    if (!s && v->merges)
        s = gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (uint64_t)v->n_merges);
    if (!s && v->spm) s = gguf_set_array(w, "tokenizer.spm.model", GGUF_VT_U8, v->spm, v->n_spm);
    if (!s && v->spm) s = gguf_set_bool(w, "tokenizer.spm.lowercase", v->spm_lowercase);
    return s;
}

void sail_vocab_kv_free(sail_vocab_kv *v) {
    if (v->tokens) sail_vocab_free(v->tokens, v->n);
    if (v->merges) sail_vocab_free(v->merges, v->n_merges);
    sail_free(v->spm);
    memset(v, 0, sizeof *v);
}

/* SigLIP's tokenizer over the stored spiece.model; its pieces must be the
 * stored tokens, which the model's embedding rows follow. */
static sail_status spm_init(sail_text_tok *t, const sail_vocab_kv *v, const sail_config *c, sail_error *err) {
    sail_spm_config sc = {.lowercase = v->spm_lowercase, .eos = c->sep_id, .unk = c->unk_id, .pad = c->pad_id};
    if (!v->spm) return sail_set_error(err, SAIL_ERR_FORMAT, "the model has no tokenizer.spm.model");
    if (!(t->spm = sail_spm_new(v->spm, v->n_spm, &sc, err))) return err && err->status ? err->status : SAIL_ERR_FORMAT;
    int n = sail_spm_size(t->spm);
    for (int i = 0; i < n && i < v->n; i++)
        if (strcmp(sail_spm_id_piece(t->spm, i), v->tokens[i]))
            return sail_set_error(err, SAIL_ERR_FORMAT, "tokenizer.spm.model's piece %d is '%s' but tokenizer.ggml.tokens has '%s'",
                                  i, sail_spm_id_piece(t->spm, i), v->tokens[i]);
    if (n != v->n)
        return sail_set_error(err, SAIL_ERR_FORMAT, "tokenizer.spm.model has %d pieces but tokenizer.ggml.tokens has %d", n, v->n);
    return SAIL_OK;
}

sail_status sail_text_tok_init(sail_text_tok *t, const sail_vocab_kv *v, const sail_config *c,
                               sail_error *err) {
    *t = (sail_text_tok){.cls = c->cls_id, .sep = c->sep_id, .pad = c->pad_id, .context = c->context,
                         .embeds = sail_config_embeds(c)};
    if (c->towers.on && !c->towers.has_text) return SAIL_OK;
    if (c->towers.spm) return spm_init(t, v, c, err);
    if (c->towers.bpe)
        t->bpe = sail_bpe_new((const char *const *)v->tokens, v->n, (const char *const *)v->merges, v->n_merges,
                              c->towers.bpe == 2 ? SAIL_BPE_GPT2 : SAIL_BPE_CLIP, err);
    else
        t->wp = sail_wordpiece_new((const char *const *)v->tokens, v->n, err);
    return t->bpe || t->wp ? SAIL_OK : (err && err->status ? err->status : SAIL_ERR_FORMAT);
}

void sail_text_tok_free(sail_text_tok *t) {
    sail_wordpiece_free(t->wp);
    sail_bpe_free(t->bpe);
    sail_spm_free(t->spm);
    t->wp = NULL;
    t->bpe = NULL;
    t->spm = NULL;
}

static sail_status pieces(const sail_text_tok *t, const char *text, size_t len, int32_t *ids, size_t cap,
                          size_t *n, sail_error *err) {
    if (t->bpe) return sail_bpe_encode(t->bpe, text, len, ids, cap, n, err);
    if (t->spm) return sail_spm_encode(t->spm, text, len, ids, cap, n, err);
    if (t->wp) return sail_wordpiece_encode(t->wp, text, len, ids, cap, n, err);
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "this model has no text encoder (it embeds %s)", t->embeds);
}

/* SigLIP: no start token; pieces + eos, padded to the context. */
static sail_status spm_encode(const sail_text_tok *t, const char *text, size_t len, int32_t *ids, int *n_real,
                              sail_error *err) {
    size_t n = 0, cap = (size_t)t->context - 1;
    sail_status s = sail_spm_encode(t->spm, text, len, ids, cap, &n, err);
    return s ? s : sail_spm_context(ids, SAIL_MIN(n, cap), t->sep, t->pad, t->context, ids, n_real, err);
}

/* The length before truncation: pieces + the eos, which is not added when
 * the text already ends with one (so the last id is needed). */
static sail_status spm_count(const sail_text_tok *t, const char *text, size_t len, int *n, sail_error *err) {
    size_t k = 0;
    sail_status s = sail_spm_encode(t->spm, text, len, NULL, 0, &k, err);
    if (s || !k) {
        *n = 1;
        return s;
    }
    int32_t *ids = sail_malloc(k * sizeof *ids);
    if (!ids) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory (%zu tokens)", k);
    s = sail_spm_encode(t->spm, text, len, ids, k, &k, err);
    if (!s) *n = k >= (size_t)INT32_MAX ? INT32_MAX : (int)k + (ids[k - 1] != t->sep);
    sail_free(ids);
    return s;
}

sail_status sail_text_tok_encode(const sail_text_tok *t, const char *text, size_t len, int32_t *ids,
                                 int *n_real, sail_error *err) {
    if (!text || !ids) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "text or ids is NULL");
    if (t->spm) return spm_encode(t, text, len, ids, n_real, err);
    size_t n = 0, cap = (size_t)t->context - 2;
    /* pieces land after [CLS] in place: only the first context-2 count */
    sail_status s = pieces(t, text, len, ids + 1, cap, &n, err);
    if (s) return s;
    if (t->bpe) return sail_bpe_context(ids + 1, SAIL_MIN(n, cap), t->cls, t->sep, t->pad, t->context, ids, n_real, err);
    return sail_wordpiece_context(ids + 1, SAIL_MIN(n, cap), t->cls, t->sep, t->pad, t->context, ids, n_real, err);
}

sail_status sail_text_tok_count(const sail_text_tok *t, const char *text, size_t len, int *n,
                                sail_error *err) {
    if ((!text && len) || !n) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "text or count is NULL");
    if (t->spm) return spm_count(t, text ? text : "", len, n, err);
    size_t k = 0;
    sail_status s = pieces(t, text ? text : "", len, NULL, 0, &k, err);
    if (s) return s;
    *n = k > (size_t)INT32_MAX - 2 ? INT32_MAX : (int)k + 2;
    return SAIL_OK;
}

sail_preprocess sail_config_preprocess(const sail_config *c) {
    sail_preprocess p = {.size = c->pre_size, .crop = c->pre_crop, .resample = (sail_resample)c->resample};
    memcpy(p.mean, c->mean, sizeof p.mean);
    memcpy(p.std, c->std, sizeof p.std);
    p.crop_floor = c->crop_floor;
    return p;
}

sail_audio_options sail_config_audio_options(const sail_config *c) {
    sail_audio_options o = {c->swin.on ? c->swin.mel.sample_rate : c->audio.fbank.sample_rate, 0, 0};
    return o;
}

sail_status sail_audio_spectrogram(const sail_config *c, const float *wave, int64_t n, float *spec,
                                   sail_error *err) {
    if (!sail_has_audio(c)) return sail_no_encoder(c, "audio", err);
    if (c->swin.on) return sail_swin_spectrogram(c, wave, n, spec, err);
    const sail_fbank_params *p = &c->audio.fbank;
    int bins = p->num_mel_bins, frames = p->max_length;
    float *tf = sail_malloc((size_t)frames * bins * sizeof *tf); /* (frames, bins) */
    if (!tf) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the audio features");
    sail_status s = sail_fbank(p, wave, n, tf, err);
    for (int t = 0; !s && t < frames; t++)
        for (int b = 0; b < bins; b++) spec[(size_t)b * frames + t] = tf[(size_t)t * bins + b];
    sail_free(tf);
    return s;
}

const char *sail_config_embeds(const sail_config *c) {
    const sail_towers *t = &c->towers;
    int text = !t->on || t->has_text, image = !t->on || t->has_vision, audio = sail_has_audio(c);
    static const char *const names[8] = {"nothing", "texts only", "images only", "texts and images", "audio only",
                                         "texts and audio", "images and audio", "texts, images and audio"};
    return names[text | image << 1 | audio << 2];
}

sail_status sail_no_encoder(const sail_config *c, const char *which, sail_error *err) {
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "this model has no %s encoder (it embeds %s)%s", which,
                          sail_config_embeds(c),
                          strcmp(which, "audio") ? ""
                                                 : "; use an audio model, e.g. an Audio Spectrogram Transformer "
                                                   "imported with `sail convert`");
}
