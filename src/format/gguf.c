/* gguf.c: GGUF v3 reader. The file is hostile: every count, length, offset
 * and size is checked against the bytes that remain before it is used or
 * allocated for, so a malformed or truncated file yields a message naming the
 * file and the problem, never a crash. Layout and the full list of checks:
 * docs/FORMAT.md.
 *
 * Sections: bounds-checked cursor, key/value section, tensor directory,
 * whole-file checks (alignment, bounds, overlap, duplicates), open/close,
 * lookups and typed getters. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_VERSION 3
#define GGUF_MAX_NAME (64u * 1024u)      /* keys and tensor names */
#define GGUF_MAX_ALIGN (1u << 20)
#define GGUF_DEFAULT_ALIGN 32
#define GGUF_N_VTYPES 13
/* Smallest possible encodings, so impossible counts are refused before any
 * allocation: a kv is key length + 1 key byte + type + a 1-byte value; a
 * tensor info is name length + 1 byte + n_dims + one ne + type + offset. */
#define KV_MIN_BYTES (8 + 1 + 4 + 1)
#define TI_MIN_BYTES (8 + 1 + 4 + 8 + 4 + 8)
#define SHOWN_NAME 200                   /* longest name quoted in a message */

static const uint8_t vt_size[GGUF_N_VTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const vt_name[GGUF_N_VTYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
    "u64", "i64", "f64"};

const char *gguf_vtype_name(uint32_t type) {
    return type < GGUF_N_VTYPES ? vt_name[type] : "unknown";
}

const char *gguf_type_name(uint32_t type) {
    switch (type) {
    case GGUF_T_F32: return "F32";
    case GGUF_T_F16: return "F16";
    case GGUF_T_Q8_0: return "Q8_0";
    case GGUF_T_BF16: return "BF16";
    }
    return "unknown";
}

/* Elements per block and bytes per block; 0 for an unknown type. */
static uint64_t type_block(uint32_t type, uint64_t *block_bytes) {
    switch (type) {
    case GGUF_T_F32: *block_bytes = 4; return 1;
    case GGUF_T_F16:
    case GGUF_T_BF16: *block_bytes = 2; return 1;
    case GGUF_T_Q8_0: *block_bytes = 2 + 32; return 32;  /* f16 scale + 32 x int8 */
    }
    *block_bytes = 0;
    return 0;
}

uint64_t gguf_type_nbytes(uint32_t type, uint64_t n_elems) {
    uint64_t bb, blk = type_block(type, &bb), out;
    if (!blk || n_elems % blk) return 0;
    if (__builtin_mul_overflow(n_elems / blk, bb, &out)) return 0;
    return out;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* A name for messages: at most SHOWN_NAME bytes of a view. */
#define SHOW(s) (int)SAIL_MIN((s).len, SHOWN_NAME), (s).ptr

/* ----------------------------------------------------------- cursor -- */

typedef struct rd {
    const uint8_t *p;
    size_t size, pos;
    const char *name;   /* file name for messages */
    sail_error *err;
} rd;

static sail_status fail(const rd *r, sail_status st, const char *fmt, ...) SAIL_PRINTF(3, 4);
static sail_status fail(const rd *r, sail_status st, const char *fmt, ...) {
    char msg[sizeof r->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sail_set_error(r->err, st, "%s: %s", r->name, msg);
}

static size_t left(const rd *r) { return r->size - r->pos; }

static sail_status need(const rd *r, uint64_t n, const char *what) {
    if (n <= left(r)) return SAIL_OK;
    return fail(r, SAIL_ERR_FORMAT,
                "%s at offset %zu needs %llu bytes but only %zu remain (file size %zu); "
                "the file is truncated", what, r->pos, (unsigned long long)n, left(r), r->size);
}

static sail_status rd_u32(rd *r, const char *what, uint32_t *v) {
    sail_status st = need(r, 4, what);
    if (st) return st;
    *v = le32(r->p + r->pos);
    r->pos += 4;
    return SAIL_OK;
}

static sail_status rd_u64(rd *r, const char *what, uint64_t *v) {
    sail_status st = need(r, 8, what);
    if (st) return st;
    *v = le64(r->p + r->pos);
    r->pos += 8;
    return SAIL_OK;
}

static sail_status rd_str(rd *r, const char *what, gguf_str *s) {
    uint64_t len;
    sail_status st = rd_u64(r, what, &len);
    if (!st) st = need(r, len, what);
    if (st) return st;
    s->ptr = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += len;
    return SAIL_OK;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) and
 * no NUL, so names compare safely against C strings. */
static bool valid_utf8(const uint8_t *s, uint64_t n) {
    uint64_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp, min;
        unsigned len;
        if (c == 0) return false;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i < len) return false;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

bool gguf_name_valid(const char *s, uint64_t n) {
    return n >= 1 && n <= GGUF_MAX_NAME && valid_utf8((const uint8_t *)s, n);
}

/* A key or tensor name: a string that must be a usable identifier. */
static sail_status rd_name(rd *r, const char *what, gguf_str *s) {
    uint64_t len;
    size_t at = r->pos;
    sail_status st = rd_u64(r, what, &len);
    if (st) return st;
    if (len == 0) return fail(r, SAIL_ERR_FORMAT, "%s at offset %zu is empty", what, at);
    if ((st = need(r, len, what))) return st;
    if (len > GGUF_MAX_NAME)
        return fail(r, SAIL_ERR_FORMAT, "%s at offset %zu is %llu bytes long; the limit is %u "
                    "(the file is corrupt)", what, at, (unsigned long long)len, GGUF_MAX_NAME);
    r->pos = at;
    if ((st = rd_str(r, what, s))) return st;
    if (!gguf_name_valid(s->ptr, s->len))
        return fail(r, SAIL_ERR_FORMAT, "%s at offset %zu is not valid UTF-8 (or contains NUL)",
                    what, at);
    return SAIL_OK;
}

/* ----------------------------------------------------- key/values -- */

static void decode_scalar(uint32_t t, const uint8_t *p, gguf_kv *kv) {
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_BOOL: kv->v.u64 = p[0]; break;
    case GGUF_VT_I8: kv->v.i64 = (int8_t)p[0]; break;
    case GGUF_VT_U16: kv->v.u64 = (uint16_t)(p[0] | p[1] << 8); break;
    case GGUF_VT_I16: kv->v.i64 = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case GGUF_VT_U32: kv->v.u64 = le32(p); break;
    case GGUF_VT_I32: kv->v.i64 = (int32_t)le32(p); break;
    case GGUF_VT_U64: kv->v.u64 = le64(p); break;
    case GGUF_VT_I64: kv->v.i64 = (int64_t)le64(p); break;
    case GGUF_VT_F32: { uint32_t b = le32(p); float x; memcpy(&x, &b, 4); kv->v.f64 = x; break; }
    case GGUF_VT_F64: { uint64_t b = le64(p); memcpy(&kv->v.f64, &b, 8); break; }
    }
}

static sail_status check_bools(const rd *r, const gguf_kv *kv, const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return fail(r, SAIL_ERR_FORMAT, "key '%.*s': bool value %u at offset %zu is not 0 or 1",
                        SHOW(kv->key), p[i], (size_t)(p + i - r->p));
    return SAIL_OK;
}

static sail_status read_array(rd *r, gguf_kv *kv) {
    char what[SHOWN_NAME + 64];
    uint32_t et;
    uint64_t n;
    sail_status st;
    snprintf(what, sizeof what, "array header of key '%.*s'", SHOW(kv->key));
    if ((st = rd_u32(r, what, &et)) || (st = rd_u64(r, what, &n))) return st;
    if (et >= GGUF_N_VTYPES)
        return fail(r, SAIL_ERR_FORMAT, "key '%.*s' is an array of unknown value type %u",
                    SHOW(kv->key), et);
    if (et == GGUF_VT_ARRAY)
        return fail(r, SAIL_ERR_UNSUPPORTED, "key '%.*s' is a nested array, which is not supported",
                    SHOW(kv->key));
    kv->v.arr.type = et;
    kv->v.arr.n = n;
    kv->v.arr.data = r->p + r->pos;
    snprintf(what, sizeof what, "array data of key '%.*s'", SHOW(kv->key));
    if (et != GGUF_VT_STRING) {
        uint64_t bytes;
        if (__builtin_mul_overflow(n, (uint64_t)vt_size[et], &bytes)) bytes = UINT64_MAX;
        if ((st = need(r, bytes, what))) return st;
        if (et == GGUF_VT_BOOL && (st = check_bools(r, kv, r->p + r->pos, n))) return st;
        r->pos += bytes;
        return SAIL_OK;
    }
    /* each string takes at least its 8-byte length: bound n before allocating */
    if (n > left(r) / 8) return need(r, n > UINT64_MAX / 8 ? UINT64_MAX : n * 8, what);
    kv->v.arr.strs = sail_calloc(n, sizeof(gguf_str));
    if (!kv->v.arr.strs)
        return fail(r, SAIL_ERR_NOMEM, "out of memory for %llu strings of key '%.*s'",
                    (unsigned long long)n, SHOW(kv->key));
    for (uint64_t i = 0; i < n; i++)
        if ((st = rd_str(r, what, &kv->v.arr.strs[i]))) return st;
    return SAIL_OK;
}

static sail_status read_kv(rd *r, uint64_t i, gguf_kv *kv) {
    char what[SHOWN_NAME + 64];
    sail_status st;
    snprintf(what, sizeof what, "key #%llu", (unsigned long long)i);
    if ((st = rd_name(r, what, &kv->key))) return st;
    snprintf(what, sizeof what, "value type of key '%.*s'", SHOW(kv->key));
    if ((st = rd_u32(r, what, &kv->type))) return st;
    if (kv->type >= GGUF_N_VTYPES)
        return fail(r, SAIL_ERR_FORMAT, "key '%.*s' has unknown value type %u",
                    SHOW(kv->key), kv->type);
    snprintf(what, sizeof what, "value of key '%.*s'", SHOW(kv->key));
    if (kv->type == GGUF_VT_STRING) return rd_str(r, what, &kv->v.str);
    if (kv->type == GGUF_VT_ARRAY) return read_array(r, kv);
    if ((st = need(r, vt_size[kv->type], what))) return st;
    if (kv->type == GGUF_VT_BOOL && (st = check_bools(r, kv, r->p + r->pos, 1))) return st;
    decode_scalar(kv->type, r->p + r->pos, kv);
    r->pos += vt_size[kv->type];
    return SAIL_OK;
}

/* ---------------------------------------------------- tensor infos -- */

static sail_status read_tensor_info(rd *r, uint64_t i, gguf_tensor *t) {
    char what[SHOWN_NAME + 64];
    uint64_t n_elems = 1;
    sail_status st;
    snprintf(what, sizeof what, "name of tensor #%llu", (unsigned long long)i);
    if ((st = rd_name(r, what, &t->name))) return st;
    snprintf(what, sizeof what, "info of tensor '%.*s'", SHOW(t->name));
    if ((st = rd_u32(r, what, &t->n_dims))) return st;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' has n_dims = %u; it must be 1..%d",
                    SHOW(t->name), t->n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if ((st = rd_u64(r, what, &t->ne[d]))) return st;
        if (t->ne[d] == 0)
            return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' has ne[%u] = 0; every dimension must be >= 1",
                        SHOW(t->name), d);
        if (t->ne[d] > INT64_MAX || __builtin_mul_overflow(n_elems, t->ne[d], &n_elems))
            return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' has too many elements "
                        "(the element count overflows 64 bits)", SHOW(t->name));
    }
    for (uint32_t d = t->n_dims; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    if ((st = rd_u32(r, what, &t->type)) || (st = rd_u64(r, what, &t->offset))) return st;
    uint64_t bb, blk = type_block(t->type, &bb);
    if (!blk)
        return fail(r, SAIL_ERR_UNSUPPORTED, "tensor '%.*s' has unknown tensor type %u "
                    "(supported: F32=0, F16=1, Q8_0=8, BF16=30)", SHOW(t->name), t->type);
    if (t->ne[0] % blk)
        return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' is %s but its row length ne[0] = %llu "
                    "is not a multiple of the block size %llu", SHOW(t->name),
                    gguf_type_name(t->type), (unsigned long long)t->ne[0], (unsigned long long)blk);
    t->nbytes = gguf_type_nbytes(t->type, n_elems);
    if (!t->nbytes)
        return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' is too large (its byte size overflows 64 bits)",
                    SHOW(t->name));
    return SAIL_OK;
}

/* -------------------------------------------------- whole-file checks -- */

static int cmp_str_ptr(const void *a, const void *b) {
    const gguf_str *x = *(const gguf_str *const *)a, *y = *(const gguf_str *const *)b;
    int c = memcmp(x->ptr, y->ptr, SAIL_MIN(x->len, y->len));
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Sort views of n names (each `stride` bytes apart) and refuse repeats. */
static sail_status check_unique(const rd *r, const gguf_str *first, size_t stride, uint64_t n,
                                const char *kind) {
    const gguf_str **v = sail_malloc(n * sizeof *v);   /* n <= size / KV_MIN_BYTES */
    sail_status st = SAIL_OK;
    if (!v) return fail(r, SAIL_ERR_NOMEM, "out of memory checking %s names", kind);
    for (uint64_t i = 0; i < n; i++)
        v[i] = (const gguf_str *)((const char *)first + i * stride);
    qsort(v, n, sizeof *v, cmp_str_ptr);
    for (uint64_t i = 1; i < n && !st; i++)
        if (!cmp_str_ptr(&v[i - 1], &v[i]))
            st = fail(r, SAIL_ERR_FORMAT, "duplicate %s '%.*s'", kind, SHOW(*v[i]));
    sail_free(v);
    return st;
}

static sail_status read_alignment(const rd *r, gguf_file *f) {
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    f->alignment = GGUF_DEFAULT_ALIGN;
    if (!kv) return SAIL_OK;
    if (kv->type != GGUF_VT_U32)
        return fail(r, SAIL_ERR_FORMAT, "general.alignment has type %s; it must be u32",
                    gguf_vtype_name(kv->type));
    if (kv->v.u64 == 0 || (kv->v.u64 & (kv->v.u64 - 1)) || kv->v.u64 > GGUF_MAX_ALIGN)
        return fail(r, SAIL_ERR_FORMAT, "general.alignment is %llu; it must be a power of two "
                    "from 1 to %u", (unsigned long long)kv->v.u64, GGUF_MAX_ALIGN);
    f->alignment = kv->v.u64;
    return SAIL_OK;
}

/* Every tensor's data aligned and inside the file. data_bytes is what the
 * file holds after the data section start. */
static sail_status check_bounds(const rd *r, const gguf_file *f, uint64_t data_bytes) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment)
            return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' offset %llu is not a multiple of the "
                        "alignment %llu", SHOW(t->name), (unsigned long long)t->offset,
                        (unsigned long long)f->alignment);
        if (t->offset > data_bytes || t->nbytes > data_bytes - t->offset)
            return fail(r, SAIL_ERR_FORMAT, "tensor '%.*s' data (offset %llu in the data section at "
                        "file offset %llu, %llu bytes) runs past the end of the file (size %zu); "
                        "the file is truncated", SHOW(t->name), (unsigned long long)t->offset,
                        (unsigned long long)f->data_offset, (unsigned long long)t->nbytes, r->size);
    }
    return SAIL_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* No two tensors share bytes; the last one's padding is present too, since
 * every writer pads after each tensor and a file cut inside that padding has
 * lost its tail. Runs after check_bounds, so ends cannot overflow. */
static sail_status check_layout(const rd *r, const gguf_file *f, uint64_t data_bytes) {
    const gguf_tensor **v = sail_malloc(f->n_tensors * sizeof *v);
    sail_status st = SAIL_OK;
    if (!v) return fail(r, SAIL_ERR_NOMEM, "out of memory checking tensor offsets");
    for (uint64_t i = 0; i < f->n_tensors; i++) v[i] = &f->tensors[i];
    qsort(v, f->n_tensors, sizeof *v, cmp_offset);
    for (uint64_t i = 1; i < f->n_tensors && !st; i++)
        if (v[i - 1]->offset + v[i - 1]->nbytes > v[i]->offset)
            st = fail(r, SAIL_ERR_FORMAT, "tensors '%.*s' (offset %llu, %llu bytes) and '%.*s' "
                      "(offset %llu) overlap", SHOW(v[i - 1]->name),
                      (unsigned long long)v[i - 1]->offset, (unsigned long long)v[i - 1]->nbytes,
                      SHOW(v[i]->name), (unsigned long long)v[i]->offset);
    if (!st && f->n_tensors) {
        const gguf_tensor *t = v[f->n_tensors - 1];
        uint64_t end = t->offset + t->nbytes, pad = (f->alignment - end % f->alignment) % f->alignment;
        if (pad > data_bytes - end)
            st = fail(r, SAIL_ERR_FORMAT, "the padding after the last tensor '%.*s' runs past the "
                      "end of the file (size %zu); the file is truncated", SHOW(t->name), r->size);
    }
    sail_free(v);
    return st;
}

/* ------------------------------------------------------------ parse -- */

static sail_status read_header(rd *r, gguf_file *f) {
    uint32_t ver;
    sail_status st = need(r, 4, "magic");
    if (st) return st;
    if (memcmp(r->p, "GGUF", 4))
        return fail(r, SAIL_ERR_FORMAT, "not a GGUF file: bad magic %02x %02x %02x %02x "
                    "(expected 47 47 55 46, \"GGUF\")", r->p[0], r->p[1], r->p[2], r->p[3]);
    r->pos = 4;
    if ((st = rd_u32(r, "version", &ver))) return st;
    if (ver == 1 || ver == 2)
        return fail(r, SAIL_ERR_UNSUPPORTED, "GGUF version %u is not supported (only version 3); "
                    "convert the model again with a current converter", ver);
    if (ver == 0x03000000)
        return fail(r, SAIL_ERR_UNSUPPORTED, "this is a big-endian GGUF file, which is not supported");
    if (ver != GGUF_VERSION)
        return fail(r, SAIL_ERR_UNSUPPORTED, "unknown GGUF version %u (only version 3 is supported)", ver);
    f->version = ver;
    if ((st = rd_u64(r, "tensor count", &f->n_tensors)) || (st = rd_u64(r, "key/value count", &f->n_kv)))
        return st;
    if (f->n_kv > left(r) / KV_MIN_BYTES)
        return fail(r, SAIL_ERR_FORMAT, "the header claims %llu key/value pairs, but each takes at "
                    "least %d bytes and only %zu bytes remain; the file is truncated or corrupt",
                    (unsigned long long)f->n_kv, KV_MIN_BYTES, left(r));
    if (f->n_tensors > (left(r) - f->n_kv * KV_MIN_BYTES) / TI_MIN_BYTES)
        return fail(r, SAIL_ERR_FORMAT, "the header claims %llu tensors and %llu key/value pairs, "
                    "which need at least %llu bytes each, but only %zu bytes remain; the file is "
                    "truncated or corrupt", (unsigned long long)f->n_tensors,
                    (unsigned long long)f->n_kv, (unsigned long long)TI_MIN_BYTES, left(r));
    return SAIL_OK;
}

static sail_status parse(rd *r, gguf_file *f) {
    sail_status st = read_header(r, f);
    if (st) return st;
    f->kv = sail_calloc(f->n_kv, sizeof *f->kv);
    f->tensors = sail_calloc(f->n_tensors, sizeof *f->tensors);
    if (!f->kv || !f->tensors)
        return fail(r, SAIL_ERR_NOMEM, "out of memory for %llu keys and %llu tensors",
                    (unsigned long long)f->n_kv, (unsigned long long)f->n_tensors);
    for (uint64_t i = 0; i < f->n_kv; i++)
        if ((st = read_kv(r, i, &f->kv[i]))) return st;
    if ((st = check_unique(r, &f->kv[0].key, sizeof(gguf_kv), f->n_kv, "key"))) return st;
    if ((st = read_alignment(r, f))) return st;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((st = read_tensor_info(r, i, &f->tensors[i]))) return st;
    if ((st = check_unique(r, &f->tensors[0].name, sizeof(gguf_tensor), f->n_tensors, "tensor name")))
        return st;
    uint64_t pad = (f->alignment - r->pos % f->alignment) % f->alignment;
    if (pad > left(r))
        return fail(r, SAIL_ERR_FORMAT, "the tensor data section starts at offset %llu, past the "
                    "end of the file (size %zu); the file is truncated",
                    (unsigned long long)(r->pos + pad), r->size);
    f->data_offset = r->pos + pad;
    uint64_t data_bytes = r->size - f->data_offset;
    if ((st = check_bounds(r, f, data_bytes)) || (st = check_layout(r, f, data_bytes))) return st;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        f->tensors[i].data = f->base + f->data_offset + f->tensors[i].offset;
    return SAIL_OK;
}

static gguf_file *open_buffer(const uint8_t *data, size_t size, const char *name, sail_error *err) {
    rd r = {data, size, 0, name, err};
    gguf_file *f = sail_calloc(1, sizeof *f);
    if (!f) {
        fail(&r, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base = data;
    f->size = size;
    if (parse(&r, f)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_mem(const void *data, size_t size, sail_error *err) {
    if (!data && size) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "gguf_open_mem: NULL buffer of %zu bytes", size);
        return NULL;
    }
    return open_buffer(data ? data : (const void *)"", size, "<memory>", err);
}

gguf_file *gguf_open(const char *path, sail_error *err) {
    struct stat sb;
    if (!path) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "gguf_open: NULL path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sail_set_error(err, SAIL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    const char *why = NULL;
    sail_status why_st = SAIL_ERR_IO;
    if (fstat(fd, &sb)) why = strerror(errno);
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    else if (sb.st_size == 0) {
        why = "the file is empty (0 bytes); it is truncated";
        why_st = SAIL_ERR_FORMAT;
    }
    if (why) {
        close(fd);
        sail_set_error(err, why_st, "%s: %s", path, why);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        sail_set_error(err, SAIL_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, size, strerror(e));
        return NULL;
    }
    gguf_file *f = open_buffer(map, size, path, err);
    if (!f) {
        munmap(map, size);
        return NULL;
    }
    f->mapped = 1;
    return f;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++)
            if (f->kv[i].type == GGUF_VT_ARRAY) sail_free(f->kv[i].v.arr.strs);
    sail_free(f->kv);
    sail_free(f->tensors);
    if (f->mapped) munmap((void *)f->base, f->size);
    sail_free(f);
}

/* ---------------------------------------------------------- lookups -- */

static bool str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && !memcmp(s.ptr, c, n);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static const gguf_kv *find_or_fail(const gguf_file *f, const char *key, sail_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' is missing from the model file", key ? key : "(null)");
    return kv;
}

static bool is_signed(uint32_t t) {
    return t == GGUF_VT_I8 || t == GGUF_VT_I16 || t == GGUF_VT_I32 || t == GGUF_VT_I64;
}
static bool is_unsigned(uint32_t t) {
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}

/* Any integer kv as a value in [lo, hi], refusing what does not fit. */
static sail_status get_ranged(const gguf_file *f, const char *key, int64_t lo, uint64_t hi,
                           const char *want, int64_t *out, sail_error *err) {
    const gguf_kv *kv = find_or_fail(f, key, err);
    if (!kv) return SAIL_ERR_FORMAT;
    if (is_unsigned(kv->type) && kv->v.u64 <= hi) {
        *out = (int64_t)kv->v.u64;
        return SAIL_OK;
    }
    if (is_signed(kv->type) && kv->v.i64 >= lo && (kv->v.i64 < 0 || (uint64_t)kv->v.i64 <= hi)) {
        *out = kv->v.i64;
        return SAIL_OK;
    }
    if (is_unsigned(kv->type))
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' = %llu (%s) does not fit in %s", key,
                              (unsigned long long)kv->v.u64, vt_name[kv->type], want);
    if (is_signed(kv->type))
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' = %lld (%s) does not fit in %s", key,
                              (long long)kv->v.i64, vt_name[kv->type], want);
    return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' has type %s; expected an integer (%s)",
                          key, gguf_vtype_name(kv->type), want);
}

sail_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, sail_error *err) {
    int64_t v;
    sail_status st = get_ranged(f, key, 0, UINT32_MAX, "u32", &v, err);
    if (!st) *out = (uint32_t)v;
    return st;
}

sail_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, sail_error *err) {
    int64_t v;
    sail_status st = get_ranged(f, key, INT32_MIN, INT32_MAX, "i32", &v, err);
    if (!st) *out = (int32_t)v;
    return st;
}

sail_status gguf_get_f32(const gguf_file *f, const char *key, float *out, sail_error *err) {
    const gguf_kv *kv = find_or_fail(f, key, err);
    if (!kv) return SAIL_ERR_FORMAT;
    if (kv->type != GGUF_VT_F32 && kv->type != GGUF_VT_F64)
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' has type %s; expected f32 or f64",
                              key, gguf_vtype_name(kv->type));
    double d = kv->v.f64;
    if ((d > FLT_MAX || d < -FLT_MAX) && !isinf(d))
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' = %g (f64) does not fit in f32", key, d);
    *out = (float)d;
    return SAIL_OK;
}

sail_status gguf_get_bool(const gguf_file *f, const char *key, int *out, sail_error *err) {
    const gguf_kv *kv = find_or_fail(f, key, err);
    if (!kv) return SAIL_ERR_FORMAT;
    if (kv->type != GGUF_VT_BOOL)
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' has type %s; expected bool",
                              key, gguf_vtype_name(kv->type));
    *out = (int)kv->v.u64;
    return SAIL_OK;
}

sail_status gguf_get_str(const gguf_file *f, const char *key, char *out, size_t cap, sail_error *err) {
    const gguf_kv *kv = find_or_fail(f, key, err);
    if (!kv) return SAIL_ERR_FORMAT;
    if (kv->type != GGUF_VT_STRING)
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' has type %s; expected string",
                              key, gguf_vtype_name(kv->type));
    if (!out || kv->v.str.len >= cap)
        return sail_set_error(err, SAIL_ERR_LIMIT, "key '%s': the string is %llu bytes but the "
                              "buffer holds at most %zu", key, (unsigned long long)kv->v.str.len,
                              cap ? cap - 1 : 0);
    memcpy(out, kv->v.str.ptr, kv->v.str.len);
    out[kv->v.str.len] = '\0';
    return SAIL_OK;
}

/* Element i of a numeric array as a double. */
static double elem_f64(uint32_t t, const uint8_t *data, uint64_t i) {
    gguf_kv tmp;
    decode_scalar(t, data + i * vt_size[t], &tmp);
    if (t == GGUF_VT_F32 || t == GGUF_VT_F64) return tmp.v.f64;
    return is_signed(t) ? (double)tmp.v.i64 : (double)tmp.v.u64;
}

sail_status gguf_get_f32_array(const gguf_file *f, const char *key, float *out, uint64_t n,
                               sail_error *err) {
    const gguf_kv *kv = find_or_fail(f, key, err);
    if (!kv) return SAIL_ERR_FORMAT;
    uint32_t et = kv->type == GGUF_VT_ARRAY ? kv->v.arr.type : GGUF_VT_ARRAY;
    if (kv->type != GGUF_VT_ARRAY || et == GGUF_VT_STRING || et == GGUF_VT_BOOL)
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' has type %s%s%s; expected a numeric array",
                              key, gguf_vtype_name(kv->type), kv->type == GGUF_VT_ARRAY ? " of " : "",
                              kv->type == GGUF_VT_ARRAY ? gguf_vtype_name(et) : "");
    if (kv->v.arr.n != n)
        return sail_set_error(err, SAIL_ERR_FORMAT, "key '%s' has %llu elements; expected %llu",
                              key, (unsigned long long)kv->v.arr.n, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) out[i] = (float)elem_f64(et, kv->v.arr.data, i);
    return SAIL_OK;
}
