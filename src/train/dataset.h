/* dataset.h: training pairs from a JSONL manifest (public:
 * include/sail_train.h), and the order in which an
 * epoch visits them (a "plan": shuffled, sequential, or built around hard
 * negatives). Format and the hard-negative method: docs/TRAINING.md. */
#ifndef SAIL_DATASET_H
#define SAIL_DATASET_H

#include "common.h"
#include "rng.h"
#include "sail_train.h"

/* The manifest types (sail_side, sail_pair, sail_dataset) and its reader
 * (sail_dataset_load) are public: include/sail_train.h. */

/* The pairs of an epoch, cut into homogeneous batches: batch b is
 * order[bounds[b] .. bounds[b+1]). */
typedef struct sail_plan {
    int32_t *order;         /* (n) item indices */
    int n;
    int32_t *bounds;        /* (n_batches + 1) */
    int n_batches;
} sail_plan;

/* The plan builders below replace *p, which must be zero-initialised or
 * hold a plan (it is freed first). */

/* Every pair once, in file order, kinds apart, batches of up to `batch`
 * (validation and embedding passes). */
sail_status sail_plan_sequential(const sail_dataset *ds, int batch, sail_plan *p, sail_error *err);

/* A training epoch: each kind's pairs shuffled (Fisher-Yates on rng), cut
 * into batches of `batch` (a final batch of fewer than 2 pairs is dropped: a
 * contrastive loss needs a negative), and the batches shuffled together. */
sail_status sail_plan_shuffle(const sail_dataset *ds, int batch, sail_rng *rng, sail_plan *p,
                              sail_error *err);

/* A training epoch built around hard negatives: ea, eb (n, dim) are the
 * embeddings of each pair's two sides from the current model. Seeds are
 * visited in a shuffled order; each unplaced seed opens or joins the current
 * batch together with its k unplaced pairs of other groups that are most
 * similar to it (cosine of the seed's side a with their side b), until the
 * batch is full. Batches are then shuffled. Same kinds only. */
sail_status sail_plan_hard(const sail_dataset *ds, int batch, int k, const float *ea,
                           const float *eb, int dim, sail_rng *rng, sail_plan *p,
                           sail_error *err);

void sail_plan_free(sail_plan *p);

/* Replace *p with a copy of order/bounds (resuming from a checkpoint);
 * every index is checked against ds. */
sail_status sail_plan_set(const sail_dataset *ds, const int32_t *order, int n,
                          const int32_t *bounds, int n_batches, sail_plan *p, sail_error *err);

#endif
