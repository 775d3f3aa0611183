/* embed_video.c: videos as frame embeddings. Frames are streamed from the
 * decoder into a small batch of same-sized RGB images, so memory stays at
 * one batch of frames whatever the video's length. */
#include "kernels/kernels.h"
#include "model/model.h"
#include "video/video.h"

#include <string.h>

enum { FRAME_BATCH = 8 };

typedef struct frames {
    sail_video_embeddings *e;
    int cap;
    uint8_t *batch; /* up to FRAME_BATCH frames of w x h x 3 */
    size_t batch_cap;
    int nb, w, h;
} frames;

static sail_status grow(frames *f, sail_error *err) {
    sail_video_embeddings *e = f->e;
    if (e->n + FRAME_BATCH <= f->cap) return SAIL_OK;
    int cap = f->cap ? f->cap * 2 : 64;
    float *v = sail_realloc(e->vectors, (size_t)cap * e->dim * sizeof *v);
    if (v) e->vectors = v;
    double *t = sail_realloc(e->times, (size_t)cap * sizeof *t);
    if (t) e->times = t;
    int64_t *ix = sail_realloc(e->frame_index, (size_t)cap * sizeof *ix);
    if (ix) e->frame_index = ix;
    if (!v || !t || !ix) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d frame vectors", cap);
    f->cap = cap;
    return SAIL_OK;
}

static sail_status flush(sail_model *m, frames *f, sail_error *err) {
    if (!f->nb) return SAIL_OK;
    sail_video_embeddings *e = f->e;
    sail_status s = grow(f, err);
    if (!s) s = sail_embed_images_rgb(m, f->batch, f->nb, f->h, f->w, e->dim, e->vectors + (size_t)e->n * e->dim, err);
    if (!s) e->n += f->nb;
    f->nb = 0;
    return s;
}

/* Queue one frame; a frame of another size first embeds the queued ones. */
static sail_status add(sail_model *m, frames *f, const sail_video_frame *fr, sail_error *err) {
    sail_status s = SAIL_OK;
    if (f->nb && (fr->width != f->w || fr->height != f->h)) s = flush(m, f, err);
    size_t one = (size_t)fr->width * fr->height * 3;
    if (!s && one * FRAME_BATCH > f->batch_cap) {
        sail_free(f->batch);
        f->batch_cap = 0;
        if (!(f->batch = sail_malloc(one * FRAME_BATCH)))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %dx%d frames", fr->width, fr->height);
        f->batch_cap = one * FRAME_BATCH;
    }
    if (s) return s;
    f->w = fr->width;
    f->h = fr->height;
    memcpy(f->batch + one * f->nb, fr->rgb, one);
    sail_video_embeddings *e = f->e;
    if ((s = grow(f, err))) return s;
    e->times[e->n + f->nb] = fr->time;
    e->frame_index[e->n + f->nb] = fr->index;
    return ++f->nb == FRAME_BATCH ? flush(m, f, err) : SAIL_OK;
}

sail_status sail_embed_video_frames(sail_model *m, const char *path, double every, int max_frames, int dim,
                                    sail_video_embeddings *out, sail_error *err) {
    if (!m || !path || !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model, path or out is NULL");
    if (dim < 0 || dim > m->cfg.dim)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "dim %d is out of range (use 1..%d, 0 = all)", dim, m->cfg.dim);
    if (max_frames < 0) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "max_frames %d is negative", max_frames);
    sail_video *v = NULL;
    sail_status s = sail_video_open(path, every, &v, err);
    if (s) return s;
    double d = sail_video_duration(v);
    if (max_frames > 0 && d > 0 && d / max_frames > every) sail_video_set_every(v, d / max_frames);
    sail_video_embeddings e = {0, dim ? dim : m->cfg.dim, NULL, NULL, NULL};
    frames f = {&e, 0, NULL, 0, 0, 0, 0};
    sail_video_frame fr;
    int got = 1;
    while (!s && got && (!max_frames || e.n + f.nb < max_frames)) {
        s = sail_video_next(v, &fr, &got, err);
        if (!s && got) s = add(m, &f, &fr, err);
    }
    if (!s) s = flush(m, &f, err);
    if (!s && !e.n) s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: no frame could be decoded", path);
    sail_free(f.batch);
    sail_video_close(v);
    if (s) {
        sail_video_embeddings_free(&e);
        return s;
    }
    *out = e;
    return SAIL_OK;
}

void sail_video_embeddings_free(sail_video_embeddings *e) {
    if (!e) return;
    sail_free(e->vectors);
    sail_free(e->times);
    sail_free(e->frame_index);
    memset(e, 0, sizeof *e);
}

sail_status sail_embed_video(sail_model *m, const char *path, double every, int max_frames, int dim, float *out,
                             int *n_frames, sail_error *err) {
    if (!out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "output buffer is NULL");
    sail_video_embeddings e;
    sail_status s = sail_embed_video_frames(m, path, every, max_frames, dim, &e, err);
    if (s) return s;
    memset(out, 0, (size_t)e.dim * sizeof *out);
    for (int i = 0; i < e.n; i++)
        for (int j = 0; j < e.dim; j++) out[j] += e.vectors[(size_t)i * e.dim + j];
    sail_l2_normalize(out, e.dim);
    if (n_frames) *n_frames = e.n;
    sail_video_embeddings_free(&e);
    return SAIL_OK;
}
