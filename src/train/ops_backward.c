/* ops_backward.c: the backward of each operation of the model (whose
 * forward is src/model/layers.c): linear, layernorm, GELU / quick-GELU,
 * attention (masked, optionally causal) and the transformer block built
 * from them.
 *
 * Attention's forward stores its probabilities P (B, H, Tq, Tk) in training
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

/* Rows per task for row-wise kernels over rows of d floats. */
enum { CHUNK = 16384 };
static int rows_per_task(int d) { return SAIL_MAX(1, CHUNK / SAIL_MAX(d, 1)); }

/* ------------------------------------------------------------- linear -- */

typedef struct tr_job {
    const sail_kernel_table *k;
    const float *src; /* (rows, cols) */
    float *dst;       /* (cols, rows) */
    int rows, cols;
} tr_job;

enum { TR_ROWS = 64 };

/* Rows [r0, r0 + TR_ROWS) of src into columns of dst. */
static void tr_task(void *ctx, int task, int thread) {
    const tr_job *j = ctx;
    int r0 = task * TR_ROWS, r1 = SAIL_MIN(j->rows, r0 + TR_ROWS);
    j->k->transpose(j->src + (size_t)r0 * j->cols, (size_t)j->cols, j->dst + r0, (size_t)j->rows,
                    r1 - r0, j->cols);
}

/* The adapter of y += s (x A^T) B^T, with t = x A^T recomputed (n x rank is
 * cheap next to keeping it): u = s dy B; gB += s dy^T t; gA += u^T x;
 * dx += u A. dyT (out, n) is dy transposed. */
static void lora_backward(fwd *c, const sail_linear *l, const sail_linear *g, const float *dy,
                          const float *dyT, const float *x, int n, int in, int out, float *dx) {
    int r = l->rank;
    float *t = fwd_alloc(c, (size_t)n * r);  // (n, r)
    float *u = fwd_alloc(c, (size_t)n * r);  // (n, r)
    float *uT = fwd_alloc(c, (size_t)r * n); // (r, n)
    if (c->oom) return;
    sail_gemm(c->pool, n, r, in, x, in, l->la, in, 1, NULL, 0.0f, t, r);
    sail_gemm(c->pool, n, r, out, dy, out, l->lb, r, 0, NULL, 0.0f, u, r);
    for (size_t i = 0; i < (size_t)n * r; i++) {
        t[i] *= l->lscale;
        u[i] *= l->lscale;
    }
    sail_gemm(c->pool, out, r, n, dyT, n, t, r, 0, NULL, 1.0f, GRAD(g->lb), r);
    c->k->transpose(u, (size_t)r, uT, (size_t)n, n, r);
    sail_gemm(c->pool, r, in, n, uT, n, x, in, 0, NULL, 1.0f, GRAD(g->la), in);
    if (dx) sail_gemm(c->pool, n, in, r, u, r, l->la, in, 0, NULL, 1.0f, dx, in);
}

void linear_backward(fwd *c, const sail_linear *l, const sail_linear *g, const float *dy,
                     const float *x, int n, int in, int out, float *dx, float dx_beta) {
    fwd_mark mark = fwd_mark_get(c);
    float *dyT = NULL; // (out, n); only the weight gradients read it (frozen layers skip it)
    if (g->w || l->la) {
        dyT = fwd_alloc(c, (size_t)out * n);
        if (c->oom) return;
        tr_job j = {c->k, dy, dyT, n, out};
        sail_pool_run(c->pool, tr_task, &j, (n + TR_ROWS - 1) / TR_ROWS);
    }
    if (g->b) colsum_add(c, GRAD(g->b), dy, n, out, (size_t)out);
    if (g->w) sail_gemm(c->pool, out, in, n, dyT, n, x, in, 0, NULL, 1.0f, GRAD(g->w), in);
    if (dx) sail_gemm(c->pool, n, in, out, dy, out, l->w, in, 0, NULL, dx_beta, dx, in);
    if (l->la) lora_backward(c, l, g, dy, dyT, x, n, in, out, dx);
    fwd_release(c, mark);
}

/* ---------------------------------------------------------- layernorm -- */

typedef struct ln_job {
    const sail_kernel_table *k;
    const sail_norm *nm;
    float *dx, *part;           /* part: (tasks, 2d) dw, db partials */
    const float *x, *dy;
    int rows, d, per;
    float eps, beta;
} ln_job;

/* y = xhat * w + b with xhat = (x - mean) * rstd:
 * dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)), gy = dy * w. */
static void ln_bwd_task(void *ctx, int task, int thread) {
    const ln_job *j = ctx;
    int d = j->d, r0 = task * j->per, r1 = SAIL_MIN(j->rows, r0 + j->per);
    float *dw = j->part + (size_t)task * 2 * d, *db = dw + d; // (d), (d)
    memset(dw, 0, 2 * (size_t)d * sizeof(float));
    j->k->layernorm_grad(j->dx + (size_t)r0 * d, dw, db, j->x + (size_t)r0 * d, j->dy + (size_t)r0 * d,
                         j->nm->w, r1 - r0, d, j->eps, j->beta);
}

void ln_backward(fwd *c, const sail_norm *nm, const sail_norm *g, const float *x,
                 const float *dy, float *dx, float beta, int rows, int d, float eps) {
    fwd_mark mark = fwd_mark_get(c);
    int per = rows_per_task(d), tasks = (rows + per - 1) / per;
    float *part = fwd_alloc(c, (size_t)tasks * 2 * d);
    if (c->oom) return;
    ln_job j = {c->k, nm, dx, part, x, dy, rows, d, per, eps, beta};
    sail_pool_run(c->pool, ln_bwd_task, &j, tasks);
    float *gw = GRAD(g->w), *gb = GRAD(g->b);
    for (int t = 0; t < tasks; t++)
        for (int i = 0; i < d; i++) {
            gw[i] += part[(size_t)t * 2 * d + i];
            gb[i] += part[(size_t)t * 2 * d + d + i];
        }
    fwd_release(c, mark);
}

/* -------------------------------------------------------- activations -- */

typedef struct act_job {
    const sail_kernel_table *k;
    sail_act act;
    float *y;
    const float *dy, *u;
    size_t n;
} act_job;

static void act_bwd_task(void *ctx, int task, int thread) {
    const act_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, n = SAIL_MIN(j->n, lo + CHUNK) - lo;
    void (*grad)(float *, const float *, const float *, size_t) =
        j->act == SAIL_ACT_QUICK_GELU ? j->k->quick_gelu_grad
        : j->act == SAIL_ACT_GELU_TANH ? j->k->gelu_tanh_grad : j->k->gelu_grad;
    grad(j->y + lo, j->dy + lo, j->u + lo, n);
}

void act_backward(fwd *c, sail_act act, float *du, const float *da, const float *u, size_t n) {
    if (c->oom) return;
    act_job j = {c->k, act, du, da, u, n};
    sail_pool_run(c->pool, act_bwd_task, &j, (int)((n + CHUNK - 1) / CHUNK));
}

/* ---------------------------------------------------------- attention -- */

typedef struct attn_job {
    const sail_kernel_table *k;
    const fwd_attn *a;
    const float *cp, *dout;
    float *dq, *dk, *dv;
    int dqs, dkvs;
    float *scratch;             /* per thread: (2, Tq, Tk) */
    size_t per_thread;
} attn_job;

/* dV = P^T dO; dP = dO V^T; dS = P (dP - rowsum(P dP)) scale;
 * dQ = dS K; dK = dS^T Q. Masked keys have P = 0, so dS = 0 there. */
static void attn_bwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const fwd_attn *a = j->a;
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
    j->k->transpose(p, (size_t)Tk, tr, (size_t)Tq, Tq, Tk);
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
    j->k->transpose(ds, (size_t)Tk, tr, (size_t)Tq, Tq, Tk);
    j->k->gemm(Tk, hd, Tq, tr, Tq, q, a->qs, 0, NULL, 0.0f, j->dk + ko * j->dkvs + col, j->dkvs);
}

void attention_backward(fwd *c, const fwd_attn *a, const float *p, const float *dout,
                        float *dq, int dqs, float *dk, float *dv, int dkvs) {
    fwd_mark mark = fwd_mark_get(c);
    size_t per = ((size_t)2 * a->Tq * a->Tk + 15) & ~(size_t)15;
    float *scratch = fwd_alloc(c, per * sail_pool_size(c->pool));
    if (c->oom) return;
    attn_job j = {c->k, a, p, dout, dq, dk, dv, dqs, dkvs, scratch, per};
    sail_pool_run(c->pool, attn_bwd_task, &j, a->B * a->H);
    fwd_release(c, mark);
}

/* ------------------------------------------------------------- blocks -- */

void ffn_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                  const fwd_block *s, float *d, int n) {
    fwd_mark mark = fwd_mark_get(c);
    int dm = t->width, f = t->ffn;
    float *da = fwd_alloc(c, (size_t)n * f); // (n, f)
    if (c->oom) return;
    if (!t->prenorm) /* d(out) -> d(r2) = d(h2) through the residual */
        ln_backward(c, &w->norm2, &g->norm2, s->r2, d, d, 0, n, dm, t->eps);
    linear_backward(c, &w->down, &g->down, d, s->a, n, f, dm, da, 0);
    act_backward(c, t->act, da, da, s->u, (size_t)n * f);
    if (t->prenorm) {
        float *dh2 = fwd_alloc(c, (size_t)n * dm);
        linear_backward(c, &w->up, &g->up, da, s->h2, n, dm, f, dh2, 0);
        if (!c->oom) ln_backward(c, &w->norm2, &g->norm2, s->r1, dh2, d, 1, n, dm, t->eps);
    } else {
        linear_backward(c, &w->up, &g->up, da, s->h2, n, dm, f, d, 1);
        ln_backward(c, &w->norm1, &g->norm1, s->r1, d, d, 0, n, dm, t->eps);
    }
    fwd_release(c, mark);
}

static fwd_attn self_attn(const sail_tower *t, const fwd_block *s) {
    int d = t->width;
    fwd_attn a = {.B = s->B, .Tq = s->T, .Tk = s->T, .H = t->heads, .hd = d / t->heads, .d = d,
                  .q = s->qkv, .qs = 3 * d, .k = s->qkv + d, .v = s->qkv + 2 * d, .kvs = 3 * d,
                  .mask = s->mask, .causal = s->causal};
    return a;
}

void block_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                    const fwd_block *s, float *d) {
    fwd_mark mark = fwd_mark_get(c);
    int dm = t->width, n = s->B * s->T;
    ffn_backward(c, t, w, g, s, d, n); /* d = d(r1) */
    float *datt = fwd_alloc(c, (size_t)n * dm);      // (n, d)
    float *dqkv = fwd_alloc(c, (size_t)n * 3 * dm);  // (n, 3d)
    float *dh1 = t->prenorm ? fwd_alloc(c, (size_t)n * dm) : NULL;
    if (c->oom) return;
    linear_backward(c, &w->out, &g->out, d, s->att, n, dm, dm, datt, 0);
    fwd_attn a = self_attn(t, s);
    attention_backward(c, &a, s->p, datt, dqkv, 3 * dm, dqkv + dm, dqkv + 2 * dm, 3 * dm);
    if (t->prenorm) { /* d(x) = d(r1) + LN1'(dqkv Wqkv) */
        linear_backward(c, &w->qkv, &g->qkv, dqkv, s->h1, n, dm, 3 * dm, dh1, 0);
        ln_backward(c, &w->norm1, &g->norm1, s->x, dh1, d, 1, n, dm, t->eps);
    } else {
        linear_backward(c, &w->qkv, &g->qkv, dqkv, s->x, n, dm, 3 * dm, d, 1);
    }
    fwd_release(c, mark);
}

/* d (B, d) = d of the MAP head's output in; dx (B*T, d) = d of its input
 * tokens out (overwritten). The probe's query is shared by every item, so
 * its gradient is summed over the batch before the q rows' backward. */
void map_head_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                       const float *probe, float *gprobe, const fwd_block *s, float *d, float *dx) {
    fwd_mark mark = fwd_mark_get(c);
    int dm = t->width, B = s->B, T = s->Tk;
    size_t rk = (size_t)B * T;
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_backward(c, &pre, w, g, s, d, B);            /* d = d(r1) */
    float *datt = fwd_alloc(c, (size_t)B * dm);     // (B, d)
    float *dq = fwd_alloc(c, (size_t)B * dm);       // (B, d)
    float *dkv = fwd_alloc(c, rk * 2 * dm);         // (B*T, 2d)
    float *dq1 = fwd_alloc(c, (size_t)dm);          // (1, d)
    if (c->oom) return;
    linear_backward(c, &w->out, &g->out, d, s->att, B, dm, dm, datt, 0);
    fwd_attn a = {.B = B, .Tq = 1, .Tk = T, .H = t->heads, .hd = dm / t->heads, .d = dm, .q = s->qkv,
                  .qs = dm, .k = s->kv, .v = s->kv + dm, .kvs = 2 * dm};
    attention_backward(c, &a, s->p, datt, dq, dm, dkv, dkv + dm, 2 * dm);
    memset(dq1, 0, (size_t)dm * sizeof(float));
    colsum_add(c, dq1, dq, B, dm, (size_t)dm);
    sail_linear wq = linear_rows(&w->qkv, 0, dm), gq = linear_rows(&g->qkv, 0, dm);
    sail_linear wkv = linear_rows(&w->qkv, dm, dm), gkv = linear_rows(&g->qkv, dm, dm);
    linear_backward(c, &wq, &gq, dq1, probe, 1, dm, dm, gprobe, 1);
    linear_backward(c, &wkv, &gkv, dkv, s->x, (int)rk, dm, 2 * dm, dx, 0);
    fwd_release(c, mark);
}

/* --------------------------------------------------------- reductions -- */

typedef struct red_job {
    const sail_kernel_table *k;
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
        j->k->add(g + j0, g + j0, x + j0, (size_t)(j1 - j0)); /* row by row, as a scalar loop sums */
    }
}

void colsum_add(fwd *c, float *g, const float *x, int rows, int cols, size_t ld) {
    red_job j = {c->k, g, x, NULL, rows, cols, ld};
    sail_pool_run(c->pool, colsum_task, &j, (cols + RED_COLS - 1) / RED_COLS);
}

void scatter_rows_add(fwd *c, float *g, const float *x, const int32_t *idx, int rows, int cols) {
    red_job j = {c->k, g, x, idx, rows, cols, (size_t)cols};
    sail_pool_run(c->pool, colsum_task, &j, (cols + RED_COLS - 1) / RED_COLS);
}
