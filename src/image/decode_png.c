/* decode_png.c: PNG through libpng, with each colour type mapped to RGB the
 * way PIL 9.4's PngImagePlugin + convert("RGB") does it:
 *   gray 1/2/4/8     -> L (1-bit: 0/255; 2/4-bit scaled), replicated
 *   gray 16          -> mode "I" holding 0..65535; convert clips to 255
 *   gray+alpha 8/16  -> L (16-bit: high byte), replicated, alpha dropped
 *   RGB / RGBA 8/16  -> 16-bit: high byte; alpha dropped
 *   palette 1..8     -> looked up in a 256-entry table that starts as a
 *                       gray ramp (PIL's default palette) and is overwritten
 *                       by PLTE, so out-of-range indices read i,i,i
 * tRNS, gAMA, iCCP and friends are ignored, as convert("RGB") ignores them.
 * CRC errors in critical chunks are errors (libpng's default). */
#include "image/image_impl.h"

#include <setjmp.h>
#include <string.h>

#include <png.h>

typedef struct png_ctx {
    const uint8_t *data;
    size_t size, pos;
    char msg[256];
    int truncated;
    uint8_t *buf;         /* decoded rows in libpng's layout, owned */
    sail_image img;       /* output under construction, owned */
} png_ctx;

static void on_error(png_structp p, png_const_charp msg) {
    png_ctx *x = png_get_error_ptr(p);
    strncpy(x->msg, msg ? msg : "error", sizeof x->msg - 1);
    png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

static void on_read(png_structp p, png_bytep dst, size_t n) {
    png_ctx *x = png_get_io_ptr(p);
    if (x->size - x->pos < n) {
        x->truncated = 1;
        png_error(p, "truncated");
    }
    memcpy(dst, x->data + x->pos, n);
    x->pos += n;
}

/* Convert one row from libpng's layout (after the transforms set below) to
 * RGB. ch is the channel count libpng delivers, wide16 marks 16-bit gray. */
static void row_to_rgb(uint8_t *rgb, const uint8_t *s, int w, int type, int ch,
                       int wide16, const uint8_t pal[256][3]) {
    for (int x = 0; x < w; x++, rgb += 3) {
        if (type == PNG_COLOR_TYPE_PALETTE) {
            memcpy(rgb, pal[s[x]], 3);
        } else if (wide16) {
            unsigned v = (unsigned)s[2 * x] << 8 | s[2 * x + 1];
            rgb[0] = rgb[1] = rgb[2] = (uint8_t)(v > 255 ? 255 : v);
        } else if (ch <= 2) {
            rgb[0] = rgb[1] = rgb[2] = s[x * ch];
        } else {
            memcpy(rgb, s + x * ch, 3);
        }
    }
}

static int png_run(png_structp p, png_infop info, png_ctx *x, const char *name,
                   const sail_image_limits *lim, sail_status *st, sail_error *err) {
    if (setjmp(png_jmpbuf(p))) return -1;
    /* libpng's own default cap is 1e6 per side; our limit applies below. */
    png_set_user_limits(p, 0x7fffffff, 0x7fffffff);
    png_set_read_fn(p, x, on_read);
    png_read_info(p, info);
    png_uint_32 w, h;
    int depth, type, interlace;
    png_get_IHDR(p, info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    if ((*st = sail_img_check_size(name, w, h, lim, err))) return 0;

    uint8_t pal[256][3];
    for (int i = 0; i < 256; i++) pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
    int wide16 = type == PNG_COLOR_TYPE_GRAY && depth == 16;
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp plte;
        int n = 0;
        if (png_get_PLTE(p, info, &plte, &n))
            for (int i = 0; i < n && i < 256; i++)
                pal[i][0] = plte[i].red, pal[i][1] = plte[i].green, pal[i][2] = plte[i].blue;
        png_set_packing(p);
    } else if (depth < 8) {
        png_set_expand_gray_1_2_4_to_8(p);
    }
    if (depth == 16 && !wide16) png_set_strip_16(p);
    int passes = png_set_interlace_handling(p);
    png_read_update_info(p, info);
    size_t rowbytes = png_get_rowbytes(p, info), total;
    int ch = png_get_channels(p, info);
    if ((*st = sail_img_alloc(name, (int)w, (int)h, &x->img, err))) return 0;
    if (!sail_mul_ok(rowbytes, passes > 1 ? h : 1, &total) || !(x->buf = sail_malloc(total))) {
        *st = sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", name);
        return 0;
    }
    /* Interlaced images need every row for each pass; otherwise one row
     * buffer suffices. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *row = x->buf + (passes > 1 ? (size_t)y * rowbytes : 0);
            png_read_row(p, row, NULL);
            if (pass == passes - 1)
                row_to_rgb(x->img.rgb + (size_t)y * w * 3, row, (int)w, type, ch, wide16,
                           (const uint8_t(*)[3])pal);
        }
    return 0;
}

sail_status sail_img_decode_png(const uint8_t *data, size_t size, const char *name,
                                const sail_image_limits *lim, sail_image *out,
                                sail_error *err) {
    /* IHDR must come first: its size is checked before libpng reads on, so
     * even a file cut right after the header gets the limit message. */
    if (size >= 24 && !memcmp(data + 12, "IHDR", 4)) {
        uint32_t w = (uint32_t)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
        sail_status st = sail_img_check_size(name, w, h, lim, err);
        if (st) return st;
    }
    png_ctx x;
    memset(&x, 0, sizeof x);
    x.data = data;
    x.size = size;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &x, on_error, on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", name);
    }
    sail_status st = SAIL_OK;
    int failed = png_run(p, info, &x, name, lim, &st, err);
    png_destroy_read_struct(&p, &info, NULL);
    sail_free(x.buf);
    if (!st && failed) {
        if (x.truncated)
            st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated PNG data", name);
        else if (strstr(x.msg, "CRC"))
            st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: PNG CRC error (%s)", name, x.msg);
        else
            st = sail_set_error(err, SAIL_ERR_FORMAT, "%s: invalid PNG data (%s)", name, x.msg);
    }
    if (st) {
        sail_image_free(&x.img);
        return st;
    }
    *out = x.img;
    return SAIL_OK;
}
