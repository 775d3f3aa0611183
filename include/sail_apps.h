/* sail_apps.h: the public C API of the jobs users run on embeddings (what
 * sail classify, cluster, reduce, align and index semantic-ids do), beside
 * include/sail.h: k-means, silhouette, DBSCAN, PCA, logistic regression,
 * alignment, residual quantisation, PNG scatter plots, .npy matrices.
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

#include "sail.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits that keep every n*d / n*k product far from overflow. */
#define SAIL_APPS_MAX_ROWS (1 << 24)
#define SAIL_APPS_MAX_DIM 65536
#define SAIL_APPS_MAX_K 65536

/* ---------------------------------------------------------------- pool -- */

/* A fixed set of worker threads the calls below share; the calling thread
 * takes part, so a pool of n threads starts n - 1 workers. One call at a
 * time per pool. */
typedef struct sail_pool sail_pool;

/* n_threads <= 0 means one per online core. Returns NULL on failure (the
 * calls then run on the calling thread alone). */
sail_pool *sail_pool_new(int n_threads);
/* Stop and free the workers. NULL is a no-op. */
void sail_pool_free(sail_pool *p);

/* ------------------------------------------------------------- vectors -- */

/* Read a 2-D (n x d) or 1-D (1 x d) .npy array of '<f4' or '<f8' (C order)
 * into a new float32 buffer (*out, free with sail_free). */
sail_status sail_npy_read(const char *path, float **out, int *n, int *d, sail_error *err);

/* Write a C-order float32 array of ndim (1..8) dimensions (shape[0..ndim))
 * to path as a .npy file (format 1.0, '<f4', little-endian whatever the
 * host): what `sail embed --format npy`, `sail preprocess` and `sail reduce
 * apply` write. Returns SAIL_OK, or an I/O or argument error naming path (a
 * partly written file is removed). Thread-safe (touches only path). */
sail_status sail_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                               sail_error *err);

/* A seeded random sample of m of the row indices 0..n-1 in perm[0..m), the
 * others after them in perm[m..n): a partial Fisher-Yates shuffle over a
 * splitmix64 stream from seed, so one seed gives one order on every machine;
 * m = n is a whole permutation (a holdout split, a silhouette sample). perm
 * has room for n ints; 0 <= m <= n. */
void sail_permutation(int *perm, int n, int m, uint64_t seed);

/* -------------------------------------------------------------- k-means -- */

typedef struct sail_kmeans_result {
    float *centroids; /* (k, d) */
    int *assign;      /* (n) cluster of each row */
    int *seeds;       /* (k) rows chosen as initial centres by k-means++ */
    double inertia;   /* sum of squared distances to the assigned centroid */
    int iters;        /* Lloyd iterations run */
} sail_kmeans_result;

/* Greedy k-means++ seeding (splitmix64 stream from seed; 2 + ln k D^2-drawn
 * candidates per centre, the best kept) then Lloyd iterations until no
 * assignment changes or max_iter. An emptied cluster takes the row farthest
 * from its centre. Needs 1 <= k <= n. Free with sail_kmeans_free. */
sail_status sail_kmeans(sail_pool *pool, const float *x, int n, int d, int k, int max_iter,
                        uint64_t seed, sail_kmeans_result *res, sail_error *err);
void sail_kmeans_free(sail_kmeans_result *res);


/* Mean silhouette coefficient (Euclidean) of a labelling; rows labelled < 0
 * (noise) are left out. Needs at least 2 clusters; returns NAN otherwise. */
double sail_silhouette(sail_pool *pool, const float *x, int n, int d, const int *label, int k);

/* --------------------------------------------------------------- DBSCAN -- */

/* DBSCAN with Euclidean distance: a core point has >= min_points points
 * (itself included) within eps. label[i] is the cluster (0.., numbered in
 * the order their first core point appears) or -1 for noise; border points
 * join the first cluster that reaches them. */
sail_status sail_dbscan(sail_pool *pool, const float *x, int n, int d, float eps, int min_points,
                        int *label, int *n_clusters, sail_error *err);

/* ------------------------------------------------------------------ PCA -- */

typedef struct sail_pca {
    int d_in, d_out;
    float *mean;       /* (d_in) */
    float *components; /* (d_out, d_in) unit rows, by decreasing variance */
    double *variance;  /* (d_out) eigenvalues of the covariance (n - 1 divisor) */
    double total_variance; /* trace of the covariance */
} sail_pca;

/* Fit: covariance in double, top d_out eigenpairs by LAPACK dsyevr. Each
 * component's sign is fixed so its largest-magnitude entry is positive. */
sail_status sail_pca_fit(sail_pool *pool, const float *x, int n, int d, int d_out, sail_pca *p,
                         sail_error *err);
/* out (n, d_out) = (x - mean) components^T. */
void sail_pca_apply(const sail_pca *p, const float *x, int n, float *out);
sail_status sail_pca_save(const sail_pca *p, const char *path, sail_error *err);
sail_status sail_pca_load(sail_pca *p, const char *path, sail_error *err);
/* Frees what sail_pca_fit or sail_pca_load made (its arrays are one block). */
void sail_pca_free(sail_pca *p);

/* ------------------------------------------------- logistic regression -- */

typedef struct sail_logreg {
    int d, c;       /* input dimension, number of classes */
    float *mu, *sd; /* (d) each: features are standardised, (x - mu) / sd */
    float *w;       /* (c, d) weights on standardised features */
    float *b;       /* (c) */
    char **labels;  /* (c) class names, UTF-8 */
} sail_logreg;

/* Mean cross-entropy of softmax(((x - mu) / sd) w^T + b) against y plus l2/2 * |w|^2, and
 * (when gw/gb are non-NULL) its gradient. */
double sail_logreg_loss(sail_pool *pool, const sail_logreg *m, const float *x, const int *y, int n,
                        double l2, float *gw, float *gb);
/* Train m (d, c and labels already set; mu, sd, w, b allocated here):
 * standardise the features, then full-batch gradient descent with Nesterov
 * momentum from zero weights, step 1/L with L the Lipschitz bound of the
 * gradient (power iteration on the feature covariance). */
sail_status sail_logreg_train(sail_pool *pool, sail_logreg *m, const float *x, const int *y, int n,
                              double l2, int epochs, sail_error *err);
/* probs (n, c): class probabilities of each row. */
void sail_logreg_predict(const sail_logreg *m, const float *x, int n, float *probs);
sail_status sail_logreg_save(const sail_logreg *m, const char *path, sail_error *err);
sail_status sail_logreg_load(sail_logreg *m, const char *path, sail_error *err);
void sail_logreg_free(sail_logreg *m);

/* softmax(scale * s) of n scores into p (zero-shot label probabilities). */
void sail_softmax_scaled(const float *s, int n, float scale, float *p);

/* ------------------------------------------------------------ alignment -- */

/* Monotonic alignment of L lines to F frames: frame[i] (non-decreasing in i)
 * maximising the sum of sim[i * F + frame[i]] (into *total). O(L * F) time,
 * L * F ints of back-pointers. */
sail_status sail_align_monotonic(const float *sim, int L, int F, int *frame, double *total,
                                 sail_error *err);
/* Each line's best frame on its own (ties: the earliest). Returns the sum. */
double sail_align_greedy(const float *sim, int L, int F, int *frame);

/* ------------------------------------------------ residual quantisation -- */

typedef struct sail_rq {
    int levels, k, d;
    float *codebooks; /* (levels, k, d) */
    int32_t *codes;   /* (n, levels) */
    double *mse;      /* (levels) mean squared reconstruction error after each level */
} sail_rq;

/* Level by level: k-means (k clusters, or n when fewer rows) on the
 * residuals left by the previous levels. */
sail_status sail_rq_fit(sail_pool *pool, const float *x, int n, int d, int levels, int k,
                        int max_iter, uint64_t seed, sail_rq *rq, sail_error *err);
/* Frees what sail_rq_fit made (its arrays are one block). */
void sail_rq_free(sail_rq *rq);

/* ----------------------------------------------------------------- plot -- */

/* PNG scatter (width x height) of n 2-D points coloured by label (-1 noise
 * in grey): anti-aliased dots, an axes box with tick values, a legend with
 * each cluster's size, and a title. */
sail_status sail_plot_png(const char *path, const float *xy, const int *label, int n,
                          const char *title, const char *xlabel, const char *ylabel, int width,
                          int height, sail_error *err);

#ifdef __cplusplus
}
#endif

#endif
