/* apply.c: the in-memory index that the log replay (wal.c), the snapshot
 * load and the API change: reserving room, applying adds (with the graph
 * insert) and deletes, and the handle's creation, configuration and free.
 * Below it: store.c and hnsw.c. */
#include "index_impl.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

sail_status ix_reserve(sail_index *ix, size_t need, int payloads, sail_error *err) {
    if (need > SAIL_INDEX_MAX_ITEMS)
        return sail_set_error(err, SAIL_ERR_LIMIT, "index would hold %zu slots; the limit is %u",
                              need, SAIL_INDEX_MAX_ITEMS);
    if (ix_idmap_reserve(&ix->idmap, need - ix->n_slots) != SAIL_OK)
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory growing the id map");
    if (need > ix->cap) {
        size_t cap = SAIL_MAX(need, ix->cap + ix->cap / 2); /* exact when loading */
        if (ix_grow((void **)&ix->ids, cap, 8) || ix_grow((void **)&ix->dead, cap, 1) ||
            (ix->payload && ix_grow((void **)&ix->payload, cap, sizeof(char *))) ||
            (ix->metric == SAIL_METRIC_L2 && ix_grow((void **)&ix->sqnorm, cap, 4)) ||
            (ix->code_size && ix_grow((void **)&ix->codes, cap, ix->code_size)) ||
            (ix->storage == SAIL_STORAGE_INT8 && ix_grow((void **)&ix->scales, cap, 4)))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory growing the index to %zu items", cap);
        ix->cap = cap;
        if (ix->codes) ix_advise_huge(ix->codes, cap * ix->code_size);
    }
    if (payloads && !ix->payload && ix->cap && !(ix->payload = sail_calloc(ix->cap, sizeof *ix->payload)))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a payload table of %zu items", ix->cap);
    if (ix->hnsw && ix_hnsw_reserve(ix->hnsw, ix->cap, err)) return SAIL_ERR_NOMEM;
    size_t tail_need = need > ix->map_slots ? need - ix->map_slots : 0;
    if (tail_need > ix->tail_cap) {
        size_t cap = SAIL_MAX(tail_need, ix->tail_cap + ix->tail_cap / 2);
        size_t row = (size_t)ix->dim * sizeof(float);
        if (ix_grow((void **)&ix->tail, cap, row))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %zu vectors of %d floats", cap, ix->dim);
        ix->tail_cap = cap;
        ix_advise_huge(ix->tail, cap * row);
    }
    return SAIL_OK;
}

static int mark_dead(sail_index *ix, uint64_t id) {
    long s = ix_idmap_get(&ix->idmap, id);
    if (s < 0) return 0;
    ix->dead[s] = 1;
    ix->n_dead++;
    if (ix->payload) {
        sail_free(ix->payload[s]);
        ix->payload[s] = NULL;
    }
    ix_idmap_del(&ix->idmap, id);
    return 1;
}

int ix_apply_delete(sail_index *ix, const uint64_t *ids, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += mark_dead(ix, ids[i]);
    return k;
}

sail_status ix_apply_add_reserved(sail_index *ix, const uint64_t *ids, const float *vecs,
                                      char **payloads, int n, sail_error *err) {
    size_t from = ix->n_slots;
    for (int i = 0; i < n; i++) {
        mark_dead(ix, ids[i]);
        ix_append_slot(ix, ids[i], vecs + (size_t)i * ix->dim, payloads[i]);
        payloads[i] = NULL;
    }
    return ix->hnsw ? ix_hnsw_insert(ix, from, ix->n_slots, err) : SAIL_OK;
}

sail_status ix_apply_add(sail_index *ix, const uint64_t *ids, const float *vecs,
                         char **payloads, int n, sail_error *err) {
    sail_status st = ix_reserve(ix, ix->n_slots + (size_t)n, ix_payloads_needed(payloads, (size_t)n), err);
    if (st) return st;
    float *tmp = NULL;
    if (ix->metric == SAIL_METRIC_COSINE) {
        tmp = sail_malloc((size_t)n * ix->dim * sizeof(float));
        if (!tmp) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory normalising %d vectors", n);
        memcpy(tmp, vecs, (size_t)n * ix->dim * sizeof(float));
        ix_normalize_rows(tmp, (size_t)n, ix->dim);
        vecs = tmp;
    }
    st = ix_apply_add_reserved(ix, ids, vecs, payloads, n, err);
    sail_free(tmp);
    return st;
}

/* -------------------------------------------------------- lifecycle -- */

sail_index *ix_new_shell(void) {
    sail_index *ix = sail_calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->lock_fd = ix->wal_fd = ix->snap_fd = -1;
    ix->idmap.ids = &ix->ids;
    ix->dt = sail_dist();
    pthread_rwlock_init(&ix->lock, NULL);
    pthread_mutex_init(&ix->pool_mu, NULL);
    return ix;
}

/* Check the options and derive the per-slot layout. */
sail_status ix_configure(sail_index *ix, sail_error *err) {
    if (ix->dim < 1 || ix->dim > SAIL_INDEX_MAX_DIM)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "dimension %d is out of range 1..%d", ix->dim,
                              SAIL_INDEX_MAX_DIM);
    if ((unsigned)ix->metric > SAIL_METRIC_L2 || (unsigned)ix->storage > SAIL_STORAGE_INT8 ||
        (unsigned)ix->kind > SAIL_INDEX_HNSW)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "unknown metric, storage or index kind");
    if (ix->M < 2 || ix->M > 256)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "HNSW M is %d; it must be 2..256", ix->M);
    if (ix->ef_construction < 1 || ix->ef_construction > 100000 || ix->ef_search < 1 || ix->ef_search > 100000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "ef_construction and ef_search must be 1..100000");
    ix->code_size = ix->storage == SAIL_STORAGE_F16 ? (size_t)ix->dim * 2
                  : ix->storage == SAIL_STORAGE_INT8 ? (size_t)ix->dim : 0;
    if (ix->kind == SAIL_INDEX_HNSW && !ix->hnsw) return ix_hnsw_new(ix, err);
    return SAIL_OK;
}

void ix_free(sail_index *ix) {
    if (!ix) return;
    for (size_t i = 0; ix->payload && i < ix->n_slots; i++) sail_free(ix->payload[i]);
    sail_free(ix->ids); sail_free(ix->dead); sail_free(ix->payload); sail_free(ix->sqnorm);
    sail_free(ix->codes); sail_free(ix->scales); sail_free(ix->tail);
    ix_huge_free(ix->vec_copy, ix->vec_copy_bytes);
    ix_idmap_free(&ix->idmap);
    ix_hnsw_free(ix->hnsw);
    if (ix->map) munmap(ix->map, ix->map_len);
    if (ix->wal_fd >= 0) close(ix->wal_fd);
    if (ix->snap_fd >= 0) close(ix->snap_fd);
    if (ix->lock_fd >= 0) close(ix->lock_fd); /* releases the flock */
    sail_pool_free(ix->pool);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->pool_mu);
    sail_free(ix->dir);
    sail_free(ix);
}
