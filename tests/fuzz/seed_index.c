/* seed_index.c: writes small valid index images (snapshots and logs, each
 * behind the fuzz_index selector byte) into the corpus directory argv[1].
 * Built and run by tests/fuzz/run.sh before fuzz_index. */
// sources: src/index/index.c src/index/open.c src/index/remote.c src/index/store.c src/index/apply.c src/index/fileio.c src/index/wal.c src/index/snapshot.c src/index/payload.c src/index/hnsw.c src/index/distance.c src/index/distance_avx2.c src/index/distance_avx512.c src/kernels/numfmt.c src/core/alloc.c src/core/fault.c src/core/error.c src/core/pool.c src/core/cpu.c
// libs: -ljansson -lz -lpthread
#include "sail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* corpus/<name> = selector byte + the file dir/<file> */
static int copy_seed(const char *dir, const char *file, const char *corpus, const char *name, uint8_t sel) {
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/%s", dir, file);
    snprintf(to, sizeof to, "%s/%s", corpus, name);
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int ok = in && out && fputc(sel, out) != EOF;
    for (int c; ok && (c = fgetc(in)) != EOF;) ok = fputc(c, out) != EOF;
    if (in) fclose(in);
    if (out && fclose(out)) ok = 0;
    return ok ? 0 : -1;
}

static int make(const char *corpus, const char *tag, sail_index_kind kind, sail_storage st) {
    char dir[] = "/tmp/sail-seed-index-XXXXXX", name[64];
    if (!mkdtemp(dir)) return -1;
    sail_index_options o = {.dim = 4, .metric = SAIL_METRIC_COSINE, .storage = st, .kind = kind, .M = 4,
                            .ef_construction = 8, .ef_search = 8, .create = 1, .n_threads = 1};
    sail_index *ix = sail_index_open(dir, &o, NULL);
    if (!ix) return -1;
    const char *pay[3] = {"{\"modality\":\"image\",\"n\":3}", "{\"text\":\"中文\"}", NULL};
    float v[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0.5f, 0.5f, 0.5f, 0.5f};
    uint64_t ids[3] = {1, 2, 3}, more[3] = {4, 5, 6}, del = 2;
    int rc = sail_index_add(ix, ids, v, pay, 3, NULL) || sail_index_compact(ix, NULL) ||
             sail_index_add(ix, more, v, pay, 3, NULL) || sail_index_delete(ix, &del, 1, NULL, NULL);
    snprintf(name, sizeof name, "wal-%s", tag);
    rc = rc || copy_seed(dir, "index.wal", corpus, name, 1);
    sail_index_close(ix, NULL); /* snapshot with a tombstone */
    snprintf(name, sizeof name, "snap-%s", tag);
    rc = rc || copy_seed(dir, "index.snap", corpus, name, 0);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) rc = -1;
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int rc = make(argv[1], "exact-f32", SAIL_INDEX_EXACT, SAIL_STORAGE_F32) ||
             make(argv[1], "hnsw-int8", SAIL_INDEX_HNSW, SAIL_STORAGE_INT8) ||
             make(argv[1], "hnsw-f16", SAIL_INDEX_HNSW, SAIL_STORAGE_F16);
    if (rc) fprintf(stderr, "seed_index: failed\n");
    return rc ? 1 : 0;
}
