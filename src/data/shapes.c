/* shapes.c: the shapes data set generator. Image i is drawn from the
 * streams of (seed, i) alone, rendered, written as images/NNNNNN.png, and
 * listed (one line per caption language) in the manifest of its split:
 *   test_novel  every scene whose (shape, colour) pair is held out
 *   train/val/test  the others, 90% / 5% / 5% by a per-image draw
 * Manifest lines are {"text", "image", "lang", "group"}. Images are rendered and written on a thread pool; the output
 * does not depend on the number of threads. */
#include "data/data.h"
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


static const char *const split_names[4] = {"train", "val", "test", "test_novel"};

static int split_of(uint64_t seed, uint64_t index, const sail_scene *s) {
    if (sail_scene_is_novel(s->shape, s->colour)) return 3;
    uint64_t u = sail_data_stream(seed, index, 2) % 100;
    return u < 90 ? 0 : u < 95 ? 1 : 2;
}

/* One batch of images rendered and written in parallel; the manifests are
 * then written in index order by the caller, so the bytes do not depend on
 * the thread count. */
#define BATCH 256
typedef struct batch {
    const sail_shapes_options *o;
    const char *dir;
    long first;
    sail_status rc[BATCH];
    sail_error err[BATCH];
} batch;

static void render_one(void *ctx, int task, int thread) {
    batch *b = ctx;
    long i = b->first + task;
    sail_scene s;
    sail_image img = {0};
    char path[4096];
    sail_scene_sample(b->o->seed, (uint64_t)i, b->o->side, &s);
    if (snprintf(path, sizeof path, "%s/images/%06ld.png", b->dir, i) >= (int)sizeof path) {
        b->rc[task] = sail_set_error(&b->err[task], SAIL_ERR_INVALID_ARG, "output path too long: %s", b->dir);
        return;
    }
    b->rc[task] = sail_scene_render(&s, &img, &b->err[task]);
    if (b->rc[task] == SAIL_OK) b->rc[task] = sail_png_write(path, &img, &b->err[task]);
    sail_image_free(&img);
}

sail_status sail_data_shapes(const char *dir, const sail_shapes_options *o,
                             sail_data_progress progress, void *ctx,
                             sail_data_stats *stats, sail_error *err) {
    if (o->n < 1 || o->n > 100000000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "-n must be 1..100000000, not %ld", o->n);
    if (o->side < 32 || o->side > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--size must be 32..1024, not %d", o->side);
    if (o->threads < 0 || o->threads > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--threads must be 0..1024, not %d", o->threads);
    if (!o->en && !o->zh)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no caption language (en, zh) chosen");
    size_t plen = strlen(dir) + 64;
    char *path = sail_malloc(plen);
    if (!path) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    FILE *f[4] = {0};
    sail_data_stats st = {0};
    sail_status rc = sail_data_mkdir(dir, err);
    snprintf(path, plen, "%s/images", dir);
    if (rc == SAIL_OK) rc = sail_data_mkdir(path, err);
    for (int k = 0; k < 4 && rc == SAIL_OK; k++) {
        snprintf(path, plen, "%s/%s.jsonl", dir, split_names[k]);
        if (!(f[k] = fopen(path, "w")))
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    batch *b = rc == SAIL_OK ? sail_calloc(1, sizeof *b) : NULL;
    if (rc == SAIL_OK && !b) rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_pool *pool = rc == SAIL_OK && o->threads != 1 ? sail_pool_new(o->threads) : NULL;
    for (long i = 0; i < o->n && rc == SAIL_OK; i++) {
        if (i % BATCH == 0) {
            b->o = o, b->dir = dir, b->first = i;
            int n = (int)SAIL_MIN(BATCH, o->n - i);
            sail_pool_run(pool, render_one, b, n);
            for (int t = 0; t < n && rc == SAIL_OK; t++)
                if ((rc = b->rc[t]) != SAIL_OK && err) *err = b->err[t];
        }
        if (rc != SAIL_OK) break;
        sail_scene s;
        char image[32], group[96], text[256];
        sail_scene_sample(o->seed, (uint64_t)i, o->side, &s);
        snprintf(image, sizeof image, "images/%06ld.png", i);
        sail_scene_group(&s, group, sizeof group);
        int k = split_of(o->seed, (uint64_t)i, &s);
        for (int l = 0; l < 2 && rc == SAIL_OK; l++) {
            const char *lang = l ? "zh" : "en";
            if (!(l ? o->zh : o->en)) continue;
            if (sail_scene_caption(&s, lang, sail_data_stream(o->seed, (uint64_t)i, 4 + l), text, sizeof text))
                rc = sail_set_error(err, SAIL_ERR_INVALID_ARG, "no caption for scene %s", group);
            else
                rc = sail_data_write_line(f[k], text, image, lang, group, err);
            st.lines[k]++;
        }
        st.images++;
        if (progress && (st.images % 500 == 0 || st.images == o->n)) progress(ctx, st.images, o->n);
    }
    sail_pool_free(pool);
    sail_free(b);
    for (int k = 0; k < 4; k++) {
        snprintf(path, plen, "%s/%s.jsonl", dir, split_names[k]);
        if (f[k] && fclose(f[k]) && rc == SAIL_OK)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    sail_free(path);
    if (stats) *stats = st;
    return rc;
}
