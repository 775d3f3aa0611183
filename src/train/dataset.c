/* dataset.c: the JSONL manifest of training pairs and the per-epoch plans
 * (sequential, shuffled, hard negatives). */
#include "dataset.h"

#include "kernels/kernels.h"
#include "text/strmap.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_LINE = 1 << 20, MAX_ITEMS = 1 << 28 };

static void note_skip(sail_dataset *ds, int line, const char *fmt, const char *a) {
    if (ds->n_skipped < SAIL_DATASET_MAX_REPORTS) {
        ds->skipped_lines[ds->n_skipped] = line;
        snprintf(ds->skipped_why[ds->n_skipped], sizeof ds->skipped_why[0], fmt, a ? a : "");
    }
    ds->n_skipped++;
}

/* The manifest's folder with a trailing '/', or "" when it has none. */
static char *base_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + 1 : 0;
    char *d = sail_malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

static char *join_path(const char *dir, const char *rel) {
    if (rel[0] == '/') return sail_strdup(rel);
    size_t a = strlen(dir), b = strlen(rel);
    char *p = sail_malloc(a + b + 1);
    if (p) {
        memcpy(p, dir, a);
        memcpy(p + a, rel, b + 1);
    }
    return p;
}

static int readable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && access(path, R_OK) == 0;
}

typedef struct groups {
    sail_strmap map;
    char **keys;            /* owned copies, the map's keys */
    int n, cap;
} groups;

/* The id of a group name, interning it; -1 on out of memory. */
static int group_id(groups *g, sail_dataset *ds, const char *key) {
    size_t len = strlen(key);
    int32_t id = sail_strmap_get(&g->map, key, len);
    if (id >= 0) return id;
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        char **k = sail_realloc(g->keys, (size_t)cap * sizeof *k);
        if (!k) return -1;
        g->keys = k;
        g->cap = cap;
    }
    char *copy = sail_strdup(key);
    if (!copy) return -1;
    g->keys[g->n++] = copy;
    id = ds->n_groups++;
    if (!sail_strmap_put(&g->map, copy, len, id)) return -1;
    return id;
}

int sail_side_shape(const sail_side *s) {
    return (s->text ? SAIL_SIDE_TEXT : 0) | (s->image ? SAIL_SIDE_IMAGE : 0) | (s->video ? SAIL_SIDE_VIDEO : 0) |
           (s->audio ? SAIL_SIDE_AUDIO : 0);
}

int sail_pair_kind_of(int a, int b) {
    if (a == SAIL_SIDE_TEXT && b == SAIL_SIDE_IMAGE) return SAIL_PAIR_IMAGE;
    if (a == SAIL_SIDE_TEXT && b == SAIL_SIDE_TEXT) return SAIL_PAIR_TEXT;
    if (a == SAIL_SIDE_TEXT && b == (SAIL_SIDE_TEXT | SAIL_SIDE_IMAGE)) return SAIL_PAIR_JOINT;
    return a * 16 + b;
}

static void side_free(sail_side *s) {
    sail_free(s->text);
    sail_free(s->image);
    sail_free(s->video);
    sail_free(s->audio);
}

static void pair_free(sail_pair *p) {
    side_free(&p->a);
    side_free(&p->b);
}

/* The parts of one side, borrowed from the line's JSON. */
typedef struct side_json { json_t *text, *image, *video, *audio; } side_json;

/* Why a side's parts are unusable, or NULL. */
static const char *parts_reason(const side_json *sj) {
    if (!sj->text && !sj->image && !sj->video && !sj->audio)
        return "has none of \"text\", \"image\", \"video\" and \"audio\"";
    if (sj->image && sj->video) return "has both \"image\" and \"video\" (an item takes one of them)";
    if (sj->text && (!json_is_string(sj->text) || !json_string_length(sj->text))) return "has an empty or non-string text";
    if (sj->text && strlen(json_string_value(sj->text)) != json_string_length(sj->text)) return "has a text with a NUL character";
    if (sj->image && (!json_is_string(sj->image) || !json_string_length(sj->image))) return "has an \"image\" that is not a non-empty string";
    if (sj->video && (!json_is_string(sj->video) || !json_string_length(sj->video))) return "has a \"video\" that is not a non-empty string";
    if (sj->audio && (!json_is_string(sj->audio) || !json_string_length(sj->audio))) return "has an \"audio\" that is not a non-empty string";
    return NULL;
}

/* A side from a string (a text) or an object with "text", "image",
 * "video" and/or "audio"; why it is unusable, or NULL. */
static const char *side_parts(json_t *v, side_json *sj) {
    *sj = (side_json){0};
    if (json_is_string(v)) sj->text = v;
    else if (json_is_object(v))
        *sj = (side_json){json_object_get(v, "text"), json_object_get(v, "image"), json_object_get(v, "video"),
                          json_object_get(v, "audio")};
    else return "is not a text or an object with \"text\", \"image\", \"video\" or \"audio\"";
    return parts_reason(sj);
}

/* *dst = path resolved against dir. 0: ok; 1: the file is missing
 * (reported); -1: out of memory. */
static int side_file(sail_dataset *ds, int line, const char *dir, const char *what, json_t *path, char **dst) {
    if (!path) return 0;
    if (!(*dst = join_path(dir, json_string_value(path)))) return -1;
    if (readable_file(*dst)) return 0;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s '%%.100s' is missing or unreadable", what);
    note_skip(ds, line, fmt, *dst);
    return 1;
}

/* Copy a side's parts, paths resolved against dir. 0: ok; 1: a file is
 * missing (reported); -1: out of memory. */
static int side_copy(sail_dataset *ds, int line, const char *dir, const side_json *sj, sail_side *sd) {
    if (sj->text && !(sd->text = sail_strdup(json_string_value(sj->text)))) return -1;
    int r = side_file(ds, line, dir, "image", sj->image, &sd->image);
    if (!r) r = side_file(ds, line, dir, "video", sj->video, &sd->video);
    if (!r) r = side_file(ds, line, dir, "audio", sj->audio, &sd->audio);
    return r;
}

/* The two sides of a line, in its plain form ({"text", "image" | "text2" |
 * "video" | "audio"}) or its query/item form; why it is unusable, or NULL. */
static const char *line_sides(json_t *o, side_json *a, side_json *b, char *why, size_t cap) {
    json_t *q = json_object_get(o, "query"), *item = json_object_get(o, "item");
    json_t *t = json_object_get(o, "text"), *im = json_object_get(o, "image");
    json_t *t2 = json_object_get(o, "text2"), *vid = json_object_get(o, "video"), *au = json_object_get(o, "audio");
    const char *which = "query", *r;
    if (q || item) {
        if (t || im || t2 || vid || au)
            return "mixes \"query\"/\"item\" with \"text\"/\"image\"/\"text2\"/\"video\"/\"audio\"";
        if (!q || !item) return q ? "\"item\" is missing" : "\"query\" is missing";
        if (!(r = side_parts(q, a)) && (which = "item", !(r = side_parts(item, b)))) return NULL;
    } else {
        if (!json_is_string(t) || !json_string_length(t)) return "\"text\" is missing, empty or not a string";
        /* "audio" is the item only on its own: beside an image (sail data
           speech's manifests) it is an annotation, and the pair text -> image */
        if (im || t2 || vid) au = NULL;
        if (!!im + !!t2 + !!vid + !!au != 1) return "needs exactly one of \"image\", \"text2\", \"video\" and \"audio\"";
        *a = (side_json){.text = t};
        *b = (side_json){.text = t2, .image = im, .video = vid, .audio = au};
        if (!(r = parts_reason(a)) && (which = "item", !(r = parts_reason(b)))) return NULL;
    }
    snprintf(why, cap, "the %s %s", which, r);
    return why;
}

/* The group id of "group" (strings and integers in separate namespaces), or
 * a fresh one; -1 on out of memory. */
static int line_group(sail_dataset *ds, groups *g, json_t *gr) {
    if (!gr) return ds->n_groups++;
    const char *v = json_is_string(gr) ? json_string_value(gr) : NULL;
    size_t n = v ? strlen(v) : 0;
    char *key = sail_malloc(n + 32);
    if (!key) return -1;
    if (v) {
        memcpy(key, "s:", 2);
        memcpy(key + 2, v, n + 1);
    } else {
        snprintf(key, 32, "i:%lld", (long long)json_integer_value(gr));
    }
    int id = group_id(g, ds, key);
    sail_free(key);
    return id;
}

/* Parse one line into *p. 0: ok; 1: skipped (reported); -1: out of memory. */
static int parse_line(sail_dataset *ds, groups *g, const char *dir, const char *buf, int line,
                      sail_pair *p) {
    json_error_t je;
    json_t *o = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        note_skip(ds, line, "not a JSON object (%s)", o ? "" : je.text);
        json_decref(o);
        return 1;
    }
    json_t *gr = json_object_get(o, "group"), *lang = json_object_get(o, "lang");
    side_json a, b;
    char why[160];
    const char *bad = line_sides(o, &a, &b, why, sizeof why);
    int rc = 1;
    memset(p, 0, sizeof *p);
    if (bad) note_skip(ds, line, "%s", bad);
    else if (gr && !json_is_string(gr) && !json_is_integer(gr)) note_skip(ds, line, "\"group\" is not a string or integer%s", NULL);
    else if (lang && !json_is_string(lang)) note_skip(ds, line, "\"lang\" is not a string%s", NULL);
    else {
        p->line = line;
        if (lang) snprintf(p->lang, sizeof p->lang, "%s", json_string_value(lang));
        rc = side_copy(ds, line, dir, &a, &p->a);
        if (!rc) rc = side_copy(ds, line, dir, &b, &p->b);
        if (!rc && (p->group = line_group(ds, g, gr)) < 0) rc = -1;
        if (!rc) p->kind = sail_pair_kind_of(sail_side_shape(&p->a), sail_side_shape(&p->b));
    }
    if (rc) pair_free(p);
    json_decref(o);
    return rc;
}

sail_status sail_dataset_load(const char *path, sail_dataset *ds, sail_error *err) {
    memset(ds, 0, sizeof *ds);
    FILE *f = fopen(path, "rb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "cannot open manifest %s: %s", path, strerror(errno));
    groups g = {0};
    char *dir = base_dir(path), *buf = NULL;
    size_t cap = 0;
    int capn = 0, line = 0;
    sail_status s = SAIL_OK;
    if (!dir || !sail_strmap_init(&g.map, 1024)) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    ssize_t len;
    while (!s && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
        size_t sp = strspn(buf, " \t");
        if ((size_t)len == sp) continue;
        if (len > MAX_LINE || memchr(buf, 0, (size_t)len)) {
            note_skip(ds, line, "line is longer than 1 MiB or holds a NUL byte%s", NULL);
            continue;
        }
        if (ds->n == capn) {
            if (capn >= MAX_ITEMS) {
                s = sail_set_error(err, SAIL_ERR_LIMIT, "%s has more than %d pairs", path, MAX_ITEMS);
                break;
            }
            int nc = capn ? 2 * capn : 256;
            sail_pair *it = sail_realloc(ds->items, (size_t)nc * sizeof *it);
            if (!it) {
                s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            ds->items = it;
            capn = nc;
        }
        int rc = parse_line(ds, &g, dir, buf, line, &ds->items[ds->n]);
        if (rc < 0) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading %s", path);
        else if (rc == 0) ds->n_kind[ds->items[ds->n++].kind]++;
    }
    if (!s && ferror(f)) s = sail_set_error(err, SAIL_ERR_IO, "error reading %s", path);
    if (!s && ds->n == 0)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "%s holds no usable pair (%d line%s skipped%s%.0d%s%s)", path,
                           ds->n_skipped, ds->n_skipped == 1 ? "" : "s", ds->n_skipped ? "; line " : "",
                           ds->n_skipped ? ds->skipped_lines[0] : 0, ds->n_skipped ? ": " : "",
                           ds->n_skipped ? ds->skipped_why[0] : "");
    fclose(f);
    free(buf);
    sail_free(dir);
    for (int i = 0; i < g.n; i++) sail_free(g.keys[i]);
    sail_free(g.keys);
    sail_strmap_free(&g.map);
    if (s) sail_dataset_free(ds);
    return s;
}

void sail_dataset_free(sail_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) pair_free(&ds->items[i]);
    sail_free(ds->items);
    memset(ds, 0, sizeof *ds);
}

/* ------------------------------------------------------------- plans -- */

static sail_status plan_alloc(sail_plan *p, int n, sail_error *err) {
    sail_plan_free(p);
    p->order = sail_malloc((size_t)(n ? n : 1) * sizeof *p->order);
    p->bounds = sail_malloc((size_t)(n + 1) * sizeof *p->bounds);
    if (!p->order || !p->bounds) {
        sail_plan_free(p);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for an epoch of %d pairs", n);
    }
    p->bounds[0] = 0;
    return SAIL_OK;
}

void sail_plan_free(sail_plan *p) {
    if (!p) return;
    sail_free(p->order);
    sail_free(p->bounds);
    memset(p, 0, sizeof *p);
}

static void shuffle(int32_t *a, int n, sail_rng *rng) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(sail_rng_next(rng) % (uint64_t)(i + 1));
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Close the batch that ends at p->n (dropping it when it has < min pairs). */
static void close_batch(sail_plan *p, int min) {
    int start = p->bounds[p->n_batches];
    if (p->n - start >= min) p->bounds[++p->n_batches] = p->n;
    else p->n = start;
}

sail_status sail_plan_sequential(const sail_dataset *ds, int batch, sail_plan *p, sail_error *err) {
    sail_status s = plan_alloc(p, ds->n, err);
    if (s) return s;
    for (int kind = 0; kind < SAIL_PAIR_KINDS; kind++) {
        for (int i = 0; i < ds->n; i++) {
            if (ds->items[i].kind != kind) continue;
            p->order[p->n++] = i;
            if (p->n - p->bounds[p->n_batches] == batch) close_batch(p, 1);
        }
        close_batch(p, 1);
    }
    return SAIL_OK;
}

/* Shuffle the batch order of p (rebuilding order and bounds). */
static sail_status shuffle_batches(sail_plan *p, sail_rng *rng, sail_error *err) {
    sail_plan q = {0};
    int32_t *perm = sail_malloc((size_t)(p->n_batches ? p->n_batches : 1) * sizeof *perm);
    sail_status s = perm ? plan_alloc(&q, p->n, err) : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (s) {
        sail_free(perm);
        return s;
    }
    for (int b = 0; b < p->n_batches; b++) perm[b] = b;
    shuffle(perm, p->n_batches, rng);
    for (int b = 0; b < p->n_batches; b++) {
        for (int i = p->bounds[perm[b]]; i < p->bounds[perm[b] + 1]; i++) q.order[q.n++] = p->order[i];
        q.bounds[++q.n_batches] = q.n;
    }
    sail_free(perm);
    sail_plan_free(p);
    *p = q;
    return SAIL_OK;
}

/* The item indices of one kind, in file order, into idx; returns the count. */
static int kind_items(const sail_dataset *ds, int kind, int32_t *idx) {
    int m = 0;
    for (int i = 0; i < ds->n; i++)
        if (ds->items[i].kind == kind) idx[m++] = i;
    return m;
}

sail_status sail_plan_shuffle(const sail_dataset *ds, int batch, sail_rng *rng, sail_plan *p,
                              sail_error *err) {
    sail_status s = plan_alloc(p, ds->n, err);
    if (s) return s;
    for (int kind = 0; kind < SAIL_PAIR_KINDS; kind++) {
        int32_t *idx = p->order + p->n;
        int m = kind_items(ds, kind, idx);
        shuffle(idx, m, rng);
        for (int i = 0; i < m; i++) {
            p->n++;
            if (p->n - p->bounds[p->n_batches] == batch) close_batch(p, 2);
        }
        close_batch(p, 2);
    }
    return shuffle_batches(p, rng, err);
}

sail_status sail_plan_hard(const sail_dataset *ds, int batch, int k, const float *ea,
                           const float *eb, int dim, sail_rng *rng, sail_plan *p,
                           sail_error *err) {
    if (k < 1 || k >= batch)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "hard negatives %d must be in 1..batch size - 1 (%d)",
                              k, batch - 1);
    sail_status s = plan_alloc(p, ds->n, err);
    int32_t *idx = sail_malloc((size_t)ds->n * sizeof *idx), *best = sail_malloc((size_t)k * sizeof *best);
    uint8_t *placed = sail_calloc((size_t)ds->n, 1);
    float *bsim = sail_malloc((size_t)k * sizeof *bsim);
    if (!s && (!idx || !best || !placed || !bsim)) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    const sail_kernel_table *kt = sail_kernels();
    for (int kind = 0; kind < SAIL_PAIR_KINDS && !s; kind++) {
        int m = kind_items(ds, kind, idx);
        int32_t *seeds = sail_malloc((size_t)(m ? m : 1) * sizeof *seeds);
        if (!seeds) {
            s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(seeds, idx, (size_t)m * sizeof *seeds);
        shuffle(seeds, m, rng);
        for (int si = 0; si < m; si++) {
            int a = seeds[si];
            if (placed[a]) continue;
            placed[a] = 1;
            p->order[p->n++] = a;
            int room = batch - (p->n - p->bounds[p->n_batches]);
            int want = SAIL_MIN(k, room), nb = 0;
            /* the `want` most similar unplaced pairs of another group; ties
               go to the earlier pair in file order */
            for (int j = 0; j < m && want > 0; j++) {
                int c = idx[j];
                if (placed[c] || ds->items[c].group == ds->items[a].group) continue;
                float sim = kt->dot(ea + (size_t)a * dim, eb + (size_t)c * dim, dim);
                if (nb == want && !(sim > bsim[nb - 1])) continue;
                int pos = nb < want ? nb++ : nb - 1;
                while (pos > 0 && sim > bsim[pos - 1]) {
                    bsim[pos] = bsim[pos - 1];
                    best[pos] = best[pos - 1];
                    pos--;
                }
                bsim[pos] = sim;
                best[pos] = c;
            }
            for (int j = 0; j < nb; j++) {
                placed[best[j]] = 1;
                p->order[p->n++] = best[j];
            }
            if (p->n - p->bounds[p->n_batches] == batch) close_batch(p, 2);
        }
        close_batch(p, 2);
        sail_free(seeds);
    }
    sail_free(idx);
    sail_free(best);
    sail_free(bsim);
    sail_free(placed);
    if (!s) s = shuffle_batches(p, rng, err);
    else sail_plan_free(p);
    return s;
}

sail_status sail_plan_set(const sail_dataset *ds, const int32_t *order, int n,
                          const int32_t *bounds, int n_batches, sail_plan *p, sail_error *err) {
    if (n < 0 || n > ds->n || n_batches < 0 || n_batches > n)
        return sail_set_error(err, SAIL_ERR_FORMAT, "the saved epoch has %d pairs in %d batches; the "
                              "training data has %d pairs (was the data changed?)", n, n_batches, ds->n);
    if (bounds[0] != 0 || bounds[n_batches] != n)
        return sail_set_error(err, SAIL_ERR_FORMAT, "the saved epoch's batch bounds are inconsistent");
    for (int b = 0; b < n_batches; b++)
        if (bounds[b + 1] <= bounds[b])
            return sail_set_error(err, SAIL_ERR_FORMAT, "the saved epoch's batch bounds are inconsistent");
    for (int i = 0; i < n; i++)
        if (order[i] < 0 || order[i] >= ds->n)
            return sail_set_error(err, SAIL_ERR_FORMAT, "the saved epoch names pair %d; the training data "
                                  "has %d (was the data changed?)", order[i], ds->n);
    sail_plan q = {0};
    sail_status s = plan_alloc(&q, n, err);
    if (s) return s;
    memcpy(q.order, order, (size_t)n * sizeof *order);
    memcpy(q.bounds, bounds, (size_t)(n_batches + 1) * sizeof *bounds);
    q.n = n;
    q.n_batches = n_batches;
    sail_plan_free(p);
    *p = q;
    return SAIL_OK;
}
