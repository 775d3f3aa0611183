/* metrics.c: counters and histograms for GET /metrics in the Prometheus
 * text exposition format (version 0.0.4): requests by endpoint and status,
 * requests that ended without a response by endpoint and reason, request
 * latency by endpoint, model batch sizes, plus gauges the caller passes in
 * (queue depth, requests in flight, items in the index). */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ep_names[EP_COUNT] = {
    "/v1/embeddings", "/v1/search", "POST /v1/items", "DELETE /v1/items", "/v1/items/image",
    "/healthz", "/metrics", "/", "other"};

static const char *const abort_names[ABORT_COUNT] = {"client_closed", "timeout", "shutdown", "error"};

static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25, 0.5, 1, 2.5, 5, 10};
enum { N_LAT = sizeof lat_bounds / sizeof *lat_bounds };
static const int batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
enum { N_BATCH = sizeof batch_bounds / sizeof *batch_bounds, N_STATUS = 600 };

struct srv_metrics {
    pthread_mutex_t lock;
    uint64_t requests[EP_COUNT][N_STATUS];
    uint64_t aborted[EP_COUNT][ABORT_COUNT];
    uint64_t lat[EP_COUNT][N_LAT + 1];      /* per bucket, +Inf last */
    double lat_sum[EP_COUNT];
    uint64_t batch[N_BATCH + 1];
    uint64_t batch_inputs;
};

srv_metrics *srv_metrics_new(void) {
    srv_metrics *mx = calloc(1, sizeof *mx);
    if (mx) pthread_mutex_init(&mx->lock, NULL);
    return mx;
}

void srv_metrics_free(srv_metrics *mx) {
    if (!mx) return;
    pthread_mutex_destroy(&mx->lock);
    free(mx);
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

void srv_metrics_batch(srv_metrics *mx, int n) {
    int k = 0;
    while (k < N_BATCH && n > batch_bounds[k]) k++;
    pthread_mutex_lock(&mx->lock);
    mx->batch[k]++;
    mx->batch_inputs += (uint64_t)n;
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
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
}

char *srv_metrics_render(srv_metrics *mx, int queue_depth, int64_t index_items, int in_flight) {
    buf b = {malloc(8192), 0, 8192, 0};
    if (!b.p) return NULL;
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
    pthread_mutex_unlock(&mx->lock);
    put(&b, "# HELP sail_queue_depth Inputs waiting for a model batch.\n# TYPE sail_queue_depth gauge\n"
            "sail_queue_depth %d\n", queue_depth);
    put(&b, "# HELP sail_requests_in_flight Requests received and not yet answered.\n"
            "# TYPE sail_requests_in_flight gauge\nsail_requests_in_flight %d\n", in_flight);
    if (index_items >= 0)
        put(&b, "# HELP sail_index_items Items in the vector index.\n# TYPE sail_index_items gauge\n"
                "sail_index_items %lld\n", (long long)index_items);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
