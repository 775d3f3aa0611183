/* export.c: a sail model file imported from Hugging Face written back as a
 * Hugging Face folder. Nothing here knows a checkpoint name: the family's
 * config.json is written by its hf_*_json, read back by the same hf_*_config
 * convert uses (which must give the model's architecture again, or the
 * export is refused), and the map that reading yields names every tensor,
 * walked in sail's order: a fused q/k/v splits into its three rows, the
 * shapes come from hf_tensor_shape. */
#include "sail.h"

#include "convert.h"
#include "kernels/numfmt.h"
#include "model/inputs.h"
#include "model/weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum family { FAM_CLIP, FAM_CN_CLIP, FAM_BERT, FAM_VIT, FAM_SIGLIP };
static const char *const fam_class[] = {"CLIPModel", "ChineseCLIPModel", "BertModel", "ViTModel", "SiglipModel"};

/* ----------------------------------------------------------- files -- */

typedef struct out_file {
    char path[4096], tmp[4200];
    FILE *fp;
} out_file;

/* DIR/name written through DIR/name.tmp, renamed into place on success. */
static sail_status out_open(out_file *o, const char *dir, const char *name, sail_error *err) {
    if (snprintf(o->path, sizeof o->path, "%s/%s", dir, name) >= (int)sizeof o->path)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: path too long", dir);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp", o->path);
    if (!(o->fp = fopen(o->tmp, "wb")))
        return sail_set_error(err, SAIL_ERR_IO, "cannot write %s: %s", o->tmp, strerror(errno));
    return SAIL_OK;
}

static sail_status out_close(out_file *o, sail_status s, sail_error *err) {
    int bad = ferror(o->fp);
    if (fclose(o->fp)) bad = 1;
    if (!s && bad) s = sail_set_error(err, SAIL_ERR_IO, "writing %s failed: %s", o->tmp, strerror(errno));
    if (!s && rename(o->tmp, o->path))
        s = sail_set_error(err, SAIL_ERR_IO, "cannot rename %s to %s: %s", o->tmp, o->path, strerror(errno));
    if (s) remove(o->tmp);
    return s;
}

/* Takes j (NULL: out of memory). */
static sail_status write_json(const char *dir, const char *name, json_t *j, size_t flags, sail_error *err) {
    if (!j) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    out_file o;
    sail_status s = out_open(&o, dir, name, err);
    if (!s) {
        if (json_dumpf(j, o.fp, flags) || fputc('\n', o.fp) == EOF)
            s = sail_set_error(err, SAIL_ERR_IO, "writing %s failed", o.tmp);
        s = out_close(&o, s, err);
    }
    json_decref(j);
    return s;
}

#define PRETTY (JSON_INDENT(2) | JSON_REAL_PRECISION(9))

/* ---------------------------------------------------------- tensors -- */

/* One safetensors entry: part of a model tensor's elements. */
typedef struct entry {
    char name[256];
    int nd;
    int64_t shape[4];
    const gguf_tensor *g;       /* NULL: the scalar below */
    uint64_t first, n;          /* element range of g */
    float scalar;
} entry;

typedef struct exporter {
    const gguf_file *f;
    const sail_config *c;
    const hf_map *map;
    entry *e;                   /* (n) */
    int n, cap;
    sail_error *err;
} exporter;

static entry *push(exporter *x) {
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 64;
        entry *e = sail_realloc(x->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        x->e = e, x->cap = cap;
    }
    entry *e = &x->e[x->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static const char *st_dtype(uint32_t t) {
    return t == GGUF_T_F16 ? "F16" : t == GGUF_T_BF16 ? "BF16" : "F32";   /* q8_0 is widened */
}

static sail_status add_tensor(void *ctx, const char *name, int64_t rows, int64_t cols, const float **slot,
                              sail_init_kind init) {
    exporter *x = ctx;
    const gguf_tensor *g = gguf_find_tensor(x->f, name);
    if (!g) return sail_set_error(x->err, SAIL_ERR_FORMAT, "the model file has no tensor '%s'", name);
    if (g->ne[0] != (uint64_t)cols || (g->n_dims > 1 && g->ne[1] != (uint64_t)rows) || g->n_dims > 2 ||
        (g->n_dims == 1 && rows != 1))
        return sail_set_error(x->err, SAIL_ERR_FORMAT, "tensor '%s' does not have the shape its config implies", name);
    if (g->type != GGUF_T_F32 && g->type != GGUF_T_F16 && g->type != GGUF_T_BF16 && g->type != GGUF_T_Q8_0)
        return sail_set_error(x->err, SAIL_ERR_UNSUPPORTED, "tensor '%s' is %s; export reads f32, f16, bf16 and q8_0",
                              name, gguf_type_name(g->type));
    char parts[3][256];
    int rank, np = hf_map_name(x->map, "", name, parts, &rank);
    if (!np)
        return sail_set_error(x->err, SAIL_ERR_UNSUPPORTED, "no Hugging Face name is known for sail tensor '%s'", name);
    uint64_t total = (uint64_t)rows * (uint64_t)cols, part = total / (uint64_t)np;
    for (int k = 0; k < np; k++) {
        entry *e = push(x);
        if (!e) return sail_set_error(x->err, SAIL_ERR_NOMEM, "out of memory");
        memcpy(e->name, parts[k], sizeof e->name);
        e->nd = hf_tensor_shape(x->c, rank, rows, cols, np, e->shape);
        e->g = g;
        e->first = (uint64_t)k * part;
        e->n = part;
        if (g->type == GGUF_T_Q8_0 && (e->first % SAIL_Q8_0_BLOCK || part % SAIL_Q8_0_BLOCK))
            return sail_set_error(x->err, SAIL_ERR_FORMAT, "q8_0 tensor '%s' does not split into whole blocks", name);
    }
    return SAIL_OK;
}

static uint64_t entry_bytes(const entry *e) {
    if (!e->g) return sizeof(float);
    return e->g->type == GGUF_T_Q8_0 ? e->n * sizeof(float) : gguf_type_nbytes(e->g->type, e->n);
}

/* The safetensors header: u64 length, JSON, spaces to a multiple of 8. */
static char *st_header(const exporter *x, size_t *len) {
    json_t *h = json_object();
    uint64_t off = 0;
    int bad = !h;
    for (int i = 0; i < x->n && !bad; i++) {
        const entry *e = &x->e[i];
        json_t *t = json_object(), *sh = json_array(), *offs = json_array();
        for (int d = 0; d < e->nd; d++) bad |= json_array_append_new(sh, json_integer(e->shape[d]));
        uint64_t nb = entry_bytes(e);
        bad |= json_array_append_new(offs, json_integer((json_int_t)off));
        bad |= json_array_append_new(offs, json_integer((json_int_t)(off + nb)));
        off += nb;
        bad |= json_object_set_new(t, "dtype", json_string(e->g ? st_dtype(e->g->type) : "F32"));
        bad |= json_object_set_new(t, "shape", sh);
        bad |= json_object_set_new(t, "data_offsets", offs);
        bad |= json_object_set_new(h, e->name, t);
    }
    json_t *meta = json_pack("{s:s}", "format", "pt");
    bad |= json_object_set_new(h, "__metadata__", meta);
    char *s = bad ? NULL : json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!s) return NULL;
    size_t n = strlen(s), padded = (n + 7) & ~(size_t)7;
    char *buf = sail_malloc(8 + padded);
    if (buf) {
        for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)padded >> (8 * i));
        memcpy(buf + 8, s, n);
        memset(buf + 8 + n, ' ', padded - n);
        *len = 8 + padded;
    }
    free(s);
    return buf;
}

static sail_status write_safetensors(const exporter *x, const char *dir, sail_error *err) {
    size_t hl = 0;
    char *head = st_header(x, &hl);
    if (!head) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the safetensors header");
    out_file o;
    sail_status s = out_open(&o, dir, "model.safetensors", err);
    if (s) {
        sail_free(head);
        return s;
    }
    int bad = fwrite(head, 1, hl, o.fp) != hl;
    sail_free(head);
    for (int i = 0; i < x->n && !bad && !s; i++) {
        const entry *e = &x->e[i];
        if (!e->g) {
            bad = fwrite(&e->scalar, sizeof e->scalar, 1, o.fp) != 1;
        } else if (e->g->type == GGUF_T_Q8_0) {
            float *buf = sail_malloc(e->n * sizeof *buf);
            if (!buf) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory widening '%s'", e->name);
            else {
                sail_dequantize_row(GGUF_T_Q8_0, buf, (const uint8_t *)e->g->data + gguf_type_nbytes(GGUF_T_Q8_0, e->first),
                                    e->n);
                bad = fwrite(buf, sizeof *buf, e->n, o.fp) != e->n;
                sail_free(buf);
            }
        } else {
            uint64_t nb = entry_bytes(e);
            bad = fwrite((const uint8_t *)e->g->data + gguf_type_nbytes(e->g->type, e->first), 1, nb, o.fp) != nb;
        }
    }
    if (!s && bad) s = sail_set_error(err, SAIL_ERR_IO, "writing %s failed: %s", o.tmp, strerror(errno));
    return out_close(&o, s, err);
}

/* ------------------------------------------------------- tokenizers -- */

static json_t *special(json_t *j, const char *key, const sail_vocab_kv *v, int id) {
    if (json_object_set_new(j, key, json_string(v->tokens[id]))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* vocab.json (token -> id), merges.txt with CLIPTokenizer's version line. */
static sail_status bpe_files(const sail_vocab_kv *v, const char *dir, sail_error *err) {
    json_t *vj = json_object();
    for (int i = 0; vj && i < v->n; i++) {
        if (json_object_get(vj, v->tokens[i]) || json_object_set_new(vj, v->tokens[i], json_integer(i))) {
            json_decref(vj);
            return sail_set_error(err, SAIL_ERR_FORMAT, "token %d ('%.60s') is a duplicate or not UTF-8; vocab.json cannot hold it",
                                  i, v->tokens[i]);
        }
    }
    sail_status s = write_json(dir, "vocab.json", vj, JSON_COMPACT, err);
    out_file o;
    if (!s) s = out_open(&o, dir, "merges.txt", err);
    if (s) return s;
    int bad = fputs("#version: 0.2\n", o.fp) == EOF;
    for (int i = 0; i < v->n_merges && !bad; i++) bad = fprintf(o.fp, "%s\n", v->merges[i]) < 0;
    if (bad) s = sail_set_error(err, SAIL_ERR_IO, "writing %s failed", o.tmp);
    return out_close(&o, s, err);
}

static sail_status wordpiece_files(const sail_vocab_kv *v, const char *dir, sail_error *err) {
    out_file o;
    sail_status s = out_open(&o, dir, "vocab.txt", err);
    if (s) return s;
    int bad = 0;
    for (int i = 0; i < v->n && !s && !bad; i++) {
        if (strchr(v->tokens[i], '\n') || strchr(v->tokens[i], '\r'))
            s = sail_set_error(err, SAIL_ERR_FORMAT, "token %d holds a line break; vocab.txt cannot hold it", i);
        else bad = fprintf(o.fp, "%s\n", v->tokens[i]) < 0;
    }
    if (!s && bad) s = sail_set_error(err, SAIL_ERR_IO, "writing %s failed", o.tmp);
    return out_close(&o, s, err);
}

/* SigLIP: spiece.model as it was read, and SiglipTokenizer's
 * tokenizer_config.json (the special pieces, lower-casing, the padded
 * length), which spm_tok.c reads back to the same ids and context. */
static sail_status spm_files(const sail_vocab_kv *v, const sail_config *c, const char *dir, sail_error *err) {
    out_file o;
    sail_status s = out_open(&o, dir, "spiece.model", err);
    if (s) return s;
    if (fwrite(v->spm, 1, v->n_spm, o.fp) != v->n_spm) s = sail_set_error(err, SAIL_ERR_IO, "writing %s failed", o.tmp);
    if ((s = out_close(&o, s, err))) return s;
    json_t *tc = json_object();
    if (json_object_set_new(tc, "tokenizer_class", json_string("SiglipTokenizer"))) tc = NULL;
    tc = special(tc, "eos_token", v, c->sep_id);
    tc = special(tc, "unk_token", v, c->unk_id);
    tc = special(tc, "pad_token", v, c->pad_id);
    if (tc && json_object_set_new(tc, "do_lower_case", json_boolean(v->spm_lowercase))) tc = NULL;
    if (tc && json_object_set_new(tc, "model_max_length", json_integer(c->context))) tc = NULL;
    return write_json(dir, "tokenizer_config.json", tc, PRETTY, err);
}

/* The vocabulary files and tokenizer_config.json, whose special-token names
 * convert resolves back to the same ids. */
static sail_status tokenizer(const gguf_file *f, const sail_config *c, const char *dir, sail_error *err) {
    sail_vocab_kv v = {0};
    sail_status s = sail_vocab_kv_read(f, c, &v, err);
    if (s) return s;
    if (c->towers.spm) {
        s = spm_files(&v, c, dir, err);
        sail_vocab_kv_free(&v);
        return s;
    }
    int bpe = c->towers.bpe;
    s = bpe ? bpe_files(&v, dir, err) : wordpiece_files(&v, dir, err);
    json_t *tc = json_object();
    if (json_object_set_new(tc, "tokenizer_class", json_string(bpe ? "CLIPTokenizer" : "BertTokenizer"))) tc = NULL;
    tc = special(tc, bpe ? "bos_token" : "cls_token", &v, c->cls_id);
    tc = special(tc, bpe ? "eos_token" : "sep_token", &v, c->sep_id);
    tc = special(tc, "pad_token", &v, c->pad_id);
    tc = special(tc, "unk_token", &v, c->unk_id);
    if (tc && !bpe) {
        for (int i = 0; i < v.n; i++)
            if (!strcmp(v.tokens[i], "[MASK]")) tc = special(tc, "mask_token", &v, i);
        if (tc && json_object_set_new(tc, "do_lower_case", json_true())) tc = NULL;
    }
    if (tc && json_object_set_new(tc, "model_max_length", json_integer(c->context))) tc = NULL;
    if (!s) s = write_json(dir, "tokenizer_config.json", tc, PRETTY, err);
    else json_decref(tc);
    sail_vocab_kv_free(&v);
    return s;
}

/* ------------------------------------------------------------ driver -- */

static sail_status family(const sail_config *c, const char *path, enum family *fam, sail_error *err) {
    const sail_towers *t = &c->towers;
    if (!t->on)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "%s is a native sail model (fusion layers); Hugging Face has no architecture for it, "
                              "so only models imported with `sail convert` (CLIP, Chinese-CLIP, BERT, ViT, SigLIP) export",
                              path);
    if (sail_has_audio(c))
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s is an audio model; sail exports text and image models only",
                              path);
    if (t->has_text && t->has_vision && c->has_logit_bias) *fam = FAM_SIGLIP;
    else if (t->has_text && t->has_vision) *fam = t->bpe ? FAM_CLIP : FAM_CN_CLIP;
    else if (t->has_text && !t->bpe) *fam = FAM_BERT;
    else if (t->has_vision) *fam = FAM_VIT;
    else
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "%s is a CLIP text tower alone; CLIPModel needs both towers", path);
    return SAIL_OK;
}

static int tower_eq(const sail_tower *a, const sail_tower *b) {
    return a->layers == b->layers && a->width == b->width && a->heads == b->heads && a->ffn == b->ffn &&
           a->eps == b->eps && a->act == b->act && a->prenorm == b->prenorm;
}

/* What config.json says, read back as convert reads it, against the model:
 * a difference is something the Hugging Face class cannot express. */
static sail_status same_architecture(const sail_config *a, const sail_config *b, const char *path, enum family fam,
                                     sail_error *err) {
    const char *what = NULL;
    const sail_towers *ta = &a->towers;
    if (memcmp(ta, &b->towers, sizeof *ta)) what = "the pooling, norms or projections";
    else if (ta->has_text && !tower_eq(&a->text, &b->text)) what = "the text encoder";
    else if (ta->has_vision && !tower_eq(&a->vision, &b->vision)) what = "the vision encoder";
    else if (a->dim != b->dim) what = "the output dimension";
    else if (ta->has_text && (a->vocab_size != b->vocab_size || a->max_positions != b->max_positions ||
                              a->type_vocab != b->type_vocab || a->context != b->context))
        what = "the vocabulary, positions or text context";
    else if (ta->has_vision && (a->image_size != b->image_size || a->patch_size != b->patch_size))
        what = "the image or patch size";
    else if (a->has_logit_scale && (!b->has_logit_scale || a->logit_scale != b->logit_scale))
        what = "the logit scale";
    if (!what) return SAIL_OK;
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s cannot be written as a Hugging Face %s: its config.json "
                          "cannot express %s", path, fam_class[fam], what);
}

/* dir NULL: only check that the model can be exported. */
static sail_status export_model(const gguf_file *f, const sail_config *c, const char *path, const char *dir,
                                sail_error *err) {
    enum family fam = FAM_CLIP;
    sail_status s = family(c, path, &fam, err);
    if (s) return s;
    sail_config cc = *c;
    if (fam <= FAM_CN_CLIP && !cc.has_logit_scale)
        cc.logit_scale = logf(1 / 0.07f); /* CLIP's initial temperature, what sail uses without one */
    json_t *cj = fam == FAM_BERT ? hf_bert_json(&cc) : fam == FAM_VIT ? hf_vit_json(&cc)
               : fam == FAM_SIGLIP ? hf_siglip_json(&cc) : hf_clip_json(&cc, fam == FAM_CN_CLIP);
    if (!cj) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    hf_model hm;
    s = fam == FAM_BERT   ? hf_bert_config(cj, NULL, &hm, err)
      : fam == FAM_VIT    ? hf_vit_config(cj, NULL, &hm, err)
      : fam == FAM_SIGLIP ? hf_siglip_config(cj, &hm, err)
                          : hf_clip_config(cj, fam == FAM_CN_CLIP, &hm, err);
    /* SigLIP's temperature lives in the logit_scale tensor, not config.json;
     * its tokenizer kind and padded length in the tokenizer files */
    if (!s && fam == FAM_SIGLIP) {
        hm.cfg.logit_scale = cc.logit_scale;
        hm.cfg.towers.spm = c->towers.spm;
        hm.cfg.context = c->context;
    }
    if (!s) s = same_architecture(c, &hm.cfg, path, fam, err);
    if (s || !dir) {
        json_decref(cj);
        return s;
    }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        json_decref(cj);
        return sail_set_error(err, SAIL_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    }
    s = write_json(dir, "config.json", cj, PRETTY, err);
    exporter x = {f, c, &hm.map, NULL, 0, 0, err};
    sail_weights wt = {0};
    if (!s) s = sail_weights_alloc_blocks(&wt, c, err);
    if (!s) s = sail_weights_walk(c, &wt, add_tensor, &x);
    if (!s && hm.map.logit_scale) {
        entry *e = push(&x);
        if (!e) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        else snprintf(e->name, sizeof e->name, "%s", hm.map.logit_scale), e->scalar = cc.logit_scale;
        if (e && fam == FAM_SIGLIP) e->nd = 1, e->shape[0] = 1; /* SiglipModel's is (1,), CLIP's 0-D */
    }
    if (!s) s = write_safetensors(&x, dir, err);
    if (!s && c->towers.has_text) s = tokenizer(f, c, dir, err);
    if (!s && c->towers.has_vision) {
        static const char *const proc[] = {"CLIPImageProcessor", "ChineseCLIPImageProcessor", "", "ViTImageProcessor",
                                           "SiglipImageProcessor"};
        s = write_json(dir, "preprocessor_config.json", hf_preprocessor_json(c, proc[fam], fam != FAM_CLIP), PRETTY, err);
    }
    sail_weights_free_blocks(&wt);
    sail_free(x.e);
    return s;
}

sail_status sail_export_hf(const char *model_path, const char *dir, sail_error *err) {
    if (!model_path) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "export needs a model file");
    gguf_file *f = gguf_open(model_path, err);
    if (!f) return err ? err->status : SAIL_ERR_IO;
    sail_config c;
    sail_status s = sail_config_read(&c, f, err);
    if (!s) s = export_model(f, &c, model_path, dir, err);
    else if (err && !strstr(err->msg, model_path)) sail_error_prefix(err, "%s", model_path);
    gguf_close(f);
    return s;
}
