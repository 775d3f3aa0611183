/* exact.c: brute-force top-k. One to three queries score every slot with
 * the distance kernels, split into row blocks over the pool. More queries
 * are packed into panels of 16 and swept over blocks of rows with the
 * scan_tile kernel (6 rows x 16 queries at a time, rows read in place):
 * a block stays in L2 while every panel passes over it, and each tile is
 * checked against its queries' heap bounds before anything is pushed, so
 * there is neither a packed copy of the rows nor a score matrix. f16/int8
 * rows are decoded block by block; their candidates are rescored in f32 by
 * the caller. */
#include "index_impl.h"

#include <math.h>
#include <string.h>

#define ROWS_PER_TASK 2048    /* kernel path: rows one task scores */
#define TILE_MIN_QUERIES 4    /* fewer queries use the kernel path */
#define BLOCK_ROWS 96         /* tile path: rows per task (a multiple of SAIL_TILE_ROWS) */
#define MAX_CHUNK 1024        /* tile path: queries per sweep over the rows */
#define HEAP_BUDGET (64u << 20) /* bytes of per-thread heaps a sweep may use */

typedef struct scan_ctx {
    sail_index *ix;
    const float *q;           /* (nq, dim) */
    int nq, n_threads;
    ix_heap *heaps;           /* (n_threads, nq) private heaps */
    const uint8_t *allow;
    size_t n_blocks;
    /* tile path */
    int n_panels;
    const float *panels;      /* (n_panels, dim, 16) */
    float *qadd;              /* (n_panels * 16) squared query norms (L2) or 0 */
    float *bound;             /* (n_threads, n_panels * 16) heap bounds */
    float *decoded;           /* (n_threads, BLOCK_ROWS, dim) f16/int8 rows, or NULL */
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

/* Tile path: task = a block of rows against every panel. */
static void tile_task(void *arg, int task, int thread) {
    scan_ctx *c = arg;
    sail_index *ix = c->ix;
    size_t d = (size_t)ix->dim, s0 = (size_t)task * BLOCK_ROWS, n = SAIL_MIN((size_t)BLOCK_ROWS, ix->n_slots - s0);
    const float *row[BLOCK_ROWS];
    float radd[BLOCK_ROWS + SAIL_TILE_ROWS] = {0};
    float *buf = c->decoded ? c->decoded + (size_t)thread * BLOCK_ROWS * d : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t s = s0 + i;
        if (!buf) {
            row[i] = ix_raw(ix, s);
        } else {
            const uint8_t *code = ix->codes + s * ix->code_size;
            if (ix->storage == SAIL_STORAGE_F16) ix->dt->f16_to_f32(buf + i * d, (const uint16_t *)code, d);
            else ix->dt->i8_to_f32(buf + i * d, (const int8_t *)code, ix->scales[s], d);
            row[i] = buf + i * d;
        }
        if (ix->sqnorm) radd[i] = ix->sqnorm[s];
    }
    int l2 = ix->metric == SAIL_METRIC_L2;
    float mul = l2 ? -2.0f : -1.0f, dist[SAIL_TILE_ROWS * SAIL_TILE_QUERIES];
    float *bound = c->bound + (size_t)thread * c->n_panels * SAIL_TILE_QUERIES;
    ix_heap *heaps = &c->heaps[(size_t)thread * c->nq];
    for (int p = 0; p < c->n_panels; p++) {
        const float *panel = c->panels + (size_t)p * d * SAIL_TILE_QUERIES;
        const float *qadd = c->qadd + p * SAIL_TILE_QUERIES;
        float *bd = bound + p * SAIL_TILE_QUERIES;
        int nj = SAIL_MIN(SAIL_TILE_QUERIES, c->nq - p * SAIL_TILE_QUERIES);
        for (size_t i0 = 0; i0 < n; i0 += SAIL_TILE_ROWS) {
            size_t nr = SAIL_MIN((size_t)SAIL_TILE_ROWS, n - i0);
            const float *rows[SAIL_TILE_ROWS];
            for (size_t r = 0; r < SAIL_TILE_ROWS; r++) rows[r] = row[i0 + (r < nr ? r : 0)];
            if (!ix->dt->scan_tile(rows, panel, (int)d, qadd, radd + i0, mul, bd, dist)) continue;
            for (size_t r = 0; r < nr; r++) {
                size_t s = s0 + i0 + r;
                if (!usable(c, s)) continue;
                for (int j = 0; j < nj; j++) {
                    float v = dist[r * SAIL_TILE_QUERIES + j];
                    if (!(v <= bd[j])) continue;
                    ix_heap *h = &heaps[p * SAIL_TILE_QUERIES + j];
                    ix_heap_push(h, v, (uint32_t)s);
                    if (h->n == h->k) bd[j] = h->c[0].dist; /* only the heap's worst or better gets in */
                }
            }
        }
    }
}

static void merge(scan_ctx *c, ix_heap *out) {
    for (int qi = 0; qi < c->nq; qi++)
        for (int t = 0; t < c->n_threads; t++) {
            ix_heap *h = &c->heaps[(size_t)t * c->nq + qi];
            for (int j = 0; j < h->n; j++) ix_heap_push(&out[qi], h->c[j].dist, h->c[j].slot);
        }
}

/* Pack the chunk's queries into panels and reset the bounds. */
static void tile_setup(scan_ctx *c, float *panels) {
    sail_index *ix = c->ix;
    size_t d = (size_t)ix->dim;
    c->n_panels = (c->nq + SAIL_TILE_QUERIES - 1) / SAIL_TILE_QUERIES;
    for (int p = 0; p < c->n_panels; p++) {
        int q0 = p * SAIL_TILE_QUERIES;
        sail_pack_panel(panels + (size_t)p * d * SAIL_TILE_QUERIES, c->q + (size_t)q0 * d,
                        SAIL_MIN(SAIL_TILE_QUERIES, c->nq - q0), (int)d);
    }
    c->panels = panels;
    for (int i = 0; i < c->n_panels * SAIL_TILE_QUERIES; i++)
        c->qadd[i] = i < c->nq && ix->metric == SAIL_METRIC_L2 ? ix->dt->dot_f32(c->q + i * d, c->q + i * d, (int)d) : 0.0f;
    /* padding queries never match: their bound is -inf */
    for (int t = 0; t < c->n_threads; t++)
        for (int i = 0; i < c->n_panels * SAIL_TILE_QUERIES; i++)
            c->bound[(size_t)t * c->n_panels * SAIL_TILE_QUERIES + i] = i < c->nq ? INFINITY : -INFINITY;
}

sail_status ix_exact_scan(sail_index *ix, const float *q, int nq, ix_heap *heaps,
                          const uint8_t *allow, sail_error *err) {
    if (ix->n_slots == 0) return SAIL_OK;
    int have_pool = pthread_mutex_trylock(&ix->pool_mu) == 0;
    sail_pool *pool = have_pool ? ix->pool : NULL;
    int T = sail_pool_size(pool), kk = heaps[0].k;
    int tiled = nq >= TILE_MIN_QUERIES;
    /* a sweep reads every row once, so take as many queries as the heaps allow */
    size_t per_query = (size_t)T * (size_t)kk * sizeof(ix_cand);
    int chunk = tiled ? (int)SAIL_MAX((size_t)SAIL_TILE_QUERIES, SAIL_MIN((size_t)MAX_CHUNK, HEAP_BUDGET / per_query)) : nq;
    chunk = SAIL_MIN(chunk, nq);
    int chunk_pad = (chunk + SAIL_TILE_QUERIES - 1) / SAIL_TILE_QUERIES * SAIL_TILE_QUERIES;
    size_t d = (size_t)ix->dim;
    sail_status st = SAIL_OK;
    scan_ctx c = {.ix = ix, .n_threads = T, .allow = allow};
    float *panels = NULL;
    ix_cand *cands = sail_malloc((size_t)T * chunk * kk * sizeof *cands);
    c.heaps = sail_malloc((size_t)T * chunk * sizeof *c.heaps);
    if (tiled) {
        panels = sail_alloc_aligned((size_t)chunk_pad * d * sizeof(float));
        c.qadd = sail_malloc((size_t)chunk_pad * sizeof(float));
        c.bound = sail_malloc((size_t)T * chunk_pad * sizeof(float));
        if (ix->code_size) c.decoded = sail_alloc_aligned((size_t)T * BLOCK_ROWS * d * sizeof(float));
    }
    if (!cands || !c.heaps || (tiled && (!panels || !c.qadd || !c.bound || (ix->code_size && !c.decoded)))) {
        st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for an exact search of %d queries", nq);
        goto done;
    }
    for (int q0 = 0; q0 < nq; q0 += chunk) {
        c.nq = SAIL_MIN(chunk, nq - q0);
        c.q = q + (size_t)q0 * d;
        for (size_t i = 0; i < (size_t)T * c.nq; i++) c.heaps[i] = (ix_heap){cands + i * kk, 0, kk};
        if (tiled) {
            tile_setup(&c, panels);
            sail_pool_run(pool, tile_task, &c, (int)((ix->n_slots + BLOCK_ROWS - 1) / BLOCK_ROWS));
        } else {
            c.n_blocks = (ix->n_slots + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
            sail_pool_run(pool, kernel_task, &c, (int)(c.n_blocks * (size_t)c.nq));
        }
        merge(&c, heaps + q0);
    }
done:
    if (have_pool) pthread_mutex_unlock(&ix->pool_mu);
    sail_free(cands); sail_free(c.heaps); sail_free(panels); sail_free(c.qadd); sail_free(c.bound); sail_free(c.decoded);
    return st;
}
