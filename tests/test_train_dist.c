/* test_train_dist.c: the fixed-order gradient sum of src/train/dist.h,
 * without MPI: N threads play N ranks over an in-process transport (the
 * same two byte-moving calls the sail program makes over MPI). For awkward
 * block sizes, 2 and 3 ranks and steps of several rounds in which some
 * ranks have no micro-batch, every rank's summed gradient, loss, pair
 * count and stop flag must equal bit for bit the sum written out here in
 * micro-batch order (g_0 + g_1 + ... over the micro-batches that had
 * pairs), which is also what one process computes. The gradients span
 * many magnitudes, so another order of additions would give other bits
 * (checked). sail_plan_rank deals a plan's batches round-robin. */
#include "test.h"
#include "train/dist.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

enum { MAX_RANKS = 3, MAX_ROUNDS = 3 };

/* The in-process transport: each rank publishes its buffer, all wait, each
 * copies what it needs, all wait again. */
typedef struct hub {
    pthread_barrier_t bar;
    const void *slot[MAX_RANKS];
} hub;

typedef struct peer { hub *h; int rank, size; } peer;

static int hub_allgather(void *ctx, const void *send, void *recv, size_t bytes) {
    peer *p = ctx;
    p->h->slot[p->rank] = send;
    pthread_barrier_wait(&p->h->bar);
    for (int q = 0; q < p->size; q++) memcpy((char *)recv + (size_t)q * bytes, p->h->slot[q], bytes);
    pthread_barrier_wait(&p->h->bar);
    return 0;
}

static int hub_alltoall(void *ctx, const void *send, void *recv, size_t bytes) {
    peer *p = ctx;
    p->h->slot[p->rank] = send;
    pthread_barrier_wait(&p->h->bar);
    for (int q = 0; q < p->size; q++)
        memcpy((char *)recv + (size_t)q * bytes, (const char *)p->h->slot[q] + (size_t)p->rank * bytes, bytes);
    pthread_barrier_wait(&p->h->bar);
    return 0;
}

/* One step's micro-batches: m = round * size + rank, of `count` in all. */
typedef struct step_data {
    size_t n;
    int size, count;
    float *g[MAX_RANKS * MAX_ROUNDS];   /* (n) each */
    int has[MAX_RANKS * MAX_ROUNDS];    /* 0: fewer than 2 pairs, no gradient */
    double loss[MAX_RANKS * MAX_ROUNDS];
    int pairs[MAX_RANKS * MAX_ROUNDS];
    int stop_at;                        /* micro-batch whose rank asks to stop; -1 none */
} step_data;

typedef struct result {
    float *g;       /* (n) the summed gradient, copied out */
    int have;
    double loss, pairs;
    int stop, status;
} result;

typedef struct job { peer p; const step_data *d; result *out; } job;

/* What a rank (or, comm NULL, one process over all micro-batches) does. */
static void run_step(const sail_train_comm *comm, int rank, int size, const step_data *d, result *out) {
    sail_accum a;
    sail_error err = {0};
    out->status = sail_accum_init(&a, comm, d->n, &err);
    if (out->status) return;
    float *zero = calloc(d->n, sizeof(float));
    for (int rep = 0; rep < 2 && !out->status; rep++) { /* a second step reuses the buffers */
        sail_accum_begin(&a);
        for (int j = 0; !out->status && j * size < d->count; j++) {
            int m = j * size + rank, mine = m < d->count;
            if (!comm) { /* one process: every micro-batch of the round, in order */
                for (int q = 0; q < size && j * size + q < d->count; q++) {
                    int k = j * size + q;
                    out->status = sail_accum_round(&a, d->has[k] ? d->g[k] : zero, d->has[k], d->loss[k],
                                                   d->pairs[k], k == d->stop_at, &err);
                }
                continue;
            }
            out->status = sail_accum_round(&a, mine && d->has[m] ? d->g[m] : zero, mine && d->has[m],
                                           mine ? d->loss[m] : 0, mine ? d->pairs[m] : 0, m == d->stop_at, &err);
        }
        float *g;
        if (!out->status) out->status = sail_accum_finish(&a, &g, &err);
        if (!out->status) {
            memcpy(out->g, g, d->n * sizeof(float));
            out->have = a.have;
            out->loss = a.loss;
            out->pairs = a.pairs;
            out->stop = a.stop;
        }
    }
    free(zero);
    sail_accum_free(&a);
}

static void *rank_main(void *arg) {
    job *j = arg;
    sail_train_comm comm = {j->p.rank, j->p.size, &j->p, hub_allgather, hub_alltoall};
    run_step(&comm, j->p.rank, j->p.size, j->d, j->out);
    return NULL;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double uniform(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void one_case(size_t n, int size, int count, int skip) {
    step_data d = {.n = n, .size = size, .count = count, .stop_at = count > 1 ? count - 2 : -1};
    for (int k = 0; k < count; k++) {
        d.g[k] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) /* signs and magnitudes from 1e-6 to 1e6 */
            d.g[k][i] = (float)((uniform() - 0.5) * pow(10.0, 12.0 * uniform() - 6.0));
        d.has[k] = k != skip;
        d.loss[k] = 1.0 + uniform();
        d.pairs[k] = 2 + k;
    }
    /* the reference: micro-batch order, written out */
    float *ref = calloc(n, sizeof(float)), *rev = calloc(n, sizeof(float));
    int first = 1, have = 0, pairs = 0;
    double loss = 0;
    for (int k = 0; k < count; k++) {
        if (!d.has[k]) continue;
        for (size_t i = 0; i < n; i++) ref[i] = first ? d.g[k][i] : ref[i] + d.g[k][i];
        first = 0;
        have++;
        loss += d.loss[k];
        pairs += d.pairs[k];
    }
    for (int k = count - 1, f = 1; k >= 0; k--) /* the same micro-batches, summed backwards */
        if (d.has[k]) {
            for (size_t i = 0; i < n; i++) rev[i] = f ? d.g[k][i] : rev[i] + d.g[k][i];
            f = 0;
        }
    result alone = {.g = malloc(n * sizeof(float))}, res[MAX_RANKS];
    run_step(NULL, 0, size, &d, &alone);
    hub h;
    pthread_barrier_init(&h.bar, NULL, (unsigned)size);
    job jobs[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < size; r++) {
        res[r] = (result){.g = malloc(n * sizeof(float))};
        jobs[r] = (job){{&h, r, size}, &d, &res[r]};
        pthread_create(&th[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&h.bar);

    int ok_alone = !alone.status && alone.have == have && alone.loss == loss && alone.pairs == pairs &&
                   alone.stop == (d.stop_at >= 0) && !memcmp(alone.g, ref, n * sizeof(float));
    CHECK(ok_alone, "n %zu, %d micro-batches%s: one process sums them in order, bit for bit", n, count,
          skip >= 0 ? " (one without pairs)" : "");
    for (int r = 0; r < size; r++) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += memcmp(&res[r].g[i], &ref[i], sizeof(float)) != 0;
        CHECK(!res[r].status && !bad && res[r].have == have && res[r].loss == loss && res[r].pairs == pairs &&
              res[r].stop == (d.stop_at >= 0),
              "n %zu, %d ranks, %d micro-batches: rank %d's sum, loss, pairs and stop equal one process's "
              "(%zu of %zu floats differ)", n, size, count, r, bad, n);
        free(res[r].g);
    }
    if (n > 1000 && have > 2) {
        size_t differ = 0;
        for (size_t i = 0; i < n; i++) differ += memcmp(&rev[i], &ref[i], sizeof(float)) != 0;
        CHECK(differ > 0, "n %zu: summing the same micro-batches in reverse changes %zu floats (the order "
              "is what the check above pins)", n, differ);
    }
    for (int k = 0; k < count; k++) free(d.g[k]);
    free(alone.g);
    free(ref);
    free(rev);
}

static void plan_case(void) {
    /* 7 batches of lengths 1..7 over items 0..27 */
    int32_t order[28], bounds[8] = {0};
    for (int i = 0; i < 28; i++) order[i] = 27 - i;
    for (int b = 0; b < 7; b++) bounds[b + 1] = bounds[b] + b + 1;
    sail_plan p = {order, 28, bounds, 7};
    for (int size = 1; size <= 3; size++)
        for (int rank = 0; rank < size; rank++) {
            sail_plan out = {0};
            sail_error err = {0};
            int ok = !sail_plan_rank(&p, rank, size, &out, &err);
            int nb = 0;
            for (int b = rank; ok && b < 7; b += size, nb++) {
                int len = bounds[b + 1] - bounds[b];
                ok = nb < out.n_batches && out.bounds[nb + 1] - out.bounds[nb] == len &&
                     !memcmp(out.order + out.bounds[nb], order + bounds[b], (size_t)len * sizeof *order);
            }
            CHECK(ok && out.n_batches == nb && out.bounds[0] == 0 && out.n == out.bounds[nb],
                  "sail_plan_rank %d of %d: batches %d, %d + %d, ... of the plan, nothing else", rank, size, rank,
                  rank, size);
            sail_plan_free(&out);
        }
}

int main(void) {
    const size_t sizes[] = {1, 17, 100003};
    for (int s = 0; s < 3; s++)
        for (int size = 2; size <= MAX_RANKS; size++) {
            one_case(sizes[s], size, size, -1);                 /* one round */
            one_case(sizes[s], size, 2 * size + 1, size);       /* rounds, a short last one, a skip */
        }
    plan_case();
    return test_done();
}
