/* interchange.c: sail_index_export / sail_index_import for .npy and .fvecs
 * files (FAISS index files are in faiss_write.c). Exports stream the live
 * items in insertion order; imports add in batches that each fit one log
 * record. */
#include "index_impl.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"

sail_status ix_faiss_write(sail_index *ix, const char *path, sail_error *err);

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* A .npy header (format 1.0) for descr and a 1-D or 2-D shape; data then
 * starts on a 64-byte boundary. Returns the header length. */
static size_t npy_header(char *h, size_t cap, const char *descr, size_t rows, long cols) {
    int k = cols < 0 ? snprintf(h + 10, cap - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, rows)
                     : snprintf(h + 10, cap - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %ld), }", descr, rows, cols);
    size_t total = ((size_t)k + 1 + 10 + 63) / 64 * 64;
    memset(h + 10 + k, ' ', total - 10 - (size_t)k);
    h[total - 1] = '\n';
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)((total - 10) & 0xff);
    h[9] = (char)((total - 10) >> 8);
    return total;
}

static sail_status export_stream(sail_index *ix, const char *path, int fvecs, sail_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    size_t live = ix->n_slots - ix->n_dead, d = (size_t)ix->dim;
    int ok = 1;
    if (!fvecs) {
        char h[256];
        size_t hn = npy_header(h, sizeof h, "<f4", live, (long)d);
        ok = fwrite(h, 1, hn, f) == hn;
    }
    int32_t dim32 = (int32_t)d;
    for (size_t s = 0; ok && s < ix->n_slots; s++) {
        if (ix->dead[s]) continue;
        if (fvecs) ok = fwrite(&dim32, 4, 1, f) == 1;
        ok = ok && fwrite(ix_raw(ix, s), 4, d, f) == d;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        remove(path);
        return sail_set_error(err, SAIL_ERR_IO, "writing %s: %s", path, strerror(e ? e : EIO));
    }
    if (fvecs) return SAIL_OK;
    /* ids beside the vectors: x.npy -> x.ids.npy */
    char ip[4096];
    snprintf(ip, sizeof ip, "%.*s.ids.npy", (int)(strlen(path) - 4), path);
    if (!(f = fopen(ip, "wb"))) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", ip, strerror(errno));
    char h[256];
    size_t hn = npy_header(h, sizeof h, "<u8", live, -1);
    ok = fwrite(h, 1, hn, f) == hn;
    for (size_t s = 0; ok && s < ix->n_slots; s++)
        if (!ix->dead[s]) ok = fwrite(&ix->ids[s], 8, 1, f) == 1;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        remove(ip);
        return sail_set_error(err, SAIL_ERR_IO, "writing %s failed", ip);
    }
    return SAIL_OK;
}

sail_status sail_index_export(sail_index *ix, const char *path, sail_error *err) {
    if (!ix || !path || strlen(path) > 4000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_export: NULL index or bad path");
    if (ix->rops) return ix_remote_refuse("sail_index_export", err);
    int npy = ends_with(path, ".npy"), fv = ends_with(path, ".fvecs"), fa = ends_with(path, ".faiss");
    if (!npy && !fv && !fa)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: the export format comes from the extension: .npy, .fvecs or .faiss", path);
    pthread_rwlock_wrlock(&ix->lock); /* exclusive: writers never see a half export */
    sail_status st = fa ? ix_faiss_write(ix, path, err) : export_stream(ix, path, fv, err);
    pthread_rwlock_unlock(&ix->lock);
    return st;
}

/* ------------------------------------------------------------ import -- */

/* Parse a .npy header: 2-D, C order, '<f4' or '<f8'. */
static sail_status npy_parse(const uint8_t *b, size_t len, const char *path, size_t *off, size_t *rows,
                             size_t *cols, int *f8, sail_error *err) {
    if (len < 10 || memcmp(b, "\x93NUMPY", 6))
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s is not a .npy file", path);
    size_t hl, start;
    if (b[6] == 1) { hl = b[8] | (size_t)b[9] << 8; start = 10; }
    else if ((b[6] == 2 || b[6] == 3) && len >= 12) { hl = ix_rd32(b + 8); start = 12; }
    else return sail_set_error(err, SAIL_ERR_FORMAT, "%s: unknown .npy version %u", path, b[6]);
    if (hl > 65536 || start + hl > len) return sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated .npy header", path);
    char h[65537];
    memcpy(h, b + start, hl);
    h[hl] = 0;
    if (strstr(h, "'fortran_order': True")) return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: Fortran order; save with np.ascontiguousarray", path);
    if (strstr(h, "'<f4'")) *f8 = 0;
    else if (strstr(h, "'<f8'")) *f8 = 1;
    else return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: only little-endian float32/float64 arrays import", path);
    const char *sh = strstr(h, "'shape': (");
    unsigned long long r, c;
    if (!sh || sscanf(sh + 10, "%llu, %llu)", &r, &c) != 2)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: the array must be 2-D (n, dim)", path);
    size_t need = (size_t)r * c * (*f8 ? 8 : 4);
    if (r > SAIL_INDEX_MAX_ITEMS || c > SAIL_INDEX_MAX_DIM || need / (*f8 ? 8 : 4) / (c ? c : 1) != r ||
        len - start - hl < need)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: shape (%llu, %llu) does not match the file size", path, r, c);
    *off = start + hl; *rows = (size_t)r; *cols = (size_t)c;
    return SAIL_OK;
}

sail_status sail_index_import(sail_index *ix, const char *path, uint64_t first_id, size_t *n_added, sail_error *err) {
    if (!ix || !path) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_import: NULL index or path");
    uint8_t *buf;
    size_t len, rows = 0, cols = 0, off = 0, stride;
    int f8 = 0, fv = ends_with(path, ".fvecs");
    if (!fv && !ends_with(path, ".npy"))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: import reads .npy or .fvecs files", path);
    if (ix_read_file(path, &buf, &len))
        return sail_set_error(err, errno == ENOMEM ? SAIL_ERR_NOMEM : SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    sail_status st = SAIL_OK;
    if (fv) {
        cols = len >= 4 ? ix_rd32(buf) : 0;
        if (cols < 1 || cols > SAIL_INDEX_MAX_DIM || len % (4 + cols * 4))
            st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: not an .fvecs file (first dimension %zu, size %zu)", path, cols, len);
        rows = st ? 0 : len / (4 + cols * 4);
        for (size_t r = 0; !st && r < rows; r++)
            if (ix_rd32(buf + r * (4 + cols * 4)) != cols)
                st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: vector %zu has another dimension", path, r);
        off = 4;
        stride = 4 + cols * 4;
    } else {
        st = npy_parse(buf, len, path, &off, &rows, &cols, &f8, err);
        stride = cols * (f8 ? 8 : 4);
    }
    if (!st && cols != (size_t)ix->dim)
        st = sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s holds %zu-dimensional vectors; the index has %d", path, cols, ix->dim);
    json_t *pj = json_pack("{ss}", "source", path);
    char *pay = pj ? json_dumps(pj, JSON_COMPACT) : NULL;
    json_decref(pj);
    if (st) rows = cols = 0; /* after a refusal cols is the file's claim: size nothing by it */
    size_t batch = SAIL_MAX((size_t)1, ((size_t)256 << 20) / (cols * 4 + 64));
    float *v = sail_malloc(SAIL_MIN(batch, rows ? rows : 1) * cols * 4);
    uint64_t *ids = sail_malloc(SAIL_MIN(batch, rows ? rows : 1) * 8);
    const char **pays = sail_malloc(SAIL_MIN(batch, rows ? rows : 1) * sizeof *pays);
    if (!st && (!pay || !v || !ids || !pays)) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory importing %s", path);
    size_t done = 0;
    while (!st && done < rows) {
        size_t n = SAIL_MIN(batch, rows - done);
        for (size_t r = 0; r < n; r++) {
            const uint8_t *p = buf + off + (done + r) * stride;
            for (size_t c = 0; c < cols; c++) {
                if (f8) { double x; memcpy(&x, p + c * 8, 8); v[r * cols + c] = (float)x; }
                else memcpy(&v[r * cols + c], p + c * 4, 4);
            }
            ids[r] = first_id + done + r;
            pays[r] = pay;
        }
        st = sail_index_add(ix, ids, v, pays, (int)n, err);
        if (st) sail_error_prefix(err, "%s, rows %zu..%zu", path, done, done + n - 1);
        else done += n;
    }
    if (n_added) *n_added = done;
    free(pay);
    sail_free(v); sail_free(ids); sail_free(pays); sail_free(buf);
    return st;
}
