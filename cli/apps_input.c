/* apps_input.c: input and output helpers shared by the app commands. */
#include "apps_input.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE (1 << 20)

static char *dup_str(const char *s) {
    size_t l = strlen(s);
    char *d = malloc(l + 1);
    if (d) memcpy(d, s, l + 1);
    return d;
}

/* path relative to the folder of base, unless path is absolute. */
static char *resolve(const char *base, const char *path) {
    const char *slash = strrchr(base, '/');
    if (path[0] == '/' || !slash) return dup_str(path);
    size_t bl = (size_t)(slash - base) + 1, pl = strlen(path);
    char *r = malloc(bl + pl + 1);
    if (!r) return NULL;
    memcpy(r, base, bl);
    memcpy(r + bl, path, pl + 1);
    return r;
}

void app_free_items(app_item *items, int n) {
    for (int i = 0; items && i < n; i++) {
        free(items[i].text);
        free(items[i].image);
        free(items[i].audio);
        free(items[i].label);
        free(items[i].id);
    }
    free(items);
}

int app_read_jsonl(const char *cmd, const char *path, int need_label, app_item **items_out, int *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(1, cmd, "cannot open %s: %s", path, strerror(errno));
    app_item *items = NULL;
    int n = 0, cap = 0, rc = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while (!rc && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (len > MAX_LINE) { rc = cli_fail(1, cmd, "%s:%d: line longer than %d bytes", path, lineno, MAX_LINE); break; }
        size_t k = 0;
        while (k < (size_t)len && strchr(" \t\r\n", line[k])) k++;
        if (k == (size_t)len) continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        if (!o || !json_is_object(o)) {
            rc = cli_fail(1, cmd, "%s:%d: not a JSON object%s%s", path, lineno, o ? "" : ": ", o ? "" : je.text);
            json_decref(o);
            break;
        }
        json_t *t = json_object_get(o, "text"), *im = json_object_get(o, "image"), *au = json_object_get(o, "audio");
        json_t *lb = json_object_get(o, "label"), *id = json_object_get(o, "id");
        if ((t && !json_is_string(t)) || (im && !json_is_string(im)) || (au && !json_is_string(au)) ||
            (!t && !im && !au)) {
            rc = cli_fail(1, cmd, "%s:%d: needs a string \"text\", \"image\" and/or \"audio\"", path, lineno);
        } else if (need_label && !(json_is_string(lb) || json_is_integer(lb))) {
            rc = cli_fail(1, cmd, "%s:%d: needs a \"label\" (string or integer)", path, lineno);
        } else if (n == cap) {
            int nc = cap ? cap * 2 : 64;
            app_item *g = nc > 0 ? realloc(items, sizeof *items * (size_t)nc) : NULL;
            if (!g) rc = cli_fail(1, cmd, "out of memory");
            else { items = g; cap = nc; }
        }
        if (!rc) {
            app_item *it = &items[n];
            memset(it, 0, sizeof *it);
            char num[32];
            it->text = t ? dup_str(json_string_value(t)) : NULL;
            it->image = im ? resolve(path, json_string_value(im)) : NULL;
            it->audio = au ? resolve(path, json_string_value(au)) : NULL;
            if (json_is_string(lb)) it->label = dup_str(json_string_value(lb));
            else if (json_is_integer(lb)) {
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(lb));
                it->label = dup_str(num);
            }
            if (json_is_string(id)) it->id = dup_str(json_string_value(id));
            else if (json_is_integer(id)) {
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(id));
                it->id = dup_str(num);
            }
            n++;
            if ((t && !it->text) || (im && !it->image) || (au && !it->audio) || (lb && !it->label) || (id && !it->id))
                rc = cli_fail(1, cmd, "out of memory");
        }
        json_decref(o);
    }
    free(line);
    if (!rc && ferror(f)) rc = cli_fail(1, cmd, "read error on %s", path);
    fclose(f);
    if (!rc && !n) rc = cli_fail(1, cmd, "%s has no items", path);
    if (rc) { app_free_items(items, n); return rc; }
    *items_out = items;
    *n_out = n;
    return 0;
}

void app_free_lines(char **lines, int n) {
    for (int i = 0; lines && i < n; i++) free(lines[i]);
    free(lines);
}

int app_read_lines(const char *cmd, const char *path, char ***out, int *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(1, cmd, "cannot open %s: %s", path, strerror(errno));
    char **lines = NULL, *line = NULL;
    int n = 0, cap = 0, rc = 0;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (len > MAX_LINE) { rc = cli_fail(1, cmd, "%s: a line is longer than %d bytes", path, MAX_LINE); break; }
        if (n == cap) {
            int nc = cap ? cap * 2 : 64;
            char **g = realloc(lines, sizeof *lines * (size_t)nc);
            if (!g) { rc = cli_fail(1, cmd, "out of memory"); break; }
            lines = g;
            cap = nc;
        }
        if (!(lines[n++] = dup_str(line))) { rc = cli_fail(1, cmd, "out of memory"); break; }
    }
    free(line);
    fclose(f);
    if (!rc && !n) rc = cli_fail(1, cmd, "%s has no lines", path);
    if (rc) { app_free_lines(lines, n); return rc; }
    *out = lines;
    *n_out = n;
    return 0;
}

#define BATCH 32

/* 0 text, 1 image, 2 text + image, 3 clip, 4 a clip with a text or image */
static int item_kind(const app_item *it) {
    if (it->audio) return it->text || it->image ? 4 : 3;
    return it->text && it->image ? 2 : it->image ? 1 : 0;
}

/* k items of one kind into tmp (k x dim). */
static sail_status embed_kind(sail_model *m, int kind, const app_item *const *its, int k, int dim, float *tmp,
                              sail_error *err) {
    const char *texts[BATCH], *images[BATCH], *clips[BATCH];
    for (int j = 0; j < k; j++) texts[j] = its[j]->text, images[j] = its[j]->image, clips[j] = its[j]->audio;
    sail_status s = SAIL_OK;
    switch (kind) {
    case 4:
        for (int j = 0; j < k && !s; j++) {
            sail_item it = {.text = texts[j], .image = images[j], .audio = clips[j]};
            s = sail_embed_item(m, &it, dim, tmp + (size_t)j * dim, err);
        }
        return s;
    case 3: return sail_embed_audio_files(m, clips, k, dim, tmp, err);
    case 2: return sail_embed_pairs(m, texts, images, k, dim, tmp, err);
    case 1: return sail_embed_image_files(m, images, k, dim, tmp, err);
    default: return sail_embed_texts(m, texts, k, dim, tmp, err);
    }
}

int app_embed_items(const char *cmd, sail_model *m, const app_item *items, int n, int dim, float *out) {
    const app_item *its[BATCH];
    int at[BATCH];
    sail_error err = {0};
    int progress = n > 4 * BATCH, done = 0;
    /* One pass per kind keeps each batched call homogeneous. */
    for (int kind = 0; kind < 5; kind++) {
        int k = 0;
        for (int i = 0; i <= n; i++) {
            if (i < n) {
                if (item_kind(&items[i]) != kind) continue;
                at[k] = i;
                its[k++] = &items[i];
                if (k < BATCH) continue;
            }
            if (!k) continue;
            float *tmp = malloc(sizeof *tmp * (size_t)k * dim);
            if (!tmp) return cli_fail(1, cmd, "out of memory");
            sail_status s = embed_kind(m, kind, its, k, dim, tmp, &err);
            if (s) { free(tmp); return cli_fail(1, cmd, "%s", err.msg); }
            for (int j = 0; j < k; j++) memcpy(out + (size_t)at[j] * dim, tmp + (size_t)j * dim, sizeof *tmp * dim);
            free(tmp);
            done += k;
            if (progress) fprintf(stderr, "\rsail %s: embedded %d of %d items", cmd, done, n);
            k = 0;
        }
    }
    if (progress) fputc('\n', stderr);
    return 0;
}

sail_model *app_load_model(const char *cmd, const char *path, int threads) {
    sail_error err = {0};
    sail_load_options lo = {.n_threads = threads};
    sail_model *m = sail_model_load(path, &lo, &err);
    if (!m) cli_fail(1, cmd, "%s", err.msg);
    return m;
}

int app_write_json(const char *cmd, json_t *root, const char *path) {
    if (!root) return cli_fail(1, cmd, "out of memory");
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) {
        json_decref(root);
        return cli_fail(1, cmd, "cannot write %s: %s", path, strerror(errno));
    }
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(7));
    fputc('\n', f);
    json_decref(root);
    if (ferror(f)) rc = -1;
    if (path && fclose(f)) rc = -1;
    return rc ? cli_fail(1, cmd, "write error on %s", path ? path : "stdout") : 0;
}

int app_parse_float(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}
