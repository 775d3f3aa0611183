/* stamps.c: the Tux Paint stamps data set (Debian tuxpaint-stamps-default).
 * A stamp is an image (PNG, else SVG) beside a .txt description whose first
 * plain line is English and whose "<locale>.utf8=" lines are translations
 * (zh_CN gives the Chinese text), and optionally a sound effect (.ogg/.wav)
 * and an English spoken description (_desc.ogg/.wav), decoded by sail's
 * audio decoder (src/audio) to 16 kHz mono WAV. PNGs are read with
 * cairo (sail's decoder drops alpha) and SVGs rendered with librsvg, both as
 * premultiplied BGRA, then squared over white and resized (output.c).
 * Stamps with the same English text form one group; a Chinese text that
 * several groups share is dropped. The split is a seeded hash of the group,
 * so a held-out stamp (and its look-alikes) never reaches train. */
#include "data/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cairo.h>
#include <librsvg/rsvg.h>

#include "dl.h"

/* cairo and librsvg, loaded when a stamps run starts (dl.h) */
#define GFX_FUNCS(X)                                                                                        \
    X(cairo_create) X(cairo_destroy) X(cairo_image_surface_create) X(cairo_image_surface_create_from_png)  \
    X(cairo_image_surface_get_data) X(cairo_image_surface_get_height) X(cairo_image_surface_get_stride)    \
    X(cairo_image_surface_get_width) X(cairo_paint) X(cairo_set_operator) X(cairo_set_source_surface)      \
    X(cairo_surface_destroy) X(cairo_surface_flush) X(cairo_surface_status) X(rsvg_handle_new_from_file)   \
    X(rsvg_handle_render_document) X(g_error_free) X(g_object_unref)
static struct { GFX_FUNCS(SAIL_DL_FIELD) } gx;
SAIL_DL_LOADER(gx, GFX_FUNCS, "libglib-2.0.so.0", "libgobject-2.0.so.0", "libcairo.so.2", "librsvg-2.so.2")

#define STAMPS_DIR "/usr/share/tuxpaint/stamps"
#define TXT_MAX (1 << 20)

static const char *const split_names[3] = {"train", "val", "test"};

/* ---------------------------------------------------------- the stamps -- */

typedef struct stamp {
    char *rel;              /* path below the stamps folder, no extension */
    char *txt;              /* the .txt contents (en, zh point into it) */
    const char *en, *zh;
    int svg;                /* the image is rel.svg (no rel.png) */
    int group;              /* index of the group's first stamp */
    int zh_shared;          /* zh is another group's text too: dropped */
} stamp;

typedef struct walk {
    char **paths;
    size_t n, cap;
} walk;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static sail_status walk_add(walk *w, const char *path, sail_error *err) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 1024;
        char **p = sail_realloc(w->paths, cap * sizeof *p);
        if (!p) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        w->paths = p, w->cap = cap;
    }
    if (!(w->paths[w->n] = strdup(path))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    w->n++;
    return SAIL_OK;
}

/* Every regular file below root/rel, as paths relative to root. */
static sail_status walk_dir(const char *root, const char *rel, int depth, walk *w, sail_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot read the folder: %s%s", path, strerror(errno),
                                  *rel ? "" : " (install tuxpaint-stamps-default, or give --stamps DIR)");
    sail_status rc = SAIL_OK;
    for (struct dirent *e; rc == SAIL_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char sub[4096], full[8192];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub) continue;
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st)) continue;
        if (S_ISDIR(st.st_mode) && depth < 16) rc = walk_dir(root, sub, depth + 1, w, err);
        else if (S_ISREG(st.st_mode)) rc = walk_add(w, sub, err);
    }
    closedir(d);
    return rc;
}

static int has(const walk *w, const char *rel, const char *suffix) {
    char key[4200];
    snprintf(key, sizeof key, "%s%s", rel, suffix);
    const char *k = key;
    return bsearch(&k, w->paths, w->n, sizeof *w->paths, cmp_str) != NULL;
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

static sail_status read_txt(const char *path, char **out, sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    char *buf = sail_malloc(TXT_MAX + 1);
    size_t n = buf ? fread(buf, 1, TXT_MAX + 1, f) : 0;
    fclose(f);
    if (!buf) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (n > TXT_MAX) {
        sail_free(buf);
        return sail_set_error(err, SAIL_ERR_LIMIT, "%s: a description over 1 MiB", path);
    }
    buf[n] = 0;
    *out = buf;
    return SAIL_OK;
}

/* ----------------------------------------------------------- pictures -- */

/* The stamp's picture, premultiplied BGRA, squared and resized. */
static sail_status load_picture(const char *path, int svg, int side, sail_image *out, sail_error *err) {
    cairo_surface_t *s = NULL;
    int w = side, h = side;
    if (svg) {
        GError *ge = NULL;
        RsvgHandle *hd = gx.rsvg_handle_new_from_file(path, &ge);
        s = gx.cairo_image_surface_create(CAIRO_FORMAT_ARGB32, side, side);
        cairo_t *cr = gx.cairo_create(s);
        /* render_document fits the picture into the square, centred, aspect kept */
        RsvgRectangle vp = {0, 0, side, side};
        int ok = hd && gx.rsvg_handle_render_document(hd, cr, &vp, &ge);
        gx.cairo_destroy(cr);
        if (hd) gx.g_object_unref(hd);
        if (!ok) {
            sail_status rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s: librsvg cannot render it: %s", path,
                                            ge ? ge->message : "unknown error");
            if (ge) gx.g_error_free(ge);
            gx.cairo_surface_destroy(s);
            return rc;
        }
    } else {
        cairo_surface_t *png = gx.cairo_image_surface_create_from_png(path);
        if (gx.cairo_surface_status(png) != CAIRO_STATUS_SUCCESS) {
            gx.cairo_surface_destroy(png);
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s: cairo cannot read the PNG", path);
        }
        w = gx.cairo_image_surface_get_width(png), h = gx.cairo_image_surface_get_height(png);
        if (w < 1 || h < 1 || w > 8192 || h > 8192) {
            gx.cairo_surface_destroy(png);
            return sail_set_error(err, SAIL_ERR_LIMIT, "%s: %dx%d; stamps are at most 8192 px a side", path, w, h);
        }
        /* Painted onto ARGB32: one layout whatever the PNG's (gray, RGB without alpha, ...). */
        s = gx.cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
        cairo_t *cr = gx.cairo_create(s);
        gx.cairo_set_source_surface(cr, png, 0, 0);
        gx.cairo_set_operator(cr, CAIRO_OPERATOR_SOURCE);
        gx.cairo_paint(cr);
        gx.cairo_destroy(cr);
        gx.cairo_surface_destroy(png);
    }
    gx.cairo_surface_flush(s);
    sail_status rc = gx.cairo_surface_status(s) != CAIRO_STATUS_SUCCESS
                         ? sail_set_error(err, SAIL_ERR_NOMEM, "%s: cairo ran out of memory", path)
                         : sail_data_bgra_square(gx.cairo_image_surface_get_data(s), w, h,
                                                 gx.cairo_image_surface_get_stride(s), side, out, err);
    gx.cairo_surface_destroy(s);
    return rc;
}

/* ---------------------------------------------------------- generator -- */

/* Parse every stamp's description, then group and flag shared Chinese. */
static sail_status load_stamps(const char *root, const walk *w, stamp **out, int *n_out,
                               sail_stamps_stats *st, sail_error *err) {
    stamp *v = sail_calloc(w->n ? w->n : 1, sizeof *v);
    if (!v) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    int n = 0;
    sail_status rc = SAIL_OK;
    for (size_t i = 0; i < w->n && rc == SAIL_OK; i++) {
        const char *p = w->paths[i];
        if ((ends_with(p, ".png") || ends_with(p, ".svg"))) {
            char rel[4096];
            snprintf(rel, sizeof rel, "%.*s", (int)strlen(p) - 4, p);
            if (!has(w, rel, ".txt") && !(ends_with(p, ".svg") && has(w, rel, ".png"))) st->no_txt++;
        }
        if (!ends_with(p, ".txt")) continue;
        stamp *s = &v[n];
        size_t len = strlen(p) - 4;
        if (!(s->rel = sail_malloc(len + 1))) {
            rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(s->rel, p, len), s->rel[len] = 0;
        s->svg = !has(w, s->rel, ".png");
        if (s->svg && !has(w, s->rel, ".svg")) {
            st->no_image++;
            sail_free(s->rel);
            continue;
        }
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", root, p);
        rc = read_txt(path, &s->txt, err);
        n++;
        if (rc == SAIL_OK && sail_stamp_txt_parse(s->txt, &s->en, &s->zh))
            rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s: no English description line", path);
    }
    /* Groups and shared Chinese texts: quadratic in the stamps, which are
     * about a thousand. */
    for (int i = 0; i < n && rc == SAIL_OK; i++) {
        v[i].group = i;
        for (int j = 0; j < i; j++)
            if (!strcmp(v[i].en, v[j].en)) {
                v[i].group = v[j].group;
                break;
            }
    }
    for (int i = 0; i < n && rc == SAIL_OK; i++)
        for (int j = 0; j < n && v[i].zh; j++)
            if (v[j].zh && v[j].group != v[i].group && !strcmp(v[i].zh, v[j].zh)) v[i].zh_shared = 1;
    *out = v, *n_out = n;
    return rc;
}

static void free_stamps(stamp *v, int n) {
    for (int i = 0; i < n && v; i++) sail_free(v[i].rel), sail_free(v[i].txt);
    sail_free(v);
}

int sail_stamps_split(uint64_t seed, const char *group) {
    uint64_t u = sail_data_stream(seed, sail_data_hash(group), 13) % 100;
    return u < 80 ? 0 : u < 90 ? 1 : 2;
}

/* Make the folders of dir/sub/rel's file. */
static sail_status mkdir_for(const char *dir, const char *sub, const char *rel, sail_error *err) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, rel);
    *strrchr(path, '/') = 0;
    return sail_data_mkdir(path, err);
}

/* The stamp's sounds, decoded by sail's audio decoder (mono, 16 kHz, as
 * the audio tower reads them) and written as WAV, and their lines. */
static sail_status write_sounds(const char *dir, const char *root, const walk *w, const stamp *s, const char *group,
                                const char *image, FILE *f, long *lines, long *files, sail_error *err) {
    static const char *const kinds[2] = {"", "_desc"}, *const exts[2] = {".ogg", ".wav"};
    sail_status rc = SAIL_OK;
    for (int k = 0; k < 2 && rc == SAIL_OK; k++)
        for (int e = 0; e < 2 && rc == SAIL_OK; e++) {
            char suffix[16], src[8192], audio[4200], path[8192];
            snprintf(suffix, sizeof suffix, "%s%s", kinds[k], exts[e]);
            if (!has(w, s->rel, suffix)) continue;
            snprintf(src, sizeof src, "%s/%s%s", root, s->rel, suffix);
            snprintf(audio, sizeof audio, "audio/%s%s.wav", s->rel, kinds[k]);
            snprintf(path, sizeof path, "%s/%s", dir, audio);
            rc = mkdir_for(dir, "audio", s->rel, err);
            sail_audio a = {0};
            sail_audio_options ao = {SAIL_SOUND_RATE, 0, 0};
            if (rc == SAIL_OK) rc = sail_audio_decode_file(src, &ao, &a, err);
            if (rc == SAIL_OK) rc = sail_wav_write(path, a.samples, (size_t)a.n, err);
            sail_audio_free(&a);
            if (rc == SAIL_OK) rc = sail_data_write_audio_line(f, s->en, audio, image, "en", group, err);
            ++*lines, ++*files;
            /* A sound effect fits the Chinese text too; a spoken description is English. */
            if (rc == SAIL_OK && !k && s->zh && !s->zh_shared) {
                rc = sail_data_write_audio_line(f, s->zh, audio, image, "zh", group, err);
                ++*lines;
            }
            break; /* one file per kind: .ogg before .wav */
        }
    return rc;
}

sail_status sail_data_stamps(const char *dir, const sail_stamps_options *o, sail_data_progress progress,
                             void *ctx, sail_stamps_stats *stats, sail_error *err) {
    if (o->side < 16 || o->side > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--size must be 16..1024, not %d", o->side);
    if (o->limit < 0) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--limit must be positive");
    const char *why = gx_load();
    if (why)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "the stamps generator needs cairo and librsvg (%s); on "
                              "Debian: apt-get install libcairo2 librsvg2-2", why);
    const char *root = o->stamps ? o->stamps : STAMPS_DIR;
    sail_stamps_stats st = {0};
    walk w = {0};
    stamp *v = NULL;
    int n = 0;
    FILE *f[3] = {0}, *fs[3] = {0};
    sail_status rc = walk_dir(root, "", 0, &w, err);
    if (rc == SAIL_OK) qsort(w.paths, w.n, sizeof *w.paths, cmp_str);
    if (rc == SAIL_OK) rc = load_stamps(root, &w, &v, &n, &st, err);
    if (rc == SAIL_OK && !n) rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s holds no stamp (an image with a .txt)", root);
    if (rc == SAIL_OK) rc = sail_data_mkdir(dir, err);
    for (int k = 0; k < 3 && rc == SAIL_OK; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, split_names[k]);
        if (!(f[k] = fopen(path, "w")))
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        snprintf(path, sizeof path, "%s/sounds_%s.jsonl", dir, split_names[k]);
        if (rc == SAIL_OK && !(fs[k] = fopen(path, "w")))
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    long total = o->limit && o->limit < n ? o->limit : n;
    for (long i = 0; i < total && rc == SAIL_OK; i++) {
        const stamp *s = &v[i];
        const char *group = v[s->group].rel;
        int k = sail_stamps_split(o->seed, group);
        char image[4200], src[8192], path[8192];
        snprintf(image, sizeof image, "images/%s.png", s->rel);
        snprintf(src, sizeof src, "%s/%s%s", root, s->rel, s->svg ? ".svg" : ".png");
        snprintf(path, sizeof path, "%s/%s", dir, image);
        sail_image img = {0};
        rc = mkdir_for(dir, "images", s->rel, err);
        if (rc == SAIL_OK) rc = load_picture(src, s->svg, o->side, &img, err);
        if (rc == SAIL_OK) rc = sail_png_write(path, &img, err);
        sail_image_free(&img);
        if (rc == SAIL_OK) rc = sail_data_write_line(f[k], s->en, image, "en", group, err);
        if (rc == SAIL_OK && s->zh && !s->zh_shared) rc = sail_data_write_line(f[k], s->zh, image, "zh", group, err);
        if (rc == SAIL_OK) rc = write_sounds(dir, root, &w, s, group, image, fs[k], &st.sound_lines[k], &st.sounds,
                                             err);
        st.stamps[k]++, st.svg += s->svg;
        st.lines[k] += 1 + (s->zh && !s->zh_shared);
        st.zh_shared += s->zh && s->zh_shared;
        if (progress && ((i + 1) % 20 == 0 || i + 1 == total)) progress(ctx, i + 1, total);
    }
    for (int k = 0; k < 3; k++) {
        if (f[k] && fclose(f[k]) && rc == SAIL_OK)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s/%s.jsonl: write failed: %s", dir, split_names[k], strerror(errno));
        if (fs[k] && fclose(fs[k]) && rc == SAIL_OK)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s/sounds_%s.jsonl: write failed: %s", dir, split_names[k],
                                strerror(errno));
    }
    free_stamps(v, n);
    for (size_t i = 0; i < w.n; i++) free(w.paths[i]);
    sail_free(w.paths);
    if (stats) *stats = st;
    return rc;
}
