/* model.h: the internal model object and the forward pass. The public
 * sail_model handle (include/sail.h) is this struct. */
#ifndef SAIL_MODEL_H
#define SAIL_MODEL_H

#include <pthread.h>

#include "arena.h"
#include "config.h"
#include "format/gguf.h"
#include "kernels/kernels.h"
#include "inputs.h"
#include "weights.h"

/* Observes intermediate activations (parity tests): name, data (rows, cols). */
typedef void (*sail_trace_fn)(void *ud, const char *name, const float *data,
                              int rows, int cols);

/* The Matryoshka prefixes a trained model file records (sail.matryoshka). */
#define SAIL_MAX_TRAINED_DIMS 4
#define SAIL_TRAINED_DIMS_KEY "sail.matryoshka"

/* A ViT's positions at an input grid other than its own (interpolated)
 * or decoded from a narrower stored type: (prefix + gh*gw, d). */
typedef struct sail_pos_cache {
    float *data;
    int gh, gw;
} sail_pos_cache;

struct sail_model {
    sail_config cfg;
    gguf_file *file;            /* weights point into its mapping */
    float *deq;                 /* f32 copies of 1-D tensors stored narrower */
    size_t deq_bytes;
    void *packed;               /* q8_0 Linear weights in the int8 kernels' panels (wmat.packed) */
    size_t packed_bytes;
    sail_weights w;
    sail_pool *pool;
    sail_text_tok text;         /* the model's tokenizer (inputs.h) */
    pthread_mutex_t lock;       /* serialises forward passes (arena, caches) */
    sail_arena arena;
    sail_arena *part_arenas;    /* (n_part_arenas): a batch split across the threads (forward.c) */
    int n_part_arenas;
    pthread_mutex_t pos_lock;   /* pos, which the parts of a split batch share */
    sail_pos_cache pos[2];      /* the vision tower's and the audio tower's positions (forward.c) */
    char describe[1024];
    char path[256];             /* the file it came from (messages) */
    char wtype[32];             /* sail_model_weight_type */
    int f32_weights;            /* f32 holds the most weight bytes (forward.c's split) */
    int trained_dims[SAIL_MAX_TRAINED_DIMS]; /* sail.matryoshka: the prefixes its loss trained */
    int n_trained_dims;         /* 0: the file does not say */
    sail_trace_fn trace;
    void *trace_ud;
};

/* One homogeneous batch: texts (ids != NULL), images (pixels != NULL),
 * audio (spec != NULL; models with an audio tower), or several of them
 * (joint inputs, item i = text i + image i + clip i; fused models). */
typedef struct sail_batch {
    int n;
    const int32_t *ids;         /* concatenated token ids, [CLS]..[SEP] */
    const int *lens;            /* (n) */
    const float *pixels;        /* (n * frames, 3, h, w), normalised */
    int h, w;
    int frames;                 /* images per item (a video's frames, fused
                                   together); 0 or 1: one */
    const float *spec;          /* (n, mel bins, frames) at the audio tower's input size
                                   (sail_audio_spectrogram) */
} sail_batch;

enum { SAIL_MAX_FRAMES = 64 };  /* images one item may fuse */

/* Run the model on a batch; out (n, cfg.dim) receives L2-normalised vectors.
 * The caller holds m->lock. */
sail_status sail_forward(sail_model *m, const sail_batch *b, float *out, sail_error *err);

/* Embed n spectrograms (n, h, w) of the model's audio tower input size
 * (sail_audio_spectrogram) in batches: the last step of the audio embed
 * calls (src/api). Takes m->lock. */
sail_status sail_embed_spectrograms(sail_model *m, const float *spec, int n, int dim, float *out,
                                    sail_error *err);

/* Write a model of config c (vocab_size tokens, special ids set) with
 * weights drawn from seed: N(0, 0.02) matrices and embeddings, zero biases,
 * unit norms. Used by sail_model_init and by tests for custom shapes. */
sail_status sail_model_write_random(const sail_config *c, const char *const *tokens,
                                   uint64_t seed, const char *path, sail_error *err);

/* Bicubic (A = -0.75, align_corners=True, as torch.nn.functional.interpolate)
 * resampling of a (gi, gi, d) grid to (gh, gw, d), rows of d floats. */
void sail_interp_bicubic(float *dst, int gh, int gw, const float *src, int gi, int d);
/* The same along one axis: each of rows rows of n_in floats to n_out
 * (HTSAT's time stretch, a bicubic interpolation whose other axis keeps
 * its size and so its values). */
void sail_interp_cubic_rows(float *dst, int n_out, const float *src, int n_in, int rows);
/* Its transpose, for training: dsrc (rows, n_in) = the gradient of src
 * from ddst (rows, n_out) (overwritten). */
void sail_interp_cubic_rows_backward(float *dsrc, int n_in, const float *ddst, int n_out, int rows);

#endif
