/* search.c: SAIL.SEARCH key VECTOR blob k [FILTER f] [EF n] [EXACT] [NOPAYLOAD]
 *
 * The command checks its arguments on Redis's main thread, blocks the
 * client (RedisModule_BlockClient) and queues the search; one of the
 * module's threads runs it under the key's read lock and unblocks the
 * client, whose reply the main thread then writes. So a long search never
 * stalls Redis, and searches run side by side. Where a client cannot be
 * blocked (MULTI, Lua, a replicated or replayed stream), and with the
 * module argument THREADS 0, the search runs in place. So does a search
 * cheaper than the hand-over itself while no search is queued or running:
 * a plain one (no FILTER or EXACT, k and EF at most 128) on a key whose
 * recent searches took under INLINE_US of CPU each, measured as they run.
 *
 * Reply: one entry per hit, best first: [id, score, payload] (ids and
 * scores as text: ids are unsigned 64-bit, scores printed with 9
 * significant digits, which read back as the same float32). */
#include "sail_redis.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    sr_value *v;                  /* referenced until the search ends */
    RedisModuleBlockedClient *bc; /* NULL: run in place */
    float *q;                     /* (dim) */
    int k;
    sail_search_options o;        /* o.filter points at filter */
    char *filter;
    sail_index_results *res;
    sail_error err;
    struct job *next;
} job;

static int n_workers; /* 0: every search runs in place */
static atomic_int in_flight; /* searches handed to the workers and not yet answered */

/* Below this a search costs about what blocking the client, waking a worker
 * and waking the main thread for the reply do (~100-250 us on the test VM);
 * 300 rather than 150 let a pipelining client's ef 64-128 searches run in
 * place (docs/REDIS.md). */
#define INLINE_US 300
#define INLINE_MAX_K 128

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    job *head, *tail;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL};

static void job_free(job *j) {
    if (!j) return;
    sail_index_results_free(j->res);
    free(j->q);
    free(j->filter);
    free(j);
}

static double cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

/* The key's running mean moves an eighth of the way to each search's CPU
 * time (the first search sets it). Threads racing here may drop a sample:
 * the mean only picks where later searches run. */
static void note_cost(sr_value *v, double us) {
    unsigned t = us > 1e9 ? 1000000000u : (unsigned)us + 1, old = atomic_load(&v->search_us);
    atomic_store(&v->search_us, old ? old - old / 8 + t / 8 : t);
}

static void run(job *j) {
    double t0 = cpu_us();
    pthread_rwlock_rdlock(&j->v->lock);
    if (sail_index_search(j->v->ix, j->q, 1, j->k, &j->o, &j->res, &j->err)) j->res = NULL;
    pthread_rwlock_unlock(&j->v->lock);
    note_cost(j->v, cpu_us() - t0);
    sr_value_unref(j->v);
    j->v = NULL;
}

static int cheap(const sr_value *v, const job *j) {
    unsigned us = atomic_load(&v->search_us);
    return us && us < INLINE_US && !atomic_load(&in_flight) && !j->o.exact && !j->filter &&
           j->k <= INLINE_MAX_K && j->o.ef_search <= INLINE_MAX_K;
}

static int reply(RedisModuleCtx *ctx, const job *j) {
    if (!j->res) return sr_reply_error(ctx, &j->err);
    int n = j->res->counts[0];
    RedisModule_ReplyWithArray(ctx, n);
    for (int i = 0; i < n; i++) {
        const sail_index_hit *h = &j->res->hits[i];
        char id[24], score[32];
        int il = snprintf(id, sizeof id, "%" PRIu64, h->id), sl = snprintf(score, sizeof score, "%.9g", h->score);
        RedisModule_ReplyWithArray(ctx, j->o.no_payload ? 2 : 3);
        RedisModule_ReplyWithStringBuffer(ctx, id, (size_t)il);
        RedisModule_ReplyWithStringBuffer(ctx, score, (size_t)sl);
        if (!j->o.no_payload) RedisModule_ReplyWithStringBuffer(ctx, h->payload, strlen(h->payload));
    }
    return REDISMODULE_OK;
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&queue.mu);
        while (!queue.head) pthread_cond_wait(&queue.wake, &queue.mu);
        job *j = queue.head;
        queue.head = j->next;
        if (!queue.head) queue.tail = NULL;
        pthread_mutex_unlock(&queue.mu);
        run(j);
        RedisModule_UnblockClient(j->bc, j);
    }
    return NULL;
}

int sr_search_start(int n_threads) {
    for (; n_workers < n_threads; n_workers++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL)) return 1;
        pthread_detach(t);
    }
    return 0;
}

static int on_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv; (void)argc;
    return reply(ctx, RedisModule_GetBlockedClientPrivateData(ctx));
}

/* Called once per blocked search, answered or not (its client may be gone). */
static void on_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    atomic_fetch_sub(&in_flight, 1);
    job_free(privdata);
}

/* The options after k into j; 0, or replied with the error. */
static int parse_options(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, job *j) {
    for (int i = 5; i < argc; i++) {
        long long x;
        if (sr_arg_is(argv[i], "EXACT")) {
            j->o.exact = 1;
        } else if (sr_arg_is(argv[i], "NOPAYLOAD")) {
            j->o.no_payload = 1;
        } else if (sr_arg_is(argv[i], "EF") && i + 1 < argc) {
            if (sr_arg_long(argv[++i], 1, 100000, &x))
                return RedisModule_ReplyWithError(ctx, "ERR sail: EF must be 1..100000"), 1;
            j->o.ef_search = (int)x;
        } else if (sr_arg_is(argv[i], "FILTER") && i + 1 < argc && !j->filter) {
            size_t n;
            const char *s = RedisModule_StringPtrLen(argv[++i], &n);
            if (memchr(s, 0, n) || !(j->filter = strndup(s, n)))
                return RedisModule_ReplyWithError(ctx, "ERR sail: FILTER must be text without NUL bytes"), 1;
            j->o.filter = j->filter;
        } else {
            return RedisModule_ReplyWithError(ctx, "ERR sail: unknown or incomplete option (FILTER field=value[,...], "
                                                   "EF n, EXACT, NOPAYLOAD)"), 1;
        }
    }
    return 0;
}

int sr_cmd_search(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 5) return RedisModule_WrongArity(ctx);
    long long k;
    if (!sr_arg_is(argv[2], "VECTOR"))
        return RedisModule_ReplyWithError(ctx, "ERR sail: usage: SAIL.SEARCH key VECTOR blob k [FILTER f] [EF n] "
                                               "[EXACT] [NOPAYLOAD]");
    if (sr_arg_long(argv[4], 1, 100000, &k)) return RedisModule_ReplyWithError(ctx, "ERR sail: k must be 1..100000");
    job *j = calloc(1, sizeof *j);
    if (!j) return RedisModule_ReplyWithError(ctx, "ERR sail: out of memory");
    j->k = (int)k;
    if (parse_options(ctx, argv, argc, j)) {
        job_free(j);
        return REDISMODULE_OK;
    }
    RedisModuleKey *key;
    sr_value *v = sr_open(ctx, argv[1], REDISMODULE_READ, &key);
    if (!v) {
        job_free(j);
        return REDISMODULE_OK;
    }
    if (!(j->q = malloc((size_t)v->dim * sizeof(float)))) {
        RedisModule_CloseKey(key);
        job_free(j);
        return RedisModule_ReplyWithError(ctx, "ERR sail: out of memory");
    }
    if (sr_arg_vector(ctx, argv[3], v->dim, j->q)) {
        RedisModule_CloseKey(key);
        job_free(j);
        return REDISMODULE_OK;
    }
    sr_value_ref(v);
    j->v = v;
    RedisModule_CloseKey(key);
    int flags = RedisModule_GetContextFlags(ctx);
    int in_place = !n_workers || cheap(v, j) ||
                   flags & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                            REDISMODULE_CTX_FLAGS_DENY_BLOCKING | REDISMODULE_CTX_FLAGS_LOADING);
    if (!in_place && !(j->bc = RedisModule_BlockClient(ctx, on_reply, NULL, on_free, 0))) in_place = 1;
    if (in_place) {
        run(j);
        reply(ctx, j);
        job_free(j);
        return REDISMODULE_OK;
    }
    atomic_fetch_add(&in_flight, 1);
    pthread_mutex_lock(&queue.mu);
    if (queue.tail) queue.tail->next = j;
    else queue.head = j;
    queue.tail = j;
    pthread_cond_signal(&queue.wake);
    pthread_mutex_unlock(&queue.mu);
    return REDISMODULE_OK;
}
