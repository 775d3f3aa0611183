/* forward.c: the path of the data through a model (forward.h), once for
 * inference and training. */
#include "forward.h"

#include "swin.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define OOM(err) sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations")

/* A tower's blocks from x0; without keep they run in place on x0. */
static float *tower_forward(fwd *f, const sail_tower *t, const sail_block *w, fwd_block **rec,
                            float *x0, int B, int T, const uint8_t *mask, int causal,
                            const char *name) {
    fwd_block *b = fwd_alloc_bytes(f, (size_t)SAIL_MAX(t->layers, 1) * sizeof(fwd_block));
    *rec = b;
    float *x = x0;
    char tn[32];
    for (int l = 0; l < t->layers && !f->oom; l++) {
        float *out = f->keep ? fwd_alloc(f, (size_t)B * T * t->width) : x;
        block_forward(f, t, &w[l], &b[l], x, out, B, T, mask, causal);
        x = out;
        snprintf(tn, sizeof tn, "%s.blk.%d", name, l);
        trace(f, tn, x, B * T, t->width);
    }
    return x;
}

/* SigLIP pools the last position of texts padded to max_length, pads
 * attended: its texts always run at the context length, padded with pad_id
 * and unmasked, whatever the lengths given (so every item's vector is the
 * original's on its padded text, independent of the batch). A fused model
 * with SigLIP's text tower does the same, and its fusion sees every
 * position (the last, SigLIP's pooled state, among them). */
static int padded_text(const sail_config *c) {
    return sail_text_padded(c);
}

/* temb (B*T, dt) = tok[ids] + pos[t] + type[0]; tx0 = LN(temb). Imported
 * models may have no type embeddings and no LayerNorm here (CLIP). Table
 * rows are decoded as they are looked up when stored narrower than f32. */
static void text_embed(fwd *f, const sail_batch *b, fwd_acts *s) {
    const sail_config *c = f->c;
    const sail_weights *w = f->w;
    int dt = c->text.width, T = s->T;
    size_t rows = (size_t)b->n * T;
    s->tmask = fwd_alloc_bytes(f, rows);
    s->ids = fwd_alloc_bytes(f, rows * sizeof(int32_t));
    s->temb = fwd_alloc(f, rows * dt);
    int norm = sail_text_emb_norm(c), padded = padded_text(c), pos0 = c->towers.text_pos_offset;
    s->tx0 = norm && f->keep ? fwd_alloc(f, rows * dt) : s->temb;
    float *buf = fwd_alloc(f, 3 * (size_t)dt);
    if (f->oom) return;
    int types = c->type_vocab > 0; /* every native model but a composed CLIP text tower has them */
    const float *ty = types ? tab_row(&w->tab.type, 0, buf + 2 * dt, dt) : NULL;
    const int32_t *ids = b->ids;
    for (int i = 0; i < b->n; i++) {
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)i * T + t;
            float *row = s->temb + r * dt;
            s->tmask[r] = padded || t < b->lens[i];
            s->ids[r] = t < b->lens[i] ? ids[t] : c->pad_id;
            const float *te = tab_row(&w->tab.tok, s->ids[r], buf, dt);
            const float *pe = tab_row(&w->tab.pos, t + pos0, buf + dt, dt);
            if (types)
                for (int j = 0; j < dt; j++) row[j] = te[j] + pe[j] + ty[j];
            else
                for (int j = 0; j < dt; j++) row[j] = te[j] + pe[j];
        }
        ids += b->lens[i];
    }
    if (norm) norm_forward(f, &w->emb_norm, s->tx0, s->temb, (int)rows, dt, c->text.eps);
    trace(f, "text.emb", s->tx0, (int)rows, dt);
}

static void text_tower(fwd *f, const sail_batch *b, fwd_acts *s) {
    const sail_config *c = f->c;
    int dt = c->text.width;
    if (padded_text(c)) s->T = c->context;
    for (int i = 0; i < b->n; i++) s->T = SAIL_MAX(s->T, b->lens[i]);
    text_embed(f, b, s);
    if (f->oom) return;
    int causal = sail_has_layout(c) && c->towers.text_causal;
    float *x = tower_forward(f, &c->text, f->w->text, &s->tenc, s->tx0, b->n, s->T, s->tmask, causal,
                             "text");
    s->ht = x;
    if (sail_has_layout(c) && c->towers.text_final_norm) {
        s->ht = f->keep ? fwd_alloc(f, (size_t)b->n * s->T * dt) : x;
        if (!f->oom) norm_forward(f, &f->w->text_final, s->ht, x, b->n * s->T, dt, c->text.eps);
    }
    trace(f, "text.out", s->ht, b->n * s->T, dt);
}

/* A frozen tower's backward never runs: keep only its output. */
static void text_encode(fwd *f, const sail_batch *b, fwd_acts *s) {
    int keep = f->keep;
    f->keep = keep && !f->drop_text;
    text_tower(f, b, s);
    f->keep = keep;
}

/* A ViT's position embeddings for a gh x gw grid: the trained table, or its
 * bicubic interpolation (cached per grid on the model, slot `which`;
 * recomputed only when the grid changes). A table stored narrower than f32
 * is decoded into the same cache. Training runs at the model's own grid in
 * f32; an audio tower's grid never changes (its input size is fixed). */
/* pc from the table of g1 x g2 (and cls) positions, at gh x gw; NULL data
 * and f->oom when memory runs out. */
static void fill_positions(fwd *f, const sail_vit *v, sail_pos_cache *pc, int d, int cls, int g1, int g2,
                           int gh, int gw) {
    fwd_mark mark = fwd_mark_get(f);
    const float *src = tab_rows(f, &v->tab_pos, cls + g1 * g2, d);
    sail_free(pc->data);
    pc->data = sail_alloc_aligned(((size_t)gh * gw + cls) * d * sizeof(float));
    if (!src || !pc->data) {
        sail_free(pc->data);
        pc->data = NULL;
        f->oom = 1;
        return;
    }
    pc->gh = gh;
    pc->gw = gw;
    if (gh == g1 && gw == g2) memcpy(pc->data, src, ((size_t)g1 * g2 + cls) * d * sizeof(float));
    else {
        memcpy(pc->data, src, (size_t)cls * d * sizeof(float));
        sail_interp_bicubic(pc->data + (size_t)cls * d, gh, gw, src + (size_t)cls * d, g1, d);
    }
    fwd_release(f, mark);
}

static const float *vit_positions(fwd *f, const sail_vit_geom *g, const sail_vit *v, int which, int gh,
                                  int gw) {
    sail_model *m = f->m;
    int d = g->t->width, cls = sail_vit_prefix(g), g1, g2;
    sail_vit_grid(g, g->h, g->w, &g1, &g2);
    if (gh == g1 && gw == g2 && v->tab_pos.type == SAIL_WT_F32) return v->tab_pos.data;
    if (!m) { /* fwd_check and the trainer keep training at the model's grid */
        f->oom = 1;
        return NULL;
    }
    sail_pos_cache *pc = &m->pos[which];
    pthread_mutex_lock(&m->pos_lock); /* the parts of a split batch meet here at once */
    if (!pc->data || pc->gh != gh || pc->gw != gw) fill_positions(f, v, pc, d, cls, g1, g2, gh, gw);
    pthread_mutex_unlock(&m->pos_lock);
    return pc->data;
}

/* Unfold image i (nc, h, w) into gh x gw rows of nc*p*p values ordered
 * (c, ky, kx), the layout of a flattened Conv2d(nc, d, p, stride (sh, sw))
 * weight; rows in the order of the conv output's flatten(2) (row-major
 * over the grid: for a spectrogram, frequency-major). Into rows as floats,
 * or, rows_b set, into bf16 rows rounded by round (the table's round_bf16)
 * as they are copied, for a patch product that takes bf16 (not floats it
 * reads again to round). The image is read a row at a time, the patches
 * along it innermost: read patch by patch, its rows p apart, the copies
 * waited on memory (ViT-S b8: 1.2% of the pass). */
static void unfold_patches(float *rows, uint16_t *rows_b, void (*round)(uint16_t *, const float *, size_t),
                           const float *img, int nc, int h, int w, int p, int sh, int sw, int gh, int gw) {
    size_t kp = (size_t)nc * p * p;
    for (int py = 0; py < gh; py++)
        for (int ch = 0; ch < nc; ch++)
            for (int ky = 0; ky < p; ky++) {
                const float *src = img + ((size_t)ch * h + py * sh + ky) * w;
                size_t at = (size_t)py * gw * kp + (size_t)(ch * p + ky) * p;
                for (int px = 0; px < gw; px++, at += kp) {
                    if (rows_b) round(rows_b + at, src + (size_t)px * sw, (size_t)p);
                    else memcpy(rows + at, src + (size_t)px * sw, (size_t)p * sizeof(float));
                }
            }
}

/* emb (n*T, d) = [CLS; DIST;] patches W^T + b + positions; then an optional
 * pre-LN, the layers and the final LN into r->h. Every input (each frame of
 * an item) runs on its own. Inference unfolds one input at a time (small
 * scratch); training keeps every input's patches. `which` names the tower
 * in traces and its position cache: 0 vision ("vis"), 1 audio ("aud"). */
static void vit_forward(fwd *f, const sail_vit_geom *g, const sail_vit *v, int which, const float *in, int n,
                        int h, int w, fwd_vit *r) {
    const char *name = which ? "aud" : "vis";
    int p = g->p, d = g->t->width, nc = g->nc, gh, gw;
    sail_vit_grid(g, h, w, &gh, &gw);
    int cls = sail_vit_prefix(g), np = gh * gw, T = np + cls, kp = nc * p * p;
    size_t rows = (size_t)n * T;
    char tn[32];
    r->n = n;
    r->T = T;
    r->emb = fwd_alloc(f, rows * d);
    if (f->keep) r->patches = fwd_alloc(f, (size_t)n * np * kp);
    fwd_mark mark = fwd_mark_get(f);
    int pb = !f->keep && linear_takes_bf16(&v->patch, np, kp, d, 0);
    float *one = f->keep || pb ? NULL : fwd_alloc(f, (size_t)np * kp);
    uint16_t *one_b = pb ? fwd_alloc_bf16(f, np, kp) : NULL;
    const float *pos = vit_positions(f, g, v, which, gh, gw);
    if (f->oom) return;
    for (int i = 0; i < n; i++) {
        float *xi = r->emb + (size_t)i * T * d;
        const float *img = in + (size_t)i * nc * h * w;
        if (g->cls) memcpy(xi, v->cls, (size_t)d * sizeof(float));
        if (g->dist) memcpy(xi + (size_t)(cls - 1) * d, v->dist, (size_t)d * sizeof(float));
        if (pb) {
            unfold_patches(NULL, one_b, f->k->round_bf16, img, nc, h, w, p, g->sh, g->sw, gh, gw);
            linear_bf16(f, &v->patch, one_b, np, kp, d, xi + (size_t)cls * d, NULL, 0, NULL);
        } else {
            float *pi = f->keep ? r->patches + (size_t)i * np * kp : one;
            unfold_patches(pi, NULL, NULL, img, nc, h, w, p, g->sh, g->sw, gh, gw);
            linear_forward(f, &v->patch, pi, np, kp, d, xi + (size_t)cls * d, 0);
        }
        f->k->add(xi, xi, pos, (size_t)T * d);
    }
    fwd_release(f, mark);
    r->x0 = r->emb;
    if (g->pre_norm) {
        r->x0 = f->keep ? fwd_alloc(f, rows * d) : r->emb;
        if (!f->oom) norm_forward(f, &v->pre, r->x0, r->emb, (int)rows, d, g->t->eps);
    }
    snprintf(tn, sizeof tn, "%s.emb", name);
    trace(f, tn, r->x0, (int)rows, d);
    float *x = tower_forward(f, g->t, v->blocks, &r->enc, r->x0, n, T, NULL, 0, name);
    r->h = f->keep ? fwd_alloc(f, rows * d) : x;
    if (f->oom) return;
    norm_forward(f, &v->norm, r->h, x, (int)rows, d, g->t->eps);
    snprintf(tn, sizeof tn, "%s.out", name);
    trace(f, tn, r->h, (int)rows, d);
}

static void vision_encode(fwd *f, const sail_batch *b, fwd_acts *s) {
    int keep = f->keep;
    sail_vit_geom g = sail_vit_vision(f->c);
    f->keep = keep && !f->drop_vision;
    vit_forward(f, &g, &f->w->vis, 0, b->pixels, s->nv, b->h, b->w, &s->vis);
    f->keep = keep;
}

/* The audio tower over b->spec: an AST's tokens into s->aud; HTSAT's
 * record into s->swin, its pooled output into s->apool. */
static void audio_encode(fwd *f, const sail_batch *b, fwd_acts *s) {
    int keep = f->keep;
    sail_vit_geom g = sail_vit_audio(f->c);
    f->keep = keep && !f->drop_audio;
    if (f->c->swin.on) {
        sail_swin_forward(f, b, s);
        s->apool = s->pooled;
    } else
        vit_forward(f, &g, &f->w->aud, 1, b->spec, b->n, g.h, g.w, &s->aud);
    f->keep = keep;
}

/* A ViT's pooled output per input (n, d): its class token, or the mean of
 * the class and distillation tokens (AST, DeiT). */
static void vit_pool(const sail_vit_geom *g, const fwd_vit *r, float *out) {
    int d = g->t->width;
    for (int i = 0; i < r->n; i++) {
        float *o = out + (size_t)i * d;
        const float *hi = r->h + (size_t)i * r->T * d;
        if (g->dist)
            for (int j = 0; j < d; j++) o[j] = (hi[j] + hi[d + j]) / 2;
        else
            memcpy(o, hi, (size_t)d * sizeof(float));
    }
}

/* Perceiver: n_lat learned queries cross-attend over v (B*Tv, df); returns
 * (B*n_lat, df) = s->perc.out. */
static float *perceiver(fwd *f, fwd_acts *s, const float *v, int B, int Tv) {
    const sail_config *c = f->c;
    const sail_weights *w = f->w;
    const sail_tower *t = &c->fusion;
    int df = t->width, nl = c->perceiver_latents, keep = f->keep;
    size_t rq = (size_t)B * nl, rk = (size_t)B * Tv;
    fwd_block *p = &s->perc;
    *p = (fwd_block){.B = B, .T = nl, .Tk = Tv};
    p->x = fwd_alloc(f, rq * df);
    p->out = keep ? fwd_alloc(f, rq * df) : (float *)p->x;
    fwd_mark mark = fwd_mark_get(f);
    p->h1 = fwd_alloc(f, rq * df);
    p->qkv = fwd_alloc(f, rq * df);
    p->kvn = fwd_alloc(f, rk * df);
    p->kv = fwd_alloc(f, rk * 2 * df);
    p->p = keep ? fwd_alloc(f, rq * t->heads * Tv) : NULL;
    p->att = fwd_alloc(f, rq * df);
    p->r1 = keep ? fwd_alloc(f, rq * df) : p->out;
    const float *lat = tab_rows(f, &w->tab.latents, nl, df);
    if (f->oom) return NULL;
    float *x = (float *)p->x;
    for (int i = 0; i < B; i++) memcpy(x + (size_t)i * nl * df, lat, (size_t)nl * df * sizeof(float));
    norm_forward(f, &w->perc.norm1, p->h1, x, (int)rq, df, t->eps);
    sail_linear wq = linear_rows(&w->perc.qkv, 0, df), wkv = linear_rows(&w->perc.qkv, df, df);
    linear_forward(f, &wq, p->h1, (int)rq, df, df, p->qkv, 0);
    norm_forward(f, &w->perc_norm_kv, p->kvn, v, (int)rk, df, t->eps);
    linear_forward(f, &wkv, p->kvn, (int)rk, df, 2 * df, p->kv, 0);
    fwd_attn a = {.B = B, .Tq = nl, .Tk = Tv, .H = t->heads, .hd = df / t->heads, .d = df, .q = p->qkv,
                  .qs = df, .k = p->kv, .v = p->kv + df, .kvs = 2 * df, .bf16 = attn_bf16(&w->perc.qkv)};
    attention_forward(f, &a, p->p, p->att);
    if (p->r1 != x) memcpy(p->r1, x, rq * df * sizeof(float));
    linear_forward(f, &w->perc.out, p->att, (int)rq, df, df, p->r1, 1);
    if (!keep) fwd_release(f, mark);
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_forward(f, &pre, &w->perc, p, (int)rq);
    trace(f, "fuse.perceiver", p->out, (int)rq, df);
    return p->out;
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

/* L2-normalise e into out (n, dim), in place when they are one buffer. */
static void l2_rows(fwd *f, fwd_acts *s, int n) {
    int dim = f->c->dim;
    if (s->out != s->e) memcpy(s->out, s->e, (size_t)n * dim * sizeof(float));
    for (int i = 0; i < n; i++) sail_l2_normalize(s->out + (size_t)i * dim, dim);
    trace(f, "embedding", s->out, n, dim);
}

/* Project rows (n, d) of a tower to the fusion width and place them, with
 * their modality, at offset off of each item's sequence (rows per item). */
static void fuse_in(fwd *f, fwd_acts *s, const sail_linear *proj, const float *x, int n, int d, float **dst,
                    int off, int rows, const float *mod) {
    int df = f->c->fusion.width;
    *dst = fwd_alloc(f, (size_t)n * df);
    linear_forward(f, proj, x, n, d, df, *dst, 0);
    if (!f->oom) place(s->seq, s->S, off, *dst, rows, s->n, df, mod);
}

/* A sail model: the modalities present, fused over [vision; audio; text]
 * tokens; an item of several frames puts every frame's tokens in its
 * sequence, a clip its tower's pooled output. */
static void forward_fused(fwd *f, const sail_batch *b, fwd_acts *s) {
    const sail_config *c = f->c;
    const sail_weights *w = f->w;
    int B = b->n, df = c->fusion.width, keep = f->keep, nf = s->nv / B;
    if (b->ids) text_encode(f, b, s);
    if (b->pixels && !f->oom) vision_encode(f, b, s);
    if (b->spec && !f->oom) audio_encode(f, b, s);
    if (f->oom) return;
    int T = s->T, Tv = s->vis.T;
    s->Sv = Tv ? nf * (c->perceiver_latents ? c->perceiver_latents : Tv) : 0;
    s->Sa = b->spec ? 1 : 0;
    s->S = s->Sv + s->Sa + T;
    int S = s->S, Sva = s->Sv + s->Sa;
    s->seq = fwd_alloc(f, (size_t)B * S * df);
    s->mask = fwd_alloc_bytes(f, (size_t)B * S);
    int da = sail_audio_width(c);
    if (s->Sa && !c->swin.on) s->apool = fwd_alloc(f, (size_t)B * da);
    if (f->oom) return;
    for (int i = 0; i < B; i++)
        for (int t = 0; t < S; t++) s->mask[i * S + t] = t < Sva || s->tmask[i * T + (t - Sva)];
    fwd_mark mark = fwd_mark_get(f);
    /* rows: 0 image, 1 text, 2 audio */
    const float *modality = tab_rows(f, &w->tab.modality, 2 + sail_has_audio(c), df);
    if (Tv) {
        s->vproj = fwd_alloc(f, (size_t)s->nv * Tv * df);
        linear_forward(f, &w->vis_proj, s->vis.h, s->nv * Tv, c->vision.width, df, s->vproj, 0);
        const float *v = s->vproj; /* (B, Sv, df): an item's frames are adjacent */
        if (c->perceiver_latents && !f->oom) v = perceiver(f, s, v, s->nv, Tv);
        if (!f->oom) place(s->seq, S, 0, v, s->Sv, B, df, modality);
    }
    if (s->Sa && !f->oom) {
        sail_vit_geom g = sail_vit_audio(c);
        float *aproj;
        if (!c->swin.on) vit_pool(&g, &s->aud, s->apool);
        trace(f, "aud.pooled", s->apool, B, da);
        fuse_in(f, s, &w->aud_proj, s->apool, B, da, &aproj, s->Sv, 1, modality + 2 * df);
        trace(f, "aud.proj", aproj, B, df);
    }
    if (T && !f->oom) fuse_in(f, s, &w->text_proj, s->ht, B * T, c->text.width, &s->tproj, Sva, T, modality + df);
    if (!keep) fwd_release(f, mark);
    if (f->oom) return;
    trace(f, "fuse.in", s->seq, B * S, df);
    float *x = tower_forward(f, &c->fusion, w->fusion, &s->fuse, s->seq, B, S, s->mask, 0, "fuse");
    size_t rows = (size_t)B * S;
    s->y = keep ? fwd_alloc(f, rows * df) : x;
    s->z = c->pooling != SAIL_POOL_MEAN_TANH ? NULL : keep ? fwd_alloc(f, rows * df) : s->y;
    s->pool_d = df;
    s->pooled = fwd_alloc(f, (size_t)B * df);
    if (f->oom) return;
    norm_forward(f, &w->fuse_norm, s->y, x, (int)rows, df, c->fusion.eps);
    trace(f, "fuse.out", s->y, (int)rows, df);
    const float *h = s->y;
    if (s->z) {
        if (s->z != s->y) memcpy(s->z, s->y, rows * df * sizeof(float));
        f->k->tanh(s->z, rows * df);
        h = s->z;
    }
    for (int i = 0; i < B; i++) {
        const float *hi = h + (size_t)i * S * df;
        if (c->pooling == SAIL_POOL_CLS) memcpy(s->pooled + (size_t)i * df, hi, (size_t)df * sizeof(float));
        else sail_mean_pool(s->pooled + (size_t)i * df, hi, s->mask + (size_t)i * S, S, df);
    }
    trace(f, "pooled", s->pooled, B, df);
    linear_forward(f, &w->head, s->pooled, B, df, c->dim, s->e, 0);
    if (!f->oom) l2_rows(f, s, B);
}

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

/* The row item i pools: CLS 0, EOS as above, LAST the last of the T
 * (padded) positions. */
static int pool_row(const sail_config *c, const int32_t *ids, int len, int T) {
    sail_text_pool p = c->towers.text_pool;
    return p == SAIL_TPOOL_EOS ? eos_row(c, ids, len) : p == SAIL_TPOOL_LAST ? T - 1 : 0;
}

/* pooled (B, d) -> e (B, dim): optional tanh pooler, optional projection,
 * optionally followed by ReLU and proj2 (dim, dim) (CLAP's). */
static void towers_head(fwd *f, fwd_acts *s, const sail_linear *pooler, const sail_linear *proj,
                        const sail_linear *proj2, int B, int d) {
    const float *h = s->pooled;
    if (pooler) {
        s->pooler = fwd_alloc(f, (size_t)B * d);
        linear_forward(f, pooler, s->pooled, B, d, d, s->pooler, 0);
        if (f->oom) return;
        f->k->tanh(s->pooler, (size_t)B * d);
        h = s->pooler;
    }
    int dim = f->c->dim;
    if (proj2) s->mid = fwd_alloc(f, (size_t)B * dim);
    float *mid = proj2 ? s->mid : s->e;
    if (proj) linear_forward(f, proj, h, B, d, dim, mid, 0);
    else if (!f->oom) memcpy(s->e, h, (size_t)B * d * sizeof(float));
    if (proj2 && !f->oom) {
        for (size_t i = 0; i < (size_t)B * dim; i++) mid[i] = mid[i] > 0 ? mid[i] : 0;
        linear_forward(f, proj2, mid, B, dim, dim, s->e, 0);
    }
    if (!f->oom) l2_rows(f, s, B);
}

/* An imported model: the modality present is encoded, pooled and projected
 * on its own, as the original model computes it. */
static void forward_towers(fwd *f, const sail_batch *b, fwd_acts *s) {
    const sail_config *c = f->c;
    const sail_towers *tw = &c->towers;
    const sail_weights *w = f->w;
    int B = b->n;
    if (b->ids) {
        text_encode(f, b, s);
        int T = s->T, dt = c->text.width;
        s->pool_d = dt;
        s->pooled = fwd_alloc(f, (size_t)B * dt);
        s->pool_row = fwd_alloc_bytes(f, (size_t)B * sizeof(int32_t));
        if (f->oom) return;
        const int32_t *ids = b->ids;
        for (int i = 0; i < B; i++) {
            const float *xi = s->ht + (size_t)i * T * dt;
            s->pool_row[i] = pool_row(c, ids, b->lens[i], T);
            if (tw->text_pool == SAIL_TPOOL_MEAN)
                sail_mean_pool(s->pooled + (size_t)i * dt, xi, s->tmask + (size_t)i * T, T, dt);
            else
                memcpy(s->pooled + (size_t)i * dt, xi + (size_t)s->pool_row[i] * dt, (size_t)dt * sizeof(float));
            ids += b->lens[i];
        }
        trace(f, "pooled", s->pooled, B, dt);
        towers_head(f, s, tw->text_pool == SAIL_TPOOL_POOLER ? &w->text_pooler : NULL,
                    tw->text_proj ? &w->text_out : NULL, tw->text_proj_mlp ? &w->text_out2 : NULL, B, dt);
    } else if (b->pixels) {
        vision_encode(f, b, s);
        int Tv = s->vis.T, dv = c->vision.width;
        s->pool_d = dv;
        s->pooled = fwd_alloc(f, (size_t)B * dv);
        if (f->oom) return;
        if (tw->vision_map) { /* part of the vision tower: kept only when it trains */
            int keep = f->keep;
            f->keep = keep && !f->drop_vision;
            map_head_forward(f, &c->vision, &w->vis_map, w->vis_probe, &s->map, s->vis.h, B, Tv, s->pooled);
            f->keep = keep;
        } else {
            sail_vit_geom g = sail_vit_vision(c);
            vit_pool(&g, &s->vis, s->pooled);
        }
        trace(f, "pooled", s->pooled, B, dv);
        towers_head(f, s, tw->vision_pooler ? &w->vis_pooler : NULL,
                    tw->vision_proj ? &w->vis_out : NULL, NULL, B, dv);
    } else if (c->swin.on) { /* CLAP's audio tower */
        audio_encode(f, b, s);
        if (f->oom) return;
        trace(f, "pooled", s->pooled, B, s->pool_d);
        towers_head(f, s, NULL, &w->swin->proj1, &w->swin->proj2, B, s->pool_d);
    } else { /* an audio tower (AST): pooled, no head */
        sail_vit_geom g = sail_vit_audio(c);
        audio_encode(f, b, s);
        s->pool_d = g.t->width;
        s->pooled = fwd_alloc(f, (size_t)B * s->pool_d);
        if (f->oom) return;
        vit_pool(&g, &s->aud, s->pooled);
        trace(f, "pooled", s->pooled, B, s->pool_d);
        towers_head(f, s, NULL, NULL, NULL, B, s->pool_d);
    }
}

sail_status fwd_check(const sail_config *c, const sail_batch *b, sail_error *err) {
    if (!b || b->n < 1 || (!b->ids && !b->pixels && !b->spec))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "empty batch");
    const sail_towers *tw = &c->towers;
    if (b->frames < 0 || b->frames > SAIL_MAX_FRAMES || (b->frames > 1 && !b->pixels))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%d frames per item; give images and 1..%d frames",
                              b->frames, SAIL_MAX_FRAMES);
    if (b->spec && !sail_has_audio(c)) return sail_no_encoder(c, "audio", err);
    if (tw->on && (!!b->ids + !!b->pixels + !!b->spec) > 1)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "this imported model has no fusion layers; embed texts, images and audio separately");
    if (tw->on && b->frames > 1)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "this imported model has no fusion layers to join a video's frames into one "
                              "vector; embed the frames as images (e.g. sail_embed_video)");
    if (tw->on && b->ids && !tw->has_text) return sail_no_encoder(c, "text", err);
    if (tw->on && b->pixels && !tw->has_vision) return sail_no_encoder(c, "vision", err);
    if (b->ids) {
        if (!b->lens) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "token lengths are NULL");
        const int32_t *ids = b->ids;
        for (int i = 0; i < b->n; i++) {
            if (b->lens[i] < 1 || b->lens[i] > c->max_positions - tw->text_pos_offset)
                return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                      "text %d has %d tokens; the model takes 1..%d", i, b->lens[i],
                                      c->max_positions - tw->text_pos_offset);
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

sail_status fwd_model(fwd *f, const sail_batch *b, fwd_acts *s, float *out, sail_error *err) {
    memset(s, 0, sizeof *s);
    s->n = b->n;
    s->nv = b->n * SAIL_MAX(b->frames, 1);
    s->e = fwd_alloc(f, (size_t)b->n * f->c->dim);
    s->out = out ? out : f->keep ? fwd_alloc(f, (size_t)b->n * f->c->dim) : s->e;
    if (f->oom) return OOM(err);
    if (f->c->towers.on) forward_towers(f, b, s);
    else forward_fused(f, b, s);
    return f->oom ? OOM(err) : SAIL_OK;
}

/* A NaN or Inf weight spreads to every vector it touches: refuse the
 * output rather than hand out vectors no index or client can use. */
static sail_status check_finite(const sail_model *m, const float *out, size_t n, sail_error *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "%s: the model produced a non-finite embedding (NaN or Inf); its weights are "
                                  "damaged or overflow (check with a fresh copy of the file)", m->path);
    return SAIL_OK;
}

/* b's pass on arena a and pool, its vectors to out. */
static sail_status forward_on(sail_model *m, const sail_batch *b, sail_arena *a, sail_pool *pool, float *out,
                              sail_error *err) {
    fwd f = {.c = &m->cfg, .w = &m->w, .m = m};
    if (fwd_start(&f, a, pool)) return OOM(err);
    fwd_acts acts;
    sail_status s = fwd_model(&f, b, &acts, out, err);
    fwd_finish(&f);
    return s;
}

/* Items do not meet in a pass: with rows enough for every thread, each
 * thread runs the whole pass on its share of the items alone (its own
 * arena, no pool), rather than taking a part of every product. A product
 * cut between threads has each widen all of W, waits at its end, and hands
 * rows to a core that did not write them: ViT-S at batch 8 (q8_0, Intel
 * AMX) ran 1.6x one thread that way, two halves of the batch 2.0x. With
 * few rows a part the products read W at a part's pace, each part all of
 * it: f32 weights, four bytes each, need 256 rows a part (BERT-base's 64
 * ran 1.6x slower split, CLIP ViT-B/32's 200 image rows 1.05x), the others
 * 64 (q8_0 and bf16 BERT-base ran 1.1x faster split at 64). */
#define SPLIT_MIN_ROWS 64
#define SPLIT_MIN_ROWS_F32 256

typedef struct split_job {
    sail_model *m;
    const sail_batch *b;
    float *out;
    int parts;
    sail_status *s;  /* (parts) */
    sail_error *err; /* (parts) */
} split_job;

/* Items [i0, i1) of b as a batch of their own. */
static sail_batch sub_batch(const sail_batch *b, int i0, int i1) {
    sail_batch p = *b;
    p.n = i1 - i0;
    if (b->ids) {
        for (int i = 0; i < i0; i++) p.ids += b->lens[i];
        p.lens += i0;
    }
    if (b->pixels) p.pixels += (size_t)i0 * SAIL_MAX(b->frames, 1) * 3 * b->h * b->w;
    return p;
}

static void split_task(void *ctx, int task, int thread) {
    split_job *j = ctx;
    int i0 = (int)((long)j->b->n * task / j->parts), i1 = (int)((long)j->b->n * (task + 1) / j->parts);
    sail_batch p = sub_batch(j->b, i0, i1);
    j->s[task] = forward_on(j->m, &p, &j->m->part_arenas[task], NULL, j->out + (size_t)i0 * j->m->cfg.dim,
                            &j->err[task]);
}

/* Whether b's items run a part a thread (else its products are cut): a
 * part for every thread (idle threads would cost more than cut products
 * save), each with rows enough. */
static int split_ok(const sail_model *m, const sail_batch *b) {
    int n = sail_pool_size(m->pool);
    if (n < 2 || b->n < n || b->spec || m->trace) return 0;
    const sail_config *c = &m->cfg;
    long rows = 0;
    if (b->pixels)
        rows += (long)b->n * SAIL_MAX(b->frames, 1) * (b->h / c->patch_size) * (b->w / c->patch_size);
    for (int i = 0; b->ids && i < b->n; i++) rows += padded_text(c) ? c->context : b->lens[i];
    return rows / n >= (m->f32_weights ? SPLIT_MIN_ROWS_F32 : SPLIT_MIN_ROWS);
}

static sail_status forward_split(sail_model *m, const sail_batch *b, float *out, sail_error *err) {
    int parts = sail_pool_size(m->pool);
    if (!m->part_arenas) {
        m->part_arenas = sail_calloc((size_t)parts, sizeof *m->part_arenas);
        if (!m->part_arenas) return OOM(err);
        m->n_part_arenas = parts;
    }
    split_job j = {.m = m, .b = b, .out = out, .parts = parts, .s = sail_calloc((size_t)parts, sizeof *j.s),
                   .err = sail_calloc((size_t)parts, sizeof *j.err)};
    sail_status s = j.s && j.err ? SAIL_OK : OOM(err);
    if (!s) sail_pool_run(m->pool, split_task, &j, parts);
    for (int p = 0; p < parts && !s; p++)
        if ((s = j.s[p]) && err) *err = j.err[p];
    sail_free(j.s);
    sail_free(j.err);
    return s;
}

sail_status sail_forward(sail_model *m, const sail_batch *b, float *out, sail_error *err) {
    sail_status s = fwd_check(&m->cfg, b, err);
    if (s) return s;
    s = split_ok(m, b) ? forward_split(m, b, out, err) : forward_on(m, b, &m->arena, m->pool, out, err);
    if (!s) s = check_finite(m, out, (size_t)b->n * m->cfg.dim, err);
    return s;
}
