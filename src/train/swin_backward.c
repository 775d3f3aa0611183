/* swin_backward.c: the backward of HTSAT, CLAP's audio tower (the forward
 * is model/swin.c's, run with keep), in reverse order: the token mean and
 * final LayerNorm, each stage's Swin blocks and patch merging, the patch
 * LayerNorm and linear, then back through the fold into an image and the
 * time stretch to the eval-mode BatchNorm's weight and bias (the
 * spectrogram needs no gradient; the running statistics get none).
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

static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < cols; i++) dst[(size_t)i * rows + r] = src[(size_t)r * cols + i];
}

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
        transpose(tr, p, ww, ww);
        a->k->gemm(ww, hd, ww, tr, ww, dout + col, d, 0, NULL, 0.0f, dg + 2 * d + col, d3);
        a->k->gemm(ww, ww, hd, dout + col, d, g + 2 * d + col, d3, 1, NULL, 0.0f, ds, ww);
        for (int t = 0; t < ww; t++) {
            const float *pr = p + (size_t)t * ww;
            float *dr = ds + (size_t)t * ww, s = 0;
            for (int j = 0; j < ww; j++) s += pr[j] * dr[j];
            for (int j = 0; j < ww; j++) dr[j] = pr[j] * (dr[j] - s);
        }
        a->k->gemm(ww, hd, ww, ds, ww, g + d + col, d3, 0, NULL, 0.0f, dg + col, d3);
        transpose(tr, ds, ww, ww);
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

/* ---------------------------------------------------------- front end -- */

/* dpatch (n*g*g, p*p) of the patch linear's input to the BatchNorm's
 * weight and bias: each item's patches folded into its image, the image's
 * rows back to the stretched spectrogram (reshape_mel2img), the stretch's
 * transpose, then per mel bin the sums of d y * x_hat and of d y. */
static void front_bwd(fwd *c, const sail_swin_cfg *sc, const sail_swin_weights *w, const sail_swin_weights *g,
                      const fwd_swin *rec, const float *dpatch) {
    int m = sc->mel.n_mels, frames = sail_swin_frames(sc), S = sc->spec, p = sc->patch, gs = S / p;
    int ratio = S / m, tw = S * ratio;
    fwd_mark mark = fwd_mark_get(c);
    float *dimg = fwd_alloc(c, (size_t)S * S), *dwide = fwd_alloc(c, (size_t)m * tw);
    float *dnorm = fwd_alloc(c, (size_t)m * frames);
    if (c->oom) return;
    for (int i = 0; i < rec->n; i++) {
        const float *dp = dpatch + (size_t)i * gs * gs * p * p;
        for (int gy = 0; gy < gs; gy++)
            for (int gx = 0; gx < gs; gx++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(dimg + ((size_t)gy * p + ky) * S + (size_t)gx * p,
                           dp + ((size_t)gy * gs + gx) * p * p + (size_t)ky * p, (size_t)p * sizeof *dimg);
        for (int ch = 0; ch < ratio; ch++)
            for (int b = 0; b < m; b++)
                memcpy(dwide + (size_t)b * tw + (size_t)ch * S, dimg + ((size_t)ch * m + b) * S,
                       (size_t)S * sizeof *dimg);
        if (frames == tw) memcpy(dnorm, dwide, (size_t)m * tw * sizeof *dnorm);
        else sail_interp_cubic_rows_backward(dnorm, frames, dwide, tw, m);
        const float *sp = rec->spec + (size_t)i * m * frames;
        for (int b = 0; b < m; b++) {
            float inv = 1.0f / sqrtf(w->bn.var[b] + SAIL_SWIN_BN_EPS);
            double gw = 0, gb = 0;
            for (int t = 0; t < frames; t++) {
                double dy = dnorm[(size_t)b * frames + t];
                gw += dy * ((sp[(size_t)b * frames + t] - w->bn.mean[b]) * inv);
                gb += dy;
            }
            GRAD(g->bn.w)[b] += (float)gw;
            GRAD(g->bn.b)[b] += (float)gb;
        }
    }
    fwd_release(c, mark);
}

/* ------------------------------------------------------------- tower -- */

void swin_backward(fwd *c, sail_tmodel *tm, const fwd_swin *rec, const float *dp) {
    const sail_swin_cfg *sc = &tm->cfg.swin;
    const sail_swin_weights *w = tm->w.swin, *g = tm->g.swin;
    int n = rec->n, last = sc->stages - 1, gs = sc->spec / sc->patch, r = gs >> last, hid = sail_swin_hidden(sc);
    int nb = 0, e = sc->embed, pp = sc->patch * sc->patch;
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
    if (c->oom) return;
    if (sc->patch_norm) ln_backward(c, &w->patch_norm, &g->patch_norm, rec->emb, d, d, 0, n * gs * gs, e, sc->eps);
    linear_backward(c, &w->patch, &g->patch, d, rec->patches, n * gs * gs, pp, e, dpatch, 0);
    if (!c->oom) front_bwd(c, sc, w, g, rec, dpatch);
    fwd_release(c, mark);
}
