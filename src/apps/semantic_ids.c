/* semantic_ids.c: residual quantisation for `sail index semantic-ids`. Level
 * 1 runs k-means on the vectors, each next level on what the previous
 * levels left unexplained, so an item's code (c1, c2, ...) names a coarse
 * region first and refines it after: a short discrete id that generative
 * retrieval and recommenders can use as a token sequence. */
#include "apps/apps.h"

#include <string.h>

void sail_rq_free(sail_rq *rq) {
    if (!rq) return;
    sail_free(rq->mse); /* one block: mse, codebooks, codes */
    memset(rq, 0, sizeof *rq);
}

sail_status sail_rq_fit(sail_pool *pool, const float *x, int n, int d, int levels, int k, int max_iter,
                        uint64_t seed, sail_rq *rq, sail_error *err) {
    if (n < 1 || d < 1 || n > SAIL_APPS_MAX_ROWS || d > SAIL_APPS_MAX_DIM || levels < 1 || levels > 16 || k < 1 ||
        k > SAIL_APPS_MAX_K)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "residual quantisation needs 1..16 levels and a codebook of 1..%d "
                              "(levels=%d, codebook=%d, n=%d)", SAIL_APPS_MAX_K, levels, k, n);
    int ke = SAIL_MIN(k, n);
    /* the result's arrays in one block (zeroed), doubles first for alignment */
    size_t n_cb = (size_t)levels * ke * d;
    sail_rq r = {levels, ke, d, NULL, NULL,
                 sail_calloc(1, 8 * (size_t)levels + 4 * n_cb + 4 * (size_t)n * levels)};
    if (r.mse) {
        r.codebooks = (float *)(r.mse + levels);
        r.codes = (int32_t *)(r.codebooks + n_cb);
    }
    float *res = sail_malloc((size_t)n * d * sizeof *res);
    if (!r.mse || !res) {
        sail_rq_free(&r);
        sail_free(res);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for residual quantisation of %d x %d", n, d);
    }
    memcpy(res, x, (size_t)n * d * sizeof *res);
    for (int l = 0; l < levels; l++) {
        sail_kmeans_result km;
        sail_status s = sail_kmeans(pool, res, n, d, ke, max_iter, seed + (uint64_t)l, &km, err);
        if (s) {
            sail_error_prefix(err, "level %d: ", l + 1);
            sail_rq_free(&r);
            sail_free(res);
            return s;
        }
        memcpy(r.codebooks + (size_t)l * ke * d, km.centroids, (size_t)ke * d * sizeof(float));
        double se = 0;
        for (int i = 0; i < n; i++) {
            int c = km.assign[i];
            r.codes[(size_t)i * levels + l] = c;
            float *v = res + (size_t)i * d;
            const float *cv = km.centroids + (size_t)c * d;
            for (int j = 0; j < d; j++) {
                v[j] -= cv[j];
                se += (double)v[j] * v[j];
            }
        }
        r.mse[l] = se / n;
        sail_kmeans_free(&km);
    }
    sail_free(res);
    *rq = r;
    return SAIL_OK;
}
