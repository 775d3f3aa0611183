/* test_index_image.c: the in-memory index (sail_index_new) and its byte
 * image (sail_index_serialize / sail_index_deserialize), what the Redis
 * module stores in RDB. An in-memory index built like a directory index
 * (same options, seed, items, insertion order, serial graph build) answers
 * every search exactly as the directory index does, for each metric and
 * storage, with deletes and payloads; its image loads back into an index
 * with the same answers, ids, vectors and payloads, also after more adds;
 * the directory's index.snap loads the same way; and every damaged image
 * (each byte flipped in the header and along the data, every truncation
 * length of a small one, trailing bytes) is SAIL_ERR_FORMAT, never a crash. */
#include "sail.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define INDEX_TEST_TAG "iximg"
#include "index_fixtures.h"

#define N 600
#define D 24
#define NQ 7
#define K 10

static const sail_index_options base = {.dim = D, .seed = 5, .M = 8, .ef_construction = 50, .n_threads = 1,
                                        .deterministic = 1};

static char *payload_of(int i, char *buf, size_t n) {
    snprintf(buf, n, "{\"shard\":%d,\"name\":\"item %d\"}", i % 3, i);
    return buf;
}

/* Items 0..n-1 (payloads on every other), then deletes of every 7th. */
static int fill(sail_index *ix, const float *x, int n) {
    sail_error e = {0};
    for (int i = 0; i < n; i++) {
        char p[64];
        uint64_t id = (uint64_t)i * 1000003u;
        if (sail_index_add(ix, &id, x + (size_t)i * D, i % 2 ? NULL : (const char *const[]){payload_of(i, p, sizeof p)},
                           1, &e)) {
            printf("# add: %s\n", e.msg);
            return 1;
        }
    }
    for (int i = 0; i < n; i += 7) {
        uint64_t id = (uint64_t)i * 1000003u;
        if (sail_index_delete(ix, &id, 1, NULL, &e)) return 1;
    }
    return 0;
}

/* Whether a and b answer the same queries identically (ids, scores to the
 * bit, payloads), exact and approximate, with and without a filter. */
static int same_answers(sail_index *a, sail_index *b, const float *q) {
    static const char *const filters[] = {NULL, "shard=1"};
    for (int f = 0; f < 2; f++)
        for (int exact = 0; exact < 2; exact++) {
            sail_search_options o = {.filter = filters[f], .exact = exact};
            sail_index_results *ra = NULL, *rb = NULL;
            sail_error e = {0};
            if (sail_index_search(a, q, NQ, K, &o, &ra, &e) || sail_index_search(b, q, NQ, K, &o, &rb, &e)) {
                printf("# search: %s\n", e.msg);
                sail_index_results_free(ra);
                return 0;
            }
            int same = 1;
            for (int i = 0; i < NQ && same; i++) {
                same = ra->counts[i] == rb->counts[i] && ra->counts[i] > 0;
                for (int j = 0; same && j < ra->counts[i]; j++) {
                    const sail_index_hit *x = &ra->hits[i * K + j], *y = &rb->hits[i * K + j];
                    same = x->id == y->id && memcmp(&x->score, &y->score, 4) == 0 && !strcmp(x->payload, y->payload);
                }
            }
            sail_index_results_free(ra);
            sail_index_results_free(rb);
            if (!same) return 0;
        }
    return 1;
}

/* The same live ids in the same order, with the same vectors and payloads. */
static int same_items(sail_index *a, sail_index *b) {
    size_t na = sail_index_ids(a, NULL, 0), nb = sail_index_ids(b, NULL, 0);
    if (na != nb) return 0;
    uint64_t *ia = malloc(na * 8), *ib = malloc(na * 8);
    sail_index_ids(a, ia, na);
    sail_index_ids(b, ib, nb);
    int same = !memcmp(ia, ib, na * 8);
    for (size_t i = 0; same && i < na; i++) {
        float va[D], vb[D];
        char *pa = NULL, *pb = NULL;
        same = !sail_index_get(a, ia[i], va, &pa, NULL) && !sail_index_get(b, ia[i], vb, &pb, NULL) &&
               !memcmp(va, vb, sizeof va) && !strcmp(pa, pb);
        free(pa);
        free(pb);
    }
    free(ia);
    free(ib);
    return same;
}

static void case_one(sail_metric m, sail_storage s, const float *x, const float *q) {
    char name[64];
    snprintf(name, sizeof name, "%s-%s", sail_metric_name(m), sail_storage_name(s));
    sail_index_options o = base;
    o.metric = m;
    o.storage = s;
    o.kind = SAIL_INDEX_HNSW;
    o.create = 1;
    sail_error e = {0};
    sail_index *mem = sail_index_new(&o, &e);
    sail_index *dir = sail_index_open(tmpdir(name), &o, &e);
    if (!mem || !dir) {
        CHECK(0, "%s: indexes open (%s)", name, e.msg);
        sail_index_close(mem, NULL);
        sail_index_close(dir, NULL);
        return;
    }
    CHECK(!fill(mem, x, N - 100) && !fill(dir, x, N - 100), "%s: the same items go into both", name);
    CHECK(same_answers(mem, dir, q), "%s: the in-memory index answers as the directory index", name);

    void *img = NULL;
    size_t len = 0;
    CHECK(sail_index_serialize(mem, &img, &len, &e) == SAIL_OK, "%s: serialised (%zu bytes)", name, len);
    sail_index *back = img ? sail_index_deserialize(img, len, &o, &e) : NULL;
    CHECK(back && same_answers(back, dir, q) && same_items(back, mem), "%s: its image loads back with the same "
          "answers and items%s%s", name, back ? "" : ": ", back ? "" : e.msg);
    /* the loaded graph is the frozen form: adds thaw it, and answers stay equal */
    int more = 1;
    for (int i = N - 100; back && i < N; i++) {
        uint64_t id = (uint64_t)i * 1000003u;
        more &= !sail_index_add(back, &id, x + (size_t)i * D, NULL, 1, &e) &&
                !sail_index_add(dir, &id, x + (size_t)i * D, NULL, 1, &e);
    }
    CHECK(back && more && same_answers(back, dir, q), "%s: adds after loading answer as the directory index", name);
    sail_free(img);

    /* index.snap itself is an image too */
    sail_index_close(dir, &e);
    char path[600];
    snprintf(path, sizeof path, "%s/index.snap", g_dir);
    FILE *f = fopen(path, "rb");
    size_t flen = 0;
    void *fimg = NULL;
    if (f && !fseek(f, 0, SEEK_END) && (flen = (size_t)ftell(f)) && (fimg = malloc(flen))) {
        rewind(f);
        if (fread(fimg, 1, flen, f) != flen) flen = 0;
    }
    if (f) fclose(f);
    sail_index *from_file = fimg ? sail_index_deserialize(fimg, flen, NULL, &e) : NULL;
    CHECK(from_file && back && same_items(from_file, back), "%s: index.snap's bytes load as an image", name);
    free(fimg);
    sail_index_close(from_file, NULL);
    sail_index_close(back, NULL);
    sail_index_close(mem, NULL);
    rmrf(g_dir);
}

/* Every way of damaging an image is SAIL_ERR_FORMAT. */
static void case_damage(const float *x) {
    sail_index_options o = base;
    o.kind = SAIL_INDEX_HNSW;
    sail_error e = {0};
    sail_index *ix = sail_index_new(&o, &e);
    int n = 40;
    CHECK(ix && !fill(ix, x, n), "damage: a small index");
    uint8_t *img = NULL;
    size_t len = 0;
    if (!ix || sail_index_serialize(ix, (void **)&img, &len, &e)) {
        CHECK(0, "damage: serialised");
        sail_index_close(ix, NULL);
        return;
    }
    uint8_t *buf = malloc(len + 8);
    int bad_flip = 0, bad_cut = 0, flips = 0;
    for (size_t i = 0; i < len; i += i < 128 ? 1 : 13) {
        memcpy(buf, img, len);
        buf[i] ^= (uint8_t)(1u << (i % 8));
        sail_index *r = sail_index_deserialize(buf, len, NULL, &e);
        bad_flip += r != NULL || e.status != SAIL_ERR_FORMAT;
        flips++;
        sail_index_close(r, NULL);
    }
    CHECK(bad_flip == 0, "damage: each of %d flipped bits is SAIL_ERR_FORMAT (%d were not)", flips, bad_flip);
    for (size_t l = 0; l < len; l++) {
        memcpy(buf, img, l);
        sail_index *r = sail_index_deserialize(buf, l, NULL, &e);
        bad_cut += r != NULL || e.status != SAIL_ERR_FORMAT;
        sail_index_close(r, NULL);
    }
    CHECK(bad_cut == 0, "damage: each of %zu truncations is SAIL_ERR_FORMAT (%d were not)", len, bad_cut);
    memcpy(buf, img, len);
    memset(buf + len, 0, 8);
    sail_index *r = sail_index_deserialize(buf, len + 8, NULL, &e);
    CHECK(!r && e.status == SAIL_ERR_FORMAT, "damage: trailing bytes are SAIL_ERR_FORMAT (%s)", e.msg);
    sail_index_close(r, NULL);
    r = sail_index_deserialize(buf + 1, len, NULL, &e);
    CHECK(!r && e.status == SAIL_ERR_INVALID_ARG, "damage: an unaligned buffer is refused (%s)", e.msg);
    free(buf);
    sail_free(img);
    sail_index_close(ix, NULL);
}

int main(void) {
    float *x = clustered(N, D, 12, 11), *q = clustered(NQ, D, 12, 12);
    static const sail_metric metrics[] = {SAIL_METRIC_IP, SAIL_METRIC_COSINE, SAIL_METRIC_L2};
    for (int m = 0; m < 3; m++) case_one(metrics[m], SAIL_STORAGE_F32, x, q);
    case_one(SAIL_METRIC_COSINE, SAIL_STORAGE_F16, x, q);
    case_one(SAIL_METRIC_L2, SAIL_STORAGE_INT8, x, q);
    case_damage(x);
    sail_index_options bad = base;
    bad.dim = 0;
    sail_error e = {0};
    sail_index *ix = sail_index_new(&bad, &e);
    CHECK(!ix && e.status == SAIL_ERR_INVALID_ARG, "sail_index_new refuses dim 0 (%s)", e.msg);
    free(x);
    free(q);
    return test_done();
}
