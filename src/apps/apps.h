/* apps.h: the jobs users run on embeddings (internal API behind the
 * classify, cluster, reduce, align, recommend and semantic-ids commands).
 *
 * Every function works on plain row-major float32 matrices (n x d) and is
 * deterministic for a given seed. Fallible calls return sail_status and fill
 * err; outputs are left unchanged on failure. Nothing here prints.
 *
 * A pool argument spreads the heavy loops over its threads (NULL: the
 * calling thread only). k-means, the silhouette and DBSCAN split their rows
 * into blocks fixed by the data alone, so their results are the same bit
 * for bit on any number of threads; PCA and logistic regression thread
 * their GEMMs and agree across thread counts to float rounding. */
#ifndef SAIL_APPS_H
#define SAIL_APPS_H

#include "common.h"
#include "pool.h"

/* Limits that keep every n*d / n*k product far from overflow. */
#define APPS_MAX_ROWS (1 << 24)
#define APPS_MAX_DIM 65536
#define APPS_MAX_K 65536

/* ------------------------------------------------------------- vectors -- */

/* Read a 2-D (n x d) or 1-D (1 x d) .npy array of '<f4' or '<f8' (C order)
 * into a new float32 buffer (*out, free with sail_free). */
sail_status apps_npy_read(const char *path, float **out, int *n, int *d, sail_error *err);

/* Squared Euclidean distances D(n, k) between rows of x (n x d) and c (k x d),
 * through the GEMM kernel; xn (n) and cn (k) are the rows' squared norms. */
void apps_sqdist(const float *x, const float *xn, int n, const float *c, const float *cn,
                 int k, int d, float *D);

/* Write len bytes to path atomically (temp file in the same folder, fsync,
 * rename). */
sail_status apps_write_file(const char *path, const void *buf, size_t len, sail_error *err);
/* Read a whole file of at most max_len bytes into a new buffer (sail_free). */
sail_status apps_read_file(const char *path, size_t max_len, unsigned char **buf, size_t *len,
                           sail_error *err);

/* Squared norm of each of n rows of d floats. */
void apps_row_sqnorms(const float *x, int n, int d, float *out);
/* Squared Euclidean distance of two d-float rows, summed in double (the
 * exact check behind the GEMM distances in k-means and DBSCAN). */
double apps_sqdist_exact(const float *a, const float *b, int d);

/* -------------------------------------------------------------- k-means -- */

typedef struct apps_kmeans_result {
    float *centroids; /* (k, d) */
    int *assign;      /* (n) cluster of each row */
    int *seeds;       /* (k) rows chosen as initial centres by k-means++ */
    double inertia;   /* sum of squared distances to the assigned centroid */
    int iters;        /* Lloyd iterations run */
} apps_kmeans_result;

/* Greedy k-means++ seeding (splitmix64 stream from seed; 2 + ln k D^2-drawn
 * candidates per centre, the best kept) then Lloyd iterations until no
 * assignment changes or max_iter. An emptied cluster takes the row farthest
 * from its centre. Needs 1 <= k <= n. Free with apps_kmeans_free. */
sail_status apps_kmeans(sail_pool *pool, const float *x, int n, int d, int k, int max_iter,
                        uint64_t seed, apps_kmeans_result *res, sail_error *err);
void apps_kmeans_free(apps_kmeans_result *res);


/* Mean silhouette coefficient (Euclidean) of a labelling; rows labelled < 0
 * (noise) are left out. Needs at least 2 clusters; returns NAN otherwise. */
double apps_silhouette(sail_pool *pool, const float *x, int n, int d, const int *label, int k);

/* --------------------------------------------------------------- DBSCAN -- */

/* DBSCAN with Euclidean distance: a core point has >= min_points points
 * (itself included) within eps. label[i] is the cluster (0.., numbered in
 * the order their first core point appears) or -1 for noise; border points
 * join the first cluster that reaches them. */
sail_status apps_dbscan(sail_pool *pool, const float *x, int n, int d, float eps, int min_points,
                        int *label, int *n_clusters, sail_error *err);

/* ------------------------------------------------------------------ PCA -- */

typedef struct apps_pca {
    int d_in, d_out;
    float *mean;       /* (d_in) */
    float *components; /* (d_out, d_in) unit rows, by decreasing variance */
    double *variance;  /* (d_out) eigenvalues of the covariance (n - 1 divisor) */
    double total_variance; /* trace of the covariance */
} apps_pca;

/* Fit: covariance in double, top d_out eigenpairs by LAPACK dsyevr. Each
 * component's sign is fixed so its largest-magnitude entry is positive. */
sail_status apps_pca_fit(sail_pool *pool, const float *x, int n, int d, int d_out, apps_pca *p,
                         sail_error *err);
/* out (n, d_out) = (x - mean) components^T. */
void apps_pca_apply(const apps_pca *p, const float *x, int n, float *out);
sail_status apps_pca_save(const apps_pca *p, const char *path, sail_error *err);
sail_status apps_pca_load(apps_pca *p, const char *path, sail_error *err);
void apps_pca_free(apps_pca *p);

/* ------------------------------------------------- logistic regression -- */

typedef struct apps_logreg {
    int d, c;       /* input dimension, number of classes */
    float *mu, *sd; /* (d) each: features are standardised, (x - mu) / sd */
    float *w;       /* (c, d) weights on standardised features */
    float *b;       /* (c) */
    char **labels;  /* (c) class names, UTF-8 */
} apps_logreg;

/* Mean cross-entropy of softmax(((x - mu) / sd) w^T + b) against y plus l2/2 * |w|^2, and
 * (when gw/gb are non-NULL) its gradient. */
double apps_logreg_loss(sail_pool *pool, const apps_logreg *m, const float *x, const int *y, int n,
                        double l2, float *gw, float *gb);
/* Train m (d, c and labels already set; mu, sd, w, b allocated here):
 * standardise the features, then full-batch gradient descent with Nesterov
 * momentum from zero weights, step 1/L with L the Lipschitz bound of the
 * gradient (power iteration on the feature covariance). */
sail_status apps_logreg_train(sail_pool *pool, apps_logreg *m, const float *x, const int *y, int n,
                              double l2, int epochs, sail_error *err);
/* probs (n, c): class probabilities of each row. */
void apps_logreg_predict(const apps_logreg *m, const float *x, int n, float *probs);
sail_status apps_logreg_save(const apps_logreg *m, const char *path, sail_error *err);
sail_status apps_logreg_load(apps_logreg *m, const char *path, sail_error *err);
void apps_logreg_free(apps_logreg *m);

/* softmax(scale * s) of n scores into p (zero-shot label probabilities). */
void apps_softmax_scaled(const float *s, int n, float scale, float *p);

/* ------------------------------------------------------------ alignment -- */

/* Monotonic alignment of L lines to F frames: frame[i] (non-decreasing in i)
 * maximising the sum of sim[i * F + frame[i]] (into *total). O(L * F) time,
 * L * F ints of back-pointers. */
sail_status apps_align_monotonic(const float *sim, int L, int F, int *frame, double *total,
                                 sail_error *err);
/* Each line's best frame on its own (ties: the earliest). Returns the sum. */
double apps_align_greedy(const float *sim, int L, int F, int *frame);

/* ------------------------------------------------ residual quantisation -- */

typedef struct apps_rq {
    int levels, k, d;
    float *codebooks; /* (levels, k, d) */
    int32_t *codes;   /* (n, levels) */
    double *mse;      /* (levels) mean squared reconstruction error after each level */
} apps_rq;

/* Level by level: k-means (k clusters, or n when fewer rows) on the
 * residuals left by the previous levels. */
sail_status apps_rq_fit(sail_pool *pool, const float *x, int n, int d, int levels, int k,
                        int max_iter, uint64_t seed, apps_rq *rq, sail_error *err);
void apps_rq_free(apps_rq *rq);

/* ----------------------------------------------------------------- plot -- */

/* PNG scatter (width x height) of n 2-D points coloured by label (-1 noise
 * in grey): anti-aliased dots, an axes box with tick values, a legend with
 * each cluster's size, and a title. */
sail_status apps_plot_png(const char *path, const float *xy, const int *label, int n,
                          const char *title, const char *xlabel, const char *ylabel, int width,
                          int height, sail_error *err);

#endif
