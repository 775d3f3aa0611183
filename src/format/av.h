/* av.h: what sail's FFmpeg users (video.c, audio/decode.c) share.
 *
 * FFmpeg is loaded when the first clip or video is opened, not when the
 * program starts: libavformat and what it links (some 130 libraries on
 * Debian) made every `sail` run start in 120 ms instead of 60. Its
 * functions are called through the table sail_av (core/dl.h), filled by
 * sail_av_begin, which every decode calls first.
 *
 * The library never prints, so FFmpeg's messages are caught: the last
 * error line of the calling thread is kept and added to the error that
 * follows. */
#ifndef SAIL_FORMAT_AV_H
#define SAIL_FORMAT_AV_H

#include "common.h"
#include "dl.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

/* Every FFmpeg function sail calls. */
#define SAIL_AV_FUNCS(X)                                                                              \
    X(av_channel_layout_compare) X(av_channel_layout_copy) X(av_channel_layout_uninit) X(av_dict_free) \
    X(av_dict_set) X(av_frame_alloc) X(av_frame_free) X(av_frame_unref) X(av_free) X(av_freep)         \
    X(av_get_pix_fmt_name) X(av_log_set_callback) X(av_malloc) X(av_strerror)                          \
    X(av_find_best_stream) X(av_find_input_format) X(av_read_frame) X(avformat_alloc_context)          \
    X(avformat_close_input) X(avformat_find_stream_info) X(avformat_open_input) X(avio_alloc_context)  \
    X(avio_context_free) X(av_packet_alloc) X(av_packet_free) X(av_packet_unref)                       \
    X(avcodec_alloc_context3) X(avcodec_free_context) X(avcodec_open2)                                 \
    X(avcodec_parameters_to_context) X(avcodec_receive_frame) X(avcodec_send_packet)                   \
    X(swr_alloc_set_opts2) X(swr_convert) X(swr_free) X(swr_get_out_samples) X(swr_init)               \
    X(swr_set_matrix) X(sws_freeContext) X(sws_getCachedContext) X(sws_scale)

typedef struct sail_av_fns { SAIL_AV_FUNCS(SAIL_DL_FIELD) } sail_av_fns;

/* Valid once sail_av_begin has succeeded in this process. */
extern sail_av_fns sail_av;

/* Load FFmpeg (once per process; an error names the library that is
 * missing and the Debian packages that hold it), route its log to the
 * per-thread catch and clear this thread's last line; call before a
 * decode starts. */
sail_status sail_av_begin(sail_error *err);

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
