/* image_enc.h: in-memory PNG and JPEG writers (libpng, libjpeg) for the C
 * tests that need encoded images as input. */
#ifndef SAIL_TESTS_IMAGE_ENC_H
#define SAIL_TESTS_IMAGE_ENC_H

#include <stdint.h>
#include <stdio.h>

#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static inline void buf_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static inline void png_put(png_structp p, png_bytep d, size_t n) { buf_put(png_get_io_ptr(p), d, n); }
static inline void png_flush_nop(png_structp p) { (void)p; }

/* A PNG of w x h with `ch` channels of `depth` bits, rows taken from px
 * (rows packed as libpng expects them). */
static inline buf png_encode(int w, int h, int type, int depth, int interlace, const uint8_t *px) {
    buf b = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    png_set_write_fn(p, &b, png_put, png_flush_nop);
    png_set_IHDR(p, info, w, h, depth, type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, 0, 0);
    png_write_info(p, info);
    size_t rb = png_get_rowbytes(p, info);
    int passes = png_set_interlace_handling(p);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_write_row(p, px + (size_t)y * rb);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    return b;
}

static inline buf jpeg_encode(int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px,
                       int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *mem = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = w;
    c.image_height = h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)px + (size_t)c.next_scanline * w * comps;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf b = {0};
    buf_put(&b, mem, size);
    free(mem);
    return b;
}

#endif
