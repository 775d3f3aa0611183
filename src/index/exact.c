/* exact.c: brute-force top-k. One or a few queries score every slot with
 * the distance kernels, split into row blocks over the pool; more queries
 * score a block of rows at once as a matrix product (sail_gemm), then feed
 * each query's heap. f16/int8 slots are decoded block by block for the
 * product; their candidates are rescored in f32 by the caller. */
#include "index_impl.h"

#include <string.h>

#include "kernels/kernels.h"

#define ROWS_PER_TASK 2048    /* kernel path: rows one task scores */
#define GEMM_ROWS 4096        /* GEMM path: rows per product */
#define GEMM_QUERIES 256      /* GEMM path: queries per product */
#define GEMM_MIN_QUERIES 4    /* fewer queries use the kernel path */

typedef struct scan_ctx {
    sail_index *ix;
    const float *q;           /* (nq, dim) */
    int nq, n_threads;
    ix_heap *heaps;           /* (n_threads, nq) private heaps */
    const uint8_t *allow;
    size_t n_blocks;
    /* GEMM path */
    size_t r0, rows;          /* current block */
    float *block;             /* (GEMM_ROWS, dim) decoded rows, or NULL */
    const float *rowp;        /* the block's rows (block, or raw storage) */
    float *scores;            /* (nq, GEMM_ROWS) */
    float *qnorm;             /* (nq) squared query norms for L2 */
} scan_ctx;

static inline int usable(const scan_ctx *c, size_t s) {
    return !c->ix->dead[s] && (!c->allow || c->allow[s]);
}

/* Kernel path: task = (query, row block). */
static void kernel_task(void *arg, int task, int thread) {
    scan_ctx *c = arg;
    sail_index *ix = c->ix;
    int qi = (int)(task / c->n_blocks);
    size_t b = (size_t)task % c->n_blocks, s0 = b * ROWS_PER_TASK, s1 = SAIL_MIN(s0 + ROWS_PER_TASK, ix->n_slots);
    const float *q = c->q + (size_t)qi * ix->dim;
    ix_heap *h = &c->heaps[(size_t)thread * c->nq + qi];
    for (size_t s = s0; s < s1; s++)
        if (usable(c, s)) ix_heap_push(h, ix_dist_code(ix, q, s), (uint32_t)s);
}

static void decode_task(void *arg, int task, int thread) {
    scan_ctx *c = arg;
    sail_index *ix = c->ix;
    size_t d = (size_t)ix->dim, s0 = c->r0 + (size_t)task * 256, s1 = SAIL_MIN(s0 + 256, c->r0 + c->rows);
    for (size_t s = s0; s < s1; s++) {
        float *out = c->block + (s - c->r0) * d;
        const uint8_t *code = ix->codes + s * ix->code_size;
        if (ix->storage == SAIL_STORAGE_F16) ix->dt->f16_to_f32(out, (const uint16_t *)code, d);
        else ix->dt->i8_to_f32(out, (const int8_t *)code, ix->scales[s], d);
    }
}

/* GEMM path: after the product, task = query, fed from its score row. */
static void feed_task(void *arg, int qi, int thread) {
    scan_ctx *c = arg;
    sail_index *ix = c->ix;
    const float *sc = c->scores + (size_t)qi * c->rows;
    ix_heap *h = &c->heaps[(size_t)thread * c->nq + qi];
    int l2 = ix->metric == SAIL_METRIC_L2;
    float qn = l2 ? c->qnorm[qi] : 0;
    for (size_t r = 0; r < c->rows; r++) {
        size_t s = c->r0 + r;
        if (!usable(c, s)) continue;
        float dist = l2 ? qn + ix->sqnorm[s] - 2 * sc[r] : -sc[r];
        ix_heap_push(h, dist, (uint32_t)s);
    }
}

static void merge(scan_ctx *c, ix_heap *out) {
    for (int qi = 0; qi < c->nq; qi++)
        for (int t = 0; t < c->n_threads; t++) {
            ix_heap *h = &c->heaps[(size_t)t * c->nq + qi];
            for (int j = 0; j < h->n; j++) ix_heap_push(&out[qi], h->c[j].dist, h->c[j].slot);
        }
}

/* Score queries [0, nq) with products over row blocks; pool may be NULL. */
static void gemm_scan(scan_ctx *c, sail_pool *pool) {
    sail_index *ix = c->ix;
    size_t d = (size_t)ix->dim;
    for (size_t r0 = 0; r0 < ix->n_slots;) {
        /* a block never straddles the snapshot mapping and the tail */
        size_t end = r0 < ix->map_slots ? ix->map_slots : ix->n_slots;
        c->r0 = r0;
        c->rows = SAIL_MIN((size_t)GEMM_ROWS, end - r0);
        if (ix->code_size) {
            sail_pool_run(pool, decode_task, c, (int)((c->rows + 255) / 256));
            c->rowp = c->block;
        } else {
            c->rowp = ix_raw(ix, r0);
        }
        sail_gemm(pool, c->nq, (int)c->rows, (int)d, c->q, (int)d, c->rowp, (int)d, 1, NULL, 0.0f,
                  c->scores, (int)c->rows);
        sail_pool_run(pool, feed_task, c, c->nq);
        r0 += c->rows;
    }
}

sail_status ix_exact_scan(sail_index *ix, const float *q, int nq, ix_heap *heaps,
                          const uint8_t *allow, sail_error *err) {
    if (ix->n_slots == 0) return SAIL_OK;
    int have_pool = pthread_mutex_trylock(&ix->pool_mu) == 0;
    sail_pool *pool = have_pool ? ix->pool : NULL;
    int T = sail_pool_size(pool), kk = heaps[0].k;
    int use_gemm = nq >= GEMM_MIN_QUERIES;
    int chunk = use_gemm ? SAIL_MIN(nq, GEMM_QUERIES) : nq;
    size_t d = (size_t)ix->dim;
    sail_status st = SAIL_OK;
    scan_ctx c = {.ix = ix, .n_threads = T, .allow = allow};
    ix_cand *cands = sail_malloc((size_t)T * chunk * kk * sizeof *cands);
    c.heaps = sail_malloc((size_t)T * chunk * sizeof *c.heaps);
    if (use_gemm) {
        c.scores = sail_malloc((size_t)chunk * GEMM_ROWS * sizeof(float));
        c.qnorm = sail_malloc((size_t)chunk * sizeof(float));
        if (ix->code_size) c.block = sail_malloc((size_t)GEMM_ROWS * d * sizeof(float));
    }
    if (!cands || !c.heaps || (use_gemm && (!c.scores || !c.qnorm || (ix->code_size && !c.block)))) {
        st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for an exact search of %d queries", nq);
        goto done;
    }
    for (int q0 = 0; q0 < nq; q0 += chunk) {
        c.nq = SAIL_MIN(chunk, nq - q0);
        c.q = q + (size_t)q0 * d;
        for (size_t i = 0; i < (size_t)T * c.nq; i++) c.heaps[i] = (ix_heap){cands + i * kk, 0, kk};
        if (use_gemm) {
            for (int i = 0; i < c.nq; i++) c.qnorm[i] = ix->dt->dot_f32(c.q + i * d, c.q + i * d, (int)d);
            gemm_scan(&c, pool);
        } else {
            c.n_blocks = (ix->n_slots + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
            sail_pool_run(pool, kernel_task, &c, (int)(c.n_blocks * (size_t)c.nq));
        }
        merge(&c, heaps + q0);
    }
done:
    if (have_pool) pthread_mutex_unlock(&ix->pool_mu);
    sail_free(cands); sail_free(c.heaps); sail_free(c.scores); sail_free(c.qnorm); sail_free(c.block);
    return st;
}
