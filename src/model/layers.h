/* layers.h: the building blocks of the forward pass (linear, activation,
 * transformer block, attention), shared by the text, vision and fusion
 * stacks. Internal to src/model. */
#ifndef SAIL_LAYERS_H
#define SAIL_LAYERS_H

#include "model.h"

typedef struct fwd {
    sail_model *m;
    sail_arena *a;
    sail_pool *pool;
    const sail_kernel_table *k;
    int oom;                    /* set when the arena could not grow */
} fwd;

/* n floats from the arena; on failure sets f->oom and returns NULL. Every
 * layer function is a no-op once f->oom is set, so callers check it once. */
float *fwd_alloc(fwd *f, size_t n);

/* n bytes for a token mask (1 = real token), from the arena. */
uint8_t *fwd_alloc_mask(fwd *f, size_t n);

/* y(n, out) = x(n, in) W^T + b (+ y when beta = 1), W in its stored type. */
void linear_forward(fwd *f, const sail_linear *l, const float *x, int n, int in,
                    int out, float *y, float beta);

/* Rows [r0, ...) of a Linear layer (weight and bias) as a layer of its own. */
sail_linear linear_rows(const sail_linear *l, int r0);

/* Row r of a stored table (n values) as f32: a pointer into the file when
 * it is F32, else decoded into buf (n floats). */
const float *tab_row(const sail_wmat *t, int r, float *buf, int n);

/* The first rows (n values each) of a stored table as f32: in place when
 * F32, else decoded into arena memory (NULL and f->oom on failure). */
const float *tab_rows(fwd *f, const sail_wmat *t, int rows, int n);
void act_forward(fwd *f, sail_act act, float *x, size_t n);
void norm_forward(fwd *f, const sail_norm *nm, float *y, const float *x, int rows,
                  int d, float eps);

/* Self-attention transformer block over x (B*T, d), in place. mask (B, T)
 * marks real tokens (NULL = all). */
void block_forward(fwd *f, const sail_tower *t, const sail_block *w, float *x,
                   int B, int T, const uint8_t *mask, int causal);

/* Attention of q (B*Tq rows, stride qs) over k/v (B*Tk rows); out (B*Tq, d). */
void attention_forward(fwd *f, const sail_tower *t, const float *q, int qs,
                       const float *k, const float *v, int kvs, float *out,
                       int B, int Tq, int Tk, const uint8_t *mask, int causal);

/* FFN half of a block: pre-norm x += down(act(up(LN2 x))), post-norm
 * x = LN2(x + down(act(up x))). */
void ffn_forward(fwd *f, const sail_tower *t, const sail_block *w, float *x, int n);

void trace(fwd *f, const char *name, const float *x, int rows, int cols);

#endif
