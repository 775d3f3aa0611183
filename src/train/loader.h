/* loader.h: turns a plan's batches into model inputs ahead of the training
 * step. Worker threads tokenise texts (the model's tokenizer) and decode and
 * preprocess images and video frames (the model's size, mean and std) and clips
 * (the audio tower's front end) into a bounded ring of
 * batches; the consumer takes them strictly in plan order, so what a step
 * sees does not depend on thread timing. */
#ifndef SAIL_LOADER_H
#define SAIL_LOADER_H

#include "dataset.h"
#include "image/image.h"
#include "model/config.h"
#include "model/inputs.h"
#include "train/train.h"

/* One ready batch. Pairs whose image failed to decode are left out (their
 * manifest lines are in dropped_lines); n counts the pairs kept. */
typedef struct sail_batch_data {
    int index;              /* batch number in the plan */
    int kind;               /* sail_pair_kind */
    int n;
    int32_t *items;         /* (n) dataset indices */
    int *group;             /* (n) */
    sail_tinput a, b;       /* each side's texts, images or video frames (the batch's kind) */
    int n_dropped;
    int dropped_lines[8];   /* the first few */
    char dropped_why[200];  /* the first failure's message */
} sail_batch_data;

typedef struct sail_loader sail_loader;

/* A loader for batches of up to max_batch pairs of ds. tok (the model's
 * tokenizer, thread-safe, kept alive by the caller) and c's preprocessing
 * turn items into model inputs.
 * n_workers >= 1 threads, prefetch >= 1 batches held ready ahead. */
sail_loader *sail_loader_new(const sail_dataset *ds, const sail_config *c,
                             const sail_text_tok *tok, int max_batch, int n_workers,
                             int prefetch, sail_error *err);
void sail_loader_free(sail_loader *ld);

/* Start producing batches first..p->n_batches-1 of p (kept alive by the
 * caller until sail_loader_end). */
sail_status sail_loader_begin(sail_loader *ld, const sail_plan *p, int first, sail_error *err);
/* The next batch in order (valid until the next call or sail_loader_end),
 * or *out = NULL after the last. Blocks until it is ready. An error
 * (out of memory, a text the tokenizer rejects) ends the pass. */
sail_status sail_loader_next(sail_loader *ld, const sail_batch_data **out, sail_error *err);
/* Stop the workers (at once, even mid-plan) and join them. */
void sail_loader_end(sail_loader *ld);

#endif
