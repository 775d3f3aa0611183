/* optim.c: AdamW, the warmup + cosine schedule and gradient clipping.
 * The element-wise order follows torch 1.13's _single_tensor_adamw so the
 * comparison in tests/test_optim.py is tight. */
#include "optim.h"

#include <math.h>
#include <string.h>

double sail_lr_factor(int64_t step, int64_t warmup, int64_t total, double min_ratio) {
    if (step < 0) step = 0;
    if (step < warmup) return (double)(step + 1) / (double)warmup;
    int64_t span = total - warmup > 1 ? total - warmup : 1;
    double p = (double)(step - warmup) / (double)span;
    if (p > 1) p = 1;
    double f = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + cos(M_PI * p));
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

void sail_adamw_update(const sail_adamw *o, float *p, const float *g, float *m, float *v,
                       size_t n, int64_t t, double lr, int decay) {
    /* Scalars are formed in double and rounded once, as PyTorch does. */
    float b1 = (float)o->beta1, b2 = (float)o->beta2;
    float keep = (float)(1.0 - lr * (decay ? o->weight_decay : 0.0));
    double bc1 = 1.0 - pow(o->beta1, (double)t), bc2 = 1.0 - pow(o->beta2, (double)t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)o->eps;
    float a1 = (float)(1.0 - o->beta1), a2 = (float)(1.0 - o->beta2);
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * keep;
        m[i] = fmaf(g[i], a1, m[i] * b1);      /* add_(g, alpha) is an FMA there */
        v[i] = v[i] * b2 + a2 * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] = pi + -step_size * m[i] / denom;
    }
}

double sail_grad_norm(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

float sail_grad_clip(float *g, size_t n, double norm, double max_norm) {
    if (max_norm <= 0) return 1.0f;
    float c = (float)(max_norm / (norm + 1e-6));
    if (!(c < 1.0f)) return 1.0f;
    for (size_t i = 0; i < n; i++) g[i] *= c;
    return c;
}

void sail_optim_step(const sail_adamw *o, const sail_tparam *t, int nt, float *params,
                     float *grads, float *m, float *v, int64_t t_step, double lr,
                     float grad_scale, double max_norm, double *norm) {
    /* Gaps between tensors (offsets are multiples of 16) are never read. */
    double ss = 0;
    for (int i = 0; i < nt; i++) {
        if (t[i].lr_scale == 0.0f) continue; /* frozen: as requires_grad=False, outside the norm */
        float *g = grads + t[i].offset;
        size_t n = (size_t)(t[i].rows * t[i].cols);
        if (grad_scale != 1.0f)
            for (size_t j = 0; j < n; j++) g[j] *= grad_scale;
        double nn = sail_grad_norm(g, n);
        ss += nn * nn;
    }
    double total = sqrt(ss);
    if (norm) *norm = total;
    for (int i = 0; i < nt; i++) {
        if (t[i].lr_scale == 0.0f) continue;
        size_t off = t[i].offset, n = (size_t)(t[i].rows * t[i].cols);
        sail_grad_clip(grads + off, n, total, max_norm);
        sail_adamw_update(o, params + off, grads + off, m + off, v + off, n, t_step, lr * t[i].lr_scale,
                          t[i].decay);
        if (!strcmp(t[i].name, "train.logit_scale") && !t[i].no_clamp)
            for (size_t j = 0; j < n; j++)
                params[off + j] = params[off + j] < 0 ? 0
                                  : params[off + j] > (float)SAIL_LOGIT_SCALE_MAX ? (float)SAIL_LOGIT_SCALE_MAX
                                                                                : params[off + j];
    }
}
