/* video.c: sampled RGB frames from a video file through FFmpeg's libraries
 * (libavformat demuxes, libavcodec decodes, libswscale converts to RGB24).
 * Frames are streamed one at a time, so an hour of video never sits in
 * memory; sampling keeps the first frame at or after each multiple of
 * `every` seconds, which is what `ffmpeg -vf fps=1/every` approximates. */
#include "common.h"
#include "video.h"
#include "format/av.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

struct sail_video {
    sail_av_stream av;
    struct SwsContext *sws;
    uint8_t *rgb;
    size_t rgb_cap;
    double every, next_t, t0, tb, frame_s; /* frame_s: for frames without timestamps */
    int64_t decoded;
    int done;
    char path[256];
};

static sail_status open_decoder(sail_video *v, sail_error *err) {
    const AVCodec *codec = NULL;
    int r = sail_av.av_find_best_stream(v->av.fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (r < 0)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s has no video stream this FFmpeg can decode", v->path);
    v->av.stream = r;
    AVStream *st = v->av.fmt->streams[r];
    if (!(v->av.dec = sail_av.avcodec_alloc_context3(codec))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if ((r = sail_av.avcodec_parameters_to_context(v->av.dec, st->codecpar)) < 0)
        return sail_av_fail(err, SAIL_ERR_FORMAT, v->path, "codec parameters", r);
    v->av.dec->thread_count = 0; /* FFmpeg picks: frame threads for the decoder only */
    if ((r = sail_av.avcodec_open2(v->av.dec, codec, NULL)) < 0)
        return sail_av_fail(err, SAIL_ERR_UNSUPPORTED, v->path, "cannot open the decoder", r);
    v->tb = av_q2d(st->time_base);
    v->t0 = st->start_time != AV_NOPTS_VALUE ? st->start_time * v->tb : 0;
    double fps = av_q2d(st->avg_frame_rate);
    v->frame_s = fps > 0 ? 1 / fps : 0.04;
    return SAIL_OK;
}

sail_status sail_video_open(const char *path, double every, sail_video **out, sail_error *err) {
    if (!path || !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "path or out is NULL");
    if (!(every >= 0) || every > 1e6)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the sampling interval %g s is not in 0..1e6", every);
    sail_status s = sail_av_begin(err);
    if (s) return s;
    sail_video *v = sail_calloc(1, sizeof *v);
    if (!v) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    snprintf(v->path, sizeof v->path, "%s", path);
    v->every = every;
    int r = sail_av.avformat_open_input(&v->av.fmt, path, NULL, NULL);
    if (r < 0) s = sail_av_fail(err, r == AVERROR(ENOENT) ? SAIL_ERR_IO : SAIL_ERR_FORMAT, v->path, "cannot open", r);
    else if ((r = sail_av.avformat_find_stream_info(v->av.fmt, NULL)) < 0) s = sail_av_fail(err, SAIL_ERR_FORMAT, v->path, "no stream information", r);
    else s = open_decoder(v, err);
    if (!s && (!(v->av.pkt = sail_av.av_packet_alloc()) || !(v->av.frame = sail_av.av_frame_alloc())))
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (s) {
        sail_video_close(v);
        return s;
    }
    *out = v;
    return SAIL_OK;
}

void sail_video_set_every(sail_video *v, double every) { v->every = every; }

double sail_video_duration(const sail_video *v) {
    if (!v) return -1;
    const AVStream *st = v->av.fmt->streams[v->av.stream];
    if (st->duration != AV_NOPTS_VALUE) return st->duration * v->tb;
    return v->av.fmt->duration != AV_NOPTS_VALUE ? v->av.fmt->duration / (double)AV_TIME_BASE : -1;
}

static sail_status to_rgb(sail_video *v, sail_video_frame *f, sail_error *err) {
    AVFrame *fr = v->av.frame;
    int w = fr->width, h = fr->height;
    /* Full chroma interpolation and exact rounding: the colours an image
     * decoder would give, not the fast path's approximations. */
    v->sws = sail_av.sws_getCachedContext(v->sws, w, h, (enum AVPixelFormat)fr->format, w, h, AV_PIX_FMT_RGB24,
                                  SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!v->sws)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB", v->path,
                              sail_av.av_get_pix_fmt_name((enum AVPixelFormat)fr->format));
    size_t need = (size_t)w * h * 3;
    if (need > v->rgb_cap) {
        sail_free(v->rgb);
        if (!(v->rgb = sail_alloc_aligned(need))) {
            v->rgb_cap = 0;
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %dx%d frame", w, h);
        }
        v->rgb_cap = need;
    }
    uint8_t *dst[4] = {v->rgb};
    int stride[4] = {w * 3};
    sail_av.sws_scale(v->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, h, dst, stride);
    f->rgb = v->rgb;
    f->width = w;
    f->height = h;
    return SAIL_OK;
}

sail_status sail_video_next(sail_video *v, sail_video_frame *f, int *got, sail_error *err) {
    if (!v || !f || !got) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "video, frame or got is NULL");
    *got = 0;
    sail_status s = SAIL_OK;
    while (!v->done) {
        if (!sail_av_next_frame(&v->av, 0, v->path, err, &s)) {
            v->done = 1;
            return s;
        }
        int64_t pts = v->av.frame->best_effort_timestamp;
        double t = pts != AV_NOPTS_VALUE ? pts * v->tb - v->t0 : v->decoded * v->frame_s;
        int64_t index = v->decoded++;
        /* 1 ms slack: container timestamps are rounded to their time base. */
        if (t + 1e-3 < v->next_t) {
            sail_av.av_frame_unref(v->av.frame);
            continue;
        }
        if (v->every > 0) v->next_t = (floor((t + 1e-3) / v->every) + 1) * v->every;
        s = to_rgb(v, f, err);
        sail_av.av_frame_unref(v->av.frame);
        if (s) return s;
        f->time = t;
        f->index = index;
        *got = 1;
        return SAIL_OK;
    }
    return SAIL_OK;
}

void sail_video_close(sail_video *v) {
    if (!v) return;
    sail_av.sws_freeContext(v->sws);
    sail_av_stream_free(&v->av);
    sail_free(v->rgb);
    sail_free(v);
}

/* One frame per duration/n seconds from the start, or one a second when
 * the file states no duration; a clip with fewer decodable frames repeats
 * its last, so an item always has n frames (batches stay rectangular). */
sail_status sail_video_sample(const char *path, int n, uint8_t **rgb, int *w, int *h, sail_error *err) {
    if (!path || !rgb || !w || !h || n < 1 || n > 4096)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "video sample: bad arguments (%d frames)", n);
    *rgb = NULL;
    sail_video *v = NULL;
    sail_status s = sail_video_open(path, 1.0, &v, err);
    if (s) return s;
    double d = sail_video_duration(v);
    if (d > 0) sail_video_set_every(v, d / n);
    uint8_t *out = NULL;
    size_t one = 0;
    int k = 0, got = 1;
    while (!s && got && k < n) {
        sail_video_frame fr;
        s = sail_video_next(v, &fr, &got, err);
        if (s || !got) break;
        if (!out) {
            *w = fr.width;
            *h = fr.height;
            one = (size_t)fr.width * fr.height * 3;
            if (!(out = sail_malloc(one * n))) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d frames", n);
        } else if (fr.width != *w || fr.height != *h)
            s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: the frame size changes (%dx%d, then %dx%d)", path,
                               *w, *h, fr.width, fr.height);
        if (!s) memcpy(out + one * k++, fr.rgb, one);
    }
    sail_video_close(v);
    if (!s && !k) s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: no frame could be decoded", path);
    for (; !s && k < n; k++) memcpy(out + one * k, out + one * (k - 1), one);
    if (s) sail_free(out);
    else *rgb = out;
    return s;
}
