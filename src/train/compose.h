/* compose.h: a fused sail model built from pretrained towers, as the
 * SAIL-Embedding report starts: the text tower of one model, the vision
 * tower of another (or the same), fresh fusion layers, pooling and
 * projection (docs/TRAINING.md, "Composing a model"). */
#ifndef SAIL_COMPOSE_H
#define SAIL_COMPOSE_H

#include "common.h"

typedef struct sail_compose_opts {
    const char *text;           /* model file whose text tower is taken */
    const char *vision;         /* model file whose vision tower is taken */
    int fusion_layers;          /* >= 0 (0: pool the projected tokens) */
    int fusion_width;           /* 0: the wider tower's width */
    int perceiver_latents;      /* 0: none */
    int dim;                    /* output dimension, 1..8192 */
    uint64_t seed;              /* the fresh parts' initialisation */
    int scratch;                /* 1: every weight fresh (the same architecture
                                   untrained, a baseline) */
} sail_compose_opts;

/* Write the composed model to path (atomically). The towers keep their
 * weights (as f32), their layout (BERT's, CLIP's or SigLIP's: causal
 * attention, norms, patch bias, texts padded to the context, a class token
 * or none), the text side its tokenizer (WordPiece, CLIP's BPE or SigLIP's
 * SentencePiece) and the vision side its preprocessing; fusion, perceiver,
 * head and temperature are new (an imported model's own pooling heads and
 * projections are left behind). A file without the tower asked for is
 * SAIL_ERR_UNSUPPORTED with the reason. */
sail_status sail_compose(const sail_compose_opts *o, const char *path, sail_error *err);

#endif
