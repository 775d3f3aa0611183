/* train.h: a trainable sail model. One flat block of f32 parameters (the
 * tensors of sail_weights_walk in file order, then the learnable logit scale),
 * one gradient block of the same layout, a forward pass that keeps its
 * activations, the backward pass of every operation, and the symmetric
 * InfoNCE loss. The optimiser, data loader, checkpoints and CLI build on this
 * (optim.h, loader.h, checkpoint.h).
 *
 * A sail_tmodel is not thread-safe: one call at a time (it uses its own
 * thread pool inside each call).
 *
 * Determinism: for a fixed thread count, the same parameters and batch give
 * bit-identical loss and gradients (no reductions whose order depends on
 * thread timing), so a resumed run reproduces a straight one exactly. */
#ifndef SAIL_TRAIN_IMPL_H
#define SAIL_TRAIN_IMPL_H

#include "model/config.h"
#include "model/inputs.h"
#include "sail_train.h"

typedef struct sail_tmodel sail_tmodel;

/* One parameter tensor inside the flat blocks. */
typedef struct sail_tparam {
    char name[96];      /* model-file name ("text.blk.0.attn_qkv.weight"), or
                           "train.logit_scale" for the temperature */
    size_t offset;      /* into params / grads, in floats (multiple of 16) */
    int64_t rows, cols; /* rows = 1 for vectors */
    int decay;          /* 1: AdamW weight decay applies (matrices, embedding
                           tables); 0: norms, biases, logit scale */
    float lr_scale;     /* its part's learning rate / the base rate; 0: frozen */
    int no_clamp;       /* train.logit_scale of a sigmoid loss (SigLIP): not
                           clamped to [0, log 100] as CLIP's is */
} sail_tparam;

/* sail_part (the parts a run freezes or gives their own learning rate),
 * sail_part_parse and sail_part_name are public: include/sail_train.h. */

/* The part a tensor belongs to. */
sail_part sail_part_of(const char *tensor_name);

/* Per-part learning-rate multipliers (0: frozen: never updated, no
 * gradient computed where the backward can skip it, not in the clipping
 * norm). Applies to every tensor of each part. */
void sail_tmodel_set_parts(sail_tmodel *tm, const float scale[SAIL_N_PARTS]);

/* LoRA adapters (rank, alpha: the update is alpha / rank * B A) on every
 * attention and MLP matrix of the parts in the bit mask `parts` (text,
 * vision, fusion); in those parts only the adapters train afterwards.
 * Adapters start as a no-op (B = 0, A drawn from seed). sail_tmodel_save
 * writes the merged weights W + alpha / rank * B A. */
sail_status sail_tmodel_add_lora(sail_tmodel *tm, int rank, float alpha, int parts, uint64_t seed,
                                 sail_error *err);

/* One side of a batch of pairs: n texts or n images. */
typedef struct sail_tinput {
    const int32_t *ids;     /* texts: [CLS] .. [SEP] ids, concatenated */
    const int *lens;        /* (n) */
    const float *pixels;    /* or images: (n * frames, 3, h, w), normalised */
    int h, w;
    int frames;             /* images per item (a video's frames); 0 or 1: one */
    const float *spec;      /* or, for an audio model, spectrograms (n, 1, h, w): h mel bins,
                               w frames (sail_audio_spectrogram) */
} sail_tinput;

/* The loss's options (sail_loss_opts: Matryoshka prefixes) are public. */

/* A model of config c with seeded weights drawn exactly as
 * sail_model_write_random draws them, logit scale log(1/0.07).
 * n_threads <= 0: one per core. */
sail_tmodel *sail_tmodel_new(const sail_config *c, uint64_t seed, int n_threads,
                             sail_error *err);
/* A trainable copy of a model file's weights (fine-tuning); the logit scale
 * comes from the file's sail.logit_scale key when present. image_size > 0
 * (a multiple of the patch size) moves the model to that size: its vision
 * position grid is resampled bicubically, as inference does at other sizes. */
sail_tmodel *sail_tmodel_load(const char *path, int image_size, int n_threads, sail_error *err);
void sail_tmodel_free(sail_tmodel *tm);

const sail_config *sail_tmodel_config(const sail_tmodel *tm);
size_t sail_tmodel_size(const sail_tmodel *tm);     /* floats in params and grads */
float *sail_tmodel_params(sail_tmodel *tm);         /* (size) */
float *sail_tmodel_grads(sail_tmodel *tm);          /* (size) */
/* Zero the gradients of every tensor that trains (lr_scale != 0). */
void sail_tmodel_zero_grads(sail_tmodel *tm);
int sail_tmodel_n_tensors(const sail_tmodel *tm);
const sail_tparam *sail_tmodel_tensor(const sail_tmodel *tm, int i);

/* n pairs (a[i], b[i]): embed both sides (each side all texts or all images;
 * images at the model's image_size), symmetric InfoNCE over in-batch
 * negatives with logits min(exp(logit_scale), 100) * cos (the clamp stops
 * the gradient, as CLIP's). group (n) may be NULL; items i != j with
 * group[i] == group[j] are both correct answers, so they are dropped from
 * each other's negatives. When backward, grads += d loss / d params (the
 * caller zeroes grads; accumulation over calls is gradient accumulation).
 * *loss receives the loss; emb_a, emb_b (n, dim) may be NULL or receive the
 * L2-normalised embeddings. lo NULL: one term on the full dimension. */
sail_status sail_tmodel_step(sail_tmodel *tm, int n, const sail_tinput *a,
                             const sail_tinput *b, const int *group,
                             const sail_loss_opts *lo, int backward, float *loss,
                             float *emb_a, float *emb_b, sail_error *err);

/* Embed n inputs without gradients: (n, dim) L2-normalised, equal to what
 * sail_forward computes from the same weights. */
sail_status sail_tmodel_embed(sail_tmodel *tm, int n, const sail_tinput *in,
                              float *out, sail_error *err);

/* Write the weights as a sail model file (atomically), with the model's
 * tokenizer (vocab: tokens, and merges for BPE) and the logit scale under
 * sail.logit_scale. */
sail_status sail_tmodel_save(const sail_tmodel *tm, const sail_vocab_kv *vocab,
                             const char *path, sail_error *err);
/* The loss's Matryoshka prefixes, which sail_tmodel_save then records as
 * sail.matryoshka (nothing when the loss uses only the full dimension). */
void sail_tmodel_set_trained_dims(sail_tmodel *tm, const sail_loss_opts *lo);

#endif
