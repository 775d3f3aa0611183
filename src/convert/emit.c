/* emit.c: what every importer shares (convert.c's Hugging Face folders,
 * clipcpp.c, openclip.c): the checkpoint's tensors (hf_source), the name
 * map, the tokenizer files, and hf_emit, which writes the sail file. The
 * tensors are walked in sail's own order (model/weights.c), each looked up
 * under its checkpoint name, shape-checked against the config and converted
 * to f32; a tensor missing, misshaped or left over is an error that names
 * it. */
#include "convert.h"

#include "format/gguf.h"
#include "format/ptzip.h"
#include "model/weights.h"
#include "sail.h"
#include "text/bpe.h"
#include "text/wordpiece.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* --------------------------------------------------------- weights -- */

int hf_exists(const char *dir, const char *file) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &st) == 0;
}

static sail_status add_st(hf_source *src, const char *dir, const char *file, sail_error *err) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, file) >= (int)sizeof p || strstr(file, "..") || strchr(file, '/'))
        return sail_set_error(err, SAIL_ERR_FORMAT, "shard name '%.200s' is not a plain file name", file);
    sail_st_file **st = sail_realloc(src->st, (size_t)(src->n_st + 1) * sizeof *st);
    if (!st) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    src->st = st;
    if (!(src->st[src->n_st] = sail_st_open(p, err))) return err ? err->status : SAIL_ERR_FORMAT;
    src->n_st++;
    return SAIL_OK;
}

/* The distinct shard files of model.safetensors.index.json's weight_map. */
static sail_status open_shards(hf_source *src, const char *dir, sail_error *err) {
    json_t *idx = hf_json(dir, "model.safetensors.index.json", 1, err);
    if (!idx) return err ? err->status : SAIL_ERR_IO;
    const json_t *wm = json_object_get(idx, "weight_map");
    sail_status s = json_is_object(wm) ? SAIL_OK
                                        : sail_set_error(err, SAIL_ERR_FORMAT, "model.safetensors.index.json has no weight_map");
    const char *name, *seen[1024];
    int n_seen = 0;
    json_t *v;
    json_object_foreach((json_t *)wm, name, v) {
        if (s) break;
        const char *file = json_string_value(v);
        if (!file) {
            s = sail_set_error(err, SAIL_ERR_FORMAT, "weight_map['%.200s'] is not a file name", name);
            break;
        }
        int dup = 0;
        for (int i = 0; i < n_seen; i++) dup |= !strcmp(seen[i], file);
        if (dup) continue;
        if (n_seen == 1024) s = sail_set_error(err, SAIL_ERR_LIMIT, "more than 1024 shards");
        else {
            seen[n_seen++] = file;
            s = add_st(src, dir, file, err);
        }
    }
    /* Every tensor the index names must be in its shard. */
    json_object_foreach((json_t *)wm, name, v) {
        if (s) break;
        int found = 0;
        for (int i = 0; i < src->n_st && !found; i++) found = sail_st_find(src->st[i], name) != NULL;
        if (!found)
            s = sail_set_error(err, SAIL_ERR_FORMAT, "the index names tensor '%.200s' but no shard holds it", name);
    }
    json_decref(idx);
    return s;
}

sail_status hf_source_open(hf_source *src, const char *dir, sail_error *err) {
    memset(src, 0, sizeof *src);
    sail_status s;
    if (hf_exists(dir, "model.safetensors")) s = add_st(src, dir, "model.safetensors", err);
    else if (hf_exists(dir, "model.safetensors.index.json")) s = open_shards(src, dir, err);
    else if (hf_exists(dir, "pytorch_model.bin")) {
        char p[4096];
        snprintf(p, sizeof p, "%s/pytorch_model.bin", dir);
        src->pt = sail_pt_open(p, err);
        s = src->pt ? SAIL_OK : (err ? err->status : SAIL_ERR_FORMAT);
    } else
        return sail_set_error(err, SAIL_ERR_IO,
                              "%s has no model.safetensors, model.safetensors.index.json or pytorch_model.bin", dir);
    int n = src->pt ? src->pt->n : 0;
    for (int i = 0; i < src->n_st; i++) n += src->st[i]->n;
    if (!s && !(src->t = sail_calloc(n ? (size_t)n : 1, sizeof *src->t)))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (!s && !(src->used = sail_calloc(n ? (size_t)n : 1, 1)))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && src->pt && i < src->pt->n; i++) src->t[src->n++] = &src->pt->t[i];
    for (int f = 0; !s && f < src->n_st; f++)
        for (int i = 0; i < src->st[f]->n; i++) src->t[src->n++] = &src->st[f]->t[i];
    for (int i = 0; !s && i < src->n; i++)
        for (int j = 0; j < i && !s; j++)
            if (!strcmp(src->t[i]->name, src->t[j]->name))
                s = sail_set_error(err, SAIL_ERR_FORMAT, "tensor '%.200s' appears twice in the checkpoint", src->t[i]->name);
    if (s) hf_source_close(src);
    return s;
}

void hf_source_close(hf_source *src) {
    for (int i = 0; i < src->n_st; i++) sail_st_close(src->st[i]);
    sail_free(src->st);
    sail_pt_close(src->pt);
    for (int i = 0; src->gt && i < src->n; i++) sail_free(src->gt[i].name);
    sail_free(src->gt);
    gguf_close(src->gg);
    sail_free(src->t);
    sail_free(src->used);
    memset(src, 0, sizeof *src);
}

static int find(const hf_source *src, const char *name) {
    for (int i = 0; i < src->n; i++)
        if (!strcmp(src->t[i]->name, name)) return i;
    return -1;
}

int hf_has(const hf_source *src, const char *name) { return find(src, name) >= 0; }

const sail_st_tensor *hf_take(hf_source *src, const char *name) {
    int i = find(src, name);
    if (i < 0) return NULL;
    src->used[i] = 1;
    return src->t[i];
}

/* ------------------------------------------------------ name mapping -- */

int hf_map_name(const hf_map *mp, const char *prefix, const char *name, char out[3][256], int *rank) {
    int layer, n;
    char part[32], suffix[16];
    const char *fmt = NULL;
    const hf_block_names *b = NULL;
    *rank = 0;
    int own = mp->names ? mp->names(name, out, rank) : 0;
    for (int i = 0; i < own; i++) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s%s", prefix, out[i]);
        memcpy(out[i], tmp, sizeof tmp);
    }
    if (own) return own;
    if (sscanf(name, "text.blk.%d.%31[^.].%15s%n", &layer, part, suffix, &n) == 3 && !name[n])
        fmt = mp->text_layer, b = mp->text_block;
    else if ((sscanf(name, "vis.blk.%d.%31[^.].%15s%n", &layer, part, suffix, &n) == 3 ||
              sscanf(name, "aud.blk.%d.%31[^.].%15s%n", &layer, part, suffix, &n) == 3) && !name[n])
        fmt = mp->vis_layer, b = mp->vis_block; /* an imported model's one ViT: images' or audio's */
    if (fmt && b) {
        char lp[96];
        snprintf(lp, sizeof lp, fmt, layer);
        const char *one = !strcmp(part, "attn_out") ? b->out : !strcmp(part, "norm1") ? b->norm1
                        : !strcmp(part, "ffn_up")   ? b->up  : !strcmp(part, "ffn_down") ? b->down
                        : !strcmp(part, "norm2")    ? b->norm2 : NULL;
        if (!strcmp(part, "attn_qkv")) {
            snprintf(out[0], 256, "%s%s%s.%s", prefix, lp, b->q, suffix);
            snprintf(out[1], 256, "%s%s%s.%s", prefix, lp, b->k, suffix);
            snprintf(out[2], 256, "%s%s%s.%s", prefix, lp, b->v, suffix);
            return 3;
        }
        if (!one) return 0;
        snprintf(out[0], 256, "%s%s%s.%s", prefix, lp, one, suffix);
        return 1;
    }
    for (int i = 0; i < mp->n_fixed; i++)
        if (!strcmp(mp->fixed[i].sail, name)) {
            snprintf(out[0], 256, "%s%s", prefix, mp->fixed[i].hf);
            *rank = mp->fixed[i].rank;
            return 1;
        }
    return 0;
}

int hf_tensor_shape(const sail_config *c, int rank, int64_t rows, int64_t cols, int np, int64_t shape[4]) {
    if (rank == 4) {            /* Conv2d (d, C, p, p), flattened as is: 3 p*p images, 1 p*p spectrograms */
        int ap = c->swin.on ? c->swin.patch : c->audio.patch, audio = sail_has_audio(c) && cols == (int64_t)ap * ap;
        shape[0] = rows, shape[1] = audio ? 1 : 3, shape[2] = shape[3] = audio ? ap : c->patch_size;
        return 4;
    }
    if (rank == 5 || rank == 6) { /* a 1x1 Conv2d (rows, cols, 1, 1); HTSAT's (d, 1, p, 3p) */
        shape[0] = rows, shape[1] = rank == 5 ? cols : 1;
        shape[2] = rank == 5 ? 1 : c->swin.patch, shape[3] = rank == 5 ? 1 : 3 * c->swin.patch;
        return 4;
    }
    int n = rows == 1 ? 1 : 2, lead = rank > n ? rank - n : 0;
    for (int i = 0; i < lead; i++) shape[i] = 1;
    if (n == 1) shape[lead] = cols / np;
    else shape[lead] = rows / np, shape[lead + 1] = cols;
    return lead + n;
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int n) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

typedef struct conv {
    hf_source *src;
    const hf_model *hm;
    const char *prefix;
    gguf_writer *w;
    float **bufs;               /* (n_bufs) tensor data, alive until the write */
    int n_bufs;
    sail_error *err;
} conv;

/* Check that checkpoint tensor t can be part k of np of sail tensor name
 * (rows, cols); leading 1-sized dimensions are ignored on both sides
 * (cls_token (1,1,d) is also accepted as (d)). */
static sail_status check_shape(const conv *cv, const sail_st_tensor *t, int rank, int64_t rows, int64_t cols,
                               int np) {
    const int64_t *sh = t->shape;
    int nd = t->n_dims;
    while (nd > 1 && sh[0] == 1) sh++, nd--;
    int64_t want[4];
    int wn = hf_tensor_shape(&cv->hm->cfg, rank, rows, cols, np, want);
    const int64_t *w = want;
    int n = wn;
    while (n > 1 && w[0] == 1) w++, n--;
    int ok = nd == n;
    for (int i = 0; ok && i < n; i++) ok = sh[i] == w[i];
    if (ok) return SAIL_OK;
    char have[128], exp[128];
    shape_str(have, sizeof have, t->shape, t->n_dims);
    shape_str(exp, sizeof exp, want, wn);
    return sail_set_error(cv->err, SAIL_ERR_FORMAT, "tensor '%.200s' has shape %s; config.json implies %s",
                          t->name, have, exp);
}

static sail_status convert_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                                  const float **slot, sail_init_kind init) {
    conv *cv = ctx;
    char parts[3][256];
    int rank, np = hf_map_name(&cv->hm->map, cv->prefix, name, parts, &rank);
    if (!np) return sail_set_error(cv->err, SAIL_ERR_UNSUPPORTED, "no checkpoint name is known for sail tensor '%s'", name);
    size_t n;
    if (!sail_mul_ok((size_t)rows, (size_t)cols, &n) || n > ((size_t)1 << 34))
        return sail_set_error(cv->err, SAIL_ERR_LIMIT, "tensor '%s' is too large", name);
    float *buf = sail_alloc_aligned(n * sizeof(float));
    if (!buf) return sail_set_error(cv->err, SAIL_ERR_NOMEM, "out of memory for tensor '%s'", name);
    cv->bufs[cv->n_bufs++] = buf;
    for (int k = 0; k < np; k++) {
        const sail_st_tensor *t = hf_take(cv->src, parts[k]);
        if (!t)
            return sail_set_error(cv->err, SAIL_ERR_FORMAT,
                                  "the checkpoint has no tensor '%s', which config.json implies", parts[k]);
        sail_status s = check_shape(cv, t, rank, rows, cols, np);
        if (!s) s = sail_st_to_f32(t, 0, n / (size_t)np, buf + (size_t)k * (n / (size_t)np), cv->err);
        if (s) return s;
    }
    *slot = buf;
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    return gguf_add_tensor(cv->w, name, GGUF_T_F32, rows == 1 ? 1 : 2, ne, buf);
}

static sail_status count_tensors(void *ctx, const char *name, int64_t r, int64_t c,
                                 const float **slot, sail_init_kind init) {
    (*(int *)ctx)++;
    return SAIL_OK;
}

/* Buffers and unused poolers; with a task model's prefix ("bert."), the
 * task heads beside the base model (cls.*, classifier.*). */
static int ignorable(const hf_map *mp, const char *prefix, const char *name) {
    size_t n = strlen(name);
    if (*prefix && strncmp(name, prefix, strlen(prefix))) return 1;
    for (int i = 0; i < mp->n_ignore; i++) {
        size_t k = strlen(mp->ignore[i]);
        if (n >= k && !strcmp(name + n - k, mp->ignore[i])) return 1;
    }
    return 0;
}

/* ------------------------------------------------------- tokenizers -- */

/* A special token named by tokenizer_config.json (a string or {"content"}),
 * or def. */
static const char *special_name(const json_t *tc, const char *key, const char *def) {
    const json_t *v = tc ? json_object_get(tc, key) : NULL;
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : def;
}

static int token_id(char **toks, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(toks[i], s)) return i;
    return -1;
}

static sail_status special_ids(sail_config *c, const json_t *tc, char **toks, int n, const char *keys[4],
                               const char *defs[4], sail_error *err) {
    int *slots[4] = {&c->pad_id, &c->unk_id, &c->cls_id, &c->sep_id};
    for (int i = 0; i < 4; i++) {
        const char *name = special_name(tc, keys[i], defs[i]);
        if ((*slots[i] = token_id(toks, n, name)) < 0)
            return sail_set_error(err, SAIL_ERR_FORMAT, "the vocabulary has no %s '%.60s'", keys[i], name);
    }
    return SAIL_OK;
}

/* vocab.txt + tokenizer_config.json (BERT, Chinese-CLIP). */
static sail_status wordpiece_files(const char *dir, sail_config *c, gguf_writer *w, sail_error *err) {
    char path[4096], **toks = NULL;
    int n = 0;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    sail_status s = sail_vocab_read(path, &toks, &n, err);
    if (s) return s;
    json_t *tc = hf_json(dir, "tokenizer_config.json", 0, err);
    if (!tc && err && err->status) s = err->status;
    if (!s && n != c->vocab_size)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s has %d tokens but config.json's vocab_size is %d", path, n, c->vocab_size);
    if (!s && tc && json_is_false(json_object_get(tc, "do_lower_case")))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                           "tokenizer_config.json: do_lower_case is false; sail's WordPiece lower-cases (uncased models only)");
    const char *keys[4] = {"pad_token", "unk_token", "cls_token", "sep_token"};
    const char *defs[4] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    if (!s) s = special_ids(c, tc, toks, n, keys, defs, err);
    if (!s) s = gguf_set_str(w, "tokenizer.ggml.model", "bert");
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n);
    json_decref(tc);
    sail_vocab_free(toks, n);
    return s;
}

/* merges.txt as CLIPTokenizer reads it: strip, split on newlines, drop the
 * "#version" line, keep the next 48894 (GPT-2's, RobertaTokenizer: all of
 * them, up to 1 << 20), each "a b". */
static sail_status read_merges(const char *path, sail_bpe_style style, char ***out, int *n_out, sail_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sail_set_error(err, SAIL_ERR_IO, "%s is missing (the BPE merges)", path);
    int max = style == SAIL_BPE_GPT2 ? 1 << 20 : 48894;
    char **v = sail_calloc((size_t)max, sizeof *v), line[1024];
    int n = 0, first = 1;
    sail_status s = v ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    while (!s && n < max && fgets(line, sizeof line, fp)) {
        if (first) { first = 0; continue; }
        char a[512], b[512], extra[2];
        int k = sscanf(line, "%511s %511s %1s", a, b, extra);
        if (k == EOF || k <= 0) continue; /* blank: only the file's end, which strip() removes */
        if (k != 2) s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: line %d is not \"a b\"", path, n + 2);
        else if (!(v[n] = sail_malloc(strlen(a) + strlen(b) + 2))) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        else sprintf(v[n++], "%s %s", a, b);
    }
    fclose(fp);
    if (s) {
        if (v) sail_vocab_free(v, n);
        return s;
    }
    *out = v;
    *n_out = n;
    return SAIL_OK;
}

sail_status hf_bpe_write(sail_config *c, gguf_writer *w, char **toks, int n, const char *merges_path,
                         const json_t *tc, sail_bpe_style style, sail_error *err) {
    char **merges = NULL;
    int nm = 0, gpt2 = style == SAIL_BPE_GPT2;
    sail_status s = read_merges(merges_path, style, &merges, &nm, err);
    const char *keys[4] = {"pad_token", "unk_token", "bos_token", "eos_token"};
    const char *clip_defs[4] = {"<|endoftext|>", "<|endoftext|>", "<|startoftext|>", "<|endoftext|>"};
    const char *roberta_defs[4] = {"<pad>", "<unk>", "<s>", "</s>"};
    if (!s) s = special_ids(c, tc, toks, n, keys, gpt2 ? roberta_defs : clip_defs, err);
    if (!s) {   /* the tokenizer must build, or the model would not load */
        sail_bpe *b = sail_bpe_new((const char *const *)toks, n, (const char *const *)merges, nm, style, err);
        if (!b) s = err ? err->status : SAIL_ERR_FORMAT;
        sail_bpe_free(b);
    }
    if (!s) s = gguf_set_str(w, "tokenizer.ggml.model", gpt2 ? "gpt2" : "clip");
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n);
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)nm);
    if (merges) sail_vocab_free(merges, nm);
    return s;
}

/* vocab.json (token -> id, dense) + merges.txt (CLIP, or GPT-2's). */
static sail_status bpe_files(const char *dir, sail_config *c, gguf_writer *w, sail_bpe_style style, sail_error *err) {
    json_t *vj = hf_json(dir, "vocab.json", 1, err);
    if (!vj) return err ? err->status : SAIL_ERR_IO;
    int n = (int)json_object_size(vj);
    sail_status s = n == c->vocab_size ? SAIL_OK
        : sail_set_error(err, SAIL_ERR_FORMAT, "vocab.json has %d tokens but config.json's vocab_size is %d", n, c->vocab_size);
    char **toks = s ? NULL : sail_calloc((size_t)n, sizeof *toks);
    if (!s && !toks) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(vj, key, v) {
        if (s) break;
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= n || toks[id])
            s = sail_set_error(err, SAIL_ERR_FORMAT, "vocab.json: '%.60s' has id %lld; ids must be 0..%d, each once",
                               key, (long long)id, n - 1);
        else if (!(toks[id] = sail_strdup(key))) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    }
    json_decref(vj);
    json_t *tc = s ? NULL : hf_json(dir, "tokenizer_config.json", 0, err);
    if (!s && !tc && err && err->status) s = err->status;
    char path[4096];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    if (!s) s = hf_bpe_write(c, w, toks, n, path, tc, style, err);
    json_decref(tc);
    if (toks) sail_vocab_free(toks, n);
    return s;
}

static sail_status logit_scale(hf_source *src, const hf_map *mp, sail_config *c, sail_error *err) {
    const sail_st_tensor *t = mp->logit_scale ? hf_take(src, mp->logit_scale) : NULL;
    if (!t) return SAIL_OK; /* config.json's logit_scale_init_value stays */
    if (sail_st_numel(t) != 1)
        return sail_set_error(err, SAIL_ERR_FORMAT, "tensor 'logit_scale' has %llu elements; expected 1",
                              (unsigned long long)sail_st_numel(t));
    return sail_st_to_f32(t, 0, 1, &c->logit_scale, err);
}

/* Write the sail file of model hm from the tensors of src: the tokenizer
 * (tok, which also finds the special ids), the config, then every tensor in
 * sail's order; whatever src holds beyond that is an error. */
sail_status hf_emit(hf_model *hm, hf_source *src, hf_tokenizer_fn tok, void *tok_ctx, const char *what,
                    const char *out, sail_error *err) {
    sail_config *c = &hm->cfg;
    gguf_writer *w = gguf_writer_new();
    if (!w) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_weights wt = {0};
    int n_tensors = 0;
    conv cv = {src, hm, hm->map.prefix, w, NULL, 0, err};
    if (hm->map.alt_prefix && hm->map.n_fixed) {
        char probe[256];
        snprintf(probe, sizeof probe, "%s%s", hm->map.alt_prefix, hm->map.fixed[0].hf);
        if (hf_has(src, probe)) cv.prefix = hm->map.alt_prefix;
    }
    sail_status s = logit_scale(src, &hm->map, c, err);
    if (!s && c->towers.has_text) s = tok(tok_ctx, c, w, err);
    if (!s) s = sail_config_validate(c, err);
    if (!s) s = sail_config_write(c, w);
    if (!s) s = sail_weights_alloc_blocks(&wt, c, err);
    if (!s) s = sail_weights_walk(c, &wt, count_tensors, &n_tensors);
    if (!s && !(cv.bufs = sail_calloc((size_t)n_tensors + 1, sizeof *cv.bufs)))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (!s) s = sail_weights_walk(c, &wt, convert_tensor, &cv);
    int left = 0, first = -1;
    for (int i = 0; !s && i < src->n; i++)
        if (!src->used[i] && !ignorable(&hm->map, cv.prefix, src->t[i]->name)) {
            if (first < 0) first = i;
            left++;
        }
    if (!s && left)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "unexpected tensor '%.200s'%s: the config (as %s) has no such parameter",
                           src->t[first]->name, left > 1 ? " and others" : "", what);
    if (!s) s = gguf_writer_write(w, out, err);
    for (int i = 0; i < cv.n_bufs; i++) sail_free(cv.bufs[i]);
    sail_free(cv.bufs);
    sail_weights_free_blocks(&wt);
    gguf_writer_free(w);
    return s;
}

sail_status hf_folder_tokenizer(void *ctx, sail_config *c, gguf_writer *w, sail_error *err) {
    const hf_folder_tok *t = ctx;
    if (t->spm) return hf_spm_write(t->dir, c, w, err);
    return t->bert ? wordpiece_files(t->dir, c, w, err)
                   : bpe_files(t->dir, c, w, t->gpt2 ? SAIL_BPE_GPT2 : SAIL_BPE_CLIP, err);
}
