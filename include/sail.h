/* sail.h: the public C API of sail, an omni-modal embedding engine.
 *
 * Text (Chinese and English) and images, alone or combined, become vectors in
 * one shared space. This header is the API reference: anything not declared
 * here is internal.
 *
 * Conventions
 *   - Every fallible call returns a sail_status (SAIL_OK == 0) or NULL, and
 *     fills the caller's sail_error (which may be NULL) with a message a user
 *     can act on. Outputs are left unchanged on failure.
 *   - Handles are opaque; every load or new call has a matching free, and free(NULL)
 *     is a no-op.
 *   - The library never prints and never exits.
 *   - Vectors are float32, L2-normalised, row-major (n x dim).
 */
#ifndef SAIL_H
#define SAIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SAIL_VERSION_MAJOR 0
#define SAIL_VERSION_MINOR 1
#define SAIL_VERSION_PATCH 0
#define SAIL_VERSION_STRING "0.1.0"

typedef enum sail_status {
    SAIL_OK = 0,
    SAIL_ERR_INVALID_ARG,  /* a caller-supplied argument is wrong */
    SAIL_ERR_IO,           /* open/read/write/mmap failed */
    SAIL_ERR_FORMAT,       /* a file is malformed, truncated or inconsistent */
    SAIL_ERR_NOMEM,        /* an allocation failed */
    SAIL_ERR_UNSUPPORTED,  /* valid input that this build cannot handle */
    SAIL_ERR_LIMIT         /* input exceeds a documented limit */
} sail_status;

typedef struct sail_error {
    sail_status status;
    char msg[512];
} sail_error;

/* A static English name for a status ("format error", ...). Thread-safe. */
const char *sail_status_name(sail_status s);

/* Version string of the linked library. Thread-safe. */
const char *sail_version(void);

/* ---------------------------------------------------------------- model -- */

typedef struct sail_model sail_model;

typedef struct sail_load_options {
    int n_threads;  /* worker threads for compute; 0 = one per core */
} sail_load_options;

/* Load a sail model file (GGUF). The file is mmap-ed read-only and every
 * count, offset and shape is validated before use. Returns NULL on failure.
 * opts may be NULL. Thread-safe. */
sail_model *sail_model_load(const char *path, const sail_load_options *opts,
                            sail_error *err);

/* Free a model and unmap its file. NULL is a no-op. */
void sail_model_free(sail_model *m);

/* Output dimension of the model's vectors (e.g. 512). Thread-safe. */
int sail_model_dim(const sail_model *m);

/* Maximum number of text tokens, [CLS] and [SEP] included. Thread-safe. */
int sail_model_text_context(const sail_model *m);

/* Side in pixels of the square image the vision encoder was trained on. */
int sail_model_image_size(const sail_model *m);

/* The model's configuration as one line of "key=value" pairs separated by
 * spaces, e.g. "arch=sail text_layers=4 ...". The string is owned by the
 * model. Thread-safe. */
const char *sail_model_describe(const sail_model *m);

/* --------------------------------------------------------------- embed --
 * All embed calls write n rows of `dim` floats to out (caller-allocated,
 * n * dim floats). dim is the model's output dimension, or a smaller
 * Matryoshka prefix (the first `dim` components, re-normalised); 0 means
 * the model's full dimension. Each call may be made from any thread: calls
 * on one model are serialised internally; use one model per thread for
 * parallelism across calls (the weights mapping is shared by the OS).
 * Inputs of a batch are independent: a text embedded inside a padded batch
 * gives the same vector as embedded alone. */

/* Embed n UTF-8 texts (NUL-terminated). Texts longer than the model's
 * context are truncated (their [SEP] is kept). */
sail_status sail_embed_texts(sail_model *m, const char *const *texts, int n,
                             int dim, float *out, sail_error *err);

/* Embed n token sequences given as ids (with [CLS]/[SEP] already present);
 * lens[i] tokens for sequence i, concatenated in ids. */
sail_status sail_embed_tokens(sail_model *m, const int32_t *ids,
                              const int *lens, int n, int dim, float *out,
                              sail_error *err);

/* Embed n images given as preprocessed float tensors, each 3 x h x w
 * (channel-major, already resized and normalised with the model's mean and
 * std), concatenated. h and w must be multiples of the patch size; a size
 * other than the training size interpolates position embeddings bicubically. */
sail_status sail_embed_image_tensors(sail_model *m, const float *chw, int n,
                                     int h, int w, int dim, float *out,
                                     sail_error *err);

/* Embed n images given as 8-bit RGB pixels (h x w x 3 each, rows packed,
 * concatenated, all the same size). They are resized and normalised as the
 * model's preprocessing says. */
sail_status sail_embed_images_rgb(sail_model *m, const uint8_t *rgb, int n,
                                  int h, int w, int dim, float *out,
                                  sail_error *err);

/* Embed n image files (JPEG, PNG, WebP, PPM/PGM). */
sail_status sail_embed_image_files(sail_model *m, const char *const *paths,
                                   int n, int dim, float *out,
                                   sail_error *err);

/* Embed n joint text+image inputs: texts[i] together with image file
 * paths[i], fused into one vector each. */
sail_status sail_embed_pairs(sail_model *m, const char *const *texts,
                             const char *const *paths, int n, int dim,
                             float *out, sail_error *err);

/* Token ids of a UTF-8 text (len bytes) exactly as the model receives them:
 * [CLS] wordpieces [SEP], truncated to the model's context (the [SEP] is
 * kept) and right-padded with [PAD]. ids must hold sail_model_text_context(m)
 * entries; *n_real (may be NULL) receives the unpadded length. Invalid UTF-8
 * is replaced by U+FFFD (then dropped by the cleaner). Thread-safe. */
sail_status sail_tokenize(const sail_model *m, const char *text, size_t len, int32_t *ids,
                          int *n_real, sail_error *err);

/* The float tensor an image file becomes before the vision encoder: decoded,
 * resized and normalised as the model file says; 3 x s x s floats with
 * s = sail_model_image_size(m). Thread-safe. */
sail_status sail_image_file_tensor(const sail_model *m, const char *path, float *chw,
                                   sail_error *err);

/* ------------------------------------------------------ in-memory input --
 * For callers whose inputs arrive as bytes (a server, a language binding):
 * per-input work (tokenizing, decoding) can run on the caller's threads and
 * whole batches go to the model. */

/* Number of tokens text (len bytes of UTF-8) becomes, [CLS] and [SEP]
 * included, BEFORE truncation to the model's context (compare it with
 * sail_model_text_context to refuse rather than truncate). Thread-safe. */
sail_status sail_count_tokens(const sail_model *m, const char *text, size_t len, int *n,
                              sail_error *err);

/* Decode an encoded image held in memory (JPEG, PNG, WebP, PPM/PGM; the
 * format is sniffed from the bytes) and preprocess it as
 * sail_image_file_tensor does: 3 x s x s floats into chw, with
 * s = sail_model_image_size(m). Images over max_pixels decoded pixels
 * (0 = the decoder's default limit, 2048 x 2048) or over 2048 on a side are
 * refused with SAIL_ERR_LIMIT before any pixel buffer is allocated.
 * Thread-safe; does not take the model's lock. */
sail_status sail_image_bytes_tensor(const sail_model *m, const void *data, size_t size,
                                    int64_t max_pixels, float *chw, sail_error *err);

/* Embed n encoded images held in memory (data[i], sizes[i] bytes each). */
sail_status sail_embed_image_bytes(sail_model *m, const void *const *data, const size_t *sizes,
                                   int n, int dim, float *out, sail_error *err);

/* Embed n joint text+image inputs already prepared: token ids as
 * sail_embed_tokens takes them and n image tensors from
 * sail_image_bytes_tensor / sail_image_file_tensor (each 3 x s x s). */
sail_status sail_embed_joint_tensors(sail_model *m, const int32_t *ids, const int *lens,
                                     const float *chw, int n, int dim, float *out,
                                     sail_error *err);

/* ---------------------------------------------------------------- init -- */

typedef struct sail_init_options {
    const char *config;      /* "tiny", "base" or "large" */
    const char *vocab_path;  /* WordPiece vocab.txt, one token per line */
    int dim;                 /* output dimension: 256, 512 or 768; 0 = config */
    uint64_t seed;           /* weights are a pure function of the seed */
} sail_init_options;

/* Create a model with seeded random weights and write it to path
 * (atomically: temp file, fsync, rename). Thread-safe. */
sail_status sail_model_init(const sail_init_options *opts, const char *path,
                            sail_error *err);

/* Cosine similarity of two L2-normalised vectors (their dot product). */
float sail_cosine(const float *a, const float *b, int dim);

#ifdef __cplusplus
}
#endif
#endif /* SAIL_H */
