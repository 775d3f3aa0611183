/* cmd_index.c: `sail index add|create|info|compact|delete|export|import`
 * (and semantic-ids, handed to cmd_semantic.c):
 * build and maintain a vector index directory (see docs/INDEX.md). `add`
 * embeds a folder of images, a JSONL file of items or text lines from stdin
 * through the public embed API and adds them in durable batches; under
 * mpirun (make MPI=1) the ranks embed the batches and rank 0 adds them. */
#include "cli.h"
#include "ranks.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: sail index add     --index DIR|redis://HOST:PORT/NAME --model M [--dim D] [--batch N] [create options]\n"
    "                          [--max-image-pixels N] [--exact-decode] (FOLDER | FILE.jsonl | -)\n"
    "       sail index create  --index DIR --dim D [create options]\n"
    "       sail index info    --index DIR [--json]\n"
    "       sail index compact --index DIR\n"
    "       sail index delete  --index DIR ID...\n"
    "       sail index export  --index DIR OUT.npy|OUT.fvecs|OUT.faiss\n"
    "       sail index import  --index DIR [--first-id N] [create options] FILE.npy|FILE.fvecs\n"
    "       sail index semantic-ids --index DIR ...   (see sail index semantic-ids --help)\n\n"
    "A vector index is a directory (index.snap + index.wal); every batch added or\n"
    "deleted is on disk (fsync-ed) before the command moves on. add, info, delete,\n"
    "import and semantic-ids also take the Redis module's index\n"
    "redis://HOST:PORT/NAME (docs/REDIS.md): the key NAME, or shards {NAME:0},\n"
    "{NAME:1}, ... (item id to shard id mod N), made with the create options and\n"
    "--shards when none exists; Redis persists it (no compact or export).\n\n"
    "add embeds, with model M, a FOLDER of images, videos and audio clips\n"
    "(recursively: .jpg .jpeg .png .webp .ppm; .mp4 .mkv .webm .mov .avi; .wav\n"
    ".flac .ogg .opus .mp3 .m4a, clips for models with an audio encoder), a JSONL\n"
    "file of items {\"id\": 7, \"text\": ..., \"image\", \"video\" or \"audio\": ...,\n"
    "other fields kept as\n"
    "payload} (text and image together become one joint vector; a video is the\n"
    "mean of one frame per second, at most 64, and a text beside it is payload\n"
    "only; paths are relative to the JSONL file), or stdin (-): text lines, or\n"
    "JSONL when the first line is an object (paths relative to the working\n"
    "directory).\n"
    "Items without an id get a stable one (a hash of the path or the text), so\n"
    "adding the same folder again replaces instead of duplicating. An item that\n"
    "cannot be embedded (an unreadable or over-limit image...) is skipped and\n"
    "named once on stderr with the reason; the exit status is 0 when at least one\n"
    "item was added (skips or not) and 1 when every item was skipped.\n\n"
    "options (the create options are used when the index does not exist yet):\n";

typedef struct opts {
    const char *index, *model, *input;
    sail_index_options io;
    int dim, batch, threads, json;
    uint64_t first_id;
    int has_first_id;
    char **rest;              /* positional arguments */
    int n_rest;
} opts;

static int on_rest(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    (void)cmd;
    o->rest[o->n_rest++] = (char *)v;
    return 0;
}

/* A non-negative 64-bit integer into *(uint64_t *)opt->ptr. */
static int on_u64(const char *cmd, const cli_opt *opt, const char *v) {
    char *end;
    errno = 0;
    uint64_t x = strtoull(v, &end, 10);
    if (errno || *end || !isdigit((unsigned char)*v))
        return cli_fail(2, cmd, "%s needs a non-negative integer, not '%s'", opt->name, v);
    *(uint64_t *)opt->ptr = x;
    return 0;
}

static int on_first_id(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    cli_opt u = *opt;
    u.ptr = &o->first_id;
    o->has_first_id = 1;
    return on_u64(cmd, &u, v);
}

static int on_kind(const char *cmd, const cli_opt *opt, const char *v) {
    if (sail_index_kind_parse(v, opt->ptr)) return cli_fail(2, cmd, "--kind is exact or hnsw, not '%s'", v);
    return 0;
}

static int on_metric(const char *cmd, const cli_opt *opt, const char *v) {
    if (sail_metric_parse(v, opt->ptr)) return cli_fail(2, cmd, "--metric is cosine, ip or l2, not '%s'", v);
    return 0;
}

static int on_storage(const char *cmd, const cli_opt *opt, const char *v) {
    if (sail_storage_parse(v, opt->ptr)) return cli_fail(2, cmd, "--storage is f32, f16 or int8, not '%s'", v);
    return 0;
}

static int parse(opts *o, int argc, char **argv) {
    const cli_opt table[] = {
        CLI_OPT_STR("--index", &o->index, "DIR", "the index directory"),
        CLI_OPT_STR("--model", &o->model, "M", "add: the sail model file (.gguf) that embeds the items"),
        CLI_OPT_CALL("ARG", on_rest, o, NULL, NULL),
        CLI_OPT_CALL("--kind", on_kind, &o->io.kind, "K", "create: exact (brute force) or hnsw (graph; default)"),
        CLI_OPT_CALL("--metric", on_metric, &o->io.metric, "M", "create: cosine (default), ip or l2"),
        CLI_OPT_CALL("--storage", on_storage, &o->io.storage, "S",
                     "create: vector storage f32 (default), f16 or int8; f16/int8\nrescore in f32"),
        CLI_OPT_INT("--M", &o->io.M, 2, 256, "N", "create: HNSW links per node"),
        CLI_OPT_INT("--ef-construction", &o->io.ef_construction, 1, 100000, "N", "create: HNSW build beam"),
        CLI_OPT_INT("--ef-search", &o->io.ef_search, 1, 100000, "N", "create: HNSW search beam"),
        CLI_OPT_CALL("--seed", on_u64, &o->io.seed, "N", "create: HNSW level seed"),
        CLI_OPT_FLAG("--deterministic", &o->io.deterministic,
                     "create: build the graph serially (same seed + order ->\n"
                     "same graph whatever the thread count)"),
        CLI_OPT_DIM(&o->dim, "Matryoshka prefix of the model's vectors (add), or dimension"),
        CLI_OPT_INT("--batch", &o->batch, 1, 4096, "N", "items embedded and logged per batch (default 32)"),
        CLI_OPT_INT("--shards", &o->io.shards, 1, 4096, "N",
                    "create: a redis:// index as N keys {NAME:0..N-1}, spread over\na Redis Cluster (default 1: the key NAME)"),
        CLI_OPT_THREADS(&o->threads, CLI_THREADS_HELP),
        CLI_OPT_CALL("--first-id", on_first_id, o, "N", "import: id of the first vector (default: after the largest id)"),
        CLI_OPT_FLAG("--json", &o->json, "info as JSON"),
        CLI_OPT_FLAG("--recover-without-log", &o->io.recover_without_log,
                     "open from index.snap alone when index.wal is missing\n"
                     "or is not its log (what the log held is lost; a log that is\n"
                     "there is kept as index.wal.orphan)"),
        CLI_OPT_IMAGE,
        CLI_OPT_END,
    };
    const cli_spec spec = {"index", usage, table, NULL};
    if (argc < 2) {
        cli_help(&spec, stderr);
        return 2;
    }
    o->io = (sail_index_options){.metric = SAIL_METRIC_COSINE, .kind = SAIL_INDEX_HNSW, .create = 1};
    o->batch = 32;
    o->rest = calloc((size_t)argc + 1, sizeof *o->rest);
    if (!o->rest) return cli_fail(1, "index", "out of memory");
    int rc = cli_parse(&spec, argc, argv, 2);
    if (rc) return rc;
    if (!o->index) return cli_fail(2, "index", "--index DIR is required (see sail index --help)");
    o->io.n_threads = o->threads;
    return 0;
}

static sail_index *open_index(const opts *o, int create, int dim) {
    sail_index_options io = o->io;
    io.create = create;
    io.dim = dim;
    sail_error e = {0};
    sail_index *ix = sail_index_open(o->index, &io, &e);
    if (!ix) cli_fail(1, "index", "%s", e.msg);
    else if (io.recover_without_log && e.msg[0]) fprintf(stderr, "sail index: %s\n", e.msg); /* what was lost */
    return ix;
}

static uint64_t fnv1a(const char *kind, const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = kind; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (const char *p = s; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h >> 1; /* below 2^63: ids stay valid JSON integers */
}

/* ------------------------------------------------------------- items -- */

enum { MEDIA_IMAGE, MEDIA_VIDEO, MEDIA_AUDIO };

typedef struct item {
    char *text, *image;       /* at least one; image is the path of the item's media */
    int media;                /* what image names: MEDIA_* */
    char *payload;            /* JSON object text */
    uint64_t id;
} item;

typedef struct items { item *v; size_t n, cap; } items;

static int push(items *it, const char *text, const char *image, int media, json_t *extra, int has_id,
                uint64_t id) {
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 256;
        item *v = realloc(it->v, cap * sizeof *v);
        if (!v) return -1;
        it->v = v;
        it->cap = cap;
    }
    json_t *p = extra ? json_deep_copy(extra) : json_object();
    if (!p) return -1;
    json_object_del(p, "id");
    json_object_del(p, "image");
    json_object_del(p, "video");
    json_object_del(p, "audio");
    if (image) json_object_set_new(p, "source", json_string(image));
    if (text) json_object_set_new(p, "text", json_string(text));
    json_object_set_new(p, "modality", json_string(!image                  ? "text"
                                                   : media == MEDIA_VIDEO ? "video"
                                                   : media == MEDIA_AUDIO ? "audio"
                                                   : text                 ? "image+text"
                                                                          : "image"));
    item *x = &it->v[it->n];
    x->media = media;
    x->text = text ? strdup(text) : NULL;
    x->image = image ? strdup(image) : NULL;
    x->payload = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(p);
    x->id = has_id ? id : image ? fnv1a("image:", image) : fnv1a("text:", text);
    if ((text && !x->text) || (image && !x->image) || !x->payload) return -1;
    it->n++;
    return 0;
}

static void items_free(items *it) {
    for (size_t i = 0; i < it->n; i++) { free(it->v[i].text); free(it->v[i].image); free(it->v[i].payload); }
    free(it->v);
}

static items *g_walk; /* nftw has no context pointer */
static int g_walk_fail;

/* MEDIA_* of a file name by its extension, or -1. */
static int media_kind(const char *p) {
    const char *dot = strrchr(p, '.');
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".webp", ".ppm", ".mp4", ".mkv", ".webm", ".mov",
                                ".avi", ".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a"};
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return i < 5 ? MEDIA_IMAGE : i < 10 ? MEDIA_VIDEO : MEDIA_AUDIO;
    return -1;
}

static int walk_cb(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st; (void)ftw;
    int k = type == FTW_F ? media_kind(path) : -1;
    if (k >= 0 && push(g_walk, NULL, path, k, NULL, 0, 0)) g_walk_fail = 1;
    return g_walk_fail;
}

static int cmp_items(const void *a, const void *b) {
    return strcmp(((const item *)a)->image, ((const item *)b)->image);
}

static int read_folder(const char *dir, items *it) {
    g_walk = it;
    g_walk_fail = 0;
    if (nftw(dir, walk_cb, 32, FTW_PHYS) != 0 || g_walk_fail)
        return cli_fail(1, "index", "cannot read folder %s", dir);
    qsort(it->v, it->n, sizeof *it->v, cmp_items); /* deterministic order */
    return 0;
}

static char *read_line(FILE *f) {
    size_t cap = 0;
    char *line = NULL;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) { free(line); return NULL; }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

/* One manifest line: an object with "text", "image", "video" or "audio"
 * (paths relative to base), an optional "id", and fields kept in the payload. */
static int jsonl_line(const char *line, const char *name, int lineno, const char *base, items *it) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    json_t *jt = o ? json_object_get(o, "text") : NULL, *ji = o ? json_object_get(o, "image") : NULL;
    json_t *jv = o ? json_object_get(o, "video") : NULL, *jid = o ? json_object_get(o, "id") : NULL;
    json_t *ja = o ? json_object_get(o, "audio") : NULL;
    int rc = 0;
    if (!json_is_object(o) || (jt && !json_is_string(jt)) || (ji && !json_is_string(ji)) ||
        (jv && !json_is_string(jv)) || (ja && !json_is_string(ja)) || !!ji + !!jv + !!ja > 1 ||
        (!jt && !ji && !jv && !ja) || (ja && jt) ||
        (jid && !(json_is_integer(jid) && json_integer_value(jid) >= 0)))
        rc = cli_fail(1, "index", "%s:%d: expected an object with a \"text\" string, an \"image\" or a \"video\" "
                      "path or both, or an \"audio\" path alone, and an optional non-negative integer \"id\"%s%s",
                      name, lineno,
                      o ? "" : ": ", o ? "" : je.text);
    int media = jv ? MEDIA_VIDEO : ja ? MEDIA_AUDIO : MEDIA_IMAGE;
    if (jv || ja) ji = jv ? jv : ja;
    char img[8192] = "";
    if (!rc && ji) snprintf(img, sizeof img, "%s%s", json_string_value(ji)[0] == '/' ? "" : base, json_string_value(ji));
    if (!rc && push(it, jt ? json_string_value(jt) : NULL, ji ? img : NULL, media, o, jid != NULL,
                    jid ? (uint64_t)json_integer_value(jid) : 0))
        rc = cli_fail(1, "index", "out of memory");
    json_decref(o);
    return rc;
}

static int read_jsonl(const char *path, items *it) {
    FILE *f = fopen(path, "r");
    if (!f) return cli_fail(1, "index", "cannot open %s", path);
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    char *slash = strrchr(base, '/');
    if (slash) slash[1] = 0; else base[0] = 0;
    int rc = 0, lineno = 0;
    for (char *line; !rc && (line = read_line(f)); free(line))
        if (++lineno, *line) rc = jsonl_line(line, path, lineno, base, it);
    fclose(f);
    return rc;
}

/* Text lines, or JSONL when the first line is an object (paths relative to
 * the working directory): piped manifests work as files do. */
static int read_stdin(items *it) {
    int rc = 0, lineno = 0, json = -1;
    for (char *line; !rc && (line = read_line(stdin)); free(line)) {
        lineno++;
        if (!*line) continue;
        if (json < 0) json = line[0] == '{';
        if (json) rc = jsonl_line(line, "stdin", lineno, "", it);
        else if (push(it, line, NULL, 0, NULL, 0, 0)) rc = cli_fail(1, "index", "out of memory");
    }
    return rc;
}

/* ---------------------------------------------------------- progress -- */

static void progress(size_t done, size_t total, size_t failed, int final) {
    static int tty = -1;
    if (tty < 0) tty = isatty(2);
    if (!tty && !final && done % 1000) return;
    int w = 30, fill = total ? (int)(done * w / total) : w;
    fprintf(stderr, "%s[%.*s%*s] %zu/%zu items%s%s", tty ? "\r" : "", fill, "##############################",
            w - fill, "", done, total, failed ? " (some skipped)" : "", final || !tty ? "\n" : "");
    fflush(stderr);
}

/* ---------------------------------------------------------------- add -- */

enum { VIDEO_EVERY = 1, VIDEO_FRAMES = 64 };

/* 0 text, 1 image, 2 text+image, 3 video, 4 audio */
static int kind_of(const item *x) {
    if (x->image && x->media != MEDIA_IMAGE) return x->media == MEDIA_VIDEO ? 3 : 4;
    return x->text && x->image ? 2 : x->image ? 1 : 0;
}

static sail_status embed(sail_model *m, int kind, const char **t, const char **p, int n, int dim, float *v,
                         sail_error *e) {
    if (kind == 3) {
        sail_status s = SAIL_OK;
        for (int i = 0; !s && i < n; i++) s = sail_embed_video(m, p[i], VIDEO_EVERY, VIDEO_FRAMES, dim, v + (size_t)i * dim, NULL, e);
        return s;
    }
    return kind == 4 ? sail_embed_audio_files(m, p, n, dim, v, e)
         : kind == 2 ? sail_embed_pairs(m, t, p, n, dim, v, e)
         : kind == 1 ? sail_embed_image_files(m, p, n, dim, v, e)
                     : sail_embed_texts(m, t, n, dim, v, e);
}

/* Embed n items of one kind into v (n x dim). When the batch fails (an
 * unreadable image...), embed one by one, skip the bad ones (ok[i] = 0,
 * each named once on stderr with the reason) and return how many were
 * skipped. */
static int embed_batch(sail_model *m, item *x, int n, int dim, float *v, int *ok) {
    const char **t = malloc((size_t)n * sizeof *t), **p = malloc((size_t)n * sizeof *p);
    int kind = kind_of(x), bad = 0;
    if (!t || !p) {
        free(t); free(p);
        for (int i = 0; i < n; i++) ok[i] = 0;
        fprintf(stderr, "sail index: out of memory; skipping %d items\n", n);
        return n;
    }
    for (int i = 0; i < n; i++) t[i] = x[i].text, p[i] = x[i].image, ok[i] = 1;
    sail_error e = {0};
    if (embed(m, kind, t, p, n, dim, v, &e))
        for (int i = 0; i < n; i++)
            if (embed(m, kind, t + i, p + i, 1, dim, v + (size_t)i * dim, &e)) {
                ok[i] = 0;
                bad++;
                /* Decoder messages already start with the path. */
                const char *what = x[i].image ? x[i].image : x[i].text;
                size_t len = strlen(what);
                int named = !strncmp(e.msg, what, len) && e.msg[len] == ':';
                fprintf(stderr, "%ssail index: skipping %s%s%s\n", isatty(2) ? "\n" : "",
                        named ? "" : what, named ? "" : ": ", e.msg);
            }
    free(t);
    free(p);
    return bad;
}

/* A folder's files of a kind the model cannot embed (clips for a model
 * without an audio encoder, pictures for an audio model) are left out, with
 * a count, as files of other types are. */
static void drop_unembeddable(items *it, int modalities) {
    size_t k = 0, dropped[3] = {0, 0, 0};
    for (size_t i = 0; i < it->n; i++) {
        item *x = &it->v[i];
        int need = x->media == MEDIA_AUDIO ? SAIL_MODALITY_AUDIO : SAIL_MODALITY_IMAGE;
        if (modalities & need) it->v[k++] = *x;
        else {
            dropped[x->media]++;
            free(x->text); free(x->image); free(x->payload);
        }
    }
    it->n = k;
    static const char *what[3] = {"images", "videos", "audio clips"};
    for (int d = 0; d < 3; d++)
        if (dropped[d]) fprintf(stderr, "sail index: left out %zu %s: the model has no %s encoder\n", dropped[d],
                                what[d], d == MEDIA_AUDIO ? "audio" : "vision");
}

/* Items i.. that form one batch: consecutive items of one kind. */
static int batch_len(const items *it, size_t i, int max) {
    int n = 1, kind = kind_of(&it->v[i]);
    while (n < max && i + (size_t)n < it->n && kind_of(&it->v[i + (size_t)n]) == kind) n++;
    return n;
}

/* The embedding of `sail index add`: rounds of `size` consecutive batches
 * (the batches one process makes), batch q of a round embedded by rank q,
 * then every rank's batch gathered in batch order, so rank 0 adds exactly
 * what one process would, in the same order. A slot is one batch: its
 * length, ok[batch], vectors (batch, dim). Alone, size is 1 and nothing
 * moves. Returns non-zero (reported) on an error. */
typedef struct adder {
    const sail_train_comm *comm;    /* NULL: alone */
    int rank, size, batch, dim;
    size_t slot;            /* bytes of a slot */
    char *mine, *all;       /* one slot; size slots */
    size_t *start;          /* (size) each batch's first item */
} adder;

static int *slot_hdr(const adder *a, int q) { return (int *)(a->all + (size_t)q * a->slot); }
static float *slot_vec(const adder *a, int q) { return (float *)(slot_hdr(a, q) + 1 + a->batch); }

/* Embed this rank's batch of the round starting at item i and gather the
 * round; returns the item after it in *next. */
static int add_round(adder *a, sail_model *m, items *it, size_t i, size_t *next) {
    for (int q = 0; q < a->size; q++) {
        a->start[q] = i;
        int n = i < it->n ? batch_len(it, i, a->batch) : 0;
        if (q == a->rank) {
            int *h = (int *)(a->comm ? a->mine : a->all);
            h[0] = n;
            if (n) embed_batch(m, it->v + i, n, a->dim, (float *)(h + 1 + a->batch), h + 1);
        }
        i += (size_t)n;
    }
    *next = i;
    if (a->comm && a->comm->allgather(a->comm->ctx, a->mine, a->all, a->slot))
        return cli_fail(1, "index", "gathering the vectors from the ranks failed");
    return 0;
}

static int sub_add(opts *o, const sail_train_comm *comm) {
    if (!o->model) return cli_fail(2, "index", "add needs --model M");
    if (o->n_rest != 1) return cli_fail(2, "index", "add needs one input: a folder, a .jsonl file or - (stdin)");
    const char *in = o->rest[0];
    if (comm && !strcmp(in, "-")) return cli_fail(2, "index", "under mpirun, add a folder or a .jsonl file (not stdin)");
    adder a = {comm, comm ? comm->rank : 0, comm ? comm->size : 1, o->batch, 0, 0, NULL, NULL, NULL};
    items it = {0};
    struct stat st;
    int rc;
    if (!strcmp(in, "-")) rc = read_stdin(&it);
    else if (stat(in, &st) != 0) rc = cli_fail(1, "index", "%s does not exist", in);
    else if (S_ISDIR(st.st_mode)) rc = read_folder(in, &it);
    else rc = read_jsonl(in, &it);
    if (!rc && !it.n) rc = cli_fail(1, "index", "%s holds no items to add", in);
    sail_model *m = NULL;
    sail_index *ix = NULL;
    sail_error e = {0};
    if (!rc) {
        sail_load_options lo = {.n_threads = o->threads};
        if (!(m = sail_model_load(o->model, &lo, &e))) rc = cli_fail(1, "index", "%s", e.msg);
        else if (strcmp(in, "-") && S_ISDIR(st.st_mode)) drop_unembeddable(&it, sail_model_modalities(m));
        if (!rc && !it.n) rc = cli_fail(1, "index", "%s holds nothing this model embeds", in);
    }
    int dim = 0;
    if (!rc) {
        dim = o->dim ? o->dim : sail_model_dim(m);
        rc = cli_check_dim("index", m, o->dim);
    }
    if (!rc && !a.rank) /* rank 0 writes */
        rc = !(ix = open_index(o, 1, dim));
    sail_index_info info;
    if (ix) {
        sail_index_get_info(ix, &info);
        if (info.dim != dim)
            rc = cli_fail(2, "index", "%s holds %d-dimensional vectors; the model gives %d (use --dim)", o->index, info.dim, dim);
    }
    a.dim = dim;
    a.slot = (size_t)(1 + o->batch) * sizeof(int) + (size_t)o->batch * dim * sizeof(float);
    a.all = rc ? NULL : malloc((size_t)a.size * a.slot);
    a.mine = rc || !comm ? NULL : malloc(a.slot);
    a.start = rc ? NULL : malloc((size_t)a.size * sizeof *a.start);
    uint64_t *ids = rc ? NULL : malloc((size_t)o->batch * sizeof *ids);
    const char **pay = rc ? NULL : malloc((size_t)o->batch * sizeof *pay);
    if (!rc && (!a.all || (comm && !a.mine) || !a.start || !ids || !pay)) rc = cli_fail(1, "index", "out of memory");
    size_t done = 0, failed = 0;
    for (size_t i = 0, next; !rc && i < it.n; i = next) {
        rc = add_round(&a, m, &it, i, &next);
        for (int q = 0; !rc && ix && q < a.size; q++) {
            int n = slot_hdr(&a, q)[0], *ok = slot_hdr(&a, q) + 1, k = 0;
            float *v = slot_vec(&a, q);
            for (int j = 0; j < n; j++) {
                if (!ok[j]) {
                    failed++;
                    continue;
                }
                if (k != j) memmove(v + (size_t)k * dim, v + (size_t)j * dim, (size_t)dim * sizeof *v);
                ids[k] = it.v[a.start[q] + (size_t)j].id;
                pay[k++] = it.v[a.start[q] + (size_t)j].payload;
            }
            if (k && sail_index_add(ix, ids, v, pay, k, &e)) rc = cli_fail(1, "index", "%s", e.msg);
            done += (size_t)n;
            progress(done, it.n, failed, 0);
        }
    }
    if (!rc && ix) {
        progress(done, it.n, failed, 1);
        sail_index_get_info(ix, &info);
        fprintf(stderr, "sail index: added %zu items (%zu skipped); the index holds %zu\n", done - failed, failed, info.count);
    }
    if (ix && sail_index_close(ix, &e) && !rc) rc = cli_fail(1, "index", "%s", e.msg);
    sail_model_free(m);
    items_free(&it);
    free(a.all); free(a.mine); free(a.start); free(ids); free(pay);
    /* Skips alone do not fail a run that added something. */
    return rc ? rc : done && failed == done ? 1 : 0;
}

/* -------------------------------------------------------- the others -- */

static int sub_info(opts *o) {
    sail_index *ix = open_index(o, 0, 0);
    if (!ix) return 1;
    sail_index_info i;
    sail_index_get_info(ix, &i);
    if (o->json)
        printf("{\"dim\":%d,\"metric\":\"%s\",\"storage\":\"%s\",\"kind\":\"%s\",\"M\":%d,\"ef_construction\":%d,"
               "\"ef_search\":%d,\"seed\":%llu,\"count\":%zu,\"tombstones\":%zu,\"memory_bytes\":%zu,\"log_bytes\":%llu}\n",
               i.dim, sail_metric_name(i.metric), sail_storage_name(i.storage), sail_index_kind_name(i.kind), i.M,
               i.ef_construction, i.ef_search, (unsigned long long)i.seed, i.count, i.tombstones, i.memory_bytes,
               (unsigned long long)i.log_bytes);
    else
        printf("index      %s\nkind       %s\nmetric     %s\nstorage    %s\ndim        %d\nitems      %zu\n"
               "tombstones %zu\nmemory     %.1f MiB\nlog        %llu bytes\n", o->index, sail_index_kind_name(i.kind),
               sail_metric_name(i.metric), sail_storage_name(i.storage), i.dim, i.count, i.tombstones,
               i.memory_bytes / 1048576.0, (unsigned long long)i.log_bytes);
    if (i.kind == SAIL_INDEX_HNSW && !o->json)
        printf("hnsw       M=%d ef_construction=%d ef_search=%d seed=%llu\n", i.M, i.ef_construction, i.ef_search,
               (unsigned long long)i.seed);
    sail_index_close(ix, NULL);
    return 0;
}

static int finish(sail_index *ix, sail_status st, sail_error *e) {
    int rc = st ? cli_fail(1, "index", "%s", e->msg) : 0;
    if (sail_index_close(ix, e) && !rc) rc = cli_fail(1, "index", "%s", e->msg);
    return rc;
}

static int sub_compact(opts *o) {
    sail_index *ix = open_index(o, 0, 0);
    if (!ix) return 1;
    sail_error e = {0};
    sail_index_info a, b;
    sail_index_get_info(ix, &a);
    sail_status st = sail_index_compact(ix, &e);
    sail_index_get_info(ix, &b);
    if (!st) fprintf(stderr, "sail index: compacted: %zu items, %zu tombstones dropped\n", b.count, a.tombstones);
    return finish(ix, st, &e);
}

static int sub_delete(opts *o) {
    if (!o->n_rest) return cli_fail(2, "index", "delete needs ids");
    uint64_t *ids = malloc((size_t)o->n_rest * sizeof *ids);
    if (!ids) return cli_fail(1, "index", "out of memory");
    for (int i = 0; i < o->n_rest; i++) {
        char *end;
        ids[i] = strtoull(o->rest[i], &end, 10);
        if (*end || !isdigit((unsigned char)o->rest[i][0])) {
            free(ids);
            return cli_fail(2, "index", "'%s' is not an id (a non-negative integer)", o->rest[i]);
        }
    }
    sail_index *ix = open_index(o, 0, 0);
    if (!ix) { free(ids); return 1; }
    sail_error e = {0};
    int n = 0;
    sail_status st = sail_index_delete(ix, ids, o->n_rest, &n, &e);
    if (!st) fprintf(stderr, "sail index: deleted %d of %d ids\n", n, o->n_rest);
    free(ids);
    return finish(ix, st, &e);
}

static int sub_export(opts *o) {
    if (o->n_rest != 1) return cli_fail(2, "index", "export needs one output file (.npy, .fvecs or .faiss)");
    sail_index *ix = open_index(o, 0, 0);
    if (!ix) return 1;
    sail_error e = {0};
    return finish(ix, sail_index_export(ix, o->rest[0], &e), &e);
}

/* Dimension of an .fvecs or .npy file, to create an index for it. */
static int file_dim(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char h[1024] = {0};
    size_t n = fread(h, 1, sizeof h - 1, f);
    fclose(f);
    size_t len = strlen(path);
    if (len > 6 && !strcmp(path + len - 6, ".fvecs")) {
        int32_t d;
        if (n < 4) return -1;
        memcpy(&d, h, 4);
        return d;
    }
    const char *s = n > 10 ? strstr(h + 10, "'shape': (") : NULL;
    unsigned long long r, c;
    return s && sscanf(s + 10, "%llu, %llu)", &r, &c) == 2 && c <= 65536 ? (int)c : -1;
}

static int sub_import(opts *o) {
    if (o->n_rest != 1) return cli_fail(2, "index", "import needs one input file (.npy or .fvecs)");
    int dim = o->dim ? o->dim : file_dim(o->rest[0]);
    if (dim < 1) return cli_fail(1, "index", "%s: cannot read its vector dimension (.npy 2-D float or .fvecs)", o->rest[0]);
    sail_index *ix = open_index(o, 1, dim);
    if (!ix) return 1;
    uint64_t first = o->first_id;
    sail_error e = {0};
    if (!o->has_first_id) { /* after the largest id present */
        uint64_t *ids = NULL;
        size_t n = 0;
        if (sail_index_list_ids(ix, &ids, &n, &e)) return finish(ix, e.status, &e);
        for (size_t i = 0; i < n; i++) if (ids[i] + 1 > first) first = ids[i] + 1;
        sail_free(ids);
    }
    size_t added = 0;
    sail_status st = sail_index_import(ix, o->rest[0], first, &added, &e);
    if (!st) fprintf(stderr, "sail index: imported %zu vectors as ids %llu..%llu\n", added, (unsigned long long)first,
                     (unsigned long long)(first + added - (added > 0)));
    return finish(ix, st, &e);
}

static int sub_create(opts *o) {
    if (!o->dim) return cli_fail(2, "index", "create needs --dim D");
    sail_index *ix = open_index(o, 1, o->dim);
    if (!ix) return 1;
    sail_error e = {0};
    return finish(ix, SAIL_OK, &e);
}

/* add, over the ranks when mpirun started this process */
static int sub_add_ranks(opts *o) {
    sail_train_comm comm;
    int ranks = cli_dist_start(&comm);
    if (ranks < 0) return 1;
    int rc = sub_add(o, ranks > 1 ? &comm : NULL);
    cli_dist_end(ranks, rc);
    return rc;
}

int cmd_index(int argc, char **argv) {
    static const struct { const char *name; int (*fn)(opts *); } subs[] = {
        {"add", sub_add_ranks}, {"create", sub_create}, {"info", sub_info}, {"compact", sub_compact},
        {"delete", sub_delete}, {"export", sub_export}, {"import", sub_import},
    };
    const size_t n_subs = sizeof subs / sizeof *subs;
    if (argc >= 2 && !strcmp(argv[1], "semantic-ids")) return cmd_semantic_ids(argc - 1, argv + 1);
    size_t i = 0;
    while (argc >= 2 && i < n_subs && strcmp(argv[1], subs[i].name)) i++;
    if (argc >= 2 && i == n_subs && !cli_wants_help(argc, argv))
        return cli_fail(2, "index", "unknown subcommand '%s' (add, create, info, compact, delete, export, import)", argv[1]);
    opts o = {0};
    int rc = parse(&o, argc, argv);
    if (!rc) rc = subs[i].fn(&o);
    free(o.rest);
    return rc == CLI_HELP ? 0 : rc;
}
