/* gguf.h: GGUF v3 reader (mmap, read-only, fully validated) and writer.
 * Format reference: docs/FORMAT.md. The reader never trusts the file: every
 * count, length, offset, type and alignment is checked against the file size
 * before use, so a malformed file is an error, never a crash. */
#ifndef SAIL_GGUF_H
#define SAIL_GGUF_H

#include "common.h"
#include "kernels/numfmt.h"

enum gguf_vtype {
    GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4, GGUF_VT_I32 = 5, GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_U64 = 10, GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12
};

/* Tensor types: sail's storage types, which use ggml's numbering. */
enum gguf_ttype {
    GGUF_T_F32 = SAIL_WT_F32, GGUF_T_F16 = SAIL_WT_F16, GGUF_T_Q8_0 = SAIL_WT_Q8_0, GGUF_T_BF16 = SAIL_WT_BF16
};

#define GGUF_MAX_DIMS 4

typedef struct gguf_str {   /* a view into the file; not NUL-terminated */
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;              /* enum gguf_vtype */
    union {
        uint64_t u64;           /* every unsigned integer type and bool */
        int64_t i64;            /* every signed integer type */
        double f64;             /* F32 and F64 */
        gguf_str str;
        struct {
            uint32_t type;      /* element type (never ARRAY) */
            uint64_t n;
            const uint8_t *data;/* first element, in the file */
            gguf_str *strs;     /* for string arrays: n views (owned) */
        } arr;
    } v;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the fastest-varying (row length) */
    uint32_t type;              /* enum gguf_ttype */
    uint64_t offset;            /* from the start of the data section */
    uint64_t nbytes;
    const void *data;           /* in the mapping */
} gguf_tensor;

typedef struct gguf_file {
    const uint8_t *base;        /* the whole file */
    size_t size;
    int mapped;                 /* 1: munmap on close; 0: caller's buffer */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;       /* start of the tensor data section */
} gguf_file;

/* Open and validate a file (mmap). NULL + err on failure; the message names
 * the file and the problem. */
gguf_file *gguf_open(const char *path, sail_error *err);
/* Parse a buffer the caller keeps alive (used by fuzzing and tests). */
gguf_file *gguf_open_mem(const void *data, size_t size, sail_error *err);
void gguf_close(gguf_file *f);

/* Lookups return NULL when absent. */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: SAIL_ERR_FORMAT naming the key when missing or of a type
 * that cannot represent the value; integer getters accept any integer type
 * whose value fits. */
sail_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, sail_error *err);
sail_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, sail_error *err);
sail_status gguf_get_f32(const gguf_file *f, const char *key, float *out, sail_error *err);
sail_status gguf_get_bool(const gguf_file *f, const char *key, int *out, sail_error *err);
/* A string value copied to a NUL-terminated buffer of cap bytes. */
sail_status gguf_get_str(const gguf_file *f, const char *key, char *out, size_t cap, sail_error *err);
/* A numeric array of exactly n elements converted to float. */
sail_status gguf_get_f32_array(const gguf_file *f, const char *key, float *out, uint64_t n, sail_error *err);

/* Bytes needed for a tensor of type t with n elements (row length ne0 must be
 * a multiple of the block size for block types). 0 on an unknown type, an n
 * that is not a whole number of blocks, or a size past 64 bits. */
uint64_t gguf_type_nbytes(uint32_t type, uint64_t n_elems);
const char *gguf_type_name(uint32_t type);
/* "u32", "string", ... for messages; "unknown" past the table. */
const char *gguf_vtype_name(uint32_t type);
/* Whether s[0..n) is usable as a key or tensor name: 1..65536 bytes of
 * strict UTF-8 without NUL, which is what the reader accepts. */
bool gguf_name_valid(const char *s, uint64_t n);

/* ------------------------------------------------------------- writer -- */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
/* Keys are copied; the last set of a key wins. */
sail_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
sail_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
sail_status gguf_set_f32(gguf_writer *w, const char *key, float v);
sail_status gguf_set_bool(gguf_writer *w, const char *key, int v);
sail_status gguf_set_str(gguf_writer *w, const char *key, const char *v);
sail_status gguf_set_f32_array(gguf_writer *w, const char *key, const float *v, uint64_t n);
sail_status gguf_set_str_array(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Any scalar type but STRING/ARRAY: v points to one value of the matching C
 * type (uint8_t for U8 ... double for F64; uint8_t 0/1 for BOOL). */
sail_status gguf_set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v);
/* An array of n scalars of elem_type (not STRING/ARRAY), C types as above. */
sail_status gguf_set_array(gguf_writer *w, const char *key, uint32_t elem_type,
                           const void *v, uint64_t n);
/* Tensor data is referenced, not copied: it must stay valid until
 * gguf_writer_write returns. ne[0] is the row length. */
sail_status gguf_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                            uint32_t n_dims, const uint64_t *ne, const void *data);
/* Write the file atomically: PATH.tmp, fsync, rename. Alignment 32 unless
 * general.alignment was set. The setters above also record their first
 * failure (bad key, bad tensor, out of memory) in the writer; this call then
 * reports it, so a caller may check only this status. Tensor data is written
 * as it lies in memory (GGUF is little-endian, as are all supported hosts).
 * Not thread-safe on one writer. */
sail_status gguf_writer_write(gguf_writer *w, const char *path, sail_error *err);

#endif
