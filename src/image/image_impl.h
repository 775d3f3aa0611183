/* image_impl.h: what the per-format decoders share with decode.c. Internal
 * to src/image; the public surface is image.h. */
#ifndef SAIL_IMAGE_IMPL_H
#define SAIL_IMAGE_IMPL_H

#include "image/image.h"

/* Check w x h against limits (and against overflow of w*h*3) before any
 * pixel buffer exists; on failure err names `name` and the limit broken. */
sail_status sail_img_check_size(const char *name, int64_t w, int64_t h,
                                const sail_image_limits *lim, sail_error *err);

/* Allocate out->rgb for w x h (already checked); fills out->w/h. */
sail_status sail_img_alloc(const char *name, int w, int h, sail_image *out,
                           sail_error *err);

/* Per-format decoders: data/size is the whole file, lim is never NULL. On
 * failure out is untouched and nothing is leaked. */
sail_status sail_img_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                                 const sail_image_limits *lim, sail_image *out,
                                 sail_error *err);
sail_status sail_img_decode_png(const uint8_t *data, size_t size, const char *name,
                                const sail_image_limits *lim, sail_image *out,
                                sail_error *err);
sail_status sail_img_decode_webp(const uint8_t *data, size_t size, const char *name,
                                 const sail_image_limits *lim, sail_image *out,
                                 sail_error *err);

/* PIL's resize of in to w x h, but only the window cw x chh at (left,
 * top) of the result is computed and returned: the bytes equal cropping
 * PIL's full result. Each pass runs in row bands over pool's threads (NULL:
 * on the caller alone); the bytes do not depend on the pool. */
sail_status sail_img_resize_window(const sail_image *in, int w, int h, int left, int top,
                                   int cw, int chh, sail_resample resample, sail_pool *pool,
                                   sail_image *out, sail_error *err);

/* Apply an EXIF orientation (2..8) as PIL's ImageOps.exif_transpose does;
 * 1 or anything else leaves img alone. Replaces img->rgb. */
sail_status sail_img_orient(sail_image *img, int orientation, const char *name,
                            sail_error *err);

#endif
