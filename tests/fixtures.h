/* fixtures.h: the micro model shared by the C tests that write one with
 * sail_model_write_random (16-token vocabulary, one 8-wide layer per tower,
 * 16x16 images in 8x8 patches); their files go through scratch.h. */
#ifndef SAIL_TESTS_FIXTURES_H
#define SAIL_TESTS_FIXTURES_H

#include "model/model.h"
#include "scratch.h"
#include "test.h"

static const char *const micro_tokens[16] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d",
                                             "e", "f", "g", "h", "i", "j", "k", "l"};

static inline sail_config micro(void) {
    sail_config c;
    sail_config_preset(&c, "tiny", NULL);
    c.text = (sail_tower){1, 8, 2, 16, 1e-12f, SAIL_ACT_GELU, 0};
    c.vision = (sail_tower){1, 8, 2, 16, 1e-6f, SAIL_ACT_GELU, 1};
    c.fusion = (sail_tower){1, 8, 2, 16, 1e-6f, SAIL_ACT_GELU, 1};
    c.vocab_size = 16;
    c.max_positions = c.context = 16;
    c.image_size = c.pre_size = c.pre_crop = 16;
    c.patch_size = 8;
    c.dim = 8;
    c.pad_id = 0, c.unk_id = 1, c.cls_id = 2, c.sep_id = 3;
    return c;
}

/* Writes the micro model made from `seed` to path and loads it, checking
 * both steps. Returns the model (free with sail_model_free) or NULL. */
static inline sail_model *micro_model(const char *path, uint64_t seed) {
    sail_config c = micro();
    sail_error err = {0};
    CHECK(!sail_model_write_random(&c, micro_tokens, seed, path, &err), "write a micro model %s", err.msg);
    sail_model *m = sail_model_load(path, NULL, &err);
    CHECK(m != NULL, "load it %s", err.msg);
    return m;
}

#endif
