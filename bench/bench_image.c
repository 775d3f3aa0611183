/* bench_image.c: milliseconds per image for sail's decode + resize (PIL
 * bicubic, short side 224, centre crop 224) + normalise, on JPEGs it makes
 * itself (512x512 and 2048x1536, quality 90, a smooth pattern with edges),
 * with preprocessing on 1 thread and on a 2-thread pool (decoding is always
 * one thread). bench/bench_image_pil.py times the same pipeline in PIL +
 * numpy (single-threaded) and, given --sail, runs this and prints ratios. */
#include "../tests/image_enc.h"
#include "image_timing.h"

#include <stdio.h>
#include <stdlib.h>

/* The same pattern bench_image_pil.py draws. */
static void pattern_row(void *ctx, int y, unsigned char *row) {
    const int *wh = ctx;
    int w = wh[0], h = wh[1];
    for (int x = 0; x < w; x++) {
        unsigned char *p = row + (size_t)x * 3;
        p[0] = (unsigned char)(x * 255 / (w - 1));
        p[1] = (unsigned char)(y * 255 / (h - 1));
        p[2] = (unsigned char)((x ^ y) & 255);
    }
}

static void bench(int w, int h, int iters, sail_pool *pool) {
    unsigned long size;
    unsigned char *jpg = jpeg_encode_rows(w, h, 3, JCS_RGB, 0, pattern_row, (int[2]){w, h}, &size);
    sail_preprocess p = bench_clip_preprocess();
    double dec, pre;
    int dw = 0, dh = 0;
    bench_decode_preprocess(jpg, size, "bench.jpg", NULL, &p, pool, iters, &dec, &pre, &dw, &dh);
    int n = sail_pool_size(pool);
    printf("sail  %4dx%-4d JPEG -> 224x224: decode %7.3f ms  resize+normalise %7.3f ms  "
           "total %7.3f ms  (%d thread%s)\n",
           w, h, dec, pre, dec + pre, n, n > 1 ? "s" : "");
    free(jpg);
}

int main(void) {
    sail_pool *pool = sail_pool_new(2);
    if (!pool) {
        fprintf(stderr, "bench_image: cannot start threads\n");
        return 1;
    }
    bench(512, 512, 200, NULL);
    bench(512, 512, 200, pool);
    bench(2048, 1536, 30, NULL);
    bench(2048, 1536, 30, pool);
    sail_pool_free(pool);
    return 0;
}
