/* dbscan.c: DBSCAN over Euclidean distance. Neighbourhoods are found with
 * the GEMM distance in row blocks, then every candidate near the eps
 * boundary is confirmed with an exact double-precision distance, so the
 * result equals a brute-force DBSCAN's. Neighbour lists are kept in one
 * CSR array (bounded: a too-large eps is an error, not an OOM). */
#include "apps/apps.h"

#include <math.h>
#include <string.h>

#define BLOCK 1024
#define MAX_PAIRS ((size_t)1 << 28)

sail_status apps_dbscan(const float *x, int n, int d, float eps, int min_points, int *label,
                        int *n_clusters, sail_error *err) {
    if (n < 1 || d < 1 || n > APPS_MAX_ROWS || d > APPS_MAX_DIM || !(eps > 0) || !isfinite(eps) ||
        min_points < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "DBSCAN needs rows, eps > 0 and min_points >= 1 (n=%d, eps=%g, min_points=%d)",
                              n, (double)eps, min_points);
    size_t cap = (size_t)n * 8, used = 0;
    int *nb = sail_malloc(cap * sizeof *nb), *queue = sail_malloc((size_t)n * sizeof *queue);
    size_t *start = sail_malloc(((size_t)n + 1) * sizeof *start);
    float *xn = sail_malloc((size_t)n * sizeof *xn);
    /* Rows per distance block: at most 2^24 floats of scratch whatever n is. */
    int block = SAIL_MAX(1, SAIL_MIN(SAIL_MIN(BLOCK, n), (1 << 24) / n));
    float *D = sail_malloc((size_t)block * n * sizeof *D);
    int *lab = sail_malloc((size_t)n * sizeof *lab);
    sail_status s = SAIL_OK;
    if (!nb || !queue || !start || !xn || !D || !lab) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for DBSCAN over %d rows", n);
        goto done;
    }
    apps_row_sqnorms(x, n, d, xn);
    double e2 = (double)eps * eps, loose = e2 * 1.001 + 1e-4;
    for (int i0 = 0; i0 < n; i0 += block) {
        int m = SAIL_MIN(block, n - i0);
        apps_sqdist(x + (size_t)i0 * d, xn + i0, m, x, xn, n, d, D);
        for (int i = 0; i < m; i++) {
            start[i0 + i] = used;
            for (int t = 0; t < n; t++) {
                if (D[(size_t)i * n + t] > loose) continue;
                if (apps_sqdist_exact(x + (size_t)(i0 + i) * d, x + (size_t)t * d, d) > e2) continue;
                if (used == cap) {
                    if (cap >= MAX_PAIRS) {
                        s = sail_set_error(err, SAIL_ERR_LIMIT,
                                           "eps %g puts over %zu pairs in each other's neighbourhood; "
                                           "choose a smaller --eps", (double)eps, MAX_PAIRS);
                        goto done;
                    }
                    int *g = sail_realloc(nb, 2 * cap * sizeof *nb);
                    if (!g) { s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for neighbour lists"); goto done; }
                    nb = g;
                    cap *= 2;
                }
                nb[used++] = t;
            }
        }
    }
    start[n] = used;
    /* -2 unvisited, -1 noise (may still become a border point). */
    for (int i = 0; i < n; i++) lab[i] = -2;
    int c = 0;
    for (int i = 0; i < n; i++) {
        if (lab[i] != -2) continue;
        if (start[i + 1] - start[i] < (size_t)min_points) { lab[i] = -1; continue; }
        int head = 0, tail = 0;
        lab[i] = c;
        queue[tail++] = i;
        while (head < tail) {
            int p = queue[head++];
            if (start[p + 1] - start[p] < (size_t)min_points) continue; /* border: no expansion */
            for (size_t e = start[p]; e < start[p + 1]; e++) {
                int q = nb[e];
                if (lab[q] == -1) lab[q] = c;
                else if (lab[q] == -2) { lab[q] = c; queue[tail++] = q; }
            }
        }
        c++;
    }
    memcpy(label, lab, (size_t)n * sizeof *label);
    *n_clusters = c;
done:
    sail_free(nb); sail_free(queue); sail_free(start); sail_free(xn); sail_free(D); sail_free(lab);
    return s;
}
