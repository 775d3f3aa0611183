/* index.c: the sail_index API: names, opening a directory (lock, snapshot,
 * log replay, recovery), adds and deletes (log first, then memory), item
 * access, compaction. Layers below: apply.c (the in-memory index the log,
 * the snapshot and this file change), store.c (slots, id map, heaps,
 * distances), hnsw.c, exact.c, wal.c and snapshot.c. */
#include "index_impl.h"
#include "fileio.h"
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


/* ------------------------------------------------------------ names -- */

/* Indexed by the enum's value (each enum counts from 0): one list serves
 * printing and parsing. */
static const char *const metric_names[] = {"ip", "cosine", "l2"};
static const char *const storage_names[] = {"f32", "f16", "int8"};
static const char *const kind_names[] = {"exact", "hnsw"};
#define N_OF(a) ((int)(sizeof a / sizeof *a))
_Static_assert(N_OF(metric_names) == SAIL_METRIC_L2 + 1 && N_OF(storage_names) == SAIL_STORAGE_INT8 + 1 &&
               N_OF(kind_names) == SAIL_INDEX_HNSW + 1, "a name for every value of each enum");

static const char *name_of(const char *const *names, int n, int v) {
    return v >= 0 && v < n ? names[v] : "?";
}

static sail_status parse_name(const char *const *names, int n, const char *s, int *out) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) { *out = i; return SAIL_OK; }
    return SAIL_ERR_INVALID_ARG;
}

const char *sail_metric_name(sail_metric m) { return name_of(metric_names, N_OF(metric_names), (int)m); }
const char *sail_storage_name(sail_storage s) { return name_of(storage_names, N_OF(storage_names), (int)s); }
const char *sail_index_kind_name(sail_index_kind k) { return name_of(kind_names, N_OF(kind_names), (int)k); }

sail_status sail_metric_parse(const char *s, sail_metric *out) {
    int v;
    sail_status st = parse_name(metric_names, N_OF(metric_names), s, &v);
    if (!st) *out = (sail_metric)v;
    return st;
}

sail_status sail_storage_parse(const char *s, sail_storage *out) {
    int v;
    sail_status st = parse_name(storage_names, N_OF(storage_names), s, &v);
    if (!st) *out = (sail_storage)v;
    return st;
}

sail_status sail_index_kind_parse(const char *s, sail_index_kind *out) {
    int v;
    sail_status st = parse_name(kind_names, N_OF(kind_names), s, &v);
    if (!st) *out = (sail_index_kind)v;
    return st;
}


/* -------------------------------------------------------- lifecycle -- */

static int file_exists(const char *dir, const char *name) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* Leftovers of a crash: a snapshot or log being written is never valid
 * (the rename is the commit point). Called under the lock, so no writer
 * owns them; one that cannot be removed is truncated when next written. */
static void remove_leftovers(const char *dir) {
    static const char *const names[] = {"index.snap.tmp", "index.wal.tmp"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
}

/* The create-only fields of opts (defaults for the zero ones) and a new identity. */
static void set_create_options(sail_index *ix, const sail_index_options *opts) {
    ix->dim = opts->dim;
    ix->metric = opts->metric;
    ix->storage = opts->storage;
    ix->kind = opts->kind;
    ix->M = opts->M ? opts->M : 16;
    ix->ef_construction = opts->ef_construction ? opts->ef_construction : 200;
    ix->ef_search = opts->ef_search ? opts->ef_search : 64;
    ix->seed = opts->seed;
    ix->uid = ix_new_uid();
}

/* The options that may change on every open (opts may be NULL), and the pool. */
static sail_status set_run_options(sail_index *ix, const sail_index_options *opts, sail_error *err) {
    if (opts) {
        if (opts->ef_search > 0 && opts->ef_search <= 100000) ix->ef_search = opts->ef_search;
        ix->deterministic = opts->deterministic;
        ix->n_threads = opts->n_threads;
    }
    ix->pool = sail_pool_new(ix->n_threads);
    return ix->pool ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "cannot start index threads");
}

/* Recovery: move the unusable log, if any, out of the way (to
 * index.wal.orphan, or .orphan.N when that exists; *kept gets the name or
 * "") and start an empty one for the snapshot. */
static sail_status set_log_aside(sail_index *ix, char *kept, size_t kn, sail_error *err) {
    char from[4096], to[sizeof from + 24]; /* ".orphan." and an int */
    snprintf(from, sizeof from, "%s/index.wal", ix->dir);
    *kept = 0;
    if (file_exists(ix->dir, "index.wal")) {
        snprintf(to, sizeof to, "%s.orphan", from);
        for (int i = 1; i < 1000 && access(to, F_OK) == 0; i++) snprintf(to, sizeof to, "%s.orphan.%d", from, i);
        if (ix_rename(from, to) != 0) return sail_set_error(err, SAIL_ERR_IO, "moving %s aside: %s", from, strerror(errno));
        snprintf(kept, kn, "%s", to);
    }
    return ix_wal_reset(ix, err);
}

/* sail_index_open without the message prefix. With without_log the log is
 * set aside instead of replayed (*kept: see set_log_aside); otherwise
 * *log_failed says whether the failure came from the log. */
static sail_index *open_dir(const char *dir, const sail_index_options *opts, int without_log, int *log_failed,
                            char *kept, size_t kn, sail_error *err) {
    sail_index *ix = ix_new_shell();
    if (!ix || !(ix->dir = sail_strdup(dir))) {
        ix_free(ix);
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory opening index %s", dir);
        return NULL;
    }
    sail_status st = SAIL_OK;
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (!opts || !opts->create || mkdir(dir, 0777) != 0) {
            st = sail_set_error(err, SAIL_ERR_IO, "%s",
                                opts && opts->create ? strerror(errno) : "no such index directory");
            goto fail;
        }
    } else if (!S_ISDIR(sb.st_mode)) {
        st = sail_set_error(err, SAIL_ERR_INVALID_ARG, "not a directory");
        goto fail;
    }
    char lp[4096];
    snprintf(lp, sizeof lp, "%s/LOCK", dir);
    ix->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (ix->lock_fd < 0) {
        st = sail_set_error(err, SAIL_ERR_IO, "%s: %s", lp, strerror(errno));
        goto fail;
    }
    if (flock(ix->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = sail_set_error(err, SAIL_ERR_IO, "open in another process (%s is locked)", lp);
        goto fail;
    }
    remove_leftovers(dir);
    if (file_exists(dir, "index.snap")) {
        if ((st = ix_snapshot_load(ix, err))) goto fail;
    } else if (opts && opts->create) {
        set_create_options(ix, opts);
        /* The log first (generation 0, stale once the snapshot is there),
         * so that a snapshot never stands without a log: a missing log
         * always means lost changes. */
        if ((st = ix_configure(ix, err)) || (st = ix_wal_reset(ix, err)) || (st = ix_snapshot_write(ix, err))) goto fail;
    } else {
        st = sail_set_error(err, SAIL_ERR_INVALID_ARG, "no index here (index.snap is missing)");
        goto fail;
    }
    if ((st = set_run_options(ix, opts, err))) goto fail;
    if (without_log) {
        if ((st = set_log_aside(ix, kept, kn, err))) goto fail;
    } else if ((st = ix_wal_open(ix, err)) || (st = ix_wal_replay(ix, err))) {
        *log_failed = 1;
        goto fail;
    }
    return ix;
fail:
    ix_free(ix);
    return NULL;
}

sail_index *ix_open_dir(const char *dir, const sail_index_options *opts, sail_error *err) {
    if (!dir || !*dir || strlen(dir) > 3000) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "index directory path is empty or too long");
        return NULL;
    }
    int recover = opts && opts->recover_without_log, log_failed = 0;
    sail_error e = {SAIL_OK, ""};
    char kept[4200] = "";
    sail_index *ix = open_dir(dir, opts, 0, &log_failed, kept, sizeof kept, &e);
    /* Only a log that cannot be trusted, not one that cannot be read
     * (permissions, memory): dropping that would lose good records. */
    if (!ix && log_failed && e.status == SAIL_ERR_FORMAT && !recover) {
        size_t l = strlen(e.msg);
        snprintf(e.msg + l, sizeof e.msg - l, "; --recover-without-log (recover_without_log) opens index.snap alone, "
                 "dropping what the log holds");
    } else if (!ix && log_failed && e.status == SAIL_ERR_FORMAT) {
        char why[sizeof e.msg];
        memcpy(why, e.msg, sizeof why);
        ix = open_dir(dir, opts, 1, NULL, kept, sizeof kept, &e);
        if (ix)
            sail_set_error(&e, SAIL_OK, "%s; opened from index.snap alone (%zu items): what was logged after "
                           "that snapshot is lost%s%s%s", why, ix->n_slots - ix->n_dead,
                           *kept ? " (the log is kept as " : "", kept, *kept ? ")" : "");
    }
    if (!ix) sail_error_prefix(&e, "index %s", dir);
    else if (e.msg[0]) sail_error_prefix(&e, "index %s recovered without its log", dir);
    if (err && (!ix || recover)) *err = e;
    return ix;
}

/* ---------------------------------------------------- in memory only -- */

sail_index *sail_index_new(const sail_index_options *opts, sail_error *err) {
    if (!opts) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_new: NULL options");
        return NULL;
    }
    sail_index *ix = ix_new_shell();
    if (!ix) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory creating an index");
        return NULL;
    }
    set_create_options(ix, opts);
    sail_status st = ix_configure(ix, err);
    if (!st) st = set_run_options(ix, opts, err);
    if (st) {
        ix_free(ix);
        return NULL;
    }
    return ix;
}

sail_status sail_index_serialize(sail_index *ix, void **buf, size_t *len, sail_error *err) {
    if (!ix || !buf || !len) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_serialize: NULL argument");
    if (ix->rops) return ix_remote_refuse("sail_index_serialize", err);
    pthread_rwlock_rdlock(&ix->lock);
    uint8_t *b = NULL;
    sail_status st = ix_snapshot_image(ix, &b, len, err);
    pthread_rwlock_unlock(&ix->lock);
    if (!st) *buf = b;
    return st;
}

sail_index *sail_index_deserialize(const void *buf, size_t len, const sail_index_options *opts, sail_error *err) {
    int usable = buf && (uintptr_t)buf % 8 == 0;
    sail_index *ix = usable ? ix_new_shell() : NULL;
    if (!ix) {
        sail_set_error(err, usable ? SAIL_ERR_NOMEM : SAIL_ERR_INVALID_ARG, "sail_index_deserialize: %s",
                       usable ? "out of memory" : "NULL or unaligned buffer");
        return NULL;
    }
    sail_status st = ix_snapshot_parse(ix, buf, len, err);
    /* The slots' vectors point into buf: take a copy (the image is the caller's). */
    size_t bytes = ix->map_slots * (size_t)ix->dim * sizeof(float);
    if (!st && bytes) {
        if (!(ix->tail = sail_malloc(bytes))) {
            st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %zu vectors", ix->map_slots);
        } else {
            memcpy(ix->tail, ix->map_vec, bytes);
            ix->tail_cap = ix->map_slots;
            ix_advise_huge(ix->tail, bytes);
        }
    }
    ix->map_vec = NULL;
    ix->map_slots = 0;
    if (!st) st = set_run_options(ix, opts, err);
    if (st) {
        sail_error_prefix(err, "index image");
        ix_free(ix);
        return NULL;
    }
    return ix;
}

sail_status sail_index_close(sail_index *ix, sail_error *err) {
    if (!ix) return SAIL_OK;
    if (ix->rops) ix->rops->close(ix->remote);
    sail_status st = SAIL_OK;
    if (ix->wal_records) st = ix_snapshot_write(ix, err);
    ix_free(ix);
    return st;
}

sail_status ix_remote_refuse(const char *what, sail_error *err) {
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: not available on a redis:// index (Redis persists it; "
                          "docs/REDIS.md)", what);
}

/* ------------------------------------------------------ add, delete -- */

sail_status ix_check_vectors(const float *v, size_t n, int d, sail_error *err) {
    for (size_t i = 0; i < n * (size_t)d; i++)
        if (!isfinite(v[i]))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "vector %zu has a non-finite component at %zu",
                                  i / (size_t)d, i % (size_t)d);
    return SAIL_OK;
}

sail_status sail_index_add(sail_index *ix, const uint64_t *ids, const float *vectors,
                           const char *const *payloads, int n, sail_error *err) {
    if (!ix || n < 0 || (n > 0 && (!ids || !vectors)))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_add: NULL index, ids or vectors, or n < 0");
    if (n == 0) return SAIL_OK;
    sail_status st = ix_check_vectors(vectors, (size_t)n, ix->dim, err);
    if (st) return st;
    if (ix->rops) return ix->rops->add(ix->remote, ids, vectors, payloads, n, err);
    char **canon = sail_calloc((size_t)n, sizeof *canon);
    float *norm = NULL;
    if (!canon) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d payloads", n);
    for (int i = 0; i < n && !st; i++) {
        st = ix_payload_canon(payloads ? payloads[i] : NULL, &canon[i], err);
        if (st) sail_error_prefix(err, "payload of item %d (id %llu)", i, (unsigned long long)ids[i]);
    }
    if (!st && ix->metric == SAIL_METRIC_COSINE) {
        norm = sail_malloc((size_t)n * ix->dim * sizeof(float));
        if (!norm) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory normalising %d vectors", n);
        else {
            memcpy(norm, vectors, (size_t)n * ix->dim * sizeof(float));
            ix_normalize_rows(norm, (size_t)n, ix->dim);
            vectors = norm;
        }
    }
    if (!st) {
        pthread_rwlock_wrlock(&ix->lock);
        st = ix_reserve(ix, ix->n_slots + (size_t)n, ix_payloads_needed(canon, (size_t)n), err);
        if (!st && ix->dir) st = ix_wal_append_add(ix, ids, vectors, canon, n, err);
        if (!st) st = ix_apply_add_reserved(ix, ids, vectors, canon, n, err);
        pthread_rwlock_unlock(&ix->lock);
    }
    for (int i = 0; i < n; i++) sail_free(canon[i]);
    sail_free(canon);
    sail_free(norm);
    return st;
}

sail_status sail_index_delete(sail_index *ix, const uint64_t *ids, int n, int *n_deleted, sail_error *err) {
    if (!ix || n < 0 || (n > 0 && !ids))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_delete: NULL index or ids, or n < 0");
    if (n == 0) {
        if (n_deleted) *n_deleted = 0;
        return SAIL_OK;
    }
    if (ix->rops) return ix->rops->del(ix->remote, ids, n, n_deleted, err);
    pthread_rwlock_wrlock(&ix->lock);
    sail_status st = ix->dir ? ix_wal_append_delete(ix, ids, n, err) : SAIL_OK;
    int k = st ? 0 : ix_apply_delete(ix, ids, n);
    pthread_rwlock_unlock(&ix->lock);
    if (!st && n_deleted) *n_deleted = k;
    return st;
}

/* ----------------------------------------------------------- access -- */

sail_status sail_index_get(sail_index *ix, uint64_t id, float *vec, char **payload, sail_error *err) {
    if (!ix) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_get: NULL index");
    if (ix->rops) return ix->rops->get(ix->remote, id, vec, payload, err);
    sail_status st = SAIL_OK;
    pthread_rwlock_rdlock(&ix->lock);
    long s = ix_idmap_get(&ix->idmap, id);
    char *p = NULL;
    if (s < 0) {
        st = sail_set_error(err, SAIL_ERR_INVALID_ARG, "no item with id %llu", (unsigned long long)id);
    } else if (payload && !(p = sail_strdup(ix_payload(ix, s)))) {
        st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory copying a payload");
    } else {
        const float *x = vec ? ix_raw_read(ix, (size_t)s, vec) : NULL;
        if (x && x != vec) memcpy(vec, x, (size_t)ix->dim * sizeof(float));
        if (payload) *payload = p;
    }
    pthread_rwlock_unlock(&ix->lock);
    return st;
}

/* Up to cap live ids from slot *slot on, in slot (insertion) order; *slot
 * moves past the last slot read. Under the caller's lock. */
static size_t ids_from(const sail_index *ix, uint64_t *slot, uint64_t *ids, size_t cap) {
    size_t k = 0;
    uint64_t s = *slot;
    for (; s < ix->n_slots && k < cap; s++)
        if (!ix->dead[s]) ids[k++] = ix->ids[s];
    *slot = s;
    return k;
}

size_t sail_index_ids(sail_index *ix, uint64_t *ids, size_t cap) {
    if (!ix || ix->rops) return 0; /* a remote index: sail_index_list_ids (sail.h) */
    pthread_rwlock_rdlock(&ix->lock);
    size_t live = ix->n_slots - ix->n_dead;
    uint64_t from = 0;
    if (ids) ids_from(ix, &from, ids, cap < live ? cap : live);
    pthread_rwlock_unlock(&ix->lock);
    return live;
}

size_t ix_ids_page(sail_index *ix, uint64_t cursor, uint64_t *ids, size_t cap, uint64_t *next) {
    pthread_rwlock_rdlock(&ix->lock);
    size_t k = ids_from(ix, &cursor, ids, cap);
    *next = cursor < ix->n_slots ? cursor : 0;
    pthread_rwlock_unlock(&ix->lock);
    return k;
}

sail_status sail_index_list_ids(sail_index *ix, uint64_t **ids, size_t *n, sail_error *err) {
    if (!ix || !ids || !n) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_list_ids: NULL argument");
    if (ix->rops) return ix->rops->ids(ix->remote, ids, n, err);
    pthread_rwlock_rdlock(&ix->lock);
    size_t live = ix->n_slots - ix->n_dead;
    uint64_t *out = live ? sail_malloc(live * sizeof *out) : NULL, from = 0;
    if (out) ids_from(ix, &from, out, live);
    pthread_rwlock_unlock(&ix->lock);
    if (live && !out) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory listing %zu ids", live);
    *ids = out;
    *n = live;
    return SAIL_OK;
}

void sail_index_get_info(sail_index *ix, sail_index_info *info) {
    if (!ix || !info) return;
    if (ix->rops) {
        ix->rops->info(ix->remote, info);
        return;
    }
    pthread_rwlock_rdlock(&ix->lock);
    memset(info, 0, sizeof *info);
    info->dim = ix->dim;
    info->metric = ix->metric;
    info->storage = ix->storage;
    info->kind = ix->kind;
    info->M = ix->M;
    info->ef_construction = ix->ef_construction;
    info->ef_search = ix->ef_search;
    info->seed = ix->seed;
    info->count = ix->n_slots - ix->n_dead;
    info->tombstones = ix->n_dead;
    size_t mem = ix->cap * (8 + 1 + (ix->payload ? sizeof(char *) : 0) + (ix->sqnorm ? 4 : 0) + ix->code_size) + ix->idmap.cap * 4 +
                 ix->tail_cap * (size_t)ix->dim * 4;
    if (ix->scales) mem += ix->cap * 4;
    if (!ix->code_size) mem += ix->map_slots * (size_t)ix->dim * 4; /* scanned, so resident */
    for (size_t s = 0; s < ix->n_slots; s++)
        if (ix_payload_own(ix, s)) mem += strlen(ix->payload[s]) + 1;
    if (ix->hnsw) mem += ix_hnsw_memory(ix->hnsw);
    info->memory_bytes = mem;
    info->log_bytes = ix->wal_bytes;
    pthread_rwlock_unlock(&ix->lock);
}

/* ---------------------------------------------------------- compact -- */

sail_status sail_index_compact(sail_index *ix, sail_error *err) {
    if (!ix) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_compact: NULL index");
    if (ix->rops) return ix_remote_refuse("sail_index_compact", err);
    pthread_rwlock_wrlock(&ix->lock);
    sail_status st = SAIL_OK;
    if (ix->n_dead) {
        size_t live = ix->n_slots - ix->n_dead, d = (size_t)ix->dim, j = 0;
        uint64_t *ids = sail_malloc((live ? live : 1) * 8);
        char **pay = sail_malloc((live ? live : 1) * sizeof *pay);
        float *tail = sail_malloc((live ? live : 1) * d * sizeof(float));
        sail_hnsw *old = ix->hnsw;
        ix->hnsw = NULL;
        if (!ids || !pay || !tail) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory compacting %zu items", live);
        if (!st && old && (st = ix_hnsw_new(ix, err))) ix->hnsw = NULL;
        if (st) {
            ix->hnsw = old;
            sail_free(ids); sail_free(pay); sail_free(tail);
            pthread_rwlock_unlock(&ix->lock);
            return st;
        }
        ix_hnsw_free(old);
        for (size_t s = 0; s < ix->n_slots; s++) {
            if (ix->dead[s]) continue;
            ids[j] = ix->ids[s];
            pay[j] = ix_payload_own(ix, s);
            memcpy(tail + j * d, ix_raw(ix, s), d * sizeof(float));
            j++;
        }
        /* Rebuild the slots from the gathered live items, in order. */
        sail_free(ix->tail);
        ix->tail = tail;
        ix->tail_cap = live;
        ix->map_slots = 0;
        ix->n_slots = ix->n_dead = 0;
        memset(ix->idmap.vals, 0, ix->idmap.cap * sizeof *ix->idmap.vals);
        ix->idmap.n = 0;
        for (size_t i = 0; i < live; i++) ix_append_slot(ix, ids[i], tail + i * d, pay[i]);
        sail_free(ids);
        sail_free(pay);
        if (ix->hnsw) st = ix_hnsw_insert(ix, 0, live, err);
    }
    if (!st && ix->dir) st = ix_snapshot_write(ix, err);
    pthread_rwlock_unlock(&ix->lock);
    return st;
}
