/* forward.c: the path of the data through a sail model:
 * text embeddings -> BERT layers; patches -> ViT layers; both projected to
 * the fusion width, tagged by modality, optionally compressed (perceiver),
 * fused by bidirectional layers, pooled, projected and L2-normalised. */
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* x (B*T, dt) = LN(tok[ids] + pos[t] + type[0]); mask (B, T). Imported
 * models may have no type embeddings and no LayerNorm here (CLIP). Table
 * rows are decoded as they are looked up when stored narrower than f32. */
static float *text_embed(fwd *f, const sail_batch *b, int T, uint8_t *mask) {
    const sail_config *c = &f->m->cfg;
    const sail_weights *w = &f->m->w;
    int dt = c->text.width;
    float *x = fwd_alloc(f, (size_t)b->n * T * dt);
    float *buf = fwd_alloc(f, 3 * (size_t)dt);
    if (f->oom) return NULL;
    const int32_t *ids = b->ids;
    const sail_towers *tw = &c->towers;
    int types = !tw->on || c->type_vocab > 0;
    const float *ty = types ? tab_row(&w->tab.type, 0, buf + 2 * dt, dt) : NULL;
    for (int i = 0; i < b->n; i++) {
        for (int t = 0; t < T; t++) {
            float *row = x + ((size_t)i * T + t) * dt;
            mask[i * T + t] = t < b->lens[i];
            int id = t < b->lens[i] ? ids[t] : c->pad_id;
            const float *te = tab_row(&w->tab.tok, id, buf, dt);
            const float *pe = tab_row(&w->tab.pos, t, buf + dt, dt);
            if (types)
                for (int j = 0; j < dt; j++) row[j] = te[j] + pe[j] + ty[j];
            else
                for (int j = 0; j < dt; j++) row[j] = te[j] + pe[j];
        }
        ids += b->lens[i];
    }
    if (!tw->on || tw->text_emb_norm) norm_forward(f, &w->emb_norm, x, x, b->n * T, dt, c->text.eps);
    trace(f, "text.emb", x, b->n * T, dt);
    return x;
}

static float *text_encode(fwd *f, const sail_batch *b, int T, uint8_t *mask) {
    const sail_config *c = &f->m->cfg;
    float *x = text_embed(f, b, T, mask);
    char name[32];
    int causal = c->towers.on && c->towers.text_causal;
    for (int l = 0; l < c->text.layers && !f->oom; l++) {
        block_forward(f, &c->text, &f->m->w.text[l], x, b->n, T, mask, causal);
        snprintf(name, sizeof name, "text.blk.%d", l);
        trace(f, name, x, b->n * T, c->text.width);
    }
    if (c->towers.on && c->towers.text_final_norm)
        norm_forward(f, &f->m->w.text_final, x, x, b->n * T, c->text.width, c->text.eps);
    return x;
}

/* Position embeddings for a gh x gw grid: the trained table, or its bicubic
 * interpolation (cached per grid; recomputed only when the grid changes).
 * A table stored narrower than f32 is decoded into the same cache. */
static const float *vision_positions(fwd *f, int gh, int gw) {
    sail_model *m = f->m;
    const sail_wmat *vpos = &m->w.tab.vpos;
    int g = m->cfg.image_size / m->cfg.patch_size, dv = m->cfg.vision.width;
    if (gh == g && gw == g && vpos->type == SAIL_WT_F32) return vpos->data;
    if (m->pos_cache && m->pos_gh == gh && m->pos_gw == gw) return m->pos_cache;
    size_t mark = sail_arena_mark(f->a);
    const float *src = tab_rows(f, vpos, 1 + g * g, dv);
    sail_free(m->pos_cache);
    m->pos_cache = sail_alloc_aligned(((size_t)gh * gw + 1) * dv * sizeof(float));
    if (!src || !m->pos_cache) {
        sail_free(m->pos_cache);
        m->pos_cache = NULL;
        f->oom = 1;
        return NULL;
    }
    m->pos_gh = gh;
    m->pos_gw = gw;
    if (gh == g && gw == g) memcpy(m->pos_cache, src, ((size_t)g * g + 1) * dv * sizeof(float));
    else {
        memcpy(m->pos_cache, src, (size_t)dv * sizeof(float));
        sail_interp_bicubic(m->pos_cache + dv, gh, gw, src + dv, g, dv);
    }
    sail_arena_release(f->a, mark);
    return m->pos_cache;
}

/* Unfold image i into rows of 3*p*p values ordered (c, ky, kx), the layout
 * of a flattened Conv2d(3, dv, p, stride p) weight. */
static void unfold_patches(float *rows, const float *img, int h, int w, int p) {
    int gw = w / p, gh = h / p;
    for (int py = 0; py < gh; py++)
        for (int px = 0; px < gw; px++) {
            float *r = rows + ((size_t)py * gw + px) * 3 * p * p;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < p; ky++) {
                    const float *src = img + ((size_t)ch * h + py * p + ky) * w + px * p;
                    memcpy(r + (ch * p + ky) * p, src, (size_t)p * sizeof(float));
                }
        }
}

/* x (B*Tv, dv) with Tv = 1 + gh*gw: [CLS; patches] + positions, ViT layers,
 * final norm. */
static float *vision_encode(fwd *f, const sail_batch *b, int *Tv_out) {
    const sail_config *c = &f->m->cfg;
    const sail_weights *w = &f->m->w;
    int p = c->patch_size, dv = c->vision.width, gh = b->h / p, gw = b->w / p;
    int np = gh * gw, Tv = np + 1, kp = 3 * p * p;
    float *x = fwd_alloc(f, (size_t)b->n * Tv * dv);
    size_t mark = sail_arena_mark(f->a);
    float *rows = fwd_alloc(f, (size_t)np * kp);
    const float *pos = vision_positions(f, gh, gw);
    if (f->oom) return NULL;
    for (int i = 0; i < b->n; i++) {
        float *xi = x + (size_t)i * Tv * dv;
        unfold_patches(rows, b->pixels + (size_t)i * 3 * b->h * b->w, b->h, b->w, p);
        memcpy(xi, w->cls, (size_t)dv * sizeof(float));
        linear_forward(f, &w->patch, rows, np, kp, dv, xi + dv, 0);
        f->k->add(xi, xi, pos, (size_t)Tv * dv);
    }
    sail_arena_release(f->a, mark);
    if (c->towers.on && c->towers.vision_pre_norm)
        norm_forward(f, &w->vis_pre, x, x, b->n * Tv, dv, c->vision.eps);
    trace(f, "vis.emb", x, b->n * Tv, dv);
    char name[32];
    for (int l = 0; l < c->vision.layers && !f->oom; l++) {
        block_forward(f, &c->vision, &w->vision[l], x, b->n, Tv, NULL, 0);
        snprintf(name, sizeof name, "vis.blk.%d", l);
        trace(f, name, x, b->n * Tv, dv);
    }
    norm_forward(f, &w->vis_norm, x, x, b->n * Tv, dv, c->vision.eps);
    trace(f, "vis.out", x, b->n * Tv, dv);
    *Tv_out = Tv;
    return x;
}

/* Perceiver: n_lat learned queries cross-attend over v (B*Tv, df); returns
 * (B*n_lat, df). */
static float *perceiver(fwd *f, const float *v, int B, int Tv) {
    const sail_config *c = &f->m->cfg;
    const sail_weights *w = &f->m->w;
    const sail_tower *t = &c->fusion;
    int df = t->width, nl = c->perceiver_latents;
    float *x = fwd_alloc(f, (size_t)B * nl * df);
    size_t mark = sail_arena_mark(f->a);
    float *h = fwd_alloc(f, (size_t)B * nl * df);
    float *q = fwd_alloc(f, (size_t)B * nl * df);
    float *kvn = fwd_alloc(f, (size_t)B * Tv * df);
    float *kv = fwd_alloc(f, (size_t)B * Tv * 2 * df);
    float *att = fwd_alloc(f, (size_t)B * nl * df);
    const float *lat = tab_rows(f, &w->tab.latents, nl, df);
    if (f->oom) return NULL;
    for (int i = 0; i < B; i++) memcpy(x + (size_t)i * nl * df, lat, (size_t)nl * df * sizeof(float));
    norm_forward(f, &w->perc.norm1, h, x, B * nl, df, t->eps);
    sail_linear wq = linear_rows(&w->perc.qkv, 0), wkv = linear_rows(&w->perc.qkv, df);
    linear_forward(f, &wq, h, B * nl, df, df, q, 0);
    norm_forward(f, &w->perc_norm_kv, kvn, v, B * Tv, df, t->eps);
    linear_forward(f, &wkv, kvn, B * Tv, df, 2 * df, kv, 0);
    attention_forward(f, t, q, df, kv, kv + df, 2 * df, att, B, nl, Tv, NULL, 0);
    linear_forward(f, &w->perc.out, att, B * nl, df, df, x, 1);
    sail_arena_release(f->a, mark);
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_forward(f, &pre, &w->perc, x, B * nl);
    trace(f, "fuse.perceiver", x, B * nl, df);
    return x;
}

/* Copy rows (n_i, df) of each item into the joint sequence at offset off and
 * add the modality embedding. */
static void place(float *seq, int S, int off, const float *src, int rows, int B,
                  int df, const float *mod) {
    for (int i = 0; i < B; i++)
        for (int r = 0; r < rows; r++) {
            float *dst = seq + ((size_t)i * S + off + r) * df;
            const float *s = src + ((size_t)i * rows + r) * df;
            for (int j = 0; j < df; j++) dst[j] = s[j] + mod[j];
        }
}

static void pool_rows(fwd *f, float *pooled, float *x, const uint8_t *mask, int B, int S, int df) {
    sail_pooling how = f->m->cfg.pooling;
    if (how == SAIL_POOL_MEAN_TANH) f->k->tanh(x, (size_t)B * S * df);
    for (int i = 0; i < B; i++) {
        const float *xi = x + (size_t)i * S * df;
        if (how == SAIL_POOL_CLS) memcpy(pooled + (size_t)i * df, xi, (size_t)df * sizeof(float));
        else sail_mean_pool(pooled + (size_t)i * df, xi, mask + (size_t)i * S, S, df);
    }
}

static int max_len(const sail_batch *b) {
    int T = 0;
    for (int i = 0; i < b->n; i++) T = SAIL_MAX(T, b->lens[i]);
    return T;
}

static sail_status check_batch(const sail_model *m, const sail_batch *b, sail_error *err) {
    const sail_config *c = &m->cfg;
    if (b->n < 1 || (!b->ids && !b->pixels))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "empty batch");
    if (b->ids) {
        const int32_t *ids = b->ids;
        for (int i = 0; i < b->n; i++) {
            if (b->lens[i] < 1 || b->lens[i] > c->max_positions)
                return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                      "text %d has %d tokens; the model takes 1..%d", i, b->lens[i],
                                      c->max_positions);
            for (int t = 0; t < b->lens[i]; t++)
                if (ids[t] < 0 || ids[t] >= c->vocab_size)
                    return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                          "text %d: token id %d is outside the vocabulary (0..%d)",
                                          i, ids[t], c->vocab_size - 1);
            ids += b->lens[i];
        }
    }
    if (b->pixels) {
        int p = c->patch_size;
        if (b->h < p || b->w < p || b->h % p || b->w % p || b->h > 4096 || b->w > 4096)
            return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                  "image tensor is %dx%d; both sides must be multiples of the patch size %d (up to 4096)",
                                  b->w, b->h, p);
    }
    return SAIL_OK;
}

/* ------------------------------------------------- imported models -- */

/* Row of item i that the text tower pools (CLS: 0; EOS: the first end
 * token, or the first largest id when pool_token is -1, as CLIP's argmax). */
static int eos_row(const sail_config *c, const int32_t *ids, int len) {
    int tok = c->towers.text_pool_token, best = 0;
    for (int t = 0; t < len; t++) {
        if (tok >= 0 && ids[t] == tok) return t;
        if (tok < 0 && ids[t] > ids[best]) best = t;
    }
    return tok >= 0 ? len - 1 : best;
}

/* pooled (B, d) -> out (B, dim): optional tanh pooler, optional bias-free
 * projection, L2. */
static void towers_out(fwd *f, float *pooled, const sail_linear *pooler,
                       const sail_linear *proj, int B, int d, float *out) {
    const sail_config *c = &f->m->cfg;
    if (pooler) {
        float *h = fwd_alloc(f, (size_t)B * d);
        linear_forward(f, pooler, pooled, B, d, d, h, 0);
        if (f->oom) return;
        f->k->tanh(h, (size_t)B * d);
        pooled = h;
    }
    if (proj) linear_forward(f, proj, pooled, B, d, c->dim, out, 0);
    else if (!f->oom) memcpy(out, pooled, (size_t)B * d * sizeof(float));
    if (f->oom) return;
    for (int i = 0; i < B; i++) sail_l2_normalize(out + (size_t)i * c->dim, c->dim);
    trace(f, "embedding", out, B, c->dim);
}

/* An imported model: no fusion; the modality present is encoded, pooled and
 * projected on its own, as the original model computes it. */
static sail_status forward_towers(fwd *f, const sail_batch *b, float *out, sail_error *err) {
    const sail_config *c = &f->m->cfg;
    const sail_towers *tw = &c->towers;
    const sail_weights *w = &f->m->w;
    int B = b->n;
    if (b->ids && b->pixels)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "this imported model has no fusion layers; embed texts and images separately");
    if (b->ids && !tw->has_text)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "this model has no text encoder (it embeds images only)");
    if (b->pixels && !tw->has_vision)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "this model has no vision encoder (it embeds texts only)");
    sail_status s = check_batch(f->m, b, err);
    if (s) return s;
    if (sail_arena_reset(f->a)) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    if (b->ids) {
        int T = max_len(b), dt = c->text.width;
        uint8_t *mask = fwd_alloc_mask(f, (size_t)B * T);
        float *x = f->oom ? NULL : text_encode(f, b, T, mask);
        float *pooled = fwd_alloc(f, (size_t)B * dt);
        if (f->oom) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
        const int32_t *ids = b->ids;
        for (int i = 0; i < B; i++) {
            const float *xi = x + (size_t)i * T * dt;
            if (tw->text_pool == SAIL_TPOOL_MEAN)
                sail_mean_pool(pooled + (size_t)i * dt, xi, mask + (size_t)i * T, T, dt);
            else {
                int r = tw->text_pool == SAIL_TPOOL_EOS ? eos_row(c, ids, b->lens[i]) : 0;
                memcpy(pooled + (size_t)i * dt, xi + (size_t)r * dt, (size_t)dt * sizeof(float));
            }
            ids += b->lens[i];
        }
        trace(f, "pooled", pooled, B, dt);
        towers_out(f, pooled, tw->text_pool == SAIL_TPOOL_POOLER ? &w->text_pooler : NULL,
                   tw->text_proj ? &w->text_out : NULL, B, dt, out);
    } else {
        int Tv = 0, dv = c->vision.width;
        float *x = vision_encode(f, b, &Tv);
        float *pooled = fwd_alloc(f, (size_t)B * dv);
        if (f->oom) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
        for (int i = 0; i < B; i++)
            memcpy(pooled + (size_t)i * dv, x + (size_t)i * Tv * dv, (size_t)dv * sizeof(float));
        trace(f, "pooled", pooled, B, dv);
        towers_out(f, pooled, tw->vision_pooler ? &w->vis_pooler : NULL,
                   tw->vision_proj ? &w->vis_out : NULL, B, dv, out);
    }
    return f->oom ? sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations") : SAIL_OK;
}

sail_status sail_forward(sail_model *m, const sail_batch *b, float *out, sail_error *err) {
    if (m->cfg.towers.on) {
        fwd f = {m, &m->arena, m->pool, sail_kernels(), 0};
        return forward_towers(&f, b, out, err);
    }
    sail_status s = check_batch(m, b, err);
    if (s) return s;
    const sail_config *c = &m->cfg;
    const sail_weights *w = &m->w;
    int B = b->n, df = c->fusion.width;
    fwd f = {m, &m->arena, m->pool, sail_kernels(), 0};
    if (sail_arena_reset(&m->arena)) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");

    int T = b->ids ? max_len(b) : 0, Tv = 0;
    uint8_t *tmask = fwd_alloc_mask(&f, (size_t)B * T);
    float *ht = (b->ids && !f.oom) ? text_encode(&f, b, T, tmask) : NULL;
    float *hv = (b->pixels && !f.oom) ? vision_encode(&f, b, &Tv) : NULL;
    int Sv = hv ? (c->perceiver_latents ? c->perceiver_latents : Tv) : 0;
    int S = Sv + T;
    float *seq = fwd_alloc(&f, (size_t)B * S * df);
    uint8_t *mask = fwd_alloc_mask(&f, (size_t)B * S);
    if (f.oom) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    for (int i = 0; i < B; i++)
        for (int t = 0; t < S; t++) mask[i * S + t] = t < Sv || tmask[i * T + (t - Sv)];

    size_t mark = sail_arena_mark(&m->arena);
    const float *modality = tab_rows(&f, &w->tab.modality, 2, df); /* row 0 image, 1 text */
    if (hv) {
        float *v = fwd_alloc(&f, (size_t)B * Tv * df);
        linear_forward(&f, &w->vis_proj, hv, B * Tv, c->vision.width, df, v, 0);
        if (c->perceiver_latents && !f.oom) v = perceiver(&f, v, B, Tv);
        if (!f.oom) place(seq, S, 0, v, Sv, B, df, modality);
    }
    if (ht) {
        float *u = fwd_alloc(&f, (size_t)B * T * df);
        linear_forward(&f, &w->text_proj, ht, B * T, c->text.width, df, u, 0);
        if (!f.oom) place(seq, S, Sv, u, T, B, df, modality + df);
    }
    sail_arena_release(&m->arena, mark);
    trace(&f, "fuse.in", seq, B * S, df);
    char name[32];
    for (int l = 0; l < c->fusion.layers && !f.oom; l++) {
        block_forward(&f, &c->fusion, &w->fusion[l], seq, B, S, mask, 0);
        snprintf(name, sizeof name, "fuse.blk.%d", l);
        trace(&f, name, seq, B * S, df);
    }
    norm_forward(&f, &w->fuse_norm, seq, seq, B * S, df, c->fusion.eps);
    trace(&f, "fuse.out", seq, B * S, df);
    float *pooled = fwd_alloc(&f, (size_t)B * df);
    if (f.oom) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    pool_rows(&f, pooled, seq, mask, B, S, df);
    trace(&f, "pooled", pooled, B, df);
    linear_forward(&f, &w->head, pooled, B, df, c->dim, out, 0);
    for (int i = 0; i < B; i++) sail_l2_normalize(out + (size_t)i * c->dim, c->dim);
    trace(&f, "embedding", out, B, c->dim);
    return f.oom ? sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations") : SAIL_OK;
}
