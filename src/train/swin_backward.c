/* swin_backward.c: the backward of HTSAT, CLAP's audio tower (the forward
 * is model/swin.c's, run with keep), in reverse order: the token mean and
 * final LayerNorm, each stage's Swin blocks and patch merging, the patch
 * LayerNorm, a fused tower's attentional feature fusion (its (p, 3p)
 * convolution of the other three spectrograms and its two bottlenecks of
 * 1x1 convolutions and eval-mode BatchNorms), the patch linear, then back
 * through the fold into an image and the time stretch to the eval-mode
 * BatchNorm's weight and bias (the spectrogram needs no gradient; no
 * running statistics get one).
 *
 * LayerNorms, linears and the MLP are ops_backward.c's. The window
 * attention is here: the relative position bias and the shift mask are
 * added to the scores, so the score gradient dS is also the bias's, which
 * each head sums window by window in a fixed order into its column of the
 * table. Windows, the cyclic shift and patch merging are permutations of
 * token rows: their backward moves each row's gradient back to its row. */
#include "model/swin.h"
#include "tmodel.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------- window attention -- */

typedef struct win_bwd {
    const sail_kernel_table *k;
    int r, w, shift, heads, hd, d;
    const float *qkv;           /* (n, 3d) */
    const float *p;             /* (windows, heads, w^2, w^2) the forward's probabilities */
    const float *datt;          /* (n, d) */
    float *dqkv;                /* (n, 3d) */
    float *ds;                  /* (windows, heads, w^2, w^2) score gradients */
    float *scratch;             /* per thread: per floats */
    int *ints;                  /* per thread: 2 w^2 */
    size_t per;
} win_bwd;

/* One window: dV = P^T dO; dP = dO V^T; dS = P (dP - rowsum(P dP));
 * dQ = dS K / sqrt(hd); dK = dS^T Q / sqrt(hd); scattered to its rows. */
static void window_bwd_task(void *ctx, int task, int thread) {
    const win_bwd *a = ctx;
    int ww = a->w * a->w, d = a->d, d3 = 3 * d, hd = a->hd;
    float *g = a->scratch + (size_t)thread * a->per; // (ww, 3d) the window's q k v
    float *dg = g + (size_t)ww * d3;                 // (ww, 3d) their gradients
    float *dout = dg + (size_t)ww * d3;              // (ww, d)
    float *tr = dout + (size_t)ww * d;               // (ww, ww)
    int *rows = a->ints + (size_t)thread * 2 * ww, *lab = rows + ww;
    float inv = 1.0f / sqrtf((float)hd);
    sail_swin_window(task, a->r, a->w, a->shift, rows, lab);
    for (int i = 0; i < ww; i++) {
        memcpy(g + (size_t)i * d3, a->qkv + (size_t)rows[i] * d3, (size_t)d3 * sizeof *g);
        memcpy(dout + (size_t)i * d, a->datt + (size_t)rows[i] * d, (size_t)d * sizeof *g);
    }
    for (int h = 0; h < a->heads; h++) {
        size_t at = ((size_t)task * a->heads + h) * ww * ww, col = (size_t)h * hd;
        const float *p = a->p + at;
        float *ds = a->ds + at;
        a->k->transpose(p, (size_t)ww, tr, (size_t)ww, ww, ww);
        a->k->gemm(ww, hd, ww, tr, ww, dout + col, d, 0, NULL, 0.0f, dg + 2 * d + col, d3);
        a->k->gemm(ww, ww, hd, dout + col, d, g + 2 * d + col, d3, 1, NULL, 0.0f, ds, ww);
        for (int t = 0; t < ww; t++) {
            const float *pr = p + (size_t)t * ww;
            float *dr = ds + (size_t)t * ww, s = 0;
            for (int j = 0; j < ww; j++) s += pr[j] * dr[j];
            for (int j = 0; j < ww; j++) dr[j] = pr[j] * (dr[j] - s);
        }
        a->k->gemm(ww, hd, ww, ds, ww, g + d + col, d3, 0, NULL, 0.0f, dg + col, d3);
        a->k->transpose(ds, (size_t)ww, tr, (size_t)ww, ww, ww);
        a->k->gemm(ww, hd, ww, tr, ww, g + col, d3, 0, NULL, 0.0f, dg + d + col, d3);
        for (int i = 0; i < ww; i++)
            for (int j = 0; j < hd; j++) dg[(size_t)i * d3 + col + j] *= inv, dg[(size_t)i * d3 + d + col + j] *= inv;
    }
    for (int i = 0; i < ww; i++) memcpy(a->dqkv + (size_t)rows[i] * d3, dg + (size_t)i * d3, (size_t)d3 * sizeof *g);
}

typedef struct rel_bwd {
    const float *ds;            /* (windows, heads, w^2, w^2) */
    float *grel;                /* ((2w-1)^2, heads) */
    int windows, heads, w;
} rel_bwd;

/* Head `task`'s column of the bias table, window after window. */
static void rel_bwd_task(void *ctx, int task, int thread) {
    const rel_bwd *a = ctx;
    int ww = a->w * a->w;
    for (int win = 0; win < a->windows; win++) {
        const float *ds = a->ds + ((size_t)win * a->heads + task) * ww * ww;
        for (int i = 0; i < ww; i++)
            for (int j = 0; j < ww; j++) a->grel[sail_swin_rel(i, j, a->w) * a->heads + task] += ds[i * ww + j];
    }
}

/* d (n, d) of block s's output in, of its input out: the MLP half
 * (ffn_backward), then r1 = x + attn(LN1 x) Wo. */
static void block_bwd(fwd *c, const sail_swin_cfg *sc, const sail_tower *t, const sail_swin_block *w,
                      const sail_swin_block *g, const fwd_block *s, float *d, int r, int shift) {
    int dm = t->width, n = s->B * s->T, win = sc->window, ww = win * win, windows = s->B * (r / win) * (r / win);
    int threads = sail_pool_size(c->pool);
    size_t per = (size_t)ww * (7 * dm + ww);
    fwd_mark mark = fwd_mark_get(c);
    ffn_backward(c, t, &w->b, &g->b, s, d, n); /* d = d(r1) */
    float *datt = fwd_alloc(c, (size_t)n * dm);                      // (n, d)
    float *dqkv = fwd_alloc(c, (size_t)n * 3 * dm);                  // (n, 3d)
    float *dh1 = fwd_alloc(c, (size_t)n * dm);                       // (n, d)
    float *ds = fwd_alloc(c, (size_t)windows * t->heads * ww * ww);  // like s->p
    float *scratch = fwd_alloc(c, per * threads);
    int *ints = fwd_alloc_bytes(c, 2 * (size_t)ww * threads * sizeof *ints);
    if (c->oom) return;
    linear_backward(c, &w->b.out, &g->b.out, d, s->att, n, dm, dm, datt, 0);
    win_bwd a = {c->k, r, win, shift, t->heads, dm / t->heads, dm, s->qkv, s->p, datt, dqkv, ds, scratch, ints, per};
    sail_pool_run(c->pool, window_bwd_task, &a, windows);
    rel_bwd rb = {ds, GRAD(g->rel), windows, t->heads, win};
    sail_pool_run(c->pool, rel_bwd_task, &rb, t->heads);
    linear_backward(c, &w->b.qkv, &g->b.qkv, dqkv, s->h1, n, dm, 3 * dm, dh1, 0);
    ln_backward(c, &w->b.norm1, &g->b.norm1, s->x, dh1, d, 1, n, dm, t->eps);
    fwd_release(c, mark);
}

/* ----------------------------------------------------- patch merging -- */

/* dy (B*(r/2)^2, 2d) of stage st's merging output in; returns dx (B*r*r, d). */
static float *merge_bwd(fwd *c, const sail_swin_cfg *sc, const sail_swin_weights *w, const sail_swin_weights *g,
                        const fwd_swin *rec, int st, const float *dy, int B, int r, int d) {
    int h = r / 2, n = B * h * h;
    float *dx = fwd_alloc(c, (size_t)B * r * r * d); // (B*r*r, d): the result
    fwd_mark mark = fwd_mark_get(c);
    float *dcat = fwd_alloc(c, (size_t)n * 4 * d); // (n, 4d)
    if (c->oom) return NULL;
    linear_backward(c, &w->merge[st], &g->merge[st], dy, rec->catn[st], n, 4 * d, 2 * d, dcat, 0);
    ln_backward(c, &w->merge_norm[st], &g->merge_norm[st], rec->cat[st], dcat, dcat, 0, n, 4 * d, sc->eps);
    for (int bi = 0; bi < B; bi++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < h; j++)
                for (int q = 0; q < 4; q++)
                    memcpy(dx + sail_swin_merge_row(bi, i, j, q, r) * d,
                           dcat + (((size_t)bi * h + i) * h + j) * 4 * d + (size_t)q * d, (size_t)d * sizeof *dx);
    fwd_release(c, mark);
    return dx;
}

/* ------------------------------------------------------- BatchNorm -- */

/* The eval-mode BatchNorm y = (x - mean) inv w + b over `channels`
 * channels of `count` values, value t of channel c at [c * cs + t * ts]:
 * g's weight and bias gain the sums (in double) of dy xhat and of dy; with
 * to_dx, dy becomes the input's gradient dy w inv in place. */
static void bn_bwd(const sail_swin_bn *bn, const sail_swin_bn *g, const float *x, float *dy, int channels,
                   int count, size_t cs, size_t ts, int to_dx) {
    for (int c = 0; c < channels; c++) {
        float inv = 1.0f / sqrtf(bn->var[c] + SAIL_SWIN_BN_EPS);
        double gw = 0, gb = 0;
        for (int t = 0; t < count; t++) {
            size_t k = (size_t)c * cs + (size_t)t * ts;
            gw += (double)dy[k] * ((x[k] - bn->mean[c]) * inv);
            gb += dy[k];
            if (to_dx) dy[k] *= bn->w[c] * inv;
        }
        GRAD(g->w)[c] += (float)gw;
        GRAD(g->b)[c] += (float)gb;
    }
}

/* ---------------------------------------------------------- fusion -- */

/* One bottleneck of the fusion (local or global): its convolutions and
 * BatchNorms. */
typedef struct aff_half {
    const sail_linear *l1, *l2;
    const sail_swin_bn *bn1, *bn2;
} aff_half;

static aff_half half_of(const sail_swin_aff *a, int global) {
    return global ? (aff_half){&a->global1, &a->global2, &a->global_bn1, &a->global_bn2}
                  : (aff_half){&a->local1, &a->local2, &a->local_bn1, &a->local_bn2};
}

/* dy (rows, e) of bottleneck o's output in (clobbered); dx (rows, e) of
 * its input x out (overwritten): y = BN2(l2 ReLU(BN1(l1 x))). */
static void aff_branch_bwd(fwd *c, const sail_swin_cfg *sc, aff_half w, aff_half g, const fwd_aff_branch *o,
                           const float *x, float *dy, float *dx, int rows) {
    int e = sc->embed, ch = sc->fuse_channels;
    fwd_mark mark = fwd_mark_get(c);
    float *dr = fwd_alloc(c, (size_t)rows * ch); // (rows, ch)
    if (c->oom) return;
    bn_bwd(w.bn2, g.bn2, o->v, dy, e, rows, 1, (size_t)e, 1);
    linear_backward(c, w.l2, g.l2, dy, o->r, rows, ch, e, dr, 0);
    for (size_t i = 0; i < (size_t)rows * ch; i++) dr[i] = o->r[i] > 0 ? dr[i] : 0;
    bn_bwd(w.bn1, g.bn1, o->u, dr, ch, rows, 1, (size_t)ch, 1);
    linear_backward(c, w.l1, g.l1, dr, x, rows, e, ch, dx, 0);
    fwd_release(c, mark);
}

/* d (n*g*g, e) of the fusion's output in, of the first spectrogram's
 * patch tokens out; dothers (n*3*g*w3, 3p*p) of the other three's (p, 3p)
 * patches out. x = 2 tok w + 2 l (1 - w), w = sigmoid(la + ga): dtok = 2
 * w dx, dl = 2 (1 - w) dx, and dz = 2 (tok - l) dx w (1 - w) enters the
 * local bottleneck per token and the global one summed over the clip's
 * tokens; both bottlenecks' input, tok + l (its mean), passes its gradient
 * to tok and l alike. l's columns (c-1) w3 .. c w3 - 1 of each grid row
 * are spectrogram c's convolution; its padding has none. */
static void aff_bwd(fwd *c, const sail_swin_cfg *sc, const sail_swin_weights *w, const sail_swin_weights *g,
                    const fwd_aff *s, int n, float *d, float *dothers) {
    int p = sc->patch, gs = sc->spec / p, w3 = sc->spec / (3 * p), e = sc->embed, np = gs * gs, rows = gs * w3;
    size_t t = (size_t)n * np;
    fwd_mark mark = fwd_mark_get(c);
    float *dl = fwd_alloc(c, t * e), *dz = fwd_alloc(c, t * e), *ds = fwd_alloc(c, t * e); // (n*g*g, e)
    float *dgz = fwd_alloc(c, (size_t)n * e), *dmean = fwd_alloc(c, (size_t)n * e);     // (n, e)
    float *dconv = fwd_alloc(c, (size_t)n * 3 * rows * e);                               // (n*3*g*w3, e)
    double *acc = fwd_alloc_bytes(c, (size_t)e * sizeof *acc);
    if (c->oom) return;
    for (int i = 0; i < n; i++) {
        memset(acc, 0, (size_t)e * sizeof *acc);
        for (int k = 0; k < np; k++)
            for (int j = 0; j < e; j++) {
                size_t at = ((size_t)i * np + k) * e + j;
                float wt = sail_swin_aff_weight(s->loc.y[at], s->glob.y[(size_t)i * e + j]), dx = d[at];
                dz[at] = 2 * (s->tok[at] - s->l[at]) * dx * wt * (1 - wt);
                acc[j] += dz[at];
                d[at] = 2 * wt * dx;
                dl[at] = 2 * (1 - wt) * dx;
            }
        for (int j = 0; j < e; j++) dgz[(size_t)i * e + j] = (float)acc[j];
    }
    aff_branch_bwd(c, sc, half_of(&w->aff, 0), half_of(&g->aff, 0), &s->loc, s->sum, dz, ds, (int)t);
    aff_branch_bwd(c, sc, half_of(&w->aff, 1), half_of(&g->aff, 1), &s->glob, s->mean, dgz, dmean, n);
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)np * e; k++) {
            size_t at = (size_t)i * np * e + k;
            float v = ds[at] + dmean[(size_t)i * e + k % e] / (float)np;
            d[at] += v;
            dl[at] += v;
        }
    for (int i = 0; i < n; i++)
        for (int sp = 0; sp < 3; sp++)
            for (int gy = 0; gy < gs; gy++)
                memcpy(dconv + (((size_t)i * 3 + sp) * rows + (size_t)gy * w3) * e,
                       dl + ((size_t)i * np + (size_t)gy * gs + (size_t)sp * w3) * e, (size_t)w3 * e * sizeof *dl);
    linear_backward(c, &w->aff.mel_conv, &g->aff.mel_conv, dconv, s->others, n * 3 * rows, 3 * p * p, e, dothers, 0);
    fwd_release(c, mark);
}

/* ---------------------------------------------------------- front end -- */

/* unfold's transpose: the gradients of patches (gh*gw, ph*pw) into img's
 * (S x S); what no patch covers gets 0. */
static void fold(float *img, const float *rows, int S, int ph, int pw, int gh, int gw) {
    if (gh * ph < S || gw * pw < S) memset(img, 0, (size_t)S * S * sizeof *img);
    for (int gy = 0; gy < gh; gy++)
        for (int gx = 0; gx < gw; gx++)
            for (int ky = 0; ky < ph; ky++)
                memcpy(img + ((size_t)gy * ph + ky) * S + (size_t)gx * pw,
                       rows + ((size_t)gy * gw + gx) * ph * pw + (size_t)ky * pw, (size_t)pw * sizeof *img);
}

/* The patches' gradients to the BatchNorm's weight and bias: dpatch (n*g*g,
 * p*p) of the first spectrograms' patches and (fused) dothers (n*3*g*w3,
 * 3p*p) of the other three's, each folded into its image, the image's rows
 * back to the stretched spectrogram (reshape_mel2img), the stretch's
 * transpose, then per mel bin the sums of dy xhat and of dy. */
static void front_bwd(fwd *c, const sail_swin_cfg *sc, const sail_swin_weights *w, const sail_swin_weights *g,
                      const fwd_swin *rec, const float *dpatch, const float *dothers) {
    int m = sc->mel.n_mels, frames = sail_swin_frames(sc), S = sc->spec, p = sc->patch, gs = S / p, w3 = S / (3 * p);
    int ratio = S / m, tw = S * ratio, nspec = sc->fusion ? 4 : 1;
    fwd_mark mark = fwd_mark_get(c);
    float *dimg = fwd_alloc(c, (size_t)S * S), *dwide = fwd_alloc(c, (size_t)m * tw);
    float *dnorm = fwd_alloc(c, (size_t)m * frames);
    if (c->oom) return;
    for (int i = 0; i < rec->n; i++)
        for (int k = 0; k < nspec; k++) {
            if (k == 0) fold(dimg, dpatch + (size_t)i * gs * gs * p * p, S, p, p, gs, gs);
            else fold(dimg, dothers + ((size_t)i * 3 + k - 1) * gs * w3 * 3 * p * p, S, p, 3 * p, gs, w3);
            for (int ch = 0; ch < ratio; ch++)
                for (int b = 0; b < m; b++)
                    memcpy(dwide + (size_t)b * tw + (size_t)ch * S, dimg + ((size_t)ch * m + b) * S,
                           (size_t)S * sizeof *dimg);
            if (frames == tw) memcpy(dnorm, dwide, (size_t)m * tw * sizeof *dnorm);
            else sail_interp_cubic_rows_backward(dnorm, frames, dwide, tw, m);
            const float *sp = rec->spec + ((size_t)i * nspec + k) * m * frames;
            bn_bwd(&w->bn, &g->bn, sp, dnorm, m, frames, (size_t)frames, 1, 0);
        }
    fwd_release(c, mark);
}

/* ------------------------------------------------------------- tower -- */

void swin_backward(fwd *c, sail_tmodel *tm, const fwd_swin *rec, const float *dp) {
    const sail_swin_cfg *sc = &tm->cfg.swin;
    const sail_swin_weights *w = tm->w.swin, *g = tm->g.swin;
    int n = rec->n, last = sc->stages - 1, gs = sc->spec / sc->patch, r = gs >> last, hid = sail_swin_hidden(sc);
    int nb = 0, e = sc->embed, pp = sc->patch * sc->patch, w3 = sc->spec / (3 * sc->patch);
    for (int st = 0; st < sc->stages; st++) nb += sc->depths[st];
    fwd_mark mark = fwd_mark_get(c);
    float *d = fwd_alloc(c, (size_t)n * r * r * hid); // (n*r*r, hid)
    if (c->oom) return;
    for (int i = 0; i < n; i++) /* the token mean */
        for (int k = 0; k < r * r; k++)
            for (int j = 0; j < hid; j++) d[((size_t)i * r * r + k) * hid + j] = dp[(size_t)i * hid + j] / (float)(r * r);
    ln_backward(c, &w->norm, &g->norm, rec->blk[nb - 1].out, d, d, 0, n * r * r, hid, sc->eps);
    for (int st = last; st >= 0 && !c->oom; st--) {
        sail_tower t = sail_swin_stage(sc, st);
        if (st < last) {
            d = merge_bwd(c, sc, w, g, rec, st, d, n, r * 2, t.width);
            r *= 2;
        }
        for (int j = sc->depths[st] - 1; j >= 0 && !c->oom; j--) {
            nb--;
            block_bwd(c, sc, &t, &w->blocks[nb], &g->blocks[nb], &rec->blk[nb], d, r, sail_swin_shift(sc, j, r));
        }
    }
    float *dpatch = fwd_alloc(c, (size_t)n * gs * gs * pp); // (n*g*g, p*p)
    float *dothers = sc->fusion ? fwd_alloc(c, (size_t)n * 3 * gs * w3 * 3 * pp) : NULL; // (n*3*g*w3, 3p*p)
    if (c->oom) return;
    if (sc->patch_norm) ln_backward(c, &w->patch_norm, &g->patch_norm, rec->emb, d, d, 0, n * gs * gs, e, sc->eps);
    if (sc->fusion) aff_bwd(c, sc, w, g, &rec->aff, n, d, dothers);
    linear_backward(c, &w->patch, &g->patch, d, rec->patches, n * gs * gs, pp, e, dpatch, 0);
    if (!c->oom) front_bwd(c, sc, w, g, rec, dpatch, dothers);
    fwd_release(c, mark);
}
