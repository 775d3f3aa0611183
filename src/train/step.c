/* step.c: one training step (both sides of a batch of pairs through the
 * model's forward with activations kept, the loss (InfoNCE, or SigLIP's
 * sigmoid loss when the model has a logit bias), both backward passes)
 * and sail_tmodel_embed. */
#include "tmodel.h"

#include <math.h>
#include <string.h>

#define OOM(err) sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for activations")

sail_batch side_batch(int n, const sail_tinput *in) {
    sail_batch b = {n, in->ids, in->lens, in->pixels, in->h, in->w, in->frames, in->spec};
    return b;
}

sail_status side_check(const sail_tmodel *tm, int n, const sail_tinput *in, const char *what,
                       sail_error *err) {
    const sail_config *c = &tm->cfg;
    if (!in || (!in->ids && !in->pixels && !in->spec))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: give token ids, pixels or both, or spectrograms", what);
    /* rows of every activation (n * tokens) must fit the GEMMs' int sizes */
    int64_t g = c->patch_size ? c->image_size / c->patch_size : 0; /* 0: no vision tower */
    int64_t frames = SAIL_MAX(in->frames, 1);
    int64_t tokens = (in->ids ? c->max_positions : 0) + (in->pixels ? frames * SAIL_MAX(1 + g * g, c->perceiver_latents) : 0);
    if (in->spec && sail_has_audio(c)) tokens = SAIL_MAX(tokens, sail_audio_tokens(c)); /* at the tower's own size */
    if (n > (1 << 20) || (int64_t)n * tokens > (1 << 30))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: %d items of up to %lld tokens is too large a batch",
                              what, n, (long long)tokens);
    if (in->pixels && (in->h != c->image_size || in->w != c->image_size))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "%s: images are %dx%d; training takes the model's size %dx%d",
                              what, in->w, in->h, c->image_size, c->image_size);
    sail_batch b = side_batch(n, in);
    sail_status s = fwd_check(c, &b, err);
    if (s) sail_error_prefix(err, "%s", what);
    return s;
}

static sail_status check_loss(const sail_config *cf, const sail_loss_opts *lo, sail_error *err) {
    if (lo->n_dims < 1 || lo->n_dims > 4)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loss: %d Matryoshka dims; expected 1..4", lo->n_dims);
    for (int k = 0; k < lo->n_dims; k++) {
        if (lo->dims[k] < 1 || lo->dims[k] > cf->dim)
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loss: Matryoshka dim %d is outside 1..%d",
                                  lo->dims[k], cf->dim);
        if (!isfinite(lo->weights[k]))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loss: weight %d is not finite", k);
    }
    return SAIL_OK;
}

static fwd train_fwd(sail_tmodel *tm, int keep) {
    fwd f = {.c = &tm->cfg, .w = &tm->w, .keep = keep, .drop_text = tm->frozen[SAIL_PART_TEXT],
             .drop_vision = tm->frozen[SAIL_PART_VISION], .drop_audio = tm->frozen[SAIL_PART_AUDIO]};
    return f;
}

sail_status sail_tmodel_step(sail_tmodel *tm, int n, const sail_tinput *a,
                             const sail_tinput *b, const int *group,
                             const sail_loss_opts *lo, int backward, float *loss,
                             float *emb_a, float *emb_b, sail_error *err) {
    if (!tm || n < 1 || !loss)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "step needs a model, n >= 1 pairs and a loss output");
    const sail_config *cf = &tm->cfg;
    sail_loss_opts full = {1, {cf->dim}, {1.0f}};
    if (!lo) lo = &full;
    sail_status st = check_loss(cf, lo, err);
    if (!st) st = side_check(tm, n, a, "side a", err);
    if (!st) st = side_check(tm, n, b, "side b", err);
    if (st) return st;
    fwd c = train_fwd(tm, 1);
    if (fwd_start(&c, &tm->arena, tm->pool)) return OOM(err);
    fwd_acts sa, sb;
    sail_batch ba = side_batch(n, a), bb = side_batch(n, b);
    st = fwd_model(&c, &ba, &sa, NULL, err);
    if (!st) st = fwd_model(&c, &bb, &sb, NULL, err);
    if (st) return st;
    int dim = cf->dim;
    float *da = backward ? fwd_alloc(&c, (size_t)n * dim) : NULL; // (n, dim)
    float *db = backward ? fwd_alloc(&c, (size_t)n * dim) : NULL; // (n, dim)
    if (c.oom) return OOM(err);
    float *ls = tm->params + tm->tensors[tm->n_tensors - 1].offset;
    float dls = 0, dlb = 0;
    if (cf->has_logit_bias) /* SigLIP: the sigmoid loss, its bias trained with it */
        *loss = sigmoid_loss(&c, n, dim, sa.out, sb.out, group, lo, *ls, *tm->w.logit_bias, da, db, &dls, &dlb);
    else
        *loss = infonce(&c, n, dim, sa.out, sb.out, group, lo, *ls, da, db, &dls);
    if (emb_a) memcpy(emb_a, sa.out, (size_t)n * dim * sizeof(float));
    if (emb_b) memcpy(emb_b, sb.out, (size_t)n * dim * sizeof(float));
    if (backward && !c.oom) {
        tm->grads[tm->tensors[tm->n_tensors - 1].offset] += dls;
        if (cf->has_logit_bias) *GRAD(tm->g.logit_bias) += dlb;
        side_backward(&c, tm, &sb, db);
        side_backward(&c, tm, &sa, da);
    }
    fwd_finish(&c);
    return c.oom ? OOM(err) : SAIL_OK;
}

sail_status sail_tmodel_embed(sail_tmodel *tm, int n, const sail_tinput *in, float *out,
                              sail_error *err) {
    if (!tm || n < 1 || !out)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "embed needs a model, n >= 1 inputs and an output");
    sail_status s = side_check(tm, n, in, "input", err);
    if (s) return s;
    fwd c = train_fwd(tm, 0); /* inference's own pass: nothing is kept */
    if (fwd_start(&c, &tm->arena, tm->pool)) return OOM(err);
    fwd_acts acts;
    sail_batch b = side_batch(n, in);
    s = fwd_model(&c, &b, &acts, out, err);
    fwd_finish(&c);
    return s;
}
