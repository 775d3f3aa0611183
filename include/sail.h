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
    SAIL_ERR_LIMIT,        /* input exceeds a documented limit */
    SAIL_ERR_UNAVAILABLE   /* a service the call needs (the Redis of a
                              redis:// index) cannot be reached, timed out
                              or is busy: retrying later may succeed */
} sail_status;

typedef struct sail_error {
    sail_status status;
    char msg[512];
} sail_error;

/* A static English name for a status ("format error", ...). Thread-safe. */
const char *sail_status_name(sail_status s);

/* Version string of the linked library. Thread-safe. */
const char *sail_version(void);

/* The instruction-set level the kernels run at, chosen once from CPUID and
 * capped by the environment variable SAIL_ISA: "ref", "avx2", "avx512",
 * "avx512vnni", "avx512bf16" or "amx" (Intel AMX tiles for bf16 and q8_0
 * weights). A static string. Thread-safe. */
const char *sail_kernel_level(void);

/* Read the whole file path, at most max_len bytes (a larger file is
 * SAIL_ERR_LIMIT), into *buf (len bytes, free with sail_free). Thread-safe. */
sail_status sail_read_file(const char *path, size_t max_len, unsigned char **buf, size_t *len,
                           sail_error *err);

/* The library's allocator: a buffer a call hands over "to free with
 * sail_free" (sail_npy_read's matrix, ...) goes back through it, and
 * sail_malloc makes one of the same kind. NULL when n bytes cannot be had;
 * sail_free(NULL) is a no-op. Thread-safe. */
void *sail_malloc(size_t n);
void sail_free(void *p);

/* ---------------------------------------------------------------- model -- */

typedef struct sail_model sail_model;

typedef struct sail_load_options {
    int n_threads;  /* worker threads for compute; 0 = one per core */
    int no_repack;  /* 1: use q8_0 (and bf16) matrices only as stored (less memory, slower
                       batches); 0: copy each into the CPU's kernel layout at its second
                       use by a product that reads that layout (bf16: with AVX-512 BF16
                       or AMX, past 64 rows) */
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

/* Maximum number of text tokens, [CLS] and [SEP] (or, for imported CLIP
 * models, the start and end tokens) included. Thread-safe. */
int sail_model_text_context(const sail_model *m);

/* Side in pixels of the square image the vision encoder was trained on. */
int sail_model_image_size(const sail_model *m);

/* The model's configuration as one line of "key=value" pairs separated by
 * spaces, e.g. "arch=sail text_layers=4 ...". The string is owned by the
 * model. Thread-safe. */
const char *sail_model_describe(const sail_model *m);

/* What `sail info` prints about the model file at path, without loading
 * its weights: the file's size and GGUF version, the configuration of each
 * tower, the fusion and the preprocessing, the parameter count and the
 * tensors per storage type; with_tensors adds a line per tensor (name, type,
 * shape). *text is UTF-8 lines ending in '\n', the caller's (free with
 * sail_free). A file that is not a valid model is SAIL_ERR_FORMAT (or
 * SAIL_ERR_IO), its message naming the file. Thread-safe. */
sail_status sail_model_file_info(const char *path, int with_tensors, char **text, sail_error *err);

/* Memory a loaded model holds, in bytes. Thread-safe. */
typedef struct sail_model_memory {
    size_t file_bytes;      /* the mmap-ed model file: every weight is used from it, in its
                               stored type (f32, f16, bf16 or q8_0), never widened */
    size_t widened_bytes;   /* f32 copies of 1-D tensors (norms, biases) a file stores
                               narrower; 0 for files sail writes */
    size_t arena_bytes;     /* activation arenas (one, or one a thread for batches split across them): high-water marks of the passes so far */
    size_t repacked_bytes;  /* room for q8_0 weight matrices copied into the int8 kernels'
                               layout (about 1.06x their stored bytes on AVX-512, 2x on
                               AVX2, which keeps |w| beside w), and with AVX-512 BF16 or
                               AMX for bf16 ones in the kernels' layout (about 1.0x);
                               filled as each is used; 0 with no_repack, for other
                               types, or where the CPU has no such kernel */
} sail_model_memory;
void sail_model_memory_usage(const sail_model *m, sail_model_memory *out);

/* How the model's weight matrices are stored: "f32", "f16", "bf16" or
 * "q8_0", with "+..." for a minority of another type (sail quantize keeps
 * matrices whose rows are not whole q8_0 blocks in f16). Thread-safe. */
const char *sail_model_weight_type(const sail_model *m);

/* The zero-shot logit scale: exp of the model file's sail.logit_scale (a
 * log value, as CLIP stores it), at most 100 (CLIP's clamp) unless the model
 * has a logit bias (SigLIP trains its scale unclamped); 1/0.07 (CLIP's
 * initial value) when the file has none. Scores are scale * cosine.
 * Thread-safe. */
float sail_model_logit_scale(const sail_model *m);

/* A model trained with the sigmoid loss (SigLIP) has a learned logit bias:
 * its zero-shot probability of a label is sigmoid(scale * cosine + bias),
 * each label on its own. Returns 1 and sets *bias for such a model, else 0.
 * Thread-safe. */
int sail_model_logit_bias(const sail_model *m, float *bias);

/* The Matryoshka prefixes the model was trained for (`sail train
 * --matryoshka`, recorded in the file as sail.matryoshka): writes at most
 * cap of them to dims (may be NULL) and returns how many there are; 0 when
 * the file does not say (imported models, older files). A --dim outside
 * them still works, but its prefix was never optimised. Thread-safe. */
int sail_model_trained_dims(const sail_model *m, int *dims, int cap);

/* --------------------------------------------------------------- embed --
 * All embed calls write n rows of `dim` floats to out (caller-allocated,
 * n * dim floats). dim is the model's output dimension, or a smaller
 * Matryoshka prefix (the first `dim` components, re-normalised); 0 means
 * the model's full dimension. Each call may be made from any thread: calls
 * on one model are serialised internally; use one model per thread for
 * parallelism across calls (the weights mapping is shared by the OS).
 * Inputs of a batch are independent: a text embedded inside a padded batch
 * gives the same vector as embedded alone, to float rounding (padding changes
 * GEMM shapes, so components may differ by ~1e-7; bit-identical when the
 * batch's padded length is the same).
 * Every embedding call checks its output: a vector with a NaN or Inf (a model
 * whose weights are damaged) is SAIL_ERR_FORMAT naming the model file, never
 * returned. */

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
 * [CLS] wordpieces [SEP] (imported CLIP models: start, CLIP BPE pieces,
 * end), truncated to the model's context (the [SEP] is
 * kept) and right-padded with [PAD]. ids must hold sail_model_text_context(m)
 * entries; *n_real (may be NULL) receives the unpadded length. Invalid UTF-8
 * is replaced by U+FFFD (then dropped by the cleaner). Thread-safe. */
sail_status sail_tokenize(const sail_model *m, const char *text, size_t len, int32_t *ids,
                          int *n_real, sail_error *err);

/* A tokenizer read from its own file, without a model (`sail tokenize
 * --vocab`): the pieces a model's tokenizer gives, without special tokens. */
typedef struct sail_tokenizer sail_tokenizer;

/* Load path as type "wordpiece" (a BERT vocab.txt, as Chinese-CLIP's
 * tokenizer reads it), "bpe" (OpenAI CLIP's merges: bpe_simple_vocab_16e6.txt.gz
 * or merges.txt) or "spm" (a SentencePiece spiece.model with
 * SiglipTokenizer's defaults: lower-case, </s> and <unk>). type NULL
 * chooses by the name: bpe for *.gz, spm for *.model, else wordpiece.
 * NULL on failure. Free with sail_tokenizer_free (NULL is a no-op). */
sail_tokenizer *sail_tokenizer_load(const char *path, const char *type, sail_error *err);
void sail_tokenizer_free(sail_tokenizer *t);

/* Token ids of len bytes of UTF-8 (invalid sequences become U+FFFD, as
 * bytes.decode(errors="replace") does), without [CLS]/[SEP] or start/end
 * tokens. Writes at most cap ids and sets *n to the full count, so a caller
 * can call again with a larger buffer. Thread-safe on a shared t. */
sail_status sail_tokenizer_encode(const sail_tokenizer *t, const char *text, size_t len, int32_t *ids,
                                  size_t cap, size_t *n, sail_error *err);

/* The float tensor an image file becomes before the vision encoder: decoded,
 * resized and normalised as the model file says; 3 x s x s floats with
 * s = sail_model_image_size(m). Thread-safe. */
sail_status sail_image_file_tensor(const sail_model *m, const char *path, float *chw,
                                   sail_error *err);

/* A preprocessing recipe without a model (`sail preprocess`): how an image
 * becomes the float tensor a vision encoder reads, as the Python processors
 * do (PIL's resize, then x/255, then (x - mean) / std per channel). */
typedef enum sail_resample {
    SAIL_RESAMPLE_BILINEAR = 2,   /* PIL's numbering */
    SAIL_RESAMPLE_BICUBIC = 3
} sail_resample;

typedef struct sail_preprocess {
    int size;               /* resize target */
    int crop;               /* > 0: shortest side -> size, then center crop
                               crop x crop (CLIP); 0: squash to size x size
                               (Chinese-CLIP) */
    sail_resample resample;
    float mean[3], std[3];  /* applied after rescaling by 1/255 */
    int crop_floor;         /* crop offset (h - crop) // 2 as Hugging Face's
                               processors; 0: rounded as torchvision */
} sail_preprocess;

/* Output side of the tensor a preprocess produces. */
static inline int sail_preprocess_side(const sail_preprocess *p) {
    return p->crop > 0 ? p->crop : p->size;
}

/* The recipe m's file records (its sail.image.* keys): what
 * sail_image_file_tensor applies. Thread-safe. */
void sail_model_preprocess(const sail_model *m, sail_preprocess *p);

/* Decode the image file path (the process-wide bounds and reduced-scale
 * JPEG decoding of sail_set_image_options, as for a model whose recipe is
 * p; exif_rotate = 0 ignores a JPEG's EXIF orientation) and preprocess it
 * with p into chw, 3 x s x s floats with s = sail_preprocess_side(p).
 * Errors name the file. Thread-safe. */
sail_status sail_image_file_preprocess(const char *path, const sail_preprocess *p, int exif_rotate,
                                       float *chw, sail_error *err);

/* ------------------------------------------------------ in-memory input --
 * For callers whose inputs arrive as bytes (a server, a language binding):
 * per-input work (tokenizing, decoding) can run on the caller's threads and
 * whole batches go to the model. */

/* Number of tokens text (len bytes of UTF-8) becomes, [CLS] and [SEP]
 * included, BEFORE truncation to the model's context (compare it with
 * sail_model_text_context to refuse rather than truncate). Thread-safe. */
sail_status sail_count_tokens(const sail_model *m, const char *text, size_t len, int *n,
                              sail_error *err);

/* Image bounds and decoding, for the whole process. Every image any call
 * here decodes (files and bytes) is checked from its header, before any
 * pixel buffer is allocated: over max_pixels pixels or over
 * SAIL_IMAGE_MAX_SIDE on a side is SAIL_ERR_LIMIT, so a 100-byte file that
 * claims 100000 x 100000 costs nothing (the decompression-bomb guard).
 * A JPEG whose short side is at least 4x the model's resize target, and
 * whose sides divide by the factor, is decoded at 1/2, 1/4 or 1/8 scale by
 * libjpeg-turbo (the largest that keeps it >= 2x the target): a 12-Mpx photo
 * decodes several times faster in a sixteenth of the memory, and its tensor
 * differs slightly from PIL's full decode + resize (docs/INPUTS.md has the
 * measured difference). exact_decode = 1 always decodes at full size. */
#define SAIL_IMAGE_MAX_PIXELS ((int64_t)64 << 20) /* default bound: 67108864 (64 Mpx) */
#define SAIL_IMAGE_MAX_SIDE 32768                 /* fixed bound on either side */

typedef struct sail_image_options {
    int64_t max_pixels; /* 1 .. SAIL_IMAGE_MAX_SIDE^2; 0 = SAIL_IMAGE_MAX_PIXELS */
    int exact_decode;   /* 1: never decode a JPEG at reduced scale */
} sail_image_options;

/* Set the options (NULL: the defaults) for decodes that start afterwards.
 * SAIL_ERR_INVALID_ARG for a max_pixels out of range. Thread-safe. */
sail_status sail_set_image_options(const sail_image_options *o, sail_error *err);

/* Decode an encoded image held in memory (JPEG, PNG, WebP, PPM/PGM; the
 * format is sniffed from the bytes) and preprocess it as
 * sail_image_file_tensor does: 3 x s x s floats into chw, with
 * s = sail_model_image_size(m). Images over max_pixels decoded pixels
 * (0 = the process-wide bound of sail_set_image_options) or over
 * SAIL_IMAGE_MAX_SIDE on a side are refused with SAIL_ERR_LIMIT before any
 * pixel buffer is allocated. Thread-safe; does not take the model's lock. */
sail_status sail_image_bytes_tensor(const sail_model *m, const void *data, size_t size,
                                    int64_t max_pixels, float *chw, sail_error *err);

/* An image file (any format above), or a video's first frame, as a small
 * 8-bit RGB picture (h x w x 3, rows packed) for result pages: shrunk with
 * PIL's bilinear filter so its longer side is at most max_side (1..
 * SAIL_IMAGE_MAX_SIDE); a large JPEG decodes at reduced scale first. The
 * process-wide image bounds apply. *rgb is the caller's (free with
 * sail_free); on failure the image decoder's message. Thread-safe. */
sail_status sail_thumbnail_rgb(const char *path, int max_side, uint8_t **rgb, int *w, int *h,
                               sail_error *err);

/* Embed n encoded images held in memory (data[i], sizes[i] bytes each). */
sail_status sail_embed_image_bytes(sail_model *m, const void *const *data, const size_t *sizes,
                                   int n, int dim, float *out, sail_error *err);

/* Embed n joint text+image inputs already prepared: token ids as
 * sail_embed_tokens takes them and n image tensors from
 * sail_image_bytes_tensor / sail_image_file_tensor (each 3 x s x s). */
sail_status sail_embed_joint_tensors(sail_model *m, const int32_t *ids, const int *lens,
                                     const float *chw, int n, int dim, float *out,
                                     sail_error *err);

/* --------------------------------------------------------------- index --
 * A vector index: items (64-bit id, vector, JSON payload) kept in a
 * directory, searched exactly (brute force) or with an HNSW graph.
 *
 * Remote indexes: sail_index_open also takes redis://host[:port]/name, the
 * index the Redis module (sail-redis.so, docs/REDIS.md) holds at key name,
 * or in shards {name:0}, {name:1}, ... spread over a Redis Cluster (found
 * at open; MOVED and ASK redirections are followed). The same calls serve
 * it, with these differences:
 *   - add: item id goes to shard id mod N, one SAIL.ADD per item; SAIL_OK
 *     means Redis applied every item (durable as Redis's persistence is:
 *     appendonly with appendfsync always fsyncs first). On an error the
 *     items before the failing one may be applied (re-adding replaces).
 *   - search: every shard's top k, merged by score (ties by id).
 *   - get_info: count, tombstones and memory_bytes summed over the shards
 *     by a round trip (the last values read when Redis cannot answer);
 *     log_bytes is 0 and remote is 1.
 *   - sail_index_list_ids walks SAIL.IDS over the shards (not one
 *     snapshot: see there); sail_index_ids, which cannot report an error,
 *     returns 0. compact, export and serialize are SAIL_ERR_UNSUPPORTED
 *     (Redis persists the index).
 *   - the handle's calls are serialised (one connection per Redis node);
 *     a connection lost is reopened at the next call. Redis unreachable,
 *     a 10 s timeout, or a busy/loading/failing-over node is
 *     SAIL_ERR_UNAVAILABLE (and for 1 s after Redis was unreachable, calls
 *     fail so at once); an error reply of the module is
 *     SAIL_ERR_INVALID_ARG.
 *   - built without hiredis, opening one is SAIL_ERR_UNSUPPORTED.
 *
 * Durability: every sail_index_add / sail_index_delete call is one record
 * of a write-ahead log, checksummed and fsync-ed before the call returns
 * SAIL_OK; a crash at any moment loses nothing acknowledged. Snapshots are
 * written atomically (temp file, fsync, rename, directory fsync) and the
 * log is truncated after them. See docs/INDEX.md for the on-disk format.
 *
 * Threads: searches may run concurrently from any number of threads;
 * add, delete, compact and export take the index exclusively (they wait
 * for running searches). One process at a time may open an index
 * directory (an flock on the directory's LOCK file enforces it). */

typedef struct sail_index sail_index;

typedef enum sail_metric {
    SAIL_METRIC_IP = 0,      /* inner product; score = q.x, higher is closer */
    SAIL_METRIC_COSINE = 1,  /* vectors and queries L2-normalised; score = cos */
    SAIL_METRIC_L2 = 2       /* score = squared L2 distance, lower is closer */
} sail_metric;

typedef enum sail_storage {
    SAIL_STORAGE_F32 = 0,
    SAIL_STORAGE_F16 = 1,    /* IEEE half; candidates rescored in f32 */
    SAIL_STORAGE_INT8 = 2    /* symmetric int8 with a per-vector scale;
                                candidates rescored in f32 */
} sail_storage;

typedef enum sail_index_kind {
    SAIL_INDEX_EXACT = 0,    /* brute force: exact top-k */
    SAIL_INDEX_HNSW = 1      /* approximate: hierarchical navigable small world */
} sail_index_kind;

typedef struct sail_index_options {
    int dim;                 /* vector dimension, 1..65536 (create only) */
    sail_metric metric;      /* create only */
    sail_storage storage;    /* create only */
    sail_index_kind kind;    /* create only */
    int M;                   /* HNSW links per node (layer 0 has 2M); 0 = 16 */
    int ef_construction;     /* HNSW build beam; 0 = 200 */
    int ef_search;           /* HNSW search beam; 0 = stored value (64) */
    uint64_t seed;           /* HNSW level assignment seed */
    int n_threads;           /* build/search threads; 0 = one per core */
    int deterministic;       /* HNSW: insert serially, so the graph is a pure
                                function of seed and insertion order even with
                                n_threads > 1 (searches still use threads) */
    int create;              /* sail_index_open: create when dir holds no index */
    int recover_without_log; /* sail_index_open: when index.wal is missing,
                                damaged or not this snapshot's log (otherwise
                                SAIL_ERR_FORMAT), open from index.snap alone;
                                what was logged after it is lost. A log that
                                is there is kept as index.wal.orphan. err then
                                gets status SAIL_OK and a message saying what
                                was lost (empty when nothing was). */
    int shards;              /* create a redis:// index as keys {name:0} ..
                                {name:shards-1} (0 or 1: the key name) */
} sail_index_options;

/* Open the index stored in directory dir, replaying its log, or the remote
 * index dir = redis://host[:port]/name (see above; opts's create-only
 * fields and shards make it when missing and opts->create is set; its
 * ef_search applies to searches). When dir holds
 * no index and opts->create is set, it is created (dir too, if missing)
 * with opts's create-only fields; otherwise those fields are ignored,
 * ef_search (when non-zero) overrides the stored one, and n_threads and
 * deterministic, which are not stored, apply to this open only. opts may be NULL (open an existing index with defaults).
 * A torn last log record (a crash mid-write) is dropped silently: it was
 * never acknowledged. A bad checksum before the end, a wrong magic, a
 * truncated snapshot, and a log that is missing or belongs to another
 * snapshot are SAIL_ERR_FORMAT (see recover_without_log). Returns NULL on
 * failure. */
sail_index *sail_index_open(const char *dir, const sail_index_options *opts,
                            sail_error *err);

/* Write a snapshot if the log holds records, then free the index. Returns
 * the snapshot's status (the index is freed either way). NULL is a no-op. */
sail_status sail_index_close(sail_index *ix, sail_error *err);

/* An index held in memory only (no directory, log or snapshot: adds and
 * deletes are not durable), for a host that persists it itself, as the
 * Redis module does through sail_index_serialize. opts's create-only
 * fields, ef_search, n_threads and deterministic apply (opts->create is
 * ignored). Free with sail_index_close. Returns NULL on failure. */
sail_index *sail_index_new(const sail_index_options *opts, sail_error *err);

/* The whole index as one byte image, in index.snap's format (docs/INDEX.md;
 * tombstones included): *buf gets len bytes to free with sail_free.
 * Thread-safe (it reads the index as a search does). */
sail_status sail_index_serialize(sail_index *ix, void **buf, size_t *len, sail_error *err);

/* An in-memory index (as sail_index_new makes) from an image that
 * sail_index_serialize wrote, or an index.snap file's bytes. Every check of
 * opening a snapshot applies: a damaged or truncated image is
 * SAIL_ERR_FORMAT, never a crash. buf (8-byte aligned, as malloc returns)
 * stays the caller's. opts may be NULL; its ef_search, n_threads and
 * deterministic apply. Returns NULL on failure. */
sail_index *sail_index_deserialize(const void *buf, size_t len, const sail_index_options *opts,
                                   sail_error *err);

/* Add n items: ids[i], the vector at vectors + i*dim, and payloads[i], a
 * JSON object as UTF-8 text (payloads or payloads[i] may be NULL = "{}").
 * Conventional payload fields: "source" (path or URI), "text", "modality"
 * ("image", "text", ...); any others are kept as given. An id that is
 * already present is replaced. Durable when it returns SAIL_OK; on error
 * nothing of the batch is applied. */
sail_status sail_index_add(sail_index *ix, const uint64_t *ids,
                           const float *vectors, const char *const *payloads,
                           int n, sail_error *err);

/* Delete n ids (unknown ids are ignored); *n_deleted (may be NULL) gets
 * how many were present. Durable when it returns SAIL_OK. Deleted items
 * leave tombstones in an HNSW graph until sail_index_compact. */
sail_status sail_index_delete(sail_index *ix, const uint64_t *ids, int n,
                              int *n_deleted, sail_error *err);

typedef struct sail_search_options {
    const char *filter;      /* NULL, or "field=value[,field=value...]":
                                only items whose payload has every top-level
                                field equal to value (strings compared as is,
                                numbers and booleans by their JSON text) */
    int ef_search;           /* HNSW beam for this call; 0 = index's */
    int exact;               /* brute force even on an HNSW index */
    int no_payload;          /* leave hit.payload NULL (faster) */
} sail_search_options;

typedef struct sail_index_hit {
    uint64_t id;
    float score;             /* see sail_metric */
    const char *payload;     /* JSON object text, owned by the results */
} sail_index_hit;

typedef struct sail_index_results {
    int n_queries, k;
    int *counts;             /* (n_queries) hits found per query, <= k */
    sail_index_hit *hits;    /* (n_queries, k): query q's best first at
                                hits + q*k; entries past counts[q] unset */
} sail_index_results;

/* Search the k nearest items of each of n queries (n x dim floats). Many
 * queries at once run as one matrix product on an exact index. *out gets
 * results to free with sail_index_results_free. opts may be NULL.
 * Thread-safe (concurrent searches share the index read-only). */
sail_status sail_index_search(sail_index *ix, const float *queries, int n,
                              int k, const sail_search_options *opts,
                              sail_index_results **out, sail_error *err);
void sail_index_results_free(sail_index_results *r);

/* Vector (dim floats; cosine indexes hold it normalised) and payload of an
 * item. vec and payload may be NULL; *payload is a copy to free() by the
 * caller. SAIL_ERR_INVALID_ARG when id is absent. Thread-safe. */
sail_status sail_index_get(sail_index *ix, uint64_t id, float *vec,
                           char **payload, sail_error *err);

/* Ids of the live items of a local index in insertion order: writes
 * min(count, cap) ids to ids (may be NULL with cap 0) and returns the live
 * count. A redis:// index returns 0: list its ids with
 * sail_index_list_ids. Thread-safe. */
size_t sail_index_ids(sail_index *ix, uint64_t *ids, size_t cap);

/* Ids of the live items, of a local or a redis:// index: *ids gets *n ids
 * in one block to free with sail_free (NULL when *n is 0); both are left
 * unchanged on failure. Order: insertion order; for a redis:// index each
 * shard's in insertion order, shard {name:0}'s first, then {name:1}'s, ...
 * A local index's list is one consistent snapshot. A redis:// one is read
 * in pages (SAIL.IDS, docs/REDIS.md), so writes by others meanwhile show
 * as SCAN's do: an item present throughout is listed, one deleted before
 * its page is not, one added meanwhile may be, and one re-added (replaced)
 * meanwhile may be listed twice. Redis unreachable is SAIL_ERR_UNAVAILABLE,
 * a module without SAIL.IDS SAIL_ERR_UNSUPPORTED. Thread-safe. */
sail_status sail_index_list_ids(sail_index *ix, uint64_t **ids, size_t *n, sail_error *err);

typedef struct sail_index_info {
    int dim;
    sail_metric metric;
    sail_storage storage;
    sail_index_kind kind;
    int M, ef_construction, ef_search;
    uint64_t seed;
    size_t count;            /* live items */
    size_t tombstones;       /* deleted items still in the graph */
    size_t memory_bytes;     /* heap held by vectors, codes, graph, payloads */
    uint64_t log_bytes;      /* write-ahead log size */
    int remote;              /* 1: a redis:// index */
} sail_index_info;

/* Fill *info. Thread-safe. */
void sail_index_get_info(sail_index *ix, sail_index_info *info);

/* Drop tombstones (rebuilding the HNSW graph over the live items, in
 * insertion order), write a snapshot and truncate the log. */
sail_status sail_index_compact(sail_index *ix, sail_error *err);

/* Write the live items to path, the format chosen by its extension:
 *   .npy    float32 (count, dim), and the ids as uint64 (count,) beside it
 *           in <path without .npy>.ids.npy
 *   .fvecs  the TEXMEX format (int32 dim, then dim float32, per vector)
 *   .faiss  a FAISS index file: IndexFlatIP (IP/cosine) or IndexFlatL2,
 *           or IndexHNSWFlat for an HNSW index; faiss.read_index loads it
 *           (FAISS ids are positions in sail_index_ids order). */
sail_status sail_index_export(sail_index *ix, const char *path, sail_error *err);

/* Add the vectors of a .npy (float32 or float64, 2-D) or .fvecs file with
 * ids first_id, first_id+1, ... and payload {"source": path}. Durable on
 * return; *n_added (may be NULL) gets the count. */
sail_status sail_index_import(sail_index *ix, const char *path,
                              uint64_t first_id, size_t *n_added,
                              sail_error *err);

/* Names for printing ("ip", "cosine", "l2"; "f32", "f16", "int8";
 * "exact", "hnsw") and their parsers (SAIL_OK or SAIL_ERR_INVALID_ARG). */
const char *sail_metric_name(sail_metric m);
const char *sail_storage_name(sail_storage s);
const char *sail_index_kind_name(sail_index_kind k);
sail_status sail_metric_parse(const char *s, sail_metric *out);
sail_status sail_storage_parse(const char *s, sail_storage *out);
sail_status sail_index_kind_parse(const char *s, sail_index_kind *out);

/* ---------------------------------------------------------- vocabulary --
 * WordPiece vocabularies (vocab.txt, one token per line; the id is the line
 * number), as `sail init`, `sail train` and `sail vocab train` use them. */

/* Read a vocab.txt exactly as BERT's load_vocab does: split on '\n' only and
 * Python str.strip() each line. *tokens is an array of *n malloc-ed
 * strings; free with sail_vocab_free. Thread-safe. */
sail_status sail_vocab_read(const char *path, char ***tokens, int *n, sail_error *err);

/* Free what sail_vocab_read or sail_vocab_train returned. NULL is a no-op. */
void sail_vocab_free(char **tokens, int n);

/* Train a WordPiece vocabulary from the '\n'-separated lines of the UTF-8
 * file at corpus_path (BERT pre-tokenisation, "##" continuations, the most
 * frequent pair merged first; docs/TOKENIZERS.md): ids 0-4 are [PAD] [UNK]
 * [CLS] [SEP] [MASK], then every character of the corpus, then the merged
 * pieces in the order they were learned, until size entries or no pair
 * occurs min_frequency (>= 1) times. SAIL_ERR_LIMIT when size cannot hold
 * the specials and every character. On success *tokens (free with
 * sail_vocab_free) has *n <= size entries. Thread-safe. */
sail_status sail_vocab_train(const char *corpus_path, int size, int min_frequency, char ***tokens,
                             int *n, sail_error *err);

/* Write tokens one per line ('\n'), the format sail_vocab_read reads. */
sail_status sail_vocab_write(const char *path, char *const *tokens, int n, sail_error *err);

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
 * whole q8_0 blocks is stored as f16. A loaded model uses its weights in
 * place in the stored type (f16/bf16 are widened inside the GEMM kernels;
 * q8_0 runs integer dot products with the activations quantised to q8_0
 * blocks on the fly), so quantizing shrinks both the file and the memory
 * the model occupies. Thread-safe. */
sail_status sail_model_quantize(const char *in, const char *out, const char *type,
                                sail_error *err);

/* ------------------------------------------------------------- convert -- */

typedef struct sail_convert_options {
    const char *from;  /* "auto" or NULL (from config.json), "hf-clip", "hf-chinese-clip",
                          "hf-bert", "hf-vit", "clip-cpp", "open-clip" */
    const char *type;  /* tensor type written: "f32" or NULL (the only one for now) */
    const char *pool;  /* hf-bert: "cls" (default), "pooler", "mean"; hf-vit: "cls", "pooler" */
    const char *merges;/* clip-cpp: the model's merges.txt (clip.cpp files have none) */
    const char *arch;  /* open-clip: a preset ("ViT-B-32", "ViT-B-16", their "-quickgelu"
                          forms) for a checkpoint without open_clip_config.json */
    const char *tokenizer; /* open-clip: the BPE merges file (bpe_simple_vocab_16e6.txt.gz
                              or merges.txt) when not beside the checkpoint */
} sail_convert_options;

/* Convert a Hugging Face model folder (config.json; model.safetensors,
 * sharded safetensors or pytorch_model.bin; tokenizer files;
 * preprocessor_config.json) into a sail model file at out_path (atomically).
 * pytorch_model.bin is read without executing its pickle. Every tensor is
 * checked against config.json; the error names anything missing,
 * misshaped or unexpected. dir may instead be a clip.cpp GGUF CLIP file
 * (from = "clip-cpp", chosen by default for a .gguf file), which needs
 * opts->merges, or an OpenCLIP checkpoint (from = "open-clip", chosen by
 * default for a folder with open_clip_config.json and no config.json, and
 * for any other file): open_clip_pytorch_model.bin / .pt / .safetensors
 * with open_clip_config.json or opts->arch. opts may be NULL. Thread-safe. */
sail_status sail_convert(const char *dir, const char *out_path,
                         const sail_convert_options *opts, sail_error *err);

/* The inverse of sail_convert (`sail export --format hf`): write a model
 * imported from Hugging Face (CLIP, Chinese-CLIP, BERT, ViT, SigLIP),
 * fine-tuned or not, as the folder dir (created if absent; the files below
 * are replaced atomically): config.json, model.safetensors (Hugging Face's
 * names and shapes; F32, or F16 / BF16 as stored; q8_0 widened to F32),
 * the tokenizer files (vocab.json + merges.txt, or vocab.txt) with
 * tokenizer_config.json, and preprocessor_config.json for image models.
 * Native sail models (fusion layers) are refused with
 * SAIL_ERR_UNSUPPORTED: Hugging Face has no architecture for them. dir
 * NULL only checks that the model would export (nothing is written).
 * docs/IMPORT.md describes it. Thread-safe. */
sail_status sail_export_hf(const char *model_path, const char *dir, sail_error *err);

/* ------------------------------------------------------------- compose --
 * A fused sail model from pretrained towers, as the SAIL-Embedding report
 * starts (`sail compose`; docs/TRAINING.md, "Composing a model"). */

typedef struct sail_compose_opts {
    const char *text;           /* model file whose text tower is taken */
    const char *vision;         /* model file whose vision tower is taken */
    int fusion_layers;          /* 0..64 (0: pool the projected tokens) */
    int fusion_width;           /* 0: the wider tower's width */
    int perceiver_latents;      /* 0: none */
    int dim;                    /* output dimension, 1..8192 */
    uint64_t seed;              /* the fresh parts' initialisation */
    int scratch;                /* 1: every weight fresh (the same architecture
                                   untrained, a baseline) */
    const char *audio;          /* model file whose audio tower is taken (an imported
                                   AST, or a sail model with one), or NULL */
    const char *audio_config;   /* with audio NULL: a fresh audio tower of this preset
                                   ("tiny", "base"), or NULL: none */
    const char *fusion;         /* a sail model whose fusion layers, head and temperature
                                   are kept (its text and vision widths must be the
                                   towers'), or NULL: fresh ones */
    const char *name;           /* the model's name (GGUF general.name, `sail info`'s
                                   "model:"), or NULL: "sail-composed" */
} sail_compose_opts;

/* Write the composed model to path (atomically): the text tower of
 * o->text, the vision tower of o->vision (the same file or two; a sail
 * model or a converted one) and, when o->audio is set, the audio tower of
 * o->audio with its front end (or a fresh one of preset o->audio_config):
 * its pooled output becomes one token of the fusion's sequence. With
 * o->fusion, that model's trained fusion, head and temperature are kept
 * (adding an audio tower to a trained model: train the audio part alone,
 * `--freeze text,vision,fusion,head,temperature`); the audio tower's
 * projection into the fusion comes with the tower (o->audio's when it is a
 * fused sail model whose projection fits, otherwise fresh). The towers
 * keep their weights (as f32), their layout (BERT's, CLIP's or SigLIP's:
 * causal attention, norms, patch bias, texts padded to the context, a class
 * token or none), the text side its tokenizer (WordPiece, CLIP's BPE or
 * SigLIP's SentencePiece) and the vision side its preprocessing; fusion,
 * perceiver, head and temperature are new (an imported model's own pooling
 * heads and projections are left behind). A file without the tower asked for is SAIL_ERR_UNSUPPORTED with
 * the reason; an option out of range SAIL_ERR_INVALID_ARG. Thread-safe. */
sail_status sail_compose(const sail_compose_opts *o, const char *path, sail_error *err);

/* ---------------------------------------------------------------- video -- */

/* A video file read through FFmpeg's libraries (any container and codec the
 * installed FFmpeg decodes), streamed as sampled RGB frames. */
typedef struct sail_video sail_video;

typedef struct sail_video_frame {
    const uint8_t *rgb;  /* height x width x 3, rows packed; valid until the
                            next sail_video_next or sail_video_close */
    int width, height;
    double time;         /* seconds from the start of the video stream */
    int64_t index;       /* the frame's number among all decoded frames */
} sail_video_frame;

/* Open path's best video stream. every > 0 keeps one frame per `every`
 * seconds (the first at or after each multiple of it); every == 0 keeps
 * every frame. Not thread-safe per handle; distinct handles are independent. */
sail_status sail_video_open(const char *path, double every, sail_video **out,
                            sail_error *err);

/* The next kept frame into *frame and *got = 1, or *got = 0 at the end. A
 * damaged packet is skipped (as players do); a stream that cannot be read
 * on is an error. */
sail_status sail_video_next(sail_video *v, sail_video_frame *frame, int *got,
                            sail_error *err);

/* The video stream's duration in seconds, or -1 when the file does not say. */
double sail_video_duration(const sail_video *v);

void sail_video_close(sail_video *v);

/* Every sampled frame of a video, embedded as an image. */
typedef struct sail_video_embeddings {
    int n, dim;
    float *vectors;        /* n x dim */
    double *times;         /* n: each frame's time in seconds */
    int64_t *frame_index;  /* n: each frame's number among all decoded frames */
} sail_video_embeddings;

/* Embed one frame per `every` seconds of path (0 = every frame). With
 * max_frames > 0 at most that many are kept: the interval widens to
 * duration / max_frames when the file states its duration, and reading
 * stops at max_frames. On success free *out with sail_video_embeddings_free. */
sail_status sail_embed_video_frames(sail_model *m, const char *path, double every,
                                    int max_frames, int dim,
                                    sail_video_embeddings *out, sail_error *err);
void sail_video_embeddings_free(sail_video_embeddings *e);

/* Embed a video as one vector: the L2-normalised mean of the frame vectors
 * sail_embed_video_frames gives (the usual frame-pooling baseline).
 * *n_frames (may be NULL) gets the number of frames used. */
sail_status sail_embed_video(sail_model *m, const char *path, double every,
                             int max_frames, int dim, float *out,
                             int *n_frames, sail_error *err);

/* Embed a video as ONE item through the model's fusion layers: `frames`
 * frames (1..64; 0 = SAIL_VIDEO_ITEM_FRAMES) spread evenly over it, each
 * preprocessed as an image, fused together with text (NULL: the frames
 * alone) into one vector, as training on {"video": ...} items of a manifest
 * sees them (docs/TRAINING.md). Models without fusion layers (imported
 * towers) answer SAIL_ERR_UNSUPPORTED: use sail_embed_video there. */
#define SAIL_VIDEO_ITEM_FRAMES 4
sail_status sail_embed_video_item(sail_model *m, const char *text, const char *path,
                                  int frames, int dim, float *out, sail_error *err);

/* One item made of any of a text, an image or a video, and a clip: what a
 * fused model joins into one vector (a product's title, photo and spoken
 * description; a video's frames and its sound track: give the video's path
 * as audio too). Models without fusion layers (imported towers) embed an
 * item of one part only. */
typedef struct sail_item {
    const char *text;           /* UTF-8, or NULL */
    const char *image;          /* an image file, or NULL */
    const char *video;          /* a video file (never with image): `frames` frames spread over it */
    const char *audio;          /* an audio file, or a video whose sound is taken; NULL: none */
    int frames;                 /* 1..64; 0 = SAIL_VIDEO_ITEM_FRAMES */
    /* Parts already in memory (a request body, a Python bytes object), each
     * instead of its file above, never with it: an encoded image (JPEG, PNG,
     * WebP, PPM) and an encoded clip (any format of sail_audio_decode_bytes). */
    const void *image_data;
    size_t image_size;
    const void *audio_data;
    size_t audio_size;
} sail_item;

/* Embed one item into out (dim floats; 0 = the model's dimension), as
 * training on the same item of a manifest sees it (docs/TRAINING.md). An
 * item with audio needs a model with an audio tower (sail_model_modalities);
 * otherwise SAIL_ERR_UNSUPPORTED. */
sail_status sail_embed_item(sail_model *m, const sail_item *it, int dim, float *out, sail_error *err);

/* ---------------------------------------------------------------- audio --
 * Audio files and bytes (WAV, FLAC, OGG/Vorbis, Opus, MP3, and the sound of
 * any video FFmpeg opens) decoded to mono float32 at a chosen rate, and the
 * two log-mel front ends audio models use. docs/AUDIO.md has the details
 * and the measured agreement with torchaudio, Whisper and ffmpeg. */

#define SAIL_AUDIO_RATE 16000                 /* default output rate (Hz) */
#define SAIL_AUDIO_MAX_SECONDS 600.0          /* default duration bound */
#define SAIL_AUDIO_MAX_BYTES ((int64_t)1 << 30) /* default input size bound (1 GiB) */
#define SAIL_AUDIO_MAX_CHANNELS 32            /* fixed bound on input channels */
#define SAIL_AUDIO_MIN_IN_RATE 1000           /* input rates outside this range are refused */
#define SAIL_AUDIO_MAX_IN_RATE 768000

typedef struct sail_audio_options {
    int sample_rate;    /* output rate, 4000..192000 Hz; 0 = SAIL_AUDIO_RATE */
    double max_seconds; /* longer audio is SAIL_ERR_LIMIT; 0 = SAIL_AUDIO_MAX_SECONDS */
    int64_t max_bytes;  /* a larger file or buffer is SAIL_ERR_LIMIT; 0 = SAIL_AUDIO_MAX_BYTES */
} sail_audio_options;

typedef struct sail_audio {
    float *samples;     /* (n) mono samples, nominally in [-1, 1] (float sources and
                           resampling overshoot may exceed it) */
    int64_t n;          /* number of samples, >= 1 */
    int sample_rate;    /* Hz: the requested output rate */
    int src_rate;       /* the stream's own rate and channel count */
    int src_channels;
} sail_audio;

/* Decode the best audio stream of an encoded file held in memory. The
 * format is found from the bytes alone (never a name). Channels are
 * averaged to mono (equal weights, as torchaudio/librosa users do) and
 * resampled with libswresample's defaults (what `ffmpeg -ar` does). Before
 * any sample buffer is allocated, a header that claims more than
 * max_seconds is SAIL_ERR_LIMIT; rates outside SAIL_AUDIO_MIN_IN_RATE ..
 * SAIL_AUDIO_MAX_IN_RATE and more than SAIL_AUDIO_MAX_CHANNELS channels are
 * SAIL_ERR_UNSUPPORTED; no audio stream, no samples, a stream shorter than
 * its header says (truncated) and NaN or infinite samples are
 * SAIL_ERR_FORMAT. opts may be NULL. On success free *out with
 * sail_audio_free. Thread-safe. */
sail_status sail_audio_decode_bytes(const void *data, size_t size,
                                    const sail_audio_options *opts, sail_audio *out,
                                    sail_error *err);

/* The same for a file (read as it is decoded, never whole into memory);
 * the file's name and extension play no part. */
sail_status sail_audio_decode_file(const char *path, const sail_audio_options *opts,
                                   sail_audio *out, sail_error *err);

/* Free the samples of a decoded clip and zero it. NULL is a no-op. */
void sail_audio_free(sail_audio *a);

/* A 16-bit PCM WAV of n mono samples x (full scale 1; rounded and clipped)
 * at SAIL_SOUND_RATE: a 44-byte header, then the samples, so the same
 * samples give the same bytes. To a file (sail data's clips), or into
 * memory: *bytes (len bytes, free with sail_free). Thread-safe. */
#define SAIL_SOUND_RATE 16000
sail_status sail_wav_write(const char *path, const float *x, size_t n, sail_error *err);
sail_status sail_wav_encode(const float *x, size_t n, unsigned char **bytes, size_t *len, sail_error *err);

typedef enum sail_window {
    SAIL_WINDOW_HANNING = 0,    /* symmetric Hann (Kaldi's "hanning") */
    SAIL_WINDOW_POVEY = 1,      /* symmetric Hann to the power 0.85 (Kaldi's default) */
    SAIL_WINDOW_HAMMING = 2,    /* symmetric, 0.54 - 0.46 cos */
    SAIL_WINDOW_RECTANGULAR = 3
} sail_window;

/* Kaldi's compute-fbank-feats as torchaudio.compliance.kaldi.fbank computes
 * it (dither 0, snip_edges, round_to_power_of_two, power spectrum, natural
 * log floored at FLT_EPSILON, no energy column), then optionally the Audio
 * Spectrogram Transformer's padding and normalisation. */
typedef struct sail_fbank_params {
    int sample_rate;        /* Hz of the input samples */
    float frame_length_ms;  /* window length (25) */
    float frame_shift_ms;   /* hop (10) */
    int num_mel_bins;       /* 4..1024 */
    float low_freq;         /* Hz (20) */
    float high_freq;        /* Hz; <= 0 is an offset from Nyquist (0) */
    float preemphasis;      /* 0..1 (0.97) */
    int remove_dc_offset;   /* 1: subtract each frame's mean */
    sail_window window;
    int max_length;         /* > 0: zero-pad or cut to exactly this many frames */
    float norm_mean;        /* with norm_std > 0: x = (x - mean) / (2 std), */
    float norm_std;         /*   padded rows included (AST's feature extractor) */
} sail_fbank_params;

/* AST's front end (ASTFeatureExtractor): 16 kHz, 25/10 ms, Hann window, 128
 * bins, padded or cut to 1024 frames, mean -4.2677393, std 4.5689974. */
sail_fbank_params sail_fbank_ast_params(void);

/* Rows sail_fbank writes for n input samples: max_length when set,
 * otherwise 1 + (n - window) / shift, or 0 when n is shorter than one
 * window (Kaldi's snip_edges; torchaudio raises an error there). */
int64_t sail_fbank_frames(const sail_fbank_params *p, int64_t n);

/* Fbank features of n mono samples (in [-1, 1]; Kaldi's int16 scale would
 * only add log(32768^2) to every value) into out, sail_fbank_frames(p, n) x
 * num_mel_bins floats, row-major (frames x bins). A sample that is not
 * finite or exceeds 65536 in magnitude (its power would overflow) is
 * SAIL_ERR_INVALID_ARG, here and in sail_logmel. Thread-safe. */
sail_status sail_fbank(const sail_fbank_params *p, const float *wave, int64_t n, float *out,
                       sail_error *err);

typedef enum sail_log_kind {
    SAIL_LOG_WHISPER = 0, /* log10(max(m, 1e-10)), floored at (max over the clip) - 8,
                             then (x + 4) / 4 */
    SAIL_LOG_DB = 1       /* 10 log10(max(m, 1e-10)) (CLAP's feature extractor) */
} sail_log_kind;

/* An STFT log-mel spectrogram as Whisper and CLAP compute it: center
 * frames (reflect padding of n_fft / 2 on each side, as torch.stft and
 * numpy's np.pad do), periodic Hann window, power spectrum, triangular mel
 * filters (librosa's construction). */
typedef struct sail_logmel_params {
    int sample_rate;      /* Hz of the input samples */
    int n_fft;            /* window and FFT length, 16..65536 */
    int hop;              /* samples between frames, 1..n_fft */
    int n_mels;           /* 1..1024 */
    float fmin, fmax;     /* filter bank range in Hz; fmax <= 0: Nyquist */
    int htk_mel;          /* 1: HTK mel scale; 0: Slaney's (librosa's default) */
    int slaney_norm;      /* 1: each filter scaled by 2 / (its width in Hz) */
    sail_log_kind log;
    int drop_last_frame;  /* Whisper drops the STFT's last frame */
    int64_t pad_samples;  /* > 0: zero-pad or cut the input to this many samples
                             first (Whisper: 30 s = 480000) */
} sail_logmel_params;

/* Whisper's front end: 16 kHz, n_fft 400, hop 160, Slaney mel and norm,
 * n_mels 80 (or 128 for large-v3), 30 s padding, last frame dropped. */
sail_logmel_params sail_logmel_whisper_params(int n_mels);

/* CLAP's (ClapFeatureExtractor, truncation "rand_trunc"): 48 kHz, n_fft 1024,
 * hop 480, 64 mels from 50 to 14000 Hz, Slaney mel and norm, dB. */
sail_logmel_params sail_logmel_clap_params(void);

/* Frames sail_logmel writes for n input samples (after pad_samples):
 * 1 + n / hop, one fewer with drop_last_frame. */
int64_t sail_logmel_frames(const sail_logmel_params *p, int64_t n);

/* Log-mel features of n >= 1 mono samples into out, sail_logmel_frames(p, n)
 * x n_mels floats, row-major (frames x mels: Whisper's tensor is its
 * transpose). Thread-safe. */
sail_status sail_logmel(const sail_logmel_params *p, const float *wave, int64_t n, float *out,
                        sail_error *err);

/* ---------------------------------------------------------- audio embed --
 * Models with an audio tower (an Audio Spectrogram Transformer or a CLAP
 * imported by `sail convert`) embed clips: each is decoded to mono at the
 * rate the model records (sail_audio_decode_file's rules and limits),
 * turned into the features its front end records (sail_fbank: Kaldi fbank,
 * padded or cut to its max_length frames, normalised; CLAP: sail_logmel
 * over the clip filled or cut to its max length) and embedded: the tower's
 * pooled output (CLAP: projected), L2-normalised (docs/AUDIO.md). Output as the embed calls above:
 * n rows of dim floats (0 = the model's dimension). A model without an
 * audio tower is SAIL_ERR_UNSUPPORTED; an undecodable clip fails the call,
 * its index in the message. Thread-safe as the calls above. */
sail_status sail_embed_audio_files(sail_model *m, const char *const *paths, int n, int dim,
                                   float *out, sail_error *err);
/* The same for encoded files held in memory (any format decoding reads). */
sail_status sail_embed_audio_bytes(sail_model *m, const void *const *data, const size_t *sizes,
                                   int n, int dim, float *out, sail_error *err);
/* One clip of n_samples mono float samples (nominally [-1, 1]) at rate Hz,
 * resampled to the model's rate as decoding resamples; out: dim floats. */
sail_status sail_embed_audio_pcm(sail_model *m, const float *samples, int64_t n_samples, int rate,
                                 int dim, float *out, sail_error *err);

/* The Kaldi fbank front end m's audio tower reads (rate, bins, frames,
 * normalisation): sail_fbank with these parameters on a clip decoded at
 * their sample_rate gives the features sail_embed_audio_* compute before the
 * tower. A model without an audio tower, or whose tower reads a log-mel
 * (an imported CLAP), is SAIL_ERR_UNSUPPORTED. */
sail_status sail_model_fbank_params(const sail_model *m, sail_fbank_params *out, sail_error *err);

/* What m embeds: a mask of SAIL_MODALITY_* bits (a fused sail model: text
 * and image; an imported tower model: its towers'). */
enum { SAIL_MODALITY_TEXT = 1, SAIL_MODALITY_IMAGE = 2, SAIL_MODALITY_AUDIO = 4 };
int sail_model_modalities(const sail_model *m);

/* Cosine similarity of two L2-normalised vectors (their dot product). */
float sail_cosine(const float *a, const float *b, int dim);

/* -------------------------------------------------------------- memory --
 * This process's memory as Linux reports it (what `sail bench` prints):
 * measure a model's resident and peak footprint from C or Python. */

/* A /proc/self/status field in KiB ("VmRSS", "VmHWM" (the peak), "RssFile",
 * ..., without the colon); -1 when unavailable (not Linux, no such field). */
long sail_proc_status_kb(const char *key);

/* Restart the peak RSS (VmHWM) at the current RSS; 0 when the kernel
 * allowed it (/proc/self/clear_refs), else -1. Process-wide. */
int sail_proc_reset_peak(void);

#ifdef __cplusplus
}
#endif
#endif /* SAIL_H */
