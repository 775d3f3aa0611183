/* bench_index.c: sail's index alone, in C, no Python: the harness to run
 * under perf (`perf record build/bench/bench_index --data DIR ...`). The
 * comparison with FAISS and hnswlib, with interleaved timings, is
 * bench/bench_index_peers.py, which calls sail through libsail.so.
 *
 *   bench_index --data DIR [--threads T] [--int8 0|1] [--only exact|hnsw]
 *
 * DIR holds x.npy (n x d float32, L2-normalised), q.npy (queries) and
 * gt.npy (their exact top-10 ids, int64), as bench_index_peers.py
 * --prepare writes them. Prints one line per result:
 *   sail exact threads=T qps=... recall=... log_seconds=... (adding all to the log)
 *   sail build threads=T seconds=... memory_mb=...
 *   sail hnsw ef=E threads=T qps=... recall=...
 *   sail hnsw-int8 ... (and its build and memory) with --int8 1
 * Indexes are built through the public API in a temporary directory
 * (inner product, M=16, ef_construction=40), so build times include
 * writing and fsync-ing the log; memory is sail_index_info.memory_bytes
 * after reopening from the snapshot (what the index holds: f32 vectors
 * for f32 storage; codes, not the f32 vectors, for int8). */
#include "sail.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K 10
static const int EFS[] = {10, 16, 32, 64, 128};

/* A 2-D little-endian .npy of descr ('<f4' or '<i8'): rows x cols. */
static void *load_npy(const char *dir, const char *name, const char *descr, long *rows, long *cols) {
    char path[4096], h[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f || fread(h, 1, 10, f) != 10 || memcmp(h, "\x93NUMPY", 6)) { fprintf(stderr, "%s: not .npy\n", path); exit(1); }
    size_t hl = (unsigned char)h[8] | (size_t)(unsigned char)h[9] << 8;
    if (hl >= sizeof h || fread(h, 1, hl, f) != hl) exit(1);
    h[hl] = 0;
    const char *s = strstr(h, "'shape': (");
    if (!strstr(h, descr) || !s || sscanf(s + 10, "%ld, %ld)", rows, cols) != 2) { fprintf(stderr, "%s: want 2-D %s\n", path, descr); exit(1); }
    size_t bytes = (size_t)*rows * *cols * 8;
    void *p = malloc(bytes);
    size_t esz = strstr(descr, "8") ? 8 : 4;
    if (!p || fread(p, esz, (size_t)*rows * *cols, f) != (size_t)*rows * *cols) { fprintf(stderr, "%s: short\n", path); exit(1); }
    fclose(f);
    return p;
}

static double recall(const sail_index_results *r, const int64_t *gt, long nq) {
    long hit = 0;
    for (long i = 0; i < nq; i++)
        for (int j = 0; j < r->counts[i]; j++)
            for (int t = 0; t < K; t++) hit += (int64_t)r->hits[i * r->k + j].id == gt[i * K + t];
    return (double)hit / (nq * K);
}

/* Queries per second (repeated for at least 1 s after a warm-up) and recall. */
static void search(sail_index *ix, const float *q, long nq, const int64_t *gt, int ef, int exact, double *qps, double *rec) {
    sail_search_options so = {.ef_search = ef, .exact = exact, .no_payload = 1};
    sail_index_results *r = NULL;
    sail_error e;
    if (sail_index_search(ix, q, (int)nq, K, &so, &r, &e)) { fprintf(stderr, "search: %s\n", e.msg); exit(1); }
    *rec = recall(r, gt, nq);
    sail_index_results_free(r);
    int n = 0;
    double t0 = bench_now(), t;
    do {
        sail_index_search(ix, q, (int)nq, K, &so, &r, &e);
        sail_index_results_free(r);
        n++;
    } while ((t = bench_now() - t0) < 1.0);
    *qps = nq * n / t;
}

static sail_index *build(const char *dir, sail_index_kind kind, sail_storage st, int threads, const float *x, long n,
                         int d, double *seconds) {
    sail_index_options o = {.dim = d, .metric = SAIL_METRIC_IP, .kind = kind, .storage = st, .M = 16,
                            .ef_construction = 40, .seed = 1, .n_threads = threads, .create = 1};
    sail_error e;
    sail_index *ix = sail_index_open(dir, &o, &e);
    uint64_t *ids = malloc((size_t)n * 8);
    if (!ix || !ids) { fprintf(stderr, "open: %s\n", e.msg); exit(1); }
    for (long i = 0; i < n; i++) ids[i] = (uint64_t)i;
    double t0 = bench_now();
    if (sail_index_add(ix, ids, x, NULL, (int)n, &e)) { fprintf(stderr, "add: %s\n", e.msg); exit(1); }
    *seconds = bench_now() - t0;
    free(ids);
    /* reopen from the snapshot: memory as a served index holds it */
    sail_index_close(ix, NULL);
    return sail_index_open(dir, &o, NULL);
}

static void rmrf(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(int argc, char **argv) {
    const char *data = NULL;
    int threads = 1, int8 = 0;
    const char *only = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--int8")) int8 = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
    }
    if (!data) {
        fprintf(stderr, "usage: bench_index --data DIR [--threads T] [--int8 0|1] [--only exact|hnsw]\n");
        return 2;
    }
    long n, d, nq, dq, ng, kg;
    float *x = load_npy(data, "x.npy", "'<f4'", &n, &d), *q = load_npy(data, "q.npy", "'<f4'", &nq, &dq);
    int64_t *gt = load_npy(data, "gt.npy", "'<i8'", &ng, &kg);
    if (dq != d || ng != nq || kg != K) { fprintf(stderr, "inconsistent data\n"); return 1; }
    char dir[] = "/tmp/sail-bench-index-XXXXXX", sub[4200];
    if (!mkdtemp(dir)) return 1;
    double secs, log_secs = 0, qps, rec;

    sail_index *ix;
    if (strcmp(only, "hnsw")) {
        snprintf(sub, sizeof sub, "%s/exact", dir);
        ix = build(sub, SAIL_INDEX_EXACT, SAIL_STORAGE_F32, threads, x, n, (int)d, &log_secs);
        search(ix, q, nq, gt, 0, 1, &qps, &rec);
        printf("sail exact threads=%d qps=%.1f recall=%.4f log_seconds=%.2f\n", threads, qps, rec, log_secs);
        fflush(stdout);
        sail_index_close(ix, NULL);
        rmrf(sub);
    }
    for (int pass = 0; strcmp(only, "exact") && pass < 1 + int8; pass++) {
        const char *what = pass ? "hnsw-int8" : "hnsw";
        snprintf(sub, sizeof sub, "%s/%s", dir, what);
        ix = build(sub, SAIL_INDEX_HNSW, pass ? SAIL_STORAGE_INT8 : SAIL_STORAGE_F32, threads, x, n, (int)d, &secs);
        sail_index_info info;
        sail_index_get_info(ix, &info);
        printf("sail build%s threads=%d seconds=%.2f memory_mb=%.1f\n", pass ? "-int8" : "", threads, secs,
               info.memory_bytes / 1048576.0);
        fflush(stdout);
        for (size_t i = 0; i < sizeof EFS / sizeof *EFS; i++) {
            search(ix, q, nq, gt, EFS[i], 0, &qps, &rec);
            printf("sail %s ef=%d threads=%d qps=%.1f recall=%.4f\n", what, EFS[i], threads, qps, rec);
            fflush(stdout);
        }
        sail_index_close(ix, NULL);
        rmrf(sub);
    }
    rmrf(dir);
    free(x); free(q); free(gt);
    return 0;
}
