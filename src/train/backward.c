/* backward.c: the backward pass of one side of a batch, from d loss /
 * d embedding to the gradients of every parameter it touched, in the
 * reverse order of src/model/forward.c: sail models (texts, images, audio
 * through an AST or HTSAT (swin_backward.c), or joint items through the
 * fusion) and imported towers (CLIP, Chinese-CLIP, BERT, ViT, SigLIP, AST).
 *
 * Every gradient buffer lives in the step's arena; the reverse pass of a
 * tower runs in place on one (rows, width) buffer. */
#include "model/swin.h"
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
        if (ss == 0) continue; /* the forward left a zero vector unchanged */
        double inv = 1.0 / sqrt(ss);
        for (int j = 0; j < dim; j++) di[j] = (float)((di[j] - oi[j] * dot) * inv);
    }
}

/* d (n*S, df) = d loss / d y from d pooled (n, df): CLS, mean or
 * mean(tanh) over the sequence's real rows. */
static void pool_backward(const sail_config *cf, const fwd_acts *s, const float *dp, float *d) {
    int S = s->S, df = cf->fusion.width;
    memset(d, 0, (size_t)s->n * S * df * sizeof(float));
    for (int i = 0; i < s->n; i++) {
        const float *g = dp + (size_t)i * df;
        const uint8_t *mask = s->mask + (size_t)i * S;
        if (cf->pooling == SAIL_POOL_CLS) {
            memcpy(d + (size_t)i * S * df, g, (size_t)df * sizeof(float));
            continue;
        }
        int cnt = 0;
        for (int t = 0; t < S; t++) cnt += mask[t] != 0;
        if (!cnt) continue;
        float inv = 1.0f / (float)cnt;
        for (int t = 0; t < S; t++) {
            if (!mask[t]) continue;
            size_t r = ((size_t)i * S + t) * df;
            for (int j = 0; j < df; j++) {
                float v = g[j] * inv;
                d[r + j] = s->z ? v * (1.0f - s->z[r + j] * s->z[r + j]) : v;
            }
        }
    }
}

/* d (rows, width) of the tower's output in, of its input x0 out. */
static void tower_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                           const fwd_block *b, float *d) {
    for (int l = t->layers - 1; l >= 0 && !c->oom; l--) block_backward(c, t, &w[l], &g[l], &b[l], d);
}

/* d (nv*nl, df) = d perceiver output; returns d of its input (nv*Tv, df). */
static float *perceiver_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *d) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w, *g = &tm->g;
    const sail_tower *t = &cf->fusion;
    const fwd_block *p = &s->perc;
    int n = s->nv, df = t->width, nl = cf->perceiver_latents, Tv = s->vis.T;
    int rq = n * nl, rk = n * Tv;
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_backward(c, &pre, &w->perc, &g->perc, p, d, rq); /* d = d(r1) */
    float *dv = fwd_alloc(c, (size_t)rk * df); // (n*Tv, df): the result
    fwd_mark mark = fwd_mark_get(c);
    float *datt = fwd_alloc(c, (size_t)rq * df);    // (rq, df)
    float *dq = fwd_alloc(c, (size_t)rq * df);      // (rq, df)
    float *dkv = fwd_alloc(c, (size_t)rk * 2 * df); // (rk, 2df)
    float *dh = fwd_alloc(c, (size_t)rq * df);      // (rq, df)
    float *dkvn = fwd_alloc(c, (size_t)rk * df);    // (rk, df)
    if (c->oom) return NULL;
    linear_backward(c, &w->perc.out, &g->perc.out, d, p->att, rq, df, df, datt, 0);
    fwd_attn a = {.B = n, .Tq = nl, .Tk = Tv, .H = t->heads, .hd = df / t->heads, .d = df, .q = p->qkv,
                  .qs = df, .k = p->kv, .v = p->kv + df, .kvs = 2 * df};
    attention_backward(c, &a, p->p, datt, dq, df, dkv, dkv + df, 2 * df);
    /* q and kv are the first and the last rows of the qkv weight */
    sail_linear wq = linear_rows(&w->perc.qkv, 0, df), gq = linear_rows(&g->perc.qkv, 0, df);
    sail_linear wkv = linear_rows(&w->perc.qkv, df, df), gkv = linear_rows(&g->perc.qkv, df, df);
    linear_backward(c, &wq, &gq, dq, p->h1, rq, df, df, dh, 0);
    ln_backward(c, &w->perc.norm1, &g->perc.norm1, p->x, dh, d, 1, rq, df, t->eps);
    /* the latents are shared by every item */
    colsum_add(c, GRAD(g->latents), d, n, nl * df, (size_t)nl * df);
    linear_backward(c, &wkv, &gkv, dkv, p->kvn, rk, df, 2 * df, dkvn, 0);
    ln_backward(c, &w->perc_norm_kv, &g->perc_norm_kv, s->vproj, dkvn, dv, 0, rk, df, t->eps);
    fwd_release(c, mark);
    return dv;
}

/* d (n*T, dt) = d loss / d ht, clobbered. */
static void text_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *d) {
    const sail_config *cf = &tm->cfg;
    const sail_towers *tw = &cf->towers;
    const sail_weights *w = &tm->w, *g = &tm->g;
    int dt = cf->text.width, n = s->n, T = s->T, rows = n * T;
    if (sail_has_layout(cf) && tw->text_final_norm)
        ln_backward(c, &w->text_final, &g->text_final, fwd_tower_out(s->tenc, cf->text.layers, s->tx0), d,
                    d, 0, rows, dt, cf->text.eps);
    tower_backward(c, &cf->text, w->text, g->text, s->tenc, d);
    if (sail_text_emb_norm(cf))
        ln_backward(c, &w->emb_norm, &g->emb_norm, s->temb, d, d, 0, rows, dt, cf->text.eps);
    if (c->oom) return;
    scatter_rows_add(c, GRAD(g->tok_emb), d, s->ids, rows, dt);
    /* row t of every item: position pos_offset + t */
    colsum_add(c, GRAD(g->pos_emb) + (size_t)tw->text_pos_offset * dt, d, n, T * dt, (size_t)T * dt);
    if (cf->type_vocab > 0) colsum_add(c, GRAD(g->type_emb), d, rows, dt, (size_t)dt);
}

/* d (n*T, d) = d loss / d r->h of a ViT (vision or audio tower), clobbered. */
static void vit_backward(fwd *c, const sail_vit_geom *gm, const sail_vit *w, const sail_vit *g, const fwd_vit *r,
                         float *d) {
    const sail_tower *t = gm->t;
    int cls = sail_vit_prefix(gm), kp = gm->nc * gm->p * gm->p;
    int dv = t->width, n = r->n, T = r->T, np = T - cls;
    int rows = n * T;
    ln_backward(c, &w->norm, &g->norm, fwd_tower_out(r->enc, t->layers, r->x0), d, d, 0, rows, dv, t->eps);
    tower_backward(c, t, w->blocks, g->blocks, r->enc, d);
    if (gm->pre_norm) ln_backward(c, &w->pre, &g->pre, r->emb, d, d, 0, rows, dv, t->eps);
    fwd_mark mark = fwd_mark_get(c);
    float *dpe = fwd_alloc(c, (size_t)n * np * dv); // (n*np, dv)
    if (c->oom) return;
    if (gm->cls) colsum_add(c, GRAD(g->cls), d, n, dv, (size_t)T * dv);
    if (gm->dist) colsum_add(c, GRAD(g->dist), d + (size_t)(cls - 1) * dv, n, dv, (size_t)T * dv);
    colsum_add(c, GRAD(g->pos), d, n, T * dv, (size_t)T * dv);
    for (int i = 0; i < n; i++)
        memcpy(dpe + (size_t)i * np * dv, d + ((size_t)i * T + cls) * dv, (size_t)np * dv * sizeof(float));
    linear_backward(c, &w->patch, &g->patch, dpe, r->patches, n * np, kp, dv, NULL, 0);
    fwd_release(c, mark);
}

static void image_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *d) {
    sail_vit_geom gm = sail_vit_vision(&tm->cfg);
    vit_backward(c, &gm, &tm->w.vis, &tm->g.vis, &s->vis, d);
}

/* d (n, da) of the audio tower's pooled output (vit_pool) to the tower. */
static void audio_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, const float *dp) {
    sail_vit_geom gm = sail_vit_audio(&tm->cfg);
    int n = s->aud.n, T = s->aud.T, da = gm.t->width;
    float *dx = fwd_alloc(c, (size_t)n * T * da); // (n*T, da)
    if (c->oom) return;
    memset(dx, 0, (size_t)n * T * da * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *gi = dp + (size_t)i * da;
        float *di = dx + (size_t)i * T * da;
        if (gm.dist) /* (class + distillation) / 2 */
            for (int j = 0; j < da; j++) di[j] = di[da + j] = gi[j] / 2;
        else
            memcpy(di, gi, (size_t)da * sizeof(float));
    }
    vit_backward(c, &gm, &tm->w.aud, &tm->g.aud, &s->aud, dx);
}

/* Rows [off, off + rows) of every item of d (n*S, df) into dst (n*rows, df). */
static void gather_rows(float *dst, const float *d, int n, int S, int off, int rows, int df) {
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * rows * df, d + ((size_t)i * S + off) * df, (size_t)rows * df * sizeof(float));
}

/* A sail model: head, pooling, fusion, then each modality of the sequence. */
static void fused_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *dout) {
    const sail_config *cf = &tm->cfg;
    const sail_weights *w = &tm->w, *g = &tm->g;
    int n = s->n, S = s->S, Sv = s->Sv, Sa = s->Sa, T = s->T, Tv = s->vis.T, df = cf->fusion.width;
    size_t rows = (size_t)n * S;
    float *dp = fwd_alloc(c, (size_t)n * df); // (n, df)
    float *d = fwd_alloc(c, rows * df);       // (n*S, df)
    if (c->oom) return;
    linear_backward(c, &w->head, &g->head, dout, s->pooled, n, df, cf->dim, dp, 0);
    pool_backward(cf, s, dp, d);
    ln_backward(c, &w->fuse_norm, &g->fuse_norm, fwd_tower_out(s->fuse, cf->fusion.layers, s->seq), d, d,
                0, (int)rows, df, cf->fusion.eps);
    tower_backward(c, &cf->fusion, w->fusion, g->fusion, s->fuse, d);
    if (c->oom) return;
    /* d is now d(seq): image rows [0, Sv), the audio row [Sv, Sv + Sa), text
       rows [Sv + Sa, S) of each item */
    for (int i = 0; i < n; i++) {
        const float *di = d + (size_t)i * S * df;
        if (Sv) colsum_add(c, GRAD(g->modality), di, Sv, df, (size_t)df);
        if (Sa) colsum_add(c, GRAD(g->modality) + 2 * df, di + (size_t)Sv * df, Sa, df, (size_t)df);
        if (T) colsum_add(c, GRAD(g->modality) + df, di + (size_t)(Sv + Sa) * df, T, df, (size_t)df);
    }
    /* a frozen tower needs no gradient: stop at the projection into the fusion */
    int text_on = !tm->frozen[SAIL_PART_TEXT], vis_on = !tm->frozen[SAIL_PART_VISION];
    int aud_on = !tm->frozen[SAIL_PART_AUDIO];
    /* an HTSAT's projection into the fusion is the fusion's part (tmodel.c), an AST's the audio's */
    int aproj_on = cf->swin.on ? !tm->frozen[SAIL_PART_FUSION] : aud_on;
    if (T) {
        float *du = Sv + Sa ? fwd_alloc(c, (size_t)n * T * df) : d;               // (n*T, df)
        float *dht = text_on ? fwd_alloc(c, (size_t)n * T * cf->text.width) : NULL; // (n*T, dt)
        if (c->oom) return;
        if (Sv + Sa) gather_rows(du, d, n, S, Sv + Sa, T, df);
        linear_backward(c, &w->text_proj, &g->text_proj, du, s->ht, n * T, cf->text.width, df, dht, 0);
        if (text_on) text_backward(c, tm, s, dht);
    }
    if (Sa && (aproj_on || aud_on) && !c->oom) {
        int da = sail_audio_width(cf);
        float *du = fwd_alloc(c, (size_t)n * df);                    // (n, df)
        float *dpool = aud_on ? fwd_alloc(c, (size_t)n * da) : NULL; // (n, da)
        if (c->oom) return;
        gather_rows(du, d, n, S, Sv, 1, df);
        linear_backward(c, &w->aud_proj, &g->aud_proj, du, s->apool, n, da, df, dpool, 0);
        if (aud_on && cf->swin.on) swin_backward(c, tm, &s->swin, dpool);
        else if (aud_on) audio_backward(c, tm, s, dpool);
    }
    if (Tv && !c->oom) {
        int nv = s->nv;
        float *dv = T + Sa ? fwd_alloc(c, (size_t)n * Sv * df) : d;                   // (n*Sv, df)
        float *dhv = vis_on ? fwd_alloc(c, (size_t)nv * Tv * cf->vision.width) : NULL; // (nv*Tv, dv)
        if (c->oom) return;
        if (T + Sa) gather_rows(dv, d, n, S, 0, Sv, df);
        if (cf->perceiver_latents) dv = perceiver_backward(c, tm, s, dv);
        if (c->oom) return;
        linear_backward(c, &w->vis_proj, &g->vis_proj, dv, s->vis.h, nv * Tv, cf->vision.width, df, dhv, 0);
        if (vis_on) image_backward(c, tm, s, dhv);
    }
}

/* The head's projections of an imported tower (NULL where it has none):
 * proj, then for CLAP's ReLU and proj2. */
typedef struct head_view { const sail_linear *proj, *gproj, *proj2, *gproj2, *pooler, *gpooler; } head_view;

static head_view towers_head_of(const sail_tmodel *tm, int text, int swin) {
    const sail_towers *tw = &tm->cfg.towers;
    const sail_weights *w = &tm->w, *g = &tm->g;
    if (swin) return (head_view){&w->swin->proj1, &g->swin->proj1, &w->swin->proj2, &g->swin->proj2, NULL, NULL};
    if (text)
        return (head_view){tw->text_proj ? &w->text_out : NULL, &g->text_out,
                           tw->text_proj_mlp ? &w->text_out2 : NULL, &g->text_out2, &w->text_pooler, &g->text_pooler};
    return (head_view){tw->vision_proj ? &w->vis_out : NULL, &g->vis_out, NULL, NULL, &w->vis_pooler, &g->vis_pooler};
}

/* An imported model: projection(s), pooler, pooling, then the one tower. */
static void towers_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *dout) {
    const sail_config *cf = &tm->cfg;
    const sail_towers *tw = &cf->towers;
    const sail_weights *w = &tm->w, *g = &tm->g;
    int n = s->n, d = s->pool_d, text = s->T > 0, swin = s->swin.n > 0;
    if (s->aud.T) { /* an audio tower (AST): no head */
        if (!tm->frozen[SAIL_PART_AUDIO]) audio_backward(c, tm, s, dout);
        return;
    }
    sail_part part = text ? SAIL_PART_TEXT : swin ? SAIL_PART_AUDIO : SAIL_PART_VISION;
    int tower_on = !tm->frozen[part], head_on = !tm->frozen[SAIL_PART_HEAD];
    if (!tower_on && !head_on) return; /* nothing on this side trains */
    head_view hv = towers_head_of(tm, text, swin);
    /* the head (projections, pooler); past it only when the tower trains */
    float *dh = hv.proj ? fwd_alloc(c, (size_t)n * d) : dout; // (n, d)
    if (c->oom) return;
    if (hv.proj2) { /* e = proj2(ReLU(proj h)): dout becomes d(proj h) */
        float *dmid = fwd_alloc(c, (size_t)n * cf->dim); // (n, dim)
        if (c->oom) return;
        linear_backward(c, hv.proj2, hv.gproj2, dout, s->mid, n, cf->dim, cf->dim, dmid, 0);
        for (size_t i = 0; i < (size_t)n * cf->dim; i++) dmid[i] = s->mid[i] > 0 ? dmid[i] : 0;
        dout = dmid;
    }
    int past_proj = tower_on || s->pooler;
    if (hv.proj) linear_backward(c, hv.proj, hv.gproj, dout, s->pooler ? s->pooler : s->pooled, n, d, cf->dim,
                                 past_proj ? dh : NULL, 0);
    if (s->pooler) { /* h = tanh(dense(pooled)) */
        float *dpool = tower_on ? fwd_alloc(c, (size_t)n * d) : NULL;
        if (c->oom) return;
        for (size_t i = 0; i < (size_t)n * d; i++) dh[i] *= 1.0f - s->pooler[i] * s->pooler[i];
        linear_backward(c, hv.pooler, hv.gpooler, dh, s->pooled, n, d, d, dpool, 0);
        dh = dpool;
    }
    if (!tower_on) return;
    if (swin) { /* CLAP's HTSAT: pooled is its token mean */
        swin_backward(c, tm, &s->swin, dh);
        return;
    }
    int T = text ? s->T : s->vis.T;
    float *dx = fwd_alloc(c, (size_t)n * T * d); // (n*T, d)
    if (c->oom) return;
    if (!text && tw->vision_map) { /* attention pooling over every token */
        map_head_backward(c, &cf->vision, &w->vis_map, &g->vis_map, w->vis_probe, GRAD(g->vis_probe), &s->map,
                          dh, dx);
        image_backward(c, tm, s, dx);
        return;
    }
    memset(dx, 0, (size_t)n * T * d * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *gi = dh + (size_t)i * d;
        float *di = dx + (size_t)i * T * d;
        if (text && tw->text_pool == SAIL_TPOOL_MEAN) {
            int cnt = 0;
            for (int t = 0; t < T; t++) cnt += s->tmask[(size_t)i * T + t] != 0;
            for (int t = 0; t < T; t++)
                if (s->tmask[(size_t)i * T + t])
                    for (int j = 0; j < d; j++) di[(size_t)t * d + j] = gi[j] / (float)cnt;
        } else {
            int r = text ? s->pool_row[i] : 0;
            memcpy(di + (size_t)r * d, gi, (size_t)d * sizeof(float));
        }
    }
    if (text) text_backward(c, tm, s, dx);
    else image_backward(c, tm, s, dx);
}

void side_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *dout) {
    fwd_mark mark = fwd_mark_get(c);
    l2_backward(dout, s->e, s->out, s->n, tm->cfg.dim);
    if (tm->cfg.towers.on) towers_backward(c, tm, s, dout);
    else fused_backward(c, tm, s, dout);
    fwd_release(c, mark);
}
