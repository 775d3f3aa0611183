/* search.c: sail_index_search: exact scans or HNSW beams over the pool,
 * rescoring of f16/int8 candidates in f32, and the results block. */
#include "index_impl.h"

#include <string.h>

typedef struct results_block {
    sail_index_results r;   /* first, so the public pointer frees the block */
    char *blob;             /* every payload, NUL-separated */
} results_block;

sail_index_results *ix_results_new(int n, int k, size_t blob_len, char **blob) {
    results_block *rb = sail_calloc(1, sizeof *rb);
    if (!rb) return NULL;
    rb->r.n_queries = n;
    rb->r.k = k;
    rb->r.counts = sail_calloc((size_t)n, sizeof(int));
    rb->r.hits = sail_calloc((size_t)n * k, sizeof(sail_index_hit));
    rb->blob = sail_malloc(blob_len + 1);
    if (!rb->r.counts || !rb->r.hits || !rb->blob) {
        sail_index_results_free(&rb->r);
        return NULL;
    }
    *blob = rb->blob;
    return &rb->r;
}

void sail_index_results_free(sail_index_results *r) {
    if (!r) return;
    results_block *b = (results_block *)r;
    sail_free(r->counts);
    sail_free(r->hits);
    sail_free(b->blob);
    sail_free(b);
}

typedef struct search_ctx {
    sail_index *ix;
    const float *q;
    ix_heap *heaps;
    int ef;
    const ix_filter *filter;
    sail_status st;
} search_ctx;

static void hnsw_task(void *arg, int qi, int thread) {
    search_ctx *c = arg;
    sail_error e;
    sail_status st = ix_hnsw_search(c->ix, c->q + (size_t)qi * c->ix->dim, c->ef, &c->heaps[qi], c->filter, &e);
    if (st) c->st = st;
}

/* f16/int8: replace each query's code distances by raw f32 distances
 * (task = query; buf holds one vector per thread). */
typedef struct rescore_ctx {
    const sail_index *ix;
    const float *q;
    ix_heap *heaps;
    float *buf;
} rescore_ctx;

static void rescore_task(void *arg, int qi, int thread) {
    rescore_ctx *c = arg;
    const sail_index *ix = c->ix;
    size_t d = (size_t)ix->dim;
    ix_heap *h = &c->heaps[qi];
    for (int i = 0; i < h->n; i++)
        h->c[i].dist = ix_dist_vec(ix, c->q + qi * d, ix_raw_read(ix, h->c[i].slot, c->buf + (size_t)thread * d));
}

/* allow[slot] = live and matching the filter. */
static sail_status filter_mask(const sail_index *ix, const ix_filter *f, uint8_t **out, sail_error *err) {
    uint8_t *a = sail_malloc(ix->n_slots ? ix->n_slots : 1);
    if (!a) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the filter");
    for (size_t s = 0; s < ix->n_slots; s++) a[s] = !ix->dead[s] && ix_filter_match(f, ix_payload(ix, s));
    *out = a;
    return SAIL_OK;
}

sail_status sail_index_search(sail_index *ix, const float *queries, int n, int k,
                              const sail_search_options *opts, sail_index_results **out,
                              sail_error *err) {
    if (!ix || !queries || !out || n < 1 || k < 1 || k > 100000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "sail_index_search: NULL argument, n < 1, or k outside 1..100000");
    sail_search_options o = {0};
    if (opts) o = *opts;
    size_t d = (size_t)ix->dim, qbytes;
    if (!sail_mul_ok((size_t)n, d * sizeof(float), &qbytes))
        return sail_set_error(err, SAIL_ERR_LIMIT, "too many queries");
    sail_status st = ix_check_vectors(queries, (size_t)n, ix->dim, err);
    if (st) return st;
    ix_filter *filter = NULL;
    if (o.filter && (st = ix_filter_parse(o.filter, &filter, err))) return st;
    if (ix->rops) { /* the filter checked here, as a local search words its errors */
        ix_filter_free(filter);
        return ix->rops->search(ix->remote, queries, n, k, &o, out, err);
    }

    /* cosine searches normalised copies; the others read the queries as given */
    int cosine = ix->metric == SAIL_METRIC_COSINE;
    float *qcopy = cosine ? sail_malloc(qbytes) : NULL;
    const float *q = cosine ? qcopy : queries;
    int kk = ix->code_size ? SAIL_MAX(4 * k, k + 32) : k; /* candidates before rescoring */
    ix_heap *heaps = sail_calloc((size_t)n, sizeof *heaps);
    ix_cand *cands = sail_malloc((size_t)n * kk * sizeof *cands);
    uint8_t *allow = NULL;
    sail_index_results *res = NULL;
    if (!q || !heaps || !cands) {
        st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d queries", n);
        goto done;
    }
    if (cosine) {
        memcpy(qcopy, queries, qbytes);
        ix_normalize_rows(qcopy, (size_t)n, ix->dim);
    }
    for (int i = 0; i < n; i++) heaps[i] = (ix_heap){cands + (size_t)i * kk, 0, kk};

    pthread_rwlock_rdlock(&ix->lock);
    if (ix->hnsw && !o.exact) {
        search_ctx c = {ix, q, heaps, SAIL_MAX(o.ef_search > 0 ? o.ef_search : ix->ef_search, kk), filter, SAIL_OK};
        ix_run(ix, hnsw_task, &c, n);
        if (c.st) st = sail_set_error(err, c.st, "out of memory in HNSW search");
        /* A selective filter or many tombstones can leave the beam short of
         * k matches: those queries fall back to an exact filtered scan. */
        size_t live = ix->n_slots - ix->n_dead;
        for (int i = 0; !st && i < n; i++) {
            if ((size_t)heaps[i].n >= SAIL_MIN((size_t)kk, live)) continue;
            if (filter && !allow) st = filter_mask(ix, filter, &allow, err);
            heaps[i].n = 0;
            if (!st) st = ix_exact_scan(ix, q + (size_t)i * d, 1, &heaps[i], allow, err);
        }
    } else {
        if (filter) st = filter_mask(ix, filter, &allow, err);
        if (!st) st = ix_exact_scan(ix, q, n, heaps, allow, err);
    }
    if (!st && ix->code_size) {
        rescore_ctx c = {ix, q, heaps, sail_malloc((size_t)(sail_pool_size(ix->pool) * d * sizeof(float)))};
        if (!c.buf) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory rescoring %d queries", n);
        else ix_run(ix, rescore_task, &c, n);
        sail_free(c.buf);
    }
    if (!st) {
        size_t blob_len = 0;
        for (int i = 0; i < n; i++) {
            ix_heap_sort(&heaps[i]);
            if (heaps[i].n > k) heaps[i].n = k;
            for (int j = 0; !o.no_payload && j < heaps[i].n; j++)
                blob_len += strlen(ix_payload(ix, heaps[i].c[j].slot)) + 1;
        }
        char *p;
        if (!(res = ix_results_new(n, k, blob_len, &p))) {
            st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for results");
        } else {
            for (int i = 0; i < n; i++) {
                res->counts[i] = heaps[i].n;
                for (int j = 0; j < heaps[i].n; j++) {
                    sail_index_hit *h = &res->hits[(size_t)i * k + j];
                    uint32_t s = heaps[i].c[j].slot;
                    h->id = ix->ids[s];
                    h->score = ix_score(ix, heaps[i].c[j].dist);
                    if (!o.no_payload) {
                        size_t len = strlen(ix_payload(ix, s)) + 1;
                        memcpy(p, ix_payload(ix, s), len);
                        h->payload = p;
                        p += len;
                    }
                }
            }
        }
    }
    pthread_rwlock_unlock(&ix->lock);
done:
    if (!st) *out = res;
    else sail_index_results_free(res);
    sail_free(qcopy); sail_free(heaps); sail_free(cands); sail_free(allow);
    ix_filter_free(filter);
    return st;
}
