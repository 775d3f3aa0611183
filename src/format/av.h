/* av.h: what sail's FFmpeg users (video.c, audio/decode.c) share. The
 * library never prints, so FFmpeg's messages are caught: the last error
 * line of the calling thread is kept and added to the error that follows. */
#ifndef SAIL_FORMAT_AV_H
#define SAIL_FORMAT_AV_H

#include "common.h"

/* Route FFmpeg's log to the per-thread catch (once per process) and clear
 * this thread's last line; call before a decode starts. */
void sail_av_begin(void);

/* err := "name: what: <FFmpeg's text for code> (FFmpeg: <last line>)". */
sail_status sail_av_fail(sail_error *err, sail_status s, const char *name, const char *what, int code);

#endif
