/* server.h: `sail serve`, an HTTP server over one or several models (and
 * optionally one vector index), built on libmicrohttpd and jansson.
 *
 * Threads: libmicrohttpd's pool of --http-threads polls the sockets, reads
 * bodies and runs the per-input work (JSON parsing, tokenizing, image
 * decoding). Embedding work is queued to the chosen model's batcher thread
 * (one per model, so a slow model never holds up another) that coalesces
 * inputs from concurrent requests into model batches; a request waiting for
 * its vectors is suspended, so it holds no thread. The server is not part of
 * libsail: it prints a log line per request and handles signals. */
#ifndef SAIL_SERVER_IMPL_H
#define SAIL_SERVER_IMPL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>

#include "sail.h"
#include "sail_server.h"

enum { PATH_MAX_LEN = 4096 };
/* The options (sail_server_options) and sail_serve are public:
 * include/sail_server.h. */

/* ------------------------------------------------------------- metrics -- */

typedef enum srv_endpoint {
    EP_EMBEDDINGS, EP_SEARCH, EP_ITEMS_ADD, EP_ITEMS_DELETE, EP_ITEM_IMAGE,
    EP_HEALTHZ, EP_METRICS, EP_PAGE, EP_MODELS, EP_MODEL, EP_OTHER, EP_COUNT
} srv_endpoint;

typedef struct srv_metrics srv_metrics;

/* Counters for n_models models named names[i] (copied; the label model="..."
 * of the per-model series). */
srv_metrics *srv_metrics_new(int n_models, const char *const *names);
void srv_metrics_free(srv_metrics *mx);
/* Why a request ended without a response. */
typedef enum srv_abort {
    ABORT_CLIENT_CLOSED, ABORT_TIMEOUT, ABORT_SHUTDOWN, ABORT_ERROR, ABORT_COUNT
} srv_abort;

/* One answered request: endpoint, HTTP status, seconds since its header. */
void srv_metrics_request(srv_metrics *mx, srv_endpoint ep, int status, double seconds);
/* One request that ended before a response was queued. */
void srv_metrics_aborted(srv_metrics *mx, srv_endpoint ep, srv_abort why);
/* One answered request that was served by model `slot` (embeddings,
 * search, items add). */
void srv_metrics_model_request(srv_metrics *mx, int slot, srv_endpoint ep, int status);
/* One batch of n inputs run by model `slot`. */
void srv_metrics_batch(srv_metrics *mx, int slot, int n);
/* Prometheus text exposition (malloc-ed); the gauges are passed in: depths
 * (n_models) inputs waiting per model, dims (n_models) each model's output
 * dimension. */
char *srv_metrics_render(srv_metrics *mx, const int *depths, const int *dims, int64_t index_items,
                         int in_flight);

/* ------------------------------------------------------------- batcher -- */

/* JOB_ITEM: a clip with a text and/or an image, embedded whole by
 * sail_embed_item (one at a time: such items are rare, and the engine takes
 * them as raw parts). */
typedef enum srv_job_kind { JOB_TEXT, JOB_IMAGE, JOB_JOINT, JOB_AUDIO, JOB_ITEM } srv_job_kind;

/* A set of jobs (one request's inputs); done(ud) runs on the batcher thread
 * once every job of the group has its vector or its error. */
typedef struct srv_group {
    int pending;
    void (*done)(void *ud);
    void *ud;
} srv_group;

/* One input to embed. The submitter fills kind, dim, ids/n_ids and chw, and
 * keeps the job alive until its group is done. */
typedef struct srv_job {
    srv_job_kind kind;
    int dim;                    /* output dimension (Matryoshka prefix) */
    int32_t *ids;               /* (n_ids) [CLS]..[SEP], owned by the submitter */
    int n_ids;
    float *chw;                 /* (3, s, s) preprocessed image, owned by the submitter */
    uint8_t *audio;             /* an encoded clip (audio and item jobs), owned by the submitter */
    size_t audio_len;
    char *text;                 /* item jobs: the text (NUL-terminated) or NULL, owned by the submitter */
    uint8_t *image;             /* item jobs: the encoded image or NULL, owned by the submitter */
    size_t image_len;
    float *out;                 /* (dim) the vector, allocated by the submitter */
    sail_status status;         /* set by the batcher */
    char msg[512];
    srv_group *group;
    struct srv_job *next;       /* queue link */
    double enqueued;            /* monotonic seconds */
} srv_job;

typedef struct srv_batcher srv_batcher;

/* A batcher thread over model m; its batches are counted for model `slot`. */
srv_batcher *srv_batcher_new(sail_model *m, int slot, int max_batch, int wait_ms, srv_metrics *mx);
/* Queue n jobs (all of one group, whose pending must be n). */
void srv_batcher_submit(srv_batcher *b, srv_job *jobs, int n);
int srv_batcher_depth(srv_batcher *b);
/* Runs every queued job, then stops the thread and frees b. */
void srv_batcher_free(srv_batcher *b);

/* -------------------------------------------------------------- server -- */

/* One served model. */
typedef struct srv_model {
    char name[SAIL_SERVER_MODEL_NAME_MAX]; /* what requests name it by (valid UTF-8) */
    const char *path;
    sail_model *m;
    int slot;                   /* its place in srv_server.models (metrics) */
    int dim, context, image_side;
    int modalities;             /* sail_model_modalities */
    int64_t created;            /* the file's modification time (Unix seconds) */
    srv_batcher *batcher;       /* NULL once shutdown has drained it (under submit_lock) */
} srv_model;

typedef struct srv_server {
    sail_server_options cfg;
    srv_model models[SAIL_SERVER_MAX_MODELS]; /* (n_models) models[0] is the default */
    int n_models;
    int strict_models;          /* a request's "model" must name one (404 otherwise);
                                 * 0 with one plain --model path: any name is echoed */
    srv_model *ix_model;        /* the model the index is used with */
    pthread_mutex_t submit_lock;
    srv_metrics *mx;
    struct sail_index *index;   /* NULL without --index */
    int index_dim;              /* its vectors' dimension (<= ix_model->dim: a Matryoshka prefix) */
    int index_remote;           /* a redis:// index: items need ids; no image files here */
    char image_dir[PATH_MAX_LEN]; /* where images added over HTTP are stored ("" when remote) */
    pthread_mutex_t ids_lock;   /* next_id */
    uint64_t next_id;           /* for items added without an id */
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;       /* in_flight, stopping */
    pthread_cond_t idle;
    int in_flight;
    int stopping;
} srv_server;

typedef struct srv_request srv_request;
typedef struct srv_inputs srv_inputs;
typedef enum MHD_Result (*srv_handler)(srv_request *r);

/* One HTTP request. Route handlers run on an HTTP thread once the body is
 * complete; a handler that queued jobs sets `resume` and calls
 * srv_request_suspend, and `resume` runs once the jobs are done. */
struct srv_request {
    srv_server *srv;
    struct MHD_Connection *conn;
    srv_endpoint ep;
    srv_model *model;           /* the model the route chose (per-model metrics); NULL: none */
    const char *method, *url;
    double t0;
    char *body;                 /* (len) the request body, NUL-terminated */
    size_t len, cap;
    int too_big, started, suspended;
    int oom;                    /* the body could not be held: answered 503 at its end */
    int status;                 /* HTTP status sent (for metrics and the log); 0: none */
    int abort_why;              /* 1 + srv_abort when the handler gave up (no response) */
    srv_handler resume;
    json_t *doc;                /* the parsed body (srv_route_state): inputs point into it */
    srv_inputs *in;             /* the route's inputs to embed, freed with the request */
    void *state;                /* a route's own data, freed by free_state (NULL: sail_free) */
    void (*free_state)(void *state);
    srv_group group;
};

/* respond.c. Every send falls back to srv_send_oom when its response
 * cannot be built, so a request is answered even out of memory.
 * Send doc as JSON (doc's reference is taken; NULL: the 503). */
enum MHD_Result srv_send_json(srv_request *r, int status, json_t *doc);
/* Send text (malloc-ed; ownership is taken) with its content type. */
enum MHD_Result srv_send_text(srv_request *r, int status, const char *content_type, char *text);
/* Replace the bytes of ill-formed UTF-8 in s (in place) by '?': a JSON
 * string must be valid UTF-8 or no response can be built. */
void srv_utf8_clean(char *s);
/* Send an OpenAI-style error: {"error": {"message", "type", "param", "code"}}.
 * type is derived from status (invalid_request_error, authentication_error,
 * server_error...). param and code may be NULL. */
enum MHD_Result srv_send_error(srv_request *r, int status, const char *param, const char *code,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
enum MHD_Result srv_send_bytes(srv_request *r, int status, const char *content_type,
                               const void *data, size_t len, int copy);
/* jansson allocates through sail_malloc, a failure noted per thread
 * (srv_open calls srv_json_init; srv_on_request resets the note at each
 * call): while one is noted, every JSON response is the 503, and a body
 * that jansson could not parse is not blamed on the client. */
void srv_json_init(void);
void srv_json_reset(void);
/* json_dumps (malloc-ed text), or NULL when a jansson allocation failed
 * since the last srv_json_reset on this thread. */
char *srv_json_dumps(const json_t *doc, size_t flags);
/* A fixed 503 JSON error ("out of memory") that needs no allocation of ours. */
enum MHD_Result srv_send_oom(struct MHD_Connection *conn);
/* Parse the body as a JSON object; on failure sends the 400 and returns NULL
 * with *ret set. */
json_t *srv_parse_body(srv_request *r, enum MHD_Result *ret);
/* The start of a route that keeps state while it is suspended: the body
 * parsed (*doc, also r->doc) and a zeroed state of size bytes attached to
 * r; the request releases both, and r->in, when it ends (the state by
 * free_state, NULL: sail_free). NULL with *ret set (the 400 or 503 sent). */
void *srv_route_state(srv_request *r, size_t size, void (*free_state)(void *), json_t **doc,
                      enum MHD_Result *ret);
/* What a request holds when it ends: its state, parsed body and inputs
 * (not r->body, nor r itself). */
void srv_request_release(srv_request *r);
/* Queue r->group's jobs to model m's batcher (r->group.pending set by the
 * caller) and suspend the connection until they are done; r->resume then
 * builds the response. */
enum MHD_Result srv_submit_and_suspend(srv_request *r, srv_model *m, srv_job *jobs, int n);

/* Decode RFC 4648 base64 (padding optional, no whitespace); returns the
 * decoded length or -1 on a bad character or length. out holds 3*len/4+3. */
long srv_base64_decode(const char *in, size_t len, uint8_t *out);
/* Encode len bytes; returns a malloc-ed NUL-terminated string. */
char *srv_base64_encode(const uint8_t *in, size_t len);

/* A request's inputs on their way through the batcher (inputs.c). */
struct srv_inputs {
    srv_model *model;           /* the model that tokenizes, preprocesses and embeds them */
    srv_job *jobs;              /* (n) */
    int n, dim;
    int tokens;                 /* text tokens after truncation (usage) */
};

srv_inputs *srv_inputs_new(int n, int dim, srv_model *model);
void srv_inputs_free(srv_inputs *in);
/* Prepare input i from a text (len bytes; NULL = none) and/or an image data
 * URL (NULL = none). param names the input in error messages ("input[3]").
 * Returns 0, or sends a 4xx/5xx (its result in *ret) and returns -1. */
int srv_input_set(srv_request *r, srv_inputs *in, int i, const char *text, size_t tlen,
                  const char *image_url, const char *param, enum MHD_Result *ret);
/* The same from an OpenAI input item: a string or a list of content parts. */
int srv_input_item(srv_request *r, srv_inputs *in, int i, json_t *item, const char *param,
                   enum MHD_Result *ret);

/* What job j embeds, for payloads: "text", "image", "image+text", "audio",
 * or an item's parts joined by '+' ("text+audio", ...). */
const char *srv_job_modality(const srv_job *j);

/* The 400/500 for the first job of in that failed in the engine. */
enum MHD_Result srv_send_job_error(srv_request *r, const srv_inputs *in);

/* The served model called name, or NULL. */
srv_model *srv_find_model(srv_server *s, const char *name);

/* Routes. */
enum MHD_Result srv_route_embeddings(srv_request *r);
enum MHD_Result srv_route_models(srv_request *r);  /* GET /v1/models */
enum MHD_Result srv_route_model(srv_request *r);   /* GET /v1/models/{id} */
enum MHD_Result srv_route_page(srv_request *r);
enum MHD_Result srv_route_search(srv_request *r);
enum MHD_Result srv_route_items_add(srv_request *r);
enum MHD_Result srv_route_items_delete(srv_request *r);
enum MHD_Result srv_route_item_image(srv_request *r);

/* The optional index (routes_index.c): opened from cfg.index_path, closed
 * (flushed) at shutdown; items is -1 without an index. */
sail_status srv_index_open(srv_server *s, sail_error *err);
sail_status srv_index_close(srv_server *s, sail_error *err);
int64_t srv_index_items(srv_server *s);

/* Start-up short of the daemon (http.c): s->cfg set and the rest zeroed,
 * loads the models, makes the metrics, opens the index and starts one
 * batcher per model. Returns 0, or an exit status after printing why;
 * srv_close undoes what was done either way. */
int srv_open(srv_server *s);
/* Runs the queued jobs, stops the batchers, closes (snapshots) the index
 * and frees the models; returns 0, or 1 after printing why the index could
 * not be closed. */
int srv_close(srv_server *s);
/* The libmicrohttpd access handler and completion callback (cls is the
 * srv_server); tests/test_faults_server.c calls them as the daemon does,
 * without sockets. */
enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls);
void srv_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode why);

#endif
