/* model.c: loading a sail model file (validated, weights used in place from
 * the mapping, in their stored type) and creating one with seeded random
 * weights. */
#include "model.h"
#include "kernels/numfmt.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- load -- */

typedef struct loader {
    const gguf_file *f;
    uint8_t *seen;          /* (n_tensors): matched by the walk */
    float *deq;             /* bump pointer into the model's f32 copies */
    size_t deq_left;        /* floats left there */
    size_t type_bytes[4];   /* bytes of matrices per type: f32, f16, bf16, q8_0 */
    sail_error *err;
} loader;

static const char *const TYPE_NAMES[4] = {"f32", "f16", "bf16", "q8_0"};

static int type_index(uint32_t type) {
    return type == GGUF_T_F16 ? 1 : type == GGUF_T_BF16 ? 2 : type == GGUF_T_Q8_0 ? 3 : 0;
}

/* The kernels' type ids are GGUF's, so a tensor's type maps directly. */
_Static_assert((int)SAIL_WT_F32 == GGUF_T_F32 && (int)SAIL_WT_F16 == GGUF_T_F16 &&
               (int)SAIL_WT_BF16 == GGUF_T_BF16 && (int)SAIL_WT_Q8_0 == GGUF_T_Q8_0,
               "sail_wtype values are GGUF tensor types");

static void shape_str(char *buf, size_t cap, const gguf_tensor *t) {
    int n = snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < t->n_dims && n < (int)cap; i++)
        n += snprintf(buf + n, cap - n, "%s%llu", i ? ", " : "", (unsigned long long)t->ne[i]);
    if (n < (int)cap) snprintf(buf + n, cap - n, "]");
}

static sail_status load_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                               const float **slot, sail_wmat *stored, sail_linear *lin) {
    loader *l = ctx;
    const gguf_tensor *t = gguf_find_tensor(l->f, name);
    if (!t)
        return sail_set_error(l->err, SAIL_ERR_FORMAT, "tensor '%s' is missing from the file", name);
    l->seen[t - l->f->tensors] = 1;
    int want_dims = rows == 1 ? 1 : 2;
    int ok = t->n_dims == (uint32_t)want_dims && t->ne[0] == (uint64_t)cols &&
             (want_dims == 1 || t->ne[1] == (uint64_t)rows);
    if (!ok) {
        char have[96];
        shape_str(have, sizeof have, t);
        if (want_dims == 1)
            return sail_set_error(l->err, SAIL_ERR_FORMAT,
                                  "tensor '%s' has shape %s; the model's config implies [%lld]",
                                  name, have, (long long)cols);
        return sail_set_error(l->err, SAIL_ERR_FORMAT,
                              "tensor '%s' has shape %s; the model's config implies [%lld, %lld] (ne0 = row length)",
                              name, have, (long long)cols, (long long)rows);
    }
    *slot = t->type == GGUF_T_F32 ? t->data : NULL;
    if (stored) { /* matrices are used in place, in their stored type */
        stored->data = t->data;
        stored->type = (sail_wtype)t->type;
        stored->stride = (size_t)gguf_type_nbytes(t->type, (uint64_t)cols);
        l->type_bytes[type_index(t->type)] += t->nbytes;
        return SAIL_OK;
    }
    if (t->type == GGUF_T_F32) return SAIL_OK;
    /* A norm or bias stored narrower (sail never writes one): widened. */
    size_t n = (size_t)rows * (size_t)cols, take = (n + 15) & ~(size_t)15;
    if (take > l->deq_left)
        return sail_set_error(l->err, SAIL_ERR_FORMAT, "tensor '%s' must be stored as F32", name);
    sail_dequantize_row(t->type, l->deq, t->data, n);
    *slot = l->deq;
    l->deq += take;
    l->deq_left -= take;
    return SAIL_OK;
}

/* Floats for f32 copies of the 1-D tensors that are not stored as F32,
 * each rounded up to 64 bytes. Matrices are never copied. */
static size_t dequant_floats(const gguf_file *f) {
    size_t total = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (t->type == GGUF_T_F32 || t->n_dims != 1) continue;
        total += ((size_t)t->ne[0] + 15) & ~(size_t)15;
    }
    return total;
}

static sail_status load_weights(sail_model *m, sail_error *err) {
    const gguf_file *f = m->file;
    loader l = {f, sail_calloc(f->n_tensors ? f->n_tensors : 1, 1), NULL, 0, {0}, err};
    size_t nd = dequant_floats(f);
    if (nd) l.deq = m->deq = sail_alloc_aligned(nd * sizeof(float));
    l.deq_left = nd;
    m->deq_bytes = nd * sizeof(float);
    if (!l.seen || (nd && !m->deq)) {
        sail_free(l.seen);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    }
    sail_status s = sail_weights_alloc_blocks(&m->w, &m->cfg, err);
    if (!s) s = sail_weights_walk_stored(&m->cfg, &m->w, load_tensor, &l);
    for (uint64_t i = 0; !s && i < f->n_tensors; i++)
        if (!l.seen[i])
            s = sail_set_error(err, SAIL_ERR_FORMAT,
                               "unexpected tensor '%.*s': the model's config has no such parameter",
                               (int)SAIL_MIN(f->tensors[i].name.len, 200), f->tensors[i].name.ptr);
    sail_free(l.seen);
    /* The type holding most bytes, then any others ("q8_0+f16"). */
    int top = 0;
    for (int i = 1; i < 4; i++)
        if (l.type_bytes[i] > l.type_bytes[top]) top = i;
    m->f32_weights = top == 0;
    int n = snprintf(m->wtype, sizeof m->wtype, "%s", TYPE_NAMES[top]);
    for (int i = 0; i < 4; i++)
        if (i != top && l.type_bytes[i] && n < (int)sizeof m->wtype)
            n += snprintf(m->wtype + n, sizeof m->wtype - n, "+%s", TYPE_NAMES[i]);
    return s;
}

/* The reserving walk: sizes every Linear weight's panels (q8_0, and bf16
 * where the level packs it; dst NULL),
 * then gives each its slice of dst, which its second GEMM fills
 * (linear_forward): a model used only for texts never packs, nor touches,
 * its image tower's slices. */
typedef struct packer {
    uint8_t *dst;
    size_t bytes;
} packer;

static sail_status reserve_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                                  const float **slot, sail_wmat *stored, sail_linear *lin) {
    packer *p = ctx;
    size_t n = stored && lin ? sail_gemm_w_packed_size(stored, (int)rows, (int)cols) : 0;
    if (!n) return SAIL_OK;
    if (p->dst) lin->pack_to = p->dst + p->bytes;
    p->bytes += (n + 63) & ~(size_t)63;
    return SAIL_OK;
}

/* Room for the q8_0 and bf16 matrices in the kernels' panels (sail.h:
 * no_repack): reserved, not touched, until each matrix's second use. */
static sail_status reserve_packing(sail_model *m, sail_error *err) {
    packer p = {NULL, 0};
    sail_weights_walk_stored(&m->cfg, &m->w, reserve_tensor, &p);
    if (!p.bytes) return SAIL_OK;
    if (!(m->packed = sail_alloc_aligned(p.bytes)))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reserving %zu bytes to repack weights "
                              "(load with no_repack to use them as stored)", p.bytes);
    m->packed_bytes = p.bytes;
    p = (packer){m->packed, 0};
    return sail_weights_walk_stored(&m->cfg, &m->w, reserve_tensor, &p);
}

static sail_status load_tokenizer(sail_model *m, sail_error *err) {
    if (m->cfg.towers.on && !m->cfg.towers.has_text) return sail_text_tok_init(&m->text, NULL, &m->cfg, err);
    sail_vocab_kv v;
    sail_status s = sail_vocab_kv_read(m->file, &m->cfg, &v, err);
    if (!s) s = sail_text_tok_init(&m->text, &v, &m->cfg, err);
    sail_vocab_kv_free(&v);
    return s;
}

/* sail.matryoshka: 1..4 i32 prefixes in 1..dim, or absent. */
static sail_status load_trained_dims(sail_model *m, sail_error *err) {
    const gguf_kv *kv = gguf_find_kv(m->file, SAIL_TRAINED_DIMS_KEY);
    if (!kv) return SAIL_OK;
    if (kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_I32 || kv->v.arr.n < 1 ||
        kv->v.arr.n > SAIL_MAX_TRAINED_DIMS)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s must be an array of 1..%d i32", SAIL_TRAINED_DIMS_KEY,
                              SAIL_MAX_TRAINED_DIMS);
    for (uint64_t i = 0; i < kv->v.arr.n; i++) {
        int32_t d;
        memcpy(&d, (const uint8_t *)kv->v.arr.data + 4 * i, 4);
        if (d < 1 || d > m->cfg.dim)
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s holds %d; prefixes are 1..%d", SAIL_TRAINED_DIMS_KEY, d,
                                  m->cfg.dim);
        m->trained_dims[m->n_trained_dims++] = d;
    }
    return SAIL_OK;
}

sail_model *sail_model_load(const char *path, const sail_load_options *opts, sail_error *err) {
    if (!path) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "model path is NULL");
        return NULL;
    }
    sail_model *m = sail_calloc(1, sizeof *m);
    if (!m) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->pos_lock, NULL);
    sail_status s = SAIL_OK;
    snprintf(m->path, sizeof m->path, "%s", path);
    m->file = gguf_open(path, err);
    if (!m->file) s = err ? err->status : SAIL_ERR_FORMAT;
    else if (gguf_find_kv(m->file, "train.step"))
        s = sail_set_error(err, SAIL_ERR_INVALID_ARG,
                           "this is a training checkpoint (optimizer state), not a model; `sail finetune "
                           "--resume` of its folder with --max_steps at or below its step writes the "
                           "model it holds, model.gguf, beside it");
    if (!s) s = sail_config_read(&m->cfg, m->file, err);
    if (!s) s = load_weights(m, err);
    if (!s && !(opts && opts->no_repack)) s = reserve_packing(m, err);
    if (!s) s = load_tokenizer(m, err);
    if (!s) s = load_trained_dims(m, err);
    if (!s) {
        m->pool = sail_pool_new(opts ? opts->n_threads : 0);
        if (!m->pool) s = sail_set_error(err, SAIL_ERR_NOMEM, "cannot start the thread pool");
    }
    if (s) {
        if (m->file && s != SAIL_ERR_NOMEM && err && !strstr(err->msg, path))
            sail_error_prefix(err, "%s", path);
        sail_model_free(m);
        return NULL;
    }
    sail_config_describe(&m->cfg, m->describe, sizeof m->describe);
    return m;
}

void sail_model_free(sail_model *m) {
    if (!m) return;
    sail_pool_free(m->pool);
    sail_text_tok_free(&m->text);
    sail_weights_free_blocks(&m->w);
    gguf_close(m->file);
    sail_free(m->deq);
    sail_free(m->packed);
    sail_arena_free(&m->arena);
    for (int i = 0; i < m->n_part_arenas; i++) sail_arena_free(&m->part_arenas[i]);
    sail_free(m->part_arenas);
    for (int i = 0; i < 2; i++) sail_free(m->pos[i].data);
    pthread_mutex_destroy(&m->pos_lock);
    pthread_mutex_destroy(&m->lock);
    sail_free(m);
    sail_kernels_release(); /* the caller's GEMM packing buffers */
}

int sail_model_dim(const sail_model *m) { return m->cfg.dim; }
int sail_model_text_context(const sail_model *m) { return m->cfg.context; }
int sail_model_image_size(const sail_model *m) {
    return m->cfg.pre_crop ? m->cfg.pre_crop : m->cfg.pre_size;
}
const char *sail_model_describe(const sail_model *m) { return m->describe; }
const char *sail_model_weight_type(const sail_model *m) { return m->wtype; }

void sail_model_memory_usage(const sail_model *m, sail_model_memory *out) {
    out->file_bytes = m->file->size;
    out->widened_bytes = m->deq_bytes;
    out->repacked_bytes = m->packed_bytes;
    out->arena_bytes = SAIL_MAX(m->arena.cap, m->arena.high);
    for (int i = 0; i < m->n_part_arenas; i++)
        out->arena_bytes += SAIL_MAX(m->part_arenas[i].cap, m->part_arenas[i].high);
}

int sail_model_trained_dims(const sail_model *m, int *dims, int cap) {
    if (!m) return 0;
    for (int i = 0; dims && i < m->n_trained_dims && i < cap; i++) dims[i] = m->trained_dims[i];
    return m->n_trained_dims;
}

float sail_model_logit_scale(const sail_model *m) {
    /* CLIP's initial temperature 1/0.07 when the file has none. */
    float v = m->cfg.has_logit_scale ? expf(m->cfg.logit_scale) : 1.0f / 0.07f;
    return v > 100.0f && !m->cfg.has_logit_bias ? 100.0f : v;
}

int sail_model_logit_bias(const sail_model *m, float *bias) {
    if (!m || !m->cfg.has_logit_bias || !m->w.logit_bias) return 0;
    if (bias) *bias = m->w.logit_bias[0];
    return 1;
}

/* ---------------------------------------------------------------- init -- */

typedef struct initer {
    float *next;            /* bump pointer into one parameter block */
    sail_rng rng;
    gguf_writer *w;
    size_t total;           /* floats; counted on the sizing pass */
    int sizing;
} initer;

static sail_status init_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                               const float **slot, sail_init_kind init) {
    initer *it = ctx;
    size_t n = (size_t)rows * (size_t)cols;
    if (it->sizing) {
        it->total += n;
        return SAIL_OK;
    }
    float *p = it->next;
    it->next += n;
    sail_weights_init_values(p, n, init, &it->rng);
    *slot = p;
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    return gguf_add_tensor(it->w, name, GGUF_T_F32, rows == 1 ? 1 : 2, ne, p);
}

static int find_token(char **toks, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(toks[i], s)) return i;
    return -1;
}

static sail_status init_specials(sail_config *c, char **toks, int n, sail_error *err) {
    const char *names[4] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    int *slots[4] = {&c->pad_id, &c->unk_id, &c->cls_id, &c->sep_id};
    for (int i = 0; i < 4; i++) {
        *slots[i] = find_token(toks, n, names[i]);
        if (*slots[i] < 0)
            return sail_set_error(err, SAIL_ERR_FORMAT, "the vocabulary has no %s token", names[i]);
    }
    c->vocab_size = n;
    return SAIL_OK;
}

sail_status sail_model_write_random(const sail_config *cfg, const char *const *tokens,
                                   uint64_t seed, const char *path, sail_error *err) {
    sail_config c = *cfg;
    sail_status s = sail_config_validate(&c, err);
    if (s) return s;
    sail_weights w = {0};
    initer it = {.rng = {seed}, .sizing = 1};
    float *params = NULL;
    gguf_writer *gw = gguf_writer_new();
    if (!gw) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    s = sail_weights_alloc_blocks(&w, &c, err);
    if (!s) s = sail_weights_walk(&c, &w, init_tensor, &it);
    if (!s && !(params = sail_alloc_aligned(it.total * sizeof(float))))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %zu parameters", it.total);
    if (!s) {
        it.sizing = 0;
        it.next = params;
        it.w = gw;
        if (sail_config_write(&c, gw) || gguf_set_str(gw, "tokenizer.ggml.model", "bert") ||
            gguf_set_str_array(gw, "tokenizer.ggml.tokens", tokens, (uint64_t)c.vocab_size) ||
            sail_weights_walk(&c, &w, init_tensor, &it))
            s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory while building the model file");
    }
    if (!s) s = gguf_writer_write(gw, path, err);
    gguf_writer_free(gw);
    sail_weights_free_blocks(&w);
    sail_free(params);
    return s;
}

sail_status sail_model_init(const sail_init_options *o, const char *path, sail_error *err) {
    if (!o || !o->config || !o->vocab_path || !path)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "init needs a config, a vocabulary and an output path");
    if (o->dim && o->dim != 256 && o->dim != 512 && o->dim != 768)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--dim is %d; choose 256, 512 or 768", o->dim);
    sail_config c;
    sail_status s = sail_config_preset(&c, o->config, err);
    if (s) return s;
    if (o->dim) c.dim = o->dim;
    char **toks = NULL;
    int n = 0;
    if ((s = sail_vocab_read(o->vocab_path, &toks, &n, err))) return s;
    s = init_specials(&c, toks, n, err);
    if (!s) s = sail_model_write_random(&c, (const char *const *)toks, o->seed, path, err);
    sail_vocab_free(toks, n);
    return s;
}
