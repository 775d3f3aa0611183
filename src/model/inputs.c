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

sail_status sail_vocab_kv_read(const gguf_file *f, const sail_config *c, sail_vocab_kv *v,
                               sail_error *err) {
    memset(v, 0, sizeof *v);
    sail_status s = str_array(f, "tokenizer.ggml.tokens", &v->tokens, &v->n, err);
    if (!s && v->n != c->vocab_size)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "the vocabulary has %d tokens but sail.text.vocab_size is %d",
                           v->n, c->vocab_size);
    if (!s && c->towers.bpe) s = str_array(f, "tokenizer.ggml.merges", &v->merges, &v->n_merges, err);
    if (s) sail_vocab_kv_free(v);
    return s;
}

sail_status sail_vocab_kv_write(const sail_vocab_kv *v, gguf_writer *w) {
    sail_status s = gguf_set_str(w, "tokenizer.ggml.model", v->merges ? "clip" : "bert");
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (uint64_t)v->n);
    if (!s && v->merges)
        s = gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (uint64_t)v->n_merges);
    return s;
}

void sail_vocab_kv_free(sail_vocab_kv *v) {
    if (v->tokens) sail_vocab_free(v->tokens, v->n);
    if (v->merges) sail_vocab_free(v->merges, v->n_merges);
    memset(v, 0, sizeof *v);
}

sail_status sail_text_tok_init(sail_text_tok *t, const sail_vocab_kv *v, const sail_config *c,
                               sail_error *err) {
    *t = (sail_text_tok){.cls = c->cls_id, .sep = c->sep_id, .pad = c->pad_id, .context = c->context};
    if (c->towers.on && !c->towers.has_text) return SAIL_OK;
    if (c->towers.bpe)
        t->bpe = sail_bpe_new((const char *const *)v->tokens, v->n, (const char *const *)v->merges, v->n_merges, err);
    else
        t->wp = sail_wordpiece_new((const char *const *)v->tokens, v->n, err);
    return t->bpe || t->wp ? SAIL_OK : (err && err->status ? err->status : SAIL_ERR_FORMAT);
}

void sail_text_tok_free(sail_text_tok *t) {
    sail_wordpiece_free(t->wp);
    sail_bpe_free(t->bpe);
    t->wp = NULL;
    t->bpe = NULL;
}

static sail_status pieces(const sail_text_tok *t, const char *text, size_t len, int32_t *ids, size_t cap,
                          size_t *n, sail_error *err) {
    if (t->bpe) return sail_bpe_encode(t->bpe, text, len, ids, cap, n, err);
    if (t->wp) return sail_wordpiece_encode(t->wp, text, len, ids, cap, n, err);
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "this model has no text encoder (it embeds images only)");
}

sail_status sail_text_tok_encode(const sail_text_tok *t, const char *text, size_t len, int32_t *ids,
                                 int *n_real, sail_error *err) {
    if (!text || !ids) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "text or ids is NULL");
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
