/* test_train_data.c: the manifest parser (every kind of bad line counted with
 * its line number, groups, paths), epoch plans (each pair exactly once,
 * homogeneous batches, seed-determined; hard-negative batches against a
 * brute-force re-derivation) and the loader (the same batches whatever the
 * worker count and prefetch depth). */
#include "test.h"
#include "train/dataset.h"
#include "train/loader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const char *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_ppm(const char *name, int w, int h, int seed) {
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", w, h);
    unsigned char buf[64 + 3 * 64 * 64];
    memcpy(buf, hdr, (size_t)n);
    for (int i = 0; i < 3 * w * h; i++) buf[n + i] = (unsigned char)(i * 7 + seed * 31);
    write_file(name, (const char *)buf, (size_t)(n + 3 * w * h));
}

static void test_manifest(void) {
    write_ppm("a.ppm", 20, 16, 1);
    write_ppm("b.ppm", 17, 23, 2);
    write_file("empty.ppm", "", 0);
    const char m[] =
        "{\"text\": \"red circle\", \"image\": \"a.ppm\", \"group\": \"g1\", \"lang\": \"en\"}\n"   /* 1 */
        "\n"                                                                                       /* 2 blank */
        "{\"text\": \"blue\", \"image\": \"b.ppm\", \"group\": \"g1\"}\n"                          /* 3 */
        "not json\n"                                                                               /* 4 */
        "[1, 2]\n"                                                                                 /* 5 */
        "{\"text\": \"x\"}\n"                                                                      /* 6 neither */
        "{\"text\": \"x\", \"image\": \"a.ppm\", \"text2\": \"y\"}\n"                              /* 7 both */
        "{\"text\": 3, \"image\": \"a.ppm\"}\n"                                                    /* 8 */
        "{\"text\": \"x\", \"image\": \"missing.ppm\"}\n"                                          /* 9 */
        "{\"text\": \"x\", \"image\": \"empty.ppm\"}\n"                                            /* 10 */
        "{\"text\": \"q\", \"text2\": \"r\", \"group\": 7}\n"                                      /* 11 */
        "{\"text\": \"s\", \"text2\": \"t\", \"group\": \"7\"}\n"                                  /* 12 */
        "{\"text\": \"u\", \"text2\": \"v\", \"group\": 7}\n"                                      /* 13 */
        "{\"text\": \"a\\u0000b\", \"text2\": \"v\"}\n"                                            /* 14 NUL */
        "{\"text\": \"w\", \"text2\": \"z\", \"group\": [1]}\n"                                    /* 15 */
        "{\"text\": \"w\", \"text2\": \"z\"}";                                                     /* 16, no newline */
    write_file("m.jsonl", m, sizeof m - 1);
    char p[512];
    snprintf(p, sizeof p, "%s/m.jsonl", dir);
    sail_dataset ds;
    sail_error err = {0};
    sail_status s = sail_dataset_load(p, &ds, &err);
    CHECK(s == SAIL_OK, "a manifest with bad lines loads (%s)", err.msg);
    if (s) return;
    CHECK(ds.n == 6 && ds.n_kind[SAIL_PAIR_IMAGE] == 2 && ds.n_kind[SAIL_PAIR_TEXT] == 4,
          "6 usable pairs: 2 text-image, 4 text-text (got %d: %d, %d)", ds.n, ds.n_kind[0], ds.n_kind[1]);
    CHECK(ds.n_skipped == 9, "9 lines skipped (got %d)", ds.n_skipped);
    int want[5] = {4, 5, 6, 7, 8};
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= ds.skipped_lines[i] == want[i];
    CHECK(ok, "the first five skipped lines are reported by number (4 5 6 7 8)");
    CHECK(strstr(ds.skipped_why[0], "JSON") && strstr(ds.skipped_why[2], "exactly one") &&
          strstr(ds.skipped_why[4], "text"), "with reasons: '%s' / '%s' / '%s'", ds.skipped_why[0],
          ds.skipped_why[2], ds.skipped_why[4]);
    CHECK(ds.items[0].group == ds.items[1].group && ds.items[2].group == ds.items[4].group &&
          ds.items[2].group != ds.items[3].group && ds.items[5].group == ds.n_groups - 1 &&
          ds.items[0].group != ds.items[2].group,
          "groups: equal strings and equal integers share one; \"7\" and 7 differ; no group = own group");
    CHECK(!strcmp(ds.items[0].lang, "en") && !ds.items[1].lang[0] && ds.items[0].line == 1 && ds.items[1].line == 3,
          "lang and line numbers are kept");
    CHECK(!strncmp(ds.items[0].b.image, dir, strlen(dir)), "image paths are resolved against the manifest's folder");
    sail_dataset_free(&ds);
    write_file("bad.jsonl", "x\n{}\n", 5);
    snprintf(p, sizeof p, "%s/bad.jsonl", dir);
    s = sail_dataset_load(p, &ds, &err);
    CHECK(s == SAIL_ERR_FORMAT && strstr(err.msg, "no usable pair"), "a manifest without any pair is an error: %s", err.msg);
    s = sail_dataset_load("/nonexistent/m.jsonl", &ds, &err);
    CHECK(s == SAIL_ERR_IO, "a missing manifest is an I/O error: %s", err.msg);
}

/* A synthetic dataset: n pairs, kinds and groups as given. */
static void fake(sail_dataset *ds, sail_pair *items, int n, int n_text, int groups) {
    memset(ds, 0, sizeof *ds);
    memset(items, 0, (size_t)n * sizeof *items);
    for (int i = 0; i < n; i++) {
        items[i].kind = i < n - n_text ? SAIL_PAIR_IMAGE : SAIL_PAIR_TEXT;
        items[i].group = i % groups;
        ds->n_kind[items[i].kind]++;
    }
    ds->items = items;
    ds->n = n;
    ds->n_groups = groups;
}

static int plan_valid(const sail_dataset *ds, const sail_plan *p, int batch) {
    static int seen[4096];
    memset(seen, 0, sizeof seen);
    for (int b = 0; b < p->n_batches; b++) {
        int n = p->bounds[b + 1] - p->bounds[b];
        if (n < 2 || n > batch) return 0;
        for (int i = p->bounds[b]; i < p->bounds[b + 1]; i++)
            if (ds->items[p->order[i]].kind != ds->items[p->order[p->bounds[b]]].kind || seen[p->order[i]]++) return 0;
    }
    return p->bounds[p->n_batches] == p->n;
}

static void test_plans(void) {
    static sail_pair items[1000];
    sail_dataset ds;
    fake(&ds, items, 203, 41, 50);      /* 162 image pairs, 41 text pairs */
    sail_rng r1 = {5}, r2 = {5}, r3 = {6};
    sail_plan a = {0}, b = {0}, c = {0};
    sail_error err = {0};
    sail_plan_shuffle(&ds, 16, &r1, &a, &err);
    sail_plan_shuffle(&ds, 16, &r2, &b, &err);
    sail_plan_shuffle(&ds, 16, &r3, &c, &err);
    CHECK(plan_valid(&ds, &a, 16) && a.n == 203 && a.n_batches == 11 + 3,
          "shuffle: every pair once, batches homogeneous and <= 16 (%d pairs in %d batches)", a.n, a.n_batches);
    CHECK(a.n == b.n && !memcmp(a.order, b.order, (size_t)a.n * 4) && r1.s == r2.s,
          "shuffle: the same seed gives the same plan and RNG state");
    CHECK(memcmp(a.order, c.order, (size_t)a.n * 4), "shuffle: another seed another plan");
    fake(&ds, items, 33, 0, 33);
    sail_rng r4 = {1};
    sail_plan d = {0};
    sail_plan_shuffle(&ds, 16, &r4, &d, &err);
    CHECK(d.n == 32 && d.n_batches == 2, "a final batch of one pair is dropped (%d pairs kept)", d.n);
    sail_plan_sequential(&ds, 16, &d, &err);
    CHECK(d.n == 33 && d.n_batches == 3 && d.order[32] == 32, "sequential: all pairs in file order, last batch of 1 kept");

    /* hard negatives: 8 clusters of 12 pairs on near-orthogonal directions;
       a seed's nearest other-group pairs are its cluster mates */
    enum { N = 96, D = 16, K = 3, B = 8 };
    static float ea[N * D], eb[N * D];
    fake(&ds, items, N, 0, N);
    sail_rng g = {9};
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < D; k++) {
            ea[i * D + k] = (k == (i % 8) ? 1.0f : 0.0f) + 0.05f * sail_rng_normal(&g);
            eb[i * D + k] = (k == (i % 8) ? 1.0f : 0.0f) + 0.05f * sail_rng_normal(&g);
        }
        float na = 0, nb = 0;
        for (int k = 0; k < D; k++) na += ea[i * D + k] * ea[i * D + k], nb += eb[i * D + k] * eb[i * D + k];
        for (int k = 0; k < D; k++) ea[i * D + k] /= sqrtf(na), eb[i * D + k] /= sqrtf(nb);
    }
    sail_rng r5 = {3};
    sail_plan h = {0};
    sail_status s = sail_plan_hard(&ds, B, K, ea, eb, D, &r5, &h, &err);
    CHECK(s == SAIL_OK && plan_valid(&ds, &h, B) && h.n == N, "hard: every pair once, valid batches (%s)", err.msg);
    /* Within a batch, runs of 1 + K pairs are a seed and its K nearest
       unplaced pairs of other groups: with 12 pairs per cluster (3 seeds x
       (1 + 3)), every run must stay inside its seed's cluster. */
    int runs = 0, good = 0;
    for (int b2 = 0; b2 < h.n_batches; b2++)
        for (int i = h.bounds[b2]; i + K < h.bounds[b2 + 1] + 1 && i < h.bounds[b2 + 1]; i += K + 1) {
            int seed = h.order[i], same = 1;
            for (int j = 1; j <= K && i + j < h.bounds[b2 + 1]; j++) same &= h.order[i + j] % 8 == seed % 8;
            runs++;
            good += same;
        }
    CHECK(runs == N / (K + 1) && good == runs, "hard: each seed's %d neighbours are its cluster mates (%d/%d runs)", K, good, runs);
    s = sail_plan_hard(&ds, B, B, ea, eb, D, &r5, &h, &err);
    CHECK(s == SAIL_ERR_INVALID_ARG, "hard: K >= batch size is refused: %s", err.msg);
    int32_t order[3] = {0, 1, 500}, bounds[2] = {0, 3};
    s = sail_plan_set(&ds, order, 3, bounds, 1, &h, &err);
    CHECK(s == SAIL_ERR_FORMAT, "a saved plan naming a pair the data lacks is refused: %s", err.msg);
    sail_plan_free(&a);
    sail_plan_free(&b);
    sail_plan_free(&c);
    sail_plan_free(&d);
    sail_plan_free(&h);
}

/* Every batch of p through a loader with w workers and prefetch f; a hash
 * of all the inputs. */
static uint64_t run_loader(const sail_dataset *ds, const sail_config *c, const sail_text_tok *wp,
                           const sail_plan *p, int w, int f, int first, int *n_dropped) {
    sail_error err = {0};
    sail_loader *ld = sail_loader_new(ds, c, wp, 4, w, f, &err);
    uint64_t h = 1469598103934665603ull;
    *n_dropped = 0;
    if (!ld || sail_loader_begin(ld, p, first, &err)) return 0;
    const sail_batch_data *b;
    int expect = first;
    while (!sail_loader_next(ld, &b, &err) && b) {
        if (b->index != expect++) return 0;
        *n_dropped += b->n_dropped;
        size_t nid = 0;
        for (int i = 0; i < b->n; i++) nid += (size_t)b->a.lens[i];
        const unsigned char *bytes[3] = {(const unsigned char *)b->a.ids, (const unsigned char *)b->items,
                                         (const unsigned char *)b->b.pixels};
        size_t lens[3] = {nid * 4, (size_t)b->n * 4, b->b.pixels ? (size_t)b->n * 3 * b->b.h * b->b.w * 4 : 0};
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < lens[k]; i++) h = (h ^ bytes[k][i]) * 1099511628211ull;
    }
    sail_loader_free(ld);
    return h;
}

static void test_loader(void) {
    char p[512], m[4096];
    size_t len = 0;
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "i%d.ppm", i);
        if (i == 4) write_file(name, "P6\n9 9\n255\nshort", 16);     /* truncated: does not decode */
        else write_ppm(name, 24 + i, 20, i);
        len += (size_t)snprintf(m + len, sizeof m - len, "{\"text\": \"red circle %d\", \"image\": \"%s\"}\n", i, name);
    }
    write_file("l.jsonl", m, len);
    snprintf(p, sizeof p, "%s/l.jsonl", dir);
    sail_dataset ds;
    sail_error err = {0};
    if (sail_dataset_load(p, &ds, &err)) {
        CHECK(0, "loader manifest loads: %s", err.msg);
        return;
    }
    const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "red", "circle", "1", "2", "3"};
    sail_config c;
    sail_config_preset(&c, "tiny", &err);
    c.vocab_size = 9;
    c.pad_id = 0, c.unk_id = 1, c.cls_id = 2, c.sep_id = 3;
    c.image_size = c.pre_size = c.pre_crop = 16;
    sail_vocab_kv v = {.tokens = (char **)toks, .n = 9};
    sail_text_tok tok, *wp = &tok;
    CHECK(!sail_text_tok_init(&tok, &v, &c, &err), "the model's tokenizer from its vocabulary (%s)", err.msg);
    sail_rng r = {2};
    sail_plan plan = {0};
    sail_plan_shuffle(&ds, 4, &r, &plan, &err);
    int d1, d2, d3, d4;
    uint64_t h1 = run_loader(&ds, &c, wp, &plan, 1, 1, 0, &d1);
    uint64_t h2 = run_loader(&ds, &c, wp, &plan, 3, 2, 0, &d2);
    uint64_t h3 = run_loader(&ds, &c, wp, &plan, 4, 7, 0, &d3);
    CHECK(h1 && h1 == h2 && h1 == h3 && d1 == 1 && d2 == 1 && d3 == 1,
          "loader: identical batches with 1, 3, 4 workers and prefetch 1, 2, 7; the broken image dropped once");
    uint64_t h4 = run_loader(&ds, &c, wp, &plan, 2, 2, 1, &d4);
    CHECK(h4 && h4 != h1, "loader: starting at batch 1 (resume) yields batches 1.. in order");
    sail_plan_free(&plan);
    sail_text_tok_free(&tok);
    sail_dataset_free(&ds);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/sail_test_train_data_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) return 1;
    test_manifest();
    test_plans();
    test_loader();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return test_done();
}
