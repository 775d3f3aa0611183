/* tmodel.c: the trainable model's parameter and gradient blocks: creation
 * with the seeded initialisation of sail_model_write_random, loading from a
 * model file, saving as one, and the accessors of train.h. */
#include "tmodel.h"
#include "kernels/numfmt.h"
#include "model/model.h"
#include "model/swin.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LOGIT_SCALE_KEY "sail.logit_scale"

/* The walk runs three times: count and lay out the tensors, then point the
 * params view, then the grads view at their slots. */
typedef struct layout {
    sail_tmodel *tm;
    int pass;       /* 0: layout, 1: params view, 2: grads view */
    int i;          /* tensor index */
    size_t next;    /* layout: next free offset, in floats */
    sail_rng rng;   /* params pass of sail_tmodel_new: the init draws */
    int draw;
} layout;

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

static sail_status layout_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                                 const float **slot, sail_init_kind init) {
    layout *l = ctx;
    sail_tmodel *tm = l->tm;
    size_t n = (size_t)rows * (size_t)cols;
    if (l->pass == 0) {
        if (tm->tensors) {
            sail_tparam *t = &tm->tensors[l->i];
            snprintf(t->name, sizeof t->name, "%s", name);
            t->offset = l->next;
            t->rows = rows;
            t->cols = cols;
            /* matrices and embedding tables decay; vectors (norms, biases,
             * the class token) do not */
            t->decay = init == SAIL_INIT_NORMAL && rows > 1;
            t->lr_scale = 1.0f;
        }
        l->next += align16(n);
    } else {
        float *base = l->pass == 1 ? tm->params : tm->grads;
        *slot = base + tm->tensors[l->i].offset;
        if (l->pass == 1 && l->draw) sail_weights_init_values(base + tm->tensors[l->i].offset, n, init, &l->rng);
    }
    l->i++;
    return SAIL_OK;
}

static sail_wmat f32_view(const float *p, int cols) {
    return (sail_wmat){p, (size_t)cols * sizeof(float), SAIL_WT_F32, NULL};
}

/* The forward reads embedding tables through sail_wmat views (inference
 * keeps them in their stored type): point them at the f32 parameters. */
static void f32_tables(sail_weights *w, const sail_config *c) {
    w->tab.tok = f32_view(w->tok_emb, c->text.width);
    w->tab.pos = f32_view(w->pos_emb, c->text.width);
    w->tab.type = f32_view(w->type_emb, c->text.width);
    w->vis.tab_pos = f32_view(w->vis.pos, c->vision.width);
    w->aud.tab_pos = f32_view(w->aud.pos, c->audio.tower.width);
    w->tab.modality = f32_view(w->modality, c->fusion.width);
    w->tab.latents = f32_view(w->latents, c->fusion.width);
    if (c->swin.on) sail_swin_f32_views(w->swin, c);
}

float *tmodel_zeroed(size_t n, void **mem) {
    size_t bytes;
    if (!sail_mul_ok(n, sizeof(float), &bytes) || !sail_add_ok(bytes, 64, &bytes)) return NULL;
    *mem = sail_calloc(bytes, 1);
    return *mem ? (float *)(((uintptr_t)*mem + 63) & ~(uintptr_t)63) : NULL;
}

void sail_tmodel_zero_grads(sail_tmodel *tm) {
    for (int i = 0; i < tm->n_tensors; i++) /* frozen tensors' pages are never touched */
        if (tm->tensors[i].lr_scale != 0.0f)
            memset(tm->grads + tm->tensors[i].offset, 0,
                   (size_t)(tm->tensors[i].rows * tm->tensors[i].cols) * sizeof(float));
}

void tmodel_bind(sail_tmodel *tm) {
    layout l = {tm, 0, 0, 0, {0}, 0};
    for (l.pass = 1; l.pass <= 2; l.pass++) {
        l.i = 0;
        sail_weights_walk(&tm->cfg, l.pass == 1 ? &tm->w : &tm->g, layout_tensor, &l);
    }
    f32_tables(&tm->w, &tm->cfg);
}

/* Builds the blocks and views; with draw, the weights from seed. */
static sail_tmodel *tmodel_create(const sail_config *cfg, int draw, uint64_t seed,
                                  int n_threads, sail_error *err) {
    if (sail_config_validate(cfg, err)) return NULL;
    sail_tmodel *tm = sail_calloc(1, sizeof *tm);
    if (!tm) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    tm->cfg = *cfg;
    layout l = {tm, 0, 0, 0, {seed}, draw};
    sail_status s = sail_weights_alloc_blocks(&tm->w, cfg, err);
    if (!s) s = sail_weights_alloc_blocks(&tm->g, cfg, err);
    if (!s) s = sail_weights_walk(cfg, &tm->w, layout_tensor, &l); /* count */
    if (!s) {
        tm->n_tensors = l.i + 1;
        tm->tensors = sail_calloc((size_t)tm->n_tensors, sizeof *tm->tensors);
        if (!tm->tensors) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        l.i = 0;
        l.next = 0;
        s = sail_weights_walk(cfg, &tm->w, layout_tensor, &l);
    }
    if (!s) {
        sail_tparam *ls = &tm->tensors[tm->n_tensors - 1];
        snprintf(ls->name, sizeof ls->name, "train.logit_scale");
        ls->offset = l.next;
        ls->rows = ls->cols = 1;
        ls->lr_scale = 1.0f;
        ls->no_clamp = cfg->has_logit_bias; /* SigLIP's loss takes exp(scale) as is */
        tm->size = l.next + 16;
        tm->params = sail_alloc_aligned(tm->size * sizeof(float));
        tm->grads = tmodel_zeroed(tm->size, &tm->grads_mem);
        if (!tm->params || !tm->grads)
            s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %zu parameters", tm->size);
    }
    if (!s) {
        /* padding between tensors stays zero in both blocks */
        memset(tm->params, 0, tm->size * sizeof(float));

        tm->params[tm->tensors[tm->n_tensors - 1].offset] = logf(1.0f / 0.07f);
        for (l.pass = 1; l.pass <= 2 && !s; l.pass++) {
            l.i = 0;
            s = sail_weights_walk(cfg, l.pass == 1 ? &tm->w : &tm->g, layout_tensor, &l);
        }
    }
    if (!s) f32_tables(&tm->w, cfg);
    if (!s) {
        tm->pool = sail_pool_new(n_threads);
        if (!tm->pool) s = sail_set_error(err, SAIL_ERR_NOMEM, "cannot start the thread pool");
    }
    if (s) {
        sail_tmodel_free(tm);
        return NULL;
    }
    return tm;
}

sail_tmodel *sail_tmodel_new(const sail_config *c, uint64_t seed, int n_threads,
                             sail_error *err) {
    if (!c) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "config is NULL");
        return NULL;
    }
    return tmodel_create(c, 1, seed, n_threads, err);
}

typedef struct copier {
    float *params;
    const sail_tparam *tensors;
    int i;
    const gguf_file *file;
    const float *const *vpos; /* the loaded weights' vision position slot */
    int g_old, g_new, dv;
    int cls;                  /* rows before the grid: 1 (class token) or 0 (SigLIP) */
    sail_error *err;
} copier;

/* The loaded model's tensor (validated by sail_model_load), widened to f32
 * from whatever type the file stores it in. The vision position grid is
 * resampled when the image size changes, as the inference path does per call
 * (a class token's row kept), so the fine-tuned model starts from exactly the
 * function the original computes at the new size. */
static sail_status copy_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                               const float **slot, sail_init_kind init) {
    copier *cp = ctx;
    const gguf_tensor *t = gguf_find_tensor(cp->file, name);
    float *dst = cp->params + cp->tensors[cp->i++].offset;
    if (slot != cp->vpos || cp->g_new == cp->g_old) {
        sail_dequantize_row(t->type, dst, t->data, (size_t)rows * cols);
        sail_pages_drop(t->data, t->nbytes); /* the training copy replaces them: loading peaks at the
                                                f32 blocks, not the blocks plus the whole mapping */
        return SAIL_OK;
    }
    float *grid = sail_malloc((size_t)rows * cols * sizeof(float));
    if (!grid) return sail_set_error(cp->err, SAIL_ERR_NOMEM, "out of memory resampling the position grid");
    sail_dequantize_row(t->type, grid, t->data, (size_t)rows * cols);
    size_t head = (size_t)cp->cls * cp->dv;
    memcpy(dst, grid, head * sizeof(float));
    sail_interp_bicubic(dst + head, cp->g_new, cp->g_new, grid + head, cp->g_old, cp->dv);
    sail_free(grid);
    return SAIL_OK;
}

/* The model's config at another image size (0: unchanged; a text-only
 * model has none). */
static sail_status resized_config(sail_config *c, int image_size, sail_error *err) {
    if (!image_size || image_size == c->image_size || (c->towers.on && !c->towers.has_vision)) return SAIL_OK;
    if (image_size % c->patch_size)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "image size %d is not a multiple of the model's patch size %d",
                              image_size, c->patch_size);
    c->pre_size = (int)((int64_t)c->pre_size * image_size / c->image_size);
    c->image_size = c->pre_crop = image_size;
    return sail_config_validate(c, err);
}

sail_tmodel *sail_tmodel_load(const char *path, int image_size, int n_threads, sail_error *err) {
    sail_load_options lo = {.n_threads = 1, .no_repack = 1}; /* widened to f32, not run */
    sail_model *m = sail_model_load(path, &lo, err);
    if (!m) return NULL;
    sail_config cfg = m->cfg;
    sail_status s = resized_config(&cfg, image_size, err);
    sail_tmodel *tm = s ? NULL : tmodel_create(&cfg, 0, 0, n_threads, err);
    if (!s && !tm) s = err ? err->status : SAIL_ERR_NOMEM;
    if (!s) {
        sail_weights w = m->w; /* the walk only reads the slots */
        int p = SAIL_MAX(cfg.patch_size, 1); /* a text-only model has no patches */
        copier cp = {tm->params, tm->tensors, 0, m->file, &w.vis.pos, m->cfg.image_size / p,
                     cfg.image_size / p, cfg.vision.width, !cfg.towers.vision_no_cls, err};
        s = sail_weights_walk(&m->cfg, &w, copy_tensor, &cp);
    }
    if (!s && gguf_find_kv(m->file, LOGIT_SCALE_KEY)) {
        float v;
        s = gguf_get_f32(m->file, LOGIT_SCALE_KEY, &v, err);
        if (!s && !isfinite(v))
            s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: %s is not finite", path, LOGIT_SCALE_KEY);
        if (!s) tm->params[tm->tensors[tm->n_tensors - 1].offset] = v;
    }
    sail_model_free(m);
    if (s) {
        sail_tmodel_free(tm);
        return NULL;
    }
    return tm;
}

void sail_tmodel_free(sail_tmodel *tm) {
    if (!tm) return;
    sail_pool_free(tm->pool);
    sail_weights_free_blocks(&tm->w);
    sail_weights_free_blocks(&tm->g);
    sail_free(tm->tensors);
    sail_free(tm->params);
    sail_free(tm->grads_mem);
    sail_arena_free(&tm->arena);
    sail_free(tm);
}

const sail_config *sail_tmodel_config(const sail_tmodel *tm) { return &tm->cfg; }
size_t sail_tmodel_size(const sail_tmodel *tm) { return tm->size; }
float *sail_tmodel_params(sail_tmodel *tm) { return tm->params; }
float *sail_tmodel_grads(sail_tmodel *tm) { return tm->grads; }
int sail_tmodel_n_tensors(const sail_tmodel *tm) { return tm->n_tensors; }
const sail_tparam *sail_tmodel_tensor(const sail_tmodel *tm, int i) {
    return i >= 0 && i < tm->n_tensors ? &tm->tensors[i] : NULL;
}

typedef struct saver {
    gguf_writer *w;
    const sail_tmodel *tm;
    int i;
    float **merged;             /* (n_tensors) LoRA-merged copies, alive until written */
} saver;

static sail_status add_tensor(void *ctx, const char *name, int64_t rows, int64_t cols,
                              const float **slot, sail_init_kind init) {
    saver *sv = ctx;
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    int oom = 0, i = sv->i++;
    const float *data = sv->merged[i] = lora_merged(sv->tm, i, &oom);
    if (oom) return SAIL_ERR_NOMEM;
    if (!data) data = sv->tm->params + sv->tm->tensors[i].offset;
    return gguf_add_tensor(sv->w, name, GGUF_T_F32, rows == 1 ? 1 : 2, ne, data);
}

void sail_tmodel_set_trained_dims(sail_tmodel *tm, const sail_loss_opts *lo) {
    int n = SAIL_MIN(lo->n_dims, SAIL_MAX_TRAINED_DIMS);
    tm->n_trained_dims = n == 1 && lo->dims[0] == tm->cfg.dim ? 0 : n;
    for (int i = 0; i < tm->n_trained_dims; i++) tm->trained_dims[i] = lo->dims[i];
}

sail_status sail_tmodel_save(const sail_tmodel *tm, const sail_vocab_kv *vocab,
                             const char *path, sail_error *err) {
    if (!tm || !vocab || !path)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "save needs a model, a vocabulary and a path");
    const sail_config *c = &tm->cfg;
    gguf_writer *gw = gguf_writer_new();
    if (!gw) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_weights w = tm->w;
    saver sv = {gw, tm, 0, sail_calloc((size_t)tm->n_tensors, sizeof(float *))};
    sail_status s = SAIL_OK;
    if (!sv.merged || sail_config_write(c, gw) || sail_vocab_kv_write(vocab, gw) ||
        gguf_set_f32(gw, LOGIT_SCALE_KEY, tm->params[tm->tensors[tm->n_tensors - 1].offset]) ||
        (tm->n_trained_dims &&
         gguf_set_array(gw, SAIL_TRAINED_DIMS_KEY, GGUF_VT_I32, tm->trained_dims, (uint64_t)tm->n_trained_dims)) ||
        sail_weights_walk(c, &w, add_tensor, &sv))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory while building the model file");
    if (!s) s = gguf_writer_write(gw, path, err);
    gguf_writer_free(gw);
    for (int i = 0; sv.merged && i < tm->n_tensors; i++) sail_free(sv.merged[i]);
    sail_free(sv.merged);
    return s;
}

/* ------------------------------------------------------------- parts -- */

static const char *const PART_NAMES[SAIL_N_PARTS] = {"text", "vision", "fusion", "head", "temperature", "audio"};

sail_part sail_part_of(const char *name) {
    /* an imported tower's projection(s) and pooler are its head (CLAP's: proj, proj2; proj1, proj2) */
    if (!strncmp(name, "text.proj.", 10) || !strncmp(name, "text.proj2.", 11) || !strncmp(name, "vis.proj.", 9) ||
        !strncmp(name, "text.pooler.", 12) || !strncmp(name, "vis.pooler.", 11) || !strncmp(name, "audio.proj", 10))
        return SAIL_PART_HEAD;
    if (!strncmp(name, "text.", 5)) return SAIL_PART_TEXT;
    if (!strncmp(name, "vis.", 4)) return SAIL_PART_VISION;
    if (!strncmp(name, "aud.", 4) || !strncmp(name, "audio.", 6) || !strncmp(name, "fuse.aud_proj.", 14))
        return SAIL_PART_AUDIO; /* an AST's tensors, HTSAT's */
    if (!strncmp(name, "fuse.", 5)) return SAIL_PART_FUSION;
    if (!strncmp(name, "head.", 5)) return SAIL_PART_HEAD;
    return SAIL_PART_TEMPERATURE;
}

int sail_part_parse(const char *name, size_t len) {
    for (int p = 0; p < SAIL_N_PARTS; p++)
        if (strlen(PART_NAMES[p]) == len && !strncmp(PART_NAMES[p], name, len)) return p;
    return -1;
}

const char *sail_part_name(sail_part p) { return p >= 0 && p < SAIL_N_PARTS ? PART_NAMES[p] : "?"; }

/* The part of tensor name in tm: an HTSAT tower's projection into the
 * fusion is the fusion's, as the text and image projections are, so that
 * it learns around a frozen tower (test_compose_clap.py). */
static sail_part part_in(const sail_tmodel *tm, const char *name) {
    if (tm->cfg.swin.on && !strncmp(name, "fuse.aud_proj.", 14)) return SAIL_PART_FUSION;
    return sail_part_of(name);
}

void sail_tmodel_set_parts(sail_tmodel *tm, const float scale[SAIL_N_PARTS]) {
    for (int i = 0; i < tm->n_tensors; i++) {
        const char *name = tm->tensors[i].name;
        int p = part_in(tm, name), base = tm->lora_parts >> p & 1 && !lora_is_adapter(name);
        tm->tensors[i].lr_scale = base ? 0.0f : scale[p]; /* an adapted part trains its adapters only */
    }
    for (int p = 0; p < SAIL_N_PARTS; p++) tm->frozen[p] = scale[p] == 0.0f;
}
