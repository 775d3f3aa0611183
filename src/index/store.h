/* store.h: a sail_index in memory (store.c, payload.c): the handle's
 * fields, slots, the id map, candidate heaps, distances to stored slots,
 * payload filters, huge-page buffers and the search pool. Everything in
 * src/index builds on this; it knows no file, graph or log policy.
 *
 * Items live in slots 0..n_slots-1 in insertion order. A slot's raw f32
 * vector is in the snapshot mapping (slots < map_slots) or in `tail`
 * (later slots); f16/int8 indexes also hold a compact code per slot, which
 * is what searches scan before rescoring candidates against the raw
 * vectors. Deleted slots stay (dead[slot] = 1) until compaction. */
#ifndef SAIL_INDEX_STORE_H
#define SAIL_INDEX_STORE_H

#include <pthread.h>

#include "common.h"
#include "distance.h"
#include "pool.h"

#define SAIL_INDEX_MAX_DIM 65536
#define SAIL_INDEX_MAX_ITEMS (UINT32_MAX / 2u)
#define SAIL_INDEX_MAX_PAYLOAD (1u << 24)   /* bytes per payload */
#define IX_SNAP_HEADER 128                  /* index.snap: vectors start here */
#define IX_HUGE_PAGE ((size_t)2 << 20)      /* transparent huge page size (x86-64) */

typedef struct sail_hnsw sail_hnsw;
typedef struct ix_remote ix_remote;
typedef struct ix_remote_ops ix_remote_ops;

/* id -> slot, open addressing with linear probing (backward-shift delete).
 * The table holds slots only: an entry's key is ids[slot], read from the
 * index's id array (4 bytes per entry instead of 12). */
typedef struct sail_idmap {
    uint32_t *vals;     /* slot + 1; 0 = empty */
    size_t cap, n;      /* cap is a power of two */
    uint64_t *const *ids; /* &the index's ids array (it moves when it grows) */
} sail_idmap;

struct sail_index {
    char *dir;
    int dim, M, ef_construction, ef_search, n_threads, deterministic;
    sail_metric metric;
    sail_storage storage;
    sail_index_kind kind;
    uint64_t seed;
    const sail_dist_table *dt;

    pthread_rwlock_t lock;      /* searches shared; changes exclusive */
    pthread_mutex_t pool_mu;    /* one pool run at a time */
    sail_pool *pool;
    int lock_fd;                /* flock on dir/LOCK */

    size_t n_slots, cap, n_dead;
    uint64_t *ids;              /* (cap) */
    uint8_t *dead;              /* (cap) */
    char **payload;             /* (cap) NUL-terminated JSON, heap; NULL = "{}". The
                                   table itself is NULL until some item has a payload */
    float *sqnorm;              /* (cap) squared norm of what scans read (L2 only) */
    size_t code_size;           /* bytes per slot in codes (0 for f32) */
    uint8_t *codes;             /* (cap, code_size) f16 or int8 codes */
    float *scales;              /* (cap) int8 scales */
    float *tail;                /* (cap - map_slots, dim) raw vectors */
    size_t tail_cap;
    void *map; size_t map_len;  /* the snapshot, mmap-ed read-only */
    float *vec_copy;            /* f32 storage: the mapped vectors copied to huge pages (map_vec), or NULL */
    size_t vec_copy_bytes;
    int snap_fd;                /* the snapshot open for pread (ix_raw_read), or -1 */
    const float *map_vec;       /* (map_slots, dim) inside map */
    size_t map_slots;
    sail_idmap idmap;
    sail_hnsw *hnsw;            /* HNSW graph, NULL for exact */

    int wal_fd;                 /* -1 after a snapshot could not replace the log: changes are refused */
    uint64_t wal_bytes, generation;
    uint64_t uid;               /* identity shared by the snapshot and its log (0: a version-1 snapshot) */
    size_t wal_records;

    const ix_remote_ops *rops;  /* a redis:// index (index_impl.h): every call goes there; */
    ix_remote *remote;          /* NULL for a local one */
};

static inline const float *ix_raw(const sail_index *ix, size_t slot) {
    size_t d = (size_t)ix->dim;
    return slot < ix->map_slots ? ix->map_vec + slot * d : ix->tail + (slot - ix->map_slots) * d;
}

/* A slot's raw vector for a scattered read (rescoring, item access). An
 * f16/int8 index leaves its mapped f32 vectors out of memory (searches
 * scan the codes), so those are read from the file into buf (dim floats);
 * otherwise, or if the read fails, the pointer into memory. */
const float *ix_raw_read(const sail_index *ix, size_t slot, float *buf);

/* A slot's own payload (NULL = "{}"), and its text. */
static inline char *ix_payload_own(const sail_index *ix, size_t slot) {
    return ix->payload ? ix->payload[slot] : NULL;
}
static inline const char *ix_payload(const sail_index *ix, size_t slot) {
    const char *p = ix_payload_own(ix, slot);
    return p ? p : "{}";
}
/* Whether any of n payloads is more than "{}" (so the table is needed). */
int ix_payloads_needed(char *const *payloads, size_t n);

/* Distance between query q (prepared: normalised for cosine) and a slot's
 * scanned representation (the code for f16/int8); lower is closer
 * (negated similarity for IP/cosine). */
float ix_dist_code(const sail_index *ix, const float *q, size_t slot);
/* The same against the slot's raw f32 vector, or against vector x. */
float ix_dist_raw(const sail_index *ix, const float *q, size_t slot);
float ix_dist_vec(const sail_index *ix, const float *q, const float *x);
/* Public score from an internal distance. */
static inline float ix_score(const sail_index *ix, float dist) {
    return ix->metric == SAIL_METRIC_L2 ? dist : -dist;
}

/* idmap (store.c) */
void ix_idmap_free(sail_idmap *m);
/* Room for extra more keys without a rehash. */
sail_status ix_idmap_reserve(sail_idmap *m, size_t extra);
long ix_idmap_get(const sail_idmap *m, uint64_t key);       /* slot or -1 */
/* key must be ids[slot] (the map reads keys back from the id array). */
sail_status ix_idmap_put(sail_idmap *m, uint64_t key, uint32_t slot);
void ix_idmap_del(sail_idmap *m, uint64_t key);

/* Append one slot (no log, no graph); the caller has checked capacity via
 * ix_reserve, with payloads set if the slots to come carry any (the
 * payload table is created then). vec is raw f32 (already normalised for
 * cosine). */
sail_status ix_reserve(sail_index *ix, size_t n_slots, int payloads, sail_error *err);
void ix_append_slot(sail_index *ix, uint64_t id, const float *vec, char *payload);
/* Grow *p to cap elements of elem bytes (store.c; ix_reserve's arrays). */
sail_status ix_grow(void **p, size_t cap, size_t elem);
/* Huge pages for the 2 MiB-aligned inside of a grown array (advice only). */
void ix_advise_huge(void *p, size_t bytes);

/* A top-k collector: max-heap on (dist, slot) of capacity k. */
typedef struct ix_cand { float dist; uint32_t slot; } ix_cand;
typedef struct ix_heap { ix_cand *c; int n, k; } ix_heap;
void ix_heap_push(ix_heap *h, float dist, uint32_t slot);
/* Sort the heap's entries best first (destroys the heap order). */
void ix_heap_sort(ix_heap *h);

/* Filters ("field=value,..."), parsed once per search. */
typedef struct ix_filter ix_filter;
sail_status ix_filter_parse(const char *s, ix_filter **out, sail_error *err);
void ix_filter_free(ix_filter *f);
int ix_filter_match(const ix_filter *f, const char *payload);
/* Validate a payload (a JSON object, or NULL/"" = {}) and return it
 * re-encoded compactly (heap). */
sail_status ix_payload_canon(const char *in, char **out, sail_error *err);

/* Run fn over n tasks on the index pool, or serially when another search
 * holds the pool. */
void ix_run(sail_index *ix, sail_task_fn fn, void *ctx, int n_tasks);

/* Large read-mostly arrays (f32 vectors, the frozen graph): anonymous,
 * zeroed, 2 MiB aligned and advised for transparent huge pages (random
 * reads of scattered vectors otherwise miss the TLB on 4 KiB pages).
 * bytes > 0; NULL when out of memory. Free with ix_huge_free(p, bytes). */
void *ix_huge_alloc(size_t bytes);
void ix_huge_free(void *p, size_t bytes);

/* L2-normalise n rows of d floats in place (zero rows stay zero). */
void ix_normalize_rows(float *v, size_t n, int d);

#endif
