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

static void pair_free(sail_pair *p) {
    sail_free(p->text);
    sail_free(p->image);
    sail_free(p->text2);
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
    json_t *t = json_object_get(o, "text"), *im = json_object_get(o, "image");
    json_t *t2 = json_object_get(o, "text2"), *gr = json_object_get(o, "group");
    json_t *lang = json_object_get(o, "lang"), *q = json_object_get(o, "query"), *item = json_object_get(o, "item");
    int rc = 1, query_form = q || item;
    memset(p, 0, sizeof *p);
    if (query_form) { /* {"query": T, "item": {"text": T2, "image": P}} */
        t = q;
        im = json_is_object(item) ? json_object_get(item, "image") : NULL;
        t2 = json_is_object(item) ? json_object_get(item, "text") : NULL;
    }
    if (query_form && (json_object_get(o, "text") || json_object_get(o, "image") || json_object_get(o, "text2")))
        note_skip(ds, line, "mixes \"query\"/\"item\" with \"text\"/\"image\"/\"text2\"%s", NULL);
    else if (query_form && (!json_is_object(item) || (!im && !t2)))
        note_skip(ds, line, "\"item\" must be an object with \"text\", \"image\" or both%s", NULL);
    else if (!json_is_string(t) || !json_string_length(t))
        note_skip(ds, line, query_form ? "\"query\" is missing, empty or not a string%s"
                                       : "\"text\" is missing, empty or not a string%s", NULL);
    else if (!query_form && !!im == !!t2) note_skip(ds, line, "needs exactly one of \"image\" and \"text2\"%s", NULL);
    else if (im && (!json_is_string(im) || !json_string_length(im))) note_skip(ds, line, "\"image\" is not a non-empty string%s", NULL);
    else if (t2 && (!json_is_string(t2) || !json_string_length(t2))) note_skip(ds, line, "\"text2\" is not a non-empty string%s", NULL);
    else if (gr && !json_is_string(gr) && !json_is_integer(gr)) note_skip(ds, line, "\"group\" is not a string or integer%s", NULL);
    else if (lang && !json_is_string(lang)) note_skip(ds, line, "\"lang\" is not a string%s", NULL);
    else if (strlen(json_string_value(t)) != json_string_length(t) ||
             (t2 && strlen(json_string_value(t2)) != json_string_length(t2)))
        note_skip(ds, line, "a text contains a NUL character%s", NULL);
    else {
        rc = -1;
        p->line = line;
        p->kind = im && t2 ? SAIL_PAIR_JOINT : im ? SAIL_PAIR_IMAGE : SAIL_PAIR_TEXT;
        if (lang) snprintf(p->lang, sizeof p->lang, "%s", json_string_value(lang));
        if (!(p->text = sail_strdup(json_string_value(t)))) goto out;
        if (t2 && !(p->text2 = sail_strdup(json_string_value(t2)))) goto out;
        if (im && !(p->image = join_path(dir, json_string_value(im)))) goto out;
        if (im && !readable_file(p->image)) {
            note_skip(ds, line, "image '%.100s' is missing or unreadable", p->image);
            rc = 1;
            goto out;
        }
        if (gr) {
            /* string and integer groups live in separate namespaces */
            const char *v = json_is_string(gr) ? json_string_value(gr) : NULL;
            size_t n = v ? strlen(v) : 0;
            char *key = sail_malloc(n + 32);
            if (!key) goto out;
            if (v) {
                memcpy(key, "s:", 2);
                memcpy(key + 2, v, n + 1);
            } else {
                snprintf(key, 32, "i:%lld", (long long)json_integer_value(gr));
            }
            p->group = group_id(g, ds, key);
            sail_free(key);
            if (p->group < 0) goto out;
        } else {
            p->group = ds->n_groups++;
        }
        rc = 0;
    }
out:
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
