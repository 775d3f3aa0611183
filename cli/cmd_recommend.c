/* cmd_recommend.c: `sail recommend` ranks the unseen items of an index for
 * a user: the interest vector is the time-decayed, weighted sum of the
 * vectors of the items the user liked; the index's search API ranks the
 * rest and the history's items are left out. */
#include "apps_input.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail recommend --index I --history FILE [-k 10] [--decay D] [--now T]\n"
    "                      [--model M] [-o out.json]\n\n"
    "Ranks the index's items the user has not seen by similarity to the user's\n"
    "interest vector: sum of w * exp(-D * age_days) * vector over the history,\n"
    "L2-normalised.\n\n";

typedef struct entry {
    uint64_t id;
    int is_id;         /* else text/image via the model */
    char *text, *image;
    double w, t;       /* weight; timestamp or NAN */
} entry;

/* WEIGHT [TIMESTAMP] from p (whitespace-separated, nothing after them)
 * into x; 0, or a reported error. */
static int parse_fields(char *p, entry *x, const char *path, int line) {
    for (int f = 0; f < 2; f++) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return 0;
        char *q = p;
        while (*q && *q != ' ' && *q != '\t') q++;
        char save = *q;
        *q = 0;
        double v;
        if (app_parse_float(p, f ? 0 : -1e9, f ? 1e13 : 1e9, &v))
            return cli_fail(1, "recommend", "%s:%d: '%s' is not a %s", path, line, p, f ? "Unix timestamp" : "weight");
        *(f ? &x->t : &x->w) = v;
        *q = save;
        p = q;
    }
    while (*p == ' ' || *p == '\t') p++;
    return *p ? cli_fail(1, "recommend", "%s:%d: unexpected '%s' after ITEM WEIGHT TIMESTAMP", path, line, p) : 0;
}

static int is_number(const char *a, const char *b) {
    char *end;
    double v = strtod(a, &end);
    return end == b && b > a && isfinite(v);
}

/* The value of a text:/image: item (after its prefix) into *value, and its
 * WEIGHT [TIMESTAMP]. "a quoted string" (JSON) runs to its closing quote;
 * unquoted, the value is the line up to the last one or two words that
 * are numbers (its first word always belongs to it). */
static int parse_value(char *s, char **value, entry *x, const char *path, int line) {
    char *rest;
    if (*s == '"') {
        json_error_t je;
        json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
        if (!json_is_string(j)) {
            json_decref(j);
            return cli_fail(1, "recommend", "%s:%d: a quoted item must be one JSON string (%s)", path, line, je.text);
        }
        *value = strdup(json_string_value(j));
        json_decref(j);
        rest = s + je.position;
    } else {
        char *cut = s + strlen(s);
        for (int f = 0; f < 2; f++) {
            char *b = cut, *a;
            while (b > s && (b[-1] == ' ' || b[-1] == '\t')) b--;
            for (a = b; a > s && a[-1] != ' ' && a[-1] != '\t'; a--) {}
            if (a == s || !is_number(a, b)) break;
            cut = a;
        }
        rest = cut;
        while (cut > s && (cut[-1] == ' ' || cut[-1] == '\t')) cut--;
        *value = strndup(s, (size_t)(cut - s));
    }
    if (!*value) return cli_fail(1, "recommend", "out of memory");
    if (!**value) return cli_fail(1, "recommend", "%s:%d: an empty text: or image: item", path, line);
    return parse_fields(rest, x, path, line);
}

static int parse_history(const char *path, entry **out, int *n_out, int have_model) {
    char **raw;
    int nr, rc = app_read_lines("recommend", path, &raw, &nr), n = 0;
    if (rc) return rc;
    entry *e = calloc(nr > 0 ? (size_t)nr : 1, sizeof *e);
    if (!e) rc = cli_fail(1, "recommend", "out of memory");
    for (int i = 0; !rc && i < nr; i++) {
        char *s = raw[i];
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        entry *x = &e[n];
        x->w = 1;
        x->t = NAN;
        if (!strncmp(s, "text:", 5) || !strncmp(s, "image:", 6)) {
            if (!have_model) { rc = cli_fail(2, "recommend", "%s:%d: text:/image: entries need --model", path, i + 1); break; }
            int is_text = s[0] == 't';
            rc = parse_value(s + (is_text ? 5 : 6), is_text ? &x->text : &x->image, x, path, i + 1);
            n++; /* freed with the others on error */
            continue;
        }
        char *end;
        errno = 0;
        unsigned long long id = strtoull(s, &end, 10);
        if (errno || end == s || (*end && *end != ' ' && *end != '\t') || *s == '-') {
            rc = cli_fail(1, "recommend", "%s:%d: '%s' does not start with an item id", path, i + 1, s);
            break;
        }
        x->id = id;
        x->is_id = 1;
        rc = parse_fields(end, x, path, i + 1);
        n++;
    }
    app_free_lines(raw, nr);
    if (!rc && !n) rc = cli_fail(1, "recommend", "%s has no items", path);
    if (rc) {
        for (int i = 0; e && i < n; i++) { free(e[i].text); free(e[i].image); }
        free(e);
        return rc;
    }
    *out = e;
    *n_out = n;
    return 0;
}

static json_t *id_json(uint64_t id) {
    char b[32];
    if (id <= (uint64_t)INT64_MAX) return json_integer((json_int_t)id);
    snprintf(b, sizeof b, "%llu", (unsigned long long)id);
    return json_string(b);
}

int cmd_recommend(int argc, char **argv) {
    const char *index = NULL, *history = NULL, *model = NULL, *out = NULL;
    double decay = 0, now = NAN;
    int k = 10;
    const cli_opt table[] = {
        CLI_OPT_STR("--index", &index, "I", "the index directory"),
        CLI_OPT_STR("--history", &history, "FILE",
                    "one liked item per line: ITEM [WEIGHT [TIMESTAMP]]\n"
                    "ITEM is an index id; with --model also text:... or image:PATH,\n"
                    "which end before a last one or two numbers (text:\"...\" quotes\n"
                    "a text that itself ends in a number); WEIGHT defaults to 1;\n"
                    "TIMESTAMP is Unix seconds ('#' comments)"),
        CLI_OPT_FLOAT("--decay", &decay, 0, 1e6, "D", "exponential decay rate per day (half-life ln2/D days; default 0)"),
        CLI_OPT_FLOAT("--now", &now, 0, 1e13, "T", "reference time in Unix seconds (default: the newest timestamp)"),
        CLI_OPT_INT("-k|--k", &k, 1, 100000, "N", "items to return (default 10)"),
        CLI_OPT_STR("--model", &model, "M", "embeds text:/image: history entries (at the index's dimension)"),
        CLI_OPT_STR("-o|--output", &out, "FILE", "output JSON (default stdout)"),
        CLI_OPT_END,
    };
    int status = cli_start("recommend", usage, table, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (!index || !history) return cli_fail(2, "recommend", "--index and --history are required");
    entry *e = NULL;
    int ne = 0, rc = parse_history(history, &e, &ne, model != NULL);
    if (rc) return rc;
    sail_error err = {0};
    sail_index *ix = sail_index_open(index, NULL, &err);
    sail_model *m = NULL;
    float *vec = NULL, *u = NULL;
    sail_index_results *res = NULL;
    if (!ix) rc = cli_fail(1, "recommend", "%s", err.msg);
    sail_index_info info = {0};
    if (!rc) sail_index_get_info(ix, &info);
    int d = info.dim;
    if (!rc) {
        vec = malloc(sizeof *vec * (size_t)ne * d);
        u = calloc((size_t)d, sizeof *u);
        if (!vec || !u) rc = cli_fail(1, "recommend", "out of memory");
    }
    if (!rc && model) {
        if (!(m = app_load_model("recommend", model, 0))) rc = 1;
        else if (sail_model_dim(m) < d)
            rc = cli_fail(1, "recommend", "the index holds %d-dimensional vectors; %s gives %d", d, model, sail_model_dim(m));
    }
    /* Time decay is relative to --now or the newest timestamp. */
    double ref = now;
    for (int i = 0; !rc && isnan(now) && i < ne; i++)
        if (!isnan(e[i].t) && (isnan(ref) || e[i].t > ref)) ref = e[i].t;
    int used = 0;
    for (int i = 0; !rc && i < ne; i++) {
        float *v = vec + (size_t)i * d;
        if (e[i].is_id) {
            if (sail_index_get(ix, e[i].id, v, NULL, &err)) {
                fprintf(stderr, "sail recommend: history item %llu is not in the index; skipped\n", (unsigned long long)e[i].id);
                continue;
            }
        } else {
            app_item it = {.text = e[i].text, .image = e[i].image};
            if ((rc = app_embed_items("recommend", m, &it, 1, d, v))) break;
        }
        double age = isnan(e[i].t) || isnan(ref) ? 0 : (ref - e[i].t) / 86400.0;
        double w = e[i].w * exp(-decay * (age > 0 ? age : 0));
        for (int j = 0; j < d; j++) u[j] += (float)(w * v[j]);
        used++;
    }
    if (!rc && !used) rc = cli_fail(1, "recommend", "no history item is in the index");
    if (!rc) {
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)u[j] * u[j];
        if (!(nn > 0)) rc = cli_fail(1, "recommend", "the weighted history sums to a zero vector (check the weights)");
        for (int j = 0; !rc && j < d; j++) u[j] = (float)(u[j] / sqrt(nn));
    }
    int want = k + ne;
    if (!rc && sail_index_search(ix, u, 1, want, NULL, &res, &err)) rc = cli_fail(1, "recommend", "%s", err.msg);
    if (!rc) {
        json_t *root = json_object(), *arr = json_array();
        int got = 0;
        for (int h = 0; h < res->counts[0] && got < k; h++) {
            const sail_index_hit *hit = &res->hits[h];
            int seen = 0;
            for (int i = 0; i < ne && !seen; i++) seen = e[i].is_id && e[i].id == hit->id;
            if (seen) continue;
            json_t *o = json_object();
            json_object_set_new(o, "rank", json_integer(++got));
            json_object_set_new(o, "id", id_json(hit->id));
            json_object_set_new(o, "score", json_real(hit->score));
            json_t *pl = hit->payload ? json_loads(hit->payload, 0, NULL) : NULL;
            if (pl) json_object_set_new(o, "payload", pl);
            json_array_append_new(arr, o);
        }
        json_object_set_new(root, "history_items", json_integer(used));
        json_object_set_new(root, "decay_per_day", json_real(decay));
        json_object_set_new(root, "metric", json_string(sail_metric_name(info.metric)));
        json_object_set_new(root, "recommendations", arr);
        rc = app_write_json("recommend", root, out);
    }
    sail_index_results_free(res);
    if (ix && sail_index_close(ix, &err) && !rc) rc = cli_fail(1, "recommend", "%s", err.msg);
    sail_model_free(m);
    for (int i = 0; i < ne; i++) { free(e[i].text); free(e[i].image); }
    free(e); free(vec); free(u);
    return rc;
}
