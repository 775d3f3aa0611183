/* config.h: a sail model's architecture and hyperparameters, the named
 * presets (tiny, base, large) and their (de)serialisation as GGUF metadata
 * keys under sail.* (see docs/FORMAT.md). */
#ifndef SAIL_CONFIG_H
#define SAIL_CONFIG_H

#include "common.h"
#include "format/gguf.h"

typedef enum sail_act { SAIL_ACT_GELU = 0, SAIL_ACT_QUICK_GELU = 1 } sail_act;
typedef enum sail_pooling { SAIL_POOL_MEAN = 0, SAIL_POOL_MEAN_TANH = 1, SAIL_POOL_CLS = 2 } sail_pooling;

typedef struct sail_tower {
    int layers, width, heads, ffn;
    float eps;
    sail_act act;
    int prenorm;            /* 1: x += f(LN(x)) (ViT); 0: x = LN(x + f(x)) (BERT) */
} sail_tower;

typedef struct sail_config {
    char name[32];
    sail_tower text, vision, fusion;
    int vocab_size, max_positions, type_vocab, context;
    int image_size, patch_size;     /* vision grid = image_size / patch_size */
    int perceiver_latents;          /* 0: image tokens enter fusion directly */
    sail_pooling pooling;
    int dim;                        /* output dimension */
    /* image preprocessing */
    int pre_size, pre_crop;         /* crop 0: squash to pre_size */
    int resample;                   /* sail_resample (PIL numbering) */
    float mean[3], std[3];
    /* tokenizer special ids (from the model file) */
    int pad_id, unk_id, cls_id, sep_id;
} sail_config;

/* Fill a preset ("tiny", "base", "large"); vocab_size and the special ids are
 * left for the caller. Returns SAIL_ERR_INVALID_ARG for an unknown name. */
sail_status sail_config_preset(sail_config *c, const char *name, sail_error *err);

/* Check internal consistency (heads divide widths, image size divisible by
 * the patch, dims in range); the message names the offending field. */
sail_status sail_config_validate(const sail_config *c, sail_error *err);

sail_status sail_config_read(sail_config *c, const gguf_file *f, sail_error *err);
sail_status sail_config_write(const sail_config *c, gguf_writer *w);

/* "key=value ..." one-line description into buf. */
void sail_config_describe(const sail_config *c, char *buf, size_t cap);

#endif
