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

/* Memory a loaded model holds, in bytes. Thread-safe. */
typedef struct sail_model_memory {
    size_t file_bytes;      /* the mmap-ed model file (weights stored as f32 are used from it) */
    size_t widened_bytes;   /* f32 copies of weights stored as f16/bf16/q8_0 */
    size_t arena_bytes;     /* activation arena: high-water mark of the passes so far */
} sail_model_memory;
void sail_model_memory_usage(const sail_model *m, sail_model_memory *out);

/* The zero-shot logit scale: exp of the model file's sail.logit_scale (a
 * log value, as CLIP stores it), at most 100 (CLIP's clamp); 1/0.07 (CLIP's
 * initial value) when the file has none. Scores are scale * cosine.
 * Thread-safe. */
float sail_model_logit_scale(const sail_model *m);

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

/* Rewrite the model file `in` to `out` with its weight matrices stored as
 * type "f32", "f16", "bf16" or "q8_0" (ggml's blocks of 32 int8 values with
 * one f16 scale). Norms and biases stay f32; a matrix whose rows are not
 * whole q8_0 blocks is stored as f16. Loading widens stored weights to f32
 * once, so quantizing shrinks the file, not the compute. Thread-safe. */
sail_status sail_model_quantize(const char *in, const char *out, const char *type,
                                sail_error *err);

/* ------------------------------------------------------------- convert -- */

typedef struct sail_convert_options {
    const char *from;  /* "auto" or NULL (from config.json), "hf-clip", "hf-chinese-clip",
                          "hf-bert", "hf-vit" */
    const char *type;  /* tensor type written: "f32" or NULL (the only one for now) */
    const char *pool;  /* hf-bert: "cls" (default), "pooler", "mean"; hf-vit: "cls", "pooler" */
} sail_convert_options;

/* Convert a Hugging Face model folder (config.json; model.safetensors,
 * sharded safetensors or pytorch_model.bin; tokenizer files;
 * preprocessor_config.json) into a sail model file at out_path (atomically).
 * pytorch_model.bin is read without executing its pickle. Every tensor is
 * checked against config.json; the error names anything missing,
 * misshaped or unexpected. opts may be NULL. Thread-safe. */
sail_status sail_convert(const char *dir, const char *out_path,
                         const sail_convert_options *opts, sail_error *err);

/* Cosine similarity of two L2-normalised vectors (their dot product). */
float sail_cosine(const float *a, const float *b, int dim);

#ifdef __cplusplus
}
#endif
#endif /* SAIL_H */
