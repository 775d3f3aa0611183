/* test_model.c: model loading against hostile files, batch invariance,
 * Matryoshka prefixes, seeded init and the API's argument checks, on a micro
 * model written by the library itself. */
#include "model/model.h"
#include "rng.h"
#include "fixtures.h"
#include "test.h"

#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir; /* scratch_make's */

/* Load a modified copy; returns 1 when loading failed with a message
 * containing want (NULL: any message). */
static int load_fails(const char *path, const unsigned char *bytes, size_t n, const char *want,
                      char *msg_out) {
    spit(path, bytes, n);
    sail_error err = {0};
    sail_load_options o = {.n_threads = 1};
    sail_model *m = sail_model_load(path, &o, &err);
    if (msg_out) snprintf(msg_out, 512, "%s", err.msg);
    if (m) {
        sail_model_free(m);
        return 0;
    }
    return err.msg[0] && (!want || strstr(err.msg, want));
}

static size_t find(const unsigned char *p, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, s, k)) return i;
    return 0;
}

static void test_truncations(const char *path, const unsigned char *good, size_t n) {
    char tpath[512];
    snprintf(tpath, sizeof tpath, "%s/trunc.gguf", dir);
    spit(tpath, good, n);
    int fd = open(tpath, O_RDWR);
    size_t bad = (size_t)-1;
    for (size_t len = n; len-- > 0;) {
        if (ftruncate(fd, (off_t)len)) break;
        sail_error err = {0};
        sail_load_options o = {.n_threads = 1};
        sail_model *m = sail_model_load(tpath, &o, &err);
        if (m || !err.msg[0]) {
            sail_model_free(m);
            bad = len;
            break;
        }
    }
    close(fd);
    CHECK(bad == (size_t)-1, "every truncation (0..%zu bytes) of the model file is refused with a message%s",
          n - 1, bad == (size_t)-1 ? "" : " (one loaded)");
    (void)path;
}

static void test_flips(const unsigned char *good, size_t n) {
    char tpath[512];
    snprintf(tpath, sizeof tpath, "%s/flip.gguf", dir);
    unsigned char *b = malloc(n);
    sail_rng r = {7};
    int loaded = 0, refused = 0;
    float v[8];
    int32_t ids[3] = {2, 5, 3};
    int lens[1] = {3};
    for (int i = 0; i < 1000; i++) {
        memcpy(b, good, n);
        size_t at = sail_rng_next(&r) % n;
        b[at] ^= (unsigned char)(1u << (sail_rng_next(&r) % 8));
        spit(tpath, b, n);
        sail_error err = {0};
        sail_load_options o = {.n_threads = 1};
        sail_model *m = sail_model_load(tpath, &o, &err);
        if (m) {
            loaded++;
            sail_embed_tokens(m, ids, lens, 1, 0, v, &err); /* must not crash */
            sail_model_free(m);
        } else
            refused += err.msg[0] != 0;
    }
    free(b);
    CHECK(loaded + refused == 1000, "1000 random bit flips: %d refused with a message, %d loaded (flips in weights), none crashed",
          refused, loaded);
}

static void test_corruptions(const unsigned char *good, size_t n) {
    char tpath[512], msg[512];
    snprintf(tpath, sizeof tpath, "%s/bad.gguf", dir);
    unsigned char *b = malloc(n);

    memcpy(b, good, n);
    b[0] = 'X';
    CHECK(load_fails(tpath, b, n, "magic", msg), "wrong magic: %s", msg);

    memcpy(b, good, n);
    uint64_t huge = (uint64_t)1 << 62;
    memcpy(b + 8, &huge, 8);
    CHECK(load_fails(tpath, b, n, NULL, msg), "tensor count 2^62: %s", msg);

    /* Last tensor's offset moved far past the end of the file. */
    memcpy(b, good, n);
    size_t at = find(b, n, "head.proj.bias");
    uint32_t nd;
    memcpy(&nd, b + at + 14, 4);
    size_t off_at = at + 14 + 4 + 8 * nd + 4;
    uint64_t far = (uint64_t)n * 64;
    memcpy(b + off_at, &far, 8);
    CHECK(load_fails(tpath, b, n, "past the end", msg), "tensor data past the end: %s", msg);

    memcpy(b, good, n);
    memcpy(b + at, "head.proj.bxas", 14);
    CHECK(load_fails(tpath, b, n, "'head.proj.bias' is missing", msg), "missing tensor: %s", msg);

    /* fuse.modality is (2, 8); relabel it (4, 4): same bytes, wrong shape. */
    memcpy(b, good, n);
    at = find(b, n, "fuse.modality");
    uint64_t four = 4;
    memcpy(b + at + 13 + 4, &four, 8);
    memcpy(b + at + 13 + 12, &four, 8);
    CHECK(load_fails(tpath, b, n, "has shape [4, 4]", msg), "shape mismatch: %s", msg);

    memcpy(b, good, n);
    at = find(b, n, "sail.text.width");
    memcpy(b + at, "sail.text.wodth", 15);
    CHECK(load_fails(tpath, b, n, "sail.text.width", msg), "missing metadata key: %s", msg);
    free(b);
}

static float maxdiff(const float *a, const float *b, int n) {
    float d = 0;
    for (int i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static void test_batching(sail_model *m) {
    int32_t ids[] = {2, 4, 5, 6, 7, 8, 9, 3, /**/ 2, 10, 3, /**/ 2, 11, 12, 13, 3};
    int lens[] = {8, 3, 5};
    float batch[3 * 8], alone[8];
    sail_error err = {0};
    CHECK(!sail_embed_tokens(m, ids, lens, 3, 0, batch, &err), "embed a padded batch of 3 texts %s", err.msg);
    float worst = 0;
    const int32_t *p = ids;
    for (int i = 0; i < 3; i++) {
        sail_embed_tokens(m, p, &lens[i], 1, 0, alone, &err);
        worst = fmaxf(worst, maxdiff(alone, batch + i * 8, 8));
        p += lens[i];
    }
    CHECK(worst <= 1e-6f, "a text inside a padded batch equals the text alone (max diff %.2e)", worst);

    float pix[2 * 3 * 16 * 16], vb[16], va[8];
    sail_rng r = {3};
    for (size_t i = 0; i < sizeof pix / sizeof *pix; i++) pix[i] = sail_rng_normal(&r);
    sail_embed_image_tensors(m, pix, 2, 16, 16, 0, vb, &err);
    sail_embed_image_tensors(m, pix + 3 * 16 * 16, 1, 16, 16, 0, va, &err);
    CHECK(maxdiff(va, vb + 8, 8) <= 1e-6f, "an image inside a batch equals the image alone");

    float v4[4];
    sail_embed_tokens(m, ids, lens, 1, 4, v4, &err);
    float ref[4], nrm = 0;
    for (int i = 0; i < 4; i++) nrm += batch[i] * batch[i];
    for (int i = 0; i < 4; i++) ref[i] = batch[i] / sqrtf(nrm);
    CHECK(maxdiff(v4, ref, 4) <= 1e-6f, "Matryoshka dim 4 = first 4 of 8, re-normalised");

    float big[32];
    int32_t up[] = {2, 40, 3};
    int l3 = 3;
    CHECK(sail_embed_tokens(m, up, &l3, 1, 0, big, &err) == SAIL_ERR_INVALID_ARG && strstr(err.msg, "outside the vocabulary"),
          "token id out of range refused: %s", err.msg);
    CHECK(sail_embed_tokens(m, ids, lens, 1, 9, big, &err) == SAIL_ERR_INVALID_ARG && strstr(err.msg, "8 dimensions"),
          "dim larger than the model refused: %s", err.msg);
    CHECK(sail_embed_image_tensors(m, pix, 1, 12, 16, 0, big, &err) == SAIL_ERR_INVALID_ARG && strstr(err.msg, "patch size"),
          "image size not a multiple of the patch refused: %s", err.msg);
    float joint[8];
    int32_t tid[] = {2, 4, 3};
    int tl = 3;
    sail_batch b = {.n = 1, .ids = tid, .lens = &tl, .pixels = pix, .h = 16, .w = 16};
    CHECK(!sail_forward(m, &b, joint, &err) && fabsf(sail_cosine(joint, joint, 8) - 1) < 1e-5f,
          "a text+image input gives one unit vector");
}

/* n_threads threads on path's model, or NULL. */
static sail_model *load_threads(const char *path, int n_threads) {
    sail_error err = {0};
    sail_load_options o = {.n_threads = n_threads};
    sail_model *m = sail_model_load(path, &o, &err);
    CHECK(m != NULL, "load with %d threads %s", n_threads, err.msg);
    return m;
}

/* Batches whose items split across the threads (sail_forward runs a share
 * of the items a thread where every thread gets rows enough) give the
 * vectors of one thread; a small batch does not split. */
static void test_split(const char *path) {
    enum { NI = 240, NT = 64, NJ = 60 }; /* f32: 256 rows a part and more */
    static float pix[NI * 3 * 16 * 16], one[NI * 8], many[NI * 8];
    static int32_t ids[NT * 16];
    static int lens[NT];
    sail_rng r = {11};
    for (size_t i = 0; i < sizeof pix / sizeof *pix; i++) pix[i] = sail_rng_normal(&r);
    int n_ids = 0;
    for (int i = 0; i < NT; i++) {
        lens[i] = 12 + (int)(sail_rng_next(&r) % 5);
        ids[n_ids++] = 2;
        for (int t = 1; t < lens[i] - 1; t++) ids[n_ids++] = 4 + (int)(sail_rng_next(&r) % 12);
        ids[n_ids++] = 3;
    }
    sail_model *m1 = load_threads(path, 1);
    for (int threads = 2; m1 && threads <= 3; threads++) {
        sail_model *m = load_threads(path, threads);
        if (!m) break;
        sail_error err = {0};
        sail_batch small = {.n = 4, .pixels = pix, .h = 16, .w = 16};
        CHECK(!sail_forward(m, &small, many, &err) && !m->part_arenas,
              "%d threads: 4 images (16 rows) run as one batch %s", threads, err.msg);
        const char *what[3] = {"images", "texts", "texts+images"};
        sail_batch bs[3] = {{.n = NI, .pixels = pix, .h = 16, .w = 16},
                            {.n = NT, .ids = ids, .lens = lens},
                            {.n = NJ, .ids = ids, .lens = lens, .pixels = pix, .h = 16, .w = 16}};
        for (int k = 0; k < 3; k++) {
            if (m->part_arenas) sail_arena_free(&m->part_arenas[threads - 1]); /* its arena shows it ran */
            int ok = !sail_forward(m1, &bs[k], one, &err) && !sail_forward(m, &bs[k], many, &err);
            CHECK(ok && m->part_arenas && m->part_arenas[threads - 1].high > 0 &&
                      maxdiff(one, many, bs[k].n * 8) <= 1e-6f,
                  "%d threads: %d %s, split a part a thread, equal those of one thread (max diff %.2e) %s",
                  threads, bs[k].n, what[k], ok ? maxdiff(one, many, bs[k].n * 8) : -1.0f, err.msg);
        }
        sail_model_free(m);
    }
    sail_model_free(m1);
}

/* The public raw-input paths (pixels, files, text+image) against the tensor
 * and token paths they are built on. */
static void test_raw_inputs(sail_model *m) {
    enum { W = 24, H = 20 };
    unsigned char rgb[H * W * 3];
    sail_rng r = {11};
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (unsigned char)(sail_rng_next(&r) & 255);
    char path[512];
    snprintf(path, sizeof path, "%s/img.ppm", dir);
    FILE *f = fopen(path, "wb");
    fprintf(f, "P6\n%d %d\n255\n", W, H);
    fwrite(rgb, 1, sizeof rgb, f);
    fclose(f);
    sail_error err = {0};
    float chw[3 * 16 * 16], vt[8], vr[8], vf[8], vp[8], vj[8];
    const char *paths[1] = {path}, *texts[1] = {"a b"};
    CHECK(!sail_image_file_tensor(m, path, chw, &err), "sail_image_file_tensor %s", err.msg);
    sail_embed_image_tensors(m, chw, 1, 16, 16, 0, vt, &err);
    CHECK(!sail_embed_images_rgb(m, rgb, 1, H, W, 0, vr, &err) && maxdiff(vr, vt, 8) == 0,
          "RGB pixels embed as their preprocessed tensor %s", err.msg);
    CHECK(!sail_embed_image_files(m, paths, 1, 0, vf, &err) && maxdiff(vf, vt, 8) == 0,
          "an image file embeds as its preprocessed tensor %s", err.msg);
    int32_t ids[52];
    int len = 0;
    CHECK(!sail_tokenize(m, "a b", 3, ids, &len, &err) && len == 4 && ids[0] == 2 && ids[1] == 4 &&
              ids[2] == 5 && ids[3] == 3 && ids[4] == 0,
          "sail_tokenize gives [CLS] a b [SEP] [PAD]...");
    sail_batch b = {.n = 1, .ids = ids, .lens = &len, .pixels = chw, .h = 16, .w = 16};
    sail_forward(m, &b, vj, &err);
    CHECK(!sail_embed_pairs(m, texts, paths, 1, 0, vp, &err) && maxdiff(vp, vj, 8) == 0,
          "a text+image pair embeds as its tokens and tensor fused %s", err.msg);
    CHECK(sail_image_file_tensor(m, "/nonexistent.png", chw, &err) == SAIL_ERR_IO && strstr(err.msg, "nonexistent.png"),
          "a missing image file is named: %s", err.msg);
}

static void test_init(const char *path, const unsigned char *good, size_t n) {
    char p2[512];
    snprintf(p2, sizeof p2, "%s/again.gguf", dir);
    sail_config c = micro();
    sail_error err = {0};
    sail_model_write_random(&c, micro_tokens, 42, p2, &err);
    size_t n2;
    unsigned char *b = slurp(p2, &n2);
    CHECK(n2 == n && !memcmp(b, good, n), "the same seed writes the same bytes");
    sail_free(b);
    sail_model_write_random(&c, micro_tokens, 43, p2, &err);
    b = slurp(p2, &n2);
    CHECK(n2 == n && memcmp(b, good, n), "another seed writes other weights");
    sail_free(b);
    c.text.heads = 3;
    CHECK(sail_model_write_random(&c, micro_tokens, 1, p2, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "heads"),
          "an inconsistent config is refused: %s", err.msg);
    (void)path;
}

int main(void) {
    if (!(dir = scratch_make("sail_test_model"))) return 1;
    char path[512];
    snprintf(path, sizeof path, "%s/micro.gguf", dir);
    sail_model *m = micro_model(path, 42);
    if (!m) return test_done();
    CHECK(sail_model_dim(m) == 8 && sail_model_text_context(m) == 16 && sail_model_image_size(m) == 16,
          "dims, context and image size come from the file");
    test_batching(m);
    test_split(path);
    test_raw_inputs(m);
    sail_model_free(m);

    size_t n;
    unsigned char *good = slurp(path, &n);
    test_init(path, good, n);
    test_corruptions(good, n);
    test_flips(good, n);
    test_truncations(path, good, n);
    sail_free(good);
    scratch_remove();
    return test_done();
}
