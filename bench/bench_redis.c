/* bench_redis.c: SAIL.SEARCH on one Redis node against sail's in-process
 * HNSW search of the same index, in one run (bench/run_redis.sh starts the
 * redis-server with the module, THREADS T, and passes its port).
 *
 *   bench_redis --port P [--threads T] [--n 50000] [--dim 128] [--queries 1000] [--reps 5]
 *
 * Both sides hold the same graph: clustered random vectors added one by
 * one in the same order with the same options (cosine, M 16,
 * ef_construction 100, seed 1, serial build), so each ef gives both the
 * same hits, hence the same recall@10 (checked: the ids must agree). Per ef
 * and repetition, interleaved, two pairs:
 *   latency: in-process, one query per call on one thread, against one
 *            Redis client sending one SAIL.SEARCH at a time (the loopback
 *            round trip and the hand-over to a module thread included);
 *   throughput: in-process, all queries in one call on T threads, against
 *            8 connections with one SAIL.SEARCH in flight each (Redis runs
 *            one command of a blocked client at a time, so pipelining on
 *            one connection does not overlap searches) to a server whose
 *            module runs T search threads.
 * and a third Redis pass, pipelined: one client sending a whole chunk of
 * SAIL.SEARCH commands before reading the replies (the round trip paid
 * once per chunk; the searches, which run one at a time on one connection,
 * do not overlap), against the in-process one-query-per-call rate.
 * Wall-clock rates, the passes taking turns on chunks of 100 queries;
 * medians over the repetitions, and the ratios. */
#include "sail.h"
#include "bench.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 10
#define CONNS 8
#define CHUNK 100
static const int EFS[] = {16, 32, 64, 128};
#define N_EF (int)(sizeof EFS / sizeof *EFS)

static double clock_s(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double uniform(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static float normal(void) { return (float)(sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform())); }

/* n vectors around 64 centres */
static float *clustered(int n, int d, const float *centres) {
    float *x = malloc((size_t)n * d * sizeof *x);
    for (int i = 0; i < n; i++) {
        const float *c = centres + (size_t)(uniform() * 64) * d;
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = c[j] + 0.6f * normal();
    }
    return x;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_redis: %s: %s\n", what, msg);
    exit(1);
}

static void append_search(redisContext *c, const float *q, int d, int ef) {
    char efs[16];
    snprintf(efs, sizeof efs, "%d", ef);
    const char *argv[] = {"SAIL.SEARCH", "bench", "VECTOR", (const char *)q, "10", "EF", efs, "NOPAYLOAD"};
    size_t lens[] = {11, 5, 6, (size_t)d * 4, 2, 2, strlen(efs), 9};
    redisAppendCommandArgv(c, 8, argv, lens);
}

/* One reply's ids into ids (K); the number of hits. */
static int reply_ids(redisContext *c, uint64_t *ids) {
    redisReply *r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) die("redis", c->errstr);
    if (r->type != REDIS_REPLY_ARRAY) die("SAIL.SEARCH", r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
    int n = (int)r->elements;
    for (int i = 0; i < n && i < K; i++) ids[i] = strtoull(r->element[i]->element[0]->str, NULL, 10);
    freeReplyObject(r);
    return n;
}

static void send_all(redisContext *c) {
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) die("redis", c->errstr);
}

/* Queries [c0, c1) on one connection, all sent before the first reply is read. */
static void pipelined(redisContext *c, const float *q, int c0, int c1, int d, int ef, uint64_t *rids) {
    for (int i = c0; i < c1; i++) append_search(c, q + (size_t)i * d, d, ef);
    for (int i = c0; i < c1; i++) {
        uint64_t *row = rids + (size_t)i * K;
        int got = reply_ids(c, row);
        for (int j = got; j < K; j++) row[j] = UINT64_MAX;
    }
}

/* Queries [c0, c1) over CONNS connections, one in flight on each. */
static void concurrent(redisContext **cs, const float *q, int c0, int c1, int d, int ef) {
    struct pollfd pf[CONNS];
    int sent = c0, got = c0;
    for (int i = 0; i < CONNS; i++) {
        pf[i] = (struct pollfd){.fd = cs[i]->fd, .events = POLLIN};
        if (sent < c1) {
            append_search(cs[i], q + (size_t)sent++ * d, d, ef);
            send_all(cs[i]);
        }
    }
    while (got < c1) {
        if (poll(pf, CONNS, 10000) <= 0) die("poll", "no reply in 10 s");
        for (int i = 0; i < CONNS; i++) {
            if (!(pf[i].revents & POLLIN)) continue;
            if (redisBufferRead(cs[i]) != REDIS_OK) die("redis", cs[i]->errstr);
            redisReply *r = NULL;
            while (redisGetReplyFromReader(cs[i], (void **)&r) == REDIS_OK && r) {
                if (r->type != REDIS_REPLY_ARRAY) die("SAIL.SEARCH", r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
                freeReplyObject(r);
                r = NULL;
                got++;
                if (sent < c1) {
                    append_search(cs[i], q + (size_t)sent++ * d, d, ef);
                    send_all(cs[i]);
                }
            }
        }
    }
}

int main(int argc, char **argv) {
    int port = 0, n = 50000, d = 128, nq = 1000, reps = 5, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) d = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) nq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    if (!port || n < K || d < 1 || nq < 1 || reps < 1) die("usage", "bench_redis --port P [--n N] [--dim D] [--queries Q] [--reps R]");
    float *centres = malloc((size_t)64 * d * sizeof *centres);
    for (int i = 0; i < 64 * d; i++) centres[i] = normal();
    float *x = clustered(n, d, centres), *q = clustered(nq, d, centres);

    sail_index_options o = {.dim = d, .metric = SAIL_METRIC_COSINE, .kind = SAIL_INDEX_HNSW, .M = 16,
                            .ef_construction = 100, .seed = 1, .n_threads = threads, .deterministic = 1};
    sail_error e = {0};
    sail_index *ix = sail_index_new(&o, &e);
    if (!ix) die("sail_index_new", e.msg);
    double t0 = clock_s(CLOCK_MONOTONIC);
    for (int i = 0; i < n; i++) {
        uint64_t id = (uint64_t)i;
        if (sail_index_add(ix, &id, x + (size_t)i * d, NULL, 1, &e)) die("add", e.msg);
    }
    double build_s = clock_s(CLOCK_MONOTONIC) - t0;

    redisContext *c = redisConnect("127.0.0.1", port), *conns[CONNS];
    if (!c || c->err) die("connect", c ? c->errstr : "no memory");
    for (int i = 0; i < CONNS; i++)
        if (!(conns[i] = redisConnect("127.0.0.1", port)) || conns[i]->err) die("connect", "a second connection");
    redisReply *r = redisCommand(c, "DEL bench");
    freeReplyObject(r);
    r = redisCommand(c, "SAIL.CREATE bench DIM %d METRIC cosine M 16 EF_CONSTRUCTION 100 SEED 1", d);
    if (!r || r->type == REDIS_REPLY_ERROR) die("SAIL.CREATE", r ? r->str : c->errstr);
    freeReplyObject(r);
    t0 = clock_s(CLOCK_MONOTONIC);
    for (int s = 0; s < n; s += 1000) {
        int m = n - s < 1000 ? n - s : 1000;
        for (int i = s; i < s + m; i++) {
            char id[24];
            snprintf(id, sizeof id, "%d", i);
            const char *av[] = {"SAIL.ADD", "bench", id, "VECTOR", (const char *)(x + (size_t)i * d)};
            size_t al[] = {8, 5, strlen(id), 6, (size_t)d * 4};
            redisAppendCommandArgv(c, 5, av, al);
        }
        for (int i = 0; i < m; i++) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR)
                die("SAIL.ADD", r ? r->str : c->errstr);
            freeReplyObject(r);
        }
    }
    double load_s = clock_s(CLOCK_MONOTONIC) - t0;
    printf("items %d dim %d queries %d: in-process build %.1f s, Redis load (pipelined SAIL.ADD) %.1f s\n", n, d, nq,
           build_s, load_s);

    /* exact top-10 of every query */
    sail_search_options ex = {.exact = 1, .no_payload = 1};
    sail_index_results *gt = NULL;
    if (sail_index_search(ix, q, nq, K, &ex, &gt, &e)) die("exact", e.msg);

    uint64_t *ids = malloc((size_t)nq * K * sizeof *ids), *rids = malloc((size_t)nq * K * sizeof *rids);
    double *w_in = malloc(reps * sizeof(double)), *w_b = malloc(reps * sizeof(double));
    double *w_1 = malloc(reps * sizeof(double)), *w_p = malloc(reps * sizeof(double));
    double *w_l = malloc(reps * sizeof(double));
    uint64_t *lids = malloc((size_t)nq * K * sizeof *lids);
    printf("%-4s %-7s | %12s %12s %7s | %14s %7s | %13s %14s %7s\n", "ef", "recall", "in-proc 1q/s", "redis 1q/s",
           "ratio", "redis pipeline", "ratio", "in-proc batch", "redis 8 conns", "ratio");
    for (int k = 0; k < N_EF; k++) {
        sail_search_options so = {.ef_search = EFS[k], .no_payload = 1};
        long hit = 0, differ = 0;
        for (int rep = 0; rep < reps; rep++) {
            /* the four passes take turns on chunks of CHUNK queries, so that
             * each sees the same load from the machine's other work */
            double t_in = 0, t_b = 0, t_1 = 0, t_p = 0, t_l = 0;
            for (int c0 = 0; c0 < nq; c0 += CHUNK) {
                int c1 = c0 + CHUNK < nq ? c0 + CHUNK : nq;
                double w = clock_s(CLOCK_MONOTONIC);
                for (int i = c0; i < c1; i++) {
                    sail_index_results *res = NULL;
                    if (sail_index_search(ix, q + (size_t)i * d, 1, K, &so, &res, &e)) die("search", e.msg);
                    for (int j = 0; j < K; j++) ids[(size_t)i * K + j] = j < res->counts[0] ? res->hits[j].id : UINT64_MAX;
                    sail_index_results_free(res);
                }
                t_in += clock_s(CLOCK_MONOTONIC) - w;

                w = clock_s(CLOCK_MONOTONIC);
                for (int i = c0; i < c1; i++) {
                    append_search(c, q + (size_t)i * d, d, EFS[k]);
                    uint64_t *row = rids + (size_t)i * K;
                    int got = reply_ids(c, row);
                    for (int j = got; j < K; j++) row[j] = UINT64_MAX;
                }
                t_1 += clock_s(CLOCK_MONOTONIC) - w;

                w = clock_s(CLOCK_MONOTONIC);
                pipelined(c, q, c0, c1, d, EFS[k], lids);
                t_l += clock_s(CLOCK_MONOTONIC) - w;

                w = clock_s(CLOCK_MONOTONIC);
                sail_index_results *all = NULL;
                if (sail_index_search(ix, q + (size_t)c0 * d, c1 - c0, K, &so, &all, &e)) die("search", e.msg);
                t_b += clock_s(CLOCK_MONOTONIC) - w;
                sail_index_results_free(all);

                w = clock_s(CLOCK_MONOTONIC);
                concurrent(conns, q, c0, c1, d, EFS[k]);
                t_p += clock_s(CLOCK_MONOTONIC) - w;
            }
            w_in[rep] = nq / t_in;
            w_1[rep] = nq / t_1;
            w_l[rep] = nq / t_l;
            w_b[rep] = nq / t_b;
            w_p[rep] = nq / t_p;
        }
        for (int i = 0; i < nq; i++)
            for (int j = 0; j < K; j++) {
                differ += ids[(size_t)i * K + j] != rids[(size_t)i * K + j];
                differ += ids[(size_t)i * K + j] != lids[(size_t)i * K + j];
                for (int t = 0; t < gt->counts[i]; t++) hit += ids[(size_t)i * K + j] == gt->hits[(size_t)i * K + t].id;
            }
        double mi = bench_median(w_in, reps), mb = bench_median(w_b, reps), m1 = bench_median(w_1, reps);
        double mp = bench_median(w_p, reps), ml = bench_median(w_l, reps);
        printf("%-4d %-7.4f | %12.0f %12.0f %6.2fx | %14.0f %6.2fx | %13.0f %14.0f %6.2fx%s\n", EFS[k],
               (double)hit / ((double)nq * K), mi, m1, m1 / mi, ml, ml / mi, mb, mp, mp / mb,
               differ ? "  (ids differ!)" : "");
    }
    sail_index_results_free(gt);
    sail_index_close(ix, NULL);
    redisFree(c);
    for (int i = 0; i < CONNS; i++) redisFree(conns[i]);
    free(x); free(q); free(centres); free(ids); free(rids); free(w_in); free(w_b); free(w_1); free(w_p);
    free(w_l); free(lids);
    return 0;
}
