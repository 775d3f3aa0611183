/* tmodel.h: internals of the trainable model shared by src/train: the model
 * object and the backward of every operation (ops_backward.c) and of a whole
 * batch (backward.c). The forward is src/model's (forward.h), run with
 * fwd.keep so that it records the activations these functions read.
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
#include "model/forward.h"
#include "model/weights.h"
#include "train/train.h"

struct sail_tmodel {
    sail_config cfg;
    float *params, *grads;      /* (size), 64-byte aligned */
    void *grads_mem;            /* the allocation grads lies in (tmodel_zeroed) */
    size_t size;
    sail_tparam *tensors;       /* [n_tensors]; the last is train.logit_scale */
    int n_tensors;
    sail_weights w, g;          /* views into params and into grads */
    sail_pool *pool;
    sail_arena arena;           /* activations of one step */
    uint8_t frozen[SAIL_N_PARTS]; /* the backward skips what only feeds these */
    int lora_rank, lora_parts;  /* LoRA adapters (lora.c): rank, bit p: part p adapted */
    float lora_alpha;
    int32_t trained_dims[SAIL_MAX_TRAINED_DIMS]; /* the loss's prefixes, saved as sail.matryoshka */
    int n_trained_dims;         /* 0: none written (compose, a model not trained here) */
};

/* Point the params and grads views at the tensor table's offsets again
 * (after the blocks were reallocated). */
void tmodel_bind(sail_tmodel *tm);
/* n zeroed floats, 64-byte aligned, in *mem (sail_free it). From calloc, so
 * a large block stays untouched zero pages until written: the gradients of
 * frozen tensors cost no memory. */
float *tmodel_zeroed(size_t n, void **mem);
/* Whether tensor name is a LoRA adapter ("....lora_a" / "....lora_b"). */
int lora_is_adapter(const char *name);
/* W + s B A of model tensor i when it carries an adapter: a new (rows,
 * cols) buffer (sail_free), or NULL when it has none or out of memory
 * (*oom set). */
float *lora_merged(const sail_tmodel *tm, int i, int *oom);

/* The grads view shares sail_weights' const pointers; they point into the
 * writable grads block. */
#define GRAD(p) ((float *)(p))

/* ---- linear: dx(n, in) = dy W (+ dx when dx_beta = 1; dx may be NULL);
 * gw(out, in) += dy^T x; gb(out) += sum over rows of dy. */
void linear_backward(fwd *c, const sail_linear *l, const sail_linear *g, const float *dy,
                     const float *x, int n, int in, int out, float *dx, float dx_beta);

/* ---- layernorm over rows of d: dx = dLN/dx^T dy (+ dx when beta = 1);
 * dx may alias dy. x is the saved input; the statistics are recomputed in
 * double. */
void ln_backward(fwd *c, const sail_norm *nm, const sail_norm *g, const float *x,
                 const float *dy, float *dx, float beta, int rows, int d, float eps);

/* ---- activations: du = da * act'(u) (du may alias da) */
void act_backward(fwd *c, sail_act act, float *du, const float *da, const float *u, size_t n);

/* ---- attention with the probabilities p (B, H, Tq, Tk) its forward
 * stored: dq (stride dqs), dk, dv (stride dkvs) are overwritten. */
void attention_backward(fwd *c, const fwd_attn *a, const float *p, const float *dout,
                        float *dq, int dqs, float *dk, float *dv, int dkvs);

/* ---- blocks: d (n, d) is the gradient of the block's output in, of its
 * input out. */
void block_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                    const fwd_block *s, float *d);
/* The FFN half: d(out) into d(r1). */
void ffn_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                  const fwd_block *s, float *d, int n);

/* ---- SigLIP's attention-pooling head (map_head_forward): d (B, d) of its
 * output in (clobbered); dx (B*T, d) of its input tokens out; the probe's
 * gradient is added to gprobe (d). */
void map_head_backward(fwd *c, const sail_tower *t, const sail_block *w, const sail_block *g,
                       const float *probe, float *gprobe, const fwd_block *s, float *d, float *dx);

/* ---- HTSAT, CLAP's audio tower (swin_backward.c): dp (n, hidden) of its
 * pooled output in; every HTSAT parameter's gradient added (its
 * BatchNorm's running statistics have none). */
void swin_backward(fwd *c, sail_tmodel *tm, const fwd_swin *r, const float *dp);

/* ---- reductions into parameter gradients (deterministic) */
/* g(cols) += sum over r < rows of x[r * ld + j]. */
void colsum_add(fwd *c, float *g, const float *x, int rows, int cols, size_t ld);
/* g[idx[r]] (cols) += x[r] (cols) for every row r, in row order. */
void scatter_rows_add(fwd *c, float *g, const float *x, const int32_t *idx, int rows, int cols);

/* ---- one side of a batch (texts, images or both) */
/* Check one side's input against the model; the message names the side. */
sail_status side_check(const sail_tmodel *tm, int n, const sail_tinput *in, const char *what,
                       sail_error *err);
/* The batch view of one side. */
sail_batch side_batch(int n, const sail_tinput *in);
/* Gradients of the parameters from d loss / d out (n, dim) (clobbered),
 * given the activations of fwd_model with keep. */
void side_backward(fwd *c, sail_tmodel *tm, const fwd_acts *s, float *dout);

/* ---- the InfoNCE loss (loss.c) on L2-normalised a, b (n, dim): returns the
 * loss; when da, db are given they receive d loss / d a, b (overwritten) and
 * *dls d loss / d logit_scale. Scratch from the arena. */
float infonce(fwd *c, int n, int dim, const float *a, const float *b, const int *group,
              const sail_loss_opts *lo, float logit_scale, float *da, float *db, float *dls);
/* ---- the sigmoid loss (SigLIP's, loss.c) on the same inputs, with the
 * learned bias: *dlb receives d loss / d logit_bias. */
float sigmoid_loss(fwd *c, int n, int dim, const float *a, const float *b, const int *group,
                   const sail_loss_opts *lo, float logit_scale, float logit_bias, float *da, float *db,
                   float *dls, float *dlb);

#endif
