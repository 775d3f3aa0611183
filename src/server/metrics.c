/* metrics.c: counters and histograms for GET /metrics in the Prometheus
 * text exposition format (version 0.0.4): requests by endpoint and status,
 * requests that ended without a response by endpoint and reason, request
 * latency by endpoint, model batch sizes, plus gauges the caller passes in
 * (queue depth, requests in flight, items in the index). The batch and
 * queue series exist once over all models and once per model (the
 * sail_model_* families, labelled model="NAME"), with the requests each
 * model served. */
#include "common.h"
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ep_names[EP_COUNT] = {
    "/v1/embeddings", "/v1/search", "POST /v1/items", "DELETE /v1/items", "/v1/items/image",
    "/healthz", "/metrics", "/", "/v1/models", "/v1/models/{id}", "other"};

static const char *const abort_names[ABORT_COUNT] = {"client_closed", "timeout", "shutdown", "error"};

static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25, 0.5, 1, 2.5, 5, 10};
enum { N_LAT = sizeof lat_bounds / sizeof *lat_bounds };
static const int batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
enum { N_BATCH = sizeof batch_bounds / sizeof *batch_bounds, N_STATUS = 600 };

/* The endpoints that run a model: their per-model counters. */
enum { N_MODEL_EP = 3 };
static const srv_endpoint model_eps[N_MODEL_EP] = {EP_EMBEDDINGS, EP_SEARCH, EP_ITEMS_ADD};

struct srv_metrics {
    int n_models;
    char names[SAIL_SERVER_MAX_MODELS][2 * SAIL_SERVER_MODEL_NAME_MAX]; /* label values, escaped */
    uint64_t model_requests[SAIL_SERVER_MAX_MODELS][N_MODEL_EP][N_STATUS];
    uint64_t model_batch[SAIL_SERVER_MAX_MODELS][N_BATCH + 1];
    uint64_t model_batch_inputs[SAIL_SERVER_MAX_MODELS];
    pthread_mutex_t lock;
    uint64_t requests[EP_COUNT][N_STATUS];
    uint64_t aborted[EP_COUNT][ABORT_COUNT];
    uint64_t lat[EP_COUNT][N_LAT + 1];      /* per bucket, +Inf last */
    double lat_sum[EP_COUNT];
    uint64_t batch[N_BATCH + 1];
    uint64_t batch_inputs;
};

/* A label value as Prometheus writes it: backslash, quote and newline
 * escaped. */
static void label_value(char *out, size_t cap, const char *v) {
    size_t o = 0;
    for (; *v && o + 3 < cap; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') out[o++] = '\\';
        out[o++] = *v == '\n' ? 'n' : *v;
    }
    out[o] = 0;
}

srv_metrics *srv_metrics_new(int n_models, const char *const *names) {
    if (n_models < 1 || n_models > SAIL_SERVER_MAX_MODELS) return NULL;
    srv_metrics *mx = sail_calloc(1, sizeof *mx);
    if (!mx) return NULL;
    pthread_mutex_init(&mx->lock, NULL);
    mx->n_models = n_models;
    for (int i = 0; i < n_models; i++) label_value(mx->names[i], sizeof mx->names[i], names[i]);
    return mx;
}

void srv_metrics_free(srv_metrics *mx) {
    if (!mx) return;
    pthread_mutex_destroy(&mx->lock);
    sail_free(mx);
}

void srv_metrics_request(srv_metrics *mx, srv_endpoint ep, int status, double seconds) {
    if (ep < 0 || ep >= EP_COUNT) ep = EP_OTHER;
    if (status < 0 || status >= N_STATUS) status = 0;
    int k = 0;
    while (k < N_LAT && seconds > lat_bounds[k]) k++;
    pthread_mutex_lock(&mx->lock);
    mx->requests[ep][status]++;
    mx->lat[ep][k]++;
    mx->lat_sum[ep] += seconds;
    pthread_mutex_unlock(&mx->lock);
}

void srv_metrics_aborted(srv_metrics *mx, srv_endpoint ep, srv_abort why) {
    if (ep < 0 || ep >= EP_COUNT) ep = EP_OTHER;
    if (why < 0 || why >= ABORT_COUNT) why = ABORT_ERROR;
    pthread_mutex_lock(&mx->lock);
    mx->aborted[ep][why]++;
    pthread_mutex_unlock(&mx->lock);
}

void srv_metrics_model_request(srv_metrics *mx, int slot, srv_endpoint ep, int status) {
    int e = 0;
    while (e < N_MODEL_EP && model_eps[e] != ep) e++;
    if (slot < 0 || slot >= mx->n_models || e == N_MODEL_EP) return;
    if (status < 0 || status >= N_STATUS) status = 0;
    pthread_mutex_lock(&mx->lock);
    mx->model_requests[slot][e][status]++;
    pthread_mutex_unlock(&mx->lock);
}

void srv_metrics_batch(srv_metrics *mx, int slot, int n) {
    int k = 0;
    while (k < N_BATCH && n > batch_bounds[k]) k++;
    pthread_mutex_lock(&mx->lock);
    mx->batch[k]++;
    mx->batch_inputs += (uint64_t)n;
    if (slot >= 0 && slot < mx->n_models) {
        mx->model_batch[slot][k]++;
        mx->model_batch_inputs[slot] += (uint64_t)n;
    }
    pthread_mutex_unlock(&mx->lock);
}

typedef struct buf { char *p; size_t n, cap; int oom; } buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    for (;;) {
        if (b->oom) return;
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t cap = b->cap * 2 + (size_t)k;
        char *p = sail_realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
}

char *srv_metrics_render(srv_metrics *mx, const int *depths, const int *dims, int64_t index_items,
                         int in_flight) {
    buf b = {sail_malloc(8192), 0, 8192, 0};
    if (!b.p) return NULL;
    int queue_depth = 0;
    for (int m = 0; m < mx->n_models; m++) queue_depth += depths[m];
    pthread_mutex_lock(&mx->lock);
    put(&b, "# HELP sail_http_requests_total HTTP requests by endpoint and status.\n"
            "# TYPE sail_http_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int s = 0; s < N_STATUS; s++)
            if (mx->requests[e][s])
                put(&b, "sail_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", ep_names[e], s,
                    (unsigned long long)mx->requests[e][s]);
    put(&b, "# HELP sail_http_requests_aborted_total Requests that ended without a response, by endpoint and "
            "reason (client_closed, timeout, shutdown, error).\n"
            "# TYPE sail_http_requests_aborted_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int k = 0; k < ABORT_COUNT; k++)
            if (mx->aborted[e][k])
                put(&b, "sail_http_requests_aborted_total{endpoint=\"%s\",reason=\"%s\"} %llu\n", ep_names[e],
                    abort_names[k], (unsigned long long)mx->aborted[e][k]);
    put(&b, "# HELP sail_http_request_duration_seconds Time from a request's first byte to its response.\n"
            "# TYPE sail_http_request_duration_seconds histogram\n");
    for (int e = 0; e < EP_COUNT; e++) {
        uint64_t cum = 0;
        for (int k = 0; k <= N_LAT; k++) cum += mx->lat[e][k];
        if (!cum) continue;
        cum = 0;
        for (int k = 0; k < N_LAT; k++) {
            cum += mx->lat[e][k];
            put(&b, "sail_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", ep_names[e],
                lat_bounds[k], (unsigned long long)cum);
        }
        cum += mx->lat[e][N_LAT];
        put(&b, "sail_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", ep_names[e],
            (unsigned long long)cum);
        put(&b, "sail_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", ep_names[e], mx->lat_sum[e]);
        put(&b, "sail_http_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep_names[e],
            (unsigned long long)cum);
    }
    put(&b, "# HELP sail_batch_size Inputs per model batch.\n# TYPE sail_batch_size histogram\n");
    uint64_t cum = 0;
    for (int k = 0; k < N_BATCH; k++) {
        cum += mx->batch[k];
        put(&b, "sail_batch_size_bucket{le=\"%d\"} %llu\n", batch_bounds[k], (unsigned long long)cum);
    }
    cum += mx->batch[N_BATCH];
    put(&b, "sail_batch_size_bucket{le=\"+Inf\"} %llu\nsail_batch_size_sum %llu\nsail_batch_size_count %llu\n",
        (unsigned long long)cum, (unsigned long long)mx->batch_inputs, (unsigned long long)cum);
    put(&b, "# HELP sail_model_batch_size Inputs per batch of each model.\n"
            "# TYPE sail_model_batch_size histogram\n");
    for (int m = 0; m < mx->n_models; m++) {
        const char *name = mx->names[m];
        cum = 0;
        for (int k = 0; k < N_BATCH; k++) {
            cum += mx->model_batch[m][k];
            put(&b, "sail_model_batch_size_bucket{model=\"%s\",le=\"%d\"} %llu\n", name, batch_bounds[k],
                (unsigned long long)cum);
        }
        cum += mx->model_batch[m][N_BATCH];
        put(&b, "sail_model_batch_size_bucket{model=\"%s\",le=\"+Inf\"} %llu\n"
                "sail_model_batch_size_sum{model=\"%s\"} %llu\nsail_model_batch_size_count{model=\"%s\"} %llu\n",
            name, (unsigned long long)cum, name, (unsigned long long)mx->model_batch_inputs[m], name,
            (unsigned long long)cum);
    }
    put(&b, "# HELP sail_model_requests_total Answered requests each model served, by endpoint and status.\n"
            "# TYPE sail_model_requests_total counter\n");
    for (int m = 0; m < mx->n_models; m++)
        for (int e = 0; e < N_MODEL_EP; e++)
            for (int s = 0; s < N_STATUS; s++)
                if (mx->model_requests[m][e][s])
                    put(&b, "sail_model_requests_total{model=\"%s\",endpoint=\"%s\",status=\"%d\"} %llu\n",
                        mx->names[m], ep_names[model_eps[e]], s, (unsigned long long)mx->model_requests[m][e][s]);
    pthread_mutex_unlock(&mx->lock);
    put(&b, "# HELP sail_model_info The served models (value 1), with their output dimension.\n"
            "# TYPE sail_model_info gauge\n");
    for (int m = 0; m < mx->n_models; m++)
        put(&b, "sail_model_info{model=\"%s\",dim=\"%d\"} 1\n", mx->names[m], dims[m]);
    put(&b, "# HELP sail_model_queue_depth Inputs waiting for a batch of each model.\n"
            "# TYPE sail_model_queue_depth gauge\n");
    for (int m = 0; m < mx->n_models; m++)
        put(&b, "sail_model_queue_depth{model=\"%s\"} %d\n", mx->names[m], depths[m]);
    put(&b, "# HELP sail_queue_depth Inputs waiting for a model batch.\n# TYPE sail_queue_depth gauge\n"
            "sail_queue_depth %d\n", queue_depth);
    put(&b, "# HELP sail_requests_in_flight Requests received and not yet answered.\n"
            "# TYPE sail_requests_in_flight gauge\nsail_requests_in_flight %d\n", in_flight);
    if (index_items >= 0)
        put(&b, "# HELP sail_index_items Items in the vector index.\n# TYPE sail_index_items gauge\n"
                "sail_index_items %lld\n", (long long)index_items);
    if (b.oom) {
        sail_free(b.p);
        return NULL;
    }
    return b.p;
}
