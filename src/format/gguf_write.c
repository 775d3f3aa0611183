/* gguf_write.c: GGUF v3 writer. Keys and values are encoded into memory as
 * they are set (so "last set wins" is a replace of one blob); tensors are
 * referenced and streamed at write time. The file appears atomically:
 * PATH.tmp is written, fsync-ed and renamed over PATH, then the directory is
 * fsync-ed. The setters have no error argument, so the writer keeps the first
 * failure and gguf_writer_write reports it. Layout: docs/FORMAT.md. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NAME (64u * 1024u)       /* as gguf_name_valid, for messages */
#define MAX_ALIGN (1u << 20)

typedef struct wkv {
    char *key;
    uint8_t *val;                    /* u32 type + encoded value, as in the file */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset;                 /* in the data section, set at write time */
    const void *data;                /* the caller's */
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint64_t alignment;
    sail_error err;                  /* the first failure, reported by write */
};

/* A growable byte buffer; an allocation failure is remembered, not returned,
 * so encoders can be written straight through. */
typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void put(wbuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) { b->oom = true; return; }
            cap *= 2;
        }
        uint8_t *p = sail_realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(wbuf *b, uint64_t v, unsigned size) {
    uint8_t tmp[8];
    for (unsigned i = 0; i < size; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put(b, tmp, size);
}

static void put_str(wbuf *b, const char *s) {
    size_t n = strlen(s);
    put_le(b, n, 8);
    put(b, s, n);
}

static const uint8_t scalar_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static bool is_scalar(uint32_t t) {
    return t < sizeof scalar_size && scalar_size[t] != 0;
}

/* One host value of type t (C types as in gguf.h) in little-endian order. */
static void put_scalar(wbuf *b, uint32_t t, const void *v) {
    uint64_t bits = 0;
    switch (scalar_size[t]) {
    case 1: { uint8_t x; memcpy(&x, v, 1); bits = t == GGUF_VT_BOOL ? x != 0 : x; break; }
    case 2: { uint16_t x; memcpy(&x, v, 2); bits = x; break; }
    case 4: { uint32_t x; memcpy(&x, v, 4); bits = x; break; }
    case 8: memcpy(&bits, v, 8); break;
    }
    put_le(b, bits, scalar_size[t]);
}

/* ----------------------------------------------------------- errors -- */

static sail_status wfail(gguf_writer *w, sail_status st, const char *fmt, ...) SAIL_PRINTF(3, 4);
static sail_status wfail(gguf_writer *w, sail_status st, const char *fmt, ...) {
    if (w && w->err.status == SAIL_OK) {
        va_list ap;
        va_start(ap, fmt);
        w->err.status = st;
        vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

static sail_status check_name(gguf_writer *w, const char *name, const char *kind) {
    if (!w) return SAIL_ERR_INVALID_ARG;
    if (!name || !*name) return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: empty %s", kind);
    if (!gguf_name_valid(name, strlen(name)))
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: %s '%.64s' is longer than %u bytes "
                     "or not valid UTF-8", kind, name, MAX_NAME);
    return SAIL_OK;
}

/* ------------------------------------------------------- key/values -- */

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = sail_calloc(1, sizeof *w);
    if (w) w->alignment = 32;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        sail_free(w->kv[i].key);
        sail_free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) sail_free(w->t[i].name);
    sail_free(w->kv);
    sail_free(w->t);
    sail_free(w);
}

/* The alignment key decides the file layout, so it is checked when set. */
static sail_status note_alignment(gguf_writer *w, const wbuf *b) {
    uint64_t type = 0, a = 0;
    if (b->n == 8)
        for (int i = 3; i >= 0; i--) {
            type = type << 8 | b->p[i];
            a = a << 8 | b->p[4 + i];
        }
    if (b->n != 8 || type != GGUF_VT_U32)
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: general.alignment must be set as u32");
    if (a == 0 || (a & (a - 1)) || a > MAX_ALIGN)
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: general.alignment %llu is not a power "
                     "of two from 1 to %u", (unsigned long long)a, MAX_ALIGN);
    w->alignment = a;
    return SAIL_OK;
}

/* Store an encoded value under key (taking b's memory), replacing any
 * earlier value of the key. */
static sail_status set_kv(gguf_writer *w, const char *key, wbuf *b) {
    sail_status st = check_name(w, key, "key");
    if (!st && b->oom) st = wfail(w, SAIL_ERR_NOMEM, "gguf writer: out of memory for key '%s'", key);
    if (!st && !strcmp(key, "general.alignment")) st = note_alignment(w, b);
    if (st) {
        sail_free(b->p);
        return st;
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            sail_free(w->kv[i].val);
            w->kv[i].val = b->p;
            w->kv[i].val_len = b->n;
            return SAIL_OK;
        }
    char *k = sail_strdup(key);
    if (k && w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *kv = sail_realloc(w->kv, cap * sizeof *kv);
        if (kv) { w->kv = kv; w->cap_kv = cap; }
    }
    if (!k || w->n_kv == w->cap_kv) {
        sail_free(k);
        sail_free(b->p);
        return wfail(w, SAIL_ERR_NOMEM, "gguf writer: out of memory for key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){k, b->p, b->n};
    return SAIL_OK;
}

sail_status gguf_set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v) {
    wbuf b = {0};
    if (!is_scalar(type) || !v)
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: key '%s': %s is not a scalar type",
                     key ? key : "", gguf_vtype_name(type));
    put_le(&b, type, 4);
    put_scalar(&b, type, v);
    return set_kv(w, key, &b);
}

sail_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    return gguf_set_scalar(w, key, GGUF_VT_U32, &v);
}
sail_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v) {
    return gguf_set_scalar(w, key, GGUF_VT_I32, &v);
}
sail_status gguf_set_f32(gguf_writer *w, const char *key, float v) {
    return gguf_set_scalar(w, key, GGUF_VT_F32, &v);
}
sail_status gguf_set_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return gguf_set_scalar(w, key, GGUF_VT_BOOL, &b);
}

sail_status gguf_set_str(gguf_writer *w, const char *key, const char *v) {
    wbuf b = {0};
    if (!v) return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key ? key : "");
    put_le(&b, GGUF_VT_STRING, 4);
    put_str(&b, v);
    return set_kv(w, key, &b);
}

sail_status gguf_set_array(gguf_writer *w, const char *key, uint32_t elem_type, const void *v,
                           uint64_t n) {
    wbuf b = {0};
    if (!is_scalar(elem_type) || (!v && n))
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: key '%s': bad array of %s",
                     key ? key : "", gguf_vtype_name(elem_type));
    put_le(&b, GGUF_VT_ARRAY, 4);
    put_le(&b, elem_type, 4);
    put_le(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.oom; i++)
        put_scalar(&b, elem_type, (const uint8_t *)v + i * scalar_size[elem_type]);
    return set_kv(w, key, &b);
}

sail_status gguf_set_f32_array(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    return gguf_set_array(w, key, GGUF_VT_F32, v, n);
}

sail_status gguf_set_str_array(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    wbuf b = {0};
    for (uint64_t i = 0; i < n; i++)
        if (!v || !v[i])
            return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string #%llu",
                         key ? key : "", (unsigned long long)i);
    put_le(&b, GGUF_VT_ARRAY, 4);
    put_le(&b, GGUF_VT_STRING, 4);
    put_le(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.oom; i++) put_str(&b, v[i]);
    return set_kv(w, key, &b);
}

/* ---------------------------------------------------------- tensors -- */

static sail_status check_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                const uint64_t *ne, const void *data, uint64_t *nbytes) {
    uint64_t n = 1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne || !data)
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %u (must be 1..%d), "
                     "ne and data must be given", name, n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] == 0 || ne[d] > INT64_MAX || __builtin_mul_overflow(n, ne[d], &n))
            return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: tensor '%s': bad ne[%u] = %llu",
                         name, d, (unsigned long long)ne[d]);
    /* 32 elements fill whole blocks of every supported type */
    if (!gguf_type_nbytes(type, 32))
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: tensor '%s': unknown type %u", name, type);
    *nbytes = gguf_type_nbytes(type, ne[0]) ? gguf_type_nbytes(type, n) : 0;
    if (!*nbytes)
        return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: tensor '%s': %s needs ne[0] (%llu) to "
                     "be a multiple of its block size and a size that fits 64 bits", name,
                     gguf_type_name(type), (unsigned long long)ne[0]);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return wfail(w, SAIL_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    return SAIL_OK;
}

sail_status gguf_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                            uint32_t n_dims, const uint64_t *ne, const void *data) {
    uint64_t nbytes = 0;
    sail_status st = check_name(w, name, "tensor name");
    if (!st) st = check_tensor(w, name, type, n_dims, ne, data, &nbytes);
    if (st) return st;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *t = sail_realloc(w->t, cap * sizeof *t);
        if (!t) return wfail(w, SAIL_ERR_NOMEM, "gguf writer: out of memory for tensor '%s'", name);
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = sail_strdup(name)))
        return wfail(w, SAIL_ERR_NOMEM, "gguf writer: out of memory for tensor '%s'", name);
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->ne, ne, n_dims * sizeof *ne);
    t->nbytes = nbytes;
    t->data = data;
    w->n_t++;
    return SAIL_OK;
}

/* ------------------------------------------------------------ write -- */

typedef struct wfile {
    FILE *fp;
    uint64_t pos;
    int err;                         /* first errno, 0 while all is well */
} wfile;

static void emit(wfile *o, const void *p, size_t n) {
    if (o->err || !n) return;
    if (fwrite(p, 1, n, o->fp) != n) o->err = errno ? errno : EIO;
    o->pos += n;
}

static void emit_pad(wfile *o, uint64_t align) {
    static const uint8_t zeros[256];
    uint64_t pad = (align - o->pos % align) % align;
    while (pad) {
        size_t n = (size_t)SAIL_MIN(pad, (uint64_t)sizeof zeros);
        emit(o, zeros, n);
        pad -= n;
    }
}

/* Magic, counts, key/values and the tensor directory, encoded in memory by
 * the key/values' own encoder; the file then takes it in one write. */
static void header(const gguf_writer *w, wbuf *b) {
    put(b, "GGUF", 4);
    put_le(b, 3, 4);
    put_le(b, w->n_t, 8);
    put_le(b, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(b, w->kv[i].key);
        put(b, w->kv[i].val, w->kv[i].val_len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name);
        put_le(b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(b, t->ne[d], 8);
        put_le(b, t->type, 4);
        put_le(b, t->offset, 8);
    }
}

static void emit_all(const gguf_writer *w, const wbuf *h, wfile *o) {
    emit(o, h->p, h->n);
    emit_pad(o, w->alignment);
    for (size_t i = 0; i < w->n_t; i++) {
        emit(o, w->t[i].data, w->t[i].nbytes);
        emit_pad(o, w->alignment);
    }
}

static sail_status assign_offsets(gguf_writer *w, const char *path, sail_error *err) {
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        uint64_t a = w->alignment;
        w->t[i].offset = off;
        if (__builtin_add_overflow(off, w->t[i].nbytes, &off) ||
            __builtin_add_overflow(off, (a - off % a) % a, &off))
            return sail_set_error(err, SAIL_ERR_LIMIT, "%s: the tensor data exceeds 2^64 bytes", path);
    }
    return SAIL_OK;
}

/* Make the rename durable. A file system that cannot sync directories
 * (EINVAL) gives no stronger guarantee to ask for. */
static sail_status sync_dir(const char *path, sail_error *err) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + (slash == path) : 1;
    char *dir = sail_malloc(n + 1);
    if (!dir) return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
    if (fd < 0 || (fsync(fd) && errno != EINVAL)) e = errno;
    if (fd >= 0) close(fd);
    sail_free(dir);
    if (e)
        return sail_set_error(err, SAIL_ERR_IO, "%s: written, but syncing its directory failed: %s",
                              path, strerror(e));
    return SAIL_OK;
}

sail_status gguf_writer_write(gguf_writer *w, const char *path, sail_error *err) {
    if (!w || !path || !*path)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "gguf_writer_write: no writer or path");
    if (w->err.status)
        return sail_set_error(err, w->err.status, "%s: not written: %s", path, w->err.msg);
    sail_status st = assign_offsets(w, path, err);
    if (st) return st;
    wbuf h = {0};
    header(w, &h);
    size_t n = strlen(path);
    char *tmp = h.oom ? NULL : sail_malloc(n + 5);
    if (!tmp) {
        sail_free(h.p);
        return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    wfile o = {fopen(tmp, "wb"), 0, 0};
    if (!o.fp) {
        st = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        sail_free(tmp);
        sail_free(h.p);
        return st;
    }
    emit_all(w, &h, &o);
    sail_free(h.p);
    if (!o.err && (fflush(o.fp) || fsync(fileno(o.fp)))) o.err = errno;
    if (fclose(o.fp) && !o.err) o.err = errno;
    if (!o.err && rename(tmp, path)) o.err = errno;
    if (o.err) {
        st = sail_set_error(err, SAIL_ERR_IO, "%s: writing failed (%s); nothing was written",
                            path, strerror(o.err));
        unlink(tmp);
    }
    sail_free(tmp);
    return st ? st : sync_dir(path, err);
}
