/* optim.h: AdamW with decoupled weight decay, the learning-rate schedule
 * (linear warmup, cosine decay) and global-norm gradient clipping, with the
 * exact arithmetic order of torch.optim.AdamW, LambdaLR and
 * torch.nn.utils.clip_grad_norm_ (tests/test_optim.py checks them against
 * PyTorch). Everything here is single-threaded and deterministic. */
#ifndef SAIL_OPTIM_H
#define SAIL_OPTIM_H

#include "common.h"
#include "train/train.h"

typedef struct sail_adamw {
    double beta1, beta2, eps;   /* 0.9, 0.999, 1e-8 as PyTorch's defaults */
    double weight_decay;        /* applied where the caller says it decays */
} sail_adamw;

/* The learning-rate multiplier of optimiser step `step` (0-based; the value
 * LambdaLR hands step `step`): (step + 1) / warmup during the first warmup
 * steps, then min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2 with
 * p = (step - warmup) / max(1, total - warmup), clamped to [0, 1]. */
double sail_lr_factor(int64_t step, int64_t warmup, int64_t total, double min_ratio);

/* One AdamW update of n parameters at optimiser step t (1-based, as
 * PyTorch's state["step"] after its increment):
 *   p *= 1 - lr * wd  (wd = o->weight_decay when decay, else 0)
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
void sail_adamw_update(const sail_adamw *o, float *p, const float *g, float *m, float *v,
                       size_t n, int64_t t, double lr, int decay);

/* Global L2 norm of n gradients (as clip_grad_norm_: the norm of the
 * per-tensor norms; here one block, summed in double). */
double sail_grad_norm(const float *g, size_t n);

/* Scale g by c = max_norm / (norm + 1e-6) when c < 1 (PyTorch's clipping
 * coefficient); max_norm <= 0 disables clipping. Returns the factor used. */
float sail_grad_clip(float *g, size_t n, double norm, double max_norm);

/* The largest logit scale (log 100), as CLIP clamps it. */
#define SAIL_LOGIT_SCALE_MAX 4.605170185988092

/* One optimiser step over the tensors t[0..nt) of a flat block: grads *=
 * grad_scale (1/K for K accumulated micro-batches), clip to max_norm, AdamW
 * with step t_step (1-based) and learning rate lr * t[i].lr_scale (decay
 * where t[i].decay; tensors with lr_scale 0 are frozen: left alone),
 * then clamp "train.logit_scale" to [0, log 100] (unless no_clamp). m and v
 * have the block's layout. *norm (may be NULL) receives the gradient norm
 * before clipping. */
void sail_optim_step(const sail_adamw *o, const sail_tparam *t, int nt, float *params,
                     float *grads, float *m, float *v, int64_t t_step, double lr,
                     float grad_scale, double max_norm, double *norm);

#endif
