/* test_apps.c: the app algorithms' edge cases and hostile files: .npy
 * headers, PCA and classifier files (truncated, corrupted, non-finite),
 * invalid arguments, degenerate data (duplicate rows, k = n). The numeric
 * parity with numpy/PyTorch is in test_apps.py. */
#include "apps/apps.h"
#include "sail_apps.h"
#include "scratch.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A v1 .npy with the given header dict and payload. */
static void write_npy(const char *path, const char *dict, const void *data, size_t n) {
    char h[256];
    int len = snprintf(h, sizeof h, "%s", dict);
    while ((10 + len + 1) % 64) h[len++] = ' ';
    h[len++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)len, 0};
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(pre, 1, 10, f);
    fwrite(h, 1, (size_t)len, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static sail_status read_npy(const char *path, int *n, int *d) {
    float *x = NULL;
    sail_error err = {0};
    sail_status s = sail_npy_read(path, &x, n, d, &err);
    sail_free(x);
    return s;
}

/* The reader checks values a block at a time: the first infinity or NaN
 * is named wherever it lies (block edges, the tail), and the extremes of
 * the finite floats pass. */
static void test_npy_nonfinite(void) {
    enum { N = 3001 };
    static float v[N];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3001,), }";
    for (int i = 0; i < N; i++) v[i] = i % 3 ? FLT_MAX : i % 5 ? -FLT_TRUE_MIN : -0.0f;
    write_npy(scratch_path("fin.npy"), dict, v, sizeof v);
    int n, d, ok = read_npy(scratch_path("fin.npy"), &n, &d) == SAIL_OK && n == 1 && d == N;
    CHECK(ok, "a .npy of FLT_MAX, the smallest subnormal and -0 reads");
    const int at[] = {0, 1023, 1024, 2047, 3000};
    const float bad[] = {INFINITY, -INFINITY, NAN, -NAN};
    for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
        float keep = v[at[k]], keep2 = v[2500];
        v[at[k]] = bad[k % 4];
        if (k == 4) v[2500] = NAN; /* an earlier one is the one named */
        write_npy(scratch_path("nf.npy"), dict, v, sizeof v);
        float *x = NULL;
        sail_error err = {0};
        char want[32];
        snprintf(want, sizeof want, "element %d is", k == 4 ? 2500 : at[k]);
        sail_status s = sail_npy_read(scratch_path("nf.npy"), &x, &n, &d, &err);
        sail_free(x);
        CHECK(s == SAIL_ERR_FORMAT && strstr(err.msg, want), "a non-finite value at %d is refused, named: %s",
              at[k], err.msg);
        v[2500] = keep2;
        v[at[k]] = keep;
    }
}

static void test_npy(void) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    double dv[6] = {1, 2, 3, 4, 5, 6};
    int n = 0, d = 0;
    write_npy(scratch_path("a.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
    CHECK(read_npy(scratch_path("a.npy"), &n, &d) == SAIL_OK && n == 2 && d == 3, "2-D float32 .npy reads as 2 x 3");
    write_npy(scratch_path("b.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", dv, sizeof dv);
    CHECK(read_npy(scratch_path("b.npy"), &n, &d) == SAIL_OK && n == 1 && d == 6, "1-D float64 .npy reads as 1 x 6");
    write_npy(scratch_path("c.npy"), "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v, sizeof v);
    CHECK(read_npy(scratch_path("c.npy"), &n, &d) == SAIL_ERR_FORMAT, "Fortran order is refused");
    write_npy(scratch_path("d.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", v, sizeof v);
    CHECK(read_npy(scratch_path("d.npy"), &n, &d) == SAIL_ERR_FORMAT, "3-D arrays are refused");
    write_npy(scratch_path("e.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v - 4);
    CHECK(read_npy(scratch_path("e.npy"), &n, &d) == SAIL_ERR_FORMAT, "data shorter than the shape is refused");
    write_npy(scratch_path("f.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 3), }", v, sizeof v);
    CHECK(read_npy(scratch_path("f.npy"), &n, &d) == SAIL_ERR_LIMIT, "a huge shape is refused before allocating");
    write_npy(scratch_path("g.npy"), "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
    CHECK(read_npy(scratch_path("g.npy"), &n, &d) == SAIL_ERR_FORMAT, "big-endian data is refused");
    float nan6[6] = {1, 2, NAN, 4, 5, 6};
    write_npy(scratch_path("h.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", nan6, sizeof nan6);
    CHECK(read_npy(scratch_path("h.npy"), &n, &d) == SAIL_ERR_FORMAT, "a NaN element is refused");
    write_npy(scratch_path("i.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", v, 0);
    CHECK(read_npy(scratch_path("i.npy"), &n, &d) == SAIL_ERR_LIMIT, "an empty array is refused");
    test_npy_nonfinite();
    spit(scratch_path("j.npy"), "\x93NUMPY\x01\x00\xff\xff", 10);
    CHECK(read_npy(scratch_path("j.npy"), &n, &d) == SAIL_ERR_FORMAT, "a header longer than the file is refused");
    spit(scratch_path("k.npy"), "PK\x03\x04", 4);
    CHECK(read_npy(scratch_path("k.npy"), &n, &d) == SAIL_ERR_FORMAT, "a non-.npy file is refused");
    CHECK(read_npy(scratch_path("missing.npy"), &n, &d) == SAIL_ERR_IO, "a missing file is an I/O error");
}

static void test_pca_file(void) {
    float x[40];
    for (int i = 0; i < 40; i++) x[i] = (float)((i * 37) % 11) - 5 + (float)i / 7;
    sail_pca p = {0}, q = {0};
    sail_error err = {0};
    CHECK(sail_pca_fit(NULL, x, 10, 4, 2, &p, &err) == SAIL_OK, "PCA fit on 10 x 4");
    CHECK(sail_pca_fit(NULL, x, 10, 4, 5, &q, &err) == SAIL_ERR_INVALID_ARG && q.mean == NULL, "PCA to more dimensions than columns is refused");
    CHECK(sail_pca_fit(NULL, x, 1, 4, 2, &q, &err) == SAIL_ERR_INVALID_ARG, "PCA of one row is refused");
    CHECK(p.variance[0] >= p.variance[1] && p.variance[1] >= 0, "variances are sorted and non-negative");
    CHECK(sail_pca_save(&p, scratch_path("p.bin"), &err) == SAIL_OK && sail_pca_load(&q, scratch_path("p.bin"), &err) == SAIL_OK &&
              !memcmp(p.components, q.components, 8 * sizeof(float)) && q.d_in == 4 && q.d_out == 2,
          "PCA file round trip");
    sail_pca_free(&q);
    unsigned char *b;
    size_t len;
    sail_read_file(scratch_path("p.bin"), 1 << 20, &b, &len, &err);
    spit(scratch_path("p1.bin"), b, len - 1);
    CHECK(sail_pca_load(&q, scratch_path("p1.bin"), &err) == SAIL_ERR_FORMAT, "truncated PCA file: %s", err.msg);
    unsigned char *c = malloc(len);
    memcpy(c, b, len);
    c[12] = 9; /* d_out > d_in */
    spit(scratch_path("p2.bin"), c, len);
    CHECK(sail_pca_load(&q, scratch_path("p2.bin"), &err) == SAIL_ERR_FORMAT, "d_out > d_in: %s", err.msg);
    memcpy(c, b, len);
    float nanf_ = NAN;
    memcpy(c + len - 4, &nanf_, 4);
    spit(scratch_path("p3.bin"), c, len);
    CHECK(sail_pca_load(&q, scratch_path("p3.bin"), &err) == SAIL_ERR_FORMAT && q.mean == NULL, "a NaN component is refused");
    memcpy(c, b, len);
    double v0 = -1;
    memcpy(c + 24, &v0, 8);
    spit(scratch_path("p4.bin"), c, len);
    CHECK(sail_pca_load(&q, scratch_path("p4.bin"), &err) == SAIL_ERR_FORMAT, "a negative variance is refused");
    CHECK(sail_pca_load(&q, scratch_path("a.npy"), &err) == SAIL_ERR_FORMAT, "a non-PCA file is refused");
    free(c);
    sail_free(b);
    sail_pca_free(&p);
}

static void test_logreg_file(void) {
    float x[12] = {0, 0, 0, 1, 1, 0, 5, 5, 5, 6, 6, 5};
    int y[6] = {0, 0, 0, 1, 1, 1};
    char l0[] = "no", l1[] = "是";
    char *labels[2] = {l0, l1};
    sail_logreg m = {.d = 2, .c = 2}, q = {0};
    sail_error err = {0};
    CHECK(sail_logreg_train(NULL, &m, x, y, 6, 1e-3, 100, &err) == SAIL_OK, "train on 6 x 2");
    m.labels = labels;
    CHECK(sail_logreg_save(&m, scratch_path("c.bin"), &err) == SAIL_OK && sail_logreg_load(&q, scratch_path("c.bin"), &err) == SAIL_OK &&
              !strcmp(q.labels[1], "是") && !memcmp(q.w, m.w, 4 * sizeof(float)),
          "classifier file round trip keeps UTF-8 labels and weights");
    m.labels = NULL;
    sail_logreg_free(&q);
    unsigned char *b, *c;
    size_t len;
    sail_read_file(scratch_path("c.bin"), 1 << 20, &b, &len, &err);
    c = malloc(len);
    size_t first_bad = 0;
    for (size_t cut = 1; cut < len && !first_bad; cut++) {
        spit(scratch_path("c1.bin"), b, len - cut);
        if (sail_logreg_load(&q, scratch_path("c1.bin"), &err) != SAIL_ERR_FORMAT) first_bad = cut;
        sail_logreg_free(&q);
    }
    CHECK(!first_bad, "every truncation of a classifier file is a format error (first miss: %zu)", first_bad);
    memcpy(c, b, len);
    uint32_t big = 5000;
    memcpy(c + 16, &big, 4);
    spit(scratch_path("c2.bin"), c, len);
    CHECK(sail_logreg_load(&q, scratch_path("c2.bin"), &err) == SAIL_ERR_FORMAT, "an oversized label length: %s", err.msg);
    memcpy(c, b, len);
    float zero = 0;
    memcpy(c + 16 + 4 + 2 + 4 + 3 + 8, &zero, 4); /* sd[0] */
    spit(scratch_path("c3.bin"), c, len);
    CHECK(sail_logreg_load(&q, scratch_path("c3.bin"), &err) == SAIL_ERR_FORMAT, "a zero scale is refused");
    memcpy(c, b, len);
    uint32_t one = 1;
    memcpy(c + 12, &one, 4);
    spit(scratch_path("c4.bin"), c, len);
    CHECK(sail_logreg_load(&q, scratch_path("c4.bin"), &err) == SAIL_ERR_FORMAT, "one class is refused");
    free(c);
    sail_free(b);
    int bad[6] = {0, 0, 0, 1, 1, 2};
    sail_logreg m2 = {.d = 2, .c = 2};
    CHECK(sail_logreg_train(NULL, &m2, x, bad, 6, 0, 10, &err) == SAIL_ERR_INVALID_ARG && !m2.w, "a label out of range is refused");
    float p[2], s[2] = {1000, -1000};
    sail_softmax_scaled(s, 2, 100, p);
    CHECK(p[0] == 1 && p[1] == 0 && isfinite(p[1]), "scaled softmax does not overflow");
    sail_logreg_free(&m);
}

static void test_degenerate(void) {
    float x[20];
    for (int i = 0; i < 20; i++) x[i] = 1.5f; /* 5 identical rows of 4 */
    sail_kmeans_result r;
    sail_error err = {0};
    CHECK(sail_kmeans(NULL, x, 5, 4, 3, 10, 1, &r, &err) == SAIL_OK && r.inertia == 0, "k-means on identical rows: inertia 0");
    sail_kmeans_free(&r);
    CHECK(sail_kmeans(NULL, x, 5, 4, 6, 10, 1, &r, &err) == SAIL_ERR_INVALID_ARG, "k > n is refused: %s", err.msg);
    float y[10] = {0, 0, 1, 0, 0, 1, 10, 10, 11, 10};
    CHECK(sail_kmeans(NULL, y, 5, 2, 5, 10, 1, &r, &err) == SAIL_OK && r.inertia < 1e-9, "k = n puts every row in its own cluster");
    int seen[5] = {0};
    for (int i = 0; i < 5; i++) seen[r.assign[i]]++;
    int distinct = 1;
    for (int j = 0; j < 5; j++) distinct &= seen[j] == 1;
    CHECK(distinct, "k = n: a bijection of rows and clusters");
    sail_kmeans_free(&r);
    int lab[5] = {0, 0, 0, 0, 0}, nc;
    CHECK(isnan(sail_silhouette(NULL, y, 5, 2, lab, 2)), "silhouette of one cluster is NaN");
    CHECK(sail_dbscan(NULL, y, 5, 2, 0, 2, lab, &nc, &err) == SAIL_ERR_INVALID_ARG, "DBSCAN eps 0 is refused");
    CHECK(sail_dbscan(NULL, y, 5, 2, 1.0f, 2, lab, &nc, &err) == SAIL_OK && nc == 2 && lab[0] == 0 && lab[4] == 1,
          "DBSCAN: distance exactly eps counts as a neighbour");
    CHECK(sail_dbscan(NULL, y, 5, 2, 1.0f, 4, lab, &nc, &err) == SAIL_OK && nc == 0 && lab[0] == -1, "DBSCAN: all noise");
    sail_rq rq;
    CHECK(sail_rq_fit(NULL, y, 5, 2, 17, 4, 10, 1, &rq, &err) == SAIL_ERR_INVALID_ARG, "17 RQ levels are refused");
    CHECK(sail_rq_fit(NULL, y, 5, 2, 2, 256, 10, 1, &rq, &err) == SAIL_OK && rq.k == 5 && rq.mse[1] < 1e-9,
          "RQ with a codebook larger than n uses n codes");
    sail_rq_free(&rq);
    int fr[2];
    double tot;
    CHECK(sail_align_monotonic(y, 0, 5, fr, &tot, &err) == SAIL_ERR_LIMIT, "alignment of 0 lines is refused");
    float sim[6] = {0, 1, 0, /**/ 1, 0, 0};
    CHECK(sail_align_monotonic(sim, 2, 3, fr, &tot, &err) == SAIL_OK && fr[0] <= fr[1] && tot == 1,
          "monotonic alignment never goes back (best 1, not 2)");
    float xy[4] = {0, 0, 1, 1};
    int pl[2] = {0, -1};
    CHECK(sail_plot_png(scratch_path("x.png"), xy, pl, 2, "t", "x", "y", 100, 100, &err) == SAIL_ERR_INVALID_ARG,
          "a too-small plot is refused");
    CHECK(sail_plot_png("/nonexistent/dir/x.png", xy, pl, 2, "t", "x", "y", 500, 400, &err) == SAIL_ERR_IO,
          "an unwritable plot path is an I/O error");
}

/* sail_permutation: every index once, the same order for the same seed, a
 * sample of m the first m of the whole permutation (the same draws), and
 * across seeds each index lands in each slot about equally often. */
static void test_permutation(void) {
    enum { N = 7, M = 3, SEEDS = 7000 };
    int a[N], b[N], ok_perm = 1, same = 1, prefix = 1, moved = 0, count[N][N] = {{0}};
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        sail_permutation(a, N, N, seed);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            ok_perm &= a[i] >= 0 && a[i] < N && !seen[a[i]]++;
            count[i][a[i]]++;
        }
        sail_permutation(b, N, N, seed);
        same &= !memcmp(a, b, sizeof a);
        sail_permutation(b, N, M, seed);
        prefix &= !memcmp(a, b, sizeof *a * M);
        moved += memcmp(a, (int[N]){0, 1, 2, 3, 4, 5, 6}, sizeof a) != 0;
    }
    CHECK(ok_perm && same && prefix, "sail_permutation: a permutation, the same for a seed, a sample its prefix");
    int lo = SEEDS, hi = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            lo = count[i][j] < lo ? count[i][j] : lo;
            hi = count[i][j] > hi ? count[i][j] : hi;
        }
    /* each cell expects 1000 (binomial sd ~29): 850..1150 is over 5 sd */
    CHECK(moved > SEEDS * 99 / 100 && lo > 850 && hi < 1150,
          "sail_permutation: index per slot over %d seeds in %d..%d (expected 1000)", SEEDS, lo, hi);
    sail_permutation(a, 1, 1, 42);
    CHECK(a[0] == 0, "sail_permutation of one row");
}

int main(void) {
    if (!scratch_make("sail_test_apps")) return 1;
    test_npy();
    test_pca_file();
    test_logreg_file();
    test_degenerate();
    test_permutation();
    scratch_remove();
    return test_done();
}
