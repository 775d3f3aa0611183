/* kmeans.c: seeded k-means++ / Lloyd k-means and the silhouette score used
 * by `sail cluster --k auto`. Distances for assignment go through the GEMM
 * kernel in row blocks (|x|^2 + |c|^2 - 2 x.c), so memory stays
 * O(block * k) whatever n is. */
#include "apps/apps.h"
#include "rng.h"

#include <math.h>
#include <string.h>

#define BLOCK 2048

/* k-means++ scratch: distances of every row to up to 64 candidate rows are
 * computed in blocks of BLOCK rows. */
typedef struct pp_state {
    const float *x, *xn;
    int n, d;
    double *d2;    /* (n) distance to the nearest chosen centre */
    float *cand;   /* (trials, d) */
    float *cn;     /* (trials) */
    float *D;      /* (BLOCK, trials) */
    double *pot;   /* (trials) */
} pp_state;

/* pot[t] = sum over rows of min(d2, |x - cand_t|^2); with update, d2 takes
 * the minimum with candidate 0 instead. */
static void pp_pass(pp_state *st, int m, int update) {
    apps_row_sqnorms(st->cand, m, st->d, st->cn);
    for (int t = 0; t < m; t++) st->pot[t] = 0;
    for (int i0 = 0; i0 < st->n; i0 += BLOCK) {
        int rows = SAIL_MIN(BLOCK, st->n - i0);
        apps_sqdist(st->x + (size_t)i0 * st->d, st->xn + i0, rows, st->cand, st->cn, m, st->d, st->D);
        for (int i = 0; i < rows; i++) {
            double *cur = &st->d2[i0 + i];
            const float *r = st->D + (size_t)i * m;
            if (update) {
                if (r[0] < *cur) *cur = r[0];
                continue;
            }
            for (int t = 0; t < m; t++) st->pot[t] += r[t] < *cur ? r[t] : *cur;
        }
    }
}

/* Greedy k-means++ (as scikit-learn's): the first centre uniform; then
 * 2 + ln(k) candidates drawn with probability proportional to their squared
 * distance to the nearest chosen centre, keeping the one that lowers the
 * total squared distance most. Distances come from the GEMM kernel. */
static void kmeanspp(pp_state *st, int k, uint64_t seed, int *seeds) {
    sail_rng r = {seed};
    int n = st->n, d = st->d, trials = 2 + (int)log(k), pick[64];
    seeds[0] = (int)(sail_rng_next(&r) % (uint64_t)n);
    for (int i = 0; i < n; i++) st->d2[i] = INFINITY;
    memcpy(st->cand, st->x + (size_t)seeds[0] * d, sizeof(float) * d);
    pp_pass(st, 1, 1);
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (int i = 0; i < n; i++) total += st->d2[i];
        for (int t = 0; t < trials; t++) {
            pick[t] = (int)(sail_rng_next(&r) % (uint64_t)n);
            if (total > 0) {
                double u = sail_rng_uniform(&r) * total, cum = 0;
                pick[t] = n - 1;
                for (int i = 0; i < n; i++) {
                    cum += st->d2[i];
                    if (cum >= u) { pick[t] = i; break; }
                }
            }
            memcpy(st->cand + (size_t)t * d, st->x + (size_t)pick[t] * d, sizeof(float) * d);
        }
        pp_pass(st, trials, 0);
        int best = 0;
        for (int t = 1; t < trials; t++)
            if (st->pot[t] < st->pot[best]) best = t;
        seeds[c] = pick[best];
        memcpy(st->cand, st->x + (size_t)pick[best] * d, sizeof(float) * d);
        pp_pass(st, 1, 1);
    }
}

/* Assigns every row to its nearest centre (ties: the lowest index); returns
 * how many assignments changed. best (n) receives the squared distance. */
static int assign_rows(const float *x, const float *xn, int n, int d, const float *c, float *cn,
                       int k, float *D, int blk, int *assign, float *best) {
    apps_row_sqnorms(c, k, d, cn);
    int changed = 0;
    for (int i0 = 0; i0 < n; i0 += blk) {
        int m = SAIL_MIN(blk, n - i0);
        apps_sqdist(x + (size_t)i0 * d, xn + i0, m, c, cn, k, d, D);
        for (int i = 0; i < m; i++) {
            const float *r = D + (size_t)i * k;
            int arg = 0;
            for (int j = 1; j < k; j++)
                if (r[j] < r[arg]) arg = j;
            if (assign[i0 + i] != arg) changed++;
            assign[i0 + i] = arg;
            best[i0 + i] = r[arg];
        }
    }
    return changed;
}

sail_status apps_kmeans(const float *x, int n, int d, int k, int max_iter, uint64_t seed,
                        apps_kmeans_result *res, sail_error *err) {
    if (n < 1 || d < 1 || k < 1 || k > n || k > APPS_MAX_K || n > APPS_MAX_ROWS || d > APPS_MAX_DIM ||
        max_iter < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "k-means needs 1 <= k <= n rows (k=%d, n=%d, d=%d, max_iter=%d)", k, n, d,
                              max_iter);
    size_t kd = (size_t)k * d;
    float *c = sail_malloc(kd * sizeof *c), *cn = sail_malloc((size_t)k * sizeof *cn);
    float *xn = sail_malloc((size_t)n * sizeof *xn), *best = sail_malloc((size_t)n * sizeof *best);
    int blk = SAIL_MAX(1, SAIL_MIN(SAIL_MIN(BLOCK, n), (1 << 24) / k)); /* <= 64 MiB of distances */
    float *D = sail_malloc((size_t)blk * k * sizeof *D);
    double *d2 = sail_malloc((size_t)n * sizeof *d2), *sum = sail_malloc(kd * sizeof *sum);
    float *cand = sail_malloc((size_t)64 * d * sizeof *cand), *ccn = sail_malloc(64 * sizeof *ccn);
    float *pD = sail_malloc((size_t)SAIL_MIN(BLOCK, n) * 64 * sizeof *pD);
    double *pot = sail_malloc(64 * sizeof *pot);
    int *assign = sail_malloc((size_t)n * sizeof *assign), *seeds = sail_malloc((size_t)k * sizeof *seeds);
    int *count = sail_malloc((size_t)k * sizeof *count);
    if (!c || !cn || !xn || !best || !D || !d2 || !sum || !assign || !seeds || !count || !cand || !ccn || !pD || !pot) {
        sail_free(c); sail_free(cn); sail_free(xn); sail_free(best); sail_free(D);
        sail_free(cand); sail_free(ccn); sail_free(pD); sail_free(pot);
        sail_free(d2); sail_free(sum); sail_free(assign); sail_free(seeds); sail_free(count);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for k-means (n=%d, k=%d, d=%d)", n, k, d);
    }
    apps_row_sqnorms(x, n, d, xn);
    pp_state st = {x, xn, n, d, d2, cand, ccn, pD, pot};
    kmeanspp(&st, k, seed, seeds);
    for (int j = 0; j < k; j++) memcpy(c + (size_t)j * d, x + (size_t)seeds[j] * d, sizeof *c * d);
    for (int i = 0; i < n; i++) assign[i] = -1;
    int it = 0;
    for (; it < max_iter; it++) {
        if (!assign_rows(x, xn, n, d, c, cn, k, D, blk, assign, best)) break;
        memset(sum, 0, kd * sizeof *sum);
        memset(count, 0, (size_t)k * sizeof *count);
        for (int i = 0; i < n; i++) {
            double *s = sum + (size_t)assign[i] * d;
            const float *r = x + (size_t)i * d;
            for (int j = 0; j < d; j++) s[j] += r[j];
            count[assign[i]]++;
        }
        for (int j = 0; j < k; j++) {
            float *cj = c + (size_t)j * d;
            if (count[j]) {
                for (int t = 0; t < d; t++) cj[t] = (float)(sum[(size_t)j * d + t] / count[j]);
                continue;
            }
            /* An empty cluster restarts at the row farthest from its centre. */
            int far = 0;
            for (int i = 1; i < n; i++)
                if (best[i] > best[far]) far = i;
            memcpy(cj, x + (size_t)far * d, sizeof *cj * d);
            best[far] = 0;
        }
    }
    double inertia = 0;
    for (int i = 0; i < n; i++) inertia += apps_sqdist_exact(x + (size_t)i * d, c + (size_t)assign[i] * d, d);
    sail_free(cn); sail_free(xn); sail_free(best); sail_free(D); sail_free(d2); sail_free(sum);
    sail_free(count); sail_free(cand); sail_free(ccn); sail_free(pD); sail_free(pot);
    res->centroids = c;
    res->assign = assign;
    res->seeds = seeds;
    res->inertia = inertia;
    res->iters = it;
    return SAIL_OK;
}

void apps_kmeans_free(apps_kmeans_result *res) {
    if (!res) return;
    sail_free(res->centroids);
    sail_free(res->assign);
    sail_free(res->seeds);
    memset(res, 0, sizeof *res);
}

double apps_silhouette(const float *x, int n, int d, const int *label, int k) {
    if (k < 2 || n < 2) return NAN;
    enum { ROWS = 256 };
    int *size = sail_calloc((size_t)k, sizeof *size);
    double *acc = sail_malloc((size_t)k * sizeof *acc);
    float *xn = sail_malloc((size_t)n * sizeof *xn);
    int rows = SAIL_MAX(1, SAIL_MIN(SAIL_MIN(ROWS, n), (1 << 24) / n)); /* <= 64 MiB of scratch */
    float *D = sail_malloc((size_t)rows * n * sizeof *D);
    double total = 0;
    int used = 0, nonempty = 0;
    if (!size || !acc || !xn || !D) { total = NAN; goto done; }
    for (int i = 0; i < n; i++)
        if (label[i] >= 0 && label[i] < k) size[label[i]]++;
    for (int j = 0; j < k; j++) nonempty += size[j] > 0;
    if (nonempty < 2) { total = NAN; goto done; }
    apps_row_sqnorms(x, n, d, xn);
    for (int i0 = 0; i0 < n; i0 += rows) {
        int m = SAIL_MIN(rows, n - i0);
        apps_sqdist(x + (size_t)i0 * d, xn + i0, m, x, xn, n, d, D);
        for (int r = 0; r < m; r++) {
            int i = i0 + r, li = label[i];
            if (li < 0 || li >= k) continue;
            used++;
            if (size[li] == 1) continue; /* a singleton's silhouette is 0 */
            const float *Di = D + (size_t)r * n;
            memset(acc, 0, (size_t)k * sizeof *acc);
            for (int t = 0; t < n; t++)
                if (t != i && label[t] >= 0 && label[t] < k) acc[label[t]] += sqrt(Di[t]);
            double a = acc[li] / (size[li] - 1), b = INFINITY;
            for (int j = 0; j < k; j++)
                if (j != li && size[j] && acc[j] / size[j] < b) b = acc[j] / size[j];
            double mx = a > b ? a : b;
            if (mx > 0) total += (b - a) / mx;
        }
    }
    total = used ? total / used : NAN;
done:
    sail_free(size); sail_free(acc); sail_free(xn); sail_free(D);
    return total;
}
