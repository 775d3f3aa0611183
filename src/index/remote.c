/* remote.c: a redis:// index (sail.h, docs/REDIS.md), the index the Redis
 * module holds at one key, or in shards {name:0}, {name:1}, ... spread over
 * a Redis Cluster, served by the public sail_index_* calls through
 * ix_remote_ops. A search sends each shard the same SAIL.SEARCH (following
 * the cluster's MOVED and ASK redirections) and merges the top-k lists by
 * score; an add sends item id to shard id mod N, pipelined per shard.
 * Without hiredis (the Makefile defines SAIL_HIREDIS when it finds it)
 * opening one says what to install. */
#include "index_impl.h"

#include <stdio.h>
#include <string.h>

#ifndef SAIL_HIREDIS

sail_index *ix_remote_open(const char *url, const sail_index_options *opts, sail_error *err) {
    sail_set_error(err, SAIL_ERR_UNSUPPORTED, "index %s: this sail was built without hiredis, so redis:// "
                   "indexes are not available (install libhiredis-dev, scripts/install-deps.sh, and rebuild)", url);
    return NULL;
}

#else

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#define MAX_SHARDS 4096
#define MAX_NODES 64
#define TIMEOUT_S 10 /* connect, and each reply */
#define PAUSE_S 1.0  /* after Redis was lost, calls fail at once for this long */
#define IDS_PAGE "10000" /* ids per SAIL.IDS round trip */

typedef struct node {
    char host[256];
    int port;
    redisContext *c;
} node;

struct ix_remote {
    pthread_mutex_t mu;         /* one call at a time: a hiredis context is not thread-safe */
    node nodes[MAX_NODES];
    int n_nodes;
    char name[512];
    char **keys;                /* (n_keys) the shards */
    redisContext **at;          /* (n_keys) the node that last answered for each */
    int n_keys, ef;             /* ef: sail_index_open's ef_search (0: the index's) */
    sail_index_info info;       /* the shards' as last read */
    double down_until;          /* monotonic seconds: calls fail at once until then, */
    char down[256];             /* saying this */
};

/* ------------------------------------------------------ connections -- */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Redis unreachable: SAIL_ERR_UNAVAILABLE, and the next PAUSE_S seconds'
 * calls fail at once (paused) instead of each waiting out a timeout of a
 * frozen Redis behind the handle's lock. */
static sail_status went_down(ix_remote *r, sail_error *err, const char *fmt, const char *host, int port,
                             const char *why) {
    snprintf(r->down, sizeof r->down, fmt, host, port, why);
    r->down_until = now_s() + PAUSE_S;
    return sail_set_error(err, SAIL_ERR_UNAVAILABLE, "%s", r->down);
}

static sail_status lost(ix_remote *r, redisContext *c, sail_error *err) {
    return went_down(r, err, "cannot reach Redis at %s:%d: %s", c->tcp.host, c->tcp.port,
                     c->errstr[0] ? c->errstr : "connection lost");
}

static sail_status paused(const ix_remote *r, sail_error *err) {
    return now_s() < r->down_until ? sail_set_error(err, SAIL_ERR_UNAVAILABLE, "%s", r->down) : SAIL_OK;
}

/* A context whose connection failed is reopened (Redis restarted, a
 * timeout); non-zero with err set when that fails too. */
static sail_status usable(ix_remote *r, redisContext *c, sail_error *err) {
    if (!c->err) return SAIL_OK;
    if (redisReconnect(c) != REDIS_OK) return lost(r, c, err);
    redisSetTimeout(c, (struct timeval){TIMEOUT_S, 0});
    return SAIL_OK;
}

static redisContext *connect_to(ix_remote *r, const char *host, int port, sail_error *err) {
    for (int i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].port == port && !strcmp(r->nodes[i].host, host))
            return usable(r, r->nodes[i].c, err) ? NULL : r->nodes[i].c;
    if (r->n_nodes == MAX_NODES || strlen(host) >= sizeof r->nodes[0].host) {
        sail_set_error(err, SAIL_ERR_LIMIT, "Redis: more than %d nodes, or a host name that long", MAX_NODES);
        return NULL;
    }
    redisContext *c = redisConnectWithTimeout(host, port, (struct timeval){TIMEOUT_S, 0});
    if (!c || c->err) {
        if (c) went_down(r, err, "cannot connect to Redis at %s:%d: %s", host, port, c->errstr);
        else sail_set_error(err, SAIL_ERR_NOMEM, "out of memory connecting to Redis");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){TIMEOUT_S, 0});
    node *n = &r->nodes[r->n_nodes++];
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->c = c;
    return c;
}

/* An error reply's status: a node loading, busy, failing over or out of
 * memory may answer later; anything else is about the request. */
static sail_status reply_status(const char *msg) {
    static const char *const later[] = {"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "OOM", "READONLY"};
    for (size_t i = 0; i < sizeof later / sizeof *later; i++)
        if (!strncmp(msg, later[i], strlen(later[i]))) return SAIL_ERR_UNAVAILABLE;
    return SAIL_ERR_INVALID_ARG;
}

/* err for a reply of another shape than cmd's: the module's error, or one we do not know. */
static sail_status unexpected(const redisReply *rep, const char *cmd, const char *key, sail_error *err) {
    int e = rep->type == REDIS_REPLY_ERROR;
    return sail_set_error(err, e ? reply_status(rep->str) : SAIL_ERR_FORMAT, "Redis: %s %s: %s", cmd, key,
                          e ? rep->str : "unexpected reply");
}

static int is_redirect(const redisReply *rep) {
    return rep->type == REDIS_REPLY_ERROR && (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "ASK ", 4));
}

/* argv on the node holding argv[1], following up to 5 redirections; a
 * connection found closed (Redis restarted) is reopened for one more try,
 * a timeout is not retried. *at (NULL: the first node) is where to start
 * and gets the node that answered. NULL (and err) when no node answers;
 * error replies are returned. */
static redisReply *call(ix_remote *r, redisContext **at, int argc, const char **argv, const size_t *lens,
                        sail_error *err) {
    redisContext *c = *at ? *at : r->nodes[0].c;
    int asking = 0, retried = 0;
    if (paused(r, err)) return NULL;
    for (int hop = 0; hop < 6; hop++) {
        if (usable(r, c, err)) return NULL;
        if (asking) freeReplyObject(redisCommand(c, "ASKING"));
        redisReply *rep = redisCommandArgv(c, argc, argv, lens);
        if (!rep) {
            int timed_out = c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
            if (retried++ || timed_out) {
                lost(r, c, err);
                return NULL;
            }
            hop--; /* the same node again, reconnected */
            continue;
        }
        if (!is_redirect(rep)) {
            *at = c;
            return rep;
        }
        asking = rep->str[0] == 'A';
        /* "MOVED <slot> <host>:<port>" or "ASK ..." */
        const char *h = strchr(strchr(rep->str, ' ') + 1, ' '), *colon = strrchr(rep->str, ':');
        char host[256];
        int port = colon ? atoi(colon + 1) : 0;
        if (!h || !colon || colon <= h || port <= 0 || (size_t)(colon - h - 1) >= sizeof host) {
            sail_set_error(err, SAIL_ERR_FORMAT, "Redis: cannot follow '%s'", rep->str);
            freeReplyObject(rep);
            return NULL;
        }
        memcpy(host, h + 1, (size_t)(colon - h - 1));
        host[colon - h - 1] = 0;
        freeReplyObject(rep);
        if (!(c = connect_to(r, host, port, err))) return NULL;
    }
    sail_set_error(err, SAIL_ERR_UNAVAILABLE, "Redis: too many cluster redirections for key %s", argv[1]);
    return NULL;
}

/* ------------------------------------------------------------ shards -- */

/* SAIL.INFO key into *out (counts added to it): 1 when the key holds an
 * index, 0 when it holds none, -1 on another error (err set). */
static int key_info(ix_remote *r, const char *key, redisContext **at, sail_index_info *out, sail_error *err) {
    const char *argv[] = {"SAIL.INFO", key};
    size_t lens[] = {9, strlen(key)};
    redisReply *rep = call(r, at, 2, argv, lens, err);
    if (!rep) return -1;
    int found = -1, dim = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        found = strstr(rep->str, "no index at this key") ? 0 : -1;
        if (found < 0) unexpected(rep, "SAIL.INFO", key, err);
    } else if (rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            const redisReply *f = rep->element[i], *v = rep->element[i + 1];
            if (f->type != REDIS_REPLY_STRING) continue;
            long long x = v->type == REDIS_REPLY_INTEGER ? v->integer : 0;
            const char *s = v->type == REDIS_REPLY_STRING ? v->str : "";
            if (!strcmp(f->str, "dim")) out->dim = dim = (int)x;
            else if (!strcmp(f->str, "metric")) sail_metric_parse(s, &out->metric);
            else if (!strcmp(f->str, "storage")) sail_storage_parse(s, &out->storage);
            else if (!strcmp(f->str, "kind")) sail_index_kind_parse(s, &out->kind);
            else if (!strcmp(f->str, "M")) out->M = (int)x;
            else if (!strcmp(f->str, "ef_construction")) out->ef_construction = (int)x;
            else if (!strcmp(f->str, "ef_search")) out->ef_search = (int)x;
            else if (!strcmp(f->str, "seed")) out->seed = strtoull(s, NULL, 10);
            else if (!strcmp(f->str, "count")) out->count += (size_t)x;
            else if (!strcmp(f->str, "tombstones")) out->tombstones += (size_t)x;
            else if (!strcmp(f->str, "memory_bytes")) out->memory_bytes += (size_t)x;
        }
        found = dim > 0 ? 1 : -1;
        if (found < 0) sail_set_error(err, SAIL_ERR_FORMAT, "Redis: SAIL.INFO %s: no dim in the reply", key);
    } else {
        unexpected(rep, "SAIL.INFO", key, err);
    }
    freeReplyObject(rep);
    return found;
}

static sail_status add_key(ix_remote *r, const char *key, redisContext *at, sail_error *err) {
    if (r->n_keys == MAX_SHARDS || !(r->keys[r->n_keys] = sail_strdup(key)))
        return sail_set_error(err, SAIL_ERR_LIMIT, "more than %d shards, or out of memory", MAX_SHARDS);
    r->at[r->n_keys++] = at;
    return SAIL_OK;
}

/* The shards {name:0}, {name:1}, ... up to the first missing one, else
 * the key name itself; none found is SAIL_OK with n_keys 0. */
static sail_status find_shards(ix_remote *r, sail_error *err) {
    for (int i = 0; i < MAX_SHARDS; i++) {
        char key[600];
        sail_index_info in = {0};
        redisContext *at = NULL;
        snprintf(key, sizeof key, "{%s:%d}", r->name, i);
        int found = key_info(r, key, &at, &in, err);
        if (found < 0) return err ? err->status : SAIL_ERR_IO;
        if (!found) break;
        if (i && (in.dim != r->info.dim || in.metric != r->info.metric))
            return sail_set_error(err, SAIL_ERR_FORMAT, "shard %s has dim %d and metric %s; shard {%s:0} has %d and %s",
                                  key, in.dim, sail_metric_name(in.metric), r->name, r->info.dim,
                                  sail_metric_name(r->info.metric));
        size_t count = r->info.count + in.count, dead = r->info.tombstones + in.tombstones,
               mem = r->info.memory_bytes + in.memory_bytes;
        r->info = in;
        r->info.count = count, r->info.tombstones = dead, r->info.memory_bytes = mem;
        if (add_key(r, key, at, err)) return err ? err->status : SAIL_ERR_LIMIT;
    }
    if (r->n_keys) return SAIL_OK;
    redisContext *at = NULL;
    int found = key_info(r, r->name, &at, &r->info, err);
    if (found < 0) return err ? err->status : SAIL_ERR_IO;
    return found ? add_key(r, r->name, at, err) : SAIL_OK;
}

/* SAIL.CREATE the key name (shards 0 or 1) or {name:0..shards-1}. */
static sail_status create(ix_remote *r, const sail_index_options *io, sail_error *err) {
    char dim[16], M[16], efc[16], efs[16], seed[24];
    snprintf(dim, sizeof dim, "%d", io->dim);
    snprintf(M, sizeof M, "%d", io->M ? io->M : 16);
    snprintf(efc, sizeof efc, "%d", io->ef_construction ? io->ef_construction : 200);
    snprintf(efs, sizeof efs, "%d", io->ef_search ? io->ef_search : 64);
    snprintf(seed, sizeof seed, "%" PRIu64, io->seed);
    int shards = io->shards > 1 ? io->shards : 1;
    if (shards > MAX_SHARDS) return sail_set_error(err, SAIL_ERR_LIMIT, "%d shards; the limit is %d", shards, MAX_SHARDS);
    for (int i = 0; i < shards; i++) {
        char key[600];
        if (shards == 1) snprintf(key, sizeof key, "%s", r->name);
        else snprintf(key, sizeof key, "{%s:%d}", r->name, i);
        const char *argv[] = {"SAIL.CREATE", key, "DIM", dim, "METRIC", sail_metric_name(io->metric), "STORAGE",
                              sail_storage_name(io->storage), "KIND", sail_index_kind_name(io->kind), "M", M,
                              "EF_CONSTRUCTION", efc, "EF_SEARCH", efs, "SEED", seed};
        size_t lens[18];
        for (int j = 0; j < 18; j++) lens[j] = strlen(argv[j]);
        redisContext *at = NULL;
        redisReply *rep = call(r, &at, 18, argv, lens, err);
        if (!rep) return err ? err->status : SAIL_ERR_IO;
        sail_status st = rep->type == REDIS_REPLY_STATUS ? SAIL_OK : unexpected(rep, "SAIL.CREATE", key, err);
        freeReplyObject(rep);
        if (st || (st = add_key(r, key, at, err))) return st;
    }
    memset(&r->info, 0, sizeof r->info);
    return key_info(r, r->keys[0], &r->at[0], &r->info, err) == 1 ? SAIL_OK : err ? err->status : SAIL_ERR_IO;
}

/* --------------------------------------------------------------- ops -- */

static int shard_of(const ix_remote *r, uint64_t id) { return (int)(id % (uint64_t)r->n_keys); }

/* SAIL.ADD items order[0..m) of one shard, pipelined; the items whose
 * reply was a redirection are marked in redo. Stops at a lost connection. */
static sail_status add_pipelined(ix_remote *r, int s, const int *order, int m, const uint64_t *ids, const float *v,
                                 char *const *canon, uint8_t *redo, sail_error *err) {
    redisContext *c = r->at[s];
    sail_status st = paused(r, err);
    if (!st) st = usable(r, c, err);
    for (int j = 0; !st && j < m; j++) {
        int i = order[j];
        char id[24];
        snprintf(id, sizeof id, "%" PRIu64, ids[i]);
        const char *argv[] = {"SAIL.ADD", r->keys[s], id, "VECTOR", (const char *)(v + (size_t)i * r->info.dim),
                              "PAYLOAD", canon[i]};
        size_t lens[] = {8, strlen(r->keys[s]), strlen(id), 6, (size_t)r->info.dim * sizeof(float), 7, strlen(canon[i])};
        if (redisAppendCommandArgv(c, 7, argv, lens) != REDIS_OK) {
            redisReconnect(c); /* drops what was queued, so no stray reply is read later */
            st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory queueing %d items for Redis", m);
        }
    }
    for (int j = 0; !st && j < m; j++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) return lost(r, c, err); /* no reply left to read */
        if (is_redirect(rep)) redo[order[j]] = 1;
        else if (rep->type == REDIS_REPLY_ERROR && !(err && err->status))
            sail_set_error(err, reply_status(rep->str), "Redis: SAIL.ADD %s %" PRIu64 ": %s", r->keys[s], ids[order[j]],
                           rep->str);
        freeReplyObject(rep);
    }
    return st;
}

static sail_status op_add(ix_remote *r, const uint64_t *ids, const float *v, const char *const *payloads, int n,
                          sail_error *err) {
    sail_error e = {0};
    char **canon = sail_calloc((size_t)n, sizeof *canon);
    int *order = sail_malloc((size_t)n * sizeof *order), m = 0;
    uint8_t *redo = sail_calloc((size_t)n, 1);
    sail_status st = canon && order && redo ? SAIL_OK : sail_set_error(&e, SAIL_ERR_NOMEM, "out of memory for %d items", n);
    /* payloads checked here, as a local index words their errors, before anything is sent */
    for (int i = 0; i < n && !st; i++)
        if ((st = ix_payload_canon(payloads ? payloads[i] : NULL, &canon[i], &e)))
            sail_error_prefix(&e, "payload of item %d (id %" PRIu64 ")", i, ids[i]);
    pthread_mutex_lock(&r->mu);
    for (int s = 0; s < r->n_keys && !st && !e.status; s++) {
        m = 0;
        for (int i = 0; i < n; i++)
            if (shard_of(r, ids[i]) == s) order[m++] = i;
        if (m) st = add_pipelined(r, s, order, m, ids, v, canon, redo, &e);
    }
    /* a shard moved meanwhile: those items one by one, following the redirection */
    for (int i = 0; i < n && !st && !e.status; i++) {
        if (!redo[i]) continue;
        int s = shard_of(r, ids[i]);
        char id[24];
        snprintf(id, sizeof id, "%" PRIu64, ids[i]);
        const char *argv[] = {"SAIL.ADD", r->keys[s], id, "VECTOR", (const char *)(v + (size_t)i * r->info.dim),
                              "PAYLOAD", canon[i]};
        size_t lens[] = {8, strlen(r->keys[s]), strlen(id), 6, (size_t)r->info.dim * sizeof(float), 7, strlen(canon[i])};
        redisReply *rep = call(r, &r->at[s], 7, argv, lens, &e);
        if (rep && rep->type == REDIS_REPLY_ERROR)
            sail_set_error(&e, reply_status(rep->str), "Redis: SAIL.ADD %s %s: %s", r->keys[s], id, rep->str);
        freeReplyObject(rep);
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; canon && i < n; i++) sail_free(canon[i]);
    sail_free(canon);
    sail_free(order);
    sail_free(redo);
    if (e.status && err) *err = e;
    return e.status;
}

static sail_status op_del(ix_remote *r, const uint64_t *ids, int n, int *n_deleted, sail_error *err) {
    const char **argv = sail_malloc(((size_t)n + 2) * sizeof *argv);
    size_t *lens = sail_malloc(((size_t)n + 2) * sizeof *lens);
    char (*txt)[24] = sail_malloc((size_t)n * sizeof *txt);
    sail_status st = argv && lens && txt ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d ids", n);
    long long deleted = 0;
    pthread_mutex_lock(&r->mu);
    for (int s = 0; s < r->n_keys && !st; s++) {
        int m = 2;
        for (int i = 0; i < n; i++)
            if (shard_of(r, ids[i]) == s) {
                snprintf(txt[m - 2], sizeof txt[0], "%" PRIu64, ids[i]);
                argv[m] = txt[m - 2];
                lens[m] = strlen(txt[m - 2]);
                m++;
            }
        if (m == 2) continue;
        argv[0] = "SAIL.DEL", lens[0] = 8;
        argv[1] = r->keys[s], lens[1] = strlen(r->keys[s]);
        redisReply *rep = call(r, &r->at[s], m, argv, lens, err);
        if (!rep) st = err ? err->status : SAIL_ERR_UNAVAILABLE;
        else if (rep->type == REDIS_REPLY_INTEGER) deleted += rep->integer;
        else st = unexpected(rep, "SAIL.DEL", r->keys[s], err);
        freeReplyObject(rep);
    }
    pthread_mutex_unlock(&r->mu);
    sail_free(argv);
    sail_free(lens);
    sail_free(txt);
    if (!st && n_deleted) *n_deleted = (int)deleted;
    return st;
}

typedef struct hit {
    uint64_t id;
    float score;
    const redisReply *payload;  /* NULL with NOPAYLOAD */
} hit;

static int cmp_lower(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}
static int cmp_higher(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* One query: SAIL.SEARCH on every shard into reps[s], their hits into all
 * (n_keys * k), merged best first; *n gets the hit count. */
static sail_status search_one(ix_remote *r, const float *q, int k, const sail_search_options *o, redisReply **reps,
                              hit *all, int *n, sail_error *err) {
    char ks[16], efs[16];
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(efs, sizeof efs, "%d", o->ef_search > 0 ? o->ef_search : r->ef);
    *n = 0;
    for (int s = 0; s < r->n_keys; s++) {
        const char *argv[11] = {"SAIL.SEARCH", r->keys[s], "VECTOR", (const char *)q, ks};
        size_t lens[11] = {11, strlen(r->keys[s]), 6, (size_t)r->info.dim * sizeof(float), strlen(ks)};
        int argc = 5;
        if (o->filter) argv[argc] = "FILTER", lens[argc++] = 6, argv[argc] = o->filter, lens[argc++] = strlen(o->filter);
        if (o->ef_search > 0 || r->ef) argv[argc] = "EF", lens[argc++] = 2, argv[argc] = efs, lens[argc++] = strlen(efs);
        if (o->exact) argv[argc] = "EXACT", lens[argc++] = 5;
        if (o->no_payload) argv[argc] = "NOPAYLOAD", lens[argc++] = 9;
        redisReply *rep = reps[s] = call(r, &r->at[s], argc, argv, lens, err);
        if (!rep) return err ? err->status : SAIL_ERR_UNAVAILABLE;
        if (rep->type != REDIS_REPLY_ARRAY) return unexpected(rep, "SAIL.SEARCH", r->keys[s], err);
        for (size_t i = 0; i < rep->elements && (int)i < k; i++) {
            const redisReply *h = rep->element[i];
            size_t want = o->no_payload ? 2 : 3;
            int ok = h->type == REDIS_REPLY_ARRAY && h->elements >= want;
            for (size_t f = 0; ok && f < want; f++) ok = h->element[f]->type == REDIS_REPLY_STRING;
            if (!ok) return sail_set_error(err, SAIL_ERR_FORMAT, "Redis: SAIL.SEARCH %s: a hit is not [id, score, payload]",
                                           r->keys[s]);
            all[*n] = (hit){strtoull(h->element[0]->str, NULL, 10), strtof(h->element[1]->str, NULL),
                            o->no_payload ? NULL : h->element[2]};
            (*n)++;
        }
    }
    qsort(all, (size_t)*n, sizeof *all, r->info.metric == SAIL_METRIC_L2 ? cmp_lower : cmp_higher);
    if (*n > k) *n = k;
    return SAIL_OK;
}

static sail_status op_search(ix_remote *r, const float *q, int n, int k, const sail_search_options *o,
                             sail_index_results **out, sail_error *err) {
    size_t d = (size_t)r->info.dim, per = (size_t)r->n_keys * (size_t)k, cap;
    if (!sail_mul_ok(per, (size_t)n, &cap) || cap > ((size_t)1 << 26))
        return sail_set_error(err, SAIL_ERR_LIMIT, "%d queries x k %d x %d shards is too many hits", n, k, r->n_keys);
    hit *all = sail_malloc(cap * sizeof *all);
    int *got = sail_calloc((size_t)n, sizeof *got);
    redisReply **reps = sail_calloc((size_t)n * r->n_keys, sizeof *reps);
    sail_status st = all && got && reps ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d queries", n);
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < n && !st; i++)
        st = search_one(r, q + (size_t)i * d, k, o, reps + (size_t)i * r->n_keys, all + (size_t)i * per, &got[i], err);
    pthread_mutex_unlock(&r->mu);
    size_t blob_len = 0;
    for (int i = 0; i < n && !st; i++)
        for (int j = 0; j < got[i]; j++) {
            const redisReply *p = all[(size_t)i * per + j].payload;
            blob_len += p ? p->len + 1 : 0;
        }
    char *blob = NULL;
    sail_index_results *res = st ? NULL : ix_results_new(n, k, blob_len, &blob);
    if (!st && !res) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for results");
    for (int i = 0; i < n && !st; i++) {
        res->counts[i] = got[i];
        for (int j = 0; j < got[i]; j++) {
            const hit *h = &all[(size_t)i * per + j];
            sail_index_hit *to = &res->hits[(size_t)i * k + j];
            to->id = h->id;
            to->score = h->score;
            if (h->payload) {
                memcpy(blob, h->payload->str, h->payload->len);
                blob[h->payload->len] = 0;
                to->payload = blob;
                blob += h->payload->len + 1;
            }
        }
    }
    for (size_t i = 0; reps && i < (size_t)n * r->n_keys; i++) freeReplyObject(reps[i]);
    sail_free(reps);
    sail_free(got);
    sail_free(all);
    if (!st) *out = res;
    return st;
}

static sail_status op_get(ix_remote *r, uint64_t id, float *vec, char **payload, sail_error *err) {
    int s = shard_of(r, id);
    char txt[24];
    snprintf(txt, sizeof txt, "%" PRIu64, id);
    const char *argv[] = {"SAIL.GET", r->keys[s], txt};
    size_t lens[] = {8, strlen(r->keys[s]), strlen(txt)};
    pthread_mutex_lock(&r->mu);
    redisReply *rep = call(r, &r->at[s], 3, argv, lens, err);
    pthread_mutex_unlock(&r->mu);
    if (!rep) return err ? err->status : SAIL_ERR_UNAVAILABLE;
    size_t vlen = (size_t)r->info.dim * sizeof(float);
    sail_status st = SAIL_OK;
    char *p = NULL;
    if (rep->type == REDIS_REPLY_NIL)
        st = sail_set_error(err, SAIL_ERR_INVALID_ARG, "no item with id %" PRIu64, id);
    else if (rep->type == REDIS_REPLY_ERROR)
        st = sail_set_error(err, reply_status(rep->str), "Redis: SAIL.GET %s %s: %s", r->keys[s], txt, rep->str);
    else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
             rep->element[0]->len != vlen || rep->element[1]->type != REDIS_REPLY_STRING)
        st = sail_set_error(err, SAIL_ERR_FORMAT, "Redis: SAIL.GET %s %s: not [vector, payload]", r->keys[s], txt);
    else if (payload && !(p = sail_strdup(rep->element[1]->str)))
        st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory copying a payload");
    if (!st && vec) memcpy(vec, rep->element[0]->str, vlen);
    if (!st && payload) *payload = p;
    freeReplyObject(rep);
    return st;
}

static void op_info(ix_remote *r, sail_index_info *out) {
    sail_index_info in = {0};
    int ok = 1;
    pthread_mutex_lock(&r->mu);
    for (int s = 0; s < r->n_keys && ok; s++) ok = key_info(r, r->keys[s], &r->at[s], &in, NULL) == 1;
    if (ok) r->info = in;
    *out = r->info;
    pthread_mutex_unlock(&r->mu);
    if (r->ef) out->ef_search = r->ef;
    out->log_bytes = 0;
    out->remote = 1;
}

/* A decimal u64 reply string into *out; 0 on success. */
static int reply_u64(const redisReply *e, uint64_t *out) {
    char *end;
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20 || e->str[0] < '0' || e->str[0] > '9') return 1;
    errno = 0;
    *out = strtoull(e->str, &end, 10);
    return errno || *end;
}

/* One SAIL.IDS page of shard s from *cursor: its ids appended to *ids (*n
 * of *cap), *cursor set to the next position (0: the shard is done). */
static sail_status ids_page(ix_remote *r, int s, uint64_t *cursor, uint64_t **ids, size_t *n, size_t *cap,
                            sail_error *err) {
    char at[24];
    snprintf(at, sizeof at, "%" PRIu64, *cursor);
    const char *argv[] = {"SAIL.IDS", r->keys[s], "CURSOR", at, "COUNT", IDS_PAGE};
    size_t lens[] = {8, strlen(r->keys[s]), 6, strlen(at), 5, strlen(IDS_PAGE)};
    redisReply *rep = call(r, &r->at[s], 6, argv, lens, err);
    if (!rep) return err ? err->status : SAIL_ERR_UNAVAILABLE;
    sail_status st = SAIL_OK;
    uint64_t next = 0;
    const redisReply *list = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 ? rep->element[1] : NULL;
    if (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "unknown command"))
        st = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "Redis: %s: the sail-redis.so loaded there predates SAIL.IDS "
                            "(load this sail's module)", rep->str);
    else if (!list || list->type != REDIS_REPLY_ARRAY || reply_u64(rep->element[0], &next) ||
             (next && next <= *cursor))
        st = unexpected(rep, "SAIL.IDS", r->keys[s], err);
    if (!st && *n + list->elements > *cap) {
        size_t want = *n + list->elements > 2 * *cap ? *n + list->elements : 2 * *cap;
        if (ix_grow((void **)ids, want, sizeof **ids)) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %zu ids", want);
        else *cap = want;
    }
    for (size_t i = 0; !st && i < list->elements; i++)
        if (reply_u64(list->element[i], *ids + (*n)++))
            st = sail_set_error(err, SAIL_ERR_FORMAT, "Redis: SAIL.IDS %s: an id is not a decimal integer", r->keys[s]);
    freeReplyObject(rep);
    *cursor = next;
    return st;
}

static sail_status op_ids(ix_remote *r, uint64_t **out, size_t *n_out, sail_error *err) {
    uint64_t *ids = NULL, cursor = 0;
    size_t n = 0, cap = 0;
    sail_status st = SAIL_OK;
    pthread_mutex_lock(&r->mu);
    for (int s = 0; s < r->n_keys && !st; s++)
        do st = ids_page(r, s, &cursor, &ids, &n, &cap, err);
        while (!st && cursor);
    pthread_mutex_unlock(&r->mu);
    if (st || !n) {
        sail_free(ids);
        ids = NULL;
    }
    if (!st) *out = ids, *n_out = n;
    return st;
}

static void op_close(ix_remote *r) {
    for (int i = 0; i < r->n_nodes; i++) redisFree(r->nodes[i].c);
    for (int i = 0; r->keys && i < r->n_keys; i++) sail_free(r->keys[i]);
    sail_free(r->keys);
    sail_free(r->at);
    pthread_mutex_destroy(&r->mu);
    sail_free(r);
}

static const ix_remote_ops ops = {op_add, op_del, op_search, op_get, op_info, op_ids, op_close};

/* --------------------------------------------------------------- open -- */

/* redis://host[:port]/name into host, *port and r->name. */
static sail_status parse_url(const char *url, ix_remote *r, char *host, size_t hn, int *port, sail_error *err) {
    const char *p = url + 8, *slash = strchr(p, '/');
    const char *colon = slash ? memchr(p, ':', (size_t)(slash - p)) : NULL, *end = colon ? colon : slash;
    if (!slash || !slash[1] || strlen(slash + 1) >= sizeof r->name - 16 || (size_t)(end - p) >= hn)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "'%s' is not redis://host[:port]/name", url);
    snprintf(host, hn, "%s", "127.0.0.1");
    if (end > p) {
        memcpy(host, p, (size_t)(end - p));
        host[end - p] = 0;
    }
    *port = 6379;
    if (colon && ((*port = atoi(colon + 1)) <= 0 || *port > 65535))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "'%s': the port must be 1..65535", url);
    snprintf(r->name, sizeof r->name, "%s", slash + 1);
    return SAIL_OK;
}

sail_index *ix_remote_open(const char *url, const sail_index_options *opts, sail_error *err) {
    sail_error e = {0};
    sail_index *ix = ix_new_shell();
    ix_remote *r = sail_calloc(1, sizeof *r);
    sail_status st = SAIL_OK;
    if (!ix || !r || !(r->keys = sail_calloc(MAX_SHARDS, sizeof *r->keys)) ||
        !(r->at = sail_calloc(MAX_SHARDS, sizeof *r->at))) {
        st = sail_set_error(&e, SAIL_ERR_NOMEM, "out of memory");
        if (r) sail_free(r->keys);
        sail_free(r);
        r = NULL;
    } else {
        pthread_mutex_init(&r->mu, NULL);
        ix->rops = &ops;
        ix->remote = r;
        r->ef = opts && opts->ef_search > 0 && opts->ef_search <= 100000 ? opts->ef_search : 0;
    }
    char host[256];
    int port = 0;
    if (!st) st = parse_url(url, r, host, sizeof host, &port, &e);
    if (!st && !connect_to(r, host, port, &e)) st = e.status;
    if (!st) st = find_shards(r, &e);
    if (!st && !r->n_keys) {
        if (opts && opts->create) st = create(r, opts, &e);
        else st = sail_set_error(&e, SAIL_ERR_INVALID_ARG, "no sail index there (neither the key %s nor shards "
                                 "{%s:0}, {%s:1}, ...)", r->name, r->name, r->name);
    }
    if (st) {
        sail_error_prefix(&e, "index %s", url);
        if (err) *err = e;
        sail_index_close(ix, NULL);
        return NULL;
    }
    ix->dim = r->info.dim;
    ix->metric = r->info.metric;
    ix->storage = r->info.storage;
    ix->kind = r->info.kind;
    ix->M = r->info.M;
    ix->ef_construction = r->info.ef_construction;
    ix->ef_search = r->ef ? r->ef : r->info.ef_search;
    ix->seed = r->info.seed;
    return ix;
}

#endif
