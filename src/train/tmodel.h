/* tmodel.h: internals of the trainable model shared by src/train: the model
 * object, the per-step context, the saved activations of one transformer
 * block and the forward/backward pairs of every operation (ops_backward.c).
 *
 * Conventions: activations are row-major (rows, width) in the step's arena;
 * every *_backward adds parameter gradients into the grads block (+=) and
 * writes or adds (beta 0/1) the input gradient. Gradients of weights are
 * reduced in a fixed order (split over output columns, or per-task partials
 * summed in task order), so results never depend on thread timing. */
#ifndef SAIL_TMODEL_H
#define SAIL_TMODEL_H

#include "arena.h"
#include "kernels/kernels.h"
#include "model/weights.h"
#include "train/train.h"

struct sail_tmodel {
    sail_config cfg;
    float *params, *grads;      /* (size), 64-byte aligned */
    size_t size;
    sail_tparam *tensors;       /* [n_tensors]; the last is train.logit_scale */
    int n_tensors;
    sail_weights w, g;          /* views into params and into grads */
    sail_pool *pool;
    sail_arena arena;           /* activations of one step */
};

/* The grads view shares sail_weights' const pointers; they point into the
 * writable grads block. */
#define GRAD(p) ((float *)(p))

typedef struct tctx {
    sail_arena *a;
    sail_pool *pool;
    const sail_kernel_table *k;
    int oom;
    size_t live, peak;          /* bytes taken and not released; its maximum */
} tctx;

/* n floats from the arena (NULL and c->oom set on failure). */
float *tc_alloc(tctx *c, size_t n);
/* Scoped scratch: everything taken after a mark is given back by release. */
typedef struct tmark { size_t used, live; } tmark;
tmark tc_mark(const tctx *c);
void tc_release(tctx *c, tmark m);
/* Start a pass on the arena; tc_finish sizes the arena for the next pass of
 * the same shape to this pass's true peak (the first pass of a shape spills
 * into chunks, whose released scratch the arena alone cannot count). */
int tc_start(tctx *c, sail_arena *a, sail_pool *pool);
void tc_finish(tctx *c);

/* Saved activations of one block over n = B*T rows of width d (ffn f).
 * Self-attention block, pre-norm:
 *   h1 = LN1(x); qkv = h1 Wqkv; att = attn(qkv); r1 = x + att Wo;
 *   h2 = LN2(r1); u = h2 Wup; a = act(u); out = r1 + a Wdown
 * post-norm:
 *   qkv = x Wqkv; att = attn(qkv); r1 = x + att Wo;
 *   h2 = LN1(r1); u = h2 Wup; a = act(u); r2 = h2 + a Wdown; out = LN2(r2)
 * The perceiver uses x, h1, att, r1.. the same way with its own q and kv. */
typedef struct tblock {
    int B, T, Tk;
    const uint8_t *mask;        /* (B, Tk) real keys, or NULL */
    float *x;                   /* (n, d) input */
    float *h1;                  /* (n, d) pre-norm only */
    float *qkv;                 /* (n, 3d); perceiver: q (n, d) */
    float *kvn, *kv;            /* perceiver: (B*Tk, d), (B*Tk, 2d) */
    float *p;                   /* (B, H, T, Tk) attention probabilities */
    float *att;                 /* (n, d) */
    float *r1, *h2;             /* (n, d) */
    float *u, *a;               /* (n, f) */
    float *r2;                  /* (n, d) post-norm only */
    float *out;                 /* (n, d), owned by the caller */
} tblock;

/* ---- linear: y(n, out) = x(n, in) W^T + b (+ y when beta = 1) */
void linear_forward_t(tctx *c, const sail_linear *l, const float *x, int n, int in,
                      int out, float *y, float beta);
/* dx(n, in) = dy W (+ dx when dx_beta = 1; dx may be NULL);
 * gw(out, in) += dy^T x; gb(out) += sum over rows of dy. */
void linear_backward(tctx *c, const sail_linear *l, const sail_linear *g, const float *dy,
                     const float *x, int n, int in, int out, float *dx, float dx_beta);

/* ---- layernorm over rows of d */
void ln_forward(tctx *c, const sail_norm *nm, float *y, const float *x, int rows, int d,
                float eps);
/* dx = dLN/dx^T dy (+ dx when beta = 1); dx may alias dy. x is the saved
 * input; the statistics are recomputed in double. */
void ln_backward(tctx *c, const sail_norm *nm, const sail_norm *g, const float *x,
                 const float *dy, float *dx, float beta, int rows, int d, float eps);

/* ---- activations: a = act(u); du = da * act'(u) (du may alias da) */
void act_forward_t(tctx *c, sail_act act, float *a, const float *u, size_t n);
void act_backward(tctx *c, sail_act act, float *du, const float *da, const float *u, size_t n);

/* ---- attention with stored probabilities p (B, H, Tq, Tk) */
typedef struct tattn {
    int B, Tq, Tk, H, hd, d;    /* d = H * hd, the row width of out / dout */
    const float *q; int qs;     /* row strides */
    const float *k, *v; int kvs;
    const uint8_t *mask;        /* (B, Tk) or NULL */
    int causal;
} tattn;
void attention_forward_t(tctx *c, const tattn *a, float *p, float *out);
/* dq (stride dqs), dk, dv (stride dkvs) are overwritten. */
void attention_backward(tctx *c, const tattn *a, const float *p, const float *dout,
                        float *dq, int dqs, float *dk, float *dv, int dkvs);

/* ---- blocks */
void block_forward_t(tctx *c, const sail_tower *t, const sail_block *w, tblock *s,
                     int B, int T, const uint8_t *mask);
/* d (n, d): gradient of the block's output in, of its input out. */
void block_backward(tctx *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                    const tblock *s, float *d);
/* The FFN half: from s->r1 to s->out; backward turns d(out) into d(r1). */
void ffn_forward_t(tctx *c, const sail_tower *t, const sail_block *w, tblock *s, int n);
void ffn_backward(tctx *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                  const tblock *s, float *d, int n);

/* ---- reductions into parameter gradients (deterministic) */
/* g(cols) += sum over r < rows of x[r * ld + j]. */
void colsum_add(tctx *c, float *g, const float *x, int rows, int cols, size_t ld);
/* g[idx[r]] (cols) += x[r] (cols) for every row r, in row order. */
void scatter_rows_add(tctx *c, float *g, const float *x, const int32_t *idx, int rows, int cols);

/* ---- one side of a batch through the whole model (tforward.c) */
typedef struct tside {
    int n, text;                /* items; 1: texts, 0: images */
    int T;                      /* encoder sequence: max text length or 1 + patches */
    int S;                      /* fusion sequence: T, or the perceiver's latents */
    uint8_t *mask;              /* (n, T) real text tokens; NULL for images */
    int32_t *ids;               /* (n*T) padded ids; (n*T) position of each row */
    int32_t *pos, *zeros;
    float *emb;                 /* texts: (n*T, dt) token + position + type, pre-LN */
    float *patches;             /* images: (n*np, 3*p*p) unfolded */
    tblock *enc;                /* [layers + 1]: enc[l].x is block l's input;
                                   enc[layers].x the tower's output */
    float *vnorm;               /* images: (n*T, dv) LN of the tower's output */
    float *proj;                /* (n*T, df) projection to the fusion width */
    tblock perc;                /* perceiver (images, perceiver_latents > 0) */
    tblock *fuse;               /* [fusion layers + 1]: fuse[0].x = seq + modality */
    float *y;                   /* (n*S, df) final fusion LN */
    float *z;                   /* mean_tanh: (n*S, df) tanh(y) */
    float *pooled;              /* (n, df) */
    float *e;                   /* (n, dim) head output */
    float *out;                 /* (n, dim) L2-normalised */
} tside;

/* Check one side's input against the model; the message names the side. */
sail_status side_check(const sail_tmodel *tm, int n, const sail_tinput *in, const char *what,
                       sail_error *err);
/* Forward of a checked input, keeping activations in the arena. */
void side_forward(tctx *c, const sail_tmodel *tm, tside *s, int n, const sail_tinput *in);
/* Gradients of the parameters from d loss / d out (n, dim) (clobbered). */
void side_backward(tctx *c, sail_tmodel *tm, const tside *s, float *dout);

/* ---- the InfoNCE loss (loss.c) on L2-normalised a, b (n, dim): returns the
 * loss; when da, db are given they receive d loss / d a, b (overwritten) and
 * *dls d loss / d logit_scale. Scratch from the arena. */
float infonce(tctx *c, int n, int dim, const float *a, const float *b, const int *group,
              const sail_loss_opts *lo, float logit_scale, float *da, float *db, float *dls);

#endif
