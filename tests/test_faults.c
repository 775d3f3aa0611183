/* test_faults.c: fault injection in the SQLite manner (core/fault.h). Each
 * scenario is first run clean to count its allocations (or index I/O calls);
 * then it is run again once per call, failing that call (once, and from
 * there on), and must end with a clean status that names the failure:
 * SAIL_ERR_NOMEM for an allocation, SAIL_ERR_IO for a write or sync, or
 * SAIL_OK where the failure is absorbed. A crash ends the program; a leak
 * fails `make asan` (LeakSanitizer). For the index, after every injected
 * I/O failure the directory is opened again without faults and every write
 * the library acknowledged must be there. */
#include "audio_fixtures.h"
#include "fault.h"
#include "fixtures.h"
#include "image_enc.h"
#include "sail.h"
#include "test.h"

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* In memory where there is /dev/shm: the walk counts and fails the
 * index's syncs, and on a disk each of them costs. */
static char tmpdir[64];
static char model_path[PATH_MAX], ast_path[PATH_MAX];

typedef sail_status (*scenario)(void *ctx, sail_error *err);

typedef struct walk_result {
    long points, errors, absorbed, bad;
} walk_result;

/* A run that met an injected failure must report it as what it was. */
static int clean_status(sail_fault_kind k, sail_status st, const sail_error *e) {
    if (st == SAIL_OK) return 1;
    sail_status want = k == SAIL_FAULT_ALLOC ? SAIL_ERR_NOMEM : SAIL_ERR_IO;
    return e->status == st && e->msg[0] && (st == want || st == SAIL_ERR_NOMEM);
}

/* Runs fn with the n-th call of kind k failing, for every n the clean run
 * made, in one-shot and persistent modes; verify (may be NULL) checks what
 * a run left behind. */
static walk_result walk(const char *name, sail_fault_kind k, scenario fn, void *ctx,
                        int (*verify)(void *ctx)) {
    walk_result r = {0};
    sail_error e = {0};
    sail_fault_arm(k, LONG_MAX, 0); /* count only */
    sail_status st = fn(ctx, &e);
    r.points = sail_fault_calls(k);
    sail_fault_arm(k, 0, 0);
    CHECK(st == SAIL_OK && r.points > 0 && (!verify || verify(ctx)), "%s: runs clean unarmed (%ld %s calls; %s)",
          name, r.points, k == SAIL_FAULT_ALLOC ? "allocation" : "I/O", e.msg);
    for (long n = 1; n <= r.points; n++) {
        for (int persist = 0; persist < 2; persist++) {
            e = (sail_error){0};
            sail_fault_arm(k, n, persist);
            st = fn(ctx, &e);
            long fired = sail_fault_fired(k);
            sail_fault_arm(k, 0, 0);
            int ok = fired ? clean_status(k, st, &e) : st == SAIL_OK;
            if (ok && verify) ok = verify(ctx);
            if (!ok && r.bad++ < 5)
                printf("#   %s: failing call %ld%s gave status %d (%s)\n", name, n, persist ? " on" : "", (int)st, e.msg);
            if (fired && st) r.errors++;
            if (fired && !st) r.absorbed++;
        }
    }
    CHECK(r.bad == 0, "%s: each of %ld failure points (x2 modes) ends cleanly: %ld errors, %ld absorbed, %ld wrong",
          name, r.points, r.errors, r.absorbed, r.bad);
    return r;
}

/* ------------------------------------------------------------ scenarios -- */

static sail_status load_model(void *ctx, sail_error *err) {
    (void)ctx;
    sail_load_options o = {.n_threads = 1};
    sail_model *m = sail_model_load(model_path, &o, err);
    if (!m) return err->status;
    sail_model_free(m);
    return SAIL_OK;
}

typedef struct embed_ctx {
    buf png, jpeg;
    float out[4 * 8];
} embed_ctx;

/* Each run loads the model afresh, so its first-use allocations (arenas,
 * caches) are walked too, not only the steady state. */
static sail_status embed_texts(void *ctx, sail_error *err) {
    embed_ctx *c = ctx;
    const char *texts[3] = {"a b c", "", "l k j i h g f e d c b a a b c d e f g"};
    sail_load_options o = {.n_threads = 1};
    sail_model *m = sail_model_load(model_path, &o, err);
    if (!m) return err->status;
    sail_status st = sail_embed_texts(m, texts, 3, 0, c->out, err);
    sail_model_free(m);
    return st;
}

static sail_status embed_images(void *ctx, sail_error *err) {
    embed_ctx *c = ctx;
    const void *data[2] = {c->png.p, c->jpeg.p};
    size_t sizes[2] = {c->png.n, c->jpeg.n};
    sail_load_options o = {.n_threads = 1};
    sail_model *m = sail_model_load(model_path, &o, err);
    if (!m) return err->status;
    sail_status st = sail_embed_image_bytes(m, data, sizes, 2, 0, c->out, err);
    sail_model_free(m);
    return st;
}

typedef struct audio_ctx {
    uint8_t wav[44 + 2 * 8000];
    size_t n;
    float out[16];
} audio_ctx;

/* An AST-shaped model: the clip is decoded (FFmpeg), its fbank features
 * computed and embedded. */
static sail_status embed_audio(void *ctx, sail_error *err) {
    audio_ctx *c = ctx;
    const void *data = c->wav;
    sail_load_options o = {.n_threads = 1};
    sail_model *m = sail_model_load(ast_path, &o, err);
    if (!m) return err->status;
    sail_status st = sail_embed_audio_bytes(m, &data, &c->n, 1, 0, c->out, err);
    sail_model_free(m);
    return st;
}

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s, (void)flag, (void)f;
    return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

/* The index scenario: create, add items one at a time, delete a few,
 * search, close (snapshot). Acknowledged writes are recorded for verify. */
typedef struct index_ctx {
    char dir[PATH_MAX];
    int hnsw, run;
    int added[24], deleted[24];
} index_ctx;

enum { IX_DIM = 8, IX_N = 24 };

static void item_vec(int i, float *v) {
    for (int j = 0; j < IX_DIM; j++) v[j] = sinf((float)(i * IX_DIM + j) * 0.7f) + (j == i % IX_DIM);
}

static sail_status index_run(void *ctx, sail_error *err) {
    index_ctx *c = ctx;
    snprintf(c->dir, sizeof c->dir, "%s/ix%d", tmpdir, c->run++);
    memset(c->added, 0, sizeof c->added);
    memset(c->deleted, 0, sizeof c->deleted);
    sail_index_options o = {.dim = IX_DIM, .metric = SAIL_METRIC_COSINE, .kind = c->hnsw ? SAIL_INDEX_HNSW : 0,
                            .seed = 3, .n_threads = 1, .create = 1};
    sail_index *ix = sail_index_open(c->dir, &o, err);
    if (!ix) return err->status;
    sail_status st = SAIL_OK;
    for (int i = 0; i < IX_N && !st; i++) {
        uint64_t id = (uint64_t)i + 1;
        float v[IX_DIM];
        item_vec(i, v);
        const char *payload = "{\"text\":\"item\"}";
        if (!(st = sail_index_add(ix, &id, v, &payload, 1, err))) c->added[i] = 1;
    }
    for (int i = 0; i < IX_N && !st; i += 5) {
        uint64_t id = (uint64_t)i + 1;
        if (!(st = sail_index_delete(ix, &id, 1, NULL, err))) c->deleted[i] = 1;
    }
    if (!st) {
        float q[IX_DIM];
        item_vec(3, q);
        sail_index_results *res = NULL;
        st = sail_index_search(ix, q, 1, 5, NULL, &res, err);
        sail_index_results_free(res);
    }
    sail_error e2 = {0};
    sail_status cst = sail_index_close(ix, st ? &e2 : err);
    return st ? st : cst;
}

/* Every acknowledged add is there with its vector, every acknowledged
 * delete is gone. */
static int index_verify(void *ctx) {
    index_ctx *c = ctx;
    sail_error e = {0};
    sail_index *ix = sail_index_open(c->dir, NULL, &e);
    int ok = 1;
    if (!ix) {
        /* nothing acknowledged: the create itself failed and left no index */
        for (int i = 0; i < IX_N; i++) ok &= !c->added[i];
        if (!ok) printf("#   %s does not open after an injected failure: %s\n", c->dir, e.msg);
        rm_tree(c->dir);
        return ok;
    }
    for (int i = 0; i < IX_N; i++) {
        float got[IX_DIM], want[IX_DIM];
        sail_status st = sail_index_get(ix, (uint64_t)i + 1, got, NULL, &e);
        if (c->deleted[i]) ok &= st != SAIL_OK;
        else if (c->added[i]) {
            item_vec(i, want);
            float n = 0;
            for (int j = 0; j < IX_DIM; j++) n += want[j] * want[j];
            for (int j = 0; j < IX_DIM && st == SAIL_OK; j++) ok &= fabsf(got[j] - want[j] / sqrtf(n)) < 1e-6f;
            ok &= st == SAIL_OK;
        }
        if (!ok) {
            printf("#   %s: acknowledged item %d lost or wrong (%s)\n", c->dir, i + 1, e.msg);
            break;
        }
    }
    sail_index_close(ix, NULL);
    rm_tree(c->dir);
    return ok;
}

static sail_status index_alloc_run(void *ctx, sail_error *err) {
    sail_status st = index_run(ctx, err);
    rm_tree(((index_ctx *)ctx)->dir);
    return st;
}

/* ---------------------------------------------------------------- main -- */

static buf test_png(void) {
    uint8_t px[21 * 13 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
    return png_encode(21, 13, PNG_COLOR_TYPE_RGB, 8, 0, px);
}

static buf test_jpeg(void) {
    uint8_t px[40 * 24 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 13 + 5);
    return jpeg_encode(40, 24, 3, JCS_RGB, px, 0);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/sail_test_faults_XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
    if (!mkdtemp(tmpdir)) return 1;
    snprintf(model_path, sizeof model_path, "%s/micro.gguf", tmpdir);
    sail_config c = micro();
    sail_error e = {0};
    CHECK(sail_model_write_random(&c, micro_tokens, 5, model_path, &e) == SAIL_OK, "micro model written (%s)", e.msg);

    walk("model load", SAIL_FAULT_ALLOC, load_model, NULL, NULL);

    embed_ctx ec = {.png = test_png(), .jpeg = test_jpeg()};
    walk("load and embed texts", SAIL_FAULT_ALLOC, embed_texts, &ec, NULL);
    walk("load, decode and embed PNG + JPEG bytes", SAIL_FAULT_ALLOC, embed_images, &ec, NULL);
    free(ec.png.p);
    free(ec.jpeg.p);

    snprintf(ast_path, sizeof ast_path, "%s/ast.gguf", tmpdir);
    sail_config ac_cfg = ast_config(16);
    CHECK(sail_model_write_random(&ac_cfg, NULL, 7, ast_path, &e) == SAIL_OK, "AST-shaped model written (%s)", e.msg);
    static audio_ctx ac;
    float x[8000];
    chirp(x, 8000, 16000, 200, 0.4f);
    ac.n = make_wav(ac.wav, x, 8000, 16000);
    walk("load, decode a WAV clip, its fbank features and embed them", SAIL_FAULT_ALLOC, embed_audio, &ac, NULL);

    for (int hnsw = 0; hnsw < 2; hnsw++) {
        index_ctx ic = {.hnsw = hnsw};
        walk(hnsw ? "HNSW index create/add/delete/search/close" : "exact index create/add/delete/search/close",
             SAIL_FAULT_ALLOC, index_alloc_run, &ic, NULL);
        walk(hnsw ? "HNSW index, I/O failures: acknowledged writes survive"
                  : "exact index, I/O failures: acknowledged writes survive",
             SAIL_FAULT_IO, index_run, &ic, index_verify);
    }
    rm_tree(tmpdir);
    return test_done();
}
