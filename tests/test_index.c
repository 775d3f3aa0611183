/* test_index.c: the vector index through its public API against a
 * double-precision brute-force reference computed here: every metric and
 * storage, the kernel and scan-tile paths, filters, deletes, replacement,
 * reopening (snapshot and log replay), compaction, HNSW recall and its
 * determinism, and argument errors. */
#include "sail.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define INDEX_TEST_TAG "index"
#include "index_fixtures.h"

/* Reference score of the metric in double (cosine normalises both). */
static double ref_score(sail_metric m, const float *q, const float *x, int d) {
    double dot = 0, qq = 0, xx = 0, l2 = 0;
    for (int i = 0; i < d; i++) {
        dot += (double)q[i] * x[i];
        qq += (double)q[i] * q[i];
        xx += (double)x[i] * x[i];
        l2 += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
    }
    if (m == SAIL_METRIC_L2) return l2;
    if (m == SAIL_METRIC_COSINE) return dot / sqrt(qq * xx);
    return dot;
}

/* Reference top-k ids (skipping ids with alive[i] == 0). */
static void ref_topk(sail_metric m, const float *q, const float *x, const uint8_t *alive, int n, int d, int k,
                     uint64_t *out, double *score) {
    for (int j = 0; j < k; j++) score[j] = m == SAIL_METRIC_L2 ? INFINITY : -INFINITY, out[j] = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        if (alive && !alive[i]) continue;
        double s = ref_score(m, q, x + (size_t)i * d, d);
        int better = m == SAIL_METRIC_L2 ? s < score[k - 1] : s > score[k - 1];
        if (!better) continue;
        int j = k - 1;
        while (j > 0 && (m == SAIL_METRIC_L2 ? s < score[j - 1] : s > score[j - 1])) {
            score[j] = score[j - 1]; out[j] = out[j - 1]; j--;
        }
        score[j] = s; out[j] = (uint64_t)i;
    }
}

/* Fraction of the reference top-k found in the results of query qi. */
static double recall(const sail_index_results *r, int qi, const uint64_t *ref, int k) {
    int hit = 0;
    for (int j = 0; j < r->counts[qi]; j++)
        for (int t = 0; t < k; t++) hit += r->hits[(size_t)qi * r->k + j].id == ref[t];
    return (double)hit / k;
}

static sail_index *make(const char *dir, int d, sail_metric m, sail_storage s, sail_index_kind kind) {
    sail_index_options o = {.dim = d, .metric = m, .storage = s, .kind = kind, .seed = 7, .create = 1,
                            .M = 12, .ef_construction = 100, .n_threads = 2};
    sail_error e = {0};
    sail_index *ix = sail_index_open(dir, &o, &e);
    if (!ix) printf("# open failed: %s\n", e.msg);
    return ix;
}

static int add_all(sail_index *ix, const float *x, int n, int d, int with_payload) {
    uint64_t *ids = malloc((size_t)n * 8);
    char **pay = malloc((size_t)n * sizeof *pay);
    for (int i = 0; i < n; i++) {
        ids[i] = (uint64_t)i;
        pay[i] = malloc(96);
        snprintf(pay[i], 96, "{\"text\":\"item %d\",\"modality\":\"%s\",\"n\":%d}", i, i % 3 ? "text" : "image", i);
    }
    sail_error e = {0};
    sail_status st = sail_index_add(ix, ids, x, with_payload ? (const char *const *)pay : NULL, n, &e);
    if (st) printf("# add failed: %s\n", e.msg);
    for (int i = 0; i < n; i++) free(pay[i]);
    free(pay); free(ids);
    (void)d;
    return st;
}

/* Exact search equals the reference for every metric and storage, one
 * query (kernel path) and many (scan-tile path). */
static void test_exact(void) {
    const int n = 3000, d = 67, k = 10, nq = 9;
    float *x = clustered(n, d, 20, 1), *q = clustered(nq, d, 20, 2);
    uint64_t ref[10];
    double rs[10];
    for (int m = 0; m <= SAIL_METRIC_L2; m++)
        for (int s = 0; s <= SAIL_STORAGE_INT8; s++) {
            sail_index *ix = make(tmpdir("exact"), d, (sail_metric)m, (sail_storage)s, SAIL_INDEX_EXACT);
            if (!ix || add_all(ix, x, n, d, 1)) { CHECK(0, "create exact index"); continue; }
            for (int many = 0; many < 2; many++) {
                sail_index_results *r = NULL;
                sail_error e = {0};
                int nqq = many ? nq : 1;
                sail_status st = sail_index_search(ix, q, nqq, k, NULL, &r, &e);
                double worst_rec = 1, max_err = 0;
                for (int qi = 0; !st && qi < nqq; qi++) {
                    ref_topk((sail_metric)m, q + (size_t)qi * d, x, NULL, n, d, k, ref, rs);
                    double rec = recall(r, qi, ref, k);
                    if (rec < worst_rec) worst_rec = rec;
                    for (int j = 0; j < r->counts[qi]; j++) {
                        const sail_index_hit *h = &r->hits[(size_t)qi * k + j];
                        double want = ref_score((sail_metric)m, q + (size_t)qi * d, x + h->id * d, d);
                        double err = fabs(h->score - want) / (fabs(want) + 1);
                        if (err > max_err) max_err = err;
                    }
                }
                /* f32 is exact up to rounding; f16/int8 are rescored in f32
                 * from 4k+ candidates, so their top-k matches on this data */
                double need_rec = s == SAIL_STORAGE_F32 ? 1.0 : 0.9;
                CHECK(!st && worst_rec >= need_rec && max_err < 1e-4,
                      "exact %s/%s %s: recall@10 %.2f (need %.2f), score error %.2g",
                      sail_metric_name((sail_metric)m), sail_storage_name((sail_storage)s),
                      many ? "9 queries (scan tiles)" : "1 query", worst_rec, need_rec, max_err);
                sail_index_results_free(r);
            }
            sail_index_close(ix, NULL);
        }
    rmrf(g_dir);
    free(x); free(q);
}

/* Deletes, replacement, filters and payloads, then the same after reopening
 * (log replay) and after a snapshot and compaction. */
static void test_lifecycle(void) {
    const int n = 500, d = 16, k = 5;
    float *x = clustered(n, d, 5, 3);
    const char *dir = tmpdir("life");
    sail_index *ix = make(dir, d, SAIL_METRIC_L2, SAIL_STORAGE_F32, SAIL_INDEX_EXACT);
    CHECK(ix && !add_all(ix, x, n, d, 1), "create and add %d items", n);
    if (!ix) return;
    uint8_t alive[500];
    memset(alive, 1, sizeof alive);
    uint64_t del[50];
    for (int i = 0; i < 50; i++) del[i] = (uint64_t)(i * 7), alive[i * 7] = 0;
    int nd = 0;
    sail_error e = {0};
    CHECK(sail_index_delete(ix, del, 50, &nd, &e) == SAIL_OK && nd == 50, "delete 50 ids (%d present)", nd);
    CHECK(sail_index_delete(ix, del, 1, &nd, &e) == SAIL_OK && nd == 0, "deleting again finds nothing");
    /* replace id 1 with the vector of id 2 */
    uint64_t one = 1;
    CHECK(sail_index_add(ix, &one, x + 2 * d, (const char *[]){"{\"text\":\"replaced\"}"}, 1, &e) == SAIL_OK,
          "replace id 1");
    memcpy(x + d, x + 2 * d, d * sizeof(float));
    for (int round = 0; round < 3; round++) {
        if (round == 1) { /* reopen: the log is replayed */
            sail_index_close(ix, NULL);
            ix = sail_index_open(dir, NULL, &e);
        } else if (round == 2) {
            CHECK(sail_index_compact(ix, &e) == SAIL_OK, "compact");
            sail_index_close(ix, NULL);
            ix = sail_index_open(dir, NULL, &e);
        }
        CHECK(ix != NULL, "open round %d: %s", round, ix ? "" : e.msg);
        if (!ix) break;
        sail_index_info info;
        sail_index_get_info(ix, &info);
        CHECK(info.count == 450 && info.dim == d && info.metric == SAIL_METRIC_L2, "round %d: count %zu", round, info.count);
        uint64_t ref[5];
        double rs[5];
        int ok = 1;
        for (int qi = 0; qi < 20; qi++) {
            sail_index_results *r = NULL;
            const float *q = x + (size_t)(qi * 13 % n) * d;
            ref_topk(SAIL_METRIC_L2, q, x, alive, n, d, k, ref, rs);
            if (sail_index_search(ix, q, 1, k, NULL, &r, &e) || recall(r, 0, ref, k) < 1) ok = 0;
            sail_index_results_free(r);
        }
        CHECK(ok, "round %d: 20 queries match the reference after deletes", round);
        /* filter: only images (ids divisible by 3), never deleted ones */
        uint8_t img[500];
        for (int i = 0; i < n; i++) img[i] = alive[i] && i % 3 == 0 && i != 1;
        sail_search_options so = {.filter = "modality=image"};
        sail_index_results *r = NULL;
        ref_topk(SAIL_METRIC_L2, x, x, img, n, d, k, ref, rs);
        sail_status st = sail_index_search(ix, x, 1, k, &so, &r, &e);
        CHECK(!st && r->counts[0] == k && recall(r, 0, ref, k) == 1 && strstr(r->hits[0].payload, "\"modality\":\"image\""),
              "round %d: filter modality=image", round);
        sail_index_results_free(r);
        so.filter = "n=45,modality=image";
        st = sail_index_search(ix, x, 1, k, &so, &r, &e);
        CHECK(!st && r->counts[0] == 1 && r->hits[0].id == 45, "round %d: numeric filter n=45 finds one item", round);
        sail_index_results_free(r);
        char *p = NULL;
        float v[16];
        CHECK(sail_index_get(ix, 1, v, &p, &e) == SAIL_OK && !strcmp(p, "{\"text\":\"replaced\"}") &&
              !memcmp(v, x + d, sizeof v), "round %d: get returns the replaced item", round);
        free(p);
        CHECK(sail_index_get(ix, 7, v, NULL, &e) == SAIL_ERR_INVALID_ARG, "round %d: get of a deleted id fails", round);
        uint64_t *ids = NULL;
        size_t nids = 0;
        int in_order = sail_index_list_ids(ix, &ids, &nids, &e) == SAIL_OK && nids == 450 && ids[449] == 1;
        for (size_t i = 0, want = 0; in_order && i < 449; i++, want++) {
            while (!alive[want] || want == 1) want++;
            in_order = ids[i] == want;
        }
        CHECK(in_order && sail_index_ids(ix, NULL, 0) == nids, "round %d: sail_index_list_ids lists the 450 live ids "
              "in insertion order (the replaced id 1 last)", round);
        sail_free(ids);
    }
    if (ix) {
        sail_status st = sail_index_search(ix, x, 1, 0, NULL, &(sail_index_results *){0}, &e);
        CHECK(st == SAIL_ERR_INVALID_ARG, "k = 0 is rejected: %s", e.msg);
        float bad[16] = {NAN};
        uint64_t id = 9999;
        CHECK(sail_index_add(ix, &id, bad, NULL, 1, &e) == SAIL_ERR_INVALID_ARG, "a NaN vector is rejected: %s", e.msg);
        CHECK(sail_index_add(ix, &id, x, (const char *[]){"[1,2]"}, 1, &e) == SAIL_ERR_INVALID_ARG,
              "a payload that is not an object is rejected: %s", e.msg);
        CHECK(sail_index_add(ix, &id, x, (const char *[]){"{\"a\":"}, 1, &e) == SAIL_ERR_INVALID_ARG,
              "malformed payload JSON is rejected: %s", e.msg);
        uint64_t *none = &id;
        size_t n_none = 7;
        sail_index *empty = sail_index_new(&(sail_index_options){.dim = 4}, &e);
        CHECK(empty && sail_index_list_ids(empty, &none, &n_none, &e) == SAIL_OK && n_none == 0 && !none &&
              sail_index_list_ids(empty, NULL, &n_none, &e) == SAIL_ERR_INVALID_ARG,
              "an empty index lists no ids (NULL); a NULL output is rejected: %s", e.msg);
        sail_index_close(empty, NULL);
        sail_index *again = sail_index_open(dir, NULL, &e);
        CHECK(!again && e.status == SAIL_ERR_IO, "a second open of the same directory fails: %s", e.msg);
        sail_index_close(again, NULL);
        sail_index_close(ix, NULL);
    }
    CHECK(!sail_index_open("/nonexistent/sail-index", NULL, &e), "opening a missing index fails: %s", e.msg);
    rmrf(dir);
    free(x);
}

/* HNSW: recall against the reference, deterministic build, reopen. */
static void test_hnsw(void) {
    const int n = 4000, d = 32, k = 10, nq = 50;
    /* queries: more draws from the same clusters, not indexed */
    float *x = clustered(n + nq, d, 30, 5), *q = x + (size_t)n * d;
    uint64_t ref[10];
    double rs[10];
    for (int s = 0; s <= SAIL_STORAGE_INT8; s++) {
        const char *dir = tmpdir("hnsw");
        sail_index *ix = make(dir, d, SAIL_METRIC_COSINE, (sail_storage)s, SAIL_INDEX_HNSW);
        if (!ix || add_all(ix, x, n, d, 0)) { CHECK(0, "build HNSW"); continue; }
        double rec = 0;
        sail_index_results *r = NULL;
        sail_error e = {0};
        sail_search_options so = {.ef_search = 64};
        if (!sail_index_search(ix, q, nq, k, &so, &r, &e))
            for (int qi = 0; qi < nq; qi++) {
                ref_topk(SAIL_METRIC_COSINE, q + (size_t)qi * d, x, NULL, n, d, k, ref, rs);
                rec += recall(r, qi, ref, k) / nq;
            }
        CHECK(rec >= 0.95, "HNSW cosine/%s ef 64: recall@10 %.3f >= 0.95", sail_storage_name((sail_storage)s), rec);
        sail_index_results_free(r);
        sail_index_close(ix, NULL);
        ix = sail_index_open(dir, NULL, &e);
        double rec2 = 0;
        r = NULL;
        if (ix && !sail_index_search(ix, q, nq, k, &so, &r, &e))
            for (int qi = 0; qi < nq; qi++) {
                ref_topk(SAIL_METRIC_COSINE, q + (size_t)qi * d, x, NULL, n, d, k, ref, rs);
                rec2 += recall(r, qi, ref, k) / nq;
            }
        CHECK(ix && fabs(rec2 - rec) < 1e-9, "HNSW reopened from its snapshot: same recall %.3f", rec2);
        sail_index_results_free(r);
        sail_index_close(ix, NULL);
        rmrf(dir);
    }
    /* deterministic builds: two indexes, same seed and order -> same results */
    sail_index_results *rr[2] = {0};
    for (int t = 0; t < 2; t++) {
        sail_index_options o = {.dim = d, .metric = SAIL_METRIC_L2, .kind = SAIL_INDEX_HNSW, .seed = 11,
                                .create = 1, .n_threads = 2, .deterministic = 1, .M = 8, .ef_construction = 40};
        sail_error e = {0};
        sail_index *ix = sail_index_open(tmpdir(t ? "det1" : "det0"), &o, &e);
        if (ix && !add_all(ix, x, n, d, 0)) sail_index_search(ix, q, nq, k, &(sail_search_options){.ef_search = 10}, &rr[t], &e);
        sail_index_close(ix, NULL);
        rmrf(g_dir);
    }
    int same = rr[0] && rr[1];
    for (int i = 0; same && i < nq * k; i++)
        same = rr[0]->hits[i].id == rr[1]->hits[i].id && rr[0]->hits[i].score == rr[1]->hits[i].score;
    CHECK(same, "deterministic HNSW builds give identical results");
    sail_index_results_free(rr[0]);
    sail_index_results_free(rr[1]);
    free(x);
}

/* HNSW with tombstones, a filter, and after compaction. */
static void test_hnsw_delete(void) {
    const int n = 3000, d = 24, k = 10, nq = 40;
    float *x = clustered(n + nq, d, 20, 8), *q = x + (size_t)n * d;
    const char *dir = tmpdir("hdel");
    sail_index *ix = make(dir, d, SAIL_METRIC_IP, SAIL_STORAGE_F32, SAIL_INDEX_HNSW);
    if (!ix || add_all(ix, x, n, d, 1)) { CHECK(0, "build HNSW"); return; }
    uint8_t *alive = malloc(n), *img = malloc(n);
    uint64_t *del = malloc(n * 8);
    int nd = 0;
    for (int i = 0; i < n; i++) {
        alive[i] = i % 4 != 1;
        if (!alive[i]) del[nd++] = (uint64_t)i;
        img[i] = alive[i] && i % 3 == 0;
    }
    sail_error e = {0};
    CHECK(sail_index_delete(ix, del, nd, NULL, &e) == SAIL_OK, "HNSW: delete a quarter (%d)", nd);
    uint64_t ref[10];
    double rs[10];
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            sail_index_info info;
            CHECK(sail_index_compact(ix, &e) == SAIL_OK, "HNSW: compact");
            sail_index_get_info(ix, &info);
            CHECK(info.tombstones == 0 && info.count == (size_t)(n - nd), "HNSW: %zu items, %zu tombstones after compaction",
                  info.count, info.tombstones);
        }
        for (int f = 0; f < 2; f++) {
            sail_search_options so = {.ef_search = 80, .filter = f ? "modality=image" : NULL};
            sail_index_results *r = NULL;
            double rec = 0;
            int clean = 1;
            if (!sail_index_search(ix, q, nq, k, &so, &r, &e))
                for (int qi = 0; qi < nq; qi++) {
                    ref_topk(SAIL_METRIC_IP, q + (size_t)qi * d, x, f ? img : alive, n, d, k, ref, rs);
                    rec += recall(r, qi, ref, k) / nq;
                    for (int j = 0; j < r->counts[qi]; j++)
                        clean &= (f ? img : alive)[r->hits[(size_t)qi * k + j].id];
                }
            CHECK(r && clean && rec >= 0.9, "HNSW %s%s: recall@10 %.3f, no deleted%s item returned",
                  round ? "compacted" : "with tombstones", f ? ", filter modality=image" : "", rec, f ? " or non-image" : "");
            sail_index_results_free(r);
        }
    }
    sail_index_close(ix, NULL);
    rmrf(dir);
    free(alive); free(img); free(del); free(x);
}

/* A redis:// location whose Redis cannot be reached, or that is malformed,
 * fails cleanly (no Redis needed; tests/test_redis.py covers a real one).
 * Built without hiredis it says so instead. */
static void test_remote_errors(void) {
    sail_error e = {0};
    sail_index_options o = {.dim = 4, .create = 1};
    sail_index *ix = sail_index_open("redis://127.0.0.1:1/x", &o, &e);
    int no_hiredis = e.status == SAIL_ERR_UNSUPPORTED && strstr(e.msg, "without hiredis");
    CHECK(!ix && (no_hiredis || (e.status == SAIL_ERR_UNAVAILABLE && strstr(e.msg, "cannot connect to Redis at "
                                                                            "127.0.0.1:1"))),
          "redis:// with nothing listening: %s", e.msg);
    static const char *const bad[] = {"redis://", "redis://host:port", "redis://h:0/x", "redis://h:70000/x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ix = sail_index_open(bad[i], &o, &e);
        CHECK(!ix && (no_hiredis || (e.status == SAIL_ERR_INVALID_ARG && strstr(e.msg, bad[i]))),
              "malformed %s: %s", bad[i], e.msg);
    }
}

int main(void) {
    test_remote_errors();
    test_exact();
    test_lifecycle();
    test_hnsw();
    test_hnsw_delete();
    return test_done();
}
