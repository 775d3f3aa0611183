/* shapes.c: the shapes data set generator. Image i is drawn from the
 * streams of (seed, i) alone, rendered, written as images/NNNNNN.png, and
 * listed (one line per caption language) in the manifest of its split:
 *   test_novel  every scene whose (shape, colour) pair is held out
 *   train/val/test  the others, 90% / 5% / 5% by a per-image draw
 * Manifest lines are {"text", "image", "lang", "group"} written with
 * jansson. */
#include "data/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

static const char *const split_names[4] = {"train", "val", "test", "test_novel"};

static int split_of(uint64_t seed, uint64_t index, const sail_scene *s) {
    if (sail_scene_is_novel(s->shape, s->colour)) return 3;
    uint64_t u = sail_data_stream(seed, index, 2) % 100;
    return u < 90 ? 0 : u < 95 ? 1 : 2;
}

static sail_status write_line(FILE *f, const char *path, const char *text,
                              const char *image, const char *lang, const char *group,
                              sail_error *err) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "text", text, "image", image,
                          "lang", lang, "group", group);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!line) return sail_set_error(err, SAIL_ERR_NOMEM, "%s: cannot encode a manifest line", path);
    int bad = fputs(line, f) < 0 || fputc('\n', f) < 0;
    free(line);
    if (bad) return sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return SAIL_OK;
}

sail_status sail_data_shapes(const char *dir, const sail_shapes_options *o,
                             sail_data_progress progress, void *ctx,
                             sail_data_stats *stats, sail_error *err) {
    if (o->n < 1 || o->n > 100000000)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "-n must be 1..100000000, not %ld", o->n);
    if (o->side < 32 || o->side > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--size must be 32..1024, not %d", o->side);
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
    for (long i = 0; i < o->n && rc == SAIL_OK; i++) {
        sail_scene s;
        sail_image img = {0};
        char image[32], group[96], text[256];
        sail_scene_sample(o->seed, (uint64_t)i, o->side, &s);
        snprintf(image, sizeof image, "images/%06ld.png", i);
        snprintf(path, plen, "%s/%s", dir, image);
        rc = sail_scene_render(&s, &img, err);
        if (rc == SAIL_OK) rc = sail_png_write(path, &img, err);
        sail_image_free(&img);
        sail_scene_group(&s, group, sizeof group);
        int k = split_of(o->seed, (uint64_t)i, &s);
        for (int l = 0; l < 2 && rc == SAIL_OK; l++) {
            const char *lang = l ? "zh" : "en";
            if (!(l ? o->zh : o->en)) continue;
            if (sail_scene_caption(&s, lang, sail_data_stream(o->seed, (uint64_t)i, 4 + l), text, sizeof text))
                rc = sail_set_error(err, SAIL_ERR_INVALID_ARG, "no caption for scene %s", group);
            else
                rc = write_line(f[k], split_names[k], text, image, lang, group, err);
            st.lines[k]++;
        }
        st.images++;
        if (progress && (st.images % 500 == 0 || st.images == o->n)) progress(ctx, st.images, o->n);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(path, plen, "%s/%s.jsonl", dir, split_names[k]);
        if (f[k] && fclose(f[k]) && rc == SAIL_OK)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    sail_free(path);
    if (stats) *stats = st;
    return rc;
}
