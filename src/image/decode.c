/* decode.c: the front door of image decoding: read the file, sniff the
 * format from its first bytes, enforce the size limits, dispatch to the
 * JPEG/PNG/WebP decoders and decode PPM/PGM itself (pixels.c holds the
 * buffer they all fill).
 *
 * Every decoder reads the dimensions from the header and calls
 * sail_img_check_size before it allocates a pixel buffer (or lets libjpeg
 * allocate one), so a small file that claims 100000x100000 costs nothing. */
#include "image/image_impl.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Files up to 256 MiB, or 8 bytes per allowed pixel (16-bit RGBA stored
 * raw) when the pixel bound is larger; a longer file is refused before it is
 * read whole. */
#define SAIL_IMG_MIN_FILE_CAP ((size_t)256 << 20)

/* A JPEG is decoded at 1/2, 1/4 or 1/8 scale only while it stays at least
 * this many times the resize target: the final bicubic resize then still
 * filters the DCT's box-like average (PIL's thumbnail draft uses the same
 * reducing gap of 2). Measured on photos, a gap of 1 loses ten times more
 * parity with PIL's full decode, and fine stripes alias (docs/INPUTS.md). */
#define REDUCE_GAP 2

/* The process-wide options of sail_set_image_options. */
static _Atomic int64_t g_max_pixels = SAIL_IMAGE_MAX_PIXELS;
static _Atomic int g_exact_decode;

sail_status sail_set_image_options(const sail_image_options *o, sail_error *err) {
    const int64_t cap = (int64_t)SAIL_IMAGE_MAX_SIDE * SAIL_IMAGE_MAX_SIDE;
    sail_image_options d = {SAIL_IMAGE_MAX_PIXELS, 0};
    if (!o) o = &d;
    if (o->max_pixels < 0 || o->max_pixels > cap)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "max_pixels %lld is not in 0..%lld (0 = the default, %lld)",
                              (long long)o->max_pixels, (long long)cap,
                              (long long)SAIL_IMAGE_MAX_PIXELS);
    atomic_store(&g_max_pixels, o->max_pixels ? o->max_pixels : SAIL_IMAGE_MAX_PIXELS);
    atomic_store(&g_exact_decode, o->exact_decode != 0);
    return SAIL_OK;
}

sail_image_limits sail_image_default_limits(void) {
    sail_image_limits l = {SAIL_IMAGE_MAX_SIDE, atomic_load(&g_max_pixels), 1, 0};
    return l;
}

sail_image_limits sail_image_limits_for(const sail_preprocess *p) {
    sail_image_limits l = sail_image_default_limits();
    if (p && p->size > 0 && !atomic_load(&g_exact_decode)) l.reduce_floor = REDUCE_GAP * p->size;
    return l;
}

/* ------------------------------------------------------------ PPM -- */

/* Netpbm header tokens as PIL reads them: whitespace-separated, '#' starts
 * a comment that runs to the end of the line, at most 10 characters. */
static int ppm_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int ppm_token(const uint8_t *d, size_t n, size_t *pos, long *val) {
    size_t p = *pos;
    while (p < n && (ppm_space(d[p]) || d[p] == '#')) {
        if (d[p] == '#')
            while (p < n && d[p] != '\n' && d[p] != '\r') p++;
        else
            p++;
    }
    long v = 0;
    int len = 0;
    while (p < n && d[p] >= '0' && d[p] <= '9' && len < 10) v = v * 10 + (d[p++] - '0'), len++;
    if (len == 0 || p >= n || !ppm_space(d[p])) return -1;
    *pos = p + 1; /* the one whitespace byte that ends a token */
    *val = v;
    return 0;
}

/* PIL scales a sample v of a file whose maxval is not 255 to
 * round(v / maxval * out_max) with Python's round-half-even, out_max being
 * 255 for RGB and L, and 65535 for 16-bit PGM (mode "I"), which
 * convert("RGB") then clips to 255. */
static uint8_t ppm_sample(unsigned v, long maxval, int wide_gray) {
    if (maxval == 255) return (uint8_t)v;
    if (wide_gray && maxval == 65535) return v > 255 ? 255 : (uint8_t)v;
    double out_max = wide_gray ? 65535.0 : 255.0;
    double r = nearbyint((double)v / (double)maxval * out_max);
    if (r > out_max) r = out_max;
    return r > 255.0 ? 255 : (uint8_t)r;
}

static sail_status decode_ppm(const uint8_t *d, size_t n, const char *name,
                              const sail_image_limits *lim, sail_image *out,
                              sail_error *err) {
    int bands = d[1] == '6' ? 3 : 1;
    size_t pos = 2;
    long w, h, maxval;
    if (ppm_token(d, n, &pos, &w) || ppm_token(d, n, &pos, &h) ||
        ppm_token(d, n, &pos, &maxval))
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: invalid PPM/PGM header", name);
    if (maxval < 1 || maxval > 65535)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "%s: PPM/PGM maxval %ld is not in 1..65535", name, maxval);
    sail_status st = sail_img_check_size(name, w, h, lim, err);
    if (st) return st;
    size_t bps = maxval > 255 ? 2 : 1, need = (size_t)w * (size_t)h * bands * bps;
    if (n - pos < need)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated PPM/PGM data", name);
    if ((st = sail_img_alloc(name, (int)w, (int)h, out, err))) return st;
    const uint8_t *s = d + pos;
    uint8_t *o = out->rgb;
    int wide_gray = bands == 1 && maxval > 255;
    for (size_t i = 0, np = (size_t)w * (size_t)h; i < np; i++) {
        for (int c = 0; c < bands; c++, s += bps) {
            unsigned v = bps == 2 ? (unsigned)s[0] << 8 | s[1] : s[0];
            o[c] = ppm_sample(v, maxval, wide_gray);
        }
        if (bands == 1) o[1] = o[2] = o[0];
        o += 3;
    }
    return SAIL_OK;
}

/* ----------------------------------------------------------- sniff -- */

/* "hell" for text, \xNN for bytes that would garble a terminal. */
static void describe_start(const uint8_t *d, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && i < 4 && k + 5 < cap; i++) {
        if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\'' && d[i] != '\\')
            buf[k++] = (char)d[i], buf[k] = 0;
        else
            k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", d[i]);
    }
}

sail_status sail_image_decode(const uint8_t *data, size_t size, const char *name,
                              const sail_image_limits *limits, sail_image *out,
                              sail_error *err) {
    sail_image_limits def = sail_image_default_limits();
    const sail_image_limits *lim = limits ? limits : &def;
    if (!name) name = "<memory>";
    if (!out || (!data && size))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: no image data or output", name);
    if (size == 0) return sail_set_error(err, SAIL_ERR_FORMAT, "%s: file is empty", name);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return sail_img_decode_jpeg(data, size, name, lim, out, err);
    if (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))
        return sail_img_decode_png(data, size, name, lim, out, err);
    if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4))
        return sail_img_decode_webp(data, size, name, lim, out, err);
    if (size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6'))
        return decode_ppm(data, size, name, lim, out, err);
    if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '4')
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "%s: plain (ASCII) and bitmap Netpbm files (P1-P4) are not "
                              "supported; use binary PPM (P6) or PGM (P5)", name);
    char start[32];
    describe_start(data, size, start, sizeof start);
    return sail_set_error(err, SAIL_ERR_FORMAT,
                          "%s: not a JPEG, PNG, WebP or PPM file (starts with '%s')", name,
                          start);
}

/* ------------------------------------------------------------ file -- */

static sail_status read_file(const char *path, size_t max, uint8_t **data, size_t *size,
                             sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = sail_malloc(cap);
    sail_status st = buf ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    while (!st) {
        if (n == cap) {
            uint8_t *nb = cap < max ? sail_realloc(buf, SAIL_MIN(cap * 2, max)) : NULL;
            if (!nb) {
                st = cap < max ? sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path)
                               : sail_set_error(err, SAIL_ERR_LIMIT,
                                                "%s: file is larger than %zu MiB", path,
                                                max >> 20);
                break;
            }
            buf = nb;
            cap = SAIL_MIN(cap * 2, max);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = sail_set_error(err, SAIL_ERR_IO, "%s: read error: %s", path,
                                               strerror(errno ? errno : EIO));
            break;
        }
    }
    fclose(f);
    if (st) {
        sail_free(buf);
        return st;
    }
    *data = buf;
    *size = n;
    return SAIL_OK;
}

sail_status sail_image_load(const char *path, const sail_image_limits *limits,
                            sail_image *out, sail_error *err) {
    if (!path) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no image path");
    sail_image_limits def = sail_image_default_limits();
    const sail_image_limits *lim = limits ? limits : &def;
    /* At most 8 bytes for each of 2^30 pixels (SAIL_IMAGE_MAX_SIDE^2). */
    size_t px = lim->max_pixels > 0 && lim->max_pixels < (int64_t)1 << 30
                    ? (size_t)lim->max_pixels : (size_t)1 << 30;
    size_t max = SAIL_MAX(SAIL_IMG_MIN_FILE_CAP, px * 8);
    uint8_t *data = NULL;
    size_t size = 0;
    sail_status st = read_file(path, max, &data, &size, err);
    if (st) return st;
    st = sail_image_decode(data, size, path, limits, out, err);
    sail_free(data);
    return st;
}
