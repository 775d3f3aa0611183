/* trainer.h: the training loop. Epochs of shuffled (or hard-negative)
 * batches from the loader, K micro-batches of gradient accumulation per
 * optimiser step, AdamW with warmup + cosine, validation each epoch,
 * checkpoints every N steps, at the end and when asked to stop, and exact
 * resumption. The library never prints: progress goes to a callback. */
#ifndef SAIL_TRAINER_H
#define SAIL_TRAINER_H

#include <signal.h>

#include "checkpoint.h"
#include "dataset.h"

typedef enum sail_train_event_kind {
    SAIL_TRAIN_STEP,        /* an optimiser step finished */
    SAIL_TRAIN_EPOCH,       /* an epoch finished (validation numbers set) */
    SAIL_TRAIN_NOTE         /* msg: a checkpoint written, images dropped, ... */
} sail_train_event_kind;

typedef struct sail_train_event {
    sail_train_event_kind kind;
    int epoch, epochs;      /* epoch is 0-based */
    int64_t step, total_steps;
    double loss;            /* STEP: mean over the step's micro-batches;
                               EPOCH: mean training loss of the epoch */
    double lr, grad_norm;
    double pairs_per_s, eta_s;
    int has_val;            /* EPOCH: validation below is set */
    double val_loss, val_r1_ab, val_r1_ba;  /* R@1 text->other, other->text */
    const char *msg;        /* NOTE */
} sail_train_event;

typedef void (*sail_train_cb)(void *ud, const sail_train_event *ev);

/* Data-parallel training over `size` processes (docs/TRAINING.md, "Several
 * processes"): each runs sail_train with the same options and data and its
 * own rank; every optimiser step's micro-batches are dealt out round-robin
 * and their gradients summed in a fixed order (dist.h), so the run equals a
 * single-process one with size times the grad_accum, bit for bit. The
 * caller supplies the transport (the sail CLI's is MPI). Both calls are
 * collective (every rank makes the same calls in the same order) and only
 * move bytes; they return 0 on success. */
typedef struct sail_train_comm {
    int rank, size;
    void *ctx;
    /* recv (size * bytes): every rank's send (bytes), in rank order */
    int (*allgather)(void *ctx, const void *send, void *recv, size_t bytes);
    /* send, recv (size * bytes each): block q of send goes to rank q and
       arrives there as block `rank` of recv */
    int (*alltoall)(void *ctx, const void *send, void *recv, size_t bytes);
} sail_train_comm;

typedef struct sail_train_opts {
    /* the model: exactly one of resume, init_model, (config + vocab_path) */
    const char *resume;     /* a checkpoint file, or a folder holding checkpoint.gguf */
    const char *init_model; /* fine-tune this model file */
    const char *config;     /* "tiny", "base", "large" */
    const char *vocab_path;
    int image_size;         /* 0: the preset's, or the fine-tuned model's own */
    int patch_size;         /* 0: the preset's (16); new models only */
    const sail_dataset *train, *val;    /* val may be NULL */
    const char *output_dir; /* model.gguf and checkpoint.gguf go here */
    sail_hparams hp;        /* ignored when resuming: the checkpoint's are used */
    sail_loss_opts lo;      /* likewise; n_dims 0: the model's full dimension */
    int threads;            /* compute threads (0: one per core); a resumed
                               run is bit-identical with the same count */
    int loader_workers;     /* >= 1 */
    int save_every;         /* checkpoint every N steps (0: end and stop only) */
    int64_t max_steps;      /* stop (with a checkpoint) once step reaches it; 0: none */
    volatile sig_atomic_t *stop;    /* when it becomes non-zero, the current
                                       step finishes, a checkpoint is written
                                       and the call returns with *stopped = 1 */
    sail_train_cb cb;
    void *ud;
    const sail_train_comm *comm;    /* NULL: one process. Otherwise hp.grad_accum
                                       is per rank (a step has size times as many
                                       micro-batches, and the checkpoint records
                                       that total), only rank 0 validates, calls
                                       cb with epoch results and writes files */
} sail_train_opts;

/* Train. *stopped (may be NULL) is 1 when the run ended early (stop flag or
 * max_steps) after writing its checkpoint, 0 when it finished (model.gguf
 * written). */
sail_status sail_train(const sail_train_opts *o, int *stopped, sail_error *err);

#define SAIL_CHECKPOINT_FILE "checkpoint.gguf"
#define SAIL_MODEL_FILE "model.gguf"

#endif
