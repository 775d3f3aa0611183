/* hnsw.c: the HNSW graph (Malkov & Yashunin), as in hnswlib: greedy descent
 * through the upper levels, a beam search of width ef at the insertion
 * level and below, neighbours chosen by the diversity heuristic, 2M links
 * at level 0 and M above.
 *
 * Determinism: a node's level is a pure function of (seed, id). Inserting
 * serially (n_threads 1, or the deterministic option) makes the graph a
 * pure function of seed, ids and insertion order. A parallel build inserts
 * the nodes of a batch concurrently under striped link locks; its graph
 * (and so exact approximate results) then depends on thread timing.
 *
 * Construction measures raw f32 distances; searches walk the stored codes
 * (f16/int8, or f32) and the caller rescores candidates in f32.
 *
 * Two forms of the same graph. Growable (while items are added): every
 * node has room for M0 links at level 0 and M per upper level. Frozen
 * (once a snapshot is written or loaded): the snapshot's graph section
 * itself, lists at their real lengths, found through per-node offsets;
 * level-0 lists are rarely full, so this is about a third smaller. The
 * next add turns it back into the growable form. */
#include "index_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define MAX_LEVEL 15
#define LOCKS 1024

typedef struct visit {
    uint16_t *tag;            /* (cap) visit generation per slot (2 bytes, as hnswlib) */
    uint16_t gen;
    size_t cap;
    ix_cand *cand, *res;      /* beam-search heaps */
    size_t cand_cap, res_cap;
    uint32_t *nb;             /* a copy of one node's links */
    struct visit *next;
} visit;

#define FZ_BLOCK 256           /* frozen offsets: one 64-bit base per this many nodes */

struct sail_hnsw {
    int M, M0;                /* links per node above level 0 / at level 0 */
    double mult;              /* level multiplier 1/ln(M) */
    size_t cap;               /* nodes with room (frozen: the nodes) */
    /* growable form */
    uint32_t *l0;             /* (cap, 1 + M0): count, links */
    uint32_t **up;            /* (cap) levels 1..L, each (1 + M) */
    uint8_t *level;           /* (cap); frozen: points into fz */
    /* frozen form, NULL when growable */
    uint8_t *fz;              /* a serialised graph section (below), heap */
    size_t fz_len;
    uint32_t *fz_lists;       /* inside fz: per node, levels 0..L: count, links */
    uint32_t *fz_off;         /* (cap) word offset of a node's lists from its block's base */
    size_t *fz_base;          /* (cap / FZ_BLOCK rounded up) */
    pthread_mutex_t locks[LOCKS]; /* guard links while building: node s uses
                                     locks[s % LOCKS]; one held at a time */
    pthread_mutex_t mu;       /* entry point, visit free list */
    long entry;
    int max_level;
    visit *free_visits;
};

/* ------------------------------------------------------------ links -- */

static inline uint32_t *links(const sail_hnsw *h, size_t s, int l) {
    if (h->fz) {
        uint32_t *p = h->fz_lists + h->fz_base[s / FZ_BLOCK] + h->fz_off[s];
        for (; l > 0; l--) p += 1 + p[0];
        return p;
    }
    return l == 0 ? h->l0 + s * (size_t)(1 + h->M0) : h->up[s] + (size_t)(l - 1) * (1 + h->M);
}

int ix_hnsw_links(const sail_hnsw *h, size_t slot, int level, const uint32_t **out) {
    const uint32_t *p = links(h, slot, level);
    *out = p + 1;
    return (int)p[0];
}
int ix_hnsw_level(const sail_hnsw *h, size_t slot) { return h->level[slot]; }
int ix_hnsw_max_level(const sail_hnsw *h) { return h->max_level; }
long ix_hnsw_entry(const sail_hnsw *h) { return h->entry; }

static int draw_level(const sail_index *ix, uint64_t id) {
    sail_rng r = {ix->seed ^ (id * 0x9e3779b97f4a7c15ull)};
    sail_rng_next(&r);
    int l = (int)floor(-log(sail_rng_uniform(&r)) * ix->hnsw->mult);
    return l > MAX_LEVEL ? MAX_LEVEL : l;
}

sail_status ix_hnsw_new(sail_index *ix, sail_error *err) {
    sail_hnsw *h = sail_calloc(1, sizeof *h);
    if (!h) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for an HNSW graph");
    h->M = ix->M;
    h->M0 = 2 * ix->M;
    h->mult = 1.0 / log((double)ix->M);
    h->entry = -1;
    h->max_level = -1;
    pthread_mutex_init(&h->mu, NULL);
    for (int i = 0; i < LOCKS; i++) pthread_mutex_init(&h->locks[i], NULL);
    ix->hnsw = h;
    return SAIL_OK;
}

static void visit_free(visit *v) {
    if (!v) return;
    sail_free(v->tag); sail_free(v->cand); sail_free(v->res); sail_free(v->nb);
    sail_free(v);
}

/* Drop the growable form's arrays. */
static void free_growable(sail_hnsw *h) {
    if (h->up)
        for (size_t s = 0; s < h->cap; s++) sail_free(h->up[s]);
    sail_free(h->l0); sail_free(h->up); sail_free(h->level);
    h->l0 = NULL; h->up = NULL; h->level = NULL;
}

static void free_frozen(sail_hnsw *h) {
    ix_huge_free(h->fz, h->fz_len); sail_free(h->fz_off); sail_free(h->fz_base);
    h->fz = NULL; h->fz_lists = NULL; h->fz_off = NULL; h->fz_base = NULL;
    h->fz_len = 0;
}

void ix_hnsw_free(sail_hnsw *h) {
    if (!h) return;
    if (h->fz) free_frozen(h);
    else free_growable(h);
    for (int i = 0; i < LOCKS; i++) pthread_mutex_destroy(&h->locks[i]);
    while (h->free_visits) {
        visit *v = h->free_visits;
        h->free_visits = v->next;
        visit_free(v);
    }
    pthread_mutex_destroy(&h->mu);
    sail_free(h);
}

size_t ix_hnsw_memory(const sail_hnsw *h) {
    if (h->fz)
        return sizeof *h + h->fz_len + h->cap * sizeof *h->fz_off + (h->cap + FZ_BLOCK - 1) / FZ_BLOCK * sizeof(size_t);
    size_t m = sizeof *h + h->cap * ((size_t)(1 + h->M0) * 4 + sizeof(uint32_t *) + 1);
    for (size_t s = 0; s < h->cap; s++)
        if (h->up[s]) m += (size_t)h->level[s] * (1 + h->M) * 4;
    return m;
}

/* Frozen -> growable with room for cap nodes; the frozen form stays
 * untouched if memory runs out. */
static sail_status thaw(sail_hnsw *h, size_t cap, sail_error *err) {
    size_t n = h->cap, w0 = (size_t)(1 + h->M0);
    uint32_t *l0 = sail_malloc(cap * w0 * 4);
    uint32_t **up = sail_calloc(cap, sizeof *up);
    uint8_t *lv = sail_calloc(cap, 1);
    int ok = l0 && up && lv;
    for (size_t s = 0; ok && s < n; s++) {
        int L = h->level[s];
        lv[s] = (uint8_t)L;
        const uint32_t *p = links(h, s, 0);
        memcpy(l0 + s * w0, p, (1 + (size_t)p[0]) * 4);
        if (L > 0 && !(up[s] = sail_calloc((size_t)L * (1 + h->M), 4))) ok = 0;
        for (int l = 1; ok && l <= L; l++) {
            p += 1 + p[0];
            memcpy(up[s] + (size_t)(l - 1) * (1 + h->M), p, (1 + (size_t)p[0]) * 4);
        }
    }
    if (!ok) {
        for (size_t s = 0; up && s < n; s++) sail_free(up[s]);
        sail_free(l0); sail_free(up); sail_free(lv);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory growing the HNSW graph");
    }
    for (size_t s = n; s < cap; s++) l0[s * w0] = 0;
    free_frozen(h);
    h->l0 = l0; h->up = up; h->level = lv;
    h->cap = cap;
    return SAIL_OK;
}

/* Room for `need` nodes (called before anything is logged). */
sail_status ix_hnsw_reserve(sail_hnsw *h, size_t need, sail_error *err) {
    if (need <= h->cap) return SAIL_OK;
    if (h->fz) return thaw(h, need, err);
    size_t cap = need; /* the index's capacity, already grown geometrically */
    uint32_t *l0 = sail_realloc(h->l0, cap * (size_t)(1 + h->M0) * 4);
    if (l0) h->l0 = l0;
    uint32_t **up = sail_realloc(h->up, cap * sizeof *up);
    if (up) h->up = up;
    uint8_t *lv = sail_realloc(h->level, cap);
    if (lv) h->level = lv;
    if (!l0 || !up || !lv) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory growing the HNSW graph");
    for (size_t s = h->cap; s < cap; s++) {
        h->up[s] = NULL;
        h->level[s] = 0;
        h->l0[s * (size_t)(1 + h->M0)] = 0;
    }
    h->cap = cap;
    return SAIL_OK;
}

/* ------------------------------------------------------- scratch -- */

/* A new, empty visited set. */
static void fresh(visit *v) {
    if (++v->gen == 0) { /* wrapped: clear the tags */
        memset(v->tag, 0, v->cap * sizeof *v->tag);
        v->gen = 1;
    }
}

static visit *visit_get(sail_hnsw *h, size_t n_slots, int ef) {
    pthread_mutex_lock(&h->mu);
    visit *v = h->free_visits;
    if (v) h->free_visits = v->next;
    pthread_mutex_unlock(&h->mu);
    if (!v && !(v = sail_calloc(1, sizeof *v))) return NULL;
    if (v->cap < n_slots) {
        size_t cap = n_slots + n_slots / 4 + 64;
        sail_free(v->tag);
        v->tag = sail_calloc(cap, sizeof *v->tag);
        v->cap = v->tag ? cap : 0;
        v->gen = 0;
    }
    size_t need = (size_t)ef + 1;
    if (v->res_cap < need) {
        sail_free(v->res);
        v->res = sail_malloc(need * sizeof *v->res);
        v->res_cap = v->res ? need : 0;
    }
    if (!v->nb) v->nb = sail_malloc((size_t)(1 + h->M0) * 4);
    if (!v->tag || !v->res || !v->nb) {
        visit_free(v);
        return NULL;
    }
    fresh(v);
    return v;
}

static void visit_put(sail_hnsw *h, visit *v) {
    pthread_mutex_lock(&h->mu);
    v->next = h->free_visits;
    h->free_visits = v;
    pthread_mutex_unlock(&h->mu);
}

/* Min-heap (candidates, closest on top) and max-heap (results, farthest
 * on top) over ix_cand, ordered by (dist, slot). */
static inline int before(ix_cand a, ix_cand b) { return a.dist < b.dist || (a.dist == b.dist && a.slot < b.slot); }

static void heap_up(ix_cand *c, int i, int max) {
    ix_cand x = c[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (max ? !before(c[p], x) : !before(x, c[p])) break;
        c[i] = c[p]; i = p;
    }
    c[i] = x;
}

static void heap_down(ix_cand *c, int n, int max) {
    ix_cand x = c[0];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        ix_cand best = x;
        if (l < n && (max ? before(best, c[l]) : before(c[l], best))) { m = l; best = c[l]; }
        if (r < n && (max ? before(best, c[r]) : before(c[r], best))) m = r;
        if (m == i) break;
        c[i] = c[m]; i = m;
    }
    c[i] = x;
}

/* Push onto the candidate heap, growing it; on allocation failure the
 * candidate is dropped (the search narrows instead of failing). */
static void cand_push(visit *v, int *n, ix_cand x) {
    if ((size_t)*n >= v->cand_cap) {
        size_t cap = v->cand_cap ? v->cand_cap * 2 : 256;
        ix_cand *c = sail_realloc(v->cand, cap * sizeof *c);
        if (!c) return;
        v->cand = c;
        v->cand_cap = cap;
    }
    v->cand[*n] = x;
    heap_up(v->cand, (*n)++, 0);
}

/* ---------------------------------------------------------- search -- */

typedef struct walk {
    const sail_index *ix;
    const float *q;
    int raw;                  /* distances on raw f32 (build) or codes (search) */
    int locked;               /* copy links under the node lock (build) */
    const ix_filter *filter;  /* results only: dead and unmatched skipped */
    int accept_all;           /* every node is a result (build; searches with nothing to skip) */
} walk;

static inline float wdist(const walk *w, size_t s) {
    return w->raw ? ix_dist_raw(w->ix, w->q, s) : ix_dist_code(w->ix, w->q, s);
}

/* Start the miss on the first cache line of what wdist will read for
 * slot s; the hardware prefetcher streams the rest. Inlined by force: gcc
 * 12 judges a function that only prefetches to have no effect and deleted
 * its calls (until 2026-12-06 no instruction was left of it). */
static inline __attribute__((always_inline)) void prefetch(const walk *w, size_t s) {
    const sail_index *ix = w->ix;
    __builtin_prefetch(w->raw || !ix->code_size ? (const void *)ix_raw(ix, s) : (const void *)(ix->codes + s * ix->code_size));
}

static int copy_links(const walk *w, visit *v, size_t s, int l) {
    sail_hnsw *h = w->ix->hnsw;
    if (w->locked) pthread_mutex_lock(&h->locks[s % LOCKS]);
    const uint32_t *p = links(h, s, l);
    int n = (int)p[0];
    memcpy(v->nb, p + 1, (size_t)n * 4);
    if (w->locked) pthread_mutex_unlock(&h->locks[s % LOCKS]);
    return n;
}

/* Greedy descent at level l from *cur. */
static void greedy(const walk *w, visit *v, uint32_t *cur, float *dcur, int l) {
    for (int changed = 1; changed;) {
        changed = 0;
        int n = copy_links(w, v, *cur, l);
        for (int j = 0; j < n; j++) {
            float d = wdist(w, v->nb[j]);
            if (d < *dcur || (d == *dcur && v->nb[j] < *cur)) { *dcur = d; *cur = v->nb[j]; changed = 1; }
        }
    }
}

static int acceptable(const walk *w, uint32_t s) {
    if (w->accept_all) return 1;
    return !w->ix->dead[s] && (!w->filter || ix_filter_match(w->filter, ix_payload(w->ix, s)));
}

/* Beam search of width ef at level l from ep; results (up to ef, as a
 * max-heap) in v->res; returns their count. */
static int beam(const walk *w, visit *v, uint32_t ep, float dep, int ef, int l) {
    int nc = 0, nr = 0;
    v->tag[ep] = v->gen;
    cand_push(v, &nc, (ix_cand){dep, ep});
    if (acceptable(w, ep)) { v->res[nr++] = (ix_cand){dep, ep}; }
    while (nc > 0) {
        ix_cand c = v->cand[0];
        if (nr >= ef && c.dist > v->res[0].dist) break;
        v->cand[0] = v->cand[--nc];
        if (nc) {
            heap_down(v->cand, nc, 0);
            /* the likely next node to expand: load its links meanwhile */
            if (!w->locked) __builtin_prefetch(links(w->ix->hnsw, v->cand[0].slot, l));
        }
        int n = copy_links(w, v, c.slot, l), m = 0;
        /* keep the unvisited, and start loading their vectors: the
         * distance loop below is bound by memory, not arithmetic */
        for (int j = 0; j < n; j++) {
            uint32_t s = v->nb[j];
            if (v->tag[s] == v->gen) continue;
            v->tag[s] = v->gen;
            v->nb[m++] = s;
            prefetch(w, s);
        }
        for (int j = 0; j < m; j++) {
            uint32_t s = v->nb[j];
            float d = wdist(w, s);
            if (nr < ef || d < v->res[0].dist) {
                cand_push(v, &nc, (ix_cand){d, s});
                if (!acceptable(w, s)) continue;
                if (nr < ef) {
                    v->res[nr] = (ix_cand){d, s};
                    heap_up(v->res, nr++, 1);
                } else {
                    v->res[0] = (ix_cand){d, s};
                    heap_down(v->res, nr, 1);
                }
            }
        }
    }
    return nr;
}

sail_status ix_hnsw_search(const sail_index *ix, const float *q, int ef, ix_heap *heap,
                           const ix_filter *filter, sail_error *err) {
    sail_hnsw *h = ix->hnsw;
    if (h->entry < 0) return SAIL_OK;
    visit *v = visit_get(h, ix->n_slots, ef);
    if (!v) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for an HNSW search");
    walk w = {ix, q, 0, 0, filter, !filter && !ix->n_dead};
    uint32_t cur = (uint32_t)h->entry;
    float dcur = wdist(&w, cur);
    for (int l = h->max_level; l > 0; l--) greedy(&w, v, &cur, &dcur, l);
    int nr = beam(&w, v, cur, dcur, ef, 0);
    for (int i = 0; i < nr; i++) ix_heap_push(heap, v->res[i].dist, v->res[i].slot);
    visit_put(h, v);
    return SAIL_OK;
}

/* ---------------------------------------------------------- insert -- */

static float pair_dist(const sail_index *ix, size_t a, size_t b) {
    return ix_dist_raw(ix, ix_raw(ix, a), b);
}

/* The diversity heuristic: keep a candidate only if it is closer to the
 * base than to every neighbour kept so far. c (n, sorted ascending) is
 * rewritten with the kept ones; returns their count (<= m). */
static int select_neighbors(const sail_index *ix, ix_cand *c, int n, int m) {
    int kept = 0;
    for (int i = 0; i < n && kept < m; i++) {
        int good = 1;
        for (int j = 0; j < kept && good; j++)
            if (pair_dist(ix, c[i].slot, c[j].slot) < c[i].dist) good = 0;
        if (good) c[kept++] = c[i];
    }
    return kept;
}

static int cand_cmp(const void *a, const void *b) {
    ix_cand x = *(const ix_cand *)a, y = *(const ix_cand *)b;
    return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

/* Add link s -> `to` at level l, pruning `to`'s list when full (under its lock). */
static void link_back(const sail_index *ix, uint32_t to, uint32_t s, int l, ix_cand *tmp) {
    sail_hnsw *h = ix->hnsw;
    int cap = l == 0 ? h->M0 : h->M;
    pthread_mutex_lock(&h->locks[to % LOCKS]);
    uint32_t *p = links(h, to, l);
    int n = (int)p[0];
    int dup = 0;
    for (int j = 0; j < n; j++) dup |= p[1 + j] == s;
    if (!dup) {
        if (n < cap) {
            p[1 + n] = s;
            p[0] = (uint32_t)(n + 1);
        } else {
            const float *x = ix_raw(ix, to);
            for (int j = 0; j < n; j++) tmp[j] = (ix_cand){ix_dist_raw(ix, x, p[1 + j]), p[1 + j]};
            tmp[n] = (ix_cand){ix_dist_raw(ix, x, s), s};
            qsort(tmp, (size_t)n + 1, sizeof *tmp, cand_cmp);
            int k = select_neighbors(ix, tmp, n + 1, cap);
            for (int j = 0; j < k; j++) p[1 + j] = tmp[j].slot;
            p[0] = (uint32_t)k;
        }
    }
    pthread_mutex_unlock(&h->locks[to % LOCKS]);
}

static void insert_one(sail_index *ix, uint32_t s, int locked) {
    sail_hnsw *h = ix->hnsw;
    int L = h->level[s];
    pthread_mutex_lock(&h->mu);
    long entry = h->entry;
    int top = h->max_level;
    if (entry < 0) {
        h->entry = s;
        h->max_level = L;
        pthread_mutex_unlock(&h->mu);
        return;
    }
    pthread_mutex_unlock(&h->mu);
    visit *v = visit_get(h, ix->n_slots, ix->ef_construction);
    ix_cand *tmp = sail_malloc((size_t)(h->M0 + 1) * sizeof *tmp);
    if (!v || !tmp) { /* out of memory: the node stays linked at no level */
        if (v) visit_put(h, v);
        sail_free(tmp);
        return;
    }
    walk w = {ix, ix_raw(ix, s), 1, locked, NULL, 1};
    uint32_t cur = (uint32_t)entry;
    float dcur = wdist(&w, cur);
    for (int l = top; l > L; l--) greedy(&w, v, &cur, &dcur, l);
    for (int l = SAIL_MIN(L, top); l >= 0; l--) {
        fresh(v);
        int nr = beam(&w, v, cur, dcur, ix->ef_construction, l);
        ix_cand *r = v->res;
        qsort(r, (size_t)nr, sizeof *r, cand_cmp);
        cur = r[0].slot;
        dcur = r[0].dist;
        int k = select_neighbors(ix, r, nr, h->M);
        if (locked) pthread_mutex_lock(&h->locks[s % LOCKS]);
        uint32_t *p = links(h, s, l);
        for (int j = 0; j < k; j++) p[1 + j] = r[j].slot;
        p[0] = (uint32_t)k;
        if (locked) pthread_mutex_unlock(&h->locks[s % LOCKS]);
        for (int j = 0; j < k; j++) link_back(ix, r[j].slot, s, l, tmp);
    }
    if (L > top) {
        pthread_mutex_lock(&h->mu);
        if (L > h->max_level) {
            h->max_level = L;
            h->entry = s;
        }
        pthread_mutex_unlock(&h->mu);
    }
    visit_put(h, v);
    sail_free(tmp);
}

typedef struct build_ctx { sail_index *ix; size_t from; } build_ctx;

static void build_task(void *arg, int task, int thread) {
    build_ctx *c = arg;
    insert_one(c->ix, (uint32_t)(c->from + (size_t)task), 1);
}

sail_status ix_hnsw_insert(sail_index *ix, size_t from, size_t to, sail_error *err) {
    sail_hnsw *h = ix->hnsw;
    sail_status st = ix_hnsw_reserve(h, ix->cap, err);
    if (st) return st;
    for (size_t s = from; s < to; s++) {
        int L = draw_level(ix, ix->ids[s]);
        h->level[s] = (uint8_t)L;
        h->l0[s * (size_t)(1 + h->M0)] = 0;
        sail_free(h->up[s]);
        h->up[s] = NULL;
        if (L > 0) {
            h->up[s] = sail_calloc((size_t)L * (1 + h->M), 4);
            if (!h->up[s]) h->level[s] = 0; /* degrade to a level-0 node */
        }
    }
    size_t s = from;
    /* The first node (and all of them when deterministic) serially. */
    if (h->entry < 0 && s < to) insert_one(ix, (uint32_t)s++, 0);
    if (ix->deterministic || sail_pool_size(ix->pool) == 1 || to - s < 64) {
        for (; s < to; s++) insert_one(ix, (uint32_t)s, 0);
    } else {
        build_ctx c = {ix, s};
        ix_run(ix, build_task, &c, (int)(to - s));
    }
    return SAIL_OK;
}

/* -------------------------------------------------- serialisation -- *
 * entry i64 | max_level i32 | M i32 | levels u8 (n), padded to 4 |
 * per node, per level 0..L: count u32, links u32[count] */

sail_status ix_hnsw_serialize(const sail_index *ix, uint8_t **buf, size_t *len, sail_error *err) {
    const sail_hnsw *h = ix->hnsw;
    size_t n = ix->n_slots, bytes = 16 + ((n + 3) & ~(size_t)3);
    for (size_t s = 0; s < n; s++)
        for (int l = 0; l <= h->level[s]; l++) bytes += 4 + 4 * (size_t)links(h, s, l)[0];
    uint8_t *b = ix_huge_alloc(bytes); /* zeroed */
    if (!b) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory serialising the HNSW graph");
    int64_t e = h->entry;
    int32_t ml = h->max_level, M = h->M;
    memcpy(b, &e, 8); memcpy(b + 8, &ml, 4); memcpy(b + 12, &M, 4);
    if (n) memcpy(b + 16, h->level, n);
    uint8_t *p = b + 16 + ((n + 3) & ~(size_t)3);
    for (size_t s = 0; s < n; s++)
        for (int l = 0; l <= h->level[s]; l++) {
            const uint32_t *lk = links(h, s, l);
            memcpy(p, lk, 4 + 4 * (size_t)lk[0]);
            p += 4 + 4 * (size_t)lk[0];
        }
    *buf = b;
    *len = bytes;
    return SAIL_OK;
}

/* Check a serialised section for n nodes and make it the frozen form.
 * Takes buf (from ix_huge_alloc); on failure frees it and leaves h as it was. */
static sail_status freeze(sail_hnsw *h, size_t n, uint8_t *buf, size_t len, sail_error *err) {
    size_t pad = (n + 3) & ~(size_t)3;
    sail_status st = SAIL_OK;
    uint32_t *off = NULL;
    size_t *base = NULL;
    int64_t e;
    int32_t ml, M;
    if (len < 16 || len - 16 < pad || (len - 16 - pad) % 4) {
        st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: HNSW graph section is truncated");
        goto fail;
    }
    memcpy(&e, buf, 8); memcpy(&ml, buf + 8, 4); memcpy(&M, buf + 12, 4);
    if (M != h->M || ml < -1 || ml > MAX_LEVEL || e < -1 || (e >= 0 && (size_t)e >= n) || (e < 0) != (ml < 0) ||
        (n > 0 && e < 0)) {
        st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: HNSW graph header is inconsistent");
        goto fail;
    }
    const uint8_t *lv = buf + 16;
    uint32_t *w = (uint32_t *)(buf + 16 + pad);
    size_t words = (len - 16 - pad) / 4, p = 0;
    off = sail_malloc((n ? n : 1) * sizeof *off);
    base = sail_malloc(((n + FZ_BLOCK - 1) / FZ_BLOCK + 1) * sizeof *base);
    if (!off || !base) {
        st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory loading the HNSW graph");
        goto fail;
    }
    for (size_t s = 0; s < n; s++) {
        int L = lv[s];
        if (L > ml) {
            st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: node %zu is above the top level", s);
            goto fail;
        }
        if (s % FZ_BLOCK == 0) base[s / FZ_BLOCK] = p;
        off[s] = (uint32_t)(p - base[s / FZ_BLOCK]); /* a block's lists are far below 2^32 words */
        for (int l = 0; l <= L; l++) {
            uint32_t cnt = p < words ? w[p] : 0;
            if (p >= words || cnt > (uint32_t)(l ? h->M : h->M0) || words - p - 1 < cnt) {
                st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: node %zu has a bad or truncated link list", s);
                goto fail;
            }
            for (uint32_t j = 0; j < cnt; j++) /* a level-l link must reach a node that has level l */
                if (w[p + 1 + j] >= n || lv[w[p + 1 + j]] < l) {
                    st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: node %zu has a link outside the graph", s);
                    goto fail;
                }
            p += 1 + (size_t)cnt;
        }
    }
    if (p != words) {
        st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: extra bytes after the HNSW graph");
        goto fail;
    }
    if (e >= 0 && lv[e] != ml) {
        st = sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: HNSW entry point is not on the top level");
        goto fail;
    }
    if (h->fz) free_frozen(h);
    else free_growable(h);
    h->fz = buf; h->fz_len = len;
    h->fz_lists = w; h->fz_off = off; h->fz_base = base;
    h->level = buf + 16;
    h->cap = n;
    h->entry = e;
    h->max_level = ml;
    return SAIL_OK;
fail:
    ix_huge_free(buf, len); sail_free(off); sail_free(base);
    return st;
}

sail_status ix_hnsw_deserialize(sail_index *ix, size_t n, const uint8_t *buf, size_t len, sail_error *err) {
    uint8_t *copy = len ? ix_huge_alloc(len) : NULL;
    if (!copy) return sail_set_error(err, len ? SAIL_ERR_NOMEM : SAIL_ERR_FORMAT,
                                     len ? "out of memory loading the HNSW graph" : "index.snap: the HNSW graph section is missing");
    memcpy(copy, buf, len);
    return freeze(ix->hnsw, n, copy, len, err);
}

void ix_hnsw_freeze(sail_index *ix, uint8_t *buf, size_t len) {
    /* our own serialisation: only memory can fail, and then the growable form stays */
    if (ix->n_slots) freeze(ix->hnsw, ix->n_slots, buf, len, NULL);
    else ix_huge_free(buf, len);
}
