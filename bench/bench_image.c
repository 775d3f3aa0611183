/* bench_image.c: milliseconds per image for sail's decode + resize (PIL
 * bicubic, short side 224, centre crop 224) + normalise, on JPEGs it makes
 * itself (512x512 and 2048x1536, quality 90, a smooth pattern with edges),
 * with preprocessing on 1 thread and on a 2-thread pool (decoding is always
 * one thread). bench/bench_image_pil.py times the same pipeline in PIL +
 * numpy (single-threaded) and, given --sail, runs this and prints ratios. */
#include "image_timing.h"

#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>

#include <jpeglib.h>

/* The same pattern bench_image_pil.py draws. */
static unsigned char *make_jpeg(int w, int h, unsigned long *size) {
    unsigned char *px = malloc((size_t)w * h * 3), *mem = NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(x * 255 / (w - 1));
            p[1] = (unsigned char)(y * 255 / (h - 1));
            p[2] = (unsigned char)((x ^ y) & 255);
        }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, size);
    c.image_width = w, c.image_height = h, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = px + (size_t)c.next_scanline * w * 3;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    return mem;
}

static void bench(int w, int h, int iters, sail_pool *pool) {
    unsigned long size;
    unsigned char *jpg = make_jpeg(w, h, &size);
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
