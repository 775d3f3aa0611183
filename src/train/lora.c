/* lora.c: LoRA adapters on the attention and MLP matrices of chosen parts.
 *
 * Each adapted matrix W (out, in) gets A (rank, in) and B (out, rank); the
 * layer computes x W^T + s (x A^T) B^T with s = alpha / rank (layers.c), and
 * only A and B train in an adapted part (PEFT's default: the part's
 * matrices, biases, norms and embeddings stay as they are). A starts
 * uniform in +-1/sqrt(in) (kaiming-uniform with a = sqrt(5), as PEFT), B at
 * zero, so training starts from exactly the base model. The adapters are
 * extra tensors in the parameter block (before the temperature), so
 * checkpoints carry them; a saved model has them merged, W + s B A. */
#include "tmodel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const LINEARS[4] = {"attn_qkv", "attn_out", "ffn_up", "ffn_down"};

typedef struct adapted {
    sail_linear *w, *g;         /* the linear in the params and grads views */
    char name[64];              /* "text.blk.0.attn_qkv": at most 29 bytes, so the
                                   adapters' "<name>.lora_a" fit a tensor name */
    int out, in;
} adapted;

/* The adaptable linears of the parts in mask (list NULL: count only). */
static int collect(sail_tmodel *tm, int mask, adapted *list) {
    const sail_config *c = &tm->cfg;
    /* an absent tower has no layers */
    struct { int part; const char *pre; const sail_tower *t; sail_block *w, *g; } towers[4] = {
        {SAIL_PART_TEXT, "text", &c->text, tm->w.text, tm->g.text},
        {SAIL_PART_VISION, "vis", &c->vision, tm->w.vis.blocks, tm->g.vis.blocks},
        {SAIL_PART_AUDIO, "aud", &c->audio.tower, tm->w.aud.blocks, tm->g.aud.blocks},
        {SAIL_PART_FUSION, "fuse", &c->fusion, tm->w.fusion, tm->g.fusion},
    };
    int n = 0;
    for (int k = 0; k < 4; k++) {
        if (!(mask >> towers[k].part & 1)) continue;
        if (c->towers.on && (towers[k].part == SAIL_PART_FUSION || (k == 0 && !c->towers.has_text) ||
                             (k == 1 && !c->towers.has_vision)))
            continue;
        const sail_tower *t = towers[k].t;
        int d = t->width, f = t->ffn;
        int dims[4][2] = {{3 * d, d}, {d, d}, {f, d}, {d, f}};
        for (int l = 0; l < t->layers; l++)
            for (int j = 0; j < 4; j++, n++) {
                if (!list) continue;
                sail_block *bw = &towers[k].w[l], *bg = &towers[k].g[l];
                sail_linear *lw[4] = {&bw->qkv, &bw->out, &bw->up, &bw->down};
                sail_linear *lg[4] = {&bg->qkv, &bg->out, &bg->up, &bg->down};
                adapted *a = &list[n];
                a->w = lw[j];
                a->g = lg[j];
                a->out = dims[j][0];
                a->in = dims[j][1];
                snprintf(a->name, sizeof a->name, "%s.blk.%d.%s", towers[k].pre, l, LINEARS[j]);
            }
    }
    return n;
}

int lora_is_adapter(const char *name) {
    size_t n = strlen(name);
    return n > 7 && (!strcmp(name + n - 7, ".lora_a") || !strcmp(name + n - 7, ".lora_b"));
}

static int find_tensor(const sail_tmodel *tm, const char *name) {
    for (int i = 0; i < tm->n_tensors; i++)
        if (!strcmp(tm->tensors[i].name, name)) return i;
    return -1;
}

/* Point each adapted linear at its A and B in the params and grads views;
 * the grads view drops the frozen base (its gradient is never computed). */
static void bind_adapters(sail_tmodel *tm, adapted *list, int n) {
    float s = tm->lora_alpha / (float)tm->lora_rank;
    for (int i = 0; i < n; i++) {
        char na[112], nb[112];
        snprintf(na, sizeof na, "%s.lora_a", list[i].name);
        snprintf(nb, sizeof nb, "%s.lora_b", list[i].name);
        size_t oa = tm->tensors[find_tensor(tm, na)].offset, ob = tm->tensors[find_tensor(tm, nb)].offset;
        sail_linear *w = list[i].w, *g = list[i].g;
        w->la = tm->params + oa, w->lb = tm->params + ob;
        g->la = tm->grads + oa, g->lb = tm->grads + ob;
        w->rank = g->rank = tm->lora_rank;
        w->lscale = g->lscale = s;
        g->w = g->b = NULL;
    }
}

static sail_tparam adapter_param(const char *base, const char *suffix, int64_t rows, int64_t cols,
                                 size_t offset) {
    sail_tparam p = {.offset = offset, .rows = rows, .cols = cols, .decay = 0, .lr_scale = 1.0f};
    snprintf(p.name, sizeof p.name, "%s.%s", base, suffix);
    return p;
}

sail_status sail_tmodel_add_lora(sail_tmodel *tm, int rank, float alpha, int parts, uint64_t seed,
                                 sail_error *err) {
    if (tm->lora_rank) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the model already has LoRA adapters");
    if (rank < 1 || rank > 1024 || !(alpha > 0 && alpha <= 1e4))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "LoRA rank %d / alpha %g: rank 1..1024, alpha > 0", rank,
                              alpha);
    if (parts >> SAIL_PART_AUDIO & 1 && tm->cfg.swin.on)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "LoRA: CLAP's HTSAT audio tower takes no adapters; train it "
                              "whole or freeze it (--freeze audio)");
    int n = collect(tm, parts, NULL);
    if (!n) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "LoRA: the chosen parts have no attention or MLP layers");
    adapted *list = sail_calloc((size_t)n, sizeof *list);
    sail_tparam *tp = sail_calloc((size_t)tm->n_tensors + 2 * (size_t)n, sizeof *tp);
    if (!list || !tp) {
        sail_free(list);
        sail_free(tp);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for LoRA");
    }
    collect(tm, parts, list);
    /* model tensors keep their offsets; adapters follow; the temperature last */
    int nt = tm->n_tensors - 1;
    memcpy(tp, tm->tensors, (size_t)nt * sizeof *tp);
    size_t next = tm->tensors[nt].offset;
    for (int i = 0; i < n; i++) {
        tp[nt++] = adapter_param(list[i].name, "lora_a", rank, list[i].in, next);
        next += ((size_t)rank * list[i].in + 15) & ~(size_t)15;
        tp[nt++] = adapter_param(list[i].name, "lora_b", list[i].out, rank, next);
        next += ((size_t)list[i].out * rank + 15) & ~(size_t)15;
    }
    tp[nt] = tm->tensors[tm->n_tensors - 1];
    tp[nt].offset = next;
    size_t size = next + 16;
    void *grads_mem = NULL;
    float *params = sail_alloc_aligned(size * sizeof(float)), *grads = tmodel_zeroed(size, &grads_mem);
    if (!params || !grads) {
        sail_free(list);
        sail_free(tp);
        sail_free(params);
        sail_free(grads_mem);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for LoRA (%zu parameters)", size);
    }
    memset(params, 0, size * sizeof(float));
    memcpy(params, tm->params, tm->tensors[tm->n_tensors - 1].offset * sizeof(float));
    params[tp[nt].offset] = tm->params[tm->tensors[tm->n_tensors - 1].offset];
    sail_rng rng = {seed};
    for (int i = tm->n_tensors - 1; i < nt; i += 2) { /* A uniform, B zero */
        float bound = 1.0f / sqrtf((float)tp[i].cols);
        for (int64_t j = 0; j < tp[i].rows * tp[i].cols; j++)
            params[tp[i].offset + j] = (float)(2.0 * sail_rng_uniform(&rng) - 1.0) * bound;
    }
    sail_free(tm->params);
    sail_free(tm->grads_mem);
    sail_free(tm->tensors);
    tm->params = params, tm->grads = grads, tm->grads_mem = grads_mem, tm->tensors = tp;
    tm->n_tensors = nt + 1;
    tm->size = size;
    tm->lora_rank = rank, tm->lora_alpha = alpha, tm->lora_parts = parts;
    tmodel_bind(tm);
    collect(tm, parts, list); /* the views moved */
    bind_adapters(tm, list, n);
    sail_free(list);
    for (int i = 0; i < tm->n_tensors; i++) /* in an adapted part only the adapters train */
        if (parts >> sail_part_of(tm->tensors[i].name) & 1 && !lora_is_adapter(tm->tensors[i].name))
            tm->tensors[i].lr_scale = 0.0f;
    return SAIL_OK;
}

float *lora_merged(const sail_tmodel *tm, int i, int *oom) {
    const sail_tparam *p = &tm->tensors[i];
    size_t n = strlen(p->name);
    if (!tm->lora_rank || n < 8 || strcmp(p->name + n - 7, ".weight")) return NULL;
    char na[112], nb[112];
    snprintf(na, sizeof na, "%.*s.lora_a", (int)(n - 7), p->name);
    snprintf(nb, sizeof nb, "%.*s.lora_b", (int)(n - 7), p->name);
    int ia = find_tensor(tm, na), ib = find_tensor(tm, nb);
    if (ia < 0 || ib < 0) return NULL;
    int r = tm->lora_rank, out = (int)p->rows, in = (int)p->cols;
    float s = tm->lora_alpha / (float)r;
    float *m = sail_alloc_aligned((size_t)out * in * sizeof(float)), *b = sail_alloc_aligned((size_t)out * r * sizeof(float));
    if (!m || !b) {
        sail_free(m);
        sail_free(b);
        *oom = 1;
        return NULL;
    }
    memcpy(m, tm->params + p->offset, (size_t)out * in * sizeof(float));
    for (size_t j = 0; j < (size_t)out * r; j++) b[j] = s * tm->params[tm->tensors[ib].offset + j];
    sail_gemm(tm->pool, out, in, r, b, r, tm->params + tm->tensors[ia].offset, in, 0, NULL, 1.0f, m, in);
    sail_free(b);
    return m;
}
