/* backward.c: the backward pass of one side of a batch, from d loss /
 * d embedding to the gradients of every parameter it touched, in the
 * reverse order of tforward.c; and sail_tmodel_step, which runs both sides,
 * the loss and both backward passes.
 *
 * Every gradient buffer lives in the step's arena; the reverse pass of a
 * tower runs in place on one (rows, width) buffer. */
#include "tmodel.h"

#include <math.h>
#include <string.h>

/* emb = e / |e|: de = (demb - emb (emb . demb)) / |e| (in place). */
static void l2_backward(float *d, const float *e, const float *out, int n, int dim) {
    for (int i = 0; i < n; i++) {
        const float *ei = e + (size_t)i * dim, *oi = out + (size_t)i * dim;
        float *di = d + (size_t)i * dim;
        double ss = 0, dot = 0;
        for (int j = 0; j < dim; j++) {
            ss += (double)ei[j] * ei[j];
            dot += (double)oi[j] * di[j];
        }
        if (ss == 0) { /* the forward left a zero vector unchanged */
            continue;
        }
        double inv = 1.0 / sqrt(ss);
        for (int j = 0; j < dim; j++) di[j] = (float)((di[j] - oi[j] * dot) * inv);
    }
}

/* d (n*S, df) = d loss / d y from d pooled (n, df). */
static void pool_backward(const sail_config *cf, const tside *s, const float *dp, float *d) {
    int S = s->S, df = cf->fusion.width;
    memset(d, 0, (size_t)s->n * S * df * sizeof(float));
    for (int i = 0; i < s->n; i++) {
        const float *g = dp + (size_t)i * df;
        if (cf->pooling == SAIL_POOL_CLS) {
            memcpy(d + (size_t)i * S * df, g, (size_t)df * sizeof(float));
            continue;
        }
        int cnt = 0;
        for (int t = 0; t < S; t++) cnt += !s->mask || s->mask[(size_t)i * S + t];
        if (!cnt) continue;
        float inv = 1.0f / (float)cnt;
        for (int t = 0; t < S; t++) {
            if (s->mask && !s->mask[(size_t)i * S + t]) continue;
            size_t r = ((size_t)i * S + t) * df;
            for (int j = 0; j < df; j++) {
                float v = g[j] * inv;
                d[r + j] = s->z ? v * (1.0f - s->z[r + j] * s->z[r + j]) : v;
            }
        }
    }
}

static void tower_backward(tctx *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                           const tblock *b, float *d) {
    for (int l = t->layers - 1; l >= 0 && !c->oom; l--) block_backward(c, t, &w[l], &g[l], &b[l], d);
}

/* d (n*nl, df) = d perceiver output; returns d of its input (n*Tv, df). */
static float *perceiver_backward(tctx *c, sail_tmodel *tm, const tside *s, float *d) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w, *g = &tm->g;
    const sail_tower *t = &cf->fusion;
    const tblock *p = &s->perc;
    int n = s->n, df = t->width, nl = cf->perceiver_latents, Tv = s->T;
    int rq = n * nl, rk = n * Tv;
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_backward(c, &pre, &w->perc, &g->perc, p, d, rq); /* d = d(r1) */
    float *dv = tc_alloc(c, (size_t)rk * df); // (n*Tv, df): the result
    tmark mark = tc_mark(c);
    float *datt = tc_alloc(c, (size_t)rq * df);    // (rq, df)
    float *dq = tc_alloc(c, (size_t)rq * df);      // (rq, df)
    float *dkv = tc_alloc(c, (size_t)rk * 2 * df); // (rk, 2df)
    float *dh = tc_alloc(c, (size_t)rq * df);      // (rq, df)
    float *dkvn = tc_alloc(c, (size_t)rk * df);    // (rk, df)
    if (c->oom) return NULL;
    linear_backward(c, &w->perc.out, &g->perc.out, d, p->att, rq, df, df, datt, 0);
    tattn a = {n, nl, Tv, t->heads, df / t->heads, df, p->qkv, df, p->kv, p->kv + df, 2 * df, NULL, 0};
    attention_backward(c, &a, p->p, datt, dq, df, dkv, dkv + df, 2 * df);
    /* q and kv are the first and the last rows of the qkv weight */
    sail_linear wq = {.w = w->perc.qkv.w, .b = w->perc.qkv.b};
    sail_linear gq = {.w = g->perc.qkv.w, .b = g->perc.qkv.b};
    sail_linear wkv = {.w = w->perc.qkv.w + (size_t)df * df, .b = w->perc.qkv.b + df};
    sail_linear gkv = {.w = g->perc.qkv.w + (size_t)df * df, .b = g->perc.qkv.b + df};
    linear_backward(c, &wq, &gq, dq, p->h1, rq, df, df, dh, 0);
    ln_backward(c, &w->perc.norm1, &g->perc.norm1, p->x, dh, d, 1, rq, df, t->eps);
    /* the latents are shared by every item */
    colsum_add(c, GRAD(g->latents), d, n, nl * df, (size_t)nl * df);
    linear_backward(c, &wkv, &gkv, dkv, p->kvn, rk, df, 2 * df, dkvn, 0);
    ln_backward(c, &w->perc_norm_kv, &g->perc_norm_kv, s->proj, dkvn, dv, 0, rk, df, t->eps);
    tc_release(c, mark);
    return dv;
}

static void text_backward(tctx *c, sail_tmodel *tm, const tside *s, const float *dproj) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w, *g = &tm->g;
    int dt = cf->text.width, rows = s->n * s->T;
    float *d = tc_alloc(c, (size_t)rows * dt); // (rows, dt)
    if (c->oom) return;
    linear_backward(c, &w->text_proj, &g->text_proj, dproj, s->enc[cf->text.layers].x, rows, dt,
                    cf->fusion.width, d, 0);
    tower_backward(c, &cf->text, w->text, g->text, s->enc, d);
    ln_backward(c, &w->emb_norm, &g->emb_norm, s->emb, d, d, 0, rows, dt, cf->text.eps);
    if (c->oom) return;
    scatter_rows_add(c, GRAD(g->tok_emb), d, s->ids, rows, dt);
    scatter_rows_add(c, GRAD(g->pos_emb), d, s->pos, rows, dt);
    scatter_rows_add(c, GRAD(g->type_emb), d, s->zeros, rows, dt);
}

static void image_backward(tctx *c, sail_tmodel *tm, const tside *s, const float *dproj) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w, *g = &tm->g;
    int dv = cf->vision.width, n = s->n, Tv = s->T, np = Tv - 1, p = cf->patch_size;
    int rows = n * Tv;
    float *d = tc_alloc(c, (size_t)rows * dv);      // (rows, dv)
    float *dpe = tc_alloc(c, (size_t)n * np * dv);  // (n*np, dv)
    if (c->oom) return;
    linear_backward(c, &w->vis_proj, &g->vis_proj, dproj, s->vnorm, rows, dv, cf->fusion.width, d, 0);
    ln_backward(c, &w->vis_norm, &g->vis_norm, s->enc[cf->vision.layers].x, d, d, 0, rows, dv,
                cf->vision.eps);
    tower_backward(c, &cf->vision, w->vision, g->vision, s->enc, d);
    if (c->oom) return;
    colsum_add(c, GRAD(g->cls), d, n, dv, (size_t)Tv * dv);
    colsum_add(c, GRAD(g->vpos), d, n, Tv * dv, (size_t)Tv * dv);
    for (int i = 0; i < n; i++)
        memcpy(dpe + (size_t)i * np * dv, d + ((size_t)i * Tv + 1) * dv, (size_t)np * dv * sizeof(float));
    linear_backward(c, &w->patch, &g->patch, dpe, s->patches, n * np, 3 * p * p, dv, NULL, 0);
}

void side_backward(tctx *c, sail_tmodel *tm, const tside *s, float *dout) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w, *g = &tm->g;
    int n = s->n, S = s->S, df = cf->fusion.width, dim = cf->dim;
    size_t rows = (size_t)n * S;
    tmark mark = tc_mark(c);
    float *dp = tc_alloc(c, (size_t)n * df); // (n, df)
    float *d = tc_alloc(c, rows * df);       // (n*S, df)
    if (c->oom) return;
    l2_backward(dout, s->e, s->out, n, dim);
    linear_backward(c, &w->head, &g->head, dout, s->pooled, n, df, dim, dp, 0);
    pool_backward(cf, s, dp, d);
    ln_backward(c, &w->fuse_norm, &g->fuse_norm, s->fuse[cf->fusion.layers].x, d, d, 0, (int)rows,
                df, cf->fusion.eps);
    tower_backward(c, &cf->fusion, w->fusion, g->fusion, s->fuse, d);
    if (c->oom) return;
    colsum_add(c, GRAD(g->modality) + (s->text ? df : 0), d, (int)rows, df, (size_t)df);
    if (s->text) {
        text_backward(c, tm, s, d);
    } else {
        if (cf->perceiver_latents) d = perceiver_backward(c, tm, s, d);
        if (!c->oom) image_backward(c, tm, s, d);
    }
    tc_release(c, mark);
}

static sail_status check_loss(const sail_config *cf, const sail_loss_opts *lo, sail_error *err) {
    if (lo->n_dims < 1 || lo->n_dims > 4)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loss: %d Matryoshka dims; expected 1..4", lo->n_dims);
    for (int k = 0; k < lo->n_dims; k++) {
        if (lo->dims[k] < 1 || lo->dims[k] > cf->dim)
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loss: Matryoshka dim %d is outside 1..%d",
                                  lo->dims[k], cf->dim);
        if (!isfinite(lo->weights[k]))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loss: weight %d is not finite", k);
    }
    return SAIL_OK;
}

sail_status sail_tmodel_step(sail_tmodel *tm, int n, const sail_tinput *a,
                             const sail_tinput *b, const int *group,
                             const sail_loss_opts *lo, int backward, float *loss,
                             float *emb_a, float *emb_b, sail_error *err) {
    if (!tm || n < 1 || !loss)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "step needs a model, n >= 1 pairs and a loss output");
    const sail_config *cf = &tm->cfg;
    sail_loss_opts full = {1, {cf->dim}, {1.0f}};
    if (!lo) lo = &full;
    sail_status st = check_loss(cf, lo, err);
    if (!st) st = side_check(tm, n, a, "side a", err);
    if (!st) st = side_check(tm, n, b, "side b", err);
    if (st) return st;
    tctx c;
    if (tc_start(&c, &tm->arena, tm->pool)) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    tside sa, sb;
    side_forward(&c, tm, &sa, n, a);
    if (!c.oom) side_forward(&c, tm, &sb, n, b);
    int dim = cf->dim;
    float *da = backward ? tc_alloc(&c, (size_t)n * dim) : NULL; // (n, dim)
    float *db = backward ? tc_alloc(&c, (size_t)n * dim) : NULL; // (n, dim)
    if (c.oom) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations");
    float *ls = tm->params + tm->tensors[tm->n_tensors - 1].offset;
    float dls = 0;
    *loss = infonce(&c, n, dim, sa.out, sb.out, group, lo, *ls, da, db, &dls);
    if (emb_a) memcpy(emb_a, sa.out, (size_t)n * dim * sizeof(float));
    if (emb_b) memcpy(emb_b, sb.out, (size_t)n * dim * sizeof(float));
    if (backward && !c.oom) {
        tm->grads[tm->tensors[tm->n_tensors - 1].offset] += dls;
        side_backward(&c, tm, &sb, db);
        side_backward(&c, tm, &sa, da);
    }
    tc_finish(&c);
    return c.oom ? sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations") : SAIL_OK;
}
