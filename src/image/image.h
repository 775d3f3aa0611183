/* image.h: image decoding (libjpeg-turbo, libpng, libwebp, PPM/PGM), resizing
 * identical to PIL and model preprocessing. All pixel buffers are 8-bit RGB,
 * rows packed (w*3 bytes). */
#ifndef SAIL_IMAGE_H
#define SAIL_IMAGE_H

#include "common.h"
#include "pool.h"

typedef struct sail_image {
    int w, h;
    uint8_t *rgb;           /* h * w * 3 bytes, owned; free with sail_image_free */
} sail_image;

typedef struct sail_image_limits {
    int max_side;           /* default SAIL_IMAGE_MAX_SIDE */
    int64_t max_pixels;     /* default: sail_set_image_options' bound (64 Mpx) */
    int exif_rotate;        /* apply JPEG EXIF orientation (default 1) */
    int reduce_floor;       /* > 0: a JPEG may be decoded at 1/2, 1/4 or 1/8
                               scale, the largest whose short side stays
                               >= reduce_floor and that divides both sides;
                               0 (default): full size */
} sail_image_limits;

/* Defaults above. Thread-safe (reads the process-wide options). */
sail_image_limits sail_image_default_limits(void);

/* Decode a file / a buffer; the format is sniffed from the bytes. Dimensions
 * are checked against limits before any pixel buffer is allocated. Errors
 * name the file (or `name`) and the problem. limits may be NULL (defaults). */
sail_status sail_image_load(const char *path, const sail_image_limits *limits,
                            sail_image *out, sail_error *err);
sail_status sail_image_decode(const uint8_t *data, size_t size, const char *name,
                              const sail_image_limits *limits, sail_image *out,
                              sail_error *err);
void sail_image_free(sail_image *img);

/* Resize exactly as PIL's Image.resize((w, h), resample) (with its
 * antialiasing support scaling when reducing and its 8-bit rounding). */
sail_status sail_image_resize(const sail_image *in, int w, int h,
                              sail_resample resample, sail_image *out,
                              sail_error *err);

/* sail_resample, sail_preprocess and sail_preprocess_side are public
 * (include/sail.h). */

/* The limits to decode an image that p will preprocess: the defaults with
 * reduce_floor = 2 * p->size, unless exact decoding is on
 * (sail_image_options.exact_decode). */
sail_image_limits sail_image_limits_for(const sail_preprocess *p);

/* Resize (+crop), rescale and normalise into chw (3 x side x side floats). */
sail_status sail_image_preprocess(const sail_image *img, const sail_preprocess *p,
                                  float *chw, sail_error *err);
/* The same, with each resampling pass split into row bands over pool's
 * threads (NULL: the caller alone). The result does not depend on the pool.
 * Not re-entrant on one pool (sail_pool_run is not). */
sail_status sail_image_preprocess_mt(const sail_image *img, const sail_preprocess *p,
                                     float *chw, sail_pool *pool, sail_error *err);

#endif
