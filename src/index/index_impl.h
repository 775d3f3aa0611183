/* index_impl.h: the internals of sail_index shared by the files of
 * src/index. Not part of the public API.
 *
 * Items live in slots 0..n_slots-1 in insertion order. A slot's raw f32
 * vector is in the snapshot mapping (slots < map_slots) or in `tail`
 * (later slots); f16/int8 indexes also hold a compact code per slot, which
 * is what searches scan before rescoring candidates against the raw
 * vectors. Deleted slots stay (dead[slot] = 1) until compaction. */
#ifndef SAIL_INDEX_IMPL_H
#define SAIL_INDEX_IMPL_H

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

/* idmap */
void ix_idmap_free(sail_idmap *m);
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

/* Exact search of nq prepared queries (nq x dim): best kk candidates per
 * query into heaps[q] (capacity kk), skipping dead slots and those with
 * allow[slot] == 0 (allow may be NULL). Scores codes for f16/int8. */
sail_status ix_exact_scan(sail_index *ix, const float *q, int nq, ix_heap *heaps,
                          const uint8_t *allow, sail_error *err);

/* HNSW (hnsw.c) */
sail_status ix_hnsw_new(sail_index *ix, sail_error *err);
void ix_hnsw_free(sail_hnsw *h);
/* Room for need nodes (so a later insert cannot fail for memory). */
sail_status ix_hnsw_reserve(sail_hnsw *h, size_t need, sail_error *err);
/* Link slots [from, to) into the graph (they were just appended). */
sail_status ix_hnsw_insert(sail_index *ix, size_t from, size_t to, sail_error *err);
/* Best candidates of one prepared query into heap (capacity k), dead and
 * filtered-out slots skipped; ef >= heap->k. */
sail_status ix_hnsw_search(const sail_index *ix, const float *q, int ef, ix_heap *heap,
                           const ix_filter *filter, sail_error *err);
size_t ix_hnsw_memory(const sail_hnsw *h);
/* Serialised graph (snapshot section) and its reader, which checks the
 * section of a snapshot of n slots and keeps a copy as the graph's compact
 * frozen form (the next add turns it back into the growable form). */
sail_status ix_hnsw_serialize(const sail_index *ix, uint8_t **buf, size_t *len, sail_error *err);
sail_status ix_hnsw_deserialize(sail_index *ix, size_t n, const uint8_t *buf, size_t len, sail_error *err);
/* After a snapshot is written: its serialised graph (heap; taken over)
 * becomes the frozen form, or is freed if memory for that runs out. */
void ix_hnsw_freeze(sail_index *ix, uint8_t *buf, size_t len);
/* Level of a slot's node, for FAISS export. */
int ix_hnsw_level(const sail_hnsw *h, size_t slot);
int ix_hnsw_max_level(const sail_hnsw *h);
long ix_hnsw_entry(const sail_hnsw *h);
/* Neighbours of slot at level: count, pointer to slots. */
int ix_hnsw_links(const sail_hnsw *h, size_t slot, int level, const uint32_t **out);

/* Durability (wal.c, snapshot.c) */
sail_status ix_wal_open(sail_index *ix, sail_error *err);
sail_status ix_wal_append_add(sail_index *ix, const uint64_t *ids, const float *vecs,
                              char *const *payloads, int n, sail_error *err);
sail_status ix_wal_append_delete(sail_index *ix, const uint64_t *ids, int n, sail_error *err);
/* Replay the log into ix (applying records with ix_apply_*). */
sail_status ix_wal_replay(sail_index *ix, sail_error *err);
/* Replace the log by an empty one for the current generation and uid. */
sail_status ix_wal_reset(sail_index *ix, sail_error *err);
/* A fresh non-zero index identity (getrandom, or time and pid without it). */
uint64_t ix_new_uid(void);
sail_status ix_snapshot_write(sail_index *ix, sail_error *err);
sail_status ix_snapshot_load(sail_index *ix, sail_error *err);
/* Parse a snapshot image in memory (used by the loader and the fuzzer);
 * fills ix's options and slots; the mapping stays owned by the caller. */
sail_status ix_snapshot_parse(sail_index *ix, const uint8_t *buf, size_t len, sail_error *err);
/* Parse a log image in memory; *good_len gets the length of its valid
 * prefix (the torn tail excluded), 0 for a stale log (an older generation
 * of this index). A log of another index (its uid differs from ix->uid)
 * or of a newer generation is SAIL_ERR_FORMAT. Applies records when apply
 * is set. */
sail_status ix_wal_parse(sail_index *ix, const uint8_t *buf, size_t len, int apply,
                         size_t *good_len, sail_error *err);

/* Apply a logged change (normalising for cosine; duplicates replace). */
sail_status ix_apply_add(sail_index *ix, const uint64_t *ids, const float *vecs,
                         char **payloads, int n, sail_error *err);
int ix_apply_delete(sail_index *ix, const uint64_t *ids, int n);

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
/* SAIL_ERR_INVALID_ARG naming the first non-finite component. */
sail_status ix_check_vectors(const float *v, size_t n, int d, sail_error *err);

/* An index shell with options but no files (for the fuzzer and loaders). */
sail_index *ix_new_shell(void);
sail_status ix_configure(sail_index *ix, sail_error *err);
void ix_free(sail_index *ix);

#endif
