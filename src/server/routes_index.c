/* routes_index.c: the endpoints over the vector index (--index DIR, or
 * redis://HOST:PORT/NAME through the same sail_index calls).
 *
 *   POST /v1/search   {"query": input | "text": T, "image": data URL,
 *                      "k": 10, "filter": {"field": value, ...}}
 *                     -> {"object": "list", "data": [{"object": "search_result",
 *                         "id", "id_str", "score", "payload", "image_url"?}], "model", "usage"}
 *   POST /v1/items    {"items": [{"id"?, "text"?, "image"?, "payload"?}]}
 *                     -> the ids; durable (fsync-ed) before the response
 *   DELETE /v1/items/{id}       -> {"id", "id_str", "object": "item", "deleted": true}
 *   GET /v1/items/{id}/image    the image file named by the item's payload
 *
 * A search query is "query" (an OpenAI input item: a string or content
 * parts) or "text" and/or "image" (a data URL); an item is the latter. Images added over HTTP are stored as
 * DIR/images/<id>.<ext> and the payload's "source" names that file; clients
 * cannot set "source" themselves, so GET .../image only ever serves files
 * that were indexed (by this server or by `sail index`), and only when they
 * start like an image.
 *
 * Ids are 0..2^63-1. Every id in a response is a JSON number and, as
 * "id_str", its decimal string: JavaScript's numbers are exact only below
 * 2^53 (the hashes `sail index add` gives are not). Requests may give an
 * id either way.
 *
 * Over an index directory, which one process at a time opens, the server
 * numbers items without an "id" after the largest id at start. A redis://
 * index may be shared by several servers (and other writers): though it
 * lists its ids (sail_index_list_ids), numbering from what was there at
 * start would hand out ids another writer uses and replace its items, so
 * there every item needs its "id"; its images are embedded but not stored
 * (GET .../image is a 501), and Redis unreachable is a 503. */
#include "common.h"
#include "index/fileio.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_K = 1000, MAX_SERVED_IMAGE = 64 << 20 };
#define JS_SAFE_ID (UINT64_C(1) << 53)

/* The id's decimal string, for "id_str". */
static json_t *id_string(uint64_t id) {
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, id);
    return json_string(s);
}

/* An id given as a non-negative JSON integer or a string of decimal digits
 * up to 2^63-1; -1 otherwise. */
static int id_value(const json_t *v, uint64_t *id) {
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return -1;
        *id = (uint64_t)json_integer_value(v);
        return 0;
    }
    const char *p = json_string_value(v);
    if (!p || !*p || json_string_length(v) > 19) return -1;
    uint64_t x = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (x > INT64_MAX) return -1;
    *id = x;
    return 0;
}

/* --------------------------------------------------------- open / close -- */

sail_status srv_index_open(srv_server *s, sail_error *err) {
    if (!s->cfg.index_path) return SAIL_OK;
    srv_model *m = s->ix_model;
    sail_index_options o = {.dim = m->dim, .metric = SAIL_METRIC_COSINE, .storage = SAIL_STORAGE_F32,
                            .kind = s->cfg.index_hnsw ? SAIL_INDEX_HNSW : SAIL_INDEX_EXACT,
                            .n_threads = s->cfg.threads, .create = 1, .seed = 1};
    s->index = sail_index_open(s->cfg.index_path, &o, err);
    if (!s->index) return err ? err->status : SAIL_ERR_IO;
    sail_index_info info;
    sail_index_get_info(s->index, &info);
    if (info.dim > m->dim) {
        sail_index_close(s->index, NULL);
        s->index = NULL;
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "--index %s holds %d-d vectors but model %s (%s) makes %d-d ones; serve the model "
                              "the index was built with and name it with --index-model", s->cfg.index_path,
                              info.dim, m->name, m->path, m->dim);
    }
    s->index_dim = info.dim;
    s->index_remote = info.remote;
    if (info.remote) return SAIL_OK; /* items bring their ids (above) */
    uint64_t *ids = NULL;
    size_t n = 0;
    if (sail_index_list_ids(s->index, &ids, &n, err)) {
        sail_index_close(s->index, NULL);
        s->index = NULL;
        return err ? err->status : SAIL_ERR_NOMEM;
    }
    /* Ids the server assigns continue after the largest below 2^53, so they
     * stay exact in JavaScript; `sail index add` hashes give larger ones. */
    for (size_t i = 0; i < n; i++)
        if (ids[i] < JS_SAFE_ID && ids[i] >= s->next_id) s->next_id = ids[i] + 1;
    sail_free(ids);
    snprintf(s->image_dir, sizeof s->image_dir, "%s/images", s->cfg.index_path);
    return SAIL_OK;
}

sail_status srv_index_close(srv_server *s, sail_error *err) {
    sail_status st = SAIL_OK;
    if (s->index) st = sail_index_close(s->index, err);
    s->index = NULL;
    return st;
}

int64_t srv_index_items(srv_server *s) {
    if (!s->index) return -1;
    sail_index_info info;
    sail_index_get_info(s->index, &info);
    return (int64_t)info.count;
}

/* The HTTP status of a failed index call: the request's fault, the
 * remote index's Redis unreachable (retry), or ours. */
static int index_http_status(sail_status st) {
    return st == SAIL_ERR_INVALID_ARG || st == SAIL_ERR_LIMIT ? 400 : st == SAIL_ERR_UNAVAILABLE ? 503 : 500;
}

static enum MHD_Result no_index(srv_request *r) {
    return srv_send_error(r, 404, NULL, "no_index",
                          "This server has no index; start it with --index DIR to search and add items.");
}

/* Prepares input i from an object with "input", or "text" and/or "image". */
static int object_input(srv_request *r, srv_inputs *in, int i, json_t *o, const char *param,
                        enum MHD_Result *ret) {
    json_t *item = json_object_get(o, "input"), *t = json_object_get(o, "text"), *im = json_object_get(o, "image");
    if (item) return srv_input_item(r, in, i, item, param, ret);
    if ((t && !json_is_string(t)) || (im && !json_is_string(im)) || (!t && !im)) {
        *ret = srv_send_error(r, 400, param, "invalid_type",
                              "%s needs \"text\" (a string) and/or \"image\" (a data URL string), or \"input\".",
                              param);
        return -1;
    }
    return srv_input_set(r, in, i, t ? json_string_value(t) : NULL, t ? json_string_length(t) : 0,
                         im ? json_string_value(im) : NULL, param, ret);
}

/* ---------------------------------------------------------------- search -- */

typedef struct search_state {
    int k, exact, ef;
    char *filter;               /* "field=value,..." for sail_index_search */
} search_state;

static void free_search(void *p) {
    search_state *st = p;
    sail_free(st->filter);
    sail_free(st);
}

/* {"a": "x", "n": 3} -> "a=x,n=3" (sail_index's filter syntax). */
static char *filter_string(srv_request *r, json_t *f, enum MHD_Result *ret) {
    size_t cap = 1, at = 0;
    const char *key;
    json_t *v;
    json_object_foreach(f, key, v) cap += strlen(key) + 2 + (json_is_string(v) ? json_string_length(v) : 32);
    char *out = sail_calloc(cap, 1);
    if (!out) {
        *ret = srv_send_error(r, 503, NULL, NULL, "out of memory");
        return NULL;
    }
    json_object_foreach(f, key, v) {
        char num[32];
        const char *val = NULL;
        if (json_is_string(v)) val = json_string_value(v);
        else if (json_is_true(v)) val = "true";
        else if (json_is_false(v)) val = "false";
        else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            val = num;
        }
        if (!val || !*key || strpbrk(key, ",=") || strchr(val, ',') ||
            (json_is_string(v) && strlen(val) != json_string_length(v))) {
            sail_free(out);
            *ret = srv_send_error(r, 400, "filter", "invalid_value",
                                  "filter.%s: values are strings, integers or booleans, and neither keys nor "
                                  "values may contain ',' (keys not '=' either).", key);
            return NULL;
        }
        at += (size_t)snprintf(out + at, cap - at, "%s%s=%s", at ? "," : "", key, val);
    }
    return out;
}

static enum MHD_Result search_respond(srv_request *r) {
    search_state *st = r->state;
    srv_server *s = r->srv;
    if (r->in->jobs[0].status) return srv_send_job_error(r, r->in);
    sail_search_options so = {.filter = st->filter, .exact = st->exact, .ef_search = st->ef};
    sail_index_results *res = NULL;
    sail_error err = {0};
    if (sail_index_search(s->index, r->in->jobs[0].out, 1, st->k, &so, &res, &err))
        return srv_send_error(r, index_http_status(err.status), NULL, NULL, "search: %s", err.msg);
    json_t *data = json_array();
    for (int i = 0; data && i < res->counts[0]; i++) {
        const sail_index_hit *h = &res->hits[i];
        json_t *payload = h->payload ? json_loads(h->payload, 0, NULL) : json_object();
        if (!payload) payload = json_string(h->payload);
        json_t *o = json_pack("{s:s, s:I, s:o, s:f, s:o}", "object", "search_result", "id", (json_int_t)h->id,
                              "id_str", id_string(h->id), "score", (double)h->score, "payload", payload);
        /* The image's URL spelled by the server: ids over 2^53 (hashes given
         * by `sail index add`) are not exact as JavaScript numbers. */
        if (o && !s->index_remote && json_is_string(json_object_get(payload, "source"))) {
            char url[64];
            snprintf(url, sizeof url, "/v1/items/%" PRIu64 "/image", h->id);
            json_object_set_new(o, "image_url", json_string(url));
        }
        if (!o || json_array_append_new(data, o)) {
            json_decref(data);
            data = NULL;
        }
    }
    sail_index_results_free(res);
    if (!data) return srv_send_error(r, 503, NULL, NULL, "out of memory building the response");
    return srv_send_json(r, 200, json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data,
                                           "model", s->ix_model->name, "usage", "prompt_tokens", r->in->tokens,
                                           "total_tokens", r->in->tokens));
}

enum MHD_Result srv_route_search(srv_request *r) {
    srv_server *s = r->srv;
    if (!s->index) return no_index(r);
    enum MHD_Result ret = MHD_NO;
    json_t *doc;
    search_state *st = srv_route_state(r, sizeof *st, free_search, &doc, &ret);
    if (!st) return ret;
    json_t *k = json_object_get(doc, "k"), *f = json_object_get(doc, "filter");
    json_t *exact = json_object_get(doc, "exact"), *ef = json_object_get(doc, "ef_search");
    st->k = 10;
    if (k && !json_is_null(k)) {
        if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > MAX_K)
            return srv_send_error(r, 400, "k", "invalid_value", "'k' must be an integer from 1 to %d.", MAX_K);
        st->k = (int)json_integer_value(k);
    }
    if (ef && !json_is_null(ef)) {
        if (!json_is_integer(ef) || json_integer_value(ef) < 1 || json_integer_value(ef) > 100000)
            return srv_send_error(r, 400, "ef_search", "invalid_value", "'ef_search' must be an integer from 1 to 100000.");
        st->ef = (int)json_integer_value(ef);
    }
    if (exact && !json_is_boolean(exact))
        return srv_send_error(r, 400, "exact", "invalid_type", "'exact' must be true or false.");
    st->exact = json_is_true(exact);
    if (f && !json_is_null(f)) {
        if (!json_is_object(f))
            return srv_send_error(r, 400, "filter", "invalid_type", "'filter' must be an object of payload fields.");
        if (json_object_size(f) && !(st->filter = filter_string(r, f, &ret))) return ret;
    }
    r->in = srv_inputs_new(1, s->index_dim, s->ix_model);
    r->model = s->ix_model;
    if (!r->in) return srv_send_error(r, 503, NULL, NULL, "out of memory");
    json_t *q = json_object_get(doc, "query");
    if (q ? srv_input_item(r, r->in, 0, q, "query", &ret) : object_input(r, r->in, 0, doc, "query", &ret))
        return ret;
    r->resume = search_respond;
    return srv_submit_and_suspend(r, s->ix_model, r->in->jobs, 1);
}

/* ----------------------------------------------------------------- items -- */

typedef struct items_state {
    json_t *items;              /* in the request's doc */
    uint64_t *ids;              /* (in->n) */
} items_state;

static void free_items(void *p) {
    items_state *st = p;
    sail_free(st->ids);
    sail_free(st);
}

static const char *image_ext(const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "jpg";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "webp";
    if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return "ppm";
    return NULL;
}

/* Writes bytes to path in dir atomically and durably (temp, fsync, rename,
 * directory fsync), through the index's I/O fault points. */
static int write_file(const char *dir, const char *path, const uint8_t *b, size_t n) {
    char tmp[PATH_MAX_LEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int ok = !ix_pwrite_all(fd, b, n, 0) && !ix_fsync(fd);
    ok &= !close(fd);
    if (!ok || ix_rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return ix_fsync_dir(dir);
}

/* Stores item i's image (its data URL, already validated) under the index. */
static int store_image(srv_server *s, uint64_t id, const char *url, char *path, size_t cap) {
    const char *comma = strchr(url, ',');
    size_t len = strlen(comma + 1);
    uint8_t *b = sail_malloc(len / 4 * 3 + 3);
    if (!b) {
        errno = ENOMEM;
        return -1;
    }
    long n = srv_base64_decode(comma + 1, len, b);
    const char *ext = n > 0 ? image_ext(b, (size_t)n) : NULL;
    int rc = -1;
    errno = EINVAL;
    /* a new images/ is synced into the index directory like the file into it */
    if (ext && (!mkdir(s->image_dir, 0755) ? !ix_fsync_dir(s->cfg.index_path) : errno == EEXIST) &&
        snprintf(path, cap, "%s/%" PRIu64 ".%s", s->image_dir, id, ext) < (int)cap)
        rc = write_file(s->image_dir, path, b, (size_t)n);
    sail_free(b);
    return rc;
}

/* Builds item i's payload text (malloc-ed), storing its image first. */
static char *item_payload(srv_request *r, items_state *st, int i, char *path, size_t cap,
                          enum MHD_Result *ret) {
    srv_server *s = r->srv;
    json_t *item = json_array_get(st->items, (size_t)i), *t = json_object_get(item, "text");
    const char *url = json_string_value(json_object_get(item, "image"));
    json_t *given = json_object_get(item, "payload");
    /* out of memory (NULL, ret untouched) rather than a payload short of a field */
    json_t *p = given ? json_deep_copy(given) : json_object();
    if (!p) return NULL;
    if ((json_is_string(t) && !json_object_get(p, "text") && json_object_set(p, "text", t)) ||
        json_object_set_new(p, "modality", json_string(srv_job_modality(&r->in->jobs[i])))) {
        json_decref(p);
        return NULL;
    }
    if (url && !s->index_remote) {
        if (store_image(s, st->ids[i], url, path, cap)) {
            json_decref(p);
            *ret = srv_send_error(r, 500, NULL, NULL, "cannot store the image of item %d under %s: %s", i,
                                  s->image_dir, strerror(errno));
            return NULL;
        }
        if (json_object_set_new(p, "source", json_string(path))) {
            json_decref(p);
            return NULL;
        }
    }
    char *text = srv_json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return text;
}

static enum MHD_Result items_respond(srv_request *r) {
    items_state *st = r->state;
    srv_server *s = r->srv;
    size_t n = (size_t)r->in->n, dim = (size_t)s->index_dim;
    for (size_t i = 0; i < n; i++)
        if (r->in->jobs[i].status) return srv_send_job_error(r, r->in);
    float *vecs = sail_malloc(n * dim * sizeof(float));
    char **payloads = sail_calloc(n, sizeof *payloads);
    char (*paths)[PATH_MAX_LEN] = sail_calloc(n, sizeof *paths);
    enum MHD_Result ret = MHD_NO;
    int ok = vecs && payloads && paths, added = 0;
    for (size_t i = 0; ok && i < n; i++) {
        memcpy(vecs + i * dim, r->in->jobs[i].out, dim * sizeof(float));
        ret = MHD_NO;
        payloads[i] = item_payload(r, st, (int)i, paths[i], sizeof paths[i], &ret);
        if (!payloads[i]) {
            if (ret == MHD_YES) goto out;   /* the error went out already */
            ok = 0;
        }
    }
    if (!ok) {
        ret = srv_send_error(r, 503, NULL, NULL, "out of memory adding items");
        goto out;
    }
    sail_error err = {0};
    if (sail_index_add(s->index, st->ids, vecs, (const char *const *)payloads, (int)n, &err)) {
        ret = srv_send_error(r, index_http_status(err.status), NULL, NULL, "adding to the index: %s", err.msg);
        goto out;
    }
    added = 1;
    json_t *data = json_array();
    for (size_t i = 0; data && i < n; i++)
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "item", "id", (json_int_t)st->ids[i],
                                              "id_str", id_string(st->ids[i])));
    ret = srv_send_json(r, 200, json_pack("{s:s, s:o, s:{s:i, s:i}}", "object", "list", "data", data, "usage",
                                          "prompt_tokens", r->in->tokens, "total_tokens", r->in->tokens));
out:
    /* Nothing of a failed batch stays behind (the index applied none of it). */
    for (size_t i = 0; !added && paths && i < n; i++)
        if (paths[i][0]) unlink(paths[i]);
    for (size_t i = 0; payloads && i < n; i++) sail_free(payloads[i]);
    sail_free(payloads);
    sail_free(paths);
    sail_free(vecs);
    return ret;
}

enum MHD_Result srv_route_items_add(srv_request *r) {
    srv_server *s = r->srv;
    if (!s->index) return no_index(r);
    enum MHD_Result ret = MHD_NO;
    json_t *doc;
    items_state *st = srv_route_state(r, sizeof *st, free_items, &doc, &ret);
    if (!st) return ret;
    st->items = json_object_get(doc, "items");
    size_t n = json_array_size(st->items);
    if (!json_is_array(st->items) || !n)
        return srv_send_error(r, 400, "items", "invalid_type", "'items' must be a non-empty list of objects.");
    if (n > (size_t)s->cfg.max_inputs)
        return srv_send_error(r, 400, "items", "too_many_inputs", "'items' has %zu entries; the limit is %d (--max-inputs).",
                              n, s->cfg.max_inputs);
    r->in = srv_inputs_new((int)n, s->index_dim, s->ix_model);
    r->model = s->ix_model;
    st->ids = sail_calloc(n, sizeof *st->ids);
    if (!r->in || !st->ids) return srv_send_error(r, 503, NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char param[32];
        snprintf(param, sizeof param, "items[%zu]", i);
        json_t *item = json_array_get(st->items, i), *id = json_object_get(item, "id");
        json_t *p = json_object_get(item, "payload");
        if (!json_is_object(item))
            return srv_send_error(r, 400, param, "invalid_type", "%s must be an object.", param);
        uint64_t idv = 0;
        if (id && id_value(id, &idv))
            return srv_send_error(r, 400, param, "invalid_value",
                                  "%s.id must be an integer from 0 to 2^63-1, as a number or a decimal string.", param);
        if (p && !json_is_object(p))
            return srv_send_error(r, 400, param, "invalid_type", "%s.payload must be an object.", param);
        if (json_object_get(p, "source"))
            return srv_send_error(r, 400, param, "invalid_value",
                                  "%s.payload.source is set by the server (it names the stored image).", param);
        if (json_object_get(item, "input"))
            return srv_send_error(r, 400, param, "invalid_type", "%s: give \"text\" and/or \"image\" (a data URL).", param);
        if (!id && s->index_remote)
            return srv_send_error(r, 400, param, "missing_id", "%s needs an \"id\": this server's index is %s, which "
                                  "other servers may share, so it does not number items itself.", param,
                                  s->cfg.index_path);
        if (object_input(r, r->in, (int)i, item, param, &ret)) return ret;
        pthread_mutex_lock(&s->ids_lock);
        if (id) {
            st->ids[i] = idv;
            if (st->ids[i] < JS_SAFE_ID && st->ids[i] >= s->next_id) s->next_id = st->ids[i] + 1;
        } else
            st->ids[i] = s->next_id++;
        pthread_mutex_unlock(&s->ids_lock);
    }
    r->resume = items_respond;
    return srv_submit_and_suspend(r, s->ix_model, r->in->jobs, r->in->n);
}

/* "/v1/items/<digits>[/image]" -> id; -1 when malformed. */
static int parse_id(const char *url, uint64_t *id) {
    const char *p = url + strlen("/v1/items/");
    if (*p < '0' || *p > '9') return -1;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p && strcmp(p, "/image")) return -1;
    *id = v;
    return 0;
}

/* *out gets the payload's "source" (malloc-ed), or NULL when the item or
 * its source is absent. Returns SAIL_OK or SAIL_ERR_NOMEM: out of memory
 * is not "no image". */
static sail_status item_source(srv_server *s, uint64_t id, char **out) {
    char *payload = NULL;
    sail_error err = {0};
    *out = NULL;
    if (sail_index_get(s->index, id, NULL, &payload, &err)) return err.status == SAIL_ERR_NOMEM ? SAIL_ERR_NOMEM : SAIL_OK;
    json_error_t je;
    json_t *p = json_loads(payload, 0, &je);
    sail_free(payload);
    if (!p && json_error_code(&je) == json_error_out_of_memory) return SAIL_ERR_NOMEM;
    const char *src = json_string_value(json_object_get(p, "source"));
    if (src && !(*out = sail_strdup(src))) {
        json_decref(p);
        return SAIL_ERR_NOMEM;
    }
    json_decref(p);
    return SAIL_OK;
}

enum MHD_Result srv_route_items_delete(srv_request *r) {
    srv_server *s = r->srv;
    if (!s->index) return no_index(r);
    uint64_t id;
    if (parse_id(r->url, &id) || strstr(r->url + 10, "/"))
        return srv_send_error(r, 404, NULL, "not_found", "Use DELETE /v1/items/<integer id>.");
    char *src = NULL;
    if (!s->index_remote && item_source(s, id, &src))
        return srv_send_error(r, 503, NULL, NULL, "out of memory deleting item %" PRIu64, id);
    int deleted = 0;
    sail_error err = {0};
    if (sail_index_delete(s->index, &id, 1, &deleted, &err)) {
        sail_free(src);
        return srv_send_error(r, index_http_status(err.status), NULL, NULL, "deleting item %" PRIu64 ": %s", id,
                              err.msg);
    }
    /* An image this server stored goes with its item. */
    size_t dl = strlen(s->image_dir);
    if (deleted && src && dl && !strncmp(src, s->image_dir, dl) && src[dl] == '/') unlink(src);
    sail_free(src);
    if (!deleted) return srv_send_error(r, 404, NULL, "not_found", "No item has id %" PRIu64 ".", id);
    return srv_send_json(r, 200, json_pack("{s:I, s:o, s:s, s:b}", "id", (json_int_t)id, "id_str", id_string(id),
                                           "object", "item", "deleted", 1));
}

enum MHD_Result srv_route_item_image(srv_request *r) {
    srv_server *s = r->srv;
    if (!s->index) return no_index(r);
    uint64_t id;
    if (parse_id(r->url, &id)) return srv_send_error(r, 404, NULL, "not_found", "Use GET /v1/items/<integer id>/image.");
    if (s->index_remote)
        return srv_send_error(r, 501, NULL, "not_supported", "This server's index is %s: it keeps no image files, so it "
                              "cannot serve one; an item's payload \"source\" names where its file was.",
                              s->cfg.index_path);
    char *src = NULL;
    if (item_source(s, id, &src)) return srv_send_error(r, 503, NULL, NULL, "out of memory reading item %" PRIu64, id);
    if (!src) return srv_send_error(r, 404, NULL, "not_found", "Item %" PRIu64 " has no image source.", id);
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint8_t head[12] = {0};
    const char *ext = NULL;
    if (fd >= 0 && !fstat(fd, &sb) && S_ISREG(sb.st_mode) && sb.st_size <= MAX_SERVED_IMAGE &&
        pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head)
        ext = image_ext(head, sizeof head);
    sail_free(src);
    if (!ext) {
        if (fd >= 0) close(fd);
        return srv_send_error(r, 404, NULL, "not_found", "The image of item %" PRIu64 " is not readable.", id);
    }
    const char *type = !strcmp(ext, "jpg") ? "image/jpeg" : !strcmp(ext, "png") ? "image/png"
                     : !strcmp(ext, "webp") ? "image/webp" : "image/x-portable-pixmap";
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    r->status = 200;
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
