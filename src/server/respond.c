/* respond.c: what every route answers with: JSON, bytes and OpenAI-style
 * errors (always valid UTF-8), the request body parsed as a JSON object,
 * and the suspend/resume of a connection around the batcher's jobs. */
#include "server.h"
#include "text/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- JSON -- */

/* jansson does not always report an allocation that failed: json_dumps
 * can leave an object key out of its text, json_loads can call the
 * failure a syntax error, and a failed append leaves a list short. So
 * its allocator notes a failure per thread, and a response or request
 * handled while one happened is answered 503. */
static _Thread_local int json_alloc_failed;

static void *json_alloc(size_t n) {
    void *p = sail_malloc(n);
    if (!p) json_alloc_failed = 1;
    return p;
}

void srv_json_init(void) { json_set_alloc_funcs(json_alloc, sail_free); }
void srv_json_reset(void) { json_alloc_failed = 0; }

char *srv_json_dumps(const json_t *doc, size_t flags) {
    char *s = doc ? json_dumps(doc, flags) : NULL;
    if (s && json_alloc_failed) { /* doc, or its text, may be short of a part */
        sail_free(s);
        s = NULL;
    }
    return s;
}

/* ------------------------------------------------------------ responses -- */

/* The answer when no other can be built: its memory is static. */
static const char oom_json[] = "{\"error\":{\"message\":\"The server is out of memory; try again later.\","
                               "\"type\":\"server_error\",\"param\":null,\"code\":null}}";

enum MHD_Result srv_send_oom(struct MHD_Connection *conn) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof oom_json - 1, (void *)oom_json, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(conn, 503, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_oom(srv_request *r) {
    r->status = 503;
    return srv_send_oom(r->conn);
}

static enum MHD_Result queue(srv_request *r, int status, struct MHD_Response *resp,
                             const char *content_type) {
    if (!resp) return send_oom(r);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->srv->stopping) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result srv_send_bytes(srv_request *r, int status, const char *content_type,
                               const void *data, size_t len, int copy) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    return queue(r, status, resp, content_type);
}

enum MHD_Result srv_send_text(srv_request *r, int status, const char *content_type, char *text) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) sail_free(text);
    return queue(r, status, resp, content_type);
}

enum MHD_Result srv_send_json(srv_request *r, int status, json_t *doc) {
    char *s = srv_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(doc);
    return s ? srv_send_text(r, status, "application/json", s) : send_oom(r);
}

static const char *error_type(int status) {
    switch (status) {
    case 401: return "invalid_request_error";
    case 404: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void srv_utf8_clean(char *s) {
    size_t len = strlen(s), o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = sail_utf8_decode1((const uint8_t *)s + i, len - i, &cp);
        int bad = cp == 0xFFFD && !(n == 3 && !memcmp(s + i, "\xEF\xBF\xBD", 3));
        if (bad) s[o++] = '?';
        else memmove(s + o, s + i, n), o += n;
        i += n;
    }
    s[o] = 0;
}

enum MHD_Result srv_send_error(srv_request *r, int status, const char *param, const char *code,
                               const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_utf8_clean(msg); /* quoted input or a cut can break UTF-8; jansson would then refuse to answer */
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", msg, "type", error_type(status),
                          "param", param ? json_string(param) : json_null(),
                          "code", code ? json_string(code) : json_null());
    return srv_send_json(r, status, e);
}

json_t *srv_parse_body(srv_request *r, enum MHD_Result *ret) {
    json_error_t je;
    json_t *doc = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!r->len) {
        *ret = srv_send_error(r, 400, NULL, NULL,
                              "The request body is empty; send a JSON object (Content-Type: application/json).");
        return NULL;
    }
    if (json_alloc_failed) { /* not the client's mistake, whatever jansson said */
        json_decref(doc);
        *ret = send_oom(r);
        return NULL;
    }
    if (!doc) {
        *ret = srv_send_error(r, 400, NULL, NULL,
                              "We could not parse the JSON body of your request: %s (line %d, column %d).",
                              je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        *ret = srv_send_error(r, 400, NULL, NULL, "The JSON body must be an object.");
        return NULL;
    }
    return doc;
}

void *srv_route_state(srv_request *r, size_t size, void (*free_state)(void *), json_t **doc,
                      enum MHD_Result *ret) {
    if (!(*doc = r->doc = srv_parse_body(r, ret))) return NULL;
    void *st = sail_calloc(1, size);
    if (!st) {
        *ret = srv_send_error(r, 503, NULL, NULL, "out of memory");
        return NULL;
    }
    r->state = st;
    r->free_state = free_state;
    return st;
}

void srv_request_release(srv_request *r) {
    if (r->free_state) r->free_state(r->state);
    else sail_free(r->state);
    json_decref(r->doc);
    srv_inputs_free(r->in);
}

/* ------------------------------------------------------ suspend/resume -- */

static void on_jobs_done(void *ud) {
    srv_request *r = ud;
    MHD_resume_connection(r->conn);
}

enum MHD_Result srv_submit_and_suspend(srv_request *r, srv_model *m, srv_job *jobs, int n) {
    r->group.pending = n;
    r->group.done = on_jobs_done;
    r->group.ud = r;
    for (int i = 0; i < n; i++) jobs[i].group = &r->group;
    srv_server *s = r->srv;
    /* submit_lock, not lock: libmicrohttpd may hold its own mutexes when it
     * calls srv_on_completed (which takes lock), and suspending takes them. */
    r->model = m;
    pthread_mutex_lock(&s->submit_lock);
    if (!m->batcher) {
        pthread_mutex_unlock(&s->submit_lock);
        return srv_send_error(r, 503, NULL, NULL, "The server is shutting down.");
    }
    /* Suspend first: the batcher may finish before this handler returns. */
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    srv_batcher_submit(m->batcher, jobs, n);
    pthread_mutex_unlock(&s->submit_lock);
    return MHD_YES;
}
