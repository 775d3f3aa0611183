/* av.c: FFmpeg's log caught per thread (av.h). */
#include "av.h"

#include <libavutil/error.h>
#include <libavutil/log.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char av_last[160];
static pthread_once_t av_once = PTHREAD_ONCE_INIT;

static void av_capture(void *avcl, int level, const char *fmt, va_list ap) {
    (void)avcl;
    if (level > AV_LOG_ERROR) return;
    vsnprintf(av_last, sizeof av_last, fmt, ap);
    av_last[strcspn(av_last, "\n")] = 0;
}

static void install(void) { av_log_set_callback(av_capture); }

void sail_av_begin(void) {
    pthread_once(&av_once, install);
    av_last[0] = 0;
}

sail_status sail_av_fail(sail_error *err, sail_status s, const char *name, const char *what, int code) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(code, buf, sizeof buf);
    if (!av_last[0]) return sail_set_error(err, s, "%s: %s: %s", name, what, buf);
    return sail_set_error(err, s, "%s: %s: %s (FFmpeg: %s)", name, what, buf, av_last);
}
