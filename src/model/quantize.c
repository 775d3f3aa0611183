/* quantize.c: rewrite a model file with its weight matrices stored as F16,
 * BF16 or Q8_0 (sail_model_quantize). Metadata is copied key by key; 1-D
 * tensors (norms, biases, the class token) stay F32, as ggml keeps them;
 * a matrix whose rows are not whole Q8_0 blocks falls back to F16. */
#include "format/gguf.h"
#include "kernels/numfmt.h"

#include <stdio.h>
#include <string.h>

static sail_status copy_kv(gguf_writer *w, const gguf_kv *kv) {
    char key[512];
    if (kv->key.len >= sizeof key) return SAIL_ERR_FORMAT;
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = 0;
    if (kv->type == GGUF_VT_STRING) {
        char *v = sail_malloc(kv->v.str.len + 1);
        if (!v) return SAIL_ERR_NOMEM;
        memcpy(v, kv->v.str.ptr, kv->v.str.len);
        v[kv->v.str.len] = 0;
        sail_status s = gguf_set_str(w, key, v);
        sail_free(v);
        return s;
    }
    if (kv->type != GGUF_VT_ARRAY) {
        /* The reader widened the value; narrow it back to its own type. */
        union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
                float f32; uint64_t u64; int64_t i64; double f64; } v;
        switch (kv->type) {
        case GGUF_VT_U8: case GGUF_VT_BOOL: v.u8 = (uint8_t)kv->v.u64; break;
        case GGUF_VT_I8: v.i8 = (int8_t)kv->v.i64; break;
        case GGUF_VT_U16: v.u16 = (uint16_t)kv->v.u64; break;
        case GGUF_VT_I16: v.i16 = (int16_t)kv->v.i64; break;
        case GGUF_VT_U32: v.u32 = (uint32_t)kv->v.u64; break;
        case GGUF_VT_I32: v.i32 = (int32_t)kv->v.i64; break;
        case GGUF_VT_F32: v.f32 = (float)kv->v.f64; break;
        case GGUF_VT_U64: v.u64 = kv->v.u64; break;
        case GGUF_VT_I64: v.i64 = kv->v.i64; break;
        default: v.f64 = kv->v.f64; break;
        }
        return gguf_set_scalar(w, key, kv->type, &v);
    }
    if (kv->v.arr.type != GGUF_VT_STRING)
        return gguf_set_array(w, key, kv->v.arr.type, kv->v.arr.data, kv->v.arr.n);
    uint64_t n = kv->v.arr.n;
    char **strs = sail_calloc(n ? n : 1, sizeof *strs);
    sail_status s = strs ? SAIL_OK : SAIL_ERR_NOMEM;
    for (uint64_t i = 0; !s && i < n; i++) {
        gguf_str g = kv->v.arr.strs[i];
        if (!(strs[i] = sail_malloc(g.len + 1))) s = SAIL_ERR_NOMEM;
        else {
            memcpy(strs[i], g.ptr, g.len);
            strs[i][g.len] = 0;
        }
    }
    if (!s) s = gguf_set_str_array(w, key, (const char *const *)strs, n);
    for (uint64_t i = 0; strs && i < n; i++) sail_free(strs[i]);
    sail_free(strs);
    return s;
}

static uint32_t target_type(const gguf_tensor *t, uint32_t want) {
    if (t->n_dims < 2) return GGUF_T_F32;
    if (want == GGUF_T_Q8_0 && t->ne[0] % SAIL_Q8_0_BLOCK) return GGUF_T_F16;
    return want;
}

static size_t elems(const gguf_tensor *t) {
    size_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) n *= (size_t)t->ne[d];
    return n;
}

/* Every tensor decoded to f32 and re-encoded; bufs[i] owns tensor i's bytes. */
static sail_status add_tensors(gguf_writer *w, const gguf_file *f, uint32_t want, void **bufs,
                               sail_error *err) {
    float *row = NULL;
    size_t row_cap = 0;
    sail_status s = SAIL_OK;
    for (uint64_t i = 0; !s && i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        uint32_t type = target_type(t, want);
        size_t n = elems(t);
        if (n > row_cap) {
            sail_free(row);
            row_cap = n;
            row = sail_malloc(n * sizeof(float));
        }
        if (!row || !(bufs[i] = sail_alloc_aligned(gguf_type_nbytes(type, n)))) {
            s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory while quantizing");
            break;
        }
        sail_dequantize_row(t->type, row, t->data, n);
        sail_quantize_row(type, bufs[i], row, n);
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)SAIL_MIN(t->name.len, 511), t->name.ptr);
        if ((s = gguf_add_tensor(w, name, type, t->n_dims, t->ne, bufs[i])))
            s = sail_set_error(err, s, "cannot add tensor '%s' to the output", name);
    }
    sail_free(row);
    return s;
}

static int parse_type(const char *name, uint32_t *type) {
    static const struct { const char *name; uint32_t type; } types[] = {
        {"f32", GGUF_T_F32}, {"f16", GGUF_T_F16}, {"bf16", GGUF_T_BF16}, {"q8_0", GGUF_T_Q8_0}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(name, types[i].name)) {
            *type = types[i].type;
            return 0;
        }
    return -1;
}

sail_status sail_model_quantize(const char *in, const char *out, const char *type_name,
                                sail_error *err) {
    uint32_t type;
    if (!in || !out || !type_name)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "quantize needs an input, an output and a type");
    if (parse_type(type_name, &type))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "unknown weight type '%s'; choose f32, f16, bf16 or q8_0", type_name);
    /* Loading first validates the whole model, not just the container. */
    sail_model *m = sail_model_load(in, &(sail_load_options){.n_threads = 1, .no_repack = 1}, err);
    if (!m) return err ? err->status : SAIL_ERR_FORMAT;
    sail_model_free(m);
    gguf_file *f = gguf_open(in, err);
    if (!f) return err ? err->status : SAIL_ERR_FORMAT;
    gguf_writer *w = gguf_writer_new();
    void **bufs = sail_calloc(f->n_tensors ? f->n_tensors : 1, sizeof *bufs);
    sail_status s = w && bufs ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; !s && i < f->n_kv; i++)
        if ((s = copy_kv(w, &f->kv[i])))
            s = sail_set_error(err, s, "cannot copy metadata key %llu", (unsigned long long)i);
    if (!s) s = add_tensors(w, f, type, bufs, err);
    if (!s) s = gguf_writer_write(w, out, err);
    for (uint64_t i = 0; bufs && i < f->n_tensors; i++) sail_free(bufs[i]);
    sail_free(bufs);
    gguf_writer_free(w);
    gguf_close(f);
    return s;
}
