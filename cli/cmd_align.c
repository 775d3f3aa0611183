/* cmd_align.c: `sail align` binds each subtitle line to the video frame (or
 * the stretch of speech) it is most similar to (cosine of text and image or
 * audio embeddings), optionally
 * keeping the frames in subtitle order (dynamic programming), and writes
 * JSON plus a re-timed SRT. */
#include "sail_apps.h"
#include "apps_input.h"
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: sail align --model M --subtitles F.srt|lines.txt (--frames DIR | --video V | --speech A)\n"
    "                  [--monotonic] [--fps F | --frame-times T.txt] [--every S] [--window W]\n"
    "                  [-o out.srt] [--json J]\n\n"
    "Binds each subtitle line to its most similar frame. Frames are the image files\n"
    "of DIR (JPEG, PNG, WebP, PPM) sorted by name, which is taken as time order,\n"
    "frames sampled from a video file (any format the installed FFmpeg decodes), or\n"
    "with --speech, stretches of W seconds of a recording (an audio file, or a\n"
    "video's sound) every S seconds, embedded by the model's audio tower: each line\n"
    "goes to where it is spoken.\n\n";

typedef struct line {
    char *text;
    double start, end; /* from the SRT; -1 when unknown */
} line;

static int is_image(const char *name) {
    const char *dot = strrchr(name, '.');
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".webp", ".ppm", ".pgm"};
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_frames(const char *dir, char ***out, int *n_out) {
    DIR *d = opendir(dir);
    if (!d) return cli_fail(1, "align", "cannot open frames folder %s: %s", dir, strerror(errno));
    char **f = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !is_image(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **g = realloc(f, sizeof *f * (size_t)cap);
            if (!g) { rc = cli_fail(1, "align", "out of memory"); break; }
            f = g;
        }
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        if (!(f[n] = malloc(l))) { rc = cli_fail(1, "align", "out of memory"); break; }
        snprintf(f[n++], l, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (!rc && !n) rc = cli_fail(1, "align", "%s has no image files", dir);
    if (rc) { app_free_lines(f, n); return rc; }
    qsort(f, (size_t)n, sizeof *f, cmp_str);
    *out = f;
    *n_out = n;
    return 0;
}

/* "HH:MM:SS,mmm" -> seconds, or -1. */
static double srt_time(const char *s) {
    int h, m, sec, ms;
    if (sscanf(s, "%d:%d:%d%*[,.]%d", &h, &m, &sec, &ms) != 4 || h < 0 || m < 0 || m > 59 || sec < 0 ||
        sec > 59 || ms < 0 || ms > 999)
        return -1;
    return h * 3600.0 + m * 60 + sec + ms / 1000.0;
}

/* Never negative: an SRT time has no sign. */
static void fmt_time(char *b, size_t cap, double t) {
    long ms = t > 0 ? lround(t * 1000) : 0;
    snprintf(b, cap, "%02ld:%02ld:%02ld,%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
}

/* The file's line number of its k-th non-empty line (0-based k), for an
 * error message: app_read_lines drops empty lines. */
static int file_line(const char *path, int k) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int no = 0;
    while (f && (len = getline(&buf, &cap, f)) >= 0) {
        no++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
        if (len && k-- == 0) break;
    }
    free(buf);
    if (f) fclose(f);
    return no;
}

/* Subtitles from an SRT (blocks: number, "a --> b", text lines) or, when
 * the file has no "-->" timing line, one subtitle per non-empty line. */
static int read_subtitles(const char *path, line **out, int *n_out) {
    char **raw;
    int nr, rc = app_read_lines("align", path, &raw, &nr), srt = 0, n = 0;
    if (rc) return rc;
    for (int i = 0; i < nr; i++) srt |= strstr(raw[i], "-->") != NULL;
    line *l = calloc(nr > 0 ? (size_t)nr : 1, sizeof *l);
    if (!l) { app_free_lines(raw, nr); return cli_fail(1, "align", "out of memory"); }
    for (int i = 0; i < nr; i++) {
        if (!srt) {
            l[n].text = raw[i];
            raw[i] = NULL;
            l[n].start = l[n].end = -1;
            n++;
            continue;
        }
        const char *arrow = strstr(raw[i], "-->");
        if (!arrow) continue; /* cue numbers; text lines are taken below */
        double a = srt_time(raw[i]), b = srt_time(arrow + 3 + strspn(arrow + 3, " "));
        if (a < 0 || b < 0) {
            rc = cli_fail(1, "align", "%s:%d: bad SRT timing line '%s' (HH:MM:SS,mmm --> HH:MM:SS,mmm)", path,
                          file_line(path, i), raw[i]);
            break;
        }
        if (b < a) {
            rc = cli_fail(1, "align", "%s:%d: the cue ends before it starts ('%s')", path, file_line(path, i), raw[i]);
            break;
        }
        size_t len = 0;
        int j = i + 1;
        /* Text runs until the next cue's number + timing (blank lines were dropped). */
        for (; j < nr && !(j + 1 < nr && strstr(raw[j + 1], "-->")) && !strstr(raw[j], "-->"); j++) len += strlen(raw[j]) + 1;
        if (!(l[n].text = malloc(len + 1))) { rc = cli_fail(1, "align", "out of memory"); break; }
        l[n].text[0] = 0;
        for (int t = i + 1; t < j; t++) {
            if (t > i + 1) strcat(l[n].text, " ");
            strcat(l[n].text, raw[t]);
        }
        l[n].start = a;
        l[n].end = b;
        n++;
        i = j - 1;
    }
    app_free_lines(raw, nr);
    if (!rc && !n) rc = cli_fail(1, "align", "%s has no subtitles", path);
    if (rc) {
        for (int i = 0; i < n; i++) free(l[i].text);
        free(l);
        return rc;
    }
    *out = l;
    *n_out = n;
    return 0;
}

static int read_times(const char *path, int F, double *t) {
    char **raw;
    int nr, rc = app_read_lines("align", path, &raw, &nr);
    if (rc) return rc;
    if (nr != F) rc = cli_fail(1, "align", "%s has %d times but there are %d frames", path, nr, F);
    for (int i = 0; !rc && i < F; i++)
        if (app_parse_float(raw[i], 0, 1e9, &t[i]) || (i && t[i] < t[i - 1]))
            rc = cli_fail(1, "align", "%s:%d: '%s' is not a time in seconds at or after the previous", path, i + 1, raw[i]);
    app_free_lines(raw, nr);
    return rc;
}

static int write_srt(const char *path, const line *l, int L, const int *frame, const double *t, int F) {
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail(1, "align", "cannot write %s: %s", path, strerror(errno));
    for (int i = 0; i < L; i++) {
        double a = t[frame[i]], b = -1;
        for (int j = i + 1; j < L && b < 0; j++)
            if (t[frame[j]] > a) b = t[frame[j]];
        if (b < 0) b = a + (l[i].start >= 0 ? l[i].end - l[i].start
                            : frame[i] + 1 < F ? t[frame[i] + 1] - a : 1.0);
        if (!(b >= a)) b = a; /* a cue never ends before it starts */
        char sa[32], sb[32];
        fmt_time(sa, sizeof sa, a);
        fmt_time(sb, sizeof sb, b);
        fprintf(f, "%d\n%s --> %s\n%s\n\n", i + 1, sa, sb, l[i].text);
    }
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? cli_fail(1, "align", "write error on %s", path) : 0;
}

/* The frames side: one vector per frame, each frame's time when known, and
 * its file name (a folder) or decoded-frame number (a video). */
typedef struct frames {
    int F, d, have_t;
    float *fv;
    double *t;
    char **names;
    sail_video_embeddings video; /* fv, t point into it for a video */
} frames;

static void frames_free(frames *f) {
    if (f->video.n) {
        sail_video_embeddings_free(&f->video);
        return;
    }
    app_free_lines(f->names, f->F);
    free(f->fv);
    free(f->t);
}

static int frames_from_dir(sail_model *m, const char *dir, double fps, const char *times, frames *f) {
    int rc = list_frames(dir, &f->names, &f->F);
    if (rc) return rc;
    app_item *items = calloc((size_t)f->F, sizeof *items);
    f->fv = malloc(sizeof *f->fv * (size_t)f->F * f->d);
    f->t = malloc(sizeof *f->t * (size_t)f->F);
    if (!items || !f->fv || !f->t) rc = cli_fail(1, "align", "out of memory");
    char *default_times = NULL;
    if (!rc && fps > 0) {
        for (int i = 0; i < f->F; i++) f->t[i] = i / fps;
        f->have_t = 1;
    } else if (!rc) {
        if (!times && (default_times = malloc(strlen(dir) + 12))) {
            sprintf(default_times, "%s/frames.txt", dir);
            FILE *probe = fopen(default_times, "r");
            if (probe) { fclose(probe); times = default_times; }
        }
        if (times && !(rc = read_times(times, f->F, f->t))) f->have_t = 1;
    }
    if (!rc) {
        for (int i = 0; i < f->F; i++) items[i].image = f->names[i];
        fprintf(stderr, "sail align: embedding %d frames\n", f->F);
        rc = app_embed_items("align", m, items, f->F, f->d, f->fv);
    }
    free(default_times);
    free(items);
    return rc;
}

static int frames_from_video(sail_model *m, const char *path, double every, frames *f) {
    sail_error err = {0};
    fprintf(stderr, "sail align: embedding one frame per %g s of %s\n", every, path);
    if (sail_embed_video_frames(m, path, every, 0, f->d, &f->video, &err)) return cli_fail(1, "align", "%s", err.msg);
    f->F = f->video.n;
    f->fv = f->video.vectors;
    f->t = f->video.times;
    f->have_t = 1;
    return 0;
}

/* Windows of `window` s every `every` s of the sound of path, each embedded
 * as a clip; a window's time is its start. */
static int frames_from_speech(sail_model *m, const char *path, double every, double window, frames *f) {
    sail_error err = {0};
    sail_audio a = {0};
    sail_audio_options o = {SAIL_AUDIO_RATE, 0, 0};
    if (sail_audio_decode_file(path, &o, &a, &err)) return cli_fail(1, "align", "%s", err.msg);
    int64_t step = (int64_t)(every * a.sample_rate + 0.5), len = (int64_t)(window * a.sample_rate + 0.5);
    if (step < 1) step = 1;
    f->F = (int)(a.n > len ? (a.n - len + step - 1) / step + 1 : 1);
    f->fv = malloc(sizeof *f->fv * (size_t)f->F * f->d);
    f->t = malloc(sizeof *f->t * (size_t)f->F);
    f->names = NULL;
    int rc = f->fv && f->t ? 0 : cli_fail(1, "align", "out of memory");
    fprintf(stderr, "sail align: embedding %d stretches of %g s of %s\n", f->F, window, path);
    for (int i = 0; !rc && i < f->F; i++) {
        int64_t at = (int64_t)i * step, n = len < a.n - at ? len : a.n - at;
        f->t[i] = (double)at / a.sample_rate;
        if (sail_embed_audio_pcm(m, a.samples + at, n, a.sample_rate, f->d, f->fv + (size_t)i * f->d, &err))
            rc = cli_fail(1, "align", "%s", err.msg);
    }
    f->have_t = 1;
    sail_audio_free(&a);
    return rc;
}

static int write_alignment(const char *out, const line *l, int L, const frames *fr, const int *frame,
                           const float *sim, int monotonic, double total) {
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "monotonic", json_boolean(monotonic));
    json_object_set_new(root, "frames", json_integer(fr->F));
    json_object_set_new(root, "total_similarity", json_real(total));
    for (int i = 0; i < L; i++) {
        json_t *e = json_object();
        int f = frame[i];
        json_object_set_new(e, "index", json_integer(i));
        json_object_set_new(e, "text", json_string(l[i].text));
        json_object_set_new(e, "frame_index", json_integer(f));
        if (fr->names) json_object_set_new(e, "frame", json_string(fr->names[f]));
        if (fr->video.n) json_object_set_new(e, "video_frame", json_integer(fr->video.frame_index[f]));
        json_object_set_new(e, "similarity", json_real(sim[(size_t)i * fr->F + f]));
        if (fr->have_t) json_object_set_new(e, "time", json_real(fr->t[f]));
        json_array_append_new(arr, e);
    }
    json_object_set_new(root, "lines", arr);
    return app_write_json("align", root, out);
}

int cmd_align(int argc, char **argv) {
    const char *model = NULL, *subs = NULL, *dir = NULL, *video = NULL, *speech = NULL, *srt_out = NULL,
               *json_out = NULL, *times = NULL;
    int monotonic = 0, dim = 0, threads = 0;
    double fps = 0, every = -1, window = 3;
    const cli_opt table[] = {
        CLI_OPT_STR("--model", &model, "M", "sail model file (.gguf)"),
        CLI_OPT_STR("--subtitles", &subs, "F", "an .srt file, or a text file with one line per subtitle"),
        CLI_OPT_STR("--frames", &dir, "DIR", "a folder of frame images, in name order"),
        CLI_OPT_STR("--video", &video, "V", "a video file to sample frames from"),
        CLI_OPT_STR("--speech", &speech, "A",
                    "a recording (an audio file, or a video's sound) whose\n"
                    "stretches the lines are bound to (models with an audio tower)"),
        CLI_OPT_FLOAT("--window", &window, 0.1, 600, "W", "with --speech: stretches of W seconds (default 3)"),
        CLI_OPT_FLAG("--monotonic", &monotonic,
                     "maximise the total similarity with frame indices that never\n"
                     "go back in subtitle order (dynamic programming, O(lines x frames))"),
        CLI_OPT_FLOAT("--fps", &fps, 1e-6, 1e6, "F", "frame i is at i / F seconds"),
        CLI_OPT_STR("--frame-times", &times, "T",
                    "one time in seconds per frame, in name order (default:\nDIR/frames.txt when present)"),
        CLI_OPT_STR("-o|--output", &srt_out, "out.srt",
                    "the subtitles re-timed to their frames (needs frame times): a\n"
                    "line starts at its frame's time and ends when the next later\n"
                    "line starts (the last keeps its duration, or one frame)"),
        CLI_OPT_STR("--json", &json_out, "J", "the alignment as JSON (default stdout)"),
        CLI_OPT_FLOAT("--every", &every, 0, 1e6, "S",
                      "with --video: one frame per S seconds, the first at or after\n"
                      "each multiple of S (default 1; 0 = every frame); frame times\n"
                      "are the video's own timestamps. With --speech: a stretch\n"
                      "starts every S seconds (default 0.5)"),
        CLI_OPT_DIM(&dim, "Matryoshka prefix of the model's vectors"),
        CLI_OPT_THREADS(&threads, CLI_THREADS_HELP),
        CLI_OPT_END,
    };
    int status = cli_start("align", usage, table, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (!model || !subs || !!dir + !!video + !!speech != 1)
        return cli_fail(2, "align", "--model, --subtitles and one of --frames, --video or --speech are required");
    if (fps > 0 && times) return cli_fail(2, "align", "give --fps or --frame-times, not both");
    if ((video || speech) && (fps > 0 || times))
        return cli_fail(2, "align", "--%s has its own times; --fps and --frame-times are for --frames",
                        video ? "video" : "speech");
    if (speech && every == 0) return cli_fail(2, "align", "--every 0 is for a --video; give a stretch step in seconds");
    if (dir && every >= 0) return cli_fail(2, "align", "--every samples a --video; a --frames folder is used whole");
    line *l = NULL;
    frames fr = {0};
    int L = 0, rc = read_subtitles(subs, &l, &L);
    sail_model *m = NULL;
    float *tv = NULL, *sim = NULL;
    int *frame = NULL;
    double total = 0;
    app_item *items = NULL;
    if (!rc && !(m = app_load_model("align", model, threads))) rc = 1;
    if (!rc) rc = cli_check_dim("align", m, dim);
    fr.d = rc ? 0 : dim ? dim : sail_model_dim(m);
    if (!rc) {
        tv = malloc(sizeof *tv * (size_t)L * fr.d);
        frame = malloc(sizeof *frame * (size_t)L);
        items = calloc((size_t)L, sizeof *items);
        if (!tv || !frame || !items) rc = cli_fail(1, "align", "out of memory");
    }
    if (!rc) {
        for (int i = 0; i < L; i++) items[i].text = l[i].text;
        rc = app_embed_items("align", m, items, L, fr.d, tv);
    }
    if (!rc)
        rc = speech ? frames_from_speech(m, speech, every < 0 ? 0.5 : every, window, &fr)
             : video ? frames_from_video(m, video, every < 0 ? 1 : every, &fr)
                     : frames_from_dir(m, dir, fps, times, &fr);
    if (!rc && srt_out && !fr.have_t) rc = cli_fail(2, "align", "-o writes times: give --fps or --frame-times");
    if (!rc && (size_t)L * fr.F > ((size_t)1 << 30)) rc = cli_fail(1, "align", "%d lines x %d frames is too large", L, fr.F);
    if (!rc && !(sim = malloc(sizeof *sim * (size_t)L * fr.F))) rc = cli_fail(1, "align", "out of memory");
    if (!rc) {
        for (int i = 0; i < L; i++)
            for (int f = 0; f < fr.F; f++)
                sim[(size_t)i * fr.F + f] = sail_cosine(tv + (size_t)i * fr.d, fr.fv + (size_t)f * fr.d, fr.d);
        sail_error err = {0};
        if (monotonic) {
            if (sail_align_monotonic(sim, L, fr.F, frame, &total, &err)) rc = cli_fail(1, "align", "%s", err.msg);
        } else {
            total = sail_align_greedy(sim, L, fr.F, frame);
        }
    }
    if (!rc) rc = write_alignment(json_out, l, L, &fr, frame, sim, monotonic, total);
    if (!rc && srt_out) rc = write_srt(srt_out, l, L, frame, fr.t, fr.F);
    for (int i = 0; l && i < L; i++) free(l[i].text);
    free(l);
    frames_free(&fr);
    free(tv); free(sim); free(frame); free(items);
    sail_model_free(m);
    return rc;
}
