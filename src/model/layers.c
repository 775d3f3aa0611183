/* layers.c: transformer building blocks on top of the kernels. */
#include "layers.h"

#include <math.h>
#include <string.h>

float *fwd_alloc(fwd *f, size_t n) {
    float *p = sail_arena_floats(f->a, n);
    if (!p) f->oom = 1;
    return p;
}

void trace(fwd *f, const char *name, const float *x, int rows, int cols) {
    if (f->m->trace && !f->oom) f->m->trace(f->m->trace_ud, name, x, rows, cols);
}

void linear_forward(fwd *f, const sail_linear *l, const float *x, int n, int in,
                    int out, float *y, float beta) {
    if (f->oom) return;
    sail_gemm(f->pool, n, out, in, x, in, l->w, in, 1, l->b, beta, y, out);
}

void act_forward(fwd *f, sail_act act, float *x, size_t n) {
    if (f->oom) return;
    if (act == SAIL_ACT_QUICK_GELU) f->k->quick_gelu(x, n);
    else f->k->gelu(x, n);
}

void norm_forward(fwd *f, const sail_norm *nm, float *y, const float *x, int rows,
                  int d, float eps) {
    if (f->oom) return;
    f->k->layernorm(y, x, nm->w, nm->b, rows, d, eps);
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
