/* safetensors.h: reader for Hugging Face's safetensors files and the tensor
 * record shared by every checkpoint reader (safetensors, pytorch_model.bin).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *  "__metadata__": {..}}, then the raw little-endian data; offsets are
 * relative to the byte after the header. Nothing is trusted: the header
 * length, every offset, shape product and dtype size are checked against the
 * file, and overlapping tensors are refused. */
#ifndef SAIL_SAFETENSORS_H
#define SAIL_SAFETENSORS_H

#include "common.h"

enum sail_st_dtype { SAIL_ST_F32, SAIL_ST_F16, SAIL_ST_BF16, SAIL_ST_F64, SAIL_ST_I64,
                     SAIL_ST_I32, SAIL_ST_I16, SAIL_ST_I8, SAIL_ST_U8, SAIL_ST_BOOL };

#define SAIL_ST_MAX_DIMS 8
#define SAIL_ST_MAX_HEADER (100u << 20)  /* the limit the reference reader uses */

typedef struct sail_st_tensor {
    char *name;                 /* owned */
    int dtype;                  /* enum sail_st_dtype */
    int n_dims;
    int64_t shape[SAIL_ST_MAX_DIMS];
    const void *data;           /* little-endian, row-major, inside the owner's buffer */
    uint64_t nbytes;
} sail_st_tensor;

typedef struct sail_st_file {
    const uint8_t *base;        /* the whole file */
    size_t size;
    int mapped;                 /* 1: munmap on close */
    int n;
    sail_st_tensor *t;          /* (n), in header order */
} sail_st_file;

/* Open and validate (mmap). NULL + err naming the file on failure. */
sail_st_file *sail_st_open(const char *path, sail_error *err);
/* Parse a buffer the caller keeps alive (fuzzing, tests). */
sail_st_file *sail_st_open_mem(const void *data, size_t size, sail_error *err);
void sail_st_close(sail_st_file *f);

const sail_st_tensor *sail_st_find(const sail_st_file *f, const char *name);

/* "F32", ... and the element size in bytes. */
const char *sail_st_dtype_name(int dtype);
size_t sail_st_dtype_size(int dtype);

/* Element count of a tensor (the shape was checked to fit when parsed). */
uint64_t sail_st_numel(const sail_st_tensor *t);

/* Convert n elements of t (F32, F16 or BF16) starting at element `first`
 * to f32. SAIL_ERR_UNSUPPORTED for other dtypes, naming the tensor. */
sail_status sail_st_to_f32(const sail_st_tensor *t, uint64_t first, uint64_t n, float *out,
                           sail_error *err);

#endif
