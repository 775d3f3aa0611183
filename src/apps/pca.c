/* pca.c: principal component analysis for `sail reduce`. The covariance is
 * accumulated in double from float GEMMs over row blocks of the centred
 * data, and its top eigenpairs come from LAPACK's dsyevr (MRRR; OpenBLAS or
 * reference LAPACK from Debian), which is both faster and more trustworthy
 * than a hand-written eigensolver.
 *
 * File format (little-endian), see docs/APPS.md:
 *   0   8          magic "SAILPCA1"
 *   8   4          u32 d_in
 *   12  4          u32 d_out (1 <= d_out <= d_in)
 *   16  8          f64 total variance
 *   24  8 d_out    f64 variance per component (non-increasing, >= 0)
 *   ..  4 d_in     f32 mean
 *   ..  4 d_out d_in  f32 components, row-major */
#include "apps/apps.h"
#include "kernels/kernels.h"
#include "dl.h"

#include <math.h>
#include <string.h>

/* LAPACK (Fortran ABI; the trailing size_t are the hidden lengths of the
 * character arguments), opened at the first fit (dl.h). Linked, Debian's
 * liblapack.so.3 is OpenBLAS's, whose threads start with every process and
 * spin on the other core for their first 70 ms of CPU: a 20000-row `sail
 * cluster`, which never calls LAPACK, took 429 ms of CPU, 358 with
 * OPENBLAS_NUM_THREADS=1. */
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t,
             size_t, size_t);
#define LAPACK_FUNCS(X) X(dsyevr_)
static struct { LAPACK_FUNCS(SAIL_DL_FIELD) } la;
SAIL_DL_LOADER(la, LAPACK_FUNCS, "liblapack.so.3")

#define ROWS 4096
static const char magic[8] = {'S', 'A', 'I', 'L', 'P', 'C', 'A', '1'};

/* A fitted or loaded PCA's arrays are one block in the file's order
 * (variance, mean, components): one allocation, one free, and loading
 * copies the file's body whole. */
static size_t pca_bytes(int d, int k) { return 8 * (size_t)k + 4 * (size_t)d + 4 * (size_t)k * d; }

static int pca_alloc(sail_pca *r, int d, int k) {
    r->d_in = d;
    r->d_out = k;
    if (!(r->variance = sail_malloc(pca_bytes(d, k)))) return 0;
    r->mean = (float *)(r->variance + k);
    r->components = r->mean + d;
    return 1;
}

void sail_pca_free(sail_pca *p) {
    if (!p) return;
    sail_free(p->variance); /* the block's start */
    memset(p, 0, sizeof *p);
}

/* cov (d x d, double) = sum over rows of (x - mean)(x - mean)^T / (n - 1). */
static sail_status covariance(sail_pool *pool, const float *x, int n, int d, const double *mean, double *cov,
                              sail_error *err) {
    int rows = SAIL_MIN(ROWS, n);
    float *t = sail_malloc((size_t)rows * d * sizeof *t), *g = sail_malloc((size_t)d * d * sizeof *g);
    if (!t || !g) {
        sail_free(t);
        sail_free(g);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %d x %d covariance", d, d);
    }
    memset(cov, 0, (size_t)d * d * sizeof *cov);
    for (int i0 = 0; i0 < n; i0 += ROWS) {
        int m = SAIL_MIN(ROWS, n - i0);
        /* t (d, m): the block's centred rows, transposed, so the GEMM is t t^T;
         * in 32 x 32 tiles, each of t's rows written in a run (row by row
         * of x, each write went to a line 16 KB on: one set of L1). */
        for (int ib = 0; ib < m; ib += 32)
            for (int jb = 0; jb < d; jb += 32)
                for (int j = jb; j < SAIL_MIN(d, jb + 32); j++)
                    for (int i = ib; i < SAIL_MIN(m, ib + 32); i++)
                        t[(size_t)j * m + i] = (float)(x[(size_t)(i0 + i) * d + j] - mean[j]);
        sail_gemm(pool, d, d, m, t, m, t, m, 1, NULL, 0.0f, g, d);
        for (size_t e = 0; e < (size_t)d * d; e++) cov[e] += g[e];
    }
    double den = n > 1 ? n - 1 : 1;
    for (size_t e = 0; e < (size_t)d * d; e++) cov[e] /= den;
    sail_free(t);
    sail_free(g);
    return SAIL_OK;
}

sail_status sail_pca_fit(sail_pool *pool, const float *x, int n, int d, int d_out, sail_pca *p, sail_error *err) {
    if (n < 2 || d < 1 || d > SAIL_APPS_MAX_DIM || n > SAIL_APPS_MAX_ROWS || d_out < 1 || d_out > d)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "PCA needs at least 2 rows and 1 <= dim <= %d (n=%d, dim=%d)", d, n, d_out);
    if (d > 8192)
        return sail_set_error(err, SAIL_ERR_LIMIT, "PCA of %d columns: the limit is 8192", d);
    const char *why = la_load();
    if (why)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "PCA needs LAPACK (%s); on Debian: apt-get install "
                              "liblapack3 (or libopenblas0)", why);
    double *mean = sail_calloc((size_t)d, sizeof *mean), *cov = sail_malloc((size_t)d * d * sizeof *cov);
    double *w = sail_malloc((size_t)d * sizeof *w), *z = sail_malloc((size_t)d * d_out * sizeof *z);
    int *isuppz = sail_malloc(2 * (size_t)d_out * sizeof *isuppz);
    double *work = NULL;
    int *iwork = NULL;
    sail_pca r = {0};
    sail_status s = SAIL_OK;
    if (!pca_alloc(&r, d, d_out) || !mean || !cov || !w || !z || !isuppz) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for PCA of %d columns", d);
        goto done;
    }
    for (int i = 0; i < n; i++) apps_add_f64(mean, x + (size_t)i * d, d);
    for (int j = 0; j < d; j++) mean[j] /= n;
    if ((s = covariance(pool, x, n, d, mean, cov, err))) goto done;
    for (int j = 0; j < d; j++) r.total_variance += cov[(size_t)j * d + j];
    int il = d - d_out + 1, iu = d, m = 0, info = 0, lwork = -1, liwork = -1, iw_q = 0;
    double vl = 0, vu = 0, abstol = 0, w_q = 0;
    la.dsyevr_("V", "I", "U", &d, cov, &d, &vl, &vu, &il, &iu, &abstol, &m, w, z, &d, isuppz, &w_q,
            &lwork, &iw_q, &liwork, &info, 1, 1, 1);
    if (info) { s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "LAPACK dsyevr workspace query failed (info %d)", info); goto done; }
    lwork = (int)w_q;
    liwork = iw_q;
    work = sail_malloc((size_t)lwork * sizeof *work);
    iwork = sail_malloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for LAPACK workspace"); goto done; }
    la.dsyevr_("V", "I", "U", &d, cov, &d, &vl, &vu, &il, &iu, &abstol, &m, w, z, &d, isuppz, work,
            &lwork, iwork, &liwork, &info, 1, 1, 1);
    if (info || m != d_out) {
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "LAPACK dsyevr did not converge (info %d, %d of %d)",
                           info, m, d_out);
        goto done;
    }
    for (int j = 0; j < d; j++) r.mean[j] = (float)mean[j];
    /* dsyevr returns ascending eigenvalues; column c of z (column-major). */
    for (int o = 0; o < d_out; o++) {
        int c = d_out - 1 - o;
        const double *v = z + (size_t)c * d;
        int big = 0;
        for (int j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[big])) big = j;
        double sign = v[big] < 0 ? -1 : 1;
        for (int j = 0; j < d; j++) r.components[(size_t)o * d + j] = (float)(sign * v[j]);
        r.variance[o] = w[c] > 0 ? w[c] : 0;
    }
    *p = r;
    memset(&r, 0, sizeof r);
done:
    sail_pca_free(&r);
    sail_free(mean); sail_free(cov); sail_free(w); sail_free(z); sail_free(isuppz);
    sail_free(work); sail_free(iwork);
    return s;
}

void sail_pca_apply(const sail_pca *p, const float *x, int n, float *out) {
    int d = p->d_in;
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        float *o = out + (size_t)i * p->d_out;
        for (int c = 0; c < p->d_out; c++) {
            const float *v = p->components + (size_t)c * d;
            double s = 0;
            for (int j = 0; j < d; j++) s += ((double)r[j] - p->mean[j]) * v[j];
            o[c] = (float)s;
        }
    }
}

sail_status sail_pca_save(const sail_pca *p, const char *path, sail_error *err) {
    size_t d = (size_t)p->d_in, k = (size_t)p->d_out;
    size_t len = 24 + 8 * k + 4 * d + 4 * k * d;
    unsigned char *b = sail_malloc(len);
    if (!b) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    unsigned char *q = apps_header(b, magic, (uint32_t)d, (uint32_t)k);
    memcpy(q, &p->total_variance, 8); q += 8;
    memcpy(q, p->variance, 8 * k); q += 8 * k;
    memcpy(q, p->mean, 4 * d); q += 4 * d;
    memcpy(q, p->components, 4 * k * d);
    sail_status s = apps_write_file(path, b, len, err);
    sail_free(b);
    return s;
}

sail_status sail_pca_load(sail_pca *p, const char *path, sail_error *err) {
    unsigned char *b;
    size_t len;
    uint32_t dims[2];
    sail_status s = apps_read_file(path, magic, 24, "sail PCA file (sail reduce fit writes one)", &b, &len, dims,
                                   err);
    if (s) return s;
    uint32_t d = dims[0], k = dims[1];
    sail_pca r = {0};
    if (d < 1 || d > 8192 || k < 1 || k > d) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: bad dimensions %u -> %u", path, d, k);
        goto done;
    }
    if (len != 24 + pca_bytes((int)d, (int)k)) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: %zu bytes, but %u -> %u needs %zu", path, len, d, k,
                           24 + pca_bytes((int)d, (int)k));
        goto done;
    }
    if (!pca_alloc(&r, (int)d, (int)k)) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory"); goto done; }
    memcpy(&r.total_variance, b + 16, 8);
    memcpy(r.variance, b + 24, pca_bytes((int)d, (int)k));
    int ok = isfinite(r.total_variance) && r.total_variance >= 0;
    for (uint32_t i = 0; ok && i < k; i++)
        ok = isfinite(r.variance[i]) && r.variance[i] >= 0 && (i == 0 || r.variance[i] <= r.variance[i - 1]);
    for (uint32_t i = 0; ok && i < d; i++) ok = isfinite(r.mean[i]);
    for (size_t i = 0; ok && i < (size_t)k * d; i++) ok = isfinite(r.components[i]);
    if (!ok) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: non-finite or unordered values", path);
        goto done;
    }
    *p = r;
    memset(&r, 0, sizeof r);
done:
    sail_pca_free(&r);
    sail_free(b);
    return s;
}
