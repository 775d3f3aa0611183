/* swin.c: HTSAT, CLAP's audio encoder (swin.h): its tensors and forward
 * pass (its configuration keys and front end are swin_cfg.c); training runs
 * the same pass keeping its activations (fwd_swin) for
 * src/train/swin_backward.c. Every layer is sail's (linear_forward,
 * norm_forward, ffn_forward) but the window attention, whose relative
 * position bias and shift mask are Swin's own. */
#include "swin.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SHIFT_MASK -100.0f      /* Swin's additive mask between wrapped regions (not -inf) */

sail_tower sail_swin_stage(const sail_swin_cfg *c, int s) {
    int d = sail_swin_width(c, s);
    sail_tower t = {c->depths[s], d, c->heads[s], sail_swin_ffn(c, d), c->eps, (sail_act)c->act, 1};
    return t;
}

int sail_swin_shift(const sail_swin_cfg *c, int j, int r) { return j % 2 && r > c->window ? c->window / 2 : 0; }

static int region(int y, int r, int w, int shift) { return y < r - w ? 0 : y < r - shift ? 1 : 2; }

void sail_swin_window(int task, int r, int w, int shift, int *rows, int *lab) {
    int nwin = r / w, bi = task / (nwin * nwin), wy = task / nwin % nwin, wx = task % nwin;
    for (int i = 0; i < w * w; i++) {
        int y = wy * w + i / w, x = wx * w + i % w;
        rows[i] = bi * r * r + ((y + shift) % r) * r + (x + shift) % r;
        lab[i] = shift ? region(y, r, w, shift) * 3 + region(x, r, w, shift) : 0;
    }
}

size_t sail_swin_merge_row(int bi, int i, int j, int q, int r) {
    static const int oy[4] = {0, 1, 0, 1}, ox[4] = {0, 0, 1, 1};
    return ((size_t)bi * r + 2 * i + oy[q]) * r + 2 * j + ox[q];
}

/* ----------------------------------------------------------- tensors -- */

static int n_blocks(const sail_swin_cfg *c) {
    int n = 0;
    for (int s = 0; s < c->stages; s++) n += c->depths[s];
    return n;
}

sail_status sail_swin_alloc(sail_swin_weights **w, const sail_config *c, sail_error *err) {
    *w = sail_calloc(1, sizeof **w);
    if (*w && !((*w)->blocks = sail_calloc((size_t)SAIL_MAX(n_blocks(&c->swin), 1), sizeof *(*w)->blocks))) {
        sail_free(*w);
        *w = NULL;
    }
    return *w ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the HTSAT layer tables");
}

void sail_swin_free(sail_swin_weights *w) {
    if (!w) return;
    sail_free(w->blocks);
    sail_free(w);
}

static void walk_bn(sail_walk *k, const char *pre, int64_t n, sail_swin_bn *bn) {
    static const char *const parts[] = {"weight", "bias", "mean", "var"};
    const float **slots[] = {&bn->w, &bn->b, &bn->mean, &bn->var};
    for (int i = 0; i < 4; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s.%s", pre, parts[i]);
        sail_walk_tensor(k, name, 1, n, slots[i], NULL, i == 0 || i == 3 ? SAIL_INIT_ONE : SAIL_INIT_ZERO);
    }
}

void sail_swin_walk(sail_walk *k, const sail_config *c, sail_swin_weights *w) {
    const sail_swin_cfg *sc = &c->swin;
    int m = sc->mel.n_mels, p = sc->patch, hid = sail_swin_hidden(sc), nb = 0;
    int64_t rel = (int64_t)(2 * sc->window - 1) * (2 * sc->window - 1);
    walk_bn(k, "audio.bn", m, &w->bn);
    sail_walk_linear(k, "audio", "patch", sc->embed, (int64_t)p * p, &w->patch);
    if (sc->fusion) {
        sail_swin_aff *a = &w->aff;
        int e = sc->embed, ch = sc->fuse_channels;
        sail_walk_linear(k, "audio.fuse", "mel_conv", e, 3 * (int64_t)p * p, &a->mel_conv);
        sail_walk_linear(k, "audio.fuse", "local1", ch, e, &a->local1);
        walk_bn(k, "audio.fuse.local_bn1", ch, &a->local_bn1);
        sail_walk_linear(k, "audio.fuse", "local2", e, ch, &a->local2);
        walk_bn(k, "audio.fuse.local_bn2", e, &a->local_bn2);
        sail_walk_linear(k, "audio.fuse", "global1", ch, e, &a->global1);
        walk_bn(k, "audio.fuse.global_bn1", ch, &a->global_bn1);
        sail_walk_linear(k, "audio.fuse", "global2", e, ch, &a->global2);
        walk_bn(k, "audio.fuse.global_bn2", e, &a->global_bn2);
    }
    if (sc->patch_norm) sail_walk_norm(k, "audio", "patch_norm", sc->embed, &w->patch_norm);
    for (int s = 0; s < sc->stages; s++) {
        sail_tower t = sail_swin_stage(sc, s);
        char pre[48], n[80];
        for (int j = 0; j < sc->depths[s]; j++) {
            sail_swin_block *b = &w->blocks[nb++];
            snprintf(pre, sizeof pre, "audio.s%d.b%d", s, j);
            snprintf(n, sizeof n, "%s.rel_bias", pre);
            sail_walk_norm(k, pre, "norm1", t.width, &b->b.norm1);
            sail_walk_linear(k, pre, "attn_qkv", 3 * (int64_t)t.width, t.width, &b->b.qkv);
            sail_walk_tensor(k, n, rel, t.heads, &b->rel, &b->rel_m, SAIL_INIT_NORMAL);
            sail_walk_linear(k, pre, "attn_out", t.width, t.width, &b->b.out);
            sail_walk_norm(k, pre, "norm2", t.width, &b->b.norm2);
            sail_walk_linear(k, pre, "ffn_up", t.ffn, t.width, &b->b.up);
            sail_walk_linear(k, pre, "ffn_down", t.width, t.ffn, &b->b.down);
        }
        if (s == sc->stages - 1) break;
        snprintf(pre, sizeof pre, "audio.s%d", s);
        snprintf(n, sizeof n, "%s.merge.weight", pre);
        sail_walk_norm(k, pre, "merge_norm", 4 * (int64_t)t.width, &w->merge_norm[s]);
        sail_walk_tensor(k, n, 2 * (int64_t)t.width, 4 * (int64_t)t.width, &w->merge[s].w, &w->merge[s].wm,
                         SAIL_INIT_NORMAL);
    }
    sail_walk_norm(k, "audio", "norm", hid, &w->norm);
}

void sail_swin_f32_views(sail_swin_weights *w, const sail_config *c) {
    const sail_swin_cfg *sc = &c->swin;
    for (int s = 0, nb = 0; s < sc->stages; s++)
        for (int j = 0; j < sc->depths[s]; j++, nb++)
            w->blocks[nb].rel_m = (sail_wmat){w->blocks[nb].rel, (size_t)sc->heads[s] * sizeof(float), SAIL_WT_F32, NULL};
}

/* ----------------------------------------------------------- forward -- */

/* y = BatchNorm channel c of x (n values); y may be x. */
static void bn_rows(const sail_swin_bn *bn, int c, float *y, const float *x, int n) {
    float inv = 1.0f / sqrtf(bn->var[c] + SAIL_SWIN_BN_EPS);
    for (int i = 0; i < n; i++) y[i] = (x[i] - bn->mean[c]) * inv * bn->w[c] + bn->b[c];
}

/* y = BatchNorm of x, rows x n values, channel = column; y may be x. */
static void bn_cols(const sail_swin_bn *bn, float *y, const float *x, int rows, int n) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < n; c++) bn_rows(bn, c, y + (size_t)r * n + c, x + (size_t)r * n + c, 1);
}

/* One item's spectrogram (m, frames) -> the spec x spec image HTSAT sees:
 * BatchNorm per mel bin, stretched to spec * (spec / m) frames, each
 * spec-frame chunk c stacked as rows c*m .. c*m + m-1 (reshape_mel2img). */
static void mel_image(const sail_swin_cfg *sc, const sail_swin_weights *w, const float *sp, int frames,
                      float *norm, float *wide, float *img) {
    int m = sc->mel.n_mels, S = sc->spec, ratio = S / m, tw = S * ratio;
    for (int b = 0; b < m; b++) bn_rows(&w->bn, b, norm + (size_t)b * frames, sp + (size_t)b * frames, frames);
    if (frames == tw) memcpy(wide, norm, (size_t)m * tw * sizeof *wide);
    else sail_interp_cubic_rows(wide, tw, norm, frames, m);
    for (int c = 0; c < ratio; c++)
        for (int b = 0; b < m; b++)
            memcpy(img + ((size_t)c * m + b) * S, wide + (size_t)b * tw + (size_t)c * S, (size_t)S * sizeof *img);
}

/* Window attention of one block over x's tokens (B items, r x r grids):
 * qkv (B*r*r, 3d) in grid order; windows of w x w tokens taken after a
 * cyclic shift by `shift` (sail_swin_window); att receives each token's
 * output at its own (unshifted) row, where the original's roll back puts
 * it. */
typedef struct win_attn {
    const sail_kernel_table *k;
    int B, r, w, shift, heads, hd, d;
    const float *qkv;
    const float *rel;           /* ((2w-1)^2, heads) */
    float *att;
    float *p;                   /* training: (windows, heads, w^2, w^2) the probabilities, else NULL */
    float *scratch;             /* per thread: per floats (a window's q k v, scores, output) */
    int *ints;                  /* per thread: 2 w^2 (rows, regions) */
    size_t per;
} win_attn;

/* One window (task: item, window row, window column): its rows gathered,
 * per head scores = q k^T / sqrt(hd) + bias (+ -100 across regions),
 * softmax, times v; the outputs scattered back. */
static void window_task(void *ctx, int task, int thread) {
    const win_attn *a = ctx;
    int w = a->w, ww = w * w, d = a->d, hd = a->hd, d3 = 3 * d;
    float *g = a->scratch + (size_t)thread * a->per, *o = g + (size_t)ww * d3 + (size_t)ww * ww;
    int *idx = a->ints + (size_t)thread * 2 * ww, *lab = idx + ww;
    float scale = sqrtf((float)hd);
    sail_swin_window(task, a->r, w, a->shift, idx, lab);
    for (int i = 0; i < ww; i++) memcpy(g + (size_t)i * d3, a->qkv + (size_t)idx[i] * d3, (size_t)d3 * sizeof *g);
    for (int h = 0; h < a->heads; h++) {
        float *p = a->p ? a->p + ((size_t)task * a->heads + h) * ww * ww : g + (size_t)ww * d3;
        a->k->gemm(ww, ww, hd, g + h * hd, d3, g + d + h * hd, d3, 1, NULL, 0.0f, p, ww);
        for (int i = 0; i < ww; i++)
            for (int j = 0; j < ww; j++) {
                float v = p[i * ww + j] / scale + a->rel[sail_swin_rel(i, j, w) * a->heads + h];
                p[i * ww + j] = lab[i] == lab[j] ? v : v + SHIFT_MASK;
            }
        a->k->softmax(p, ww, ww);
        a->k->gemm(ww, hd, ww, p, ww, g + 2 * d + h * hd, d3, 0, NULL, 0.0f, o + h * hd, d);
    }
    for (int i = 0; i < ww; i++) memcpy(a->att + (size_t)idx[i] * d, o + (size_t)i * d, (size_t)d * sizeof *o);
}

/* One Swin block from x (B*r*r, d) to out: r1 = x + attn(LN1 x) Wo, then
 * the pre-norm MLP (ffn_forward). Inference runs in place (out = x);
 * training keeps every intermediate in s. */
static void swin_block(fwd *f, const sail_swin_cfg *sc, const sail_tower *t, const sail_swin_block *b,
                       fwd_block *s, const float *x, float *out, int B, int r, int shift) {
    int d = t->width, n = B * r * r, w = sc->window, ww = w * w, keep = f->keep;
    size_t nd = (size_t)n * d;
    *s = (fwd_block){.B = B, .T = r * r, .Tk = r * r, .x = x, .out = out};
    fwd_mark mark = fwd_mark_get(f);
    s->h1 = fwd_alloc(f, nd);
    s->qkv = fwd_alloc(f, 3 * nd);
    s->att = keep ? fwd_alloc(f, nd) : s->h1; /* LN1 is spent once qkv is computed */
    s->p = keep ? fwd_alloc(f, (size_t)B * (r / w) * (r / w) * t->heads * ww * ww) : NULL;
    s->r1 = keep ? fwd_alloc(f, nd) : out;
    fwd_mark scratch_mark = fwd_mark_get(f);
    int threads = sail_pool_size(f->pool);
    size_t per = (size_t)ww * (4 * d + ww);
    float *scratch = fwd_alloc(f, per * threads);
    int *ints = fwd_alloc_bytes(f, 2 * (size_t)ww * threads * sizeof *ints);
    const float *rel = tab_rows(f, &b->rel_m, (2 * w - 1) * (2 * w - 1), t->heads);
    if (f->oom) return;
    norm_forward(f, &b->b.norm1, s->h1, x, n, d, t->eps);
    linear_forward(f, &b->b.qkv, s->h1, n, d, 3 * d, s->qkv, 0);
    win_attn a = {f->k, B, r, w, shift, t->heads, d / t->heads, d, s->qkv, rel, s->att, s->p, scratch, ints, per};
    sail_pool_run(f->pool, window_task, &a, B * (r / w) * (r / w));
    fwd_release(f, scratch_mark);
    if (s->r1 != x) memcpy(s->r1, x, nd * sizeof *x);
    linear_forward(f, &b->b.out, s->att, n, d, d, s->r1, 1);
    ffn_forward(f, t, &b->b, s, n);
    if (!keep) fwd_release(f, mark);
}

/* Patch merging of x (B, r, r, d) into y (B, r/2, r/2, 2d): the 2x2
 * neighbours (sail_swin_merge_row) side by side into cat, LayerNorm into
 * catn, a bias-free linear. Training keeps cat and catn. */
static void merge(fwd *f, const sail_swin_weights *w, int s, const float *x, float *y, int B, int r, int d,
                  float eps, float **cat_out, float **catn_out) {
    int h = r / 2, n = B * h * h, keep = f->keep;
    fwd_mark mark = fwd_mark_get(f);
    float *cat = fwd_alloc(f, (size_t)n * 4 * d), *catn = keep ? fwd_alloc(f, (size_t)n * 4 * d) : cat;
    if (f->oom) return;
    for (int bi = 0; bi < B; bi++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < h; j++)
                for (int q = 0; q < 4; q++)
                    memcpy(cat + (((size_t)bi * h + i) * h + j) * 4 * d + (size_t)q * d,
                           x + sail_swin_merge_row(bi, i, j, q, r) * d, (size_t)d * sizeof *x);
    norm_forward(f, &w->merge_norm[s], catn, cat, n, 4 * d, eps);
    linear_forward(f, &w->merge[s], catn, n, 4 * d, 2 * d, y, 0);
    if (keep) *cat_out = cat, *catn_out = catn;
    else fwd_release(f, mark);
}

/* The patches of an image (S x S) in ph x pw rectangles, row-major over
 * the gh x gw grid, each (ky, kx) as a flattened Conv2d(1, e, (ph, pw)). */
static void unfold(float *rows, const float *img, int S, int ph, int pw, int gh, int gw) {
    for (int gy = 0; gy < gh; gy++)
        for (int gx = 0; gx < gw; gx++)
            for (int ky = 0; ky < ph; ky++)
                memcpy(rows + ((size_t)gy * gw + gx) * ph * pw + (size_t)ky * pw,
                       img + ((size_t)gy * ph + ky) * S + (size_t)gx * pw, (size_t)pw * sizeof *img);
}

/* The fusion's buffers (fwd_aff) for n clips: a training record, or
 * (!keep: n = 1) one clip's scratch, the BatchNorms in place (r = u, y = v)
 * and tok the fusion's output itself. */
static void aff_alloc(fwd *f, const sail_swin_cfg *sc, fwd_aff *a, int n, int keep) {
    int p = sc->patch, g = sc->spec / p, w3 = sc->spec / (3 * p), e = sc->embed, ch = sc->fuse_channels;
    size_t t = (size_t)n * g * g;
    a->others = fwd_alloc(f, (size_t)n * 3 * g * w3 * 3 * p * p);
    a->tok = keep ? fwd_alloc(f, t * e) : NULL;
    a->l = fwd_alloc(f, t * e);
    a->sum = fwd_alloc(f, t * e);
    a->mean = fwd_alloc(f, (size_t)n * e);
    fwd_aff_branch *br[2] = {&a->loc, &a->glob};
    for (int k = 0; k < 2; k++) {
        size_t rows = k ? (size_t)n : t;
        br[k]->u = fwd_alloc(f, rows * ch);
        br[k]->r = keep ? fwd_alloc(f, rows * ch) : br[k]->u;
        br[k]->v = fwd_alloc(f, rows * e);
        br[k]->y = keep ? fwd_alloc(f, rows * e) : br[k]->v;
    }
}

/* Clip i's part of a's buffers. */
static fwd_aff aff_at(const fwd_aff *a, const sail_swin_cfg *sc, int i) {
    int p = sc->patch, g = sc->spec / p, w3 = sc->spec / (3 * p), e = sc->embed, ch = sc->fuse_channels;
    size_t t = (size_t)i * g * g;
    const fwd_aff_branch *lo = &a->loc, *gl = &a->glob;
    return (fwd_aff){a->others + (size_t)i * 3 * g * w3 * 3 * p * p, a->tok ? a->tok + t * e : NULL,
                     a->l + t * e, a->sum + t * e, a->mean + (size_t)i * e,
                     {lo->u + t * ch, lo->r + t * ch, lo->v + t * e, lo->y + t * e},
                     {gl->u + (size_t)i * ch, gl->r + (size_t)i * ch, gl->v + (size_t)i * e, gl->y + (size_t)i * e}};
}

/* A 1x1-convolution bottleneck of the fusion on rows x e values:
 * y = BN(l2 ReLU(BN(l1 x))), each step into o. */
static void aff_branch(fwd *f, const sail_swin_cfg *sc, const sail_linear *l1, const sail_swin_bn *bn1,
                       const sail_linear *l2, const sail_swin_bn *bn2, const float *x, const fwd_aff_branch *o,
                       int rows) {
    int e = sc->embed, ch = sc->fuse_channels;
    linear_forward(f, l1, x, rows, e, ch, o->u, 0);
    if (f->oom) return;
    bn_cols(bn1, o->r, o->u, rows, ch);
    for (size_t i = 0; i < (size_t)rows * ch; i++) o->r[i] = o->r[i] > 0 ? o->r[i] : 0;
    linear_forward(f, l2, o->r, rows, ch, e, o->v, 0);
    if (!f->oom) bn_cols(bn2, o->y, o->v, rows, e);
}

/* The fusion of one clip into s (its buffers): tok (g*g, e) holds the
 * first spectrogram's patch tokens; the other three's (p, 3p) patches, w3
 * = S / 3p per row each, side by side and zero-padded to g, are l; x = 2
 * tok w + 2 l (1 - w), w = sigmoid(local(tok + l) + global(mean of tok +
 * l)). x may be tok. */
static void aff_fuse(fwd *f, const sail_swin_cfg *sc, const sail_swin_weights *w, const float *sp, int frames,
                     const fwd_aff *s, const float *tok, float *x, float *norm, float *wide, float *img) {
    int m = sc->mel.n_mels, S = sc->spec, p = sc->patch, g = S / p, w3 = S / (3 * p), e = sc->embed;
    int n = g * g, rows = g * w3, k3 = 3 * p * p;
    const sail_swin_aff *a = &w->aff;
    fwd_mark mark = fwd_mark_get(f);
    float *conv = fwd_alloc(f, (size_t)rows * e);
    if (f->oom) return;
    memset(s->l, 0, (size_t)n * e * sizeof *s->l);
    for (int c = 1; c < 4; c++) {
        float *others = s->others + (size_t)(c - 1) * rows * k3;
        mel_image(sc, w, sp + (size_t)c * m * frames, frames, norm, wide, img);
        unfold(others, img, S, p, 3 * p, g, w3);
        linear_forward(f, &a->mel_conv, others, rows, k3, e, conv, 0);
        for (int gy = 0; gy < g && !f->oom; gy++)
            memcpy(s->l + ((size_t)gy * g + (size_t)(c - 1) * w3) * e, conv + (size_t)gy * w3 * e,
                   (size_t)w3 * e * sizeof *conv);
    }
    fwd_release(f, mark);
    f->k->add(s->sum, tok, s->l, (size_t)n * e);
    memset(s->mean, 0, (size_t)e * sizeof *s->mean);
    for (int i = 0; i < n; i++) f->k->add(s->mean, s->mean, s->sum + (size_t)i * e, (size_t)e);
    for (int j = 0; j < e; j++) s->mean[j] /= (float)n;
    aff_branch(f, sc, &a->local1, &a->local_bn1, &a->local2, &a->local_bn2, s->sum, &s->loc, n);
    aff_branch(f, sc, &a->global1, &a->global_bn1, &a->global2, &a->global_bn2, s->mean, &s->glob, 1);
    for (int i = 0; i < n && !f->oom; i++)
        for (int j = 0; j < e; j++) {
            size_t k = (size_t)i * e + j;
            float wt = sail_swin_aff_weight(s->loc.y[k], s->glob.y[j]);
            x[k] = 2 * tok[k] * wt + 2 * s->l[k] * (1 - wt);
        }
}

/* The patch tokens of b's spectrograms into x (B*g*g, embed): each item's
 * image, its patches (kept in rec->patches when training), the patch
 * linear, the fusion (fused models; kept in rec->aff when training). */
static void patch_embed(fwd *f, const sail_swin_cfg *sc, const sail_swin_weights *w, const sail_batch *b,
                        fwd_swin *rec, float *x) {
    int m = sc->mel.n_mels, frames = sail_swin_frames(sc), S = sc->spec, p = sc->patch, g = S / p, np = g * g;
    int d = sc->embed, per = (sc->fusion ? 4 : 1) * m * frames;
    fwd_mark mark = fwd_mark_get(f);
    float *norm = fwd_alloc(f, (size_t)m * frames), *wide = fwd_alloc(f, (size_t)m * S * (S / m));
    float *img = fwd_alloc(f, (size_t)S * S), *one = f->keep ? NULL : fwd_alloc(f, (size_t)np * p * p);
    fwd_aff scratch = {0};
    if (sc->fusion && !f->keep) aff_alloc(f, sc, &scratch, 1, 0);
    if (f->oom) return;
    for (int i = 0; i < b->n; i++) {
        const float *sp = b->spec + (size_t)i * per;
        float *patches = f->keep ? rec->patches + (size_t)i * np * p * p : one, *xi = x + (size_t)i * np * d;
        fwd_aff s = sc->fusion ? aff_at(f->keep ? &rec->aff : &scratch, sc, f->keep ? i : 0) : (fwd_aff){0};
        float *tok = s.tok ? s.tok : xi; /* training keeps the tokens before the fusion */
        mel_image(sc, w, sp, frames, norm, wide, img);
        unfold(patches, img, S, p, p, g, g);
        linear_forward(f, &w->patch, patches, np, p * p, d, tok, 0);
        if (sc->fusion) aff_fuse(f, sc, w, sp, frames, &s, tok, xi, norm, wide, img);
    }
    fwd_release(f, mark);
}

/* The stages from x (B*g*g, embed): each block, then (but the last
 * stage) the patch merging; returns the last stage's output, its grid
 * side in *r. Training gives every block and merging its own buffers. */
static float *stages_forward(fwd *f, const sail_swin_cfg *sc, const sail_swin_weights *w, fwd_swin *rec,
                             float *x, int B, int *r_out) {
    int r = sc->spec / sc->patch, nb = 0, keep = f->keep;
    char tn[48];
    for (int st = 0; st < sc->stages; st++) {
        sail_tower t = sail_swin_stage(sc, st);
        for (int j = 0; j < sc->depths[st]; j++, nb++) {
            fwd_block scratch, *blk = keep ? &rec->blk[nb] : &scratch;
            float *out = keep ? fwd_alloc(f, (size_t)B * r * r * t.width) : x;
            if (f->oom) return NULL;
            swin_block(f, sc, &t, &w->blocks[nb], blk, x, out, B, r, sail_swin_shift(sc, j, r));
            x = out;
            snprintf(tn, sizeof tn, "audio.s%d.b%d", st, j);
            trace(f, tn, x, B * r * r, t.width);
        }
        if (st == sc->stages - 1) break;
        float *y = fwd_alloc(f, (size_t)B * (r / 2) * (r / 2) * 2 * t.width);
        if (f->oom) return NULL;
        merge(f, w, st, x, y, B, r, t.width, sc->eps, &rec->cat[st], &rec->catn[st]);
        x = y;
        r /= 2;
        snprintf(tn, sizeof tn, "audio.s%d.merge", st);
        trace(f, tn, x, B * r * r, 2 * t.width);
    }
    *r_out = r;
    return f->oom ? NULL : x;
}

void sail_swin_forward(fwd *f, const sail_batch *b, fwd_acts *s) {
    const sail_swin_cfg *sc = &f->c->swin;
    const sail_swin_weights *w = f->w->swin;
    int B = b->n, p = sc->patch, np = (sc->spec / p) * (sc->spec / p), d = sc->embed, hid = sail_swin_hidden(sc);
    int keep = f->keep, r;
    fwd_swin *rec = &s->swin;
    *rec = (fwd_swin){.n = B, .spec = b->spec};
    s->pool_d = hid;
    s->pooled = fwd_alloc(f, (size_t)B * hid);
    if (keep) {
        rec->patches = fwd_alloc(f, (size_t)B * np * p * p);
        if (sc->fusion) aff_alloc(f, sc, &rec->aff, B, 1);
        rec->blk = fwd_alloc_bytes(f, (size_t)n_blocks(sc) * sizeof *rec->blk);
    }
    fwd_mark mark = fwd_mark_get(f);
    float *x = fwd_alloc(f, (size_t)B * np * d);
    patch_embed(f, sc, w, b, rec, x);
    if (f->oom) return;
    rec->emb = rec->x0 = x;
    if (sc->patch_norm) {
        rec->x0 = keep ? fwd_alloc(f, (size_t)B * np * d) : x;
        norm_forward(f, &w->patch_norm, rec->x0, x, B * np, d, sc->eps);
    }
    trace(f, "audio.emb", rec->x0, B * np, d);
    x = stages_forward(f, sc, w, rec, rec->x0, B, &r);
    if (!x) return;
    rec->h = keep ? fwd_alloc(f, (size_t)B * r * r * hid) : x;
    if (f->oom) return;
    norm_forward(f, &w->norm, rec->h, x, B * r * r, hid, sc->eps);
    trace(f, "audio.out", rec->h, B * r * r, hid);
    for (int i = 0; i < B; i++) { /* pooler_output: the token mean */
        float *pi = s->pooled + (size_t)i * hid;
        memset(pi, 0, (size_t)hid * sizeof *pi);
        for (int k = 0; k < r * r; k++) f->k->add(pi, pi, rec->h + ((size_t)i * r * r + k) * hid, (size_t)hid);
        for (int j = 0; j < hid; j++) pi[j] /= (float)(r * r);
    }
    if (!keep) fwd_release(f, mark);
}
