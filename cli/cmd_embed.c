/* cmd_embed.c: `sail embed` turns texts, images and text+image pairs into
 * vectors (JSON, .npy or TSV), or prints their cosine-similarity matrix. */
#include "apps_input.h"
#include "cli.h"
#include "format/npy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail embed --model M (--text T | --image F | --text T --image F | --video V)...\n"
    "                  [--dim D] [--format json|npy|tsv] [-o OUT] [--similarity]\n"
    "                  [--every S] [--max-frames N] [--threads N] [--separate]\n"
    "                  [--max-image-pixels N] [--exact-decode]\n\n"
    "Embeds each input into one L2-normalised vector of the model's shared space.\n"
    "A --text directly followed by an --image (or the reverse) is ONE joint input\n"
    "(fused text+image); use --separate to embed every flag as its own input.\n\n"
    "  --model M      sail model file (.gguf)\n"
    "  --text T       a UTF-8 text (Chinese or English)\n"
    "  --image F      an image file (JPEG, PNG, WebP, PPM/PGM)\n"
    "  --video V      a video file (any format the installed FFmpeg decodes): the\n"
    "                 normalised mean of its sampled frames' image vectors\n"
    "  --every S      video: one frame per S seconds (default 1; 0 = every frame)\n"
    "  --max-frames N video: at most N frames, spread over its length (default 64)\n"
    "  --dim D        Matryoshka prefix: keep the first D dimensions, re-normalised\n"
    "  --format F     json (default), npy (float32 array, n x dim; needs -o) or tsv\n"
    "  -o OUT         write to OUT instead of stdout\n"
    "  --similarity   print the cosine-similarity matrix of the inputs instead\n"
    "  --threads N    compute threads (default: one per core)\n" CLI_IMAGE_HELP;

typedef struct input {
    const char *text, *image, *video;
} input;

typedef struct opts {
    const char *model, *out, *format;
    int dim, threads, similarity, separate, max_frames;
    double every;
    input *in;
    int n;
} opts;

/* Adds a text or image; it joins the previous input when that one lacks
 * exactly this modality and was just created (adjacent flags pair up). */
static void add_input(opts *o, const char *text, const char *image, int *open) {
    input *last = o->n ? &o->in[o->n - 1] : NULL;
    if (!o->separate && *open && last && ((text && !last->text) || (image && !last->image))) {
        if (text) last->text = text;
        else last->image = image;
        *open = 0;
        return;
    }
    o->in[o->n].text = text;
    o->in[o->n].image = image;
    o->n++;
    *open = 1;
}

static int parse(opts *o, int argc, char **argv) {
    int open = 0;
    o->in = calloc((size_t)argc, sizeof *o->in);
    if (!o->in) return cli_fail(1, "embed", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long n;
        int img = cli_image_option("embed", argc, argv, &i);
        if (img < 0) return 2;
        if (img) continue;
        if (!strcmp(a, "--similarity")) { o->similarity = 1; continue; }
        if (!strcmp(a, "--separate")) { o->separate = 1; continue; }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) return cli_fail(2, "embed", "option %s needs a value (see sail embed --help)", a);
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--text")) add_input(o, v, NULL, &open);
        else if (!strcmp(a, "--image")) add_input(o, NULL, v, &open);
        else if (!strcmp(a, "--video")) {
            o->in[o->n++].video = v; /* a video never pairs with a text */
            open = 0;
        } else if (!strcmp(a, "--every")) {
            if (app_parse_float(v, 0, 1e6, &o->every)) return cli_fail(2, "embed", "--every needs seconds >= 0, not '%s'", v);
        } else if (!strcmp(a, "--max-frames")) {
            if (cli_parse_int(v, 1, 1 << 20, &n)) return cli_fail(2, "embed", "--max-frames needs a positive integer, not '%s'", v);
            o->max_frames = (int)n;
        }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->out = v;
        else if (!strcmp(a, "--format")) o->format = v;
        else if (!strcmp(a, "--dim")) {
            if (cli_parse_int(v, 1, 8192, &n)) return cli_fail(2, "embed", "--dim needs a positive integer, not '%s'", v);
            o->dim = (int)n;
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_int(v, 1, 1024, &n)) return cli_fail(2, "embed", "--threads needs 1..1024, not '%s'", v);
            o->threads = (int)n;
        } else
            return cli_fail(2, "embed", "unknown option '%s' (see sail embed --help)", a);
    }
    if (!o->model) return cli_fail(2, "embed", "--model is required (see sail embed --help)");
    if (!o->n) return cli_fail(2, "embed", "nothing to embed: give --text, --image or --video");
    if (strcmp(o->format, "json") && strcmp(o->format, "npy") && strcmp(o->format, "tsv"))
        return cli_fail(2, "embed", "--format must be json, npy or tsv, not '%s'", o->format);
    if (!strcmp(o->format, "npy") && !o->out && !o->similarity)
        return cli_fail(2, "embed", "--format npy writes a binary file: give -o OUT.npy");
    return 0;
}

/* Embeds every input of one kind (0 text, 1 image, 2 pair) in one batched
 * call, then scatters the rows back to their input positions. */
static sail_status embed_kind(sail_model *m, const opts *o, int kind, int dim, float *v,
                              sail_error *err) {
    int *at = malloc(sizeof *at * (size_t)o->n), k = 0;
    const char **texts = malloc(sizeof *texts * (size_t)o->n);
    const char **images = malloc(sizeof *images * (size_t)o->n);
    float *rows = malloc(sizeof *rows * (size_t)o->n * dim);
    sail_status s = SAIL_OK;
    if (!at || !texts || !images || !rows) s = SAIL_ERR_NOMEM;
    for (int i = 0; !s && i < o->n; i++) {
        const input *in = &o->in[i];
        if ((in->video ? 3 : in->text && in->image ? 2 : in->image ? 1 : 0) != kind) continue;
        at[k] = i;
        texts[k] = in->text;
        images[k++] = in->image;
    }
    if (!s && k) {
        if (kind == 3)
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
    free(rows);
    return s;
}

static void label(const input *in, char *buf, size_t cap) {
    if (in->text && in->image) snprintf(buf, cap, "%s + [%s]", in->text, in->image);
    else if (in->text) snprintf(buf, cap, "%s", in->text);
    else snprintf(buf, cap, "[%s]", in->image ? in->image : in->video);
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
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    opts o = {.format = "json", .every = 1, .max_frames = 64};
    int rc = parse(&o, argc, argv);
    sail_model *m = NULL;
    float *v = NULL;
    sail_error err = {0};
    if (!rc) {
        sail_load_options lo = {o.threads};
        m = sail_model_load(o.model, &lo, &err);
        if (!m) rc = cli_fail(1, "embed", "%s", err.msg);
    }
    int dim = o.dim;
    if (!rc && dim > sail_model_dim(m))
        rc = cli_fail(2, "embed", "--dim %d is larger than the model's %d dimensions", dim, sail_model_dim(m));
    if (!rc) {
        if (!dim) dim = sail_model_dim(m);
        v = malloc((size_t)o.n * dim * sizeof *v);
        if (!v) rc = cli_fail(1, "embed", "out of memory");
    }
    for (int kind = 0; !rc && kind < 4; kind++)
        if (embed_kind(m, &o, kind, dim, v, &err)) rc = cli_fail(1, "embed", "%s", err.msg);
    if (!rc) rc = emit(&o, v, dim);
    free(v);
    free(o.in);
    sail_model_free(m);
    return rc;
}
