/* faiss_write.c: a FAISS index file (faiss/impl/index_write.cpp layout, as
 * read by faiss.read_index 1.7.x) from the live items: IndexFlatIP /
 * IndexFlatL2, or IndexHNSWFlat for an HNSW index. FAISS ids are
 * positions in insertion order. All fields little-endian:
 *
 *   IndexFlat: fourcc "IxFI" (IP) | "IxF2" (L2), then the index header
 *     d i32, ntotal i64, 2 x dummy i64 (1<<20), is_trained u8, metric i32
 *   (0 = inner product, 1 = L2), then u64 count of floats, the floats.
 *   IndexHNSWFlat: "IHNf", the index header, the HNSW fields
 *     assign_probas (u64 n, f64[n]), cum_nneighbor_per_level (u64 n, i32[n]),
 *     levels (u64 n, i32[n]: level + 1 per node), offsets (u64 n, u64[n]),
 *     neighbors (u64 n, i32[n], -1 = empty), entry_point i32,
 *     max_level i32, efConstruction i32, efSearch i32, upper_beam i32,
 *   then its storage as a nested IndexFlat. */
#include "index_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct fw { FILE *f; int ok; } fw;

static void put(fw *w, const void *p, size_t n) {
    if (w->ok && n) w->ok = fwrite(p, 1, n, w->f) == n;
}
static void put32(fw *w, int32_t v) { put(w, &v, 4); }
static void put64(fw *w, int64_t v) { put(w, &v, 8); }

static void index_header(fw *w, const sail_index *ix, size_t n) {
    put32(w, ix->dim);
    put64(w, (int64_t)n);
    put64(w, 1 << 20);
    put64(w, 1 << 20);
    uint8_t trained = 1;
    put(w, &trained, 1);
    put32(w, ix->metric == SAIL_METRIC_L2 ? 1 : 0);
}

static void flat(fw *w, const sail_index *ix, size_t live) {
    put(w, ix->metric == SAIL_METRIC_L2 ? "IxF2" : "IxFI", 4);
    index_header(w, ix, live);
    put64(w, (int64_t)(live * (size_t)ix->dim));
    for (size_t s = 0; s < ix->n_slots; s++)
        if (!ix->dead[s]) put(w, ix_raw(ix, s), (size_t)ix->dim * 4);
}

static sail_status hnsw(fw *w, const sail_index *ix, sail_error *err);

sail_status ix_faiss_write(sail_index *ix, const char *path, sail_error *err) {
    if (ix->hnsw && ix->n_dead)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "the HNSW graph holds %zu deleted items; run compact before a FAISS export", ix->n_dead);
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    fw w = {f, 1};
    sail_status st = SAIL_OK;
    if (ix->hnsw) st = hnsw(&w, ix, err);
    else flat(&w, ix, ix->n_slots - ix->n_dead);
    if (fclose(f) != 0) w.ok = 0;
    if (!st && !w.ok) st = sail_set_error(err, SAIL_ERR_IO, "writing %s: %s", path, strerror(errno ? errno : EIO));
    if (st) remove(path);
    return st;
}

/* Without tombstones slots are FAISS ids. FAISS gives a level-l node
 * cum[l+1] neighbour entries: 2M at level 0, M above, as sail does. */
static sail_status hnsw(fw *w, const sail_index *ix, sail_error *err) {
    size_t n = ix->n_slots;
    int M = ix->M, top = ix_hnsw_max_level(ix->hnsw);
    double mult = 1.0 / log((double)M);
    /* FAISS's default level probabilities for M, extended to our top level */
    int n_lv = 0;
    double probas[64];
    for (int l = 0; l < 64; l++) {
        double p = exp(-l / mult) * (1 - exp(-1 / mult));
        if (p < 1e-9 && l > top) break;
        probas[n_lv++] = p;
    }
    put(w, "IHNf", 4);
    index_header(w, ix, n);
    put64(w, n_lv);
    put(w, probas, (size_t)n_lv * 8);
    put64(w, n_lv + 1);
    put32(w, 0);
    for (int l = 0, c = 0; l < n_lv; l++) put32(w, c += l == 0 ? 2 * M : M);
    put64(w, (int64_t)n);
    for (size_t s = 0; s < n; s++) put32(w, ix_hnsw_level(ix->hnsw, s) + 1);
    put64(w, (int64_t)n + 1);
    uint64_t off = 0;
    put64(w, 0);
    for (size_t s = 0; s < n; s++) {
        off += (uint64_t)(2 * M + M * ix_hnsw_level(ix->hnsw, s));
        put64(w, (int64_t)off);
    }
    put64(w, (int64_t)off);
    for (size_t s = 0; s < n && w->ok; s++)
        for (int l = 0; l <= ix_hnsw_level(ix->hnsw, s); l++) {
            const uint32_t *nb;
            int cnt = ix_hnsw_links(ix->hnsw, s, l, &nb), cap = l == 0 ? 2 * M : M;
            for (int j = 0; j < cap; j++) put32(w, j < cnt ? (int32_t)nb[j] : -1);
        }
    long ep = ix_hnsw_entry(ix->hnsw);
    put32(w, (int32_t)ep);
    put32(w, ep < 0 ? -1 : top);
    put32(w, ix->ef_construction);
    put32(w, ix->ef_search);
    put32(w, 1);
    flat(w, ix, n);
    return SAIL_OK;
}
