/* logreg.c: multinomial logistic regression on embeddings (`sail classify
 * train/predict`) and the scaled softmax of zero-shot classification.
 *
 * Classifier file (little-endian), see docs/APPS.md:
 *   0   8      magic "SAILCLF1"
 *   8   4      u32 d (1..65536)
 *   12  4      u32 c classes (2..65536)
 *   16  ..     c labels, each u32 byte length (1..1024) + UTF-8 bytes (no NUL)
 *   ..  4 d    f32 mu        ..  4 d    f32 sd (> 0)
 *   ..  4 c d  f32 w         ..  4 c    f32 b
 * and nothing after. */
#include "apps/apps.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static const char magic[8] = {'S', 'A', 'I', 'L', 'C', 'L', 'F', '1'};
#define MAX_LABEL 1024

void sail_softmax_scaled(const float *s, int n, float scale, float *p) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        if ((double)scale * s[i] > mx) mx = (double)scale * s[i];
    for (int i = 0; i < n; i++) sum += exp((double)scale * s[i] - mx);
    for (int i = 0; i < n; i++) p[i] = (float)(exp((double)scale * s[i] - mx) / sum);
}

void sail_logreg_free(sail_logreg *m) {
    if (!m) return;
    if (m->labels)
        for (int i = 0; i < m->c; i++) sail_free(m->labels[i]);
    sail_free(m->labels);
    sail_free(m->mu);
    sail_free(m->sd);
    sail_free(m->w);
    sail_free(m->b);
    memset(m, 0, sizeof *m);
}

static void standardise(const sail_logreg *m, const float *x, int n, float *xs) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m->d; j++)
            xs[(size_t)i * m->d + j] = (x[(size_t)i * m->d + j] - m->mu[j]) / m->sd[j];
}

/* Loss and gradient on already standardised rows xs; z (n, c) and pt (c, n)
 * are scratch. */
static double loss_std(sail_pool *pool, const sail_logreg *m, const float *xs, const int *y, int n,
                       double l2, float *gw, float *gb, float *z, float *pt) {
    int c = m->c, d = m->d;
    sail_gemm(pool, n, c, d, xs, d, m->w, d, 1, m->b, 0.0f, z, c);
    double loss = 0;
    for (int i = 0; i < n; i++) {
        float *r = z + (size_t)i * c;
        double mx = r[0], s = 0;
        for (int j = 1; j < c; j++)
            if (r[j] > mx) mx = r[j];
        for (int j = 0; j < c; j++) s += exp(r[j] - mx);
        loss += log(s) + mx - r[y[i]];
        if (!gw) continue;
        for (int j = 0; j < c; j++) pt[(size_t)j * n + i] = (float)((exp(r[j] - mx) / s - (j == y[i])) / n);
    }
    double w2 = 0;
    for (size_t e = 0; e < (size_t)c * d; e++) w2 += (double)m->w[e] * m->w[e];
    if (gw) {
        sail_gemm(pool, c, d, n, pt, n, xs, d, 0, NULL, 0.0f, gw, d);
        for (size_t e = 0; e < (size_t)c * d; e++) gw[e] += (float)(l2 * m->w[e]);
        for (int j = 0; j < c; j++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += pt[(size_t)j * n + i];
            gb[j] = (float)s;
        }
    }
    return loss / n + 0.5 * l2 * w2;
}

double sail_logreg_loss(sail_pool *pool, const sail_logreg *m, const float *x, const int *y, int n, double l2,
                        float *gw, float *gb) {
    float *xs = sail_malloc((size_t)n * m->d * sizeof *xs), *z = sail_malloc((size_t)n * m->c * sizeof *z);
    float *pt = sail_malloc((size_t)n * m->c * sizeof *pt);
    double r = NAN;
    if (xs && z && pt) {
        standardise(m, x, n, xs);
        r = loss_std(pool, m, xs, y, n, l2, gw, gb, z, pt);
    }
    sail_free(xs); sail_free(z); sail_free(pt);
    return r;
}

/* Largest eigenvalue of [xs 1]^T [xs 1] / n by power iteration. */
static double top_eigen(const float *xs, int n, int d, double *v, double *u) {
    for (int j = 0; j <= d; j++) v[j] = 1 / sqrt(d + 1.0);
    double lam = 0;
    for (int it = 0; it < 30; it++) {
        memset(u, 0, (size_t)(d + 1) * sizeof *u);
        for (int i = 0; i < n; i++) {
            const float *r = xs + (size_t)i * d;
            double t = v[d];
            for (int j = 0; j < d; j++) t += r[j] * v[j];
            for (int j = 0; j < d; j++) u[j] += t * r[j];
            u[d] += t;
        }
        double nn = 0;
        for (int j = 0; j <= d; j++) nn += u[j] * u[j];
        nn = sqrt(nn);
        if (nn == 0) return 1;
        lam = nn / n;
        for (int j = 0; j <= d; j++) v[j] = u[j] / nn;
    }
    return lam * 1.05; /* margin: the power iteration approaches from below */
}

sail_status sail_logreg_train(sail_pool *pool, sail_logreg *m, const float *x, const int *y, int n, double l2,
                              int epochs, sail_error *err) {
    int c = m->c, d = m->d;
    if (n < 1 || c < 2 || d < 1 || c > SAIL_APPS_MAX_K || d > SAIL_APPS_MAX_DIM || n > SAIL_APPS_MAX_ROWS || epochs < 1 ||
        !(l2 >= 0))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "logistic regression needs rows and >= 2 classes "
                              "(n=%d, classes=%d, d=%d)", n, c, d);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= c) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "label %d of row %d is out of range", y[i], i);
    size_t cd = (size_t)c * d;
    m->mu = sail_calloc((size_t)d, sizeof *m->mu);
    m->sd = sail_malloc((size_t)d * sizeof *m->sd);
    m->w = sail_calloc(cd, sizeof *m->w);
    m->b = sail_calloc((size_t)c, sizeof *m->b);
    float *xs = sail_malloc((size_t)n * d * sizeof *xs), *z = sail_malloc((size_t)n * c * sizeof *z);
    float *pt = sail_malloc((size_t)n * c * sizeof *pt), *prev_w = sail_calloc(cd, sizeof *prev_w);
    float *prev_b = sail_calloc((size_t)c, sizeof *prev_b), *gw = sail_malloc(cd * sizeof *gw);
    float *gb = sail_malloc((size_t)c * sizeof *gb), *cur_w = sail_malloc(cd * sizeof *cur_w);
    float *cur_b = sail_malloc((size_t)c * sizeof *cur_b);
    double *v = sail_malloc((size_t)(d + 1) * sizeof *v), *u = sail_malloc((size_t)(d + 1) * sizeof *u);
    sail_status s = SAIL_OK;
    if (!m->mu || !m->sd || !m->w || !m->b || !xs || !z || !pt || !prev_w || !prev_b || !gw || !gb ||
        !cur_w || !cur_b || !v || !u) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory training on %d x %d", n, d);
        goto done;
    }
    for (int j = 0; j < d; j++) {
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += x[(size_t)i * d + j];
        mean /= n;
        for (int i = 0; i < n; i++) {
            double t = x[(size_t)i * d + j] - mean;
            var += t * t;
        }
        double sd = sqrt(var / n);
        m->mu[j] = (float)mean;
        m->sd[j] = sd > 1e-6 ? (float)sd : 1.0f; /* a constant feature stays as it is */
    }
    standardise(m, x, n, xs);
    double step = 1 / (0.5 * top_eigen(xs, n, d, v, u) + l2);
    /* Nesterov: gradient at the look-ahead point m->w (= cur + momentum). */
    memset(cur_w, 0, cd * sizeof *cur_w);
    memset(cur_b, 0, (size_t)c * sizeof *cur_b);
    for (int t = 0; t < epochs; t++) {
        loss_std(pool, m, xs, y, n, l2, gw, gb, z, pt);
        memcpy(prev_w, cur_w, cd * sizeof *cur_w);
        memcpy(prev_b, cur_b, (size_t)c * sizeof *cur_b);
        for (size_t e = 0; e < cd; e++) cur_w[e] = m->w[e] - (float)step * gw[e];
        for (int j = 0; j < c; j++) cur_b[j] = m->b[j] - (float)step * gb[j];
        float mom = (float)t / (t + 3);
        for (size_t e = 0; e < cd; e++) m->w[e] = cur_w[e] + mom * (cur_w[e] - prev_w[e]);
        for (int j = 0; j < c; j++) m->b[j] = cur_b[j] + mom * (cur_b[j] - prev_b[j]);
    }
    memcpy(m->w, cur_w, cd * sizeof *cur_w);
    memcpy(m->b, cur_b, (size_t)c * sizeof *cur_b);
done:
    sail_free(xs); sail_free(z); sail_free(pt); sail_free(prev_w); sail_free(prev_b);
    sail_free(gw); sail_free(gb); sail_free(cur_w); sail_free(cur_b); sail_free(v); sail_free(u);
    if (s) {
        sail_free(m->mu); sail_free(m->sd); sail_free(m->w); sail_free(m->b);
        m->mu = m->sd = m->w = m->b = NULL;
    }
    return s;
}

void sail_logreg_predict(const sail_logreg *m, const float *x, int n, float *probs) {
    float *xs = sail_malloc((size_t)m->d * sizeof *xs);
    for (int i = 0; i < n; i++) {
        standardise(m, x + (size_t)i * m->d, 1, xs);
        float *p = probs + (size_t)i * m->c;
        for (int j = 0; j < m->c; j++) {
            double s = m->b[j];
            const float *w = m->w + (size_t)j * m->d;
            for (int t = 0; t < m->d; t++) s += (double)w[t] * xs[t];
            p[j] = (float)s;
        }
        sail_softmax_scaled(p, m->c, 1.0f, p);
    }
    sail_free(xs);
}

sail_status sail_logreg_save(const sail_logreg *m, const char *path, sail_error *err) {
    size_t d = (size_t)m->d, c = (size_t)m->c, len = 16 + 4 * (2 * d + c * d + c);
    for (size_t i = 0; i < c; i++) len += 4 + strlen(m->labels[i]);
    unsigned char *b = sail_malloc(len);
    if (!b) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    unsigned char *q = apps_header(b, magic, (uint32_t)d, (uint32_t)c);
    for (size_t i = 0; i < c; i++) {
        uint32_t u = (uint32_t)strlen(m->labels[i]);
        memcpy(q, &u, 4); q += 4;
        memcpy(q, m->labels[i], u); q += u;
    }
    memcpy(q, m->mu, 4 * d); q += 4 * d;
    memcpy(q, m->sd, 4 * d); q += 4 * d;
    memcpy(q, m->w, 4 * c * d); q += 4 * c * d;
    memcpy(q, m->b, 4 * c);
    sail_status s = apps_write_file(path, b, len, err);
    sail_free(b);
    return s;
}

sail_status sail_logreg_load(sail_logreg *out, const char *path, sail_error *err) {
    unsigned char *b;
    size_t len, at = 16;
    uint32_t dims[2];
    sail_status s = apps_read_file(path, magic, 16, "sail classifier (sail classify train writes one)", &b, &len,
                                   dims, err);
    if (s) return s;
    sail_logreg m = {0};
    uint32_t d = dims[0], c = dims[1];
    if (d < 1 || d > SAIL_APPS_MAX_DIM || c < 2 || c > SAIL_APPS_MAX_K) {
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: bad shape: dim %u, %u classes", path, d, c);
        goto done;
    }
    m.d = (int)d;
    m.labels = sail_calloc(c, sizeof *m.labels);
    if (!m.labels) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory"); goto done; }
    m.c = (int)c;
    for (uint32_t i = 0; i < c; i++) {
        uint32_t l = 0;
        if (len - at < 4) goto truncated;
        memcpy(&l, b + at, 4);
        at += 4;
        if (l < 1 || l > MAX_LABEL || len - at < l || memchr(b + at, 0, l)) {
            s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: label %u is empty, too long or truncated", path, i);
            goto done;
        }
        if (!(m.labels[i] = sail_malloc(l + 1))) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory"); goto done; }
        memcpy(m.labels[i], b + at, l);
        m.labels[i][l] = 0;
        at += l;
    }
    if (len - at != 4 * (2 * (size_t)d + (size_t)c * d + c)) goto truncated;
    m.mu = sail_malloc(4 * (size_t)d);
    m.sd = sail_malloc(4 * (size_t)d);
    m.w = sail_malloc(4 * (size_t)c * d);
    m.b = sail_malloc(4 * (size_t)c);
    if (!m.mu || !m.sd || !m.w || !m.b) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory"); goto done; }
    memcpy(m.mu, b + at, 4 * (size_t)d); at += 4 * (size_t)d;
    memcpy(m.sd, b + at, 4 * (size_t)d); at += 4 * (size_t)d;
    memcpy(m.w, b + at, 4 * (size_t)c * d); at += 4 * (size_t)c * d;
    memcpy(m.b, b + at, 4 * (size_t)c);
    int ok = 1;
    for (uint32_t j = 0; ok && j < d; j++) ok = isfinite(m.mu[j]) && isfinite(m.sd[j]) && m.sd[j] > 0;
    for (size_t e = 0; ok && e < (size_t)c * d; e++) ok = isfinite(m.w[e]);
    for (uint32_t j = 0; ok && j < c; j++) ok = isfinite(m.b[j]);
    if (!ok) { s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: non-finite weights or a scale <= 0", path); goto done; }
    *out = m;
    memset(&m, 0, sizeof m);
    goto done;
truncated:
    s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: size does not match dim %u and %u classes", path, d, c);
done:
    sail_logreg_free(&m);
    sail_free(b);
    return s;
}
