/* checkpoint.h: everything a training run needs to continue exactly where
 * it stopped, in one GGUF file (docs/TRAINING.md lists its keys): the model
 * configuration and vocabulary, the flat parameter block, AdamW's m and v,
 * the step, epoch and position in the epoch's batch order (the order itself
 * is stored), the RNG state, the loss options and the hyper-parameters. A
 * 64-bit checksum over the three float blocks detects a damaged file. The
 * file is written atomically (temp file, fsync, rename, fsync of the
 * directory), so a crash leaves the previous checkpoint intact. */
#ifndef SAIL_CHECKPOINT_H
#define SAIL_CHECKPOINT_H

#include "dataset.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/inputs.h"
#include "train/train.h"

/* sail_hparams is public (include/sail_train.h). */

/* Where a run stands: `step` optimiser steps done; in epoch `epoch`
 * (0-based), `batch` batches of `plan` consumed; rng is the generator's
 * state after this epoch's plan was drawn. */
typedef struct sail_train_pos {
    int64_t step;
    int epoch, batch;
    uint64_t rng;
    const sail_plan *plan;
} sail_train_pos;

sail_status sail_checkpoint_save(const char *path, sail_tmodel *tm, const sail_vocab_kv *vocab,
                                 const sail_hparams *hp, const sail_loss_opts *lo,
                                 const sail_train_pos *pos, const float *m, const float *v,
                                 sail_error *err);

/* A checkpoint opened for resuming; the float blocks point into the file's
 * mapping and live until sail_checkpoint_close. */
typedef struct sail_checkpoint {
    gguf_file *file;
    sail_config cfg;
    sail_vocab_kv vocab;        /* the tokenizer, owned */
    sail_hparams hp;
    sail_loss_opts lo;
    int64_t step;
    int epoch, batch;
    uint64_t rng;
    int32_t *order;             /* (n_order), owned */
    int n_order;
    int32_t *bounds;            /* (n_batches + 1), owned */
    int n_batches;
    size_t n_floats;
    const float *params, *m, *v;    /* (n_floats) each */
} sail_checkpoint;

/* Open and verify (structure, keys, sizes, checksum) a checkpoint file. */
sail_status sail_checkpoint_open(const char *path, sail_checkpoint *ck, sail_error *err);
void sail_checkpoint_close(sail_checkpoint *ck);

/* Check that tm has the layout the checkpoint was saved from (tensor names,
 * offsets, sizes), then copy the parameters into it and m, v into the
 * caller's blocks (sail_tmodel_size floats each). */
sail_status sail_checkpoint_restore(const sail_checkpoint *ck, sail_tmodel *tm, float *m, float *v,
                                    sail_error *err);

#endif
