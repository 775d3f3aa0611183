/* fuzz_tmodel.h: a stand-in for the trainable model (src/train/tmodel.c)
 * for fuzz_checkpoint.c and seed_checkpoint.c: two tensors, "a" (2 x 8) at
 * offset 0 and "b" (16) at offset 16, over 32 floats, and the small
 * configuration test_train_ckpt.c uses. A checkpoint reader needs the
 * layout only, not a model that computes. Header-only. */
#ifndef SAIL_FUZZ_TMODEL_H
#define SAIL_FUZZ_TMODEL_H

#include "train/train.h"

#include <string.h>

struct sail_tmodel {
    sail_config cfg;
    float params[32];
};

static const sail_tparam fz_tensors[2] = {{"a", 0, 2, 8, 1, 1.0f}, {"b", 16, 1, 16, 0, 1.0f}};

const sail_config *sail_tmodel_config(const sail_tmodel *tm) { return &tm->cfg; }
size_t sail_tmodel_size(const sail_tmodel *tm) { (void)tm; return 32; }
float *sail_tmodel_params(sail_tmodel *tm) { return tm->params; }
int sail_tmodel_n_tensors(const sail_tmodel *tm) { (void)tm; return 2; }
const sail_tparam *sail_tmodel_tensor(const sail_tmodel *tm, int i) {
    (void)tm;
    return i >= 0 && i < 2 ? &fz_tensors[i] : NULL;
}

/* test_train_ckpt.c's small configuration (10 tokens, 32 wide, dim 64). */
static void fz_config(sail_config *c) {
    sail_config_preset(c, "tiny", NULL);
    c->text = (sail_tower){1, 32, 2, 64, 1e-12f, SAIL_ACT_GELU, 0};
    c->vision = (sail_tower){1, 32, 2, 64, 1e-6f, SAIL_ACT_GELU, 1};
    c->fusion = (sail_tower){1, 32, 2, 64, 1e-6f, SAIL_ACT_GELU, 1};
    c->image_size = c->pre_size = c->pre_crop = 32;
    c->dim = 64;
    c->vocab_size = 10;
    c->pad_id = 0, c->unk_id = 1, c->cls_id = 2, c->sep_id = 3;
}

#endif
