/* output.c: what the generators write: PNG files (libpng, deterministic
 * bytes), manifest lines (jansson) and directories, and the squaring of a
 * transparent picture over white. */
#include "data/data.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <png.h>

typedef struct png_out {
    char msg[200];
} png_out;

static void on_error(png_structp p, png_const_charp msg) {
    png_out *o = png_get_error_ptr(p);
    snprintf(o->msg, sizeof o->msg, "%s", msg ? msg : "error");
    png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

sail_status sail_png_write(const char *path, const sail_image *img, sail_error *err) {
    if (!img || !img->rgb || img->w < 1 || img->h < 1 || img->w > 65535 || img->h > 65535)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: no image or a bad size", path);
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    png_out o = {{0}};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &o, on_error, on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        png_destroy_write_struct(&p, NULL);
        fclose(f);
        return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory in libpng", path);
    }
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return sail_set_error(err, SAIL_ERR_IO, "%s: PNG write failed: %s", path, o.msg);
    }
    png_init_io(p, f);
    /* One filter and zlib level 3: a third of the CPU of libpng's defaults
     * (adaptive filters, level 6) for these images, and no larger. */
    png_set_filter(p, 0, PNG_FILTER_SUB);
    png_set_compression_level(p, 3);
    png_set_IHDR(p, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < img->h; y++) png_write_row(p, img->rgb + (size_t)y * img->w * 3);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    if (fclose(f))
        return sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return SAIL_OK;
}

static int make_dir(const char *path) {
    struct stat st;
    if (!mkdir(path, 0777)) return 0;
    return errno == EEXIST && !stat(path, &st) && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* Like `mkdir -p`: missing parents are created too. */
sail_status sail_data_mkdir(const char *path, sail_error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "directory path is too long");
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = make_dir(buf);
        *p = '/';
        if (rc) break; /* the final mkdir reports the error */
    }
    if (!make_dir(path)) return SAIL_OK;
    return sail_set_error(err, SAIL_ERR_IO, "%s: cannot create the directory: %s", path,
                          strerror(errno));
}

sail_status sail_data_write_json(FILE *f, void *json, const char *group, sail_error *err) {
    json_t *o = json;
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!line)
        return sail_set_error(err, SAIL_ERR_FORMAT, "cannot encode a manifest line for group %s "
                              "(text not UTF-8?)", group);
    int bad = fputs(line, f) < 0 || fputc('\n', f) < 0;
    free(line);
    return bad ? sail_set_error(err, SAIL_ERR_IO, "manifest write failed: %s", strerror(errno)) : SAIL_OK;
}

sail_status sail_data_write_line(FILE *f, const char *text, const char *image, const char *lang,
                                 const char *group, sail_error *err) {
    return sail_data_write_json(f, json_pack("{s:s, s:s, s:s, s:s}", "text", text, "image", image, "lang", lang, "group", group),
                    group, err);
}

sail_status sail_data_write_audio_line(FILE *f, const char *text, const char *audio, const char *image,
                                       const char *lang, const char *group, sail_error *err) {
    return sail_data_write_json(f, json_pack("{s:s, s:s, s:s*, s:s, s:s}", "text", text, "audio", audio, "image", image,
                                 "lang", lang, "group", group), group, err);
}

sail_status sail_data_bgra_square(const uint8_t *bgra, int w, int h, ptrdiff_t stride, int side,
                                  sail_image *out, sail_error *err) {
    if (w < 1 || h < 1 || w > 16384 || h > 16384)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "picture of %dx%d: sides must be 1..16384", w, h);
    int sq = SAIL_MAX(w, h), x0 = (sq - w) / 2, y0 = (sq - h) / 2;
    sail_image canvas = {sq, sq, sail_malloc((size_t)sq * sq * 3)};
    if (!canvas.rgb) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %dx%d canvas", sq, sq);
    memset(canvas.rgb, 255, (size_t)sq * sq * 3);
    for (int y = 0; y < h; y++) {
        const uint8_t *s = bgra + stride * y;
        uint8_t *d = canvas.rgb + ((size_t)(y + y0) * sq + x0) * 3;
        for (int x = 0; x < w; x++, s += 4, d += 3) {
            int a = 255 - s[3]; /* premultiplied: over white adds 255 - alpha */
            d[0] = (uint8_t)SAIL_MIN(s[2] + a, 255);
            d[1] = (uint8_t)SAIL_MIN(s[1] + a, 255);
            d[2] = (uint8_t)SAIL_MIN(s[0] + a, 255);
        }
    }
    sail_status rc = sail_image_resize(&canvas, side, side, SAIL_RESAMPLE_BICUBIC, out, err);
    sail_image_free(&canvas);
    return rc;
}

uint64_t sail_data_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}
