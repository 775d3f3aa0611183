/* cmd_embed.c: `sail embed` turns texts, images, text+image pairs, videos
 * and audio clips into vectors (JSON, .npy or TSV), or prints their
 * cosine-similarity matrix. */
#include "cli.h"
#include "sail_apps.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail embed --model M (--text T | --image F | --text T --image F | --video V | --audio A)...\n"
    "                  [--dim D] [--format json|npy|tsv] [-o OUT] [--similarity]\n"
    "                  [--every S] [--max-frames N] [--fuse-frames N] [--threads N]\n"
    "                  [--separate] [--max-image-pixels N] [--exact-decode]\n\n"
    "Embeds each input into one L2-normalised vector of the model's shared space.\n"
    "Adjacent flags of different kinds are ONE joint input while each adds what it\n"
    "lacks: --text T --image F is a fused text+image, --text T --audio A a text with\n"
    "its clip, --image F --audio A a picture with its sound (models with fusion\n"
    "layers); use --separate to embed every flag as its own input.\n"
    "A video is the mean of its frames' image vectors; with --fuse-frames N its N\n"
    "frames go through the model's fusion layers together as ONE item (a --text\n"
    "beside it joins them: a clip and its caption), as training on video items does.\n"
    "--audio needs a model with an audio tower (an AST or a CLAP imported by sail\n"
    "convert, or a sail model composed or trained with one).\n\n";

typedef struct input {
    const char *text, *image, *video, *audio;
} input;

typedef struct opts {
    const char *model, *out, *format;
    int dim, threads, similarity, separate, max_frames, fuse_frames;
    double every;
    input *in;
    int n;
} opts;

/* Adds a text, image, video or clip as an input of its own; join_inputs
 * makes the joint items once every flag (--separate among them) is read. */
static void add_input(opts *o, const char *text, const char *image, const char *video, const char *audio) {
    o->in[o->n++] = (input){text, image, video, audio};
}

/* Adjacent flags make one joint item (a text with an image or a video, and
 * a clip): an input joins the one before while that one lacks its
 * modality. */
static void join_inputs(opts *o) {
    int n = 0;
    for (int i = 0; i < o->n; i++) {
        input *last = n ? &o->in[n - 1] : NULL, in = o->in[i];
        int visual = in.image || in.video;
        if (last && ((in.text && !last->text) || (visual && !last->image && !last->video) ||
                     (in.audio && !last->audio))) {
            if (in.text) last->text = in.text;
            else if (in.image) last->image = in.image;
            else if (in.video) last->video = in.video;
            else last->audio = in.audio;
        } else {
            o->in[n++] = in;
        }
    }
    o->n = n;
}

/* --text, --image, --video and --audio: one part each, which the option's
 * name says. */
static int on_part(const char *cmd, const cli_opt *opt, const char *v) {
    (void)cmd;
    const char *name = opt->name;
    add_input(opt->ptr, !strcmp(name, "--text") ? v : NULL, !strcmp(name, "--image") ? v : NULL,
              !strcmp(name, "--video") ? v : NULL, !strcmp(name, "--audio") ? v : NULL);
    return 0;
}

static int parse(opts *o, int argc, char **argv) {
    const cli_opt table[] = {
        CLI_OPT_STR("--model", &o->model, "M", "sail model file (.gguf)"),
        CLI_OPT_CALL("--text", on_part, o, "T", "a UTF-8 text (Chinese or English)"),
        CLI_OPT_CALL("--image", on_part, o, "F", "an image file (JPEG, PNG, WebP, PPM/PGM)"),
        CLI_OPT_CALL("--video", on_part, o, "V",
                     "a video file (any format the installed FFmpeg decodes): the\n"
                     "normalised mean of its sampled frames' image vectors"),
        CLI_OPT_CALL("--audio", on_part, o, "A",
                     "an audio file (WAV, FLAC, MP3, Ogg, Opus, or a video's sound):\n"
                     "decoded, resampled and featurised as the model records"),
        CLI_OPT_FLOAT("--every", &o->every, 0, 1e6, "S", "video: one frame per S seconds (default 1; 0 = every frame)"),
        CLI_OPT_INT("--max-frames", &o->max_frames, 1, 1 << 20, "N",
                    "video: at most N frames, spread over its length (default 64)"),
        CLI_OPT_INT("--fuse-frames", &o->fuse_frames, 1, 64, "N",
                    "video: N frames spread over it, fused into one item (with an\n"
                    "adjacent --text: a joint text+video item); models with fusion layers"),
        CLI_OPT_DIM(&o->dim, "Matryoshka prefix: keep the first D dimensions, re-normalised"),
        CLI_OPT_STR("--format", &o->format, "F", "json (default), npy (float32 array, n x dim; needs -o) or tsv"),
        CLI_OPT_STR("-o|--output", &o->out, "OUT", "write to OUT instead of stdout"),
        CLI_OPT_FLAG("--similarity", &o->similarity, "print the cosine-similarity matrix of the inputs instead"),
        CLI_OPT_FLAG("--separate", &o->separate,
                     "embed every --text, --image, --video and --audio as its own\n"
                     "input (wherever --separate stands)"),
        CLI_OPT_THREADS(&o->threads, CLI_THREADS_HELP),
        CLI_OPT_IMAGE,
        CLI_OPT_END,
    };
    const cli_spec spec = {"embed", usage, table, NULL};
    o->in = calloc((size_t)argc, sizeof *o->in);
    if (!o->in) return cli_fail(1, "embed", "out of memory");
    int rc = cli_parse(&spec, argc, argv, 1);
    if (rc) return rc;
    if (!o->model) return cli_fail(2, "embed", "--model is required (see sail embed --help)");
    if (!o->n) return cli_fail(2, "embed", "nothing to embed: give --text, --image, --video or --audio");
    if (!o->separate) join_inputs(o);
    for (int i = 0; i < o->n && !o->fuse_frames; i++)
        if (o->in[i].video && (o->in[i].text || o->in[i].audio))
            return cli_fail(2, "embed", "a --text or --audio beside a --video makes a joint item: give "
                            "--fuse-frames N (or --separate to embed them apart)");
    if (strcmp(o->format, "json") && strcmp(o->format, "npy") && strcmp(o->format, "tsv"))
        return cli_fail(2, "embed", "--format must be json, npy or tsv, not '%s'", o->format);
    if (!strcmp(o->format, "npy") && !o->out && !o->similarity)
        return cli_fail(2, "embed", "--format npy writes a binary file: give -o OUT.npy");
    return 0;
}

static int input_kind(const opts *o, const input *in) {
    if (in->audio) return in->text || in->image || in->video ? 6 : 5;
    if (in->video) return o->fuse_frames ? 4 : 3;
    return in->text && in->image ? 2 : in->image ? 1 : 0;
}

/* Embeds every input of one kind (0 text, 1 image, 2 pair, 3 video, 4 fused
 * video item, 5 audio, 6 a joint item with a clip) in one batched call (or
 * one by one), then scatters the rows back to their input positions. */
static sail_status embed_kind(sail_model *m, const opts *o, int kind, int dim, float *v,
                              sail_error *err) {
    int *at = malloc(sizeof *at * (size_t)o->n), k = 0;
    const char **texts = malloc(sizeof *texts * (size_t)o->n);
    const char **images = malloc(sizeof *images * (size_t)o->n);
    const char **clips = malloc(sizeof *clips * (size_t)o->n);
    float *rows = malloc(sizeof *rows * (size_t)o->n * dim);
    sail_status s = SAIL_OK;
    if (!at || !texts || !images || !clips || !rows) s = SAIL_ERR_NOMEM;
    for (int i = 0; !s && i < o->n; i++) {
        const input *in = &o->in[i];
        if (input_kind(o, in) != kind) continue;
        at[k] = i;
        texts[k] = in->text;
        clips[k] = in->audio;
        images[k++] = in->image;
    }
    if (!s && k) {
        if (kind == 6)
            for (int j = 0; !s && j < k; j++) {
                const input *in = &o->in[at[j]];
                sail_item it = {.text = in->text, .image = in->image, .video = in->video, .audio = in->audio,
                                .frames = o->fuse_frames};
                s = sail_embed_item(m, &it, dim, rows + (size_t)j * dim, err);
            }
        else if (kind == 5) s = sail_embed_audio_files(m, clips, k, dim, rows, err);
        else if (kind == 4)
            for (int j = 0; !s && j < k; j++)
                s = sail_embed_video_item(m, texts[j], o->in[at[j]].video, o->fuse_frames, dim, rows + (size_t)j * dim, err);
        else if (kind == 3)
            for (int j = 0; !s && j < k; j++)
                s = sail_embed_video(m, o->in[at[j]].video, o->every, o->max_frames, dim, rows + (size_t)j * dim, NULL, err);
        else if (kind == 2) s = sail_embed_pairs(m, texts, images, k, dim, rows, err);
        else if (kind == 1) s = sail_embed_image_files(m, images, k, dim, rows, err);
        else s = sail_embed_texts(m, texts, k, dim, rows, err);
    }
    for (int j = 0; !s && j < k; j++) memcpy(v + (size_t)at[j] * dim, rows + (size_t)j * dim, sizeof *rows * dim);
    if (s == SAIL_ERR_NOMEM && err) snprintf(err->msg, sizeof err->msg, "out of memory");
    free(at);
    free(texts);
    free(images);
    free(clips);
    free(rows);
    return s;
}

/* "text + [image] + [clip]", the parts an input has. */
static void label(const input *in, char *buf, size_t cap) {
    const char *parts[3] = {in->text, in->image ? in->image : in->video, in->audio};
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < 3; k++)
        if (parts[k])
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, k ? "%s[%s]" : "%s%s", n ? " + " : "", parts[k]);
}

static void print_similarity(FILE *f, const opts *o, const float *v, int dim) {
    char name[64];
    for (int i = 0; i < o->n; i++) fprintf(f, "%6d", i);
    fprintf(f, "\n");
    for (int i = 0; i < o->n; i++) {
        for (int j = 0; j < o->n; j++) fprintf(f, " %5.2f", sail_cosine(v + (size_t)i * dim, v + (size_t)j * dim, dim));
        label(&o->in[i], name, sizeof name);
        fprintf(f, "   %d: %s\n", i, name);
    }
}

static int write_json(FILE *f, const opts *o, const float *v, int dim) {
    json_t *root = json_object(), *data = json_array();
    json_object_set_new(root, "model", json_string(o->model));
    json_object_set_new(root, "dim", json_integer(dim));
    for (int i = 0; i < o->n; i++) {
        json_t *item = json_object(), *vec = json_array();
        json_object_set_new(item, "index", json_integer(i));
        if (o->in[i].text) json_object_set_new(item, "text", json_string(o->in[i].text));
        if (o->in[i].image) json_object_set_new(item, "image", json_string(o->in[i].image));
        if (o->in[i].video) json_object_set_new(item, "video", json_string(o->in[i].video));
        if (o->in[i].audio) json_object_set_new(item, "audio", json_string(o->in[i].audio));
        for (int j = 0; j < dim; j++) json_array_append_new(vec, json_real(v[(size_t)i * dim + j]));
        json_object_set_new(item, "embedding", vec);
        json_array_append_new(data, item);
    }
    json_object_set_new(root, "data", data);
    int rc = json_dumpf(root, f, JSON_REAL_PRECISION(9) | JSON_COMPACT);
    fputc('\n', f);
    json_decref(root);
    return rc;
}

static int emit(const opts *o, const float *v, int dim) {
    if (!strcmp(o->format, "npy") && !o->similarity) {
        sail_error err = {0};
        int64_t shape[2] = {o->n, dim};
        if (sail_npy_write_f32(o->out, v, 2, shape, &err)) return cli_fail(1, "embed", "%s", err.msg);
        return 0;
    }
    FILE *f = o->out ? fopen(o->out, "w") : stdout;
    if (!f) return cli_fail(1, "embed", "cannot write %s", o->out);
    int rc = 0;
    if (o->similarity) print_similarity(f, o, v, dim);
    else if (!strcmp(o->format, "json")) rc = write_json(f, o, v, dim);
    else
        for (int i = 0; i < o->n; i++)
            for (int j = 0; j < dim; j++) fprintf(f, "%.9g%c", v[(size_t)i * dim + j], j + 1 < dim ? '\t' : '\n');
    if (ferror(f)) rc = -1;
    if (o->out && fclose(f)) rc = -1;
    return rc ? cli_fail(1, "embed", "write error on %s", o->out ? o->out : "stdout") : 0;
}

int cmd_embed(int argc, char **argv) {
    opts o = {.format = "json", .every = 1, .max_frames = 64};
    int rc = parse(&o, argc, argv);
    if (rc == CLI_HELP) {
        free(o.in);
        return 0;
    }
    sail_model *m = NULL;
    float *v = NULL;
    sail_error err = {0};
    if (!rc) {
        sail_load_options lo = {.n_threads = o.threads};
        m = sail_model_load(o.model, &lo, &err);
        if (!m) rc = cli_fail(1, "embed", "%s", err.msg);
    }
    int dim = o.dim;
    if (!rc) rc = cli_check_dim("embed", m, dim);
    if (!rc) {
        if (!dim) dim = sail_model_dim(m);
        v = malloc((size_t)o.n * dim * sizeof *v);
        if (!v) rc = cli_fail(1, "embed", "out of memory");
    }
    for (int kind = 0; !rc && kind < 7; kind++)
        if (embed_kind(m, &o, kind, dim, v, &err)) rc = cli_fail(1, "embed", "%s", err.msg);
    if (!rc) rc = emit(&o, v, dim);
    free(v);
    free(o.in);
    sail_model_free(m);
    return rc;
}
