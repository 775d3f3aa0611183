/* sail_train.h: the public C API of training and evaluation (what `sail
 * train`, `sail finetune`, `sail data` and `sail eval` do), beside
 * include/sail.h.
 *
 * A header of its own because the surface is large and only trainers need
 * it: manifests of pairs, hyper-parameters, the parts of a model, progress
 * events, the transport of a multi-process run, the generated training
 * sets (`sail data`), recall. A user who only embeds includes sail.h alone.
 * The conventions are sail.h's: fallible calls return a sail_status and
 * fill a sail_error with a message a user can act on; nothing here prints.
 * docs/TRAINING.md describes the training, the manifest format and the
 * hard negatives; docs/DATA.md the generated sets. */
#ifndef SAIL_TRAIN_H
#define SAIL_TRAIN_H

#include "sail.h"

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ manifests --
 * Training and evaluation pairs from a JSON-lines manifest. */

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
 * cannot be read, or it holds no usable pair. Free with sail_dataset_free
 * (a zeroed dataset is a no-op). Thread-safe. */
sail_status sail_dataset_load(const char *path, sail_dataset *ds, sail_error *err);
void sail_dataset_free(sail_dataset *ds);

/* ---------------------------------------------------------------- parts --
 * The parts of a model that can be frozen or given their own learning rate,
 * by tensor name: text.* (the text tower), vis.*, aud.* (with its projection
 * fuse.aud_proj.*, so that a tower added to a trained model trains with the
 * fusion frozen) or CLAP's HTSAT audio.* (its fuse.aud_proj.* is then the
 * fusion's, so it learns around a frozen HTSAT), fuse.* (projections into
 * the fusion, modality embeddings, perceiver, fusion layers), head.* (and
 * an imported model's {text,vis}.{proj,pooler}.*: its heads), and the
 * loss's temperature (train.logit_scale). */
typedef enum sail_part {
    SAIL_PART_TEXT, SAIL_PART_VISION, SAIL_PART_FUSION, SAIL_PART_HEAD, SAIL_PART_TEMPERATURE,
    SAIL_PART_AUDIO,    /* aud.*: after the others, so older checkpoints' part tables still read */
    SAIL_N_PARTS
} sail_part;

/* "text", "vision", "fusion", "head", "temperature", "audio" (len bytes of
 * name) -> part; -1 if unknown. */
int sail_part_parse(const char *name, size_t len);
const char *sail_part_name(sail_part p);

/* ------------------------------------------------------------- training -- */

/* The loss: sum over k of weights[k] * InfoNCE on the first dims[k]
 * components (re-normalised) of the embeddings: Matryoshka. */
typedef struct sail_loss_opts {
    int n_dims;             /* 1..4 */
    int dims[4];            /* e.g. {512, 256, 128}; each <= the model's dim */
    float weights[4];
} sail_loss_opts;

typedef struct sail_hparams {
    double lr, weight_decay, max_grad_norm, min_lr_ratio;
    double beta1, beta2, eps;
    int epochs, batch_size, warmup_steps, grad_accum, hard_negatives;
    uint64_t seed;
    float part_lr[SAIL_N_PARTS]; /* a part's own peak learning rate; 0: lr */
    int frozen;                  /* bit p: part p is frozen */
    int lora_rank, lora_parts;   /* LoRA adapters (0: none) on the parts of the bit mask */
    float lora_alpha;
} sail_hparams;

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
 * and their gradients summed in a fixed order, so the run equals a
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

/* Train: epochs of shuffled (or hard-negative) batches, K micro-batches of
 * gradient accumulation per optimiser step, AdamW with warmup + cosine,
 * validation each epoch, checkpoints every save_every steps, at the end and
 * when asked to stop, and exact resumption. Progress goes to o->cb (on the
 * calling thread). *stopped (may be NULL) is 1 when the run ended early
 * (stop flag or max_steps) after writing its checkpoint, 0 when it finished
 * (model.gguf written). Not thread-safe (one run per process). */
sail_status sail_train(const sail_train_opts *o, int *stopped, sail_error *err);

#define SAIL_CHECKPOINT_FILE "checkpoint.gguf"
#define SAIL_MODEL_FILE "model.gguf"

/* -------------------------------------------------------- training data --
 * sail's own training sets (`sail data`; docs/DATA.md): each generator
 * writes an image (or audio) folder and JSON-lines manifests in the format
 * sail_dataset_load reads ({"text", "image", "lang", "group"}, sound lines
 * add "audio"). sail_data_speech and sail_data_stamps need libespeak-ng
 * (GPL-3+), libsox and librsvg/cairo: they are built into the `sail`
 * program (the Makefile's MEDIA_SRC), not into libsail, whose users link
 * src/data/{sound,speech,stamps}.c themselves to call them. */

/* Progress callback: done of total units (images, emoji, clips) so far,
 * called on the generator's calling thread. */
typedef void (*sail_data_progress)(void *ctx, long done, long total);

typedef struct sail_shapes_options {
    long n;                  /* images (>= 1) */
    uint64_t seed;
    int side;                /* image side, 32..1024 (default 128) */
    int en, zh;              /* caption languages to write */
    int threads;             /* render threads; 0: one per core, 1: the caller */
} sail_shapes_options;

typedef struct sail_data_stats {
    long images;
    long lines[4];           /* per manifest, in the order the generator names */
    long skipped[4];         /* emoji: no glyph, no zh name, keyword lines shared
                                by several emoji (dropped), unused */
} sail_data_stats;

/* Write dir/images/NNNNNN.png and dir/{train,val,test,test_novel}.jsonl.
 * Creates dir if needed. Same options -> same bytes. */
sail_status sail_data_shapes(const char *dir, const sail_shapes_options *o,
                             sail_data_progress progress, void *ctx,
                             sail_data_stats *stats, sail_error *err);

typedef struct sail_emoji_options {
    int side;                /* output image side, 16..1024 (default 128) */
    long limit;              /* stop after this many emoji (0: all) */
    const char *font;        /* NULL: Debian's NotoColorEmoji.ttf */
    const char *emoji_test;  /* NULL: Debian unicode-data's emoji-test.txt */
    const char *cldr_dir;    /* NULL: Debian unicode-cldr-core's common/ */
} sail_emoji_options;

/* Write dir/images/<codepoints>.png and dir/{train,test}.jsonl. */
sail_status sail_data_emoji(const char *dir, const sail_emoji_options *o,
                            sail_data_progress progress, void *ctx,
                            sail_data_stats *stats, sail_error *err);

typedef struct sail_speech_options {
    const char *data;        /* a folder written by sail data shapes|emoji|stamps */
    uint64_t seed;
    int variants;            /* clips per manifest line, 1..16 */
    long limit;              /* first `limit` lines of each manifest (0: all) */
    int snr_min, snr_max;    /* additive white noise at a uniform SNR in dB */
    int reverb;              /* percent of clips with reverb */
    int clean;               /* no noise, no reverb */
    int threads;             /* espeak-ng children at once (0: one per core); the bytes do not change */
} sail_speech_options;

/* Speak every line of data/{train,val,test,test_novel}.jsonl (those that
 * exist) with espeak-ng (voice "en" or "cmn" by the line's lang), each in
 * `variants` seeded speeds and pitches, augmented, as
 * data/audio/<split>/<line>-<variant>.wav and data/speech_<split>.jsonl
 * lines {"text", "audio", "image", "lang", "group"}. stats->lines[k] counts
 * clips per split in that order, skipped[0] lines of another language.
 * Same options -> same bytes, whatever o->threads. Not thread-safe (espeak-ng
 * is one instance per process; the clips are spoken in forked children). */
sail_status sail_data_speech(const sail_speech_options *o, sail_data_progress progress, void *ctx,
                             sail_data_stats *stats, sail_error *err);

typedef struct sail_stamps_options {
    const char *stamps;      /* NULL: /usr/share/tuxpaint/stamps */
    uint64_t seed;           /* of the split */
    int side;                /* image side, 16..1024 */
    long limit;              /* first `limit` stamps in path order (0: all);
                                groups and splits are those of the full set */
} sail_stamps_options;

typedef struct sail_stamps_stats {
    long stamps[3];          /* per split: train, val, test */
    long lines[3];           /* image-text lines per split */
    long sound_lines[3];     /* sound lines per split */
    long sounds;             /* sound files converted */
    long svg;                /* stamps rendered from SVG */
    long no_txt;             /* pictures without a description (skipped) */
    long no_image;           /* descriptions without a picture (skipped) */
    long zh_shared;          /* Chinese texts of several groups (dropped) */
} sail_stamps_stats;

/* Write dir/images/<stamp>.png (side x side over white), dir/audio/<stamp>
 * .wav and <stamp>_desc.wav (16 kHz mono), dir/{train,val,test}.jsonl
 * ({"text", "image", "lang", "group"}: English, and Chinese where zh_CN
 * exists) and dir/sounds_{train,val,test}.jsonl ({"text", "audio",
 * "image", "lang", "group"}). <stamp> is the path below the stamps folder
 * without extension; group is the path of the first stamp with the same
 * English text. Same options -> same bytes. Not thread-safe. */
sail_status sail_data_stamps(const char *dir, const sail_stamps_options *o, sail_data_progress progress,
                             void *ctx, sail_stamps_stats *stats, sail_error *err);

/* ----------------------------------------------------------- evaluation --
 * Retrieval recall at 1, 5 and 10 (`sail eval`): text->image and
 * image->text for text-image pairs (over distinct images, by path),
 * text->text for text pairs, and query->item for every other kind of pair,
 * each kind among its own. A retrieved item is a hit when it belongs to the
 * query's pair or to any pair of the same group; ties in score are resolved
 * in favour of a hit. */

/* A progress or warning line (an image or pair that could not be embedded
 * and is left out), without the command's prefix or a newline. */
typedef void (*sail_eval_note)(void *ud, const char *msg);

typedef struct sail_eval_options {
    const char *path;       /* the manifest's name in messages */
    const char *lang;       /* only pairs whose "lang" is this; NULL: all */
    int dim;                /* Matryoshka prefix; 0: the model's dimension */
    sail_eval_note note;    /* NULL: notes are dropped */
    void *ud;
} sail_eval_options;

typedef struct sail_eval_kind {
    char label[64];         /* "query->item" shapes, e.g. "text->text+video" */
    int n;                  /* queries counted */
    double r[3];            /* R@1, R@5, R@10 */
} sail_eval_kind;

typedef struct sail_eval_result {
    int dim;                /* the vectors' dimension */
    int n;                  /* pairs evaluated (all three families) */
    int n_text_image;       /* text-image pairs whose image could be read */
    int n_images;           /* their distinct images */
    int n_text_text, n_query_item;
    double text_to_image[3], image_to_text[3];  /* set when n_text_image > 0 */
    double text_to_text[3];                     /* set when n_text_text > 0 */
    double query_to_item[3];                    /* over every kind; n_query_item > 0 */
    int n_kinds;
    sail_eval_kind kinds[SAIL_PAIR_KINDS];      /* (n_kinds) per kind, in kind order */
} sail_eval_result;

/* Embed every side of ds's pairs with m through the public embed calls and
 * measure recall into *r. An image or pair side that cannot be embedded is
 * reported through o->note and left out; running out of memory, a model
 * that cannot embed a kind, no pair (with o->lang) or no usable pair at all
 * are errors. o may be NULL. Thread-safe as the embed calls are. */
sail_status sail_evaluate(sail_model *m, const sail_dataset *ds, const sail_eval_options *o,
                          sail_eval_result *r, sail_error *err);

#ifdef __cplusplus
}
#endif

#endif
