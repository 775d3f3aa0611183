/* train_batch.h: the random batch bench_train and bench_finetune time a
 * training step on: n pairs of a 16-token text ([CLS], 14 ids, [SEP]) and
 * an image of normal noise, drawn in the same order by both. */
#ifndef SAIL_BENCH_TRAIN_BATCH_H
#define SAIL_BENCH_TRAIN_BATCH_H

#include "rng.h"
#include "train/train.h"

#include <stdlib.h>

#define BENCH_TEXT_LEN 16

typedef struct bench_batch {
    float *pix;         /* (n, 3, image, image) */
    int32_t *ids;       /* (n, BENCH_TEXT_LEN) */
    int *lens;          /* (n) */
    sail_tinput text, imgs;
} bench_batch;

/* Fills b with n pairs at image x image pixels for the model c, the text
 * ids drawn from [lo, lo + span), from a generator seeded with 7. Returns
 * 0, or -1 when out of memory (b is then freed). */
static inline int bench_batch_make(bench_batch *b, const sail_config *c, int n, int image, int32_t lo,
                                   uint64_t span) {
    sail_rng rng = {7};
    size_t npix = (size_t)n * 3 * image * image;
    b->pix = malloc(npix * sizeof(float));
    b->ids = malloc((size_t)n * BENCH_TEXT_LEN * sizeof(int32_t));
    b->lens = malloc((size_t)n * sizeof(int));
    if (!b->pix || !b->ids || !b->lens) {
        free(b->pix), free(b->ids), free(b->lens);
        return -1;
    }
    for (size_t i = 0; i < npix; i++) b->pix[i] = sail_rng_normal(&rng);
    for (int i = 0; i < n; i++) {
        int32_t *t = b->ids + (size_t)i * BENCH_TEXT_LEN;
        t[0] = c->cls_id;
        for (int k = 1; k < BENCH_TEXT_LEN - 1; k++) t[k] = lo + (int32_t)(sail_rng_next(&rng) % span);
        t[BENCH_TEXT_LEN - 1] = c->sep_id;
        b->lens[i] = BENCH_TEXT_LEN;
    }
    b->text = (sail_tinput){.ids = b->ids, .lens = b->lens};
    b->imgs = (sail_tinput){.pixels = b->pix, .h = image, .w = image};
    return 0;
}

static inline void bench_batch_free(bench_batch *b) { free(b->pix), free(b->ids), free(b->lens); }

#endif
