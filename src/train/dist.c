/* dist.c: the fixed-order gradient sum of a step, in one process or over
 * the ranks of a data-parallel run (see dist.h). */
#include "dist.h"

#include <string.h>

/* One rank's part of a round, as every rank receives it. */
typedef struct round_meta {
    int32_t has, pairs, stop, pad;
    double loss;
} round_meta;

static void add_into(float *restrict dst, const float *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* sum (+)= g: the first micro-batch of a step is copied, later ones added. */
static void accumulate(sail_accum *a, float *sum, const float *g, size_t n) {
    if (a->have++) add_into(sum, g, n);
    else memcpy(sum, g, n * sizeof(float));
}

sail_status sail_accum_init(sail_accum *a, const sail_train_comm *comm, size_t n, sail_error *err) {
    memset(a, 0, sizeof *a);
    a->comm = comm;
    a->rank = comm ? comm->rank : 0;
    a->size = comm ? comm->size : 1;
    a->n = n;
    a->chunk = (n + (size_t)a->size - 1) / (size_t)a->size;
    a->chunk = (a->chunk + 15) & ~(size_t)15; /* slices stay 64-byte aligned */
    size_t bytes = (size_t)a->size * a->chunk * sizeof(float);
    a->sum = sail_alloc_aligned(bytes);
    if (comm) {
        a->send = sail_alloc_aligned(bytes);
        a->recv = sail_alloc_aligned(bytes);
    }
    if (!a->sum || (comm && (!a->send || !a->recv))) {
        sail_accum_free(a);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for gradient accumulation (%zu floats)", n);
    }
    memset(a->sum, 0, bytes); /* the padding past n is sent, never read */
    if (comm) memset(a->send, 0, bytes);
    return SAIL_OK;
}

void sail_accum_free(sail_accum *a) {
    sail_free(a->sum);
    sail_free(a->send);
    sail_free(a->recv);
    memset(a, 0, sizeof *a);
}

void sail_accum_begin(sail_accum *a) {
    a->have = 0;
    a->loss = a->pairs = 0;
    a->stop = 0;
}

static sail_status comm_failed(sail_error *err, const char *what) {
    return sail_set_error(err, SAIL_ERR_IO, "data-parallel training: the %s between ranks failed", what);
}

sail_status sail_accum_round(sail_accum *a, const float *g, int has, double loss, int pairs, int stop,
                             sail_error *err) {
    if (!a->comm) {
        if (has) {
            accumulate(a, a->sum, g, a->n);
            a->loss += loss;
            a->pairs += pairs;
        }
        a->stop |= stop;
        return SAIL_OK;
    }
    enum { MAX_STACK = 64 };
    round_meta mine = {has != 0, has ? pairs : 0, stop != 0, 0, has ? loss : 0}, stack[MAX_STACK];
    round_meta *all = a->size <= MAX_STACK ? stack : sail_malloc((size_t)a->size * sizeof *all);
    if (!all) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_status s = SAIL_OK;
    int any = 0;
    if (a->comm->allgather(a->comm->ctx, &mine, all, sizeof mine)) s = comm_failed(err, "exchange of losses");
    for (int q = 0; !s && q < a->size; q++) any |= all[q].has;
    if (!s && any) {
        if (has) memcpy(a->send, g, a->n * sizeof(float));
        if (a->comm->alltoall(a->comm->ctx, a->send, a->recv, a->chunk * sizeof(float)))
            s = comm_failed(err, "exchange of gradients");
    }
    /* this rank's slice: every rank's contribution, in rank order */
    float *own = a->sum + (size_t)a->rank * a->chunk;
    for (int q = 0; !s && q < a->size; q++) {
        if (all[q].has) {
            accumulate(a, own, a->recv + (size_t)q * a->chunk, a->chunk);
            a->loss += all[q].loss;
            a->pairs += all[q].pairs;
        }
        a->stop |= all[q].stop;
    }
    if (all != stack) sail_free(all);
    return s;
}

sail_status sail_accum_finish(sail_accum *a, float **g, sail_error *err) {
    if (!a->have) /* no micro-batch had pairs: the step sees zero gradients */
        memset(a->sum, 0, (size_t)a->size * a->chunk * sizeof(float));
    else if (a->comm) {
        if (a->comm->allgather(a->comm->ctx, a->sum + (size_t)a->rank * a->chunk, a->send,
                               a->chunk * sizeof(float)))
            return comm_failed(err, "gathering of the summed gradients");
        float *t = a->sum; /* the gathered block becomes the sum */
        a->sum = a->send;
        a->send = t;
    }
    *g = a->sum;
    return SAIL_OK;
}

sail_status sail_plan_rank(const sail_plan *p, int rank, int size, sail_plan *out, sail_error *err) {
    sail_plan_free(out);
    int nb = rank < p->n_batches ? (p->n_batches - rank + size - 1) / size : 0, n = 0;
    for (int i = 0; i < nb; i++) {
        int b = rank + i * size;
        n += p->bounds[b + 1] - p->bounds[b];
    }
    out->order = sail_malloc((size_t)(n ? n : 1) * sizeof *out->order);
    out->bounds = sail_malloc((size_t)(nb + 1) * sizeof *out->bounds);
    if (!out->order || !out->bounds) {
        sail_plan_free(out);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for this rank's batches");
    }
    out->bounds[0] = 0;
    for (int i = 0; i < nb; i++) {
        int b = rank + i * size, len = p->bounds[b + 1] - p->bounds[b];
        memcpy(out->order + out->n, p->order + p->bounds[b], (size_t)len * sizeof *out->order);
        out->n += len;
        out->bounds[++out->n_batches] = out->n;
    }
    return SAIL_OK;
}
