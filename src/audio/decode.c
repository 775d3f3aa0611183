/* decode.c: audio files and bytes to mono float32 at a chosen rate, through
 * FFmpeg's libraries: libavformat demuxes (the format found from the bytes
 * alone, through our own AVIOContext, so a name or extension never decides
 * it), libavcodec decodes, libswresample averages the channels and
 * resamples.
 *
 * Limits come before memory: the input's size, the stream's rate and
 * channel count and the duration its header claims are checked before the
 * sample buffer is allocated, and the buffer never grows past max_seconds
 * of output, so a small file that claims ten hours costs nothing. */
#include "audio/audio_impl.h"
#include "format/av.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_BUF 65536
#define MIN_OUT_RATE 4000
#define MAX_OUT_RATE 192000

/* ------------------------------------------------------------ input -- */

/* One reader over either a memory buffer or a file descriptor (pread, so
 * the position is ours and seeking is exact). */
typedef struct src_io {
    const uint8_t *data; /* memory input, or NULL */
    int fd;              /* file input when data is NULL */
    int64_t size, pos;
} src_io;

static int io_read(void *opaque, uint8_t *buf, int n) {
    src_io *s = opaque;
    int64_t left = s->size - s->pos;
    if (left <= 0) return AVERROR_EOF;
    if (n > left) n = (int)left;
    if (s->data) {
        memcpy(buf, s->data + s->pos, (size_t)n);
    } else {
        ssize_t got = pread(s->fd, buf, (size_t)n, s->pos);
        if (got < 0) return AVERROR(errno);
        if (got == 0) return AVERROR_EOF;
        n = (int)got;
    }
    s->pos += n;
    return n;
}

static int64_t io_seek(void *opaque, int64_t off, int whence) {
    src_io *s = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return s->size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = s->pos; break;
    case SEEK_END: base = s->size; break;
    default: return AVERROR(EINVAL);
    }
    if (off > INT64_MAX - base || base + off < 0) return AVERROR(EINVAL);
    s->pos = base + off;
    return s->pos;
}

static int64_t io_pread(src_io *s, uint8_t *buf, int64_t n, int64_t at) {
    if (at >= s->size) return 0;
    if (n > s->size - at) n = s->size - at;
    if (s->data) {
        memcpy(buf, s->data + at, (size_t)n);
        return n;
    }
    ssize_t got = pread(s->fd, buf, (size_t)n, at);
    return got < 0 ? 0 : got;
}

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* FFmpeg quietly shortens a WAV data chunk that runs past the end of the
 * file to what is there, so neither a cut file nor a small file whose
 * header claims ten hours would be noticed. The RIFF chunks are walked
 * here instead (up to the data chunk, within the first 1 MiB): the claim
 * is data bytes / nAvgBytesPerSec, judged against max_seconds first and
 * then against the bytes the file really holds. A size of 0 or 0xFFFFFFFF
 * (written by streaming tools that could not seek back) claims nothing. */
static sail_status wav_header_check(src_io *io, const char *name, double max_seconds, int *is_wav,
                                   sail_error *err) {
    uint8_t h[16];
    *is_wav = io_pread(io, h, 12, 0) == 12 && !memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WAVE", 4);
    if (!*is_wav) return SAIL_OK;
    uint32_t byte_rate = 0;
    for (int64_t at = 12; at + 8 <= io->size && at < (1 << 20);) {
        if (io_pread(io, h, 16, at) < 8) return SAIL_OK;
        uint32_t size = le32(h + 4);
        if (!memcmp(h, "fmt ", 4) && io_pread(io, h, 16, at + 8) >= 12) byte_rate = le32(h + 8);
        else if (!memcmp(h, "data", 4)) {
            if (!byte_rate || size == 0 || size == 0xFFFFFFFFu) return SAIL_OK;
            double claimed = (double)size / byte_rate, held = (double)(io->size - at - 8) / byte_rate;
            if (claimed > max_seconds)
                return sail_set_error(err, SAIL_ERR_LIMIT,
                                      "%s: the WAV header says it lasts %.1f s; the limit is %g s (max_seconds)",
                                      name, claimed, max_seconds);
            if (at + 8 + (int64_t)size > io->size)
                return sail_set_error(err, SAIL_ERR_FORMAT,
                                      "%s: truncated: the WAV header says %.3f s of audio but the file holds %.3f s",
                                      name, claimed, held);
            return SAIL_OK;
        }
        at += 8 + (int64_t)size + (size & 1); /* chunks are padded to even sizes */
    }
    return SAIL_OK;
}

/* ---------------------------------------------------------- decoder -- */

typedef struct decoder {
    const char *name;        /* the path, or "<memory>", for messages */
    int is_wav;              /* RIFF/WAVE magic: opened as WAV, not probed */
    sail_av_stream av;
    AVIOContext *avio;
    SwrContext *swr;
    int swr_rate, swr_fmt;   /* the input swr was set up for */
    AVChannelLayout swr_layout;
    int out_rate;
    int64_t max_out;         /* output samples allowed (max_seconds) */
    double in_seconds;       /* source audio decoded so far */
    float *out;              /* (cap) the mono samples */
    int64_t n, cap;
} decoder;

static sail_status check_stream_format(const decoder *d, int rate, int channels, sail_error *err) {
    if (channels < 1 || channels > SAIL_AUDIO_MAX_CHANNELS)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "%s: the audio has %d channels; 1..%d are supported", d->name,
                              channels, SAIL_AUDIO_MAX_CHANNELS);
    if (rate < SAIL_AUDIO_MIN_IN_RATE || rate > SAIL_AUDIO_MAX_IN_RATE)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "%s: the audio's sample rate %d Hz is not in %d..%d Hz", d->name,
                              rate, SAIL_AUDIO_MIN_IN_RATE, SAIL_AUDIO_MAX_IN_RATE);
    return SAIL_OK;
}

/* Open the container on d->avio. Nested opens (playlists, concat lists
 * that name other files) are refused: bytes from a user must not make the
 * library read local files. */
static sail_status open_container(decoder *d, sail_error *err) {
    if (!(d->av.fmt = sail_av.avformat_alloc_context())) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    d->av.fmt->pb = d->avio;
    d->av.fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    AVDictionary *o = NULL;
    sail_av.av_dict_set(&o, "protocol_whitelist", "none", 0);
    /* Probing runs every demuxer's detector over the buffer (MP3's scans it
     * for frame syncs): 5-8 ms of the 8 ms a 10 s WAV took to decode. */
    const AVInputFormat *wav = d->is_wav ? sail_av.av_find_input_format("wav") : NULL;
    /* FFmpeg's WAV demuxer asks for its 16-bit PCM to be probed again as
     * packets arrive (DTS or AC-3 sent as PCM), and the stream-info pass ran
     * every detector over the whole clip at each doubling of the buffer:
     * 4.5 of a 3 s clip's 4.6 ms. The first packet (4 KB) still decides. */
    if (wav) sail_av.av_dict_set(&o, "max_probe_packets", "1", 0);
    int r = sail_av.avformat_open_input(&d->av.fmt, "", wav, &o);
    sail_av.av_dict_free(&o);
    if (r == AVERROR_EOF) /* avformat_open_input freed the context */
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: truncated: the file ends inside its header", d->name);
    if (r < 0)
        return sail_av_fail(err, SAIL_ERR_FORMAT, d->name, "not an audio or video file FFmpeg recognises", r);
    /* A guess this weak is how FFmpeg reads random bytes that happen to
     * hold a frame sync word; a real file scores higher (a WAV or FLAC
     * header 100, seven MP3 frames 51, a 50 ms MP3 of four frames 25). */
    if (!wav && d->av.fmt->probe_score < AVPROBE_SCORE_RETRY)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "%s: not a recognisable audio file (FFmpeg's best guess, %s, "
                              "scores only %d of 100)",
                              d->name, d->av.fmt->iformat->name, d->av.fmt->probe_score);
    if ((r = sail_av.avformat_find_stream_info(d->av.fmt, NULL)) < 0)
        return sail_av_fail(err, SAIL_ERR_FORMAT, d->name, "no stream information", r);
    return SAIL_OK;
}

static sail_status open_decoder(decoder *d, sail_error *err) {
    const AVCodec *codec = NULL;
    int r = sail_av.av_find_best_stream(d->av.fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (r == AVERROR_DECODER_NOT_FOUND)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: no decoder in this FFmpeg for its audio codec",
                              d->name);
    if (r < 0)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s has no audio stream (a %s file)", d->name,
                              d->av.fmt->iformat->name);
    d->av.stream = r;
    const AVCodecParameters *par = d->av.fmt->streams[r]->codecpar;
    sail_status s = check_stream_format(d, par->sample_rate, par->ch_layout.nb_channels, err);
    if (s) return s;
    if (!(d->av.dec = sail_av.avcodec_alloc_context3(codec))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if ((r = sail_av.avcodec_parameters_to_context(d->av.dec, par)) < 0)
        return sail_av_fail(err, SAIL_ERR_FORMAT, d->name, "codec parameters", r);
    if ((r = sail_av.avcodec_open2(d->av.dec, codec, NULL)) < 0)
        return sail_av_fail(err, SAIL_ERR_UNSUPPORTED, d->name, "cannot open the audio decoder", r);
    if (!(d->av.pkt = sail_av.av_packet_alloc()) || !(d->av.frame = sail_av.av_frame_alloc()))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    return SAIL_OK;
}

/* The duration the container states for the stream, in seconds; -1 when
 * it states none. */
static double claimed_seconds(const decoder *d) {
    const AVStream *st = d->av.fmt->streams[d->av.stream];
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) return st->duration * av_q2d(st->time_base);
    if (d->av.fmt->duration != AV_NOPTS_VALUE && d->av.fmt->duration > 0)
        return d->av.fmt->duration / (double)AV_TIME_BASE;
    return -1;
}

static sail_status too_long(const decoder *d, double max_seconds, sail_error *err) {
    return sail_set_error(err, SAIL_ERR_LIMIT, "%s: the audio lasts longer than %g s (max_seconds)", d->name,
                          max_seconds);
}

/* The output buffer holds at least `more` further samples. It grows
 * geometrically up to max_out, plus at most one frame's worth (`more` is
 * swr's upper bound, not the count), so the limit is judged on real
 * samples. */
static sail_status reserve(decoder *d, int64_t more, double max_seconds, sail_error *err) {
    if (d->n + more <= d->cap) return SAIL_OK;
    if (d->n > d->max_out) return too_long(d, max_seconds, err);
    int64_t cap = SAIL_MAX(d->cap * 2, d->n + more);
    cap = SAIL_MIN(cap, SAIL_MAX(d->max_out, d->n + more));
    float *p = sail_realloc(d->out, (size_t)cap * sizeof *p);
    if (!p) return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory for %lld samples", d->name, (long long)cap);
    d->out = p;
    d->cap = cap;
    return SAIL_OK;
}

/* Set swr up for frames of this rate, format and layout. A stream whose
 * format changes midway (chained Ogg, some MP3s) gets a new context after
 * the old one's delayed samples are flushed by the caller. Mono is the
 * equal-weight mean of the channels (swr_set_matrix): the same for any
 * layout, named or not. Everything else is libswresample's default
 * (filter_size 32, phase_shift 10, linear_interp 1, cutoff 0.97, Kaiser
 * beta 9, exact_rational), the resampler `ffmpeg -ar` uses. */
static sail_status setup_swr(decoder *d, AVFrame *f, sail_error *err) {
    sail_av.swr_free(&d->swr);
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    int ch = f->ch_layout.nb_channels;
    int r = sail_av.swr_alloc_set_opts2(&d->swr, &mono, AV_SAMPLE_FMT_FLT, d->out_rate, &f->ch_layout,
                                (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL);
    if (r < 0) return sail_av_fail(err, SAIL_ERR_UNSUPPORTED, d->name, "cannot set up the resampler", r);
    double w[SAIL_AUDIO_MAX_CHANNELS];
    for (int c = 0; c < ch; c++) w[c] = 1.0 / ch;
    if ((r = sail_av.swr_set_matrix(d->swr, w, ch)) < 0 || (r = sail_av.swr_init(d->swr)) < 0)
        return sail_av_fail(err, SAIL_ERR_UNSUPPORTED, d->name, "cannot set up the resampler", r);
    d->swr_rate = f->sample_rate;
    d->swr_fmt = f->format;
    sail_av.av_channel_layout_uninit(&d->swr_layout);
    if ((r = sail_av.av_channel_layout_copy(&d->swr_layout, &f->ch_layout)) < 0)
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    return SAIL_OK;
}

/* Non-finite samples are refused, never passed on: one NaN would turn
 * every feature of its frames, and so the whole vector, into NaN. */
static sail_status check_finite(const decoder *d, int64_t from, sail_error *err) {
    for (int64_t i = from; i < d->n; i++)
        if (!isfinite(d->out[i]))
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "%s: the audio holds a %s sample near %.3f s; the file is damaged", d->name,
                                  isnan(d->out[i]) ? "NaN" : "infinite", (double)i / d->out_rate);
    return SAIL_OK;
}

/* Run frame f (or, with f NULL, swr's delayed samples) into the output. */
static sail_status convert(decoder *d, const AVFrame *f, double max_seconds, sail_error *err) {
    int in = f ? f->nb_samples : 0;
    int64_t more = sail_av.swr_get_out_samples(d->swr, in);
    sail_status s = reserve(d, more, max_seconds, err);
    if (s) return s;
    uint8_t *dst = (uint8_t *)(d->out + d->n);
    int got = sail_av.swr_convert(d->swr, &dst, (int)(d->cap - d->n), f ? (const uint8_t **)f->extended_data : NULL, in);
    if (got < 0) return sail_av_fail(err, SAIL_ERR_FORMAT, d->name, "resampling failed", got);
    int64_t from = d->n;
    d->n += got;
    if (d->n > d->max_out) return too_long(d, max_seconds, err);
    return check_finite(d, from, err);
}

static sail_status take_frame(decoder *d, double max_seconds, sail_error *err) {
    AVFrame *f = d->av.frame;
    sail_status s = check_stream_format(d, f->sample_rate, f->ch_layout.nb_channels, err);
    if (s) return s;
    if (!d->swr || f->sample_rate != d->swr_rate || f->format != d->swr_fmt ||
        sail_av.av_channel_layout_compare(&f->ch_layout, &d->swr_layout)) {
        if (d->swr && (s = convert(d, NULL, max_seconds, err))) return s;
        if ((s = setup_swr(d, f, err))) return s;
    }
    d->in_seconds += (double)f->nb_samples / f->sample_rate;
    return convert(d, f, max_seconds, err);
}

/* A header duration this much longer than what decodes means the file was
 * cut: 2 %, 0.1 s or 4608 samples (four MP3 frames), whichever is most,
 * above any encoder delay and padding (MP3's LAME header counts ~2300
 * samples of them; a stream's positive start time is the delay and is
 * taken off first). Durations FFmpeg only guessed from the bit rate are
 * not trusted. */
static sail_status check_truncated(const decoder *d, double claimed, sail_error *err) {
    if (claimed <= 0 || d->av.fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE) return SAIL_OK;
    const AVStream *st = d->av.fmt->streams[d->av.stream];
    if (st->start_time != AV_NOPTS_VALUE && st->start_time > 0) claimed -= st->start_time * av_q2d(st->time_base);
    double slack = SAIL_MAX(SAIL_MAX(0.1, 0.02 * claimed), 4608.0 / st->codecpar->sample_rate);
    if (d->in_seconds < claimed - slack)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "%s: truncated: the header says %.3f s of audio but only %.3f s decodes",
                              d->name, claimed, d->in_seconds);
    return SAIL_OK;
}

static sail_status decode_all(decoder *d, const sail_audio_options *o, sail_error *err) {
    sail_status s = open_container(d, err);
    if (!s) s = open_decoder(d, err);
    if (s) return s;
    double claimed = claimed_seconds(d);
    if (claimed > o->max_seconds)
        return sail_set_error(err, SAIL_ERR_LIMIT, "%s: the file says it lasts %.1f s; the limit is %g s (max_seconds)",
                              d->name, claimed, o->max_seconds);
    d->max_out = (int64_t)ceil(o->max_seconds * d->out_rate) + 1;
    /* The whole clip in one allocation when the header is honest. */
    int64_t guess = claimed > 0 ? (int64_t)(claimed * d->out_rate) + d->out_rate / 10 : d->out_rate;
    if ((s = reserve(d, SAIL_MIN(guess, d->max_out), o->max_seconds, err))) return s;
    /* an unreadable packet ends the stream: check_truncated judges what decoded */
    while (sail_av_next_frame(&d->av, 1, d->name, err, &s)) {
        s = take_frame(d, o->max_seconds, err);
        sail_av.av_frame_unref(d->av.frame);
        if (s) return s;
    }
    if (s) return s;
    if (d->swr && (s = convert(d, NULL, o->max_seconds, err))) return s;
    if (d->n == 0) return sail_set_error(err, SAIL_ERR_FORMAT, "%s: the audio stream holds no samples", d->name);
    return check_truncated(d, claimed, err);
}

static void decoder_free(decoder *d) {
    sail_av.swr_free(&d->swr);
    sail_av.av_channel_layout_uninit(&d->swr_layout);
    sail_av_stream_free(&d->av);
    if (d->avio) sail_av.av_freep(&d->avio->buffer);
    sail_av.avio_context_free(&d->avio);
    sail_free(d->out);
}

static sail_status resolve_options(const sail_audio_options *in, sail_audio_options *o, sail_error *err) {
    sail_audio_options def = {0, 0, 0};
    *o = in ? *in : def;
    if (!o->sample_rate) o->sample_rate = SAIL_AUDIO_RATE;
    if (o->max_seconds == 0) o->max_seconds = SAIL_AUDIO_MAX_SECONDS;
    if (!o->max_bytes) o->max_bytes = SAIL_AUDIO_MAX_BYTES;
    if (o->sample_rate < MIN_OUT_RATE || o->sample_rate > MAX_OUT_RATE)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "output sample rate %d Hz is not in %d..%d",
                              o->sample_rate, MIN_OUT_RATE, MAX_OUT_RATE);
    if (!(o->max_seconds > 0) || o->max_seconds > 1e6)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "max_seconds %g is not in (0, 1e6]", o->max_seconds);
    if (o->max_bytes < 0)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "max_bytes %lld is negative", (long long)o->max_bytes);
    return SAIL_OK;
}

static sail_status decode_io(src_io *io, const char *name, const sail_audio_options *opts, sail_audio *out,
                             sail_error *err) {
    sail_audio_options o;
    sail_status s = resolve_options(opts, &o, err);
    if (s) return s;
    if (io->size == 0) return sail_set_error(err, SAIL_ERR_FORMAT, "%s: the file is empty", name);
    if (io->size > o.max_bytes)
        return sail_set_error(err, SAIL_ERR_LIMIT, "%s: %lld bytes; the limit is %lld (max_bytes)", name,
                              (long long)io->size, (long long)o.max_bytes);
    int is_wav;
    if ((s = wav_header_check(io, name, o.max_seconds, &is_wav, err))) return s;
    if ((s = sail_av_begin(err))) return s;
    decoder d = {.name = name, .is_wav = is_wav, .out_rate = o.sample_rate};
    uint8_t *buf = sail_av.av_malloc(IO_BUF);
    if (!buf || !(d.avio = sail_av.avio_alloc_context(buf, IO_BUF, 0, io, io_read, NULL, io_seek))) {
        sail_av.av_free(buf);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    }
    s = decode_all(&d, &o, err);
    if (!s) {
        const AVCodecParameters *par = d.av.fmt->streams[d.av.stream]->codecpar;
        out->samples = d.out;
        out->n = d.n;
        out->sample_rate = d.out_rate;
        out->src_rate = par->sample_rate;
        out->src_channels = par->ch_layout.nb_channels;
        d.out = NULL;
    }
    decoder_free(&d);
    return s;
}

sail_status sail_audio_decode_bytes(const void *data, size_t size, const sail_audio_options *opts,
                                    sail_audio *out, sail_error *err) {
    if (!out || (!data && size)) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no audio data or output");
    if (size > INT64_MAX) return sail_set_error(err, SAIL_ERR_LIMIT, "<memory>: the buffer is too large");
    src_io io = {.data = data, .fd = -1, .size = (int64_t)size};
    return decode_io(&io, "<memory>", opts, out, err);
}

sail_status sail_audio_decode_file(const char *path, const sail_audio_options *opts, sail_audio *out,
                                   sail_error *err) {
    if (!path || !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no audio path or output");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    sail_status s;
    if (fstat(fd, &st)) s = sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) s = sail_set_error(err, SAIL_ERR_IO, "%s: not a regular file", path);
    else {
        src_io io = {.fd = fd, .size = st.st_size};
        s = decode_io(&io, path, opts, out, err);
    }
    close(fd);
    return s;
}

/* The same resampler over samples already in memory, fed in slices (a
 * frame's sample count is an int). A mono clip resampled here equals the
 * file decoded at that rate. */
sail_status sail_audio_resample(const float *in, int64_t n, int in_rate, int out_rate, sail_audio *out,
                                sail_error *err) {
    enum { SLICE = 1 << 20 };
    if (!out || !in || n < 1) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "no samples (n = %lld)", (long long)n);
    sail_audio_options o = {out_rate, 0, 0};
    sail_status s = resolve_options(&o, &o, err);
    if (s) return s;
    decoder d = {.name = "<samples>", .out_rate = o.sample_rate};
    if ((s = check_stream_format(&d, in_rate, 1, err))) return s;
    if ((double)n / in_rate > o.max_seconds)
        return sail_set_error(err, SAIL_ERR_LIMIT, "<samples>: the clip lasts %.1f s; the limit is %g s",
                              (double)n / in_rate, o.max_seconds);
    if ((s = sail_av_begin(err))) return s;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    if (!(d.av.frame = sail_av.av_frame_alloc()) || sail_av.av_channel_layout_copy(&d.av.frame->ch_layout, &mono) < 0)
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    AVFrame *f = d.av.frame;
    if (!s) {
        f->format = AV_SAMPLE_FMT_FLT;
        f->sample_rate = in_rate;
        d.max_out = (int64_t)ceil((double)n * d.out_rate / in_rate) + d.out_rate;
        s = setup_swr(&d, f, err);
    }
    for (int64_t i = 0; !s && i < n; i += SLICE) {
        f->nb_samples = (int)SAIL_MIN(SLICE, n - i);
        f->data[0] = (uint8_t *)(in + i);
        f->extended_data = f->data;
        s = convert(&d, f, o.max_seconds, err);
    }
    if (f) f->data[0] = NULL; /* the caller's, not the frame's */
    if (!s) s = convert(&d, NULL, o.max_seconds, err);
    if (!s && !d.n) s = sail_set_error(err, SAIL_ERR_INVALID_ARG, "<samples>: too few samples to resample");
    if (!s) {
        *out = (sail_audio){d.out, d.n, d.out_rate, in_rate, 1};
        d.out = NULL;
    }
    decoder_free(&d);
    return s;
}

void sail_audio_free(sail_audio *a) {
    if (!a) return;
    sail_free(a->samples);
    memset(a, 0, sizeof *a);
}
