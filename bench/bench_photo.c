/* bench_photo.c: milliseconds per phone photo (a 4032x3024 JPEG) for
 * sail's decode + CLIP preprocessing (bicubic, short side 224, centre crop
 * 224, normalise), decoded at full size (exact_decode, PIL's bytes) and at
 * the reduced DCT scale sail picks by default, with the resampling on 1
 * thread and on a 2-thread pool. Also the bytes of the decoded image.
 *
 *     bench_photo [FILE.jpg [ITERS]]
 *
 * Without FILE it draws a photo-like 4032x3024 JPEG itself (gradients,
 * edges, grain; quality 90). bench/bench_photo_pil.py times PIL + numpy on
 * the same file and prints the ratios. */
#include "../tests/image_enc.h"
#include "image_timing.h"

#include <stdio.h>
#include <stdlib.h>

/* Gradients, edges and seeded grain, a row at a time. */
typedef struct drawing { int w, h; unsigned seed; } drawing;
static void draw_row(void *ctx, int y, unsigned char *row) {
    drawing *d = ctx;
    int w = d->w, h = d->h;
    for (int x = 0; x < w; x++) {
        d->seed = d->seed * 1664525u + 1013904223u;
        int g = (int)(d->seed >> 28) - 8, v[3] = {x * 255 / w, y * 255 / h, (x / 97 + y / 61) % 2 * 120 + 60};
        for (int k = 0; k < 3; k++) row[3 * x + k] = (unsigned char)(v[k] + g < 0 ? 0 : v[k] + g > 255 ? 255 : v[k] + g);
    }
}

static void bench(const unsigned char *jpg, unsigned long size, int exact, int iters, sail_pool *pool) {
    sail_preprocess p = bench_clip_preprocess();
    sail_image_limits lim = exact ? sail_image_default_limits() : sail_image_limits_for(&p);
    double dec, pre;
    int w = 0, h = 0, dw = 0, dh = 0;
    bench_decode_preprocess(jpg, size, "photo.jpg", &lim, &p, pool, iters, &dec, &pre, &dw, &dh);
    sail_image_limits full = sail_image_default_limits();
    sail_image probe;
    if (!sail_image_decode(jpg, size, "photo.jpg", &full, &probe, NULL)) {
        w = probe.w, h = probe.h;
        sail_image_free(&probe);
    }
    int n = sail_pool_size(pool);
    printf("sail %-5s %dx%d JPEG -> 224x224: decode %8.3f ms  resize+normalise %7.3f ms  total %8.3f ms  "
           "(decoded %dx%d, %.1f MB; %d thread%s)\n",
           exact ? "exact" : "dct", w, h, dec, pre, dec + pre, dw, dh, dw * (double)dh * 3 / 1e6, n,
           n > 1 ? "s" : "");
}

int main(int argc, char **argv) {
    unsigned long size = 0;
    unsigned char *jpg = NULL;
    if (argc > 1) sail_read_file(argv[1], (size_t)1 << 30, &jpg, &size, NULL);
    else jpg = jpeg_encode_rows(4032, 3024, 3, JCS_RGB, 0, draw_row, &(drawing){4032, 3024, 1}, &size);
    int iters = argc > 2 ? atoi(argv[2]) : 10;
    sail_pool *pool = sail_pool_new(2);
    if (!jpg || !pool || iters < 1) {
        fprintf(stderr, "usage: bench_photo [FILE.jpg [ITERS]] (cannot read the file or start threads)\n");
        return 1;
    }
    bench(jpg, size, 1, iters, NULL);
    bench(jpg, size, 0, iters, NULL);
    bench(jpg, size, 0, iters, pool);
    sail_pool_free(pool);
    free(jpg);
    return 0;
}
