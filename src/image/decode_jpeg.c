/* decode_jpeg.c: JPEG through libjpeg-turbo, set up the way PIL sets it up
 * (default IDCT and fancy upsampling; CMYK/YCCK read as inverted Adobe CMYK)
 * so that the RGB bytes equal PIL's Image.open(f).convert("RGB"), followed
 * by ImageOps.exif_transpose when limits->exif_rotate is set.
 *
 * With limits->reduce_floor set, a large JPEG is decoded at 1/2, 1/4 or 1/8
 * scale through libjpeg-turbo's DCT scaling (scale_num / scale_denom): the
 * bytes equal PIL's decode after Image.draft("RGB", (floor, floor)), which
 * picks the same scale when the factor divides both sides. Only such
 * factors are used, so each decoded pixel covers exactly factor x factor
 * source pixels and the resize that follows keeps PIL's geometry.
 *
 * libjpeg reports errors through a callback that must not return: ours
 * longjmps back here with the message. Warnings are never printed; the one
 * that matters, "premature end of data", turns into a truncation error as
 * PIL's "image file is truncated" does. */
#include "image/image_impl.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* A progressive JPEG may carry any number of scans, each a pass over the
 * whole coefficient buffer; real encoders write about ten. */
#define JPEG_MAX_SCANS 500

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub;       /* first: libjpeg casts err to this */
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    int hit_eof;                     /* libjpeg ran out of data */
    char msg[JMSG_LENGTH_MAX + 64];
    uint8_t *row;                    /* CMYK scanline (w*4), owned */
    sail_image img;                  /* output under construction, owned */
} jpeg_ctx;

static void on_error(j_common_ptr c) {
    jpeg_ctx *x = (jpeg_ctx *)c->err;
    if (c->err->msg_code == JERR_OUT_OF_MEMORY)
        snprintf(x->msg, sizeof x->msg, "out of memory");
    else
        c->err->format_message(c, x->msg);
    longjmp(x->jb, 1);
}

static void on_message(j_common_ptr c, int level) {
    jpeg_ctx *x = (jpeg_ctx *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) x->hit_eof = 1;
}

static void on_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    jpeg_ctx *x = (jpeg_ctx *)c->err;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        snprintf(x->msg, sizeof x->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(x->jb, 1);
    }
}

/* ---------------------------------------------------------------- EXIF -- */

static unsigned rd16(const uint8_t *p, int be) { return be ? p[0] << 8 | p[1] : p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int be) {
    return be ? (uint32_t)rd16(p, 1) << 16 | rd16(p + 2, 1) : (uint32_t)rd16(p + 2, 0) << 16 | rd16(p, 0);
}

/* The Orientation tag (0x0112) of IFD0 in a TIFF block, or 1 when absent
 * or malformed. Every offset is checked against n. */
static int tiff_orientation(const uint8_t *t, size_t n) {
    if (n < 8 || !(t[0] == t[1] && (t[0] == 'I' || t[0] == 'M'))) return 1;
    int be = t[0] == 'M';
    if (rd16(t + 2, be) != 42) return 1;
    uint32_t ifd = rd32(t + 4, be);
    if (ifd > n || n - ifd < 2) return 1;
    unsigned count = rd16(t + ifd, be);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) break;
        if (rd16(t + e, be) != 0x0112 || rd32(t + e + 4, be) < 1) continue;
        unsigned type = rd16(t + e + 2, be);
        if (type == 3) return (int)rd16(t + e + 8, be);
        if (type == 4) return (int)(rd32(t + e + 8, be) & 0xffff);
        return 1;
    }
    return 1;
}

/* PIL takes the first APP1 segment that starts with "Exif\0". */
static int jpeg_orientation(j_decompress_ptr d) {
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            !memcmp(m->data, "Exif\0", 5))
            return tiff_orientation(m->data + 6, m->data_length - 6);
    return 1;
}

/* ------------------------------------------------------------- decode -- */

/* PIL unpacks libjpeg's CMYK as "CMYK;I" (Adobe polarity: stored inverted)
 * and convert("RGB") then computes nk - nk*C/255 with its MULDIV255
 * rounding, nk = 255 - K. With stored bytes c' = 255 - C and k' = 255 - K
 * that is k' - muldiv255(255 - c', k'). */
static void cmyk_row_to_rgb(uint8_t *rgb, const uint8_t *cmyk, int w) {
    for (int x = 0; x < w; x++, rgb += 3, cmyk += 4) {
        int nk = cmyk[3];
        for (int c = 0; c < 3; c++) {
            int t = (255 - cmyk[c]) * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            rgb[c] = (uint8_t)(v < 0 ? 0 : v);
        }
    }
}

/* The DCT scaling denominator for a w x h JPEG: the largest of 8, 4, 2 that
 * divides both sides and keeps the short side >= lo; 1 for none. */
static unsigned reduce_denom(unsigned w, unsigned h, int lo) {
    unsigned s = w < h ? w : h;
    for (unsigned d = 8; lo > 0 && d > 1; d /= 2)
        if (w % d == 0 && h % d == 0 && s / d >= (unsigned)lo) return d;
    return 1;
}

/* Everything between setjmp and the end lives in *x, outside this frame,
 * so a longjmp leaves nothing indeterminate. */
static int jpeg_run(j_decompress_ptr d, jpeg_ctx *x, const uint8_t *data, size_t size,
                    const char *name, const sail_image_limits *lim, int *orientation,
                    sail_status *st, sail_error *err) {
    if (setjmp(x->jb)) return -1;
    jpeg_create_decompress(d);
    d->progress = &x->progress;
    jpeg_mem_src(d, data, (unsigned long)size);
    if (lim->exif_rotate) jpeg_save_markers(d, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(d, TRUE);
    int cmyk = d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK;
    d->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if ((*st = sail_img_check_size(name, d->image_width, d->image_height, lim, err)))
        return 0;
    if (lim->exif_rotate) *orientation = jpeg_orientation(d);
    d->scale_num = 1;
    d->scale_denom = reduce_denom(d->image_width, d->image_height, lim->reduce_floor);
    jpeg_start_decompress(d);
    if ((*st = sail_img_alloc(name, (int)d->output_width, (int)d->output_height, &x->img, err)))
        return 0;
    if (cmyk && !(x->row = sail_malloc((size_t)d->output_width * 4))) {
        *st = sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", name);
        return 0;
    }
    while (d->output_scanline < d->output_height) {
        uint8_t *dst = x->img.rgb + (size_t)d->output_scanline * x->img.w * 3;
        JSAMPROW r = cmyk ? x->row : dst;
        if (jpeg_read_scanlines(d, &r, 1) != 1) break;
        if (cmyk) cmyk_row_to_rgb(dst, x->row, x->img.w);
        if (x->hit_eof) break;
    }
    return 0;
}

sail_status sail_img_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                                 const sail_image_limits *lim, sail_image *out,
                                 sail_error *err) {
    struct jpeg_decompress_struct d;
    jpeg_ctx x;
    memset(&x, 0, sizeof x);
    memset(&d, 0, sizeof d);
    d.err = jpeg_std_error(&x.pub);
    x.pub.error_exit = on_error;
    x.pub.emit_message = on_message;
    x.progress.progress_monitor = on_progress;
    int orientation = 1;
    sail_status st = SAIL_OK;
    int failed = jpeg_run(&d, &x, data, size, name, lim, &orientation, &st, err);
    /* Stopping before EOI is fine (PIL does too); the decompressor is
     * destroyed without jpeg_finish_decompress. */
    jpeg_destroy_decompress(&d);
    sail_free(x.row);
    if (!st && (x.hit_eof || failed)) {
        if (x.hit_eof)
            st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated JPEG data", name);
        else if (!strcmp(x.msg, "out of memory"))
            st = sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory decoding JPEG", name);
        else
            st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: invalid JPEG data (%s)", name, x.msg);
    }
    if (!st) st = sail_img_orient(&x.img, orientation, name, err);
    if (st) {
        sail_image_free(&x.img);
        return st;
    }
    *out = x.img;
    return SAIL_OK;
}
