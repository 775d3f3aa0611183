/* dataset.h: training pairs from a JSONL manifest, and the order in which an
 * epoch visits them (a "plan": shuffled, sequential, or built around hard
 * negatives). Format and the hard-negative method: docs/TRAINING.md. */
#ifndef SAIL_DATASET_H
#define SAIL_DATASET_H

#include "common.h"
#include "rng.h"

/* One side of a pair: a text, an image, a video (its frames), a sound, or
 * several of them together: one joint item (a product's title and photo, a
 * clip and its caption, a spoken description) that the fusion layers see
 * as one input. */
typedef struct sail_side {
    char *text;             /* UTF-8, or NULL */
    char *image;            /* a path (resolved against the manifest's folder), or NULL */
    char *video;            /* a path, or NULL; never with image */
    char *audio;            /* a path (an audio file, or a video: its sound), or NULL */
} sail_side;

/* A side's shape: the parts it has. */
enum { SAIL_SIDE_TEXT = 1, SAIL_SIDE_IMAGE = 2, SAIL_SIDE_VIDEO = 4, SAIL_SIDE_AUDIO = 8 };
int sail_side_shape(const sail_side *s);

/* Pairs of one kind (the shapes of both sides) share batches. The three
 * kinds with a text query keep the numbers they always had: plans visit
 * kinds in order, so older manifests shuffle as before. */
typedef enum sail_pair_kind {
    SAIL_PAIR_IMAGE = 0,    /* text -> image */
    SAIL_PAIR_TEXT = 1,     /* text -> text2 */
    SAIL_PAIR_JOINT = 2,    /* text -> text + image */
    SAIL_PAIR_KINDS = 256   /* any other: shape_a * 16 + shape_b */
} sail_pair_kind;
int sail_pair_kind_of(int shape_a, int shape_b);

typedef struct sail_pair {
    sail_side a, b;         /* the query side and the item side */
    int kind;               /* sail_pair_kind_of(shapes of a and b) */
    int group;              /* pairs of one group are all correct answers for
                               each other; a line without "group" gets its own */
    int line;               /* 1-based line in the manifest */
    char lang[8];           /* "" when absent */
} sail_pair;

enum { SAIL_DATASET_MAX_REPORTS = 5 };

typedef struct sail_dataset {
    sail_pair *items;       /* (n) */
    int n;
    int n_groups;
    int n_kind[SAIL_PAIR_KINDS]; /* pairs per sail_pair_kind */
    int n_skipped;          /* malformed lines, missing images */
    int skipped_lines[SAIL_DATASET_MAX_REPORTS];
    char skipped_why[SAIL_DATASET_MAX_REPORTS][200];
} sail_dataset;

/* Read a manifest: one JSON object per line, {"text": T, "image": PATH},
 * {"text": T, "text2": T2}, {"text": T, "video": PATH}, or {"query": Q,
 * "item": I} where Q and I are each a text or an object with "text",
 * "image" or "video", and "audio" (several parts make a joint item); the
 * plain form also takes {"text": T, "audio": PATH} (beside an "image",
 * "text2" or "video", "audio" is not part of the pair),
 * with optional "group" (string or integer) and "lang".
 * Blank lines are ignored. A malformed line, or an image or video path that
 * is not a readable regular file, is skipped and counted (the first few with
 * their line numbers and reasons); that is not an error. Errors: the file
 * cannot be read, or it holds no usable pair. */
sail_status sail_dataset_load(const char *path, sail_dataset *ds, sail_error *err);
void sail_dataset_free(sail_dataset *ds);

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
