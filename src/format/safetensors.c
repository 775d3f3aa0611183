/* safetensors.c: a validating safetensors reader on top of jansson. */
#include "safetensors.h"
#include "kernels/numfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *name; size_t size; } dtypes[] = {
    [SAIL_ST_F32] = {"F32", 4}, [SAIL_ST_F16] = {"F16", 2}, [SAIL_ST_BF16] = {"BF16", 2},
    [SAIL_ST_F64] = {"F64", 8}, [SAIL_ST_I64] = {"I64", 8}, [SAIL_ST_I32] = {"I32", 4},
    [SAIL_ST_I16] = {"I16", 2}, [SAIL_ST_I8] = {"I8", 1},   [SAIL_ST_U8] = {"U8", 1},
    [SAIL_ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof *dtypes))

const char *sail_st_dtype_name(int d) { return d >= 0 && d < N_DTYPES ? dtypes[d].name : "?"; }
size_t sail_st_dtype_size(int d) { return d >= 0 && d < N_DTYPES ? dtypes[d].size : 0; }

uint64_t sail_st_numel(const sail_st_tensor *t) {
    uint64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= (uint64_t)t->shape[i];
    return n;
}

static void free_tensors(sail_st_file *f) {
    for (int i = 0; i < f->n; i++) sail_free(f->t[i].name);
    sail_free(f->t);
    f->t = NULL;
    f->n = 0;
}

void sail_st_close(sail_st_file *f) {
    if (!f) return;
    free_tensors(f);
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    sail_free(f);
}

/* A JSON integer in [0, max]. */
static bool json_u64(const json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max) return false;
    *out = (uint64_t)x;
    return true;
}

static sail_status parse_tensor(sail_st_file *f, const char *name, const json_t *o,
                                uint64_t data_size, const uint8_t *data, sail_error *err) {
    sail_st_tensor *t = &f->t[f->n];
    memset(t, 0, sizeof *t);
    const json_t *dt = json_object_get(o, "dtype"), *sh = json_object_get(o, "shape");
    const json_t *off = json_object_get(o, "data_offsets");
    if (!json_is_object(o) || !json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) ||
        json_array_size(off) != 2 || json_object_size(o) != 3)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "tensor '%.200s': expected {dtype, shape, data_offsets}", name);
    t->dtype = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) t->dtype = i;
    if (t->dtype < 0)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "tensor '%.200s' has dtype '%.32s', which sail cannot read",
                              name, json_string_value(dt));
    if (json_array_size(sh) > SAIL_ST_MAX_DIMS)
        return sail_set_error(err, SAIL_ERR_FORMAT, "tensor '%.200s' has %zu dimensions; the limit is %d",
                              name, json_array_size(sh), SAIL_ST_MAX_DIMS);
    t->n_dims = (int)json_array_size(sh);
    size_t bytes = dtypes[t->dtype].size;
    for (int i = 0; i < t->n_dims; i++) {
        uint64_t d;
        size_t nb;
        if (!json_u64(json_array_get(sh, (size_t)i), INT64_MAX, &d) || !sail_mul_ok(bytes, (size_t)d, &nb))
            return sail_set_error(err, SAIL_ERR_FORMAT, "tensor '%.200s': shape entry %d is not a size that fits in memory",
                                  name, i);
        t->shape[i] = (int64_t)d;
        bytes = nb;
    }
    uint64_t b, e;
    if (!json_u64(json_array_get(off, 0), data_size, &b) || !json_u64(json_array_get(off, 1), data_size, &e) ||
        e < b)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "tensor '%.200s': data_offsets lie outside the %llu data bytes of the file",
                              name, (unsigned long long)data_size);
    if (e - b != bytes)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "tensor '%.200s': data_offsets span %llu bytes but %s x shape needs %zu",
                              name, (unsigned long long)(e - b), dtypes[t->dtype].name, bytes);
    t->data = data + b;
    t->nbytes = bytes;
    if (!(t->name = sail_strdup(name))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    f->n++;
    return SAIL_OK;
}

static int by_offset(const void *a, const void *b) {
    const uint8_t *x = ((const sail_st_tensor *)a)->data, *y = ((const sail_st_tensor *)b)->data;
    return x < y ? -1 : x > y;
}

static sail_status parse(sail_st_file *f, sail_error *err) {
    if (f->size < 8) return sail_set_error(err, SAIL_ERR_FORMAT, "file is %zu bytes; too short for a safetensors header", f->size);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | f->base[i];
    if (hl < 2 || hl > SAIL_ST_MAX_HEADER || hl > f->size - 8)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "header length %llu does not fit the file (%zu bytes; limit %u)",
                              (unsigned long long)hl, f->size, SAIL_ST_MAX_HEADER);
    json_error_t je;
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!root) return sail_set_error(err, SAIL_ERR_FORMAT, "header is not valid JSON: %s (byte %d)", je.text, je.position);
    sail_status s = SAIL_OK;
    if (!json_is_object(root)) s = sail_set_error(err, SAIL_ERR_FORMAT, "header is not a JSON object");
    const uint8_t *data = f->base + 8 + hl;
    uint64_t data_size = f->size - 8 - hl;
    size_t n = s ? 0 : json_object_size(root);
    if (!s && !(f->t = sail_calloc(n ? n : 1, sizeof *f->t))) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (s) break;
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val)) s = sail_set_error(err, SAIL_ERR_FORMAT, "__metadata__ is not an object");
            continue;
        }
        if (!*key) s = sail_set_error(err, SAIL_ERR_FORMAT, "a tensor has an empty name");
        else s = parse_tensor(f, key, val, data_size, data, err);
    }
    json_decref(root);
    if (!s && f->n > 1) {
        /* Tensors may not share bytes: a hostile file could alias them. */
        sail_st_tensor *sorted = sail_malloc((size_t)f->n * sizeof *sorted);
        if (!sorted) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        memcpy(sorted, f->t, (size_t)f->n * sizeof *sorted);
        qsort(sorted, (size_t)f->n, sizeof *sorted, by_offset);
        for (int i = 1; i < f->n && !s; i++)
            if ((const uint8_t *)sorted[i - 1].data + sorted[i - 1].nbytes > (const uint8_t *)sorted[i].data)
                s = sail_set_error(err, SAIL_ERR_FORMAT, "tensors '%.200s' and '%.200s' overlap",
                                   sorted[i - 1].name, sorted[i].name);
        sail_free(sorted);
    }
    return s;
}

sail_st_file *sail_st_open_mem(const void *data, size_t size, sail_error *err) {
    sail_st_file *f = sail_calloc(1, sizeof *f);
    if (!f) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base = data;
    f->size = size;
    if (parse(f, err)) {
        sail_st_close(f);
        return NULL;
    }
    return f;
}

sail_st_file *sail_st_open(const char *path, sail_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sail_set_error(err, SAIL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        sail_set_error(err, SAIL_ERR_IO, "%s: cannot map the file (empty or unreadable)", path);
        return NULL;
    }
    sail_st_file *f = sail_st_open_mem(p, (size_t)st.st_size, err);
    if (!f) {
        munmap(p, (size_t)st.st_size);
        sail_error_prefix(err, "%s", path);
        return NULL;
    }
    f->mapped = 1;
    return f;
}

const sail_st_tensor *sail_st_find(const sail_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

sail_status sail_st_to_f32(const sail_st_tensor *t, uint64_t first, uint64_t n, float *out,
                           sail_error *err) {
    if (first > sail_st_numel(t) || n > sail_st_numel(t) - first)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "tensor '%.200s': range past its end", t->name);
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case SAIL_ST_F32:
        memcpy(out, p + first * 4, n * 4);
        return SAIL_OK;
    case SAIL_ST_F16:
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *q = p + (first + i) * 2;
            out[i] = sail_f16_to_f32((uint16_t)(q[0] | q[1] << 8));
        }
        return SAIL_OK;
    case SAIL_ST_BF16:
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *q = p + (first + i) * 2;
            out[i] = sail_bf16_to_f32((uint16_t)(q[0] | q[1] << 8));
        }
        return SAIL_OK;
    default:
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "tensor '%.200s' is %s; sail imports F32, F16 and BF16 weights",
                              t->name, sail_st_dtype_name(t->dtype));
    }
}
