/* sail_server.h: `sail serve` as a call: an HTTP server over one or several
 * models (and optionally one vector index) with OpenAI-style embeddings,
 * search, items, metrics and a demo page (docs/SERVER.md).
 *
 * A header of its own, apart from sail.h, because the server keeps another
 * contract: it is not part of libsail (it links libmicrohttpd, and is built
 * into the `sail` program from src/server/), it runs until a signal, it
 * prints a log line per request and its start-up errors on stderr, and it
 * answers with a process exit status rather than a sail_status. */
#ifndef SAIL_SERVER_H
#define SAIL_SERVER_H

#include "sail.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SAIL_SERVER_MAX_MODELS = 16, SAIL_SERVER_MODEL_NAME_MAX = 128 };

/* One served model: `name` (NULL: the file's base name) for the file `path`. */
typedef struct sail_server_model {
    const char *name, *path;
} sail_server_model;

typedef struct sail_server_options {
    sail_server_model models[SAIL_SERVER_MAX_MODELS]; /* (n_models) the first is the default */
    int n_models;
    const char *index_model;    /* the model --index is used with (NULL: the first) */
    const char *index_path, *host, *api_key;
    const char *tls_cert, *tls_key; /* PEM files; both set: HTTPS */
    int port;                   /* 0: any free port (printed at start) */
    int threads;                /* model compute threads, 0 = one per core */
    int http_threads;           /* libmicrohttpd polling threads */
    int max_batch;              /* inputs per model batch */
    int batch_wait_ms;          /* longest wait for a batch to fill */
    size_t max_body;            /* bytes of one request body */
    int max_inputs;             /* inputs in one request */
    int max_connections;        /* lowered to fit RLIMIT_NOFILE at start */
    int max_connections_per_ip; /* 0: no per-address limit */
    int timeout_s;              /* once a header is in: idle and whole-body limit */
    int header_timeout_s;       /* idle limit until a request header is complete */
    int64_t max_image_pixels;   /* decoded pixels of one image */
    int no_truncate;            /* refuse (400) texts over the context */
    int index_hnsw;             /* create the index as HNSW (default exact) */
    int quiet;                  /* no per-request log line */
} sail_server_options;

/* Serve until SIGTERM or SIGINT, then stop accepting, finish the requests in
 * flight and flush the index. Both signals must be blocked in the calling
 * thread before the call (pthread_sigmask), so that every thread the server
 * starts inherits the mask and the server alone waits for them (sigwait);
 * a caller also ignores SIGPIPE. Returns an exit status: 0 after a clean
 * shutdown, 1 when start-up failed, 2 for options it refuses (each said on
 * stderr). One server per process. */
int sail_serve(const sail_server_options *o);

#ifdef __cplusplus
}
#endif

#endif
