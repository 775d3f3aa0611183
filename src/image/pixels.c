/* pixels.c: the image buffer every decoder fills: the size check made
 * from the header before anything is allocated, the allocation, EXIF
 * orientation and free. The decoders (decode_*.c) and decode.c both use
 * these; nothing here knows a file format. */
#include "image/image_impl.h"

#include <string.h>

sail_status sail_img_check_size(const char *name, int64_t w, int64_t h,
                                const sail_image_limits *lim, sail_error *err) {
    if (w <= 0 || h <= 0)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: image has zero width or height",
                              name);
    if (w > INT32_MAX || h > INT32_MAX)
        return sail_set_error(err, SAIL_ERR_LIMIT, "%s: image is %lldx%lld; too large",
                              name, (long long)w, (long long)h);
    /* Pixel counts are compared in 64 bits: both sides fit in 31 bits. */
    if (lim->max_pixels > 0 && w * h > lim->max_pixels)
        return sail_set_error(err, SAIL_ERR_LIMIT,
                              "%s: image is %lldx%lld (%lld pixels); the limit is %lld pixels "
                              "(--max-image-pixels)",
                              name, (long long)w, (long long)h, (long long)(w * h),
                              (long long)lim->max_pixels);
    if (lim->max_side > 0 && (w > lim->max_side || h > lim->max_side))
        return sail_set_error(err, SAIL_ERR_LIMIT, "%s: image is %lldx%lld; the limit is %dx%d",
                              name, (long long)w, (long long)h, lim->max_side, lim->max_side);
    size_t n;
    if (!sail_mul_ok((size_t)w, (size_t)h, &n) || !sail_mul_ok(n, 3, &n))
        return sail_set_error(err, SAIL_ERR_LIMIT, "%s: image is %lldx%lld; too large",
                              name, (long long)w, (long long)h);
    return SAIL_OK;
}

sail_status sail_img_alloc(const char *name, int w, int h, sail_image *out,
                           sail_error *err) {
    size_t n = (size_t)w * (size_t)h * 3; /* checked by sail_img_check_size */
    uint8_t *p = sail_malloc(n);
    if (!p)
        return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory for a %dx%d image",
                              name, w, h);
    out->w = w;
    out->h = h;
    out->rgb = p;
    return SAIL_OK;
}

void sail_image_free(sail_image *img) {
    if (!img) return;
    sail_free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

/* ------------------------------------------------------------ EXIF -- */

sail_status sail_img_orient(sail_image *img, int orientation, const char *name,
                            sail_error *err) {
    if (orientation < 2 || orientation > 8) return SAIL_OK;
    int64_t W = img->w, H = img->h;
    /* Output pixel (x, y) reads input pixel a0 + x*dx + y*dy: one line per
     * PIL Transpose method that exif_transpose picks for the tag. */
    int64_t a0, dx, dy;
    int swap = orientation >= 5;
    switch (orientation) {
    case 2: a0 = W - 1;           dx = -1; dy = W;  break; /* FLIP_LEFT_RIGHT */
    case 3: a0 = H * W - 1;       dx = -1; dy = -W; break; /* ROTATE_180 */
    case 4: a0 = (H - 1) * W;     dx = 1;  dy = -W; break; /* FLIP_TOP_BOTTOM */
    case 5: a0 = 0;               dx = W;  dy = 1;  break; /* TRANSPOSE */
    case 6: a0 = (H - 1) * W;     dx = -W; dy = 1;  break; /* ROTATE_270 */
    case 7: a0 = H * W - 1;       dx = -W; dy = -1; break; /* TRANSVERSE */
    default: a0 = W - 1;          dx = W;  dy = -1; break; /* 8: ROTATE_90 */
    }
    sail_image o;
    sail_status st = sail_img_alloc(name, swap ? img->h : img->w, swap ? img->w : img->h,
                                    &o, err);
    if (st) return st;
    uint8_t *d = o.rgb;
    for (int64_t y = 0; y < o.h; y++) {
        int64_t s = a0 + y * dy;
        for (int64_t x = 0; x < o.w; x++, s += dx, d += 3)
            memcpy(d, img->rgb + s * 3, 3);
    }
    sail_image_free(img);
    *img = o;
    return SAIL_OK;
}
