/* preprocess.c: the two image pipelines sail's models were trained with,
 * reproduced on top of the PIL-exact resize:
 *   crop > 0 (OpenAI CLIP): torchvision Resize(size, BICUBIC) makes the
 *     short side `size` and the long side int(size * long / short), then
 *     CenterCrop(crop) with top = int(round((h - crop) / 2.0)) (Python's
 *     round, half to even). Hugging Face's processors (image_transforms.
 *     center_crop) use (h - crop) // 2 instead; the two differ by one pixel
 *     when h - crop = 3 (mod 4). crop_floor picks the model's own rule:
 *     set for models converted from Hugging Face folders.
 *   crop == 0 (Chinese-CLIP): resize straight to size x size.
 * then x / 255, (x - mean) / std per channel, written channel-major. */
#include "image/image_impl.h"

#include <math.h>

static sail_status check_params(const sail_preprocess *p, sail_error *err) {
    if (p->size <= 0 || p->size > 16384)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "preprocess: size %d is not in 1..16384", p->size);
    if (p->crop < 0 || p->crop > p->size)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "preprocess: crop %d is not in 0..size (%d)", p->crop, p->size);
    if (p->resample != SAIL_RESAMPLE_BILINEAR && p->resample != SAIL_RESAMPLE_BICUBIC)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "preprocess: unknown filter %d",
                              (int)p->resample);
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                  "preprocess: mean and std must be finite and std non-zero");
    return SAIL_OK;
}

/* The resize target: short side -> size (crop mode) or size x size. */
static void target_size(const sail_image *img, const sail_preprocess *p, int *w, int *h) {
    if (p->crop == 0) {
        *w = *h = p->size;
        return;
    }
    int64_t s = SAIL_MIN(img->w, img->h), l = SAIL_MAX(img->w, img->h);
    /* Python: int(size * long / short): exact product, rounded quotient. */
    int nl = (int)((double)(p->size * l) / (double)s);
    if (img->w <= img->h)
        *w = p->size, *h = nl;
    else
        *w = nl, *h = p->size;
}

sail_status sail_image_preprocess_mt(const sail_image *img, const sail_preprocess *p,
                                     float *chw, sail_pool *pool, sail_error *err) {
    if (!img || !img->rgb || !p || !chw)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "preprocess: missing argument");
    sail_status st = check_params(p, err);
    if (st) return st;
    int w, h, side = sail_preprocess_side(p);
    target_size(img, p, &w, &h);
    int top = p->crop_floor ? (h - side) / 2 : (int)nearbyint((h - side) / 2.0);
    int left = p->crop_floor ? (w - side) / 2 : (int)nearbyint((w - side) / 2.0);
    sail_image r;
    if ((st = sail_img_resize_window(img, w, h, left, top, side, side, p->resample, pool,
                                     &r, err)))
        return st;
    /* 256-entry tables per channel: one load per pixel instead of a divide. */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = (v * (1.0f / 255.0f) - p->mean[c]) / p->std[c];
    size_t plane = (size_t)side * side;
    for (int y = 0; y < side; y++) {
        const uint8_t *s = r.rgb + (size_t)y * side * 3;
        float *o = chw + (size_t)y * side;
        for (int x = 0; x < side; x++, s += 3) {
            o[x] = lut[0][s[0]];
            o[plane + x] = lut[1][s[1]];
            o[2 * plane + x] = lut[2][s[2]];
        }
    }
    sail_image_free(&r);
    return SAIL_OK;
}

sail_status sail_image_preprocess(const sail_image *img, const sail_preprocess *p,
                                  float *chw, sail_error *err) {
    return sail_image_preprocess_mt(img, p, chw, NULL, err);
}
