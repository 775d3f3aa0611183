/* batcher.c: dynamic batching, one batcher per served model. Jobs from
 * concurrent requests wait in the model's FIFO; a single thread takes up to max_batch of them once the batch is full
 * or the oldest job has waited wait_ms, splits them into homogeneous groups
 * (texts, images, joint inputs, audio clips; one output dimension each) and runs each
 * group as one model call (items with a clip and more: one call each). While a batch runs, new jobs pile up, so under
 * load batches fill without waiting. The engine guarantees that an input's
 * vector does not depend on its batch companions. */
#include "common.h"
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_batcher {
    sail_model *m;
    srv_metrics *mx;
    int slot;                   /* the model's place in the server (metrics) */
    int max_batch, wait_ms, side;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    srv_job *head, *tail;
    srv_job **batch;            /* (max_batch) the jobs being run */
    int depth, stop;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fail_all(srv_job **jobs, int n, sail_status s, const char *msg) {
    for (int i = 0; i < n; i++) {
        jobs[i]->status = s;
        snprintf(jobs[i]->msg, sizeof jobs[i]->msg, "%s", msg);
    }
}

/* Audio clips: decoded and embedded by the engine in one call. */
static void run_audio(srv_batcher *b, srv_job **jobs, int n, int dim) {
    float *out = sail_malloc((size_t)n * dim * sizeof(float));
    const void **data = sail_calloc((size_t)n, sizeof *data);
    size_t *sizes = sail_calloc((size_t)n, sizeof *sizes);
    sail_error err = {0};
    if (!out || !data || !sizes) fail_all(jobs, n, SAIL_ERR_NOMEM, "out of memory for a batch");
    else {
        for (int i = 0; i < n; i++) {
            data[i] = jobs[i]->audio;
            sizes[i] = jobs[i]->audio_len;
        }
        /* one bad clip fails the call: then each clip alone, so it fails only its own request */
        if (sail_embed_audio_bytes(b->m, data, sizes, n, dim, out, &err) == SAIL_OK)
            for (int i = 0; i < n; i++) memcpy(jobs[i]->out, out + (size_t)i * dim, (size_t)dim * sizeof(float));
        else
            for (int i = 0; i < n; i++) {
                sail_status s = sail_embed_audio_bytes(b->m, data + i, sizes + i, 1, dim, jobs[i]->out, &err);
                if (s) fail_all(jobs + i, 1, s, err.msg);
            }
    }
    sail_free(out);
    sail_free(data);
    sail_free(sizes);
}

/* Items with a clip: one sail_embed_item call each. */
static void run_items(srv_batcher *b, srv_job **jobs, int n, int dim) {
    for (int i = 0; i < n; i++) {
        const srv_job *j = jobs[i];
        sail_item it = {.text = j->text, .image_data = j->image, .image_size = j->image_len,
                        .audio_data = j->audio, .audio_size = j->audio_len};
        sail_error err = {0};
        sail_status s = sail_embed_item(b->m, &it, dim, jobs[i]->out, &err);
        if (s) fail_all(jobs + i, 1, s, err.msg);
    }
}

/* One model call for n jobs of the same kind and dimension. */
static void run_group(srv_batcher *b, srv_job **jobs, int n) {
    srv_job_kind kind = jobs[0]->kind;
    int dim = jobs[0]->dim;
    size_t per = (size_t)3 * b->side * b->side, n_ids = 0;
    for (int i = 0; i < n; i++) n_ids += (size_t)jobs[i]->n_ids;
    if (kind == JOB_AUDIO || kind == JOB_ITEM) {
        (kind == JOB_AUDIO ? run_audio : run_items)(b, jobs, n, dim);
        return;
    }
    float *out = sail_malloc((size_t)n * dim * sizeof(float));
    int32_t *ids = kind != JOB_IMAGE ? sail_malloc((n_ids ? n_ids : 1) * sizeof *ids) : NULL;
    int *lens = kind != JOB_IMAGE ? sail_malloc((size_t)n * sizeof *lens) : NULL;
    float *chw = kind != JOB_TEXT ? sail_malloc((size_t)n * per * sizeof(float)) : NULL;
    if (!out || (kind != JOB_IMAGE && (!ids || !lens)) || (kind != JOB_TEXT && !chw)) {
        fail_all(jobs, n, SAIL_ERR_NOMEM, "out of memory for a batch");
        goto done;
    }
    for (int i = 0, at = 0; i < n; i++) {
        if (ids) {
            memcpy(ids + at, jobs[i]->ids, (size_t)jobs[i]->n_ids * sizeof *ids);
            lens[i] = jobs[i]->n_ids;
            at += jobs[i]->n_ids;
        }
        if (chw) memcpy(chw + (size_t)i * per, jobs[i]->chw, per * sizeof(float));
    }
    sail_error err = {0};
    sail_status s;
    if (kind == JOB_TEXT) s = sail_embed_tokens(b->m, ids, lens, n, dim, out, &err);
    else if (kind == JOB_IMAGE) s = sail_embed_image_tensors(b->m, chw, n, b->side, b->side, dim, out, &err);
    else s = sail_embed_joint_tensors(b->m, ids, lens, chw, n, dim, out, &err);
    if (s) fail_all(jobs, n, s, err.msg);
    else
        for (int i = 0; i < n; i++) memcpy(jobs[i]->out, out + (size_t)i * dim, (size_t)dim * sizeof(float));
done:
    sail_free(out);
    sail_free(ids);
    sail_free(lens);
    sail_free(chw);
}

/* Runs a taken batch: groups by (kind, dim) in arrival order. */
static void run_batch(srv_batcher *b, srv_job **batch, int n) {
    srv_job **group = sail_malloc((size_t)n * sizeof *group);
    char *used = sail_calloc((size_t)n, 1);
    if (!group || !used) {
        fail_all(batch, n, SAIL_ERR_NOMEM, "out of memory for a batch");
    } else {
        for (int i = 0; i < n; i++) {
            if (used[i]) continue;
            int k = 0;
            for (int j = i; j < n; j++)
                if (!used[j] && batch[j]->kind == batch[i]->kind && batch[j]->dim == batch[i]->dim) {
                    group[k++] = batch[j];
                    used[j] = 1;
                }
            run_group(b, group, k);
        }
    }
    sail_free(group);
    sail_free(used);
    srv_metrics_batch(b->mx, b->slot, n);
}

static void *loop(void *arg) {
    srv_batcher *b = arg;
    srv_job **batch = b->batch;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stop) pthread_cond_wait(&b->cond, &b->lock);
        if (!b->head) break;
        /* Wait for the batch to fill, at most until the oldest job's deadline. */
        double deadline = b->head->enqueued + b->wait_ms * 1e-3;
        while (b->depth < b->max_batch && !b->stop) {
            double left = deadline - now_s();
            if (left <= 0) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long ns = ts.tv_nsec + (long)(left * 1e9);
            ts.tv_sec += ns / 1000000000L;
            ts.tv_nsec = ns % 1000000000L;
            if (pthread_cond_timedwait(&b->cond, &b->lock, &ts) == ETIMEDOUT) break;
        }
        int n = 0;
        while (b->head && n < b->max_batch) {
            batch[n++] = b->head;
            b->head = b->head->next;
        }
        if (!b->head) b->tail = NULL;
        b->depth -= n;
        pthread_mutex_unlock(&b->lock);
        run_batch(b, batch, n);
        for (int i = 0; i < n; i++) {
            srv_group *g = batch[i]->group;
            if (--g->pending == 0) g->done(g->ud);
        }
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

srv_batcher *srv_batcher_new(sail_model *m, int slot, int max_batch, int wait_ms, srv_metrics *mx) {
    srv_batcher *b = sail_calloc(1, sizeof *b);
    if (!b) return NULL;
    b->m = m;
    b->slot = slot;
    b->mx = mx;
    b->max_batch = max_batch;
    b->wait_ms = wait_ms;
    b->side = sail_model_image_size(m);
    b->batch = sail_malloc((size_t)max_batch * sizeof *b->batch);
    if (!b->batch) {
        sail_free(b);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    if (pthread_create(&b->thread, NULL, loop, b)) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        sail_free(b->batch);
        sail_free(b);
        return NULL;
    }
    return b;
}

void srv_batcher_submit(srv_batcher *b, srv_job *jobs, int n) {
    double t = now_s();
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < n; i++) {
        jobs[i].enqueued = t;
        jobs[i].next = NULL;
        if (b->tail) b->tail->next = &jobs[i];
        else b->head = &jobs[i];
        b->tail = &jobs[i];
    }
    b->depth += n;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

int srv_batcher_depth(srv_batcher *b) {
    pthread_mutex_lock(&b->lock);
    int d = b->depth;
    pthread_mutex_unlock(&b->lock);
    return d;
}

void srv_batcher_free(srv_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    sail_free(b->batch);
    sail_free(b);
}
