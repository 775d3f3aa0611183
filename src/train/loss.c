/* loss.c: the contrastive losses over in-batch negatives, summed over
 * Matryoshka prefixes, with their gradients: symmetric InfoNCE (CLIP's) and
 * the pairwise sigmoid loss (SigLIP's). InfoNCE, for prefix k of width m:
 *   a_i = A_i[:m] / |A_i[:m]|, b_j likewise; L_ij = s a_i . b_j,
 *   s = min(exp(logit_scale), 100), entries (i, j != i) of one group masked;
 *   loss_k = (CE over rows of L + CE over columns of L) / (2n).
 * With P_row, P_col the row / column softmaxes, d loss_k / d L_ij =
 * (P_row_ij + P_col_ij - 2 [i = j]) / (2n). Sigmoid: L_ij = s a_i . b_j + bias,
 * s = exp(logit_scale) (no clamp), z_ij = 2 [i = j] - 1;
 *   loss_k = -1/n sum_ij log sigmoid(z_ij L_ij),
 *   d loss_k / d L_ij = -z_ij sigmoid(-z_ij L_ij) / n.
 * n x n x m work: done in double, single-threaded. */
#include "tmodel.h"

#include <math.h>
#include <string.h>

/* x (n, m) = prefixes of width m of rows of src (n, dim), normalised;
 * norm (n) their lengths before normalising. */
static void prefix_norm(double *x, double *norm, const float *src, int n, int dim, int m) {
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < m; j++) ss += (double)src[(size_t)i * dim + j] * src[(size_t)i * dim + j];
        norm[i] = sqrt(ss);
        double inv = norm[i] > 0 ? 1.0 / norm[i] : 0;
        for (int j = 0; j < m; j++) x[(size_t)i * m + j] = src[(size_t)i * dim + j] * inv;
    }
}

/* dst (n, dim)[:, :m] += w * (g - x (x . g)) / norm, the backward of
 * prefix_norm. */
static void prefix_norm_backward(float *dst, const double *g, const double *x, const double *norm,
                                 int n, int dim, int m) {
    for (int i = 0; i < n; i++) {
        if (!(norm[i] > 0)) continue;
        const double *gi = g + (size_t)i * m, *xi = x + (size_t)i * m;
        double dot = 0;
        for (int j = 0; j < m; j++) dot += gi[j] * xi[j];
        for (int j = 0; j < m; j++) dst[(size_t)i * dim + j] += (float)((gi[j] - xi[j] * dot) / norm[i]);
    }
}

static int masked(const int *group, int i, int j) {
    return group && i != j && group[i] == group[j];
}

/* From G (n, n) = d loss_k / d L with L_ij = s a_i . b_j (+ bias): the
 * gradients of the normalised prefixes into da, db and d s into *ds. */
static void logits_backward(const double *G, const double *L, double s, double bias, const double *xa,
                            const double *xb, double *ga, double *gb, int n, int m, double *ds) {
    memset(ga, 0, (size_t)n * m * sizeof(double));
    memset(gb, 0, (size_t)n * m * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double gij = G[(size_t)i * n + j];
            if (gij == 0) continue;
            *ds += gij * (L[(size_t)i * n + j] - bias) / s;
            for (int t = 0; t < m; t++) {
                ga[(size_t)i * m + t] += s * gij * xb[(size_t)j * m + t];
                gb[(size_t)j * m + t] += s * gij * xa[(size_t)i * m + t];
            }
        }
}

/* L (n, n) = s x_a x_b^T + bias over prefixes of width m. */
static void logits(double *L, const double *xa, const double *xb, double s, double bias, int n, int m) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dot = 0;
            for (int t = 0; t < m; t++) dot += xa[(size_t)i * m + t] * xb[(size_t)j * m + t];
            L[(size_t)i * n + j] = s * dot + bias;
        }
}

/* What both losses keep per batch: the embeddings' normalised prefixes
 * (xa, xb) and norms, their gradients, the logits L and dloss/dL G, in
 * doubles carved from the forward arena's float slots (2 floats each). */
typedef struct pair_ws { double *xa, *xb, *ga, *gb, *na, *nb, *L, *G; } pair_ws;

static int pair_ws_alloc(fwd *c, int n, int dim, pair_ws *p) {
    size_t nm = (size_t)n * dim;
    p->xa = (double *)fwd_alloc(c, 2 * nm), p->xb = (double *)fwd_alloc(c, 2 * nm);
    p->ga = (double *)fwd_alloc(c, 2 * nm), p->gb = (double *)fwd_alloc(c, 2 * nm);
    p->na = (double *)fwd_alloc(c, 2 * (size_t)n), p->nb = (double *)fwd_alloc(c, 2 * (size_t)n);
    p->L = (double *)fwd_alloc(c, 2 * (size_t)n * n), p->G = (double *)fwd_alloc(c, 2 * (size_t)n * n);
    return !c->oom;
}

/* L = s cos(a[:m], b[:m]) + bias for the Matryoshka prefix m. */
static void pair_ws_logits(pair_ws *p, const float *a, const float *b, int n, int dim, int m, double s,
                           double bias) {
    prefix_norm(p->xa, p->na, a, n, dim, m);
    prefix_norm(p->xb, p->nb, b, n, dim, m);
    logits(p->L, p->xa, p->xb, s, bias, n, m);
}

/* From G: da, db (accumulated) and ds. */
static void pair_ws_backward(pair_ws *p, float *da, float *db, int n, int dim, int m, double s, double bias,
                             double *ds) {
    logits_backward(p->G, p->L, s, bias, p->xa, p->xb, p->ga, p->gb, n, m, ds);
    prefix_norm_backward(da, p->ga, p->xa, p->na, n, dim, m);
    prefix_norm_backward(db, p->gb, p->xb, p->nb, n, dim, m);
}

float infonce(fwd *c, int n, int dim, const float *a, const float *b, const int *group,
              const sail_loss_opts *lo, float logit_scale, float *da, float *db, float *dls) {
    fwd_mark mark = fwd_mark_get(c);
    size_t nm = (size_t)n * dim;
    pair_ws p;
    if (!pair_ws_alloc(c, n, dim, &p)) return NAN;
    double e = exp((double)logit_scale), s = e < 100.0 ? e : 100.0, total = 0, ds = 0;
    if (da) memset(da, 0, nm * sizeof(float));
    if (db) memset(db, 0, nm * sizeof(float));
    for (int k = 0; k < lo->n_dims; k++) {
        int m = lo->dims[k];
        double w = lo->weights[k], lk = 0;
        pair_ws_logits(&p, a, b, n, dim, m, s, 0);
        double *L = p.L, *G = p.G;
        memset(G, 0, (size_t)n * n * sizeof(double));
        for (int dir = 0; dir < 2; dir++) { /* rows (a -> b), then columns */
            for (int i = 0; i < n; i++) {
#define IX(i, j) (dir ? (size_t)(j) * n + (i) : (size_t)(i) * n + (j))
#define AT(i, j) L[IX(i, j)]
#define GAT(i, j) G[IX(i, j)]
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++)
                    if (!masked(group, i, j)) mx = fmax(mx, AT(i, j));
                for (int j = 0; j < n; j++)
                    if (!masked(group, i, j)) sum += exp(AT(i, j) - mx);
                lk += mx + log(sum) - AT(i, i);
                for (int j = 0; j < n; j++)
                    if (!masked(group, i, j))
                        GAT(i, j) += w / (2.0 * n) * (exp(AT(i, j) - mx) / sum - (i == j));
#undef IX
#undef AT
#undef GAT
            }
        }
        total += w * lk / (2.0 * n);
        if (!da) continue;
        /* d a_i = s sum_j G_ij b_j; d b_j = s sum_i G_ij a_i; d s = sum G_ij L_ij / s */
        pair_ws_backward(&p, da, db, n, dim, m, s, 0, &ds);
    }
    /* the clamp at 100 stops the gradient, as CLIP's */
    if (dls) *dls = e < 100.0 ? (float)(ds * e) : 0.0f;
    fwd_release(c, mark);
    return (float)total;
}

/* log sigmoid(x) without overflow either way. */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

float sigmoid_loss(fwd *c, int n, int dim, const float *a, const float *b, const int *group,
                   const sail_loss_opts *lo, float logit_scale, float logit_bias, float *da, float *db,
                   float *dls, float *dlb) {
    fwd_mark mark = fwd_mark_get(c);
    size_t nm = (size_t)n * dim;
    pair_ws p;
    if (!pair_ws_alloc(c, n, dim, &p)) return NAN;
    double s = exp((double)logit_scale), bias = logit_bias, total = 0, ds = 0, dbias = 0;
    if (da) memset(da, 0, nm * sizeof(float));
    if (db) memset(db, 0, nm * sizeof(float));
    for (int k = 0; k < lo->n_dims; k++) {
        int m = lo->dims[k];
        double w = lo->weights[k], lk = 0;
        pair_ws_logits(&p, a, b, n, dim, m, s, bias);
        double *L = p.L, *G = p.G;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                size_t ij = (size_t)i * n + j;
                double z = i == j ? 1.0 : -1.0;
                if (masked(group, i, j)) {
                    G[ij] = 0;
                    continue;
                }
                lk -= log_sigmoid(z * L[ij]);
                /* sigmoid(-z L) = exp(log_sigmoid(-z L)), stable for any L */
                G[ij] = -w / n * z * exp(log_sigmoid(-z * L[ij]));
                dbias += G[ij];
            }
        total += w * lk / n;
        if (!da) continue;
        pair_ws_backward(&p, da, db, n, dim, m, s, bias, &ds);
    }
    if (dls) *dls = (float)(ds * s);
    if (dlb) *dlb = (float)dbias;
    fwd_release(c, mark);
    return (float)total;
}
