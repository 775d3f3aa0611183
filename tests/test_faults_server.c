/* test_faults_server.c: fault injection (core/fault.h) over `sail serve`'s
 * request path. The server is started in-process (srv_open: a micro model,
 * an AST-shaped one named "audio", an index) and each request is driven through srv_on_request and
 * srv_on_completed as libmicrohttpd calls them: header, body in two pieces,
 * end of body, resume after the batcher. libmicrohttpd's response calls are
 * replaced here to capture what is queued; no socket is opened.
 *
 * Each request is run clean for its reference answer, then again with the
 * N-th allocation failing (once, and from there on) for N = 1, 2, ... until
 * a run completes without meeting the failure. Every run must end in
 * exactly one response: the clean answer, or a 5xx with a JSON error body
 * naming the failure. The next request, without faults, must get the clean
 * answer. POST /v1/items is walked over I/O failures too (the index's log
 * and the stored image), and so is the shutdown snapshot; an item whose add
 * was acknowledged must be in the index then and after it is reopened.
 * Leaks fail `make asan` (LeakSanitizer). */
#include "audio_fixtures.h"
#include "fault.h"
#include "fixtures.h"
#include "image_enc.h"
#include "mhd_stub.h"
#include "server/server.h"
#include "test.h"

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------- libmicrohttpd, replaced -- */

struct MHD_Response {
    char *data;
    size_t len;
    char type[64];
};

typedef struct reply {
    int n;                      /* responses queued */
    int status;
    char type[64];
    char *body;                 /* (len) NUL-terminated copy */
} reply;

static reply got;
static int suspended;
static char content_length[24];

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = calloc(1, sizeof *r);
    char *copy = malloc(size + 1);
    if (!r || !copy) abort();
    memcpy(copy, buffer, size);
    copy[size] = 0;
    if (mode == MHD_RESPMEM_MUST_FREE) free(buffer);
    r->data = copy;
    r->len = size;
    return r;
}

struct MHD_Response *MHD_create_response_from_fd(size_t size, int fd) {
    (void)size;
    close(fd);
    return MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *header, const char *content) {
    if (!strcasecmp(header, MHD_HTTP_HEADER_CONTENT_TYPE)) snprintf(r->type, sizeof r->type, "%s", content);
    return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *r) {
    free(r->data);
    free(r);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r) {
    (void)c;
    got.n++;
    got.status = (int)status;
    snprintf(got.type, sizeof got.type, "%s", r->type);
    free(got.body);
    got.body = malloc(r->len + 1);
    if (!got.body) abort();
    memcpy(got.body, r->data, r->len + 1);
    return MHD_YES;
}

void MHD_suspend_connection(struct MHD_Connection *c) {
    (void)c;
    suspended = 1;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key) {
    (void)c, (void)kind;
    return !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) && content_length[0] ? content_length : NULL;
}

enum MHD_Result MHD_set_connection_option(struct MHD_Connection *c, enum MHD_CONNECTION_OPTION option, ...) {
    (void)c, (void)option;
    return MHD_YES;
}

/* ------------------------------------------------------------ driver -- */

static srv_server S;
static int conn_token;

/* One request, as libmicrohttpd calls the server for it; the answer is in
 * got. */
static void serve(const char *method, const char *url, const char *body) {
    struct MHD_Connection *conn = (struct MHD_Connection *)&conn_token;
    void *cls = NULL;
    size_t len = body ? strlen(body) : 0, up = 0;
    got.n = 0;
    suspended = mhd_resumed = 0;
    content_length[0] = 0;
    if (len) snprintf(content_length, sizeof content_length, "%zu", len);
    enum MHD_Result ret = srv_on_request(&S, conn, url, method, "HTTP/1.1", NULL, &up, &cls);
    /* the body in two pieces, so its buffer grows once */
    for (size_t off = 0, piece = len / 2 ? len / 2 : len; ret == MHD_YES && off < len; off += piece) {
        up = off + piece > len ? len - off : piece;
        ret = srv_on_request(&S, conn, url, method, "HTTP/1.1", body + off, &up, &cls);
    }
    if (ret == MHD_YES) {
        up = 0;
        ret = srv_on_request(&S, conn, url, method, "HTTP/1.1", NULL, &up, &cls);
    }
    while (ret == MHD_YES && suspended) {
        mhd_wait_resumed();
        suspended = 0;
        up = 0;
        ret = srv_on_request(&S, conn, url, method, "HTTP/1.1", NULL, &up, &cls);
    }
    srv_on_completed(&S, conn, &cls, ret == MHD_YES && got.n ? MHD_REQUEST_TERMINATED_COMPLETED_OK
                                                             : MHD_REQUEST_TERMINATED_WITH_ERROR);
}

/* ------------------------------------------------------------ checks -- */

/* An error answer: {"error": {"message": non-empty, "type": ...}} as JSON. */
static int error_body(const reply *r) {
    json_t *doc = json_loads(r->body, 0, NULL), *e = json_object_get(doc, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    int ok = !strcmp(r->type, "application/json") && msg && *msg && json_is_string(json_object_get(e, "type"));
    json_decref(doc);
    return ok;
}

typedef struct request {
    const char *name, *method, *url;
    char *body;
    /* A 2xx answer is right (compared with the clean one); NULL: the
     * request is a client error (400). */
    int (*right)(struct request *q, const reply *r);
    /* Sets up each run (without faults), or NULL. */
    void (*prepare)(struct request *q);
    uint64_t next_id;           /* the first id the next run uses */
    uint64_t id;                /* the id this run adds or deletes */
    char path[64];              /* url, when prepare spells it */
    reply clean;                /* the answer without faults */
} request;

/* data[i].embedding of an embeddings answer, or NULL. */
static json_t *embedding(json_t *doc, size_t i) {
    return json_object_get(json_array_get(json_object_get(doc, "data"), i), "embedding");
}

/* The same vector as the clean answer's: the GEMM's plain-kernel fallback
 * (an absorbed failure) may round differently. */
static int same_embedding(request *q, const reply *r) {
    json_t *a = json_loads(r->body, 0, NULL), *b = json_loads(q->clean.body, 0, NULL);
    json_t *va = embedding(a, 0), *vb = embedding(b, 0);
    int ok = json_array_size(va) > 0 && json_array_size(va) == json_array_size(vb);
    for (size_t i = 0; ok && i < json_array_size(va); i++)
        ok = fabs(json_real_value(json_array_get(va, i)) - json_real_value(json_array_get(vb, i))) < 1e-5;
    json_decref(a);
    json_decref(b);
    return ok;
}

/* The same hits (ids, in order) as the clean answer's. */
static int same_hits(request *q, const reply *r) {
    json_t *a = json_loads(r->body, 0, NULL), *b = json_loads(q->clean.body, 0, NULL);
    json_t *da = json_object_get(a, "data"), *db = json_object_get(b, "data");
    int ok = json_array_size(da) > 0 && json_array_size(da) == json_array_size(db);
    for (size_t i = 0; ok && i < json_array_size(da); i++) {
        json_t *ha = json_array_get(da, i), *hb = json_array_get(db, i);
        ok = json_integer_value(json_object_get(ha, "id")) == json_integer_value(json_object_get(hb, "id")) &&
             json_equal(json_object_get(ha, "payload"), json_object_get(hb, "payload"));
    }
    json_decref(a);
    json_decref(b);
    return ok;
}

static int healthz_ok(request *q, const reply *r) {
    (void)q;
    json_t *doc = json_loads(r->body, 0, NULL);
    const char *status = json_string_value(json_object_get(doc, "status"));
    int ok = status && !strcmp(status, "ok") && json_integer_value(json_object_get(doc, "dim")) == 8 &&
             json_array_size(json_object_get(doc, "models")) == 2;
    json_decref(doc);
    return ok;
}

static int metrics_ok(request *q, const reply *r) {
    (void)q;
    return !strncmp(r->type, "text/plain", 10) && strstr(r->body, "sail_http_requests_total{") &&
           strstr(r->body, "sail_index_items ");
}

/* ------------------------------------------------------------ items -- */

enum { MAX_ACKED = 4096 };
static uint64_t acked[MAX_ACKED];       /* ids of acknowledged adds */
static uint64_t gone[MAX_ACKED];        /* ids of acknowledged deletes */
static int n_acked, n_gone;
static char *png_url;                   /* a data URL of a small PNG */

/* Two items, a text and an image, with ids q->id and the one after. */
static void items_body(request *q) {
    q->id = q->next_id;
    q->next_id += 2;
    free(q->body);
    size_t n = strlen(png_url) + 256;
    q->body = malloc(n);
    if (!q->body) abort();
    snprintf(q->body, n, "{\"items\": [{\"id\": %llu, \"text\": \"a b c d\", \"payload\": {\"k\": 1}}, "
             "{\"id\": \"%llu\", \"image\": \"%s\"}]}", (unsigned long long)q->id,
             (unsigned long long)q->id + 1, png_url);
}

/* Both items are listed with their ids and are in the index; they are
 * recorded as acknowledged. */
static int items_ok(request *q, const reply *r) {
    json_t *doc = json_loads(r->body, 0, NULL), *data = json_object_get(doc, "data");
    int ok = json_array_size(data) == 2;
    for (size_t i = 0; ok && i < 2; i++) {
        uint64_t id = q->id + i;
        ok = json_integer_value(json_object_get(json_array_get(data, i), "id")) == (json_int_t)id &&
             sail_index_get(S.index, id, NULL, NULL, NULL) == SAIL_OK && n_acked < MAX_ACKED;
        if (ok) acked[n_acked++] = id;
    }
    json_decref(doc);
    return ok;
}

/* DELETE /v1/items/{id} of an item added for the run. */
static void delete_prepare(request *q) {
    q->id = q->next_id++;
    float v[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    const char *payload = "{\"text\": \"gone\"}";
    if (sail_index_add(S.index, &q->id, v, &payload, 1, NULL)) abort();
    snprintf(q->path, sizeof q->path, "/v1/items/%llu", (unsigned long long)q->id);
    q->url = q->path;
}

/* The item is said deleted and is gone; recorded as an acknowledged delete. */
static int delete_ok(request *q, const reply *r) {
    json_t *doc = json_loads(r->body, 0, NULL);
    int ok = json_is_true(json_object_get(doc, "deleted")) &&
             json_integer_value(json_object_get(doc, "id")) == (json_int_t)q->id &&
             sail_index_get(S.index, q->id, NULL, NULL, NULL) != SAIL_OK && n_gone < MAX_ACKED;
    if (ok) gone[n_gone++] = q->id;
    json_decref(doc);
    return ok;
}

/* GET /v1/items/{id}/image: the stored PNG of the first item added. */
static int image_ok(request *q, const reply *r) {
    (void)q;
    return !strcmp(r->type, "image/png");
}

static int models_ok(request *q, const reply *r) {
    (void)q;
    json_t *doc = json_loads(r->body, 0, NULL);
    const char *id = json_string_value(json_object_get(json_array_get(json_object_get(doc, "data"), 0), "id"));
    int ok = id && !strcmp(id, "micro.gguf") && json_array_size(json_object_get(doc, "data")) == 2;
    json_decref(doc);
    return ok;
}

/* Every acknowledged add is in the (re)opened index, its payload whole;
 * every acknowledged delete is not. */
static int acked_present(void) {
    int lost = 0;
    for (int i = 0; i < n_gone; i++)
        if (sail_index_get(S.index, gone[i], NULL, NULL, NULL) == SAIL_OK && lost++ < 3)
            printf("#   deleted item %llu is back\n", (unsigned long long)gone[i]);
    for (int i = 0; i < n_acked; i++) {
        char *payload = NULL;
        json_t *p = NULL;
        if (sail_index_get(S.index, acked[i], NULL, &payload, NULL) == SAIL_OK) p = json_loads(payload, 0, NULL);
        const char *modality = json_string_value(json_object_get(p, "modality"));
        const char *source = json_string_value(json_object_get(p, "source"));
        int ok = 0;
        if (modality && !strcmp(modality, "text"))
            ok = json_integer_value(json_object_get(p, "k")) == 1 && json_is_string(json_object_get(p, "text"));
        else if (modality && !strcmp(modality, "image"))
            ok = source && !access(source, R_OK); /* the stored image is there too */
        if (!ok && lost++ < 3) printf("#   acknowledged item %llu lost or incomplete: %s\n", (unsigned long long)acked[i],
                                      payload ? payload : "(absent)");
        json_decref(p);
        free(payload);
    }
    return lost == 0;
}

/* -------------------------------------------------------------- walk -- */

typedef struct walk_result {
    long points, errors, absorbed, bad;
} walk_result;

/* What one run under a fault may answer. */
static int acceptable(request *q, long fired) {
    if (got.n != 1) return 0;
    if (got.status == q->clean.status && (got.status >= 300 ? error_body(&got) : q->right(q, &got))) return 1;
    return fired && got.status >= 500 && got.status <= 599 && error_body(&got);
}

/* A run of q: prepare (without faults), then run (the fault armed or not). */
static void prepare(request *q) {
    if (q->prepare) q->prepare(q);
}

static void run(request *q) { serve(q->method, q->url, q->body); }

/* Runs q with the n-th call of kind k failing, once and from there on, for
 * n = 1, 2, ... until a run meets no failure; after each, q again without
 * faults must get the clean answer. */
static walk_result walk(request *q, sail_fault_kind k) {
    walk_result w = {0};
    prepare(q);
    run(q);
    q->clean = got;
    got = (reply){0};
    /* no right(): a client error (400) */
    CHECK(q->clean.n == 1 && (q->right ? q->clean.status == 200 && q->right(q, &q->clean)
                                        : q->clean.status == 400 && error_body(&q->clean)),
          "%s: answers %d clean", q->name, q->clean.status);
    const char *kind = k == SAIL_FAULT_ALLOC ? "allocation" : "I/O call";
    for (long n = 1;; n++) {
        long fired_once = 0;
        for (int persist = 0; persist < 2; persist++) {
            prepare(q);
            sail_fault_arm(k, n, persist);
            run(q);
            long fired = sail_fault_fired(k);
            sail_fault_arm(k, 0, 0);
            int ok = acceptable(q, fired);
            if (!ok && w.bad++ < 5)
                printf("#   %s: failing %s %ld%s: %d responses, status %d: %.300s\n", q->name, kind, n,
                       persist ? " on" : "", got.n, got.status, got.n ? got.body : "");
            if (fired && got.status != q->clean.status) w.errors++;
            else if (fired) w.absorbed++; /* the clean answer all the same */
            /* the next request, without faults */
            prepare(q);
            run(q);
            if (!acceptable(q, 0) && w.bad++ < 5)
                printf("#   %s: after failing %s %ld%s, the next request got %d: %.300s\n", q->name, kind, n,
                       persist ? " on" : "", got.status, got.n ? got.body : "");
            if (!persist) fired_once = fired;
        }
        if (!fired_once) {
            w.points = n - 1;
            break;
        }
    }
    CHECK(w.bad == 0 && w.points > 0, "%s: each of %ld %s failures (x2 modes) answered cleanly: %ld errors, %ld absorbed, "
          "%ld wrong", q->name, w.points, kind, w.errors, w.absorbed, w.bad);
    free(q->clean.body);
    q->clean.body = NULL;
    return w;
}

/* ------------------------------------------------------------- main -- */

static char tmpdir[64];          /* in memory where there is /dev/shm, as in test_faults.c */
static char model_path[PATH_MAX], ast_path[PATH_MAX], index_path[PATH_MAX];

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s, (void)flag, (void)f;
    return remove(p);
}

static sail_server_options config(void) {
    sail_server_options c = {.n_models = 2, .index_path = index_path, .threads = 1, .http_threads = 1,
                             .max_batch = 4, .max_body = 1 << 20, .max_inputs = 8, .timeout_s = 30,
                             .header_timeout_s = 30, .max_image_pixels = 1 << 24, .quiet = 1};
    c.models[0].path = model_path;
    c.models[1] = (sail_server_model){"audio", ast_path};
    return c;
}

static int open_server(void) {
    memset(&S, 0, sizeof S);
    S.cfg = config();
    return srv_open(&S);
}

static char *printf_alloc(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    return s;
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/sail_test_faults_server_XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
    if (!mkdtemp(tmpdir)) return 1;
    snprintf(model_path, sizeof model_path, "%s/micro.gguf", tmpdir);
    snprintf(index_path, sizeof index_path, "%s/ix", tmpdir);
    sail_config mc = micro();
    sail_error e = {0};
    CHECK(sail_model_write_random(&mc, micro_tokens, 5, model_path, &e) == SAIL_OK, "micro model written (%s)", e.msg);
    snprintf(ast_path, sizeof ast_path, "%s/ast.gguf", tmpdir);
    sail_config ac = ast_config(16);
    CHECK(sail_model_write_random(&ac, NULL, 7, ast_path, &e) == SAIL_OK, "AST-shaped model written (%s)", e.msg);
    static uint8_t wav[44 + 2 * 8000];
    float x[8000];
    chirp(x, 8000, 16000, 200, 0.4f);
    char *wav64 = srv_base64_encode(wav, make_wav(wav, x, 8000, 16000));
    char *audio_input = printf_alloc("{\"model\": \"audio\", \"input\": [{\"type\": \"input_audio\", "
                                     "\"input_audio\": {\"data\": \"%s\", \"format\": \"wav\"}}]}", wav64);
    sail_free(wav64);
    uint8_t px[21 * 13 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
    buf png = png_encode(21, 13, PNG_COLOR_TYPE_RGB, 8, 0, px);
    char *b64 = srv_base64_encode(png.p, png.n);
    png_url = printf_alloc("data:image/png;base64,%s", b64);
    sail_free(b64);
    free(png.p);

    /* start-up: every allocation of srv_open (model, metrics, index, batcher) */
    long start_points = 0, start_bad = 0;
    for (long n = 1;; n++) {
        sail_fault_arm(SAIL_FAULT_ALLOC, n, 1);
        memset(&S, 0, sizeof S);
        S.cfg = config();
        int rc = srv_open(&S);
        long fired = sail_fault_fired(SAIL_FAULT_ALLOC);
        sail_fault_arm(SAIL_FAULT_ALLOC, 0, 0);
        int crc = srv_close(&S);
        if (!fired) break;
        start_points++;
        if ((!rc || crc) && start_bad++ < 5) printf("#   start-up with allocation %ld on failing: rc %d, close %d\n", n, rc, crc);
    }
    CHECK(start_points > 0 && start_bad == 0, "start-up: each of %ld allocation failures (from there on) refused "
          "cleanly", start_points);

    CHECK(open_server() == 0, "server started (a micro model, an AST-shaped one, an exact index)");
    /* something to find */
    for (int i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"items\": [{\"id\": %d, \"text\": \"%c b\"}]}", 1 + i, 'a' + i);
        serve("POST", "/v1/items", body);
    }
    char *image_input = printf_alloc("{\"input\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"%s\"}}]}",
                                     png_url);
    request reqs[] = {
        {.name = "POST /v1/embeddings, a text", .method = "POST", .url = "/v1/embeddings",
         .body = strdup("{\"input\": \"a b c d\"}"), .right = same_embedding},
        {.name = "POST /v1/embeddings, a PNG data URL", .method = "POST", .url = "/v1/embeddings",
         .body = image_input, .right = same_embedding},
        {.name = "POST /v1/embeddings, a WAV clip (model audio)", .method = "POST", .url = "/v1/embeddings",
         .body = audio_input, .right = same_embedding},
        {.name = "POST /v1/embeddings, malformed JSON", .method = "POST", .url = "/v1/embeddings",
         .body = strdup("{\"input\": \"a b\", ")},
        {.name = "POST /v1/search", .method = "POST", .url = "/v1/search",
         .body = strdup("{\"query\": \"a b c\", \"k\": 3}"), .right = same_hits},
        {.name = "GET /healthz", .method = "GET", .url = "/healthz", .right = healthz_ok},
        {.name = "GET /metrics", .method = "GET", .url = "/metrics", .right = metrics_ok},
        {.name = "GET /v1/models", .method = "GET", .url = "/v1/models", .right = models_ok},
        {.name = "POST /v1/items, a text and a PNG", .method = "POST", .url = "/v1/items", .right = items_ok,
         .prepare = items_body, .next_id = 1000},
        /* the image stored by the clean add above */
        {.name = "GET /v1/items/{id}/image", .method = "GET", .url = "/v1/items/1001/image", .right = image_ok},
        {.name = "DELETE /v1/items/{id}", .method = "DELETE", .right = delete_ok, .prepare = delete_prepare,
         .next_id = 1u << 20},
    };
    enum { N_REQ = sizeof reqs / sizeof reqs[0] };
    for (int i = 0; i < N_REQ; i++) walk(&reqs[i], SAIL_FAULT_ALLOC);
    request *items = &reqs[8], *del = &reqs[N_REQ - 1];
    items->name = "POST /v1/items, I/O failures";
    walk(items, SAIL_FAULT_IO);
    del->name = "DELETE /v1/items/{id}, I/O failures";
    walk(del, SAIL_FAULT_IO);
    CHECK(acked_present(), "%d acknowledged adds are in the index, %d acknowledged deletes are not", n_acked, n_gone);

    /* shutdown: the snapshot fails at each of its I/O calls; the log keeps
     * every acknowledged add */
    long snap_points = 0, snap_bad = 0;
    for (long n = 1;; n++) {
        sail_fault_arm(SAIL_FAULT_IO, n, 0);
        int crc = srv_close(&S);
        long fired = sail_fault_fired(SAIL_FAULT_IO);
        sail_fault_arm(SAIL_FAULT_IO, 0, 0);
        int orc = open_server();
        if (orc || !acked_present() || (fired && !crc) || (!fired && crc)) {
            if (snap_bad++ < 5) printf("#   snapshot with I/O call %ld failing: close %d, reopen %d\n", n, crc, orc);
            if (orc) break;
        }
        if (!fired) break;
        snap_points++;
        /* a record after the snapshot, so the next close writes one again */
        prepare(items);
        run(items);
        if (got.status == 200) items_ok(items, &got);
    }
    CHECK(snap_points > 0 && snap_bad == 0, "shutdown snapshot: each of %ld I/O failures keeps the %d acknowledged "
          "adds and %d deletes across reopening", snap_points, n_acked, n_gone);
    CHECK(srv_close(&S) == 0, "server closed");
    for (int i = 0; i < N_REQ; i++) free(reqs[i].body);
    free(got.body);
    free(png_url);
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return test_done();
}
