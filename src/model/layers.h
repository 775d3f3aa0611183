/* layers.h: the building blocks of the forward pass (linear, norm,
 * activation, attention, transformer block), shared by the text, vision and
 * fusion stacks, by inference and by training. Internal to src/model and
 * src/train.
 *
 * One forward, two modes. Inference (keep = 0) reuses buffers in place and
 * gives scratch back to the arena as soon as a layer is done. Training
 * (keep = 1) gives every intermediate its own buffer and keeps it, recorded
 * in a fwd_block, because src/train's backward reads them. The arithmetic is
 * the same in both; only attention differs in how (not what) it computes:
 * inference streams (sail_attention), training stores the probabilities. */
#ifndef SAIL_LAYERS_H
#define SAIL_LAYERS_H

#include "model.h"

typedef struct fwd {
    const sail_config *c;
    const sail_weights *w;
    sail_model *m;              /* inference: position cache and trace; NULL in training */
    sail_arena *a;
    sail_pool *pool;
    const sail_kernel_table *k;
    int oom;                    /* set when the arena could not grow */
    int keep;                   /* training: keep every activation the backward reads */
    int drop_text, drop_vision, drop_audio; /* with keep: that tower is frozen, keep only its output */
    size_t live, peak;          /* bytes taken and not released; its maximum */
} fwd;

/* Start a pass on arena a (0, or -1 when the arena cannot grow). */
int fwd_start(fwd *f, sail_arena *a, sail_pool *pool);
/* Size the arena for the next pass of the same shape to this pass's true
 * peak (the first pass of a shape spills into chunks, whose released
 * scratch the arena alone cannot count). */
void fwd_finish(fwd *f);

/* n floats from the arena; on failure sets f->oom and returns NULL. Every
 * layer function is a no-op once f->oom is set, so callers check it once. */
float *fwd_alloc(fwd *f, size_t n);
/* n bytes for a token mask or ids, from the arena (never NULL unless oom). */
void *fwd_alloc_bytes(fwd *f, size_t n);

/* Scoped scratch: everything taken after a mark is given back by release. */
typedef struct fwd_mark { sail_arena_pos pos; size_t live; } fwd_mark;
fwd_mark fwd_mark_get(const fwd *f);
void fwd_release(fwd *f, fwd_mark m);

/* y(n, out) = x(n, in) W^T + b (+ y when beta = 1): the f32 weight when
 * there is one (training, f32 files), else W in its stored type. */
void linear_forward(fwd *f, const sail_linear *l, const float *x, int n, int in,
                    int out, float *y, float beta);

/* Rows of bf16 for linear_bf16's x, zero rows up to a multiple of 32 after
 * them (never NULL unless oom). */
uint16_t *fwd_alloc_bf16(fwd *f, int rows, int cols);
/* Whether linear_bf16 takes the layer at n rows: from bf16 x, and (outb)
 * into bf16 y. */
int linear_takes_bf16(const sail_linear *l, int n, int in, int out, int outb);
/* linear_forward from x in bf16 (fwd_alloc_bf16), into y (floats, beta as
 * there) or, yb set, yb in bf16 after post. */
void linear_bf16(fwd *f, const sail_linear *l, const uint16_t *x, int n, int in, int out, float *y,
                 uint16_t *yb, float beta, sail_post_fn post);

/* Rows [r0, ...) of a Linear layer (weight and bias) as a layer of its own. */
sail_linear linear_rows(const sail_linear *l, int r0, int in);

/* Row r of a stored table (n values) as f32: a pointer into the file when
 * it is F32, else decoded into buf (n floats). */
const float *tab_row(const sail_wmat *t, int r, float *buf, int n);

/* The first rows (n values each) of a stored table as f32: in place when
 * F32, else decoded into arena memory (NULL and f->oom on failure). */
const float *tab_rows(fwd *f, const sail_wmat *t, int rows, int n);

/* y = act(x) over n values; y may be x. */
void act_forward(fwd *f, sail_act act, float *y, const float *x, size_t n);
void norm_forward(fwd *f, const sail_norm *nm, float *y, const float *x, int rows,
                  int d, float eps);

/* Multi-head attention of q (B*Tq rows, stride qs) over k, v (B*Tk rows,
 * stride kvs); out (B*Tq, d = H * hd). */
typedef struct fwd_attn {
    int B, Tq, Tk, H, hd, d;
    const float *q; int qs;
    const float *k, *v; int kvs;
    const uint8_t *mask;        /* (B, Tk) real keys, or NULL */
    int causal;
    int bf16;                   /* products in bf16 (sail_attn_args.bf16): see attn_bf16 */
    const uint16_t *qb, *kb, *vb; /* set: q, k, v in bf16 instead (sail_attn_args.qb...) */
    uint16_t *out_b;            /* set: the output in bf16 (sail_attn_args.out_b) */
    sail_q8a *out_q;            /* set: the output quantised (sail_attn_args.out_q) */
} fwd_attn;

/* Whether attention beside the projection qkv runs its products in bf16:
 * when qkv is stored bf16 or q8_0 (its GEMMs round the activations as much
 * or more). Training's attention, which stores p, stays f32 regardless. */
int attn_bf16(const sail_linear *qkv);

/* p (B, H, Tq, Tk) receives the probabilities (training); NULL streams. */
void attention_forward(fwd *f, const fwd_attn *a, float *p, float *out);

/* Activations of one block over n = B*T rows of width d (ffn f).
 * pre-norm:  h1 = LN1(x); qkv = h1 Wqkv; att = attn(qkv); r1 = x + att Wo;
 *            h2 = LN2(r1); u = h2 Wup; a = act(u); out = r1 + a Wdown
 * post-norm: qkv = x Wqkv; att = attn(qkv); r1 = x + att Wo;
 *            h2 = LN1(r1); u = h2 Wup; a = act(u); r2 = h2 + a Wdown;
 *            out = LN2(r2)
 * The perceiver uses x, h1, att, r1.. the same way with its own q and kv.
 * Without keep only x and out are meaningful afterwards. */
typedef struct fwd_block {
    int B, T, Tk, causal;
    const uint8_t *mask;        /* (B, Tk) real keys, or NULL */
    const float *x;             /* (n, d) input */
    float *h1;                  /* (n, d) pre-norm only */
    float *qkv;                 /* (n, 3d); perceiver: q (n, d) */
    float *kvn, *kv;            /* perceiver: (B*Tk, d), (B*Tk, 2d) */
    float *p;                   /* (B, H, T, Tk) attention probabilities */
    float *att;                 /* (n, d) */
    float *r1, *h2;             /* (n, d) */
    float *u, *a;               /* (n, f) */
    float *r2;                  /* (n, d) post-norm only */
    float *out;                 /* (n, d), owned by the caller */
} fwd_block;

/* Self-attention block from x to out (out may be x when not keeping). */
void block_forward(fwd *f, const sail_tower *t, const sail_block *w, fwd_block *s,
                   const float *x, float *out, int B, int T, const uint8_t *mask, int causal);

/* The FFN half: from s->r1 to s->out (pre-norm x += down(act(up(LN2 x))),
 * post-norm x = LN2(h2 + down(act(up h2))), h2 = LN1(r1)). */
void ffn_forward(fwd *f, const sail_tower *t, const sail_block *w, fwd_block *s, int n);

/* SigLIP's attention pooling (SiglipMultiheadAttentionPoolingHead): the
 * probe (d) attends over x (B*T, d) without a mask; r1 = att Wo + bo (no
 * residual from the probe); out (B, d) = r1 + down(act(up(LN(r1)))), LN =
 * w->norm2. Recorded in s as a perceiver with one latent: qkv holds the
 * query (B, d), kv (B*T, 2d), p (B, H, 1, T), att, r1, h2, u, a. */
void map_head_forward(fwd *f, const sail_tower *t, const sail_block *w, const float *probe,
                      fwd_block *s, const float *x, int B, int T, float *out);

void trace(fwd *f, const char *name, const float *x, int rows, int cols);

#endif
