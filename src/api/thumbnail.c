/* thumbnail.c: sail_thumbnail_rgb (sail.h), a small RGB picture of an image
 * file or of a video's first frame, for result pages (`sail search --html`). */
#include "common.h"
#include "image/image.h"

#include <string.h>

/* An image file, or else a video's first frame; the image's own error when
 * neither decodes. A large JPEG may decode at reduced scale: a thumbnail
 * needs no more than 2 x max_side on a side. */
static sail_status load_picture(const char *path, int max_side, sail_image *img, sail_error *err) {
    sail_image_limits lim = sail_image_default_limits();
    lim.reduce_floor = 2 * max_side;
    sail_error image_err = {0};
    if (!sail_image_load(path, &lim, img, &image_err)) return SAIL_OK;
    sail_video *v = NULL;
    sail_video_frame fr;
    int got = 0;
    sail_status s = SAIL_OK;
    if (sail_video_open(path, 0, &v, NULL) || sail_video_next(v, &fr, &got, NULL) || !got)
        s = sail_set_error(err, image_err.status, "%s", image_err.msg);
    else if (!(img->rgb = sail_malloc((size_t)fr.width * fr.height * 3)))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    if (!s) {
        memcpy(img->rgb, fr.rgb, (size_t)fr.width * fr.height * 3);
        img->w = fr.width;
        img->h = fr.height;
    }
    sail_video_close(v);
    return s;
}

sail_status sail_thumbnail_rgb(const char *path, int max_side, uint8_t **rgb, int *w, int *h, sail_error *err) {
    if (!path || !rgb || !w || !h || max_side < 1 || max_side > SAIL_IMAGE_MAX_SIDE)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "thumbnail: a path and max_side in 1..%d are needed",
                              SAIL_IMAGE_MAX_SIDE);
    sail_image img = {0}, small = {0};
    sail_status s = load_picture(path, max_side, &img, err);
    if (s) return s;
    int side = img.w > img.h ? img.w : img.h, tw = img.w, th = img.h;
    if (side > max_side) {
        tw = img.w * max_side / side;
        th = img.h * max_side / side;
        if (tw < 1) tw = 1;
        if (th < 1) th = 1;
    }
    s = sail_image_resize(&img, tw, th, SAIL_RESAMPLE_BILINEAR, &small, err);
    sail_image_free(&img);
    if (s) return s;
    *rgb = small.rgb; /* the caller's now: sail_free */
    *w = tw;
    *h = th;
    return SAIL_OK;
}
