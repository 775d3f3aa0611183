/* av.c: FFmpeg loaded on first use, its log caught per thread, and the
 * decode loop audio and video share (av.h). */
#include "av.h"

#include <libavutil/error.h>
#include <libavutil/log.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SONAME(lib, major) "lib" #lib ".so." AV_STRINGIFY(major)

sail_av_fns sail_av;
/* In dependency order, by the sonames of the headers sail was built with. */
SAIL_DL_LOADER(sail_av, SAIL_AV_FUNCS, SONAME(avutil, LIBAVUTIL_VERSION_MAJOR),
               SONAME(swresample, LIBSWRESAMPLE_VERSION_MAJOR), SONAME(swscale, LIBSWSCALE_VERSION_MAJOR),
               SONAME(avcodec, LIBAVCODEC_VERSION_MAJOR), SONAME(avformat, LIBAVFORMAT_VERSION_MAJOR))

static _Thread_local char av_last[160];
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void av_capture(void *avcl, int level, const char *fmt, va_list ap) {
    (void)avcl;
    if (level > AV_LOG_ERROR) return;
    vsnprintf(av_last, sizeof av_last, fmt, ap);
    av_last[strcspn(av_last, "\n")] = 0;
}

static void install(void) { sail_av.av_log_set_callback(av_capture); }

sail_status sail_av_begin(sail_error *err) {
    const char *why = sail_av_load();
    if (why)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "decoding audio and video needs FFmpeg's shared libraries "
                              "(%s); on Debian: apt-get install libavformat%d libavcodec%d libswscale%d "
                              "libswresample%d", why, LIBAVFORMAT_VERSION_MAJOR, LIBAVCODEC_VERSION_MAJOR,
                              LIBSWSCALE_VERSION_MAJOR, LIBSWRESAMPLE_VERSION_MAJOR);
    pthread_once(&log_once, install);
    av_last[0] = 0;
    return SAIL_OK;
}

sail_status sail_av_fail(sail_error *err, sail_status s, const char *name, const char *what, int code) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    sail_av.av_strerror(code, buf, sizeof buf);
    if (!av_last[0]) return sail_set_error(err, s, "%s: %s: %s", name, what, buf);
    return sail_set_error(err, s, "%s: %s: %s (FFmpeg: %s)", name, what, buf, av_last);
}

int sail_av_next_frame(sail_av_stream *a, int invalid_ends, const char *name, sail_error *err, sail_status *s) {
    for (;;) {
        int r = sail_av.avcodec_receive_frame(a->dec, a->frame);
        if (r >= 0) return 1;
        if (r == AVERROR_EOF) return 0;
        if (r != AVERROR(EAGAIN)) { *s = sail_av_fail(err, SAIL_ERR_FORMAT, name, "decoding failed", r); return 0; }
        if (a->draining) return 0;
        r = sail_av.av_read_frame(a->fmt, a->pkt);
        if (r == AVERROR_EOF || (invalid_ends && r == AVERROR_INVALIDDATA)) {
            a->draining = 1;
            sail_av.avcodec_send_packet(a->dec, NULL); /* flush the frames the decoder holds */
            continue;
        }
        if (r < 0) { *s = sail_av_fail(err, SAIL_ERR_IO, name, "reading failed", r); return 0; }
        if (a->pkt->stream_index == a->stream) r = sail_av.avcodec_send_packet(a->dec, a->pkt);
        sail_av.av_packet_unref(a->pkt);
        if (r < 0 && r != AVERROR(EAGAIN) && r != AVERROR_INVALIDDATA) {
            *s = sail_av_fail(err, SAIL_ERR_FORMAT, name, "decoding failed", r);
            return 0;
        }
    }
}

void sail_av_stream_free(sail_av_stream *a) {
    sail_av.av_frame_free(&a->frame);
    sail_av.av_packet_free(&a->pkt);
    sail_av.avcodec_free_context(&a->dec);
    sail_av.avformat_close_input(&a->fmt);
}
