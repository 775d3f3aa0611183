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

/* Makes row y (w x components bytes) of an image being encoded. */
typedef void (*jpeg_row_fn)(void *ctx, int y, uint8_t *row);

/* A JPEG (quality 90) of w x h with `comps` channels in colour space cs,
 * its rows made one at a time by row(ctx, y, ...), so no whole image need
 * be held (a 12 Mpx photo). Returns libjpeg's buffer (free with free())
 * and its length in *size, or NULL when out of memory. */
static inline unsigned char *jpeg_encode_rows(int w, int h, int comps, J_COLOR_SPACE cs, int progressive,
                                              jpeg_row_fn row, void *ctx, unsigned long *size) {
    uint8_t *r = malloc((size_t)w * comps);
    if (!r) return NULL;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *mem = NULL;
    *size = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        row(ctx, y, r);
        JSAMPROW p = r;
        jpeg_write_scanlines(&c, &p, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(r);
    return mem;
}

typedef struct jpeg_rows { const uint8_t *px; size_t stride; } jpeg_rows;
static inline void jpeg_copy_row(void *ctx, int y, uint8_t *row) {
    const jpeg_rows *s = ctx;
    memcpy(row, s->px + (size_t)y * s->stride, s->stride);
}

/* A JPEG (quality 90) of the w x h image px (rows packed, comps channels). */
static inline buf jpeg_encode(int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px, int progressive) {
    jpeg_rows src = {px, (size_t)w * comps};
    unsigned long size = 0;
    unsigned char *mem = jpeg_encode_rows(w, h, comps, cs, progressive, jpeg_copy_row, &src, &size);
    buf b = {0};
    if (mem) buf_put(&b, mem, size);
    free(mem);
    return b;
}

#endif
