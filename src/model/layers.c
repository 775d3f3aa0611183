/* layers.c: transformer building blocks on top of the kernels. */
#include "layers.h"
#include "format/quant.h"

#include <math.h>
#include <string.h>

float *fwd_alloc(fwd *f, size_t n) {
    float *p = sail_arena_floats(f->a, n);
    if (!p) f->oom = 1;
    return p;
}

uint8_t *fwd_alloc_mask(fwd *f, size_t n) {
    /* Never 0 floats: an empty text mask (image-only batch) is still a valid
     * pointer, and a zero-size take from an empty arena would read as OOM. */
    return (uint8_t *)fwd_alloc(f, n / sizeof(float) + 1);
}

void trace(fwd *f, const char *name, const float *x, int rows, int cols) {
    if (f->m->trace && !f->oom) f->m->trace(f->m->trace_ud, name, x, rows, cols);
}

void linear_forward(fwd *f, const sail_linear *l, const float *x, int n, int in,
                    int out, float *y, float beta) {
    if (f->oom) return;
    size_t mark = sail_arena_mark(f->a), need = sail_gemm_w_scratch(&l->wm, n, in);
    void *scratch = need ? fwd_alloc(f, (need + sizeof(float) - 1) / sizeof(float)) : NULL;
    if (f->oom) return;
    sail_gemm_w(f->pool, n, out, in, x, in, &l->wm, l->b, beta, y, out, scratch);
    sail_arena_release(f->a, mark);
}

sail_linear linear_rows(const sail_linear *l, int r0) {
    sail_linear v = *l;
    v.w = NULL; /* inference reads wm */
    v.b = l->b ? l->b + r0 : NULL;
    v.wm.data = (const char *)l->wm.data + (size_t)r0 * l->wm.stride;
    return v;
}

const float *tab_row(const sail_wmat *t, int r, float *buf, int n) {
    const void *row = (const char *)t->data + (size_t)r * t->stride;
    if (t->type == SAIL_WT_F32) return row;
    sail_dequantize_row(t->type, buf, row, (size_t)n);
    return buf;
}

const float *tab_rows(fwd *f, const sail_wmat *t, int rows, int n) {
    if (t->type == SAIL_WT_F32) return t->data;
    float *buf = fwd_alloc(f, (size_t)rows * n);
    if (f->oom) return NULL;
    for (int r = 0; r < rows; r++) tab_row(t, r, buf + (size_t)r * n, n);
    return buf;
}

/* Element-wise and row-wise work is split over the pool too: on 2 cores a
 * single-threaded GELU or LayerNorm would be a visible share of a layer. */
enum { CHUNK = 16384 };

typedef struct act_job {
    const sail_kernel_table *k;
    sail_act act;
    float *x;
    size_t n;
} act_job;

static void act_task(void *ctx, int task, int thread) {
    const act_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, len = SAIL_MIN((size_t)CHUNK, j->n - lo);
    if (j->act == SAIL_ACT_QUICK_GELU) j->k->quick_gelu(j->x + lo, len);
    else j->k->gelu(j->x + lo, len);
}

void act_forward(fwd *f, sail_act act, float *x, size_t n) {
    if (f->oom) return;
    act_job j = {f->k, act, x, n};
    sail_pool_run(f->pool, act_task, &j, (int)((n + CHUNK - 1) / CHUNK));
}

typedef struct norm_job {
    const sail_kernel_table *k;
    const sail_norm *nm;
    float *y;
    const float *x;
    int rows, d, per_task;
    float eps;
} norm_job;

static void norm_task(void *ctx, int task, int thread) {
    const norm_job *j = ctx;
    int r0 = task * j->per_task, n = SAIL_MIN(j->per_task, j->rows - r0);
    size_t off = (size_t)r0 * j->d;
    j->k->layernorm(j->y + off, j->x + off, j->nm->w, j->nm->b, n, j->d, j->eps);
}

void norm_forward(fwd *f, const sail_norm *nm, float *y, const float *x, int rows,
                  int d, float eps) {
    if (f->oom) return;
    norm_job j = {f->k, nm, y, x, rows, d, SAIL_MAX(1, CHUNK / d), eps};
    sail_pool_run(f->pool, norm_task, &j, (rows + j.per_task - 1) / j.per_task);
}

void attention_forward(fwd *f, const sail_tower *t, const float *q, int qs,
                       const float *k, const float *v, int kvs, float *out,
                       int B, int Tq, int Tk, const uint8_t *mask, int causal) {
    size_t mark = sail_arena_mark(f->a);
    float *scratch = fwd_alloc(f, sail_attention_scratch(sail_pool_size(f->pool), Tk));
    if (f->oom) return;
    int hd = t->width / t->heads;
    sail_attn_args a = {
        .B = B, .Tq = Tq, .Tk = Tk, .H = t->heads, .hd = hd,
        .q = q, .q_stride = qs, .k = k, .k_stride = kvs, .v = v, .v_stride = kvs,
        .out = out, .out_stride = t->width, .key_mask = mask, .causal = causal,
        .scale = 1.0f / sqrtf((float)hd),
    };
    sail_attention(f->pool, &a, scratch);
    sail_arena_release(f->a, mark);
}

void ffn_forward(fwd *f, const sail_tower *t, const sail_block *w, float *x, int n) {
    size_t mark = sail_arena_mark(f->a);
    int d = t->width;
    float *h = t->prenorm ? fwd_alloc(f, (size_t)n * d) : x;
    float *u = fwd_alloc(f, (size_t)n * t->ffn);
    if (f->oom) return;
    if (t->prenorm) norm_forward(f, &w->norm2, h, x, n, d, t->eps);
    linear_forward(f, &w->up, h, n, d, t->ffn, u, 0);
    act_forward(f, t->act, u, (size_t)n * t->ffn);
    linear_forward(f, &w->down, u, n, t->ffn, d, x, 1);
    if (!t->prenorm) norm_forward(f, &w->norm2, x, x, n, d, t->eps);
    sail_arena_release(f->a, mark);
}

void block_forward(fwd *f, const sail_tower *t, const sail_block *w, float *x,
                   int B, int T, const uint8_t *mask, int causal) {
    size_t mark = sail_arena_mark(f->a);
    int d = t->width, n = B * T;
    float *h = t->prenorm ? fwd_alloc(f, (size_t)n * d) : x;
    float *qkv = fwd_alloc(f, (size_t)n * 3 * d);
    float *att = fwd_alloc(f, (size_t)n * d);
    if (f->oom) return;
    if (t->prenorm) norm_forward(f, &w->norm1, h, x, n, d, t->eps);
    linear_forward(f, &w->qkv, h, n, d, 3 * d, qkv, 0);
    attention_forward(f, t, qkv, 3 * d, qkv + d, qkv + 2 * d, 3 * d, att, B, T, T, mask, causal);
    linear_forward(f, &w->out, att, n, d, d, x, 1);
    if (!t->prenorm) norm_forward(f, &w->norm1, x, x, n, d, t->eps);
    sail_arena_release(f->a, mark);
    ffn_forward(f, t, w, x, n);
}
