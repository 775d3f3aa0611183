/* image_tool.c: a test driver, not a test: tests/test_image_pil.py compiles
 * it with the src/image sources and feeds it jobs on stdin, one per line,
 * answering one line each on stdout ("ok W H" or "err MESSAGE"):
 *   decode IN OUT [noexif]          IN decoded by sail, raw RGB to OUT
 *   resize IN W H OW OH FILTER OUT  raw RGB W x H -> OW x OH (FILTER 2|3)
 *   preprocess IN SIZE CROP FILTER OUT   float32 CHW, CLIP mean/std
 * One process for all jobs keeps the Python test fast. It lives outside the
 * tests/test_*.c pattern so tests/run.sh does not run it on its own. */
#include "common.h"
#include "sail_apps.h"
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int read_raw(const char *path, int w, int h, sail_image *img) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    img->w = w;
    img->h = h;
    img->rgb = sail_malloc((size_t)w * h * 3);
    int ok = img->rgb && fread(img->rgb, 1, (size_t)w * h * 3, f) == (size_t)w * h * 3;
    fclose(f);
    return ok ? 0 : -1;
}

static void job(char *line) {
    char op[16], in[1024], out[1024], extra[16] = "";
    int w, h, ow, oh, filter, size, crop;
    sail_error err = {SAIL_OK, ""};
    sail_image img = {0, 0, NULL}, res = {0, 0, NULL};
    if (sscanf(line, "%15s", op) != 1) return;
    if (!strcmp(op, "decode") && sscanf(line, "%*s %1023s %1023s %15s", in, out, extra) >= 2) {
        sail_image_limits lim = sail_image_default_limits();
        lim.exif_rotate = strcmp(extra, "noexif") != 0;
        if (sail_image_load(in, &lim, &img, &err)) {
            printf("err %s\n", err.msg);
            return;
        }
        write_file(out, img.rgb, (size_t)img.w * img.h * 3);
        printf("ok %d %d\n", img.w, img.h);
    } else if (!strcmp(op, "resize") &&
               sscanf(line, "%*s %1023s %d %d %d %d %d %1023s", in, &w, &h, &ow, &oh, &filter,
                      out) == 7) {
        if (read_raw(in, w, h, &img)) {
            printf("err cannot read %s\n", in);
        } else if (sail_image_resize(&img, ow, oh, (sail_resample)filter, &res, &err)) {
            printf("err %s\n", err.msg);
        } else {
            write_file(out, res.rgb, (size_t)ow * oh * 3);
            printf("ok %d %d\n", ow, oh);
        }
        sail_image_free(&res);
    } else if (!strcmp(op, "preprocess") &&
               sscanf(line, "%*s %1023s %d %d %d %1023s", in, &size, &crop, &filter, out) == 5) {
        sail_preprocess p = {size, crop, (sail_resample)filter,
                             {0.48145466f, 0.4578275f, 0.40821073f},
                             {0.26862954f, 0.26130258f, 0.27577711f}, 0};
        int s = sail_preprocess_side(&p);
        float *chw = malloc(sizeof(float) * 3 * (size_t)s * s);
        int64_t shape[3] = {3, s, s};
        if (sail_image_load(in, NULL, &img, &err) || sail_image_preprocess(&img, &p, chw, &err) ||
            sail_npy_write_f32(out, chw, 3, shape, &err))
            printf("err %s\n", err.msg);
        else
            printf("ok %d %d\n", s, s);
        free(chw);
    } else {
        printf("err bad job: %s", line);
    }
    sail_image_free(&img);
}

int main(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        job(line);
        fflush(stdout);
    }
    return 0;
}
