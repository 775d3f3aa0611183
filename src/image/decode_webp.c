/* decode_webp.c: still WebP (lossy, lossless, with or without alpha)
 * through libwebp's simple decoder, straight into the RGB buffer. PIL 9.4
 * decodes through WebPAnimDecoder, whose first frame is the plain decode of
 * the bitstream with default options (fancy upsampling), so the RGB bytes
 * are the same; alpha is dropped as convert("RGB") drops it.
 *
 * Animated WebP needs libwebpdemux, which sail does not link: it is refused
 * with a message saying so rather than silently showing some frame. */
#include "image/image_impl.h"

#include <webp/decode.h>

static const char *status_text(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    default: return "error";
    }
}

sail_status sail_img_decode_webp(const uint8_t *data, size_t size, const char *name,
                                 const sail_image_limits *lim, sail_image *out,
                                 sail_error *err) {
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(data, size, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated WebP data", name);
    if (vs != VP8_STATUS_OK)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: invalid WebP data (%s)", name,
                              status_text(vs));
    if (f.has_animation)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "%s: animated WebP is not supported; extract one frame first "
                              "(e.g. with PIL or webpmux -get frame 1)", name);
    sail_status st = sail_img_check_size(name, f.width, f.height, lim, err);
    if (st) return st;
    sail_image img;
    if ((st = sail_img_alloc(name, f.width, f.height, &img, err))) return st;
    size_t n = (size_t)img.w * img.h * 3;
    if (!WebPDecodeRGBInto(data, size, img.rgb, n, img.w * 3)) {
        sail_image_free(&img);
        /* The simple API says only "failed"; decoding incrementally would
         * tell truncation apart, so ask the incremental decoder why. */
        WebPIDecoder *idec = WebPINewRGB(MODE_RGB, NULL, 0, 0);
        vs = idec ? WebPIUpdate(idec, data, size) : VP8_STATUS_OUT_OF_MEMORY;
        WebPIDelete(idec);
        if (vs == VP8_STATUS_SUSPENDED || vs == VP8_STATUS_NOT_ENOUGH_DATA)
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated WebP data", name);
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: invalid WebP data (%s)", name,
                              status_text(vs));
    }
    *out = img;
    return SAIL_OK;
}
