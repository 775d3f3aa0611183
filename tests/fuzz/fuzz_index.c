/* fuzz_index.c: libFuzzer harness for the index's snapshot and log readers.
 * The first input byte picks the reader: even = snapshot (index.snap image,
 * through sail_index_deserialize: what the Redis module's RDB loader runs),
 * odd = write-ahead log (index.wal image, replayed into a small cosine/int8
 * HNSW index). After a successful parse it walks what was built: every
 * payload through a filter, an HNSW search over the graph, every raw vector.
 * Built and run by tests/fuzz/run.sh; seeds come from seed_index.c. */
// sources: src/index/index.c src/index/store.c src/index/apply.c src/index/fileio.c src/index/wal.c src/index/snapshot.c src/index/payload.c src/index/hnsw.c src/index/distance.c src/index/distance_avx2.c src/index/distance_avx512.c src/kernels/numfmt.c src/core/alloc.c src/core/fault.c src/core/error.c src/core/pool.c src/core/cpu.c
// libs: -ljansson -lz -lpthread -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#include "index/index_impl.h"
#include "index/fileio.h"

#include <stdlib.h>
#include <string.h>

static volatile float sink;

static void walk(sail_index *ix) {
    ix_filter *f = NULL;
    if (ix_filter_parse("modality=image,n=3", &f, NULL) == SAIL_OK) {
        for (size_t s = 0; s < ix->n_slots; s++)
            if (!ix->dead[s]) sink += (float)ix_filter_match(f, ix_payload(ix, s));
        ix_filter_free(f);
    }
    float *q = calloc((size_t)ix->dim, sizeof(float));
    if (!q) return;
    q[0] = 1;
    for (size_t s = 0; s < ix->n_slots; s++) sink += ix_dist_raw(ix, q, s) + ix_dist_code(ix, q, s);
    if (ix->hnsw) {
        ix_cand c[8];
        ix_heap h = {c, 0, 8};
        ix_hnsw_search(ix, q, 16, &h, NULL, NULL);
    }
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    sail_index *ix = ix_new_shell();
    if (!ix) return 0;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    sail_error err;
    if ((data[0] & 1) == 0) {
        /* an aligned copy, as sail_index_deserialize requires */
        uint8_t *copy = malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, buf, len);
            sail_index_options o = {.n_threads = 1};
            sail_index *d = sail_index_deserialize(copy, len, &o, &err);
            if (d) walk(d);
            sail_index_close(d, NULL);
            free(copy);
        }
    } else {
        ix->dim = 4;
        ix->metric = SAIL_METRIC_COSINE;
        ix->storage = SAIL_STORAGE_INT8;
        ix->kind = SAIL_INDEX_HNSW;
        ix->M = 4;
        ix->ef_construction = ix->ef_search = 8;
        if (len >= 24) memcpy(&ix->generation, buf + 16, 8); /* reach the records */
        if (len >= 40 && ix_rd32(buf + 8) == 2) memcpy(&ix->uid, buf + 24, 8); /* v2: its identity */
        size_t good;
        if (ix_configure(ix, &err) == SAIL_OK && ix_wal_parse(ix, buf, len, 1, &good, &err) == SAIL_OK) {
            if (good > len) abort();
            walk(ix);
        }
    }
    ix_free(ix);
    return 0;
}
