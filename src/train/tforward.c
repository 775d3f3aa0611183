/* tforward.c: one side of a batch (texts or images) through the model,
 * keeping every activation the backward pass needs, and sail_tmodel_embed.
 * The computation is src/model/forward.c's for a text-only or image-only
 * batch: encoder, projection to the fusion width (+ perceiver), modality
 * embedding, fusion layers over that modality's tokens, final norm,
 * pooling, head, L2. Training takes images at the model's own size (no
 * position interpolation). */
#include "tmodel.h"

#include <math.h>
#include <string.h>

sail_status side_check(const sail_tmodel *tm, int n, const sail_tinput *in, const char *what,
                       sail_error *err) {
    const sail_config *c = &tm->cfg;
    if (!in || (!in->ids == !in->pixels))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: give either token ids or pixels", what);
    /* rows of every activation (n * tokens) must fit the GEMMs' int sizes */
    int64_t g = c->image_size / c->patch_size, tokens = in->ids ? c->max_positions : 1 + g * g;
    tokens = SAIL_MAX(tokens, c->perceiver_latents);
    if (n > (1 << 20) || (int64_t)n * tokens > (1 << 30))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: %d items of up to %lld tokens is too large a batch",
                              what, n, (long long)tokens);
    if (in->ids) {
        if (!in->lens) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: token lengths are NULL", what);
        const int32_t *ids = in->ids;
        for (int i = 0; i < n; i++) {
            if (in->lens[i] < 1 || in->lens[i] > c->max_positions)
                return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: text %d has %d tokens; the model takes 1..%d",
                                      what, i, in->lens[i], c->max_positions);
            for (int t = 0; t < in->lens[i]; t++)
                if (ids[t] < 0 || ids[t] >= c->vocab_size)
                    return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                          "%s: text %d: token id %d is outside the vocabulary (0..%d)",
                                          what, i, ids[t], c->vocab_size - 1);
            ids += in->lens[i];
        }
    } else if (in->h != c->image_size || in->w != c->image_size) {
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "%s: images are %dx%d; training takes the model's size %dx%d",
                              what, in->w, in->h, c->image_size, c->image_size);
    }
    return SAIL_OK;
}

/* Unfold image (3, h, w) into rows of 3*p*p values ordered (c, ky, kx), the
 * layout of a flattened Conv2d(3, dv, p, stride p) weight. */
static void unfold(float *rows, const float *img, int h, int w, int p) {
    int gw = w / p, gh = h / p;
    for (int py = 0; py < gh; py++)
        for (int px = 0; px < gw; px++) {
            float *r = rows + ((size_t)py * gw + px) * 3 * p * p;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(r + (ch * p + ky) * p, img + ((size_t)ch * h + py * p + ky) * w + px * p,
                           (size_t)p * sizeof(float));
        }
}

/* Blocks 0..L-1 of a tower; b[0].x is set; b[L].x receives the output. */
static void tower_forward(tctx *c, const sail_tower *t, const sail_block *w, tblock *b,
                          int n, int T, const uint8_t *mask) {
    for (int l = 0; l < t->layers && !c->oom; l++) {
        b[l + 1].x = b[l].out = tc_alloc(c, (size_t)n * T * t->width);
        if (!c->oom) block_forward_t(c, t, &w[l], &b[l], n, T, mask);
    }
}

static tblock *blocks(tctx *c, int layers) {
    tblock *b = (tblock *)tc_alloc(c, ((layers + 1) * sizeof(tblock) + 3) / sizeof(float));
    if (b) memset(b, 0, (layers + 1) * sizeof(tblock));
    return b;
}

static void text_forward(tctx *c, const sail_tmodel *tm, tside *s, const sail_tinput *in) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w;
    int n = s->n, dt = cf->text.width, T = 0;
    for (int i = 0; i < n; i++) T = SAIL_MAX(T, in->lens[i]);
    s->T = s->S = T;
    size_t rows = (size_t)n * T;
    s->mask = (uint8_t *)tc_alloc(c, rows / sizeof(float) + 1);
    s->ids = (int32_t *)tc_alloc(c, rows);
    s->pos = (int32_t *)tc_alloc(c, rows);
    s->zeros = (int32_t *)tc_alloc(c, rows);
    s->emb = tc_alloc(c, rows * dt);
    s->enc = blocks(c, cf->text.layers);
    if (c->oom) return;
    s->enc[0].x = tc_alloc(c, rows * dt);
    if (c->oom) return;
    const int32_t *ids = in->ids;
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)i * T + t;
            s->mask[r] = t < in->lens[i];
            s->ids[r] = t < in->lens[i] ? ids[t] : cf->pad_id;
            s->pos[r] = t;
            s->zeros[r] = 0;
            const float *te = w->tok_emb + (size_t)s->ids[r] * dt, *pe = w->pos_emb + (size_t)t * dt;
            float *row = s->emb + r * dt;
            for (int j = 0; j < dt; j++) row[j] = te[j] + pe[j] + w->type_emb[j];
        }
        ids += in->lens[i];
    }
    ln_forward(c, &w->emb_norm, s->enc[0].x, s->emb, (int)rows, dt, cf->text.eps);
    tower_forward(c, &cf->text, w->text, s->enc, n, T, s->mask);
    s->proj = tc_alloc(c, rows * cf->fusion.width);
    linear_forward_t(c, &w->text_proj, s->enc[cf->text.layers].x, (int)rows, dt, cf->fusion.width,
                     s->proj, 0);
}

static void perceiver_forward(tctx *c, const sail_tmodel *tm, tside *s) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w;
    const sail_tower *t = &cf->fusion;
    int n = s->n, df = t->width, nl = cf->perceiver_latents, Tv = s->T;
    tblock *p = &s->perc;
    size_t rq = (size_t)n * nl, rk = (size_t)n * Tv;
    p->B = n;
    p->T = nl;
    p->Tk = Tv;
    p->x = tc_alloc(c, rq * df);
    p->h1 = tc_alloc(c, rq * df);
    p->qkv = tc_alloc(c, rq * df);
    p->kvn = tc_alloc(c, rk * df);
    p->kv = tc_alloc(c, rk * 2 * df);
    p->p = tc_alloc(c, rq * t->heads * Tv);
    p->att = tc_alloc(c, rq * df);
    p->r1 = tc_alloc(c, rq * df);
    p->out = tc_alloc(c, rq * df);
    if (c->oom) return;
    for (int i = 0; i < n; i++) memcpy(p->x + (size_t)i * nl * df, w->latents, (size_t)nl * df * sizeof(float));
    sail_linear wq = {.w = w->perc.qkv.w, .b = w->perc.qkv.b};
    sail_linear wkv = {.w = w->perc.qkv.w + (size_t)df * df, .b = w->perc.qkv.b + df};
    ln_forward(c, &w->perc.norm1, p->h1, p->x, (int)rq, df, t->eps);
    linear_forward_t(c, &wq, p->h1, (int)rq, df, df, p->qkv, 0);
    ln_forward(c, &w->perc_norm_kv, p->kvn, s->proj, (int)rk, df, t->eps);
    linear_forward_t(c, &wkv, p->kvn, (int)rk, df, 2 * df, p->kv, 0);
    tattn a = {n, nl, Tv, t->heads, df / t->heads, df, p->qkv, df, p->kv, p->kv + df, 2 * df, NULL, 0};
    attention_forward_t(c, &a, p->p, p->att);
    memcpy(p->r1, p->x, rq * df * sizeof(float));
    linear_forward_t(c, &w->perc.out, p->att, (int)rq, df, df, p->r1, 1);
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_forward_t(c, &pre, &w->perc, p, (int)rq);
}

static void image_forward(tctx *c, const sail_tmodel *tm, tside *s, const sail_tinput *in) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w;
    int n = s->n, p = cf->patch_size, dv = cf->vision.width, g = cf->image_size / p;
    int np = g * g, Tv = np + 1, kp = 3 * p * p;
    s->T = Tv;
    s->S = cf->perceiver_latents ? cf->perceiver_latents : Tv;
    s->patches = tc_alloc(c, (size_t)n * np * kp);
    s->enc = blocks(c, cf->vision.layers);
    float *x = s->enc ? (s->enc[0].x = tc_alloc(c, (size_t)n * Tv * dv)) : NULL;
    tmark mark = tc_mark(c);
    float *pe = tc_alloc(c, (size_t)n * np * dv); // (n*np, dv) scratch
    if (c->oom) return;
    for (int i = 0; i < n; i++)
        unfold(s->patches + (size_t)i * np * kp, in->pixels + (size_t)i * 3 * in->h * in->w, in->h, in->w, p);
    linear_forward_t(c, &w->patch, s->patches, n * np, kp, dv, pe, 0);
    for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * Tv * dv;
        memcpy(xi, w->cls, (size_t)dv * sizeof(float));
        memcpy(xi + dv, pe + (size_t)i * np * dv, (size_t)np * dv * sizeof(float));
        c->k->add(xi, xi, w->vpos, (size_t)Tv * dv);
    }
    tc_release(c, mark);
    tower_forward(c, &cf->vision, w->vision, s->enc, n, Tv, NULL);
    size_t rows = (size_t)n * Tv;
    s->vnorm = tc_alloc(c, rows * dv);
    s->proj = tc_alloc(c, rows * cf->fusion.width);
    if (c->oom) return;
    ln_forward(c, &w->vis_norm, s->vnorm, s->enc[cf->vision.layers].x, (int)rows, dv, cf->vision.eps);
    linear_forward_t(c, &w->vis_proj, s->vnorm, (int)rows, dv, cf->fusion.width, s->proj, 0);
    if (cf->perceiver_latents) perceiver_forward(c, tm, s);
}

void side_forward(tctx *c, const sail_tmodel *tm, tside *s, int n, const sail_tinput *in) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w;
    int df = cf->fusion.width, dim = cf->dim;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->text = in->ids != NULL;
    if (s->text) text_forward(c, tm, s, in);
    else image_forward(c, tm, s, in);
    if (c->oom) return;
    int S = s->S;
    size_t rows = (size_t)n * S;
    s->fuse = blocks(c, cf->fusion.layers);
    if (c->oom) return;
    s->fuse[0].x = tc_alloc(c, rows * df);
    if (c->oom) return;
    const float *src = cf->perceiver_latents && !s->text ? s->perc.out : s->proj;
    const float *mod = w->modality + (s->text ? df : 0);
    for (size_t r = 0; r < rows; r++) c->k->add(s->fuse[0].x + r * df, src + r * df, mod, (size_t)df);
    const uint8_t *mask = s->text ? s->mask : NULL;
    tower_forward(c, &cf->fusion, w->fusion, s->fuse, n, S, mask);
    s->y = tc_alloc(c, rows * df);
    s->z = cf->pooling == SAIL_POOL_MEAN_TANH ? tc_alloc(c, rows * df) : NULL;
    s->pooled = tc_alloc(c, (size_t)n * df);
    s->e = tc_alloc(c, (size_t)n * dim);
    s->out = tc_alloc(c, (size_t)n * dim);
    if (c->oom) return;
    ln_forward(c, &w->fuse_norm, s->y, s->fuse[cf->fusion.layers].x, (int)rows, df, cf->fusion.eps);
    const float *h = s->y;
    if (s->z) {
        memcpy(s->z, s->y, rows * df * sizeof(float));
        c->k->tanh(s->z, rows * df);
        h = s->z;
    }
    for (int i = 0; i < n; i++) {
        const float *hi = h + (size_t)i * S * df;
        if (cf->pooling == SAIL_POOL_CLS) memcpy(s->pooled + (size_t)i * df, hi, (size_t)df * sizeof(float));
        else sail_mean_pool(s->pooled + (size_t)i * df, hi, mask ? mask + (size_t)i * S : NULL, S, df);
    }
    linear_forward_t(c, &w->head, s->pooled, n, df, dim, s->e, 0);
    memcpy(s->out, s->e, (size_t)n * dim * sizeof(float));
    for (int i = 0; i < n; i++) sail_l2_normalize(s->out + (size_t)i * dim, dim);
}

sail_status sail_tmodel_embed(sail_tmodel *tm, int n, const sail_tinput *in, float *out,
                              sail_error *err) {
    if (!tm || n < 1 || !out)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "embed needs a model, n >= 1 inputs and an output");
    sail_status s = side_check(tm, n, in, "input", err);
    if (s) return s;
    tctx c;
    if (tc_start(&c, &tm->arena, tm->pool)) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    tside side;
    side_forward(&c, tm, &side, n, in);
    tc_finish(&c);
    if (c.oom) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    memcpy(out, side.out, (size_t)n * tm->cfg.dim * sizeof(float));
    return SAIL_OK;
}
