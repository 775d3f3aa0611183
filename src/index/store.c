/* store.c: the index's memory below any policy: the id map (open
 * addressing over the slots' ids), the candidate heaps, distances from a
 * query to stored slots, growing the slot arrays, appending a slot (codes,
 * norms), huge-page buffers. The graph (hnsw.c), the log (wal.c) and the
 * snapshot build on these; nothing here calls them. */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
sail_status ix_idmap_reserve(sail_idmap *m, size_t extra) {
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
    if (ix_idmap_reserve(m, 1) != SAIL_OK) return SAIL_ERR_NOMEM;
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

sail_status ix_grow(void **p, size_t cap, size_t elem) {
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
void ix_advise_huge(void *p, size_t bytes) {
    sail_pages_huge(p, bytes);
}

int ix_payloads_needed(char *const *payloads, size_t n) {
    for (size_t i = 0; payloads && i < n; i++)
        if (payloads[i] && strcmp(payloads[i], "{}")) return 1;
    return 0;
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

/* ------------------------------------------------------------- pool -- */

void ix_run(sail_index *ix, sail_task_fn fn, void *ctx, int n_tasks) {
    if (pthread_mutex_trylock(&ix->pool_mu) == 0) {
        sail_pool_run(ix->pool, fn, ctx, n_tasks);
        pthread_mutex_unlock(&ix->pool_mu);
    } else {
        sail_pool_run(NULL, fn, ctx, n_tasks);
    }
}
