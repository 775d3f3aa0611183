/* vectors.c: reading .npy matrices and the distance helpers every app
 * shares. The .npy header is parsed strictly: anything but a C-order
 * little-endian float32/float64 array of one or two dimensions is refused. */
#include "apps/apps.h"
#include "kernels/kernels.h"
#include "rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Value text of `'key':` inside the header dict, or NULL. */
static const char *npy_field(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

/* Parses "(a, b)" / "(a,)" into dims; returns the count or -1. */
static int npy_shape(const char *p, long long dims[2]) {
    if (*p++ != '(') return -1;
    int nd = 0;
    for (;;) {
        while (*p == ' ') p++;
        if (*p == ')') break;
        if (nd == 2 || *p < '0' || *p > '9') return -1;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0) return -1;
        dims[nd++] = v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p != ')') return -1;
    }
    return nd;
}

/* Index of the first infinity or NaN of v[0, n), or n. A pass over blocks
 * with no branch per value (the exponent's bits all set), looked into only
 * where a block has one: the per-value isfinite loop took as long as
 * reading the file. */
static size_t first_nonfinite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i += 1024) {
        size_t end = SAIL_MIN(n, i + 1024);
        uint32_t any = 0;
        for (size_t j = i; j < end; j++) {
            uint32_t u;
            memcpy(&u, v + j, sizeof u); /* the bits, without breaking aliasing rules */
            any |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (!any) continue;
        for (size_t j = i; j < end; j++)
            if (!isfinite(v[j])) return j;
    }
    return n;
}

sail_status sail_npy_read(const char *path, float **out, int *n_out, int *d_out, sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char pre[12];
    char *hdr = NULL;
    void *raw = NULL;
    float *v = NULL;
    sail_status s = SAIL_OK;
    size_t hl = 0;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (pre[6] == 1) hl = pre[8] | (size_t)pre[9] << 8;
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated header", path);
            goto done;
        }
        hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: unsupported .npy version %d", path, pre[6]);
        goto done;
    }
    if (hl == 0 || hl > (1u << 20)) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: header length %zu is out of range", path, hl);
        goto done;
    }
    hdr = sail_malloc(hl + 1);
    if (!hdr) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory"); goto done; }
    if (fread(hdr, 1, hl, f) != hl) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated header", path);
        goto done;
    }
    hdr[hl] = 0;
    const char *descr = npy_field(hdr, "descr"), *fo = npy_field(hdr, "fortran_order"),
               *sh = npy_field(hdr, "shape");
    long long dims[2];
    int nd = sh ? npy_shape(sh, dims) : -1;
    int esz = 0;
    if (descr && !strncmp(descr, "'<f4'", 5)) esz = 4;
    else if (descr && !strncmp(descr, "'<f8'", 5)) esz = 8;
    if (!esz || !fo || strncmp(fo, "False", 5) || nd < 1) {
        s = sail_set_error(err, SAIL_ERR_FORMAT,
                           "%s: need a C-order float32 or float64 array of 1 or 2 dimensions "
                           "(np.save(path, x.astype(np.float32)))", path);
        goto done;
    }
    long long n = nd == 2 ? dims[0] : 1, d = nd == 2 ? dims[1] : dims[0];
    if (n < 1 || d < 1 || n > SAIL_APPS_MAX_ROWS || d > SAIL_APPS_MAX_DIM) {
        s = sail_set_error(err, SAIL_ERR_LIMIT, "%s: shape %lld x %lld is empty or over the limits "
                           "(%d rows, %d columns)", path, n, d, SAIL_APPS_MAX_ROWS, SAIL_APPS_MAX_DIM);
        goto done;
    }
    size_t cnt = (size_t)n * (size_t)d, bytes = cnt * (size_t)esz;
    struct stat sb; /* a short file is refused before its shape's memory is asked for */
    long at = ftell(f);
    if (!fstat(fileno(f), &sb) && S_ISREG(sb.st_mode) && at >= 0 && (uint64_t)(sb.st_size - at) < bytes) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: data is shorter than its shape %lld x %lld", path, n, d);
        goto done;
    }
    /* 2 MiB pages: a fault per 4 KiB page cost more than the read itself
     * (a 20 MB matrix: 25 ms of faults in a KVM guest). */
    raw = sail_alloc_aligned(bytes);
    v = esz == 4 ? raw : sail_alloc_aligned(cnt * sizeof *v);
    if (!raw || !v) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %lld x %lld", n, d); goto done; }
    if (fread(raw, 1, bytes, f) != bytes) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: data is shorter than its shape %lld x %lld", path, n, d);
        goto done;
    }
    if (esz == 8) {
        const double *dv = raw;
        for (size_t i = 0; i < cnt; i++) v[i] = (float)dv[i];
    }
    size_t bad = first_nonfinite(v, cnt);
    if (bad < cnt) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: element %zu is not finite", path, bad);
        goto done;
    }
    *out = v;
    *n_out = (int)n;
    *d_out = (int)d;
    if (esz == 8) sail_free(raw);
    raw = v = NULL;
done:
    if (v != raw) sail_free(v);
    sail_free(raw);
    sail_free(hdr);
    fclose(f);
    return s;
}

double apps_sqdist_exact(const float *a, const float *b, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) {
        double t = (double)a[j] - b[j];
        s += t * t;
    }
    return s;
}

void apps_add_f64(double *restrict s, const float *restrict r, int n) {
    /* runs of 16, which gcc vectorises at -O2 (a loop of n it leaves scalar) */
    int n16 = n / 16 * 16;
    for (int t0 = 0; t0 < n16; t0 += 16)
        for (int t = t0; t < t0 + 16; t++) s[t] += r[t];
    for (int t = n16; t < n; t++) s[t] += r[t];
}

void apps_row_sqnorms(const float *x, int n, int d, float *out) {
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)r[j] * r[j];
        out[i] = (float)s;
    }
}

void apps_sqdist(const float *x, const float *xn, int n, const float *c, const float *cn, int k,
                 int d, float *D) {
    /* With few centres GEMM's packing of x costs more than the products:
     * then c x^T, whose few rows read x in place, CH rows of x a call. */
    if (k < 16) {
        enum { CH = 256 };
        float t[16 * CH];
        for (int i0 = 0; i0 < n; i0 += CH) {
            int m = SAIL_MIN(CH, n - i0);
            sail_gemm(NULL, k, m, d, c, d, x + (size_t)i0 * d, d, 1, NULL, 0.0f, t, m);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < k; j++) D[(size_t)(i0 + i) * k + j] = t[j * m + i];
        }
    } else {
        sail_gemm(NULL, n, k, d, x, d, c, d, 1, NULL, 0.0f, D, k);
    }
    for (int i = 0; i < n; i++) {
        float *r = D + (size_t)i * k;
        for (int j = 0; j < k; j++) {
            float v = xn[i] + cn[j] - 2.0f * r[j];
            r[j] = v > 0 ? v : 0;
        }
    }
}

sail_status apps_write_file(const char *path, const void *buf, size_t len, sail_error *err) {
    size_t pl = strlen(path);
    char *tmp = sail_malloc(pl + 16);
    if (!tmp) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    snprintf(tmp, pl + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        sail_status s = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        sail_free(tmp);
        return s;
    }
    int bad = fwrite(buf, 1, len, f) != len;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        sail_status s = sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        sail_free(tmp);
        return s;
    }
    sail_free(tmp);
    return SAIL_OK;
}

sail_status sail_read_file(const char *path, size_t max_len, unsigned char **buf, size_t *len,
                           sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = SAIL_MIN((size_t)4096, max_len + 1), n = 0;
    unsigned char *b = sail_malloc(cap);
    sail_status s = SAIL_OK;
    while (b) {
        if (n == cap) {
            if (cap > max_len) {
                s = sail_set_error(err, SAIL_ERR_LIMIT, "%s: larger than the %zu-byte limit", path, max_len);
                break;
            }
            size_t nc = SAIL_MIN(cap * 2, max_len + 1);
            unsigned char *g = sail_realloc(b, nc);
            if (!g) break;
            b = g;
            cap = nc;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (!s && !b) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading %s", path);
    if (!s && ferror(f)) s = sail_set_error(err, SAIL_ERR_IO, "%s: read failed", path);
    if (!s && n > max_len) s = sail_set_error(err, SAIL_ERR_LIMIT, "%s: larger than the %zu-byte limit", path, max_len);
    fclose(f);
    if (s) { sail_free(b); return s; }
    *buf = b;
    *len = n;
    return SAIL_OK;
}

unsigned char *apps_header(unsigned char *b, const char magic[8], uint32_t d0, uint32_t d1) {
    memcpy(b, magic, 8);
    memcpy(b + 8, &d0, 4);
    memcpy(b + 12, &d1, 4);
    return b + 16;
}

sail_status apps_read_file(const char *path, const char magic[8], size_t min_len, const char *what,
                           unsigned char **buf, size_t *len, uint32_t dims[2], sail_error *err) {
    sail_status s = sail_read_file(path, (size_t)1 << 31, buf, len, err);
    if (s) return s;
    if (*len < min_len || memcmp(*buf, magic, 8)) {
        sail_free(*buf);
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: not a %s", path, what);
    }
    memcpy(&dims[0], *buf + 8, 4);
    memcpy(&dims[1], *buf + 12, 4);
    return SAIL_OK;
}

void sail_permutation(int *perm, int n, int m, uint64_t seed) {
    for (int i = 0; i < n; i++) perm[i] = i;
    sail_rng r = {seed};
    for (int i = 0; i < m && i < n - 1; i++) {
        int j = i + (int)(sail_rng_next(&r) % (uint64_t)(n - i)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
