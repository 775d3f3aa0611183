/* dbscan.c: DBSCAN over Euclidean distance. Neighbourhoods are found with
 * the GEMM distance in row blocks, then every candidate near the eps
 * boundary is confirmed with an exact double-precision distance, so the
 * result equals a brute-force DBSCAN's, on any number of threads. Neighbour
 * lists are kept in one CSR array (bounded: a too-large eps is an error,
 * not an OOM). */
#include "apps/apps.h"

#include <math.h>
#include <string.h>

#define BLOCK 1024
#define MAX_PAIRS ((size_t)1 << 28)

/* Neighbour search in waves of one block per thread: each task lists its
 * block's neighbours in its own buffer, then the wave is appended to the
 * CSR arrays in block order, so the lists (and the clusters) do not depend
 * on the number of threads. */
typedef struct nb_job {
    const float *x, *xn;
    int n, d, block, first; /* first block of the wave */
    double e2, loose;
    float *D;               /* (threads, block, n) */
    int **list;             /* (threads) per-task neighbour buffers */
    size_t *len, *cap;      /* (threads) */
    size_t (*row_end)[BLOCK]; /* (threads) end of each row's run in list */
} nb_job;

#define FAILED ((size_t)-1) /* len of a task whose buffer could not grow or passed MAX_PAIRS */

static int push(nb_job *j, int t, int v) {
    if (j->len[t] == j->cap[t]) {
        size_t nc = j->cap[t] ? 2 * j->cap[t] : 4096;
        int *g = nc <= MAX_PAIRS ? sail_realloc(j->list[t], nc * sizeof *g) : NULL;
        if (!g) return -1;
        j->list[t] = g;
        j->cap[t] = nc;
    }
    j->list[t][j->len[t]++] = v;
    return 0;
}

static void nb_task(void *ctx, int t, int thread) {
    nb_job *j = ctx;
    int n = j->n, d = j->d, i0 = (j->first + t) * j->block, m = SAIL_MIN(j->block, n - i0);
    float *D = j->D + (size_t)thread * j->block * n;
    j->len[t] = 0;
    apps_sqdist(j->x + (size_t)i0 * d, j->xn + i0, m, j->x, j->xn, n, d, D);
    for (int i = 0; i < m; i++) {
        for (int c = 0; c < n; c++) {
            if (D[(size_t)i * n + c] > j->loose) continue;
            if (apps_sqdist_exact(j->x + (size_t)(i0 + i) * d, j->x + (size_t)c * d, d) > j->e2) continue;
            if (push(j, t, c)) { j->len[t] = FAILED; return; }
        }
        j->row_end[t][i] = j->len[t];
    }
}

/* Appends the wave's lists to nb/start; 0, or a status on failure. */
static sail_status append_wave(nb_job *j, int tasks, int **nb, size_t *cap, size_t *used, size_t *start,
                               double eps, sail_error *err) {
    for (int t = 0; t < tasks; t++) {
        int i0 = (j->first + t) * j->block, m = SAIL_MIN(j->block, j->n - i0);
        if (j->len[t] == FAILED || *used + j->len[t] > MAX_PAIRS)
            return sail_set_error(err, SAIL_ERR_LIMIT,
                                  "eps %g puts over %zu pairs in each other's neighbourhood (or memory "
                                  "ran out); choose a smaller --eps", eps, MAX_PAIRS);
        if (*used + j->len[t] > *cap) {
            size_t nc = SAIL_MAX(*cap * 2, *used + j->len[t]);
            int *g = sail_realloc(*nb, nc * sizeof *g);
            if (!g) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for neighbour lists");
            *nb = g;
            *cap = nc;
        }
        for (int i = 0; i < m; i++) start[i0 + i] = *used + (i ? j->row_end[t][i - 1] : 0);
        memcpy(*nb + *used, j->list[t], j->len[t] * sizeof **nb);
        *used += j->len[t];
    }
    return SAIL_OK;
}

sail_status sail_dbscan(sail_pool *pool, const float *x, int n, int d, float eps, int min_points,
                        int *label, int *n_clusters, sail_error *err) {
    if (n < 1 || d < 1 || n > SAIL_APPS_MAX_ROWS || d > SAIL_APPS_MAX_DIM || !(eps > 0) || !isfinite(eps) ||
        min_points < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "DBSCAN needs rows, eps > 0 and min_points >= 1 (n=%d, eps=%g, min_points=%d)",
                              n, (double)eps, min_points);
    int T = sail_pool_size(pool);
    size_t cap = (size_t)n * 8, used = 0;
    int *nb = sail_malloc(cap * sizeof *nb), *queue = sail_malloc((size_t)n * sizeof *queue);
    size_t *start = sail_malloc(((size_t)n + 1) * sizeof *start);
    float *xn = sail_malloc((size_t)n * sizeof *xn);
    /* Rows per distance block: at most 2^22 floats of scratch per thread. */
    int block = SAIL_MAX(1, SAIL_MIN(SAIL_MIN(BLOCK, n), (1 << 22) / n));
    nb_job j = {x, xn, n, d, block, 0, (double)eps * eps, (double)eps * eps * 1.001 + 1e-4,
                sail_malloc((size_t)T * block * n * sizeof(float)), sail_calloc((size_t)T, sizeof(int *)),
                sail_calloc((size_t)T, sizeof(size_t)), sail_calloc((size_t)T, sizeof(size_t)),
                sail_malloc((size_t)T * sizeof *j.row_end)};
    int *lab = sail_malloc((size_t)n * sizeof *lab);
    sail_status s = SAIL_OK;
    if (!nb || !queue || !start || !xn || !j.D || !j.list || !j.len || !j.cap || !j.row_end || !lab) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for DBSCAN over %d rows", n);
        goto done;
    }
    apps_row_sqnorms(x, n, d, xn);
    int blocks = (n + block - 1) / block;
    for (j.first = 0; j.first < blocks && !s; j.first += T) {
        int tasks = SAIL_MIN(T, blocks - j.first);
        sail_pool_run(pool, nb_task, &j, tasks);
        s = append_wave(&j, tasks, &nb, &cap, &used, start, eps, err);
    }
    if (s) goto done;
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
    for (int t = 0; j.list && t < T; t++) sail_free(j.list[t]);
    sail_free(j.list); sail_free(j.len); sail_free(j.cap); sail_free(j.row_end); sail_free(j.D);
    sail_free(nb); sail_free(queue); sail_free(start); sail_free(xn); sail_free(lab);
    return s;
}
