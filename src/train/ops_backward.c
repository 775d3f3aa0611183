/* ops_backward.c: each operation of the model with its backward beside it:
 * linear, layernorm, GELU / quick-GELU, attention (masked, optionally
 * causal) and the transformer block built from them.
 *
 * Attention stores its probabilities P (B, H, Tq, Tk) in the forward pass
 * instead of recomputing them: at sail's sequence lengths (<= ~200 tokens)
 * P is smaller than the FFN activations already kept, and storing it makes
 * the backward two plain GEMMs per gradient instead of a second softmax.
 *
 * Threading: GEMMs go through sail_gemm (tiles of C, each summed in full by
 * one task: deterministic). Row-wise work is split into fixed chunks of rows
 * whose count does not depend on the pool size; weight-gradient reductions
 * are per-chunk partials added in chunk order, or splits over columns. */
#include "tmodel.h"

#include <math.h>
#include <string.h>

float *tc_alloc(tctx *c, size_t n) {
    float *p = c->oom ? NULL : sail_arena_floats(c->a, n ? n : 1);
    if (!p) c->oom = 1;
    c->live += ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    c->peak = SAIL_MAX(c->peak, c->live);
    return p;
}

tmark tc_mark(const tctx *c) {
    tmark m = {sail_arena_mark(c->a), c->live};
    return m;
}

void tc_release(tctx *c, tmark m) {
    sail_arena_release(c->a, m.used);
    c->live = m.live;
}

int tc_start(tctx *c, sail_arena *a, sail_pool *pool) {
    tctx z = {a, pool, sail_kernels(), 0, 0, 0};
    *c = z;
    return sail_arena_reset(a);
}

void tc_finish(tctx *c) {
    if (c->a->spilled && !c->oom) c->a->high = c->peak;
}

/* Rows per task for row-wise kernels over rows of d floats. */
enum { CHUNK = 16384 };
static int rows_per_task(int d) { return SAIL_MAX(1, CHUNK / SAIL_MAX(d, 1)); }

/* ------------------------------------------------------------- linear -- */

void linear_forward_t(tctx *c, const sail_linear *l, const float *x, int n, int in,
                      int out, float *y, float beta) {
    if (c->oom) return;
    sail_gemm(c->pool, n, out, in, x, in, l->w, in, 1, l->b, beta, y, out);
}

typedef struct tr_job {
    const float *src; /* (rows, cols) */
    float *dst;       /* (cols, rows) */
    int rows, cols;
} tr_job;

enum { TR_ROWS = 64, TR_TILE = 16 };

/* Rows [r0, r0 + TR_ROWS) of src into columns of dst, in square tiles so
 * both the reads and the strided writes stay within a few cache lines. */
static void tr_task(void *ctx, int task, int thread) {
    const tr_job *j = ctx;
    int r0 = task * TR_ROWS, r1 = SAIL_MIN(j->rows, r0 + TR_ROWS);
    for (int c0 = 0; c0 < j->cols; c0 += TR_TILE) {
        int c1 = SAIL_MIN(j->cols, c0 + TR_TILE);
        for (int rt = r0; rt < r1; rt += TR_TILE) {
            int rt1 = SAIL_MIN(r1, rt + TR_TILE);
            for (int k = c0; k < c1; k++)
                for (int r = rt; r < rt1; r++) j->dst[(size_t)k * j->rows + r] = j->src[(size_t)r * j->cols + k];
        }
    }
}

void linear_backward(tctx *c, const sail_linear *l, const sail_linear *g, const float *dy,
                     const float *x, int n, int in, int out, float *dx, float dx_beta) {
    tmark mark = tc_mark(c);
    float *dyT = tc_alloc(c, (size_t)out * n); // (out, n)
    if (c->oom) return;
    tr_job j = {dy, dyT, n, out};
    sail_pool_run(c->pool, tr_task, &j, (n + TR_ROWS - 1) / TR_ROWS);
    if (g->b) colsum_add(c, GRAD(g->b), dy, n, out, (size_t)out);
    sail_gemm(c->pool, out, in, n, dyT, n, x, in, 0, NULL, 1.0f, GRAD(g->w), in);
    if (dx) sail_gemm(c->pool, n, in, out, dy, out, l->w, in, 0, NULL, dx_beta, dx, in);
    tc_release(c, mark);
}

/* ---------------------------------------------------------- layernorm -- */

typedef struct ln_job {
    const sail_kernel_table *k;
    const sail_norm *nm;
    float *y, *dx, *part;       /* part: (tasks, 2d) dw, db partials */
    const float *x, *dy;
    int rows, d, per;
    float eps, beta;
} ln_job;

static void ln_fwd_task(void *ctx, int task, int thread) {
    const ln_job *j = ctx;
    int r0 = task * j->per, n = SAIL_MIN(j->per, j->rows - r0);
    size_t off = (size_t)r0 * j->d;
    j->k->layernorm(j->y + off, j->x + off, j->nm->w, j->nm->b, n, j->d, j->eps);
}

void ln_forward(tctx *c, const sail_norm *nm, float *y, const float *x, int rows, int d,
                float eps) {
    if (c->oom) return;
    ln_job j = {c->k, nm, y, NULL, NULL, x, NULL, rows, d, rows_per_task(d), eps, 0};
    sail_pool_run(c->pool, ln_fwd_task, &j, (rows + j.per - 1) / j.per);
}

/* y = xhat * w + b with xhat = (x - mean) * rstd:
 * dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)), gy = dy * w. */
static void ln_bwd_task(void *ctx, int task, int thread) {
    const ln_job *j = ctx;
    int d = j->d, r0 = task * j->per, r1 = SAIL_MIN(j->rows, r0 + j->per);
    float *dw = j->part + (size_t)task * 2 * d, *db = dw + d; // (d), (d)
    memset(dw, 0, 2 * (size_t)d * sizeof(float));
    for (int r = r0; r < r1; r++) {
        const float *x = j->x + (size_t)r * d, *dy = j->dy + (size_t)r * d; // (d)
        float *dx = j->dx + (size_t)r * d;                                   // (d)
        double mean = 0, var = 0, sg = 0, sgx = 0;
        for (int i = 0; i < d; i++) mean += x[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
        double rstd = 1.0 / sqrt(var / d + j->eps);
        for (int i = 0; i < d; i++) {
            double xh = (x[i] - mean) * rstd, gy = (double)dy[i] * j->nm->w[i];
            sg += gy;
            sgx += gy * xh;
            dw[i] += (float)(dy[i] * xh);
            db[i] += dy[i];
        }
        sg /= d;
        sgx /= d;
        for (int i = 0; i < d; i++) {
            double xh = (x[i] - mean) * rstd, gy = (double)dy[i] * j->nm->w[i];
            float v = (float)(rstd * (gy - sg - xh * sgx));
            dx[i] = j->beta != 0.0f ? dx[i] + v : v;
        }
    }
}

void ln_backward(tctx *c, const sail_norm *nm, const sail_norm *g, const float *x,
                 const float *dy, float *dx, float beta, int rows, int d, float eps) {
    tmark mark = tc_mark(c);
    int per = rows_per_task(d), tasks = (rows + per - 1) / per;
    float *part = tc_alloc(c, (size_t)tasks * 2 * d);
    if (c->oom) return;
    ln_job j = {c->k, nm, NULL, dx, part, x, dy, rows, d, per, eps, beta};
    sail_pool_run(c->pool, ln_bwd_task, &j, tasks);
    float *gw = GRAD(g->w), *gb = GRAD(g->b);
    for (int t = 0; t < tasks; t++)
        for (int i = 0; i < d; i++) {
            gw[i] += part[(size_t)t * 2 * d + i];
            gb[i] += part[(size_t)t * 2 * d + d + i];
        }
    tc_release(c, mark);
}

/* -------------------------------------------------------- activations -- */

typedef struct act_job {
    const sail_kernel_table *k;
    sail_act act;
    float *y;
    const float *dy, *u;
    size_t n;
} act_job;

static void act_fwd_task(void *ctx, int task, int thread) {
    const act_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, len = SAIL_MIN((size_t)CHUNK, j->n - lo);
    memcpy(j->y + lo, j->u + lo, len * sizeof(float));
    if (j->act == SAIL_ACT_QUICK_GELU) j->k->quick_gelu(j->y + lo, len);
    else j->k->gelu(j->y + lo, len);
}

void act_forward_t(tctx *c, sail_act act, float *a, const float *u, size_t n) {
    if (c->oom) return;
    act_job j = {c->k, act, a, NULL, u, n};
    sail_pool_run(c->pool, act_fwd_task, &j, (int)((n + CHUNK - 1) / CHUNK));
}

/* gelu'(u) = Phi(u) + u phi(u); quick_gelu'(u) = s + 1.702 u s (1 - s),
 * s = sigmoid(1.702 u). */
static void act_bwd_task(void *ctx, int task, int thread) {
    const act_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, hi = SAIL_MIN(j->n, lo + CHUNK);
    for (size_t i = lo; i < hi; i++) {
        float u = j->u[i], dv;
        if (j->act == SAIL_ACT_QUICK_GELU) {
            float s = 1.0f / (1.0f + expf(-1.702f * u));
            dv = s + 1.702f * u * s * (1.0f - s);
        } else {
            dv = 0.5f * (1.0f + erff(u * (float)M_SQRT1_2)) +
                 u * expf(-0.5f * u * u) * 0.3989422804014327f;
        }
        j->y[i] = j->dy[i] * dv;
    }
}

void act_backward(tctx *c, sail_act act, float *du, const float *da, const float *u, size_t n) {
    if (c->oom) return;
    act_job j = {c->k, act, du, da, u, n};
    sail_pool_run(c->pool, act_bwd_task, &j, (int)((n + CHUNK - 1) / CHUNK));
}

/* ---------------------------------------------------------- attention -- */

typedef struct attn_job {
    const sail_kernel_table *k;
    const tattn *a;
    float *p, *out;             /* forward */
    const float *cp, *dout;     /* backward */
    float *dq, *dk, *dv;
    int dqs, dkvs;
    float *scratch;             /* per thread: (2, Tq, Tk) */
    size_t per_thread;
} attn_job;

/* One (batch, head): S = scale Q K^T, masked softmax into P, O = P V. */
static void attn_fwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const tattn *a = j->a;
    int b = task / a->H, h = task % a->H, Tq = a->Tq, Tk = a->Tk;
    float scale = 1.0f / sqrtf((float)a->hd);
    const float *q = a->q + (size_t)b * Tq * a->qs + (size_t)h * a->hd;  // (Tq, hd)
    const float *k = a->k + (size_t)b * Tk * a->kvs + (size_t)h * a->hd; // (Tk, hd)
    const float *v = a->v + (size_t)b * Tk * a->kvs + (size_t)h * a->hd; // (Tk, hd)
    const uint8_t *mask = a->mask ? a->mask + (size_t)b * Tk : NULL;     // (Tk)
    float *p = j->p + (size_t)task * Tq * Tk;                            // (Tq, Tk)
    j->k->gemm(Tq, Tk, a->hd, q, a->qs, k, a->kvs, 1, NULL, 0.0f, p, Tk);
    for (int t = 0; t < Tq; t++) {
        float *s = p + (size_t)t * Tk;
        for (int i = 0; i < Tk; i++)
            s[i] = (mask && !mask[i]) || (a->causal && i > t) ? -INFINITY : s[i] * scale;
    }
    j->k->softmax(p, Tq, Tk);
    j->k->gemm(Tq, a->hd, Tk, p, Tk, v, a->kvs, 0, NULL, 0.0f,
               j->out + (size_t)b * Tq * a->d + (size_t)h * a->hd, a->d);
}

void attention_forward_t(tctx *c, const tattn *a, float *p, float *out) {
    if (c->oom) return;
    attn_job j = {c->k, a, p, out, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, 0};
    sail_pool_run(c->pool, attn_fwd_task, &j, a->B * a->H);
}

static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < cols; i++) dst[(size_t)i * rows + r] = src[(size_t)r * cols + i];
}

/* dV = P^T dO; dP = dO V^T; dS = P (dP - rowsum(P dP)) scale;
 * dQ = dS K; dK = dS^T Q. Masked keys have P = 0, so dS = 0 there. */
static void attn_bwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const tattn *a = j->a;
    int b = task / a->H, h = task % a->H, Tq = a->Tq, Tk = a->Tk, hd = a->hd;
    float scale = 1.0f / sqrtf((float)hd);
    size_t qo = (size_t)b * Tq, ko = (size_t)b * Tk, col = (size_t)h * hd;
    const float *q = a->q + qo * a->qs + col;            // (Tq, hd)
    const float *k = a->k + ko * a->kvs + col;           // (Tk, hd)
    const float *v = a->v + ko * a->kvs + col;           // (Tk, hd)
    const float *p = j->cp + (size_t)task * Tq * Tk;     // (Tq, Tk)
    const float *dout = j->dout + qo * a->d + col;       // (Tq, hd)
    float *ds = j->scratch + (size_t)thread * j->per_thread; // (Tq, Tk)
    float *tr = ds + (size_t)Tq * Tk;                        // (Tk, Tq)
    transpose(tr, p, Tq, Tk);
    j->k->gemm(Tk, hd, Tq, tr, Tq, dout, a->d, 0, NULL, 0.0f, j->dv + ko * j->dkvs + col, j->dkvs);
    j->k->gemm(Tq, Tk, hd, dout, a->d, v, a->kvs, 1, NULL, 0.0f, ds, Tk);
    for (int t = 0; t < Tq; t++) {
        const float *pr = p + (size_t)t * Tk;
        float *dr = ds + (size_t)t * Tk;
        float s = 0;
        for (int i = 0; i < Tk; i++) s += pr[i] * dr[i];
        for (int i = 0; i < Tk; i++) dr[i] = pr[i] * (dr[i] - s) * scale;
    }
    j->k->gemm(Tq, hd, Tk, ds, Tk, k, a->kvs, 0, NULL, 0.0f, j->dq + qo * j->dqs + col, j->dqs);
    transpose(tr, ds, Tq, Tk);
    j->k->gemm(Tk, hd, Tq, tr, Tq, q, a->qs, 0, NULL, 0.0f, j->dk + ko * j->dkvs + col, j->dkvs);
}

void attention_backward(tctx *c, const tattn *a, const float *p, const float *dout,
                        float *dq, int dqs, float *dk, float *dv, int dkvs) {
    tmark mark = tc_mark(c);
    size_t per = ((size_t)2 * a->Tq * a->Tk + 15) & ~(size_t)15;
    float *scratch = tc_alloc(c, per * sail_pool_size(c->pool));
    if (c->oom) return;
    attn_job j = {c->k, a, NULL, NULL, p, dout, dq, dk, dv, dqs, dkvs, scratch, per};
    sail_pool_run(c->pool, attn_bwd_task, &j, a->B * a->H);
    tc_release(c, mark);
}

/* ------------------------------------------------------------- blocks -- */

void ffn_forward_t(tctx *c, const sail_tower *t, const sail_block *w, tblock *s, int n) {
    int d = t->width, f = t->ffn;
    s->h2 = tc_alloc(c, (size_t)n * d);
    s->u = tc_alloc(c, (size_t)n * f);
    s->a = tc_alloc(c, (size_t)n * f);
    s->r2 = t->prenorm ? NULL : tc_alloc(c, (size_t)n * d);
    if (c->oom) return;
    ln_forward(c, t->prenorm ? &w->norm2 : &w->norm1, s->h2, s->r1, n, d, t->eps);
    linear_forward_t(c, &w->up, s->h2, n, d, f, s->u, 0);
    act_forward_t(c, t->act, s->a, s->u, (size_t)n * f);
    float *res = t->prenorm ? s->out : s->r2;
    memcpy(res, t->prenorm ? s->r1 : s->h2, (size_t)n * d * sizeof(float));
    linear_forward_t(c, &w->down, s->a, n, f, d, res, 1);
    if (!t->prenorm) ln_forward(c, &w->norm2, s->out, s->r2, n, d, t->eps);
}

void ffn_backward(tctx *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                  const tblock *s, float *d, int n) {
    tmark mark = tc_mark(c);
    int dm = t->width, f = t->ffn;
    float *da = tc_alloc(c, (size_t)n * f); // (n, f)
    if (c->oom) return;
    if (!t->prenorm) /* d(out) -> d(r2) = d(h2) through the residual */
        ln_backward(c, &w->norm2, &g->norm2, s->r2, d, d, 0, n, dm, t->eps);
    linear_backward(c, &w->down, &g->down, d, s->a, n, f, dm, da, 0);
    act_backward(c, t->act, da, da, s->u, (size_t)n * f);
    if (t->prenorm) {
        float *dh2 = tc_alloc(c, (size_t)n * dm);
        linear_backward(c, &w->up, &g->up, da, s->h2, n, dm, f, dh2, 0);
        if (!c->oom) ln_backward(c, &w->norm2, &g->norm2, s->r1, dh2, d, 1, n, dm, t->eps);
    } else {
        linear_backward(c, &w->up, &g->up, da, s->h2, n, dm, f, d, 1);
        ln_backward(c, &w->norm1, &g->norm1, s->r1, d, d, 0, n, dm, t->eps);
    }
    tc_release(c, mark);
}

static tattn self_attn(const sail_tower *t, const tblock *s) {
    int d = t->width;
    tattn a = {s->B, s->T, s->T, t->heads, d / t->heads, d, s->qkv, 3 * d, s->qkv + d,
               s->qkv + 2 * d, 3 * d, s->mask, 0};
    return a;
}

void block_forward_t(tctx *c, const sail_tower *t, const sail_block *w, tblock *s,
                     int B, int T, const uint8_t *mask) {
    int d = t->width, n = B * T;
    s->B = B;
    s->T = s->Tk = T;
    s->mask = mask;
    s->h1 = t->prenorm ? tc_alloc(c, (size_t)n * d) : NULL;
    s->qkv = tc_alloc(c, (size_t)n * 3 * d);
    s->p = tc_alloc(c, (size_t)B * t->heads * T * T);
    s->att = tc_alloc(c, (size_t)n * d);
    s->r1 = tc_alloc(c, (size_t)n * d);
    if (c->oom) return;
    if (t->prenorm) ln_forward(c, &w->norm1, s->h1, s->x, n, d, t->eps);
    linear_forward_t(c, &w->qkv, t->prenorm ? s->h1 : s->x, n, d, 3 * d, s->qkv, 0);
    tattn a = self_attn(t, s);
    attention_forward_t(c, &a, s->p, s->att);
    memcpy(s->r1, s->x, (size_t)n * d * sizeof(float));
    linear_forward_t(c, &w->out, s->att, n, d, d, s->r1, 1);
    ffn_forward_t(c, t, w, s, n);
}

void block_backward(tctx *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                    const tblock *s, float *d) {
    tmark mark = tc_mark(c);
    int dm = t->width, n = s->B * s->T;
    ffn_backward(c, t, w, g, s, d, n); /* d = d(r1) */
    float *datt = tc_alloc(c, (size_t)n * dm);      // (n, d)
    float *dqkv = tc_alloc(c, (size_t)n * 3 * dm);  // (n, 3d)
    float *dh1 = t->prenorm ? tc_alloc(c, (size_t)n * dm) : NULL;
    if (c->oom) return;
    linear_backward(c, &w->out, &g->out, d, s->att, n, dm, dm, datt, 0);
    tattn a = self_attn(t, s);
    attention_backward(c, &a, s->p, datt, dqkv, 3 * dm, dqkv + dm, dqkv + 2 * dm, 3 * dm);
    if (t->prenorm) { /* d(x) = d(r1) + LN1'(dqkv Wqkv) */
        linear_backward(c, &w->qkv, &g->qkv, dqkv, s->h1, n, dm, 3 * dm, dh1, 0);
        ln_backward(c, &w->norm1, &g->norm1, s->x, dh1, d, 1, n, dm, t->eps);
    } else {
        linear_backward(c, &w->qkv, &g->qkv, dqkv, s->x, n, dm, 3 * dm, d, 1);
    }
    tc_release(c, mark);
}

/* --------------------------------------------------------- reductions -- */

typedef struct red_job {
    float *g;
    const float *x;
    const int32_t *idx;
    int rows, cols;
    size_t ld;
} red_job;

enum { RED_COLS = 64 };

static void colsum_task(void *ctx, int task, int thread) {
    const red_job *j = ctx;
    int j0 = task * RED_COLS, j1 = SAIL_MIN(j->cols, j0 + RED_COLS);
    for (int r = 0; r < j->rows; r++) {
        const float *x = j->x + (size_t)r * j->ld;
        float *g = j->idx ? j->g + (size_t)j->idx[r] * j->cols : j->g;
        for (int i = j0; i < j1; i++) g[i] += x[i];
    }
}

void colsum_add(tctx *c, float *g, const float *x, int rows, int cols, size_t ld) {
    red_job j = {g, x, NULL, rows, cols, ld};
    sail_pool_run(c->pool, colsum_task, &j, (cols + RED_COLS - 1) / RED_COLS);
}

void scatter_rows_add(tctx *c, float *g, const float *x, const int32_t *idx, int rows, int cols) {
    red_job j = {g, x, idx, rows, cols, (size_t)cols};
    sail_pool_run(c->pool, colsum_task, &j, (cols + RED_COLS - 1) / RED_COLS);
}
