/* av.h: what sail's FFmpeg users (video.c, audio/decode.c) share. The
 * library never prints, so FFmpeg's messages are caught: the last error
 * line of the calling thread is kept and added to the error that follows. */
#ifndef SAIL_FORMAT_AV_H
#define SAIL_FORMAT_AV_H

#include "common.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

/* Route FFmpeg's log to the per-thread catch (once per process) and clear
 * this thread's last line; call before a decode starts. */
void sail_av_begin(void);

/* err := "name: what: <FFmpeg's text for code> (FFmpeg: <last line>)". */
sail_status sail_av_fail(sail_error *err, sail_status s, const char *name, const char *what, int code);

/* One stream of a container being decoded. */
typedef struct sail_av_stream {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;             /* the decoded frame */
    int stream;                 /* its index in fmt */
    int draining;               /* the demuxer ended: the decoder gives out what it holds */
} sail_av_stream;

/* The next frame of the stream into a->frame: 1, or 0 at the end (or on an
 * error, *s set, naming name). Packets of other streams are skipped and a
 * damaged packet is dropped, as players do. When invalid_ends, a packet
 * the demuxer cannot read (AVERROR_INVALIDDATA) ends the stream, as a
 * clipped MP3's does, for a check of what decoded to judge; otherwise it
 * is a read failure. */
int sail_av_next_frame(sail_av_stream *a, int invalid_ends, const char *name, sail_error *err, sail_status *s);

/* Release what a holds (members may be NULL). */
void sail_av_stream_free(sail_av_stream *a);

#endif
