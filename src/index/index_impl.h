/* index_impl.h: what the files of src/index call across, above the
 * memory of store.h: the exact scan, the HNSW graph, the log and the
 * snapshot, applying changes, and the handle's lifecycle. Not part of the
 * public API. */
#ifndef SAIL_INDEX_IMPL_H
#define SAIL_INDEX_IMPL_H

#include "store.h"

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
/* The bytes index.snap would hold for ix (its generation unchanged), in
 * one heap block (*out, to sail_free). Reads ix only. */
sail_status ix_snapshot_image(const sail_index *ix, uint8_t **out, size_t *out_len, sail_error *err);
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
/* ix_apply_add after ix_reserve, vectors already normalised for cosine;
 * takes ownership of payloads[i]. Only the graph insert can fail. */
sail_status ix_apply_add_reserved(sail_index *ix, const uint64_t *ids, const float *vecs,
                                  char **payloads, int n, sail_error *err);

/* SAIL_ERR_INVALID_ARG naming the first non-finite component. */
sail_status ix_check_vectors(const float *v, size_t n, int d, sail_error *err);

/* The directory half of sail_index_open (open.c dispatches). */
sail_index *ix_open_dir(const char *dir, const sail_index_options *opts, sail_error *err);

/* A redis:// index (remote.c): sail_index_open makes the handle, whose
 * public calls go through rops, so that only programs that open one (not
 * the Redis module, which links index.c) link the Redis client. Each op
 * has its public call's contract, with the differences sail.h lists. */
struct ix_remote_ops {
    sail_status (*add)(ix_remote *r, const uint64_t *ids, const float *v, const char *const *payloads, int n,
                       sail_error *err);
    sail_status (*del)(ix_remote *r, const uint64_t *ids, int n, int *n_deleted, sail_error *err);
    sail_status (*search)(ix_remote *r, const float *q, int n, int k, const sail_search_options *o,
                          sail_index_results **out, sail_error *err);
    sail_status (*get)(ix_remote *r, uint64_t id, float *vec, char **payload, sail_error *err);
    void (*info)(ix_remote *r, sail_index_info *info);
    sail_status (*ids)(ix_remote *r, uint64_t **ids, size_t *n, sail_error *err);
    void (*close)(ix_remote *r);
};
sail_index *ix_remote_open(const char *url, const sail_index_options *opts, sail_error *err);
/* SAIL_ERR_UNSUPPORTED: what (a call) is not available on a remote index. */
sail_status ix_remote_refuse(const char *what, sail_error *err);

/* Results for n queries of k hits (counts and hits zeroed) with room for
 * blob_len bytes of payload text at *blob (search.c). NULL when out of
 * memory; free with sail_index_results_free. */
sail_index_results *ix_results_new(int n, int k, size_t blob_len, char **blob);

/* An index shell with options but no files (for the fuzzer and loaders). */
sail_index *ix_new_shell(void);
sail_status ix_configure(sail_index *ix, sail_error *err);
void ix_free(sail_index *ix);

#endif
