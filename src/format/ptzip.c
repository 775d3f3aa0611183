/* ptzip.c: torch.save's zip container read with libzip. One entry
 * ARCHIVE/data.pkl (the pickle), storages ARCHIVE/data/<key>, optionally
 * ARCHIVE/byteorder ("little"). Storages are read once each, checked
 * against the sizes the pickle claims, and shared by the tensors that view
 * them. */
#include "ptzip.h"

#include "pickle.h"

#include <stdio.h>
#include <string.h>
#include <zip.h>

enum { MAX_PICKLE = 256 << 20 };

/* Read entry idx whole into a new buffer of exactly want bytes (or its
 * size when want is 0). */
static sail_status read_entry(zip_t *z, zip_int64_t idx, uint64_t want, void **out, uint64_t *size,
                              sail_error *err) {
    zip_stat_t st;
    if (zip_stat_index(z, (zip_uint64_t)idx, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
        return sail_set_error(err, SAIL_ERR_FORMAT, "cannot stat zip entry %lld", (long long)idx);
    if (want && st.size != want)
        return sail_set_error(err, SAIL_ERR_FORMAT, "zip entry '%.200s' has %llu bytes; the pickle says %llu",
                              zip_get_name(z, (zip_uint64_t)idx, 0), (unsigned long long)st.size,
                              (unsigned long long)want);
    if (st.size > ((uint64_t)1 << 40))
        return sail_set_error(err, SAIL_ERR_LIMIT, "zip entry of %llu bytes", (unsigned long long)st.size);
    /* A size its compressed bytes cannot hold (deflate expands at most
     * 1032:1) is a lie: refused before that much memory is asked for. */
    if ((st.valid & ZIP_STAT_COMP_SIZE) && (st.valid & ZIP_STAT_COMP_METHOD) &&
        ((st.comp_method == ZIP_CM_STORE && st.size != st.comp_size) ||
         (st.comp_method == ZIP_CM_DEFLATE && st.size / 1032 > st.comp_size)))
        return sail_set_error(err, SAIL_ERR_FORMAT, "zip entry '%.200s' claims %llu bytes from %llu compressed "
                              "ones (corrupt)", zip_get_name(z, (zip_uint64_t)idx, 0),
                              (unsigned long long)st.size, (unsigned long long)st.comp_size);
    void *buf = sail_alloc_aligned(st.size ? (size_t)st.size : 1);
    if (!buf) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %llu bytes", (unsigned long long)st.size);
    zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
    zip_int64_t got = f ? zip_fread(f, buf, st.size) : -1;
    if (f) zip_fclose(f);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        sail_free(buf);
        return sail_set_error(err, SAIL_ERR_FORMAT, "zip entry '%.200s' cannot be read (truncated or corrupt)",
                              zip_get_name(z, (zip_uint64_t)idx, 0));
    }
    *out = buf;
    *size = st.size;
    return SAIL_OK;
}

/* The archive's folder: the prefix of its one ".../data.pkl" entry. */
static sail_status find_pickle(zip_t *z, char *prefix, size_t cap, zip_int64_t *idx, sail_error *err) {
    zip_int64_t n = zip_get_num_entries(z, 0);
    *idx = -1;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        size_t len = name ? strlen(name) : 0;
        if (len < 9 || strcmp(name + len - 9, "/data.pkl")) continue;
        if (*idx >= 0) return sail_set_error(err, SAIL_ERR_FORMAT, "the zip holds more than one data.pkl");
        if (len - 9 >= cap || memchr(name, '/', len - 9))
            return sail_set_error(err, SAIL_ERR_FORMAT, "data.pkl is not at ARCHIVE/data.pkl");
        memcpy(prefix, name, len - 9);
        prefix[len - 9] = 0;
        *idx = i;
    }
    if (*idx < 0) return sail_set_error(err, SAIL_ERR_FORMAT, "no ARCHIVE/data.pkl: not a torch.save zip (legacy non-zip checkpoints are not supported)");
    return SAIL_OK;
}

static sail_status check_byteorder(zip_t *z, const char *prefix, sail_error *err) {
    char name[160];
    snprintf(name, sizeof name, "%s/byteorder", prefix);
    zip_int64_t i = zip_name_locate(z, name, 0);
    if (i < 0) return SAIL_OK; /* older files: little-endian */
    void *b = NULL;
    uint64_t n = 0;
    sail_status s = read_entry(z, i, 0, &b, &n, err);
    if (!s && !(n == 6 && !memcmp(b, "little", 6)))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "the checkpoint is not little-endian");
    sail_free(b);
    return s;
}

static sail_status load(sail_pt_file *f, zip_t *z, sail_error *err) {
    char prefix[128];
    zip_int64_t pi;
    sail_status s = find_pickle(z, prefix, sizeof prefix, &pi, err);
    if (!s) s = check_byteorder(z, prefix, err);
    void *pkl = NULL;
    uint64_t pn = 0;
    sail_pkl_tensor *pt = NULL;
    int n = 0;
    if (!s) {
        zip_stat_t st;
        if (!zip_stat_index(z, (zip_uint64_t)pi, 0, &st) && st.size > MAX_PICKLE)
            s = sail_set_error(err, SAIL_ERR_LIMIT, "data.pkl is larger than 256 MiB");
    }
    if (!s) s = read_entry(z, pi, 0, &pkl, &pn, err);
    if (!s) s = sail_pkl_state_dict(pkl, (size_t)pn, &pt, &n, err);
    sail_free(pkl);
    if (s) return s;
    f->t = sail_calloc(n ? (size_t)n : 1, sizeof *f->t);
    f->blobs = sail_calloc(n ? (size_t)n : 1, sizeof *f->blobs);
    char **keys = sail_calloc(n ? (size_t)n : 1, sizeof *keys);
    if (!f->t || !f->blobs || !keys) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < n; i++) {
        const sail_pkl_tensor *p = &pt[i];
        size_t es = sail_st_dtype_size(p->dtype);
        int b = -1;
        for (int j = 0; j < f->n_blobs && b < 0; j++)
            if (!strcmp(keys[j], p->key)) b = j;
        if (b < 0) {
            char name[192];
            snprintf(name, sizeof name, "%s/data/%s", prefix, p->key);
            zip_int64_t e = zip_name_locate(z, name, 0);
            uint64_t size, want;
            if (e < 0) s = sail_set_error(err, SAIL_ERR_FORMAT, "storage '%s' of tensor '%.200s' is missing from the zip", name, p->name);
            else if (__builtin_mul_overflow(p->storage_numel, (uint64_t)es, &want))
                s = sail_set_error(err, SAIL_ERR_FORMAT, "storage '%s' is impossibly large", name);
            else s = read_entry(z, e, want, &f->blobs[f->n_blobs], &size, err);
            if (s) break;
            keys[f->n_blobs] = pt[i].key;
            b = f->n_blobs++;
        }
        sail_st_tensor *t = &f->t[f->n];
        t->name = p->name;
        pt[i].name = NULL; /* moved */
        t->dtype = p->dtype;
        t->n_dims = p->n_dims;
        memcpy(t->shape, p->shape, sizeof t->shape);
        t->data = (const uint8_t *)f->blobs[b] + p->offset * es;
        t->nbytes = sail_st_numel(t) * es;
        f->n++;
    }
    sail_free(keys);
    sail_pkl_free(pt, n);
    return s;
}

sail_pt_file *sail_pt_open(const char *path, sail_error *err) {
    int ze = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, ze);
        sail_set_error(err, ze == ZIP_ER_NOENT || ze == ZIP_ER_OPEN ? SAIL_ERR_IO : SAIL_ERR_FORMAT,
                       "%s: not a readable zip (%s); pytorch_model.bin must be torch.save's zip format", path,
                       zip_error_strerror(&e));
        zip_error_fini(&e);
        return NULL;
    }
    sail_pt_file *f = sail_calloc(1, sizeof *f);
    sail_status s = f ? load(f, z, err) : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    zip_discard(z);
    if (s) {
        sail_pt_close(f);
        sail_error_prefix(err, "%s", path);
        return NULL;
    }
    return f;
}

void sail_pt_close(sail_pt_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) sail_free(f->t[i].name);
    for (int i = 0; i < f->n_blobs; i++) sail_free(f->blobs[i]);
    sail_free(f->t);
    sail_free(f->blobs);
    sail_free(f);
}
