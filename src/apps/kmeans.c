/* kmeans.c: seeded k-means++ / Lloyd k-means and the silhouette score used
 * by `sail cluster --k auto`. Distances go through the GEMM kernel in row
 * blocks (|x|^2 + |c|^2 - 2 x.c), a block per pool task, so the scratch is
 * O(threads * block * k) plus n * (2 + ln k) floats of k-means++ trials. */
#include "apps/apps.h"
#include "rng.h"

#include <math.h>
#include <string.h>

#define BLOCK 1024

/* Work over row blocks, one block per pool task. Blocks are fixed by n and
 * k alone, and each is computed by the serial kernels, so the result is the
 * same bit for bit on any number of threads. */
typedef struct km_job {
    const float *x, *xn;
    int n, d, blk;
    const float *c, *cn; /* the centres or candidates (m, d) compared against */
    int m;
    float *D;            /* (threads, blk, width) distance scratch */
    size_t width;
    int *assign, *changed; /* assignment: per row, and changes per block */
    float *best;
    double *d2, *pot;    /* k-means++: per row, and (blocks, m) partial potentials */
    float *trial;        /* k-means++: (n, m) distances to the m candidates */
    int update;
} km_job;

static int n_blocks(const km_job *j) { return (j->n + j->blk - 1) / j->blk; }

/* One block's distances to the m centres, into D (rows, m) or, when D is
 * NULL, this thread's scratch. */
static float *block_dist(km_job *j, int task, int thread, float *D, int *rows) {
    int i0 = task * j->blk;
    if (!D) D = j->D + (size_t)thread * j->blk * j->width;
    *rows = SAIL_MIN(j->blk, j->n - i0);
    apps_sqdist(j->x + (size_t)i0 * j->d, j->xn + i0, *rows, j->c, j->cn, j->m, j->d, D);
    return D;
}

/* k-means++: pot[t] = sum over rows of min(d2, |x - cand_t|^2), the
 * distances kept in j->trial; with update, d2 takes the minimum with
 * candidate 0 instead. */
static void pp_task(void *ctx, int task, int thread) {
    km_job *j = ctx;
    int rows, m = j->m;
    float *keep = j->update ? NULL : j->trial + (size_t)task * j->blk * m;
    const float *D = block_dist(j, task, thread, keep, &rows);
    double *pot = j->pot + (size_t)task * m, *d2 = j->d2 + (size_t)task * j->blk;
    for (int t = 0; t < m; t++) pot[t] = 0;
    for (int i = 0; i < rows; i++) {
        const float *r = D + (size_t)i * m;
        if (j->update) {
            if (r[0] < d2[i]) d2[i] = r[0];
            continue;
        }
        for (int t = 0; t < m; t++) pot[t] += r[t] < d2[i] ? r[t] : d2[i];
    }
}

/* Nearest centre of every row of the block (ties: the lowest index). */
static void assign_task(void *ctx, int task, int thread) {
    km_job *j = ctx;
    int rows, k = j->m, i0 = task * j->blk, changed = 0;
    const float *D = block_dist(j, task, thread, NULL, &rows);
    for (int i = 0; i < rows; i++) {
        const float *r = D + (size_t)i * k;
        int arg = 0;
        for (int t = 1; t < k; t++)
            if (r[t] < r[arg]) arg = t;
        changed += j->assign[i0 + i] != arg;
        j->assign[i0 + i] = arg;
        j->best[i0 + i] = r[arg];
    }
    j->changed[task] = changed;
}

static void pp_pass(sail_pool *pool, km_job *j, const float *cand, float *cn, int m, int update) {
    apps_row_sqnorms(cand, m, j->d, cn);
    j->c = cand;
    j->cn = cn;
    j->m = m;
    j->update = update;
    sail_pool_run(pool, pp_task, j, n_blocks(j));
    for (int b = 1; !update && b < n_blocks(j); b++)
        for (int t = 0; t < m; t++) j->pot[t] += j->pot[(size_t)b * m + t];
}

/* Greedy k-means++ (as scikit-learn's): the first centre uniform; then
 * `trials` (2 + ln k) candidates drawn with probability proportional to
 * their squared distance to the nearest chosen centre, keeping the one that
 * lowers the total squared distance most. Its distances are taken from the
 * trial pass, not computed again: x is streamed from memory once per centre.
 * cand (64, d) and cn (64) are scratch. */
static void kmeanspp(sail_pool *pool, km_job *j, int k, int trials, uint64_t seed, float *cand,
                     float *cn, int *seeds) {
    sail_rng r = {seed};
    int n = j->n, d = j->d, pick[64];
    seeds[0] = (int)(sail_rng_next(&r) % (uint64_t)n);
    for (int i = 0; i < n; i++) j->d2[i] = INFINITY;
    memcpy(cand, j->x + (size_t)seeds[0] * d, sizeof(float) * d);
    pp_pass(pool, j, cand, cn, 1, 1);
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (int i = 0; i < n; i++) total += j->d2[i];
        for (int t = 0; t < trials; t++) {
            pick[t] = (int)(sail_rng_next(&r) % (uint64_t)n);
            if (total > 0) {
                double u = sail_rng_uniform(&r) * total, cum = 0;
                pick[t] = n - 1;
                for (int i = 0; i < n; i++) {
                    cum += j->d2[i];
                    if (cum >= u) { pick[t] = i; break; }
                }
            }
            memcpy(cand + (size_t)t * d, j->x + (size_t)pick[t] * d, sizeof(float) * d);
        }
        pp_pass(pool, j, cand, cn, trials, 0);
        int best = 0;
        for (int t = 1; t < trials; t++)
            if (j->pot[t] < j->pot[best]) best = t;
        seeds[c] = pick[best];
        for (int i = 0; i < n; i++) {
            float v = j->trial[(size_t)i * trials + best];
            if (v < j->d2[i]) j->d2[i] = v;
        }
    }
}

/* Assigns every row to its nearest centre; returns how many assignments
 * changed. j->best (n) receives the squared distances. */
static int assign_rows(sail_pool *pool, km_job *j, const float *c, float *cn, int k) {
    apps_row_sqnorms(c, k, j->d, cn);
    j->c = c;
    j->cn = cn;
    j->m = k;
    sail_pool_run(pool, assign_task, j, n_blocks(j));
    int changed = 0;
    for (int b = 0; b < n_blocks(j); b++) changed += j->changed[b];
    return changed;
}

/* Cluster sums, a slice of columns per thread: every sum is accumulated in
 * row order by one task, so the slicing cannot change a bit of it. */
typedef struct sum_job {
    const float *x;
    const int *assign;
    int n, d, cols;
    double *sum; /* (k, d) */
} sum_job;

static void sum_task(void *ctx, int task, int thread) {
    const sum_job *j = ctx;
    int n = j->n, d = j->d, c0 = task * j->cols, w = SAIL_MIN(d, c0 + j->cols) - c0;
    const float *x = j->x + c0;
    const int *assign = j->assign;
    for (int i = 0; i < n; i++) apps_add_f64(j->sum + (size_t)assign[i] * d + c0, x + (size_t)i * d, w);
}

/* New centroids: the mean of each cluster's rows; an emptied cluster
 * restarts at the row farthest from its centre. sum (k, d) is scratch. */
static void update_centroids(sail_pool *pool, const float *x, int n, int d, int k, const int *assign,
                             float *best, double *sum, int *count, float *c) {
    memset(sum, 0, (size_t)k * d * sizeof *sum);
    memset(count, 0, (size_t)k * sizeof *count);
    int T = sail_pool_size(pool), cols = ((d + T - 1) / T + 15) / 16 * 16; /* whole cache lines */
    sum_job sj = {x, assign, n, d, cols, sum};
    sail_pool_run(pool, sum_task, &sj, (d + cols - 1) / cols);
    for (int i = 0; i < n; i++) count[assign[i]]++;
    for (int j = 0; j < k; j++) {
        float *cj = c + (size_t)j * d;
        if (count[j]) {
            for (int t = 0; t < d; t++) cj[t] = (float)(sum[(size_t)j * d + t] / count[j]);
            continue;
        }
        int far = 0;
        for (int i = 1; i < n; i++)
            if (best[i] > best[far]) far = i;
        memcpy(cj, x + (size_t)far * d, sizeof *cj * d);
        best[far] = 0;
    }
}

/* Inertia, in double, per block (pot holds the partial sums). */
static void inertia_task(void *ctx, int task, int thread) {
    km_job *j = ctx;
    int i0 = task * j->blk, m = SAIL_MIN(j->blk, j->n - i0);
    double s = 0;
    for (int i = i0; i < i0 + m; i++)
        s += apps_sqdist_exact(j->x + (size_t)i * j->d, j->c + (size_t)j->assign[i] * j->d, j->d);
    j->pot[task] = s;
}

sail_status sail_kmeans(sail_pool *pool, const float *x, int n, int d, int k, int max_iter,
                        uint64_t seed, sail_kmeans_result *res, sail_error *err) {
    if (n < 1 || d < 1 || k < 1 || k > n || k > SAIL_APPS_MAX_K || n > SAIL_APPS_MAX_ROWS || d > SAIL_APPS_MAX_DIM ||
        max_iter < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "k-means needs 1 <= k <= n rows (k=%d, n=%d, d=%d, max_iter=%d)", k, n, d,
                              max_iter);
    int T = sail_pool_size(pool), width = SAIL_MAX(k, 64), trials = 2 + (int)log(k);
    /* Rows per block: <= 16 MiB of distances per thread. */
    int blk = SAIL_MAX(1, SAIL_MIN(SAIL_MIN(BLOCK, n), (1 << 22) / width));
    int nb = (n + blk - 1) / blk;
    size_t kd = (size_t)k * d;
    float *c = sail_malloc(kd * sizeof *c), *cn = sail_malloc((size_t)width * sizeof *cn);
    float *xn = sail_malloc((size_t)n * sizeof *xn), *best = sail_malloc((size_t)n * sizeof *best);
    float *D = sail_malloc((size_t)T * blk * width * sizeof *D);
    double *d2 = sail_malloc((size_t)n * sizeof *d2), *sum = sail_malloc(kd * sizeof *sum);
    float *cand = sail_malloc((size_t)64 * d * sizeof *cand);
    double *pot = sail_malloc((size_t)nb * 64 * sizeof *pot);
    int *assign = sail_malloc((size_t)n * sizeof *assign), *seeds = sail_malloc((size_t)k * sizeof *seeds);
    int *count = sail_malloc((size_t)k * sizeof *count), *changed = sail_malloc((size_t)nb * sizeof *changed);
    float *trial = sail_malloc((size_t)n * trials * sizeof *trial);
    sail_status s = SAIL_OK;
    if (!c || !cn || !xn || !best || !D || !d2 || !sum || !cand || !pot || !assign || !seeds || !count ||
        !changed || !trial) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for k-means (n=%d, k=%d, d=%d)", n, k, d);
        sail_free(c); sail_free(assign); sail_free(seeds);
        goto done;
    }
    apps_row_sqnorms(x, n, d, xn);
    km_job j = {.x = x, .xn = xn, .n = n, .d = d, .blk = blk, .D = D, .width = (size_t)width,
                .assign = assign, .changed = changed, .best = best, .d2 = d2, .pot = pot, .trial = trial};
    kmeanspp(pool, &j, k, trials, seed, cand, cn, seeds);
    for (int t = 0; t < k; t++) memcpy(c + (size_t)t * d, x + (size_t)seeds[t] * d, sizeof *c * d);
    for (int i = 0; i < n; i++) assign[i] = -1;
    int it = 0;
    for (; it < max_iter && assign_rows(pool, &j, c, cn, k); it++)
        update_centroids(pool, x, n, d, k, assign, best, sum, count, c);
    j.c = c;
    sail_pool_run(pool, inertia_task, &j, nb);
    double inertia = 0;
    for (int b = 0; b < nb; b++) inertia += pot[b];
    *res = (sail_kmeans_result){c, assign, seeds, inertia, it};
done:
    sail_free(cn); sail_free(xn); sail_free(best); sail_free(D); sail_free(d2); sail_free(sum);
    sail_free(cand); sail_free(pot); sail_free(count); sail_free(changed); sail_free(trial);
    return s;
}

void sail_kmeans_free(sail_kmeans_result *res) {
    if (!res) return;
    sail_free(res->centroids);
    sail_free(res->assign);
    sail_free(res->seeds);
    memset(res, 0, sizeof *res);
}

/* Silhouette over row blocks: each task sums its rows' coefficients. */
typedef struct sil_job {
    const float *x, *xn;
    const int *label, *size;
    int n, d, k, rows;
    float *D;     /* (threads, rows, n) */
    double *acc;  /* (threads, k) */
    double *total; /* (blocks) */
    int *used;     /* (blocks) */
} sil_job;

static void sil_task(void *ctx, int task, int thread) {
    sil_job *j = ctx;
    int n = j->n, k = j->k, i0 = task * j->rows, m = SAIL_MIN(j->rows, n - i0), used = 0;
    float *D = j->D + (size_t)thread * j->rows * n;
    double *acc = j->acc + (size_t)thread * k, total = 0;
    apps_sqdist(j->x + (size_t)i0 * j->d, j->xn + i0, m, j->x, j->xn, n, j->d, D);
    for (int r = 0; r < m; r++) {
        int i = i0 + r, li = j->label[i];
        if (li < 0 || li >= k) continue;
        used++;
        if (j->size[li] == 1) continue; /* a singleton's silhouette is 0 */
        const float *Di = D + (size_t)r * n;
        memset(acc, 0, (size_t)k * sizeof *acc);
        for (int t = 0; t < n; t++)
            if (t != i && j->label[t] >= 0 && j->label[t] < k) acc[j->label[t]] += sqrt(Di[t]);
        double a = acc[li] / (j->size[li] - 1), b = INFINITY;
        for (int c = 0; c < k; c++)
            if (c != li && j->size[c] && acc[c] / j->size[c] < b) b = acc[c] / j->size[c];
        double mx = a > b ? a : b;
        if (mx > 0) total += (b - a) / mx;
    }
    j->total[task] = total;
    j->used[task] = used;
}

double sail_silhouette(sail_pool *pool, const float *x, int n, int d, const int *label, int k) {
    if (k < 2 || n < 2) return NAN;
    int T = sail_pool_size(pool);
    int rows = SAIL_MAX(1, SAIL_MIN(SAIL_MIN(256, n), (1 << 22) / n)); /* <= 16 MiB per thread */
    int nb = (n + rows - 1) / rows;
    int *size = sail_calloc((size_t)k, sizeof *size), *used = sail_malloc((size_t)nb * sizeof *used);
    double *acc = sail_malloc((size_t)T * k * sizeof *acc), *part = sail_malloc((size_t)nb * sizeof *part);
    float *xn = sail_malloc((size_t)n * sizeof *xn), *D = sail_malloc((size_t)T * rows * n * sizeof *D);
    double total = NAN;
    int nonempty = 0, all = 0;
    if (size && used && acc && part && xn && D) {
        for (int i = 0; i < n; i++)
            if (label[i] >= 0 && label[i] < k) size[label[i]]++;
        for (int c = 0; c < k; c++) nonempty += size[c] > 0;
    }
    if (nonempty >= 2) {
        apps_row_sqnorms(x, n, d, xn);
        sil_job j = {x, xn, label, size, n, d, k, rows, D, acc, part, used};
        sail_pool_run(pool, sil_task, &j, nb);
        total = 0;
        for (int b = 0; b < nb; b++) {
            total += part[b];
            all += used[b];
        }
        total = all ? total / all : NAN;
    }
    sail_free(size); sail_free(used); sail_free(acc); sail_free(part); sail_free(xn); sail_free(D);
    return total;
}
