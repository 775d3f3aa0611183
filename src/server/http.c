/* http.c: the libmicrohttpd side of `sail serve`: start-up (the models,
 * each with its batcher; connection limits fitted to the descriptor limit,
 * optional TLS), the access handler
 * (header and body timeouts, body limits, API key, routing), per-request
 * logging and metrics, and the graceful shutdown on SIGTERM/SIGINT. The
 * responses and the suspend/resume around the batcher, which the routes
 * use too, are in respond.c. */
#include "common.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- routing -- */

static srv_endpoint classify(const char *method, const char *url) {
    if (!strcmp(url, "/v1/embeddings")) return EP_EMBEDDINGS;
    if (!strcmp(url, "/v1/search")) return EP_SEARCH;
    if (!strcmp(url, "/v1/items")) return EP_ITEMS_ADD;
    if (!strncmp(url, "/v1/items/", 10)) {
        size_t n = strlen(url);
        if (n > 16 && !strcmp(url + n - 6, "/image")) return EP_ITEM_IMAGE;
        return EP_ITEMS_DELETE;
    }
    if (!strcmp(url, "/v1/models")) return EP_MODELS;
    if (!strncmp(url, "/v1/models/", 11)) return EP_MODEL;
    if (!strcmp(url, "/healthz")) return EP_HEALTHZ;
    if (!strcmp(url, "/metrics")) return EP_METRICS;
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return EP_PAGE;
    (void)method;
    return EP_OTHER;
}

static const char *const ep_method[EP_COUNT] = {"POST", "POST", "POST", "DELETE", "GET",
                                                "GET", "GET", "GET", "GET", "GET", NULL};

/* Constant-time comparison of the presented key with the configured one:
 * the time depends only on the configured key's length. */
static int key_ok(const char *given, const char *key) {
    size_t kl = strlen(key), gl = given ? strlen(given) : 0;
    unsigned diff = (unsigned)(gl != kl);
    for (size_t i = 0; i < kl; i++) diff |= (unsigned char)(i < gl ? given[i] : 0) ^ (unsigned char)key[i];
    return given && diff == 0;
}

/* The credentials of 'Authorization: Bearer TOKEN', or NULL for another
 * scheme; the scheme is case-insensitive (RFC 7235 section 2.1). */
static const char *bearer_token(const char *h) {
    if (strncasecmp(h, "Bearer", 6) || h[6] != ' ') return NULL;
    h += 6;
    while (*h == ' ') h++;
    return h;
}

/* What a model embeds, as names: ["text", "image", "audio"] or a part. */
static json_t *modality_names(int mask) {
    static const char *const names[] = {"text", "image", "audio"};
    json_t *a = json_array();
    for (int i = 0; a && i < 3; i++)
        if (mask & (1 << i)) json_array_append_new(a, json_string(names[i]));
    return a;
}

/* The page asks here what it can offer: "modalities" of the default model
 * (/v1/embeddings without "model") and of the index's (/v1/search). */
static enum MHD_Result route_healthz(srv_request *r) {
    srv_server *s = r->srv;
    json_t *names = json_array();
    for (int i = 0; names && i < s->n_models; i++) json_array_append_new(names, json_string(s->models[i].name));
    json_t *doc = names ? json_pack("{s:s, s:s, s:i, s:o, s:I, s:o, s:o*}", "status", s->stopping ? "stopping" : "ok",
                                    "model", s->models[0].name, "dim", s->models[0].dim, "models", names,
                                    "index_items", (json_int_t)srv_index_items(s),
                                    "modalities", modality_names(s->models[0].modalities), "index_modalities",
                                    s->ix_model ? modality_names(s->ix_model->modalities) : NULL)
                        : NULL;
    if (!doc) return srv_send_error(r, 503, NULL, NULL, "out of memory");
    return srv_send_json(r, s->stopping ? 503 : 200, doc);
}

static enum MHD_Result route_metrics(srv_request *r) {
    srv_server *s = r->srv;
    pthread_mutex_lock(&s->lock);
    int in_flight = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    int depths[SAIL_SERVER_MAX_MODELS], dims[SAIL_SERVER_MAX_MODELS];
    pthread_mutex_lock(&s->submit_lock);
    for (int i = 0; i < s->n_models; i++) {
        depths[i] = s->models[i].batcher ? srv_batcher_depth(s->models[i].batcher) : 0;
        dims[i] = s->models[i].dim;
    }
    pthread_mutex_unlock(&s->submit_lock);
    char *text = srv_metrics_render(s->mx, depths, dims, srv_index_items(s), in_flight);
    if (!text) return srv_send_error(r, 500, NULL, NULL, "out of memory rendering metrics");
    return srv_send_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

static enum MHD_Result dispatch(srv_request *r) {
    srv_server *s = r->srv;
    if (r->ep == EP_OTHER)
        return srv_send_error(r, 404, NULL, "not_found", "Unknown path %s %s.", r->method, r->url);
    if (strcmp(r->method, ep_method[r->ep]))
        return srv_send_error(r, 405, NULL, "method_not_allowed", "%s %s is not supported; use %s.",
                              r->method, r->url, ep_method[r->ep]);
    int needs_key = s->cfg.api_key && r->ep != EP_PAGE && r->ep != EP_HEALTHZ;
    if (needs_key) {
        const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!h)
            return srv_send_error(r, 401, NULL, "invalid_api_key",
                                  "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.");
        if (!key_ok(bearer_token(h), s->cfg.api_key))
            return srv_send_error(r, 401, NULL, "invalid_api_key", "Incorrect API key provided.");
    }
    switch (r->ep) {
    case EP_EMBEDDINGS: return srv_route_embeddings(r);
    case EP_SEARCH: return srv_route_search(r);
    case EP_ITEMS_ADD: return srv_route_items_add(r);
    case EP_ITEMS_DELETE: return srv_route_items_delete(r);
    case EP_ITEM_IMAGE: return srv_route_item_image(r);
    case EP_HEALTHZ: return route_healthz(r);
    case EP_METRICS: return route_metrics(r);
    case EP_PAGE: return srv_route_page(r);
    case EP_MODELS: return srv_route_models(r);
    case EP_MODEL: return srv_route_model(r);
    default: return srv_send_error(r, 404, NULL, "not_found", "Unknown path.");
    }
}

/* A connection's request when its srv_request could not be allocated. */
static char no_request;

enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    srv_server *s = cls;
    srv_request *r = *con_cls;
    srv_json_reset();
    if ((void *)r == &no_request) { /* answered 503 already: the body is dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r) {
        r = sail_calloc(1, sizeof *r);
        if (!r) {
            *con_cls = &no_request;
            srv_metrics_request(s->mx, classify(method, url), 503, 0);
            return srv_send_oom(conn);
        }
        r->srv = s;
        r->conn = conn;
        r->url = url;
        r->method = method;
        r->t0 = now_s();
        r->ep = classify(method, url);
        *con_cls = r;
        pthread_mutex_lock(&s->lock);
        s->in_flight++;
        pthread_mutex_unlock(&s->lock);
        /* The header is complete: from here the request's own (longer)
         * timeout applies; srv_on_completed restores the header timeout. */
        if (s->cfg.timeout_s != s->cfg.header_timeout_s)
            MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)s->cfg.timeout_s);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            r->started = 1;
            return srv_send_error(r, 413, NULL, "request_too_large",
                                  "The request body is %s bytes; the limit is %zu (--max-body).", cl,
                                  s->cfg.max_body);
        }
        return MHD_YES;
    }
    if (r->suspended) {
        r->suspended = 0;
        return r->resume(r);
    }
    if (*upload_size) {
        /* libmicrohttpd cannot answer before the body is read: an oversized
         * body is discarded and answered at its end; one that takes longer
         * than the timeout closes the connection. */
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->started) return MHD_YES;
        if (now_s() - r->t0 > s->cfg.timeout_s) {
            r->abort_why = 1 + ABORT_TIMEOUT;
            return MHD_NO;
        }
        if (r->too_big || r->len + n > s->cfg.max_body) {
            r->too_big = 1;
            return MHD_YES;
        }
        if (r->oom) return MHD_YES;
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap * 2 > r->len + n + 1 ? r->cap * 2 : r->len + n + 1;
            char *p = sail_realloc(r->body, cap);
            if (!p) {
                r->oom = 1;
                return MHD_YES;
            }
            r->body = p;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        r->body[r->len] = 0;
        return MHD_YES;
    }
    if (r->started) return MHD_YES;
    r->started = 1;
    (void)version;
    if (r->too_big)
        return srv_send_error(r, 413, NULL, "request_too_large",
                              "The request body is over the limit of %zu bytes (--max-body).", s->cfg.max_body);
    if (r->oom)
        return srv_send_error(r, 503, NULL, NULL, "out of memory holding the request body (%zu bytes and more)",
                              r->len);
    return dispatch(r);
}

void srv_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode why) {
    srv_server *s = cls;
    srv_request *r = *con_cls;
    if (!r || (void *)r == &no_request) {
        *con_cls = NULL;
        return;
    }
    double dt = now_s() - r->t0;
    /* No response was queued: the client went away, a timeout or shutdown
     * closed the connection, or the handler gave up. These are not HTTP
     * statuses, so they are counted apart (sail_http_requests_aborted_total). */
    static const char *const abort_log[ABORT_COUNT] = {"closed by the client", "timed out",
                                                       "closed at shutdown", "failed"};
    srv_abort why_abort = ABORT_ERROR;
    if (r->abort_why) why_abort = (srv_abort)(r->abort_why - 1);
    else if (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) why_abort = ABORT_TIMEOUT;
    else if (why == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN) why_abort = ABORT_SHUTDOWN;
    else if (why == MHD_REQUEST_TERMINATED_READ_ERROR || why == MHD_REQUEST_TERMINATED_CLIENT_ABORT)
        why_abort = ABORT_CLIENT_CLOSED;
    if (r->status) srv_metrics_request(s->mx, r->ep, r->status, dt);
    if (r->status && r->model) srv_metrics_model_request(s->mx, r->model->slot, r->ep, r->status);
    else srv_metrics_aborted(s->mx, r->ep, why_abort);
    if (!s->cfg.quiet) {
        /* The path is the client's: control bytes would forge log lines. */
        char url[160];
        size_t k = 0;
        for (const char *p = r->url; *p && k + 1 < sizeof url; p++)
            url[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
        url[k] = 0;
        if (r->status)
            fprintf(stderr, "%s %s %d %.1f ms%s\n", r->method, url, r->status, dt * 1e3,
                    why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
        else
            fprintf(stderr, "%s %s - %.1f ms (no response: %s)\n", r->method, url, dt * 1e3, abort_log[why_abort]);
    }
    /* The connection may carry another request: until its header is
     * complete, the header timeout applies again. */
    if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK && s->cfg.timeout_s != s->cfg.header_timeout_s)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)s->cfg.header_timeout_s);
    srv_request_release(r);
    sail_free(r->body);
    sail_free(r);
    *con_cls = NULL;
    pthread_mutex_lock(&s->lock);
    if (--s->in_flight == 0) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ start/stop -- */

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* libmicrohttpd's messages, prefixed, at most LOG_PER_S lines a second (a
 * flood of refused connections logs one line each); the first one is kept:
 * when start-up fails, it is the cause. */
enum { LOG_PER_S = 20 };
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_log[256];

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    static time_t second;
    static int shown, dropped;
    char msg[sizeof first_log];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&log_lock);
    if (now != second) {
        if (dropped) fprintf(stderr, "sail serve: libmicrohttpd: (%d more messages not shown)\n", dropped);
        second = now;
        shown = dropped = 0;
    }
    if (shown++ < LOG_PER_S) fprintf(stderr, "sail serve: libmicrohttpd: %s\n", msg);
    else dropped++;
    if (!first_log[0]) memcpy(first_log, msg, sizeof msg);
    pthread_mutex_unlock(&log_lock);
    (void)cls;
}

/* Every connection holds a descriptor: a limit above RLIMIT_NOFILE makes
 * accept() fail instead of refusing cleanly. Raises the soft limit towards
 * the hard one when needed; returns the connection limit that fits, or 0. */
static int fit_fd_limit(int want, int http_threads) {
    /* model, index and image files, each HTTP thread's epoll and wake-up
     * descriptors, stdio */
    rlim_t reserve = 64 + 4 * (rlim_t)http_threads, need = (rlim_t)want + reserve;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return want;
    struct rlimit up = {rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max, rl.rlim_max};
    if (up.rlim_cur > rl.rlim_cur && !setrlimit(RLIMIT_NOFILE, &up)) rl = up;
    if (rl.rlim_cur >= need) return want;
    int fit = rl.rlim_cur > reserve ? (int)(rl.rlim_cur - reserve) : 0;
    if (fit)
        fprintf(stderr, "sail serve: --max-connections %d lowered to %d: the file-descriptor limit (ulimit -n) is "
                "%llu and %llu are kept for files and threads\n", want, fit, (unsigned long long)rl.rlim_cur,
                (unsigned long long)reserve);
    else
        fprintf(stderr, "sail serve: the file-descriptor limit (ulimit -n) is %llu; the server needs more than %llu "
                "(raise it with ulimit -n)\n", (unsigned long long)rl.rlim_cur, (unsigned long long)reserve);
    return fit;
}

/* A PEM file for --tls-cert/--tls-key, NUL-terminated (malloc-ed), or NULL
 * after printing why. */
static char *read_pem(const char *opt, const char *path) {
    enum { PEM_MAX = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sail serve: %s %s: %s\n", opt, path, strerror(errno));
        return NULL;
    }
    char *p = sail_malloc(PEM_MAX + 1);
    size_t n = p ? fread(p, 1, PEM_MAX + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (!p || rerr || n > PEM_MAX || !memmem(p, n, "-----BEGIN ", 11)) {
        fprintf(stderr, "sail serve: %s %s: %s\n", opt, path,
                !p ? "out of memory" : rerr ? "read error" : n > PEM_MAX ? "over 1 MiB; not a PEM file"
                : "not PEM (no '-----BEGIN' line); give a PEM certificate and its unencrypted PEM private key");
        sail_free(p);
        return NULL;
    }
    p[n] = 0;
    return p;
}

/* Loads every --model (names checked: unique, at most
 * SAIL_SERVER_MODEL_NAME_MAX-1 bytes) and picks the index's model. Returns 0, or an exit status after
 * printing why. Each model is its own sail_model (its own mmap of the file,
 * even when two names give one path). */
static int load_models(srv_server *s, const sail_server_options *cfg) {
    sail_load_options lo = {.n_threads = cfg->threads};
    for (int i = 0; i < cfg->n_models; i++) {
        const sail_server_model *sp = &cfg->models[i];
        srv_model *m = &s->models[i];
        const char *name = sp->name ? sp->name : base_name(sp->path);
        if (!*name || strlen(name) >= sizeof m->name) {
            fprintf(stderr, "sail serve: --model %s: a model name is 1 to %d bytes ('%s')\n", sp->path,
                    (int)sizeof m->name - 1, name);
            return 2;
        }
        memcpy(m->name, name, strlen(name) + 1);
        srv_utf8_clean(m->name); /* it goes into JSON */
        for (int k = 0; k < i; k++)
            if (!strcmp(s->models[k].name, m->name)) {
                fprintf(stderr, "sail serve: two --model options are named '%s' (%s and %s); name them with "
                        "--model NAME=PATH\n", m->name, s->models[k].path, sp->path);
                return 2;
            }
        sail_error err = {0};
        m->path = sp->path;
        m->slot = i;
        m->m = sail_model_load(sp->path, &lo, &err);
        if (!m->m) {
            fprintf(stderr, "sail serve: %s\n", err.msg);
            return 1;
        }
        s->n_models = i + 1;
        m->dim = sail_model_dim(m->m);
        m->context = sail_model_text_context(m->m);
        m->image_side = sail_model_image_size(m->m);
        m->modalities = sail_model_modalities(m->m);
        struct stat sb;
        m->created = stat(sp->path, &sb) ? 0 : (int64_t)sb.st_mtime;
    }
    s->strict_models = cfg->n_models > 1 || cfg->models[0].name;
    s->ix_model = cfg->index_model ? srv_find_model(s, cfg->index_model) : &s->models[0];
    if (!s->ix_model) {
        fprintf(stderr, "sail serve: --index-model %s: no --model has that name (served:", cfg->index_model);
        for (int i = 0; i < s->n_models; i++) fprintf(stderr, "%s %s", i ? "," : "", s->models[i].name);
        fprintf(stderr, ")\n");
        return 2;
    }
    return 0;
}

/* Runs every queued job, then stops each model's batcher; a request
 * submitted from here on is answered 503 (srv_submit_and_suspend). */
static void drain_batchers(srv_server *s) {
    for (int i = 0; i < s->n_models; i++) {
        pthread_mutex_lock(&s->submit_lock);
        srv_batcher *b = s->models[i].batcher;
        s->models[i].batcher = NULL;
        pthread_mutex_unlock(&s->submit_lock);
        srv_batcher_free(b);
    }
}

int srv_open(srv_server *s) {
    const sail_server_options *cfg = &s->cfg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->ids_lock, NULL);
    pthread_mutex_init(&s->submit_lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    /* jansson's allocations are the server's too: one allocator, so the
     * fault walk (tests/test_faults_server.c) reaches them */
    srv_json_init();
    if (cfg->n_models < 1 || cfg->n_models > SAIL_SERVER_MAX_MODELS) {
        fprintf(stderr, "sail serve: give 1 to %d --model options\n", SAIL_SERVER_MAX_MODELS);
        return 2;
    }
    int rc = load_models(s, cfg);
    if (rc) return rc;
    const char *names[SAIL_SERVER_MAX_MODELS];
    for (int i = 0; i < s->n_models; i++) names[i] = s->models[i].name;
    s->mx = srv_metrics_new(s->n_models, names);
    if (!s->mx) {
        fprintf(stderr, "sail serve: out of memory for the metrics\n");
        return 1;
    }
    sail_error err = {0};
    if (srv_index_open(s, &err)) {
        fprintf(stderr, "sail serve: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < s->n_models; i++) {
        s->models[i].batcher = srv_batcher_new(s->models[i].m, i, cfg->max_batch, cfg->batch_wait_ms, s->mx);
        if (!s->models[i].batcher) {
            fprintf(stderr, "sail serve: cannot start the batcher of model %s (out of memory or threads)\n",
                    s->models[i].name);
            return 1;
        }
    }
    return 0;
}

int srv_close(srv_server *s) {
    int rc = 0;
    drain_batchers(s);
    sail_error err = {0};
    if (srv_index_close(s, &err)) {
        fprintf(stderr, "sail serve: %s\n", err.msg);
        rc = 1;
    }
    srv_metrics_free(s->mx);
    s->mx = NULL;
    for (int i = 0; i < s->n_models; i++) sail_model_free(s->models[i].m);
    s->n_models = 0;
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->ids_lock);
    pthread_mutex_destroy(&s->submit_lock);
    pthread_cond_destroy(&s->idle);
    return rc;
}

int sail_serve(const sail_server_options *cfg) {
    srv_server s = {.cfg = *cfg};
    char *tls_cert = NULL, *tls_key = NULL;
    if (s.cfg.header_timeout_s > s.cfg.timeout_s) s.cfg.header_timeout_s = s.cfg.timeout_s;
    s.cfg.max_connections = fit_fd_limit(cfg->max_connections, cfg->http_threads);
    if (!s.cfg.max_connections) return 1;
    union { struct sockaddr sa; struct sockaddr_in v4; struct sockaddr_in6 v6; } addr = {0};
    if (inet_pton(AF_INET, cfg->host, &addr.v4.sin_addr) == 1) {
        addr.v4.sin_family = AF_INET;
        addr.v4.sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &addr.v6.sin6_addr) == 1) {
        addr.v6.sin6_family = AF_INET6;
        addr.v6.sin6_port = htons((uint16_t)cfg->port);
    } else {
        fprintf(stderr, "sail serve: --host '%s' is not an IPv4 or IPv6 address\n", cfg->host);
        return 2;
    }
    if (cfg->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "sail serve: --tls-cert: this libmicrohttpd was built without TLS (GnuTLS); install "
                    "one with HTTPS support (Debian's libmicrohttpd12 has it) or put a TLS proxy in front\n");
            return 1;
        }
        tls_cert = read_pem("--tls-cert", cfg->tls_cert);
        tls_key = tls_cert ? read_pem("--tls-key", cfg->tls_key) : NULL;
        if (!tls_key) {
            sail_free(tls_cert);
            return 1;
        }
    }
    int rc = srv_open(&s);
    if (rc) goto out;
    rc = 1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (addr.sa.sa_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (tls_cert ? MHD_USE_TLS : 0);
    /* The daemon-wide timeout is the header timeout: srv_on_request
     * lengthens it to --timeout once a request's header is complete. */
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key},
                                   {MHD_OPTION_END, 0, NULL}};
    errno = 0;
    s.daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, srv_on_request, &s,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                MHD_OPTION_SOCK_ADDR, &addr.sa,
                                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s.cfg.header_timeout_s,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)s.cfg.max_connections,
                                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
                                MHD_OPTION_NOTIFY_COMPLETED, srv_on_completed, &s,
                                MHD_OPTION_ARRAY, tls_cert ? tls : tls + 2,
                                MHD_OPTION_END);
    if (!s.daemon) {
        pthread_mutex_lock(&log_lock);
        fprintf(stderr, "sail serve: cannot start the server on %s port %d: %s", cfg->host, cfg->port,
                first_log[0] ? first_log : strerror(errno));
        if (tls_cert)
            fprintf(stderr, " (--tls-cert %s, --tls-key %s: a PEM certificate (chain) and its unencrypted PEM "
                    "private key)", cfg->tls_cert, cfg->tls_key);
        fputc('\n', stderr);
        pthread_mutex_unlock(&log_lock);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
    char what[1024];
    size_t at = 0;
    for (int i = 0; i < s.n_models && at < sizeof what; i++)
        at += (size_t)snprintf(what + at, sizeof what - at, "%smodel %s, dim %d", i ? "; " : "", s.models[i].name,
                               s.models[i].dim);
    if (at < sizeof what) {
        if (cfg->index_path)
            snprintf(what + at, sizeof what - at, "; index %s with model %s", cfg->index_path, s.ix_model->name);
        else
            snprintf(what + at, sizeof what - at, "; no index");
    }
    fprintf(stderr, "sail serve: listening on %s://%s%s%s:%u (%s)\n", tls_cert ? "https" : "http",
            addr.sa.sa_family == AF_INET6 ? "[" : "", cfg->host, addr.sa.sa_family == AF_INET6 ? "]" : "",
            di ? di->port : (unsigned)cfg->port, what);
    fflush(stderr);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig)) {}
    fprintf(stderr, "sail serve: %s: finishing requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* Stop accepting, let every request already received finish, then stop. */
    pthread_mutex_lock(&s.lock);
    s.stopping = 1;
    pthread_mutex_unlock(&s.lock);
    int lfd = MHD_quiesce_daemon(s.daemon);
    if (lfd >= 0) close(lfd);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += cfg->timeout_s;
    pthread_mutex_lock(&s.lock);
    while (s.in_flight > 0)
        if (pthread_cond_timedwait(&s.idle, &s.lock, &dl) == ETIMEDOUT) break;
    int left = s.in_flight;
    pthread_mutex_unlock(&s.lock);
    if (left) fprintf(stderr, "sail serve: %d requests still open after %d s; closing them\n", left, cfg->timeout_s);
    /* Queued jobs run (and resume their connections) before the daemon goes. */
    drain_batchers(&s);
    MHD_stop_daemon(s.daemon);
    rc = 0;
out:
    if (srv_close(&s) && !rc) rc = 1;
    sail_free(tls_cert);
    sail_free(tls_key);
    if (!rc) fprintf(stderr, "sail serve: stopped\n");
    return rc;
}
