/* index.c: the sail_index handle: lifecycle, slots and the id map, adds and
 * deletes (log first, then memory), searches and item access. Exact
 * scanning is in exact.c, the graph in hnsw.c, files in wal.c/snapshot.c. */
#include "index_impl.h"
#include "fileio.h"

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

const char *sail_metric_name(sail_metric m) {
    switch (m) {
    case SAIL_METRIC_IP: return "ip";
    case SAIL_METRIC_COSINE: return "cosine";
    case SAIL_METRIC_L2: return "l2";
    }
    return "?";
}

const char *sail_storage_name(sail_storage s) {
    switch (s) {
    case SAIL_STORAGE_F32: return "f32";
    case SAIL_STORAGE_F16: return "f16";
    case SAIL_STORAGE_INT8: return "int8";
    }
    return "?";
}

const char *sail_index_kind_name(sail_index_kind k) {
    switch (k) {
    case SAIL_INDEX_EXACT: return "exact";
    case SAIL_INDEX_HNSW: return "hnsw";
    }
    return "?";
}

sail_status sail_metric_parse(const char *s, sail_metric *out) {
    for (int i = 0; i <= SAIL_METRIC_L2; i++)
        if (s && !strcmp(s, sail_metric_name((sail_metric)i))) { *out = (sail_metric)i; return SAIL_OK; }
    return SAIL_ERR_INVALID_ARG;
}

sail_status sail_storage_parse(const char *s, sail_storage *out) {
    for (int i = 0; i <= SAIL_STORAGE_INT8; i++)
        if (s && !strcmp(s, sail_storage_name((sail_storage)i))) { *out = (sail_storage)i; return SAIL_OK; }
    return SAIL_ERR_INVALID_ARG;
}

sail_status sail_index_kind_parse(const char *s, sail_index_kind *out) {
    for (int i = 0; i <= SAIL_INDEX_HNSW; i++)
        if (s && !strcmp(s, sail_index_kind_name((sail_index_kind)i))) { *out = (sail_index_kind)i; return SAIL_OK; }
    return SAIL_ERR_INVALID_ARG;
}

/* ----------------------------------------------------------- id map -- */

static size_t hash64(uint64_t k) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33;
    return (size_t)k;
}

static inline uint64_t idmap_key(const sail_idmap *m, size_t i) { return (*m->ids)[m->vals[i] - 1]; }

static sail_status idmap_init(sail_idmap *m, uint64_t *const *ids, size_t cap_hint) {
    size_t cap = 64;
    while (cap * 3 < cap_hint * 4) cap <<= 1; /* load <= 3/4 */
    m->vals = sail_calloc(cap, sizeof *m->vals);
    m->cap = m->vals ? cap : 0;
    m->n = 0;
    m->ids = ids;
    return m->vals ? SAIL_OK : SAIL_ERR_NOMEM;
}

void ix_idmap_free(sail_idmap *m) {
    sail_free(m->vals);
    m->vals = NULL;
    m->cap = m->n = 0;
}

long ix_idmap_get(const sail_idmap *m, uint64_t key) {
    if (!m->cap) return -1;
    for (size_t i = hash64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->vals[i]) return -1;
        if (idmap_key(m, i) == key) return (long)m->vals[i] - 1;
    }
}

/* Map key (= ids[val - 1]) to val. */
static void idmap_insert_raw(sail_idmap *m, uint64_t key, uint32_t val) {
    size_t i = hash64(key) & (m->cap - 1);
    while (m->vals[i] && idmap_key(m, i) != key) i = (i + 1) & (m->cap - 1);
    if (!m->vals[i]) m->n++;
    m->vals[i] = val;
}

/* Grow so that `extra` more keys fit under a 3/4 load factor. */
static sail_status idmap_reserve(sail_idmap *m, size_t extra) {
    if ((m->n + extra) * 4 <= m->cap * 3) return SAIL_OK;
    sail_idmap g;
    if (idmap_init(&g, m->ids, m->n + extra) != SAIL_OK) return SAIL_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->vals[i]) idmap_insert_raw(&g, idmap_key(m, i), m->vals[i]);
    ix_idmap_free(m);
    *m = g;
    return SAIL_OK;
}

sail_status ix_idmap_put(sail_idmap *m, uint64_t key, uint32_t slot) {
    if (idmap_reserve(m, 1) != SAIL_OK) return SAIL_ERR_NOMEM;
    idmap_insert_raw(m, key, slot + 1);
    return SAIL_OK;
}

void ix_idmap_del(sail_idmap *m, uint64_t key) {
    if (!m->cap) return;
    size_t mask = m->cap - 1, i = hash64(key) & mask;
    while (m->vals[i] && idmap_key(m, i) != key) i = (i + 1) & mask;
    if (!m->vals[i]) return;
    m->vals[i] = 0; m->n--;
    /* Backward shift: move later entries of the run into the hole when
     * their home position does not lie cyclically in (hole, j]. */
    for (size_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
        size_t h = hash64(idmap_key(m, j)) & mask;
        if (((j - h) & mask) >= ((j - i) & mask)) {
            m->vals[i] = m->vals[j];
            m->vals[j] = 0; i = j;
        }
    }
}

/* ------------------------------------------------------------- heap -- */

static inline int cand_worse(ix_cand a, ix_cand b) { /* a ranks after b */
    return a.dist > b.dist || (a.dist == b.dist && a.slot > b.slot);
}

void ix_heap_push(ix_heap *h, float dist, uint32_t slot) {
    ix_cand c = {dist, slot};
    if (h->n < h->k) {
        int i = h->n++;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!cand_worse(c, h->c[p])) break;
            h->c[i] = h->c[p]; i = p;
        }
        h->c[i] = c;
        return;
    }
    if (h->k == 0 || !cand_worse(h->c[0], c)) return;
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        ix_cand big = c;
        if (l < h->n && cand_worse(h->c[l], big)) { m = l; big = h->c[l]; }
        if (r < h->n && cand_worse(h->c[r], big)) m = r;
        if (m == i) break;
        h->c[i] = h->c[m]; i = m;
    }
    h->c[i] = c;
}

static int cand_cmp(const void *a, const void *b) {
    ix_cand x = *(const ix_cand *)a, y = *(const ix_cand *)b;
    return cand_worse(x, y) ? 1 : cand_worse(y, x) ? -1 : 0;
}

void ix_heap_sort(ix_heap *h) { qsort(h->c, (size_t)h->n, sizeof *h->c, cand_cmp); }

/* -------------------------------------------------------- distances -- */

float ix_dist_vec(const sail_index *ix, const float *q, const float *x) {
    return ix->metric == SAIL_METRIC_L2 ? ix->dt->l2_f32(q, x, ix->dim) : -ix->dt->dot_f32(q, x, ix->dim);
}

float ix_dist_raw(const sail_index *ix, const float *q, size_t slot) {
    return ix_dist_vec(ix, q, ix_raw(ix, slot));
}

const float *ix_raw_read(const sail_index *ix, size_t slot, float *buf) {
    size_t bytes = (size_t)ix->dim * sizeof(float);
    if (ix->code_size && slot < ix->map_slots && ix->snap_fd >= 0 &&
        pread(ix->snap_fd, buf, bytes, (off_t)(IX_SNAP_HEADER + slot * bytes)) == (ssize_t)bytes)
        return buf;
    return ix_raw(ix, slot);
}

float ix_dist_code(const sail_index *ix, const float *q, size_t slot) {
    if (!ix->code_size) return ix_dist_raw(ix, q, slot);
    const uint8_t *c = ix->codes + slot * ix->code_size;
    int l2 = ix->metric == SAIL_METRIC_L2;
    switch (ix->storage) {
    case SAIL_STORAGE_F16:
        return l2 ? ix->dt->l2_f16(q, (const uint16_t *)c, ix->dim) : -ix->dt->dot_f16(q, (const uint16_t *)c, ix->dim);
    case SAIL_STORAGE_INT8:
        return l2 ? ix->dt->l2_i8(q, (const int8_t *)c, ix->scales[slot], ix->dim)
                  : -ix->dt->dot_i8(q, (const int8_t *)c, ix->scales[slot], ix->dim);
    default:
        return ix_dist_raw(ix, q, slot);
    }
}

/* ------------------------------------------------------------ slots -- */

static sail_status grow(void **p, size_t cap, size_t elem) {
    size_t bytes;
    if (!sail_mul_ok(cap, elem, &bytes)) return SAIL_ERR_NOMEM;
    void *q = sail_realloc(*p, bytes ? bytes : 1);
    if (!q) return SAIL_ERR_NOMEM;
    *p = q;
    return SAIL_OK;
}

/* Huge pages for the 2 MiB-aligned inside of a grown array that searches
 * and construction read scattered (codes, vectors); pages not yet touched
 * (the grown part) come as huge pages. Advice only. */
static void advise_huge(void *p, size_t bytes) {
    uintptr_t mask = ~(uintptr_t)(IX_HUGE_PAGE - 1);
    uintptr_t a = ((uintptr_t)p + IX_HUGE_PAGE - 1) & mask, b = ((uintptr_t)p + bytes) & mask;
    if (b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
}

int ix_payloads_needed(char *const *payloads, size_t n) {
    for (size_t i = 0; payloads && i < n; i++)
        if (payloads[i] && strcmp(payloads[i], "{}")) return 1;
    return 0;
}

sail_status ix_reserve(sail_index *ix, size_t need, int payloads, sail_error *err) {
    if (need > SAIL_INDEX_MAX_ITEMS)
        return sail_set_error(err, SAIL_ERR_LIMIT, "index would hold %zu slots; the limit is %u",
                              need, SAIL_INDEX_MAX_ITEMS);
    if (idmap_reserve(&ix->idmap, need - ix->n_slots) != SAIL_OK)
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory growing the id map");
    if (need > ix->cap) {
        size_t cap = SAIL_MAX(need, ix->cap + ix->cap / 2); /* exact when loading */
        if (grow((void **)&ix->ids, cap, 8) || grow((void **)&ix->dead, cap, 1) ||
            (ix->payload && grow((void **)&ix->payload, cap, sizeof(char *))) ||
            (ix->metric == SAIL_METRIC_L2 && grow((void **)&ix->sqnorm, cap, 4)) ||
            (ix->code_size && grow((void **)&ix->codes, cap, ix->code_size)) ||
            (ix->storage == SAIL_STORAGE_INT8 && grow((void **)&ix->scales, cap, 4)))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory growing the index to %zu items", cap);
        ix->cap = cap;
        if (ix->codes) advise_huge(ix->codes, cap * ix->code_size);
    }
    if (payloads && !ix->payload && ix->cap && !(ix->payload = sail_calloc(ix->cap, sizeof *ix->payload)))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a payload table of %zu items", ix->cap);
    if (ix->hnsw && ix_hnsw_reserve(ix->hnsw, ix->cap, err)) return SAIL_ERR_NOMEM;
    size_t tail_need = need > ix->map_slots ? need - ix->map_slots : 0;
    if (tail_need > ix->tail_cap) {
        size_t cap = SAIL_MAX(tail_need, ix->tail_cap + ix->tail_cap / 2);
        size_t row = (size_t)ix->dim * sizeof(float);
        if (grow((void **)&ix->tail, cap, row))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %zu vectors of %d floats", cap, ix->dim);
        ix->tail_cap = cap;
        advise_huge(ix->tail, cap * row);
    }
    return SAIL_OK;
}

/* Squared norm of what scans read (the decoded code for f16/int8), for
 * the many-query scan of L2: |q - x|^2 = |q|^2 + |x|^2 - 2 q.x. */
static void set_sqnorm(sail_index *ix, size_t s) {
    const uint8_t *c = ix->code_size ? ix->codes + s * ix->code_size : NULL;
    float n = 0;
    if (ix->storage == SAIL_STORAGE_F16) {
        for (int i = 0; i < ix->dim; i++) {
            float v = sail_f16_to_f32(((const uint16_t *)c)[i]);
            n += v * v;
        }
    } else if (ix->storage == SAIL_STORAGE_INT8) {
        int64_t q = 0;
        for (int i = 0; i < ix->dim; i++) q += (int)((const int8_t *)c)[i] * ((const int8_t *)c)[i];
        n = (float)q * ix->scales[s] * ix->scales[s];
    } else {
        const float *x = ix_raw(ix, s);
        n = ix->dt->dot_f32(x, x, ix->dim);
    }
    ix->sqnorm[s] = n;
}

void ix_append_slot(sail_index *ix, uint64_t id, const float *vec, char *payload) {
    size_t s = ix->n_slots++, d = (size_t)ix->dim;
    ix->ids[s] = id;
    ix->dead[s] = 0;
    if (payload && !strcmp(payload, "{}")) { /* the common empty payload costs nothing */
        sail_free(payload);
        payload = NULL;
    }
    if (ix->payload) ix->payload[s] = payload; /* reserved with payloads set when payload != NULL */
    if (s >= ix->map_slots) {
        float *raw = ix->tail + (s - ix->map_slots) * d;
        if (raw != vec) memcpy(raw, vec, d * sizeof(float));
    }
    const float *raw = ix_raw(ix, s);
    if (ix->storage == SAIL_STORAGE_F16) {
        uint16_t *c = (uint16_t *)(ix->codes + s * ix->code_size);
        for (size_t i = 0; i < d; i++) c[i] = sail_f32_to_f16(raw[i]);
    } else if (ix->storage == SAIL_STORAGE_INT8) {
        ix->scales[s] = sail_quantize_i8((int8_t *)(ix->codes + s * ix->code_size), raw, (int)d);
    }
    if (ix->metric == SAIL_METRIC_L2) set_sqnorm(ix, s);
    ix_idmap_put(&ix->idmap, id, (uint32_t)s); /* room reserved: cannot fail */
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

/* Appends (vectors normalised for cosine by the caller) after ix_reserve;
 * takes ownership of payloads[i]. Only the graph insert can fail. */
static sail_status apply_add_reserved(sail_index *ix, const uint64_t *ids, const float *vecs,
                                      char **payloads, int n, sail_error *err) {
    size_t from = ix->n_slots;
    for (int i = 0; i < n; i++) {
        mark_dead(ix, ids[i]);
        ix_append_slot(ix, ids[i], vecs + (size_t)i * ix->dim, payloads[i]);
        payloads[i] = NULL;
    }
    return ix->hnsw ? ix_hnsw_insert(ix, from, ix->n_slots, err) : SAIL_OK;
}


static size_t page_round(size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (bytes + page - 1) / page * page;
}

void *ix_huge_alloc(size_t bytes) {
    size_t len = page_round(bytes);
    if (!bytes || len < bytes || len + IX_HUGE_PAGE < len) return NULL;
    uint8_t *raw = mmap(NULL, len + IX_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + IX_HUGE_PAGE - 1) & ~(uintptr_t)(IX_HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (raw + len + IX_HUGE_PAGE > p + len) munmap(p + len, (size_t)(raw + len + IX_HUGE_PAGE - (p + len)));
    madvise(p, len, MADV_HUGEPAGE); /* advice only: without THP these are ordinary pages */
    return p;
}

void ix_huge_free(void *p, size_t bytes) {
    if (p) munmap(p, page_round(bytes));
}

void ix_normalize_rows(float *v, size_t n, int d) {
    for (size_t i = 0; i < n; i++) {
        float *x = v + i * (size_t)d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)x[j] * x[j];
        if (ss > 0) {
            float inv = (float)(1.0 / sqrt(ss));
            for (int j = 0; j < d; j++) x[j] *= inv;
        }
    }
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
    st = apply_add_reserved(ix, ids, vecs, payloads, n, err);
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

/* Recovery: move the unusable log, if any, out of the way (to
 * index.wal.orphan, or .orphan.N when that exists; *kept gets the name or
 * "") and start an empty one for the snapshot. */
static sail_status set_log_aside(sail_index *ix, char *kept, size_t kn, sail_error *err) {
    char from[4096], to[sizeof from + 16];
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
        ix->dim = opts->dim;
        ix->metric = opts->metric;
        ix->storage = opts->storage;
        ix->kind = opts->kind;
        ix->M = opts->M ? opts->M : 16;
        ix->ef_construction = opts->ef_construction ? opts->ef_construction : 200;
        ix->ef_search = opts->ef_search ? opts->ef_search : 64;
        ix->seed = opts->seed;
        ix->uid = ix_new_uid();
        /* The log first (generation 0, stale once the snapshot is there),
         * so that a snapshot never stands without a log: a missing log
         * always means lost changes. */
        if ((st = ix_configure(ix, err)) || (st = ix_wal_reset(ix, err)) || (st = ix_snapshot_write(ix, err))) goto fail;
    } else {
        st = sail_set_error(err, SAIL_ERR_INVALID_ARG, "no index here (index.snap is missing)");
        goto fail;
    }
    if (opts) {
        if (opts->ef_search > 0 && opts->ef_search <= 100000) ix->ef_search = opts->ef_search;
        ix->deterministic = opts->deterministic;
        ix->n_threads = opts->n_threads;
    }
    ix->pool = sail_pool_new(ix->n_threads);
    if (!ix->pool) {
        st = sail_set_error(err, SAIL_ERR_NOMEM, "cannot start index threads");
        goto fail;
    }
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

sail_index *sail_index_open(const char *dir, const sail_index_options *opts, sail_error *err) {
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

sail_status sail_index_close(sail_index *ix, sail_error *err) {
    if (!ix) return SAIL_OK;
    sail_status st = SAIL_OK;
    if (ix->wal_records) st = ix_snapshot_write(ix, err);
    ix_free(ix);
    return st;
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
        if (!st) st = ix_wal_append_add(ix, ids, vectors, canon, n, err);
        if (!st) st = apply_add_reserved(ix, ids, vectors, canon, n, err);
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
    pthread_rwlock_wrlock(&ix->lock);
    sail_status st = ix_wal_append_delete(ix, ids, n, err);
    int k = st ? 0 : ix_apply_delete(ix, ids, n);
    pthread_rwlock_unlock(&ix->lock);
    if (!st && n_deleted) *n_deleted = k;
    return st;
}

/* -------------------------------------------------------------- run -- */

void ix_run(sail_index *ix, sail_task_fn fn, void *ctx, int n_tasks) {
    if (pthread_mutex_trylock(&ix->pool_mu) == 0) {
        sail_pool_run(ix->pool, fn, ctx, n_tasks);
        pthread_mutex_unlock(&ix->pool_mu);
    } else {
        sail_pool_run(NULL, fn, ctx, n_tasks);
    }
}

/* ----------------------------------------------------------- access -- */

sail_status sail_index_get(sail_index *ix, uint64_t id, float *vec, char **payload, sail_error *err) {
    if (!ix) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_index_get: NULL index");
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

size_t sail_index_ids(sail_index *ix, uint64_t *ids, size_t cap) {
    if (!ix) return 0;
    pthread_rwlock_rdlock(&ix->lock);
    size_t k = 0;
    for (size_t s = 0; s < ix->n_slots; s++) {
        if (ix->dead[s]) continue;
        if (k < cap && ids) ids[k] = ix->ids[s];
        k++;
    }
    pthread_rwlock_unlock(&ix->lock);
    return k;
}

void sail_index_get_info(sail_index *ix, sail_index_info *info) {
    if (!ix || !info) return;
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
    if (!st) st = ix_snapshot_write(ix, err);
    pthread_rwlock_unlock(&ix->lock);
    return st;
}
