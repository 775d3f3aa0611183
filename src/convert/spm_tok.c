/* spm_tok.c: SigLIP's tokenizer files (spiece.model, tokenizer_config.json,
 * special_tokens_map.json) into a sail model's tokenizer keys, read the way
 * transformers' SiglipTokenizer reads them. docs/FORMAT.md lists the keys;
 * docs/TOKENIZERS.md the tokenizer. */
#include "convert.h"
#include "model/inputs.h"

#include <stdio.h>
#include <string.h>

/* spiece.model as bytes (1 GiB at most: a 256k-piece model is ~4 MB). */
static sail_status read_model(const char *dir, uint8_t **out, size_t *n, sail_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp) return sail_set_error(err, SAIL_ERR_IO, "%s is missing (SigLIP's SentencePiece model)", path);
    long len = fseek(fp, 0, SEEK_END) ? -1 : ftell(fp);
    sail_status s = len > 0 && len <= (1L << 30) && !fseek(fp, 0, SEEK_SET)
                        ? SAIL_OK
                        : sail_set_error(err, SAIL_ERR_FORMAT, "%s is empty, unreadable or over 1 GiB", path);
    if (!s && !(*out = sail_malloc((size_t)len))) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (!s && fread(*out, 1, (size_t)len, fp) != (size_t)len) s = sail_set_error(err, SAIL_ERR_IO, "%s: read failed", path);
    fclose(fp);
    *n = s ? 0 : (size_t)len;
    return s;
}

/* A special token's text: tokenizer_config.json, then
 * special_tokens_map.json (a string or {"content": ...}), then def. */
static const char *special(const json_t *tc, const json_t *sm, const char *key, const char *def) {
    const json_t *srcs[2] = {tc, sm};
    for (int i = 0; i < 2; i++) {
        const json_t *v = srcs[i] ? json_object_get(srcs[i], key) : NULL;
        if (json_is_object(v)) v = json_object_get(v, "content");
        if (json_is_string(v)) return json_string_value(v);
    }
    return def;
}

/* The ids of SiglipTokenizer's eos / unk / pad (defaults "</s>", "<unk>",
 * "</s>") among probe's pieces, and do_lower_case (default true). */
static sail_status read_config(const sail_spm *probe, const json_t *tc, const json_t *sm, sail_spm_config *sc,
                               sail_error *err) {
    static const char *const keys[3] = {"eos_token", "unk_token", "pad_token"};
    static const char *const defs[3] = {"</s>", "<unk>", "</s>"};
    int32_t *slots[3] = {&sc->eos, &sc->unk, &sc->pad};
    for (int i = 0; i < 3; i++) {
        const char *name = special(tc, sm, keys[i], defs[i]);
        if ((*slots[i] = sail_spm_piece_id(probe, name)) < 0)
            return sail_set_error(err, SAIL_ERR_FORMAT, "spiece.model has no piece '%.60s' (the %s)", name, keys[i]);
    }
    const json_t *lc = tc ? json_object_get(tc, "do_lower_case") : NULL;
    sc->lowercase = !json_is_false(lc);
    return SAIL_OK;
}

/* model_max_length (SiglipTokenizer's default 64): the padded length the
 * model sees, at most its position table. */
static sail_status context(const json_t *tc, sail_config *c, sail_error *err) {
    const json_t *v = tc ? json_object_get(tc, "model_max_length") : NULL;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : v ? -1 : 64;
    if (n < 3 || n > c->max_positions)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "tokenizer_config.json: model_max_length must be an integer in 3..%d (the model's "
                              "max_position_embeddings): SigLIP pads every text to it",
                              c->max_positions);
    c->context = (int)n;
    return SAIL_OK;
}

/* The vocabulary as stored: the pieces in id order and the model bytes. */
static sail_status vocab(const sail_spm *spm, uint8_t *bytes, size_t n, int lowercase, sail_vocab_kv *v,
                         sail_error *err) {
    v->spm = bytes; /* owned by v from here on */
    v->n_spm = n;
    v->spm_lowercase = lowercase;
    v->n = sail_spm_size(spm);
    if (!(v->tokens = sail_calloc((size_t)v->n, sizeof *v->tokens))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < v->n; i++)
        if (!(v->tokens[i] = sail_strdup(sail_spm_id_piece(spm, i)))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    return SAIL_OK;
}

sail_status hf_spm_write(const char *dir, sail_config *c, gguf_writer *w, sail_error *err) {
    uint8_t *bytes = NULL;
    size_t n = 0;
    sail_spm *probe = NULL, *spm = NULL;
    sail_spm_config sc = {0};
    sail_vocab_kv v = {0};
    json_t *tc = NULL, *sm = NULL;
    sail_status s = read_model(dir, &bytes, &n, err);
    /* explicit ids (0 exists in any loaded model): the pieces are all we need of it */
    if (!s && !(probe = sail_spm_new(bytes, n, &sc, err))) s = err && err->status ? err->status : SAIL_ERR_FORMAT;
    if (!s && !(tc = hf_json(dir, "tokenizer_config.json", 0, err)) && err && err->status) s = err->status;
    if (!s && !(sm = hf_json(dir, "special_tokens_map.json", 0, err)) && err && err->status) s = err->status;
    if (!s) s = read_config(probe, tc, sm, &sc, err);
    if (!s && sail_spm_size(probe) != c->vocab_size)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "spiece.model has %d pieces but config.json's vocab_size is %d",
                           sail_spm_size(probe), c->vocab_size);
    if (!s) s = context(tc, c, err);
    /* the tokenizer must build as the model will load it */
    if (!s && !(spm = sail_spm_new(bytes, n, &sc, err))) s = err && err->status ? err->status : SAIL_ERR_FORMAT;
    if (s) sail_free(bytes);
    else s = vocab(spm, bytes, n, sc.lowercase, &v, err);
    if (!s) s = sail_vocab_kv_write(&v, w);
    if (!s) {
        c->towers.spm = 1;
        c->towers.bpe = 0;
        c->pad_id = sc.pad;
        c->unk_id = sc.unk;
        c->sep_id = c->cls_id = sc.eos; /* SigLIP has no start token */
    }
    sail_vocab_kv_free(&v);
    sail_spm_free(probe);
    sail_spm_free(spm);
    json_decref(tc);
    json_decref(sm);
    return s;
}
