/* redis_index.c: `sail search` and `sail index add` on redis://host:port/name,
 * the index held by the Redis module (docs/REDIS.md): one key, or shards
 * {name:0}, {name:1}, ... spread over a Redis Cluster. A search sends each
 * shard the same SAIL.SEARCH (following the cluster's MOVED and ASK
 * redirections) and merges the top-k lists by score; an add sends item id
 * to shard id mod N, pipelined. Without hiredis (SAIL_HIREDIS undefined)
 * every call says so. */
#include "redis_index.h"

#include <stdio.h>
#include <string.h>

#ifndef SAIL_HIREDIS

static int missing(char *err, size_t en) {
    snprintf(err, en, "this sail was built without hiredis, so redis:// indexes are not available (install "
             "libhiredis-dev, scripts/install-deps.sh, and rebuild)");
    return 2;
}
int cli_redis_open(const char *url, int must_exist, cli_redis **out, int *dim, char *err, size_t en) {
    *out = NULL;
    return missing(err, en);
}
int cli_redis_create(cli_redis *r, int shards, const sail_index_options *io, char *err, size_t en) {
    return missing(err, en);
}
int cli_redis_add(cli_redis *r, const uint64_t *ids, const float *v, const char *const *payloads, int n, char *err,
                  size_t en) {
    return missing(err, en);
}
int cli_redis_search(cli_redis *r, const float *q, int k, const char *filter, int ef, int exact,
                     cli_redis_results *out, char *err, size_t en) {
    return missing(err, en);
}
void cli_redis_results_free(cli_redis_results *res) {}
void cli_redis_close(cli_redis *r) {}

#else

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdlib.h>

#define MAX_SHARDS 4096
#define MAX_NODES 64

typedef struct node {
    char host[256];
    int port;
    redisContext *c;
} node;

struct cli_redis {
    node nodes[MAX_NODES];
    int n_nodes;
    char name[512];
    char **keys;          /* (n_keys) the shards */
    redisContext **at;    /* (n_keys) the node that last answered for each */
    int n_keys, dim, lower_is_better;
};

static redisContext *connect_to(cli_redis *r, const char *host, int port, char *err, size_t en) {
    for (int i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].port == port && !strcmp(r->nodes[i].host, host)) return r->nodes[i].c;
    if (r->n_nodes == MAX_NODES || strlen(host) >= sizeof r->nodes[0].host) {
        snprintf(err, en, "too many Redis nodes");
        return NULL;
    }
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        snprintf(err, en, "cannot connect to Redis at %s:%d: %s", host, port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    node *n = &r->nodes[r->n_nodes++];
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->c = c;
    return c;
}

/* argv on the node holding argv[1], following up to 5 redirections; *at
 * (NULL: the first node) is where to start and gets the node that
 * answered. NULL (and err) on a connection failure; error replies are
 * returned. */
static redisReply *call(cli_redis *r, redisContext **at, int argc, const char **argv, const size_t *lens, char *err,
                        size_t en) {
    redisContext *c = *at ? *at : r->nodes[0].c;
    int asking = 0;
    for (int hop = 0; hop < 6; hop++) {
        if (asking) freeReplyObject(redisCommand(c, "ASKING"));
        redisReply *rep = redisCommandArgv(c, argc, argv, lens);
        if (!rep) {
            snprintf(err, en, "Redis: %s", c->errstr);
            return NULL;
        }
        int moved = rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "MOVED ", 6);
        asking = rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "ASK ", 4);
        if (!moved && !asking) {
            *at = c;
            return rep;
        }
        char host[256];
        int slot, port;
        const char *where = rep->str + (moved ? 6 : 4);
        const char *colon = strrchr(where, ':');
        if (sscanf(where, "%d ", &slot) != 1 || !colon || (port = atoi(colon + 1)) <= 0 ||
            !strchr(where, ' ') || (size_t)(colon - strchr(where, ' ') - 1) >= sizeof host) {
            snprintf(err, en, "Redis: cannot follow '%s'", rep->str);
            freeReplyObject(rep);
            return NULL;
        }
        const char *h = strchr(where, ' ') + 1;
        memcpy(host, h, (size_t)(colon - h));
        host[colon - h] = 0;
        freeReplyObject(rep);
        if (!(c = connect_to(r, host, port, err, en))) return NULL;
    }
    snprintf(err, en, "Redis: too many cluster redirections for key %s", argv[1]);
    return NULL;
}

/* SAIL.INFO key: 1 and fills dim and metric when the key holds an index,
 * 0 when it holds none, -1 on another error (err set). */
static int info(cli_redis *r, const char *key, redisContext **at, int *dim, int *lower, char *err, size_t en) {
    const char *argv[] = {"SAIL.INFO", key};
    size_t lens[] = {9, strlen(key)};
    redisReply *rep = call(r, at, 2, argv, lens, err, en);
    if (!rep) return -1;
    int found = -1;
    if (rep->type == REDIS_REPLY_ERROR) {
        found = strstr(rep->str, "no index at this key") ? 0 : -1;
        if (found < 0) snprintf(err, en, "Redis: SAIL.INFO %s: %s", key, rep->str);
    } else if (rep->type == REDIS_REPLY_ARRAY) {
        *dim = 0;
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            const redisReply *f = rep->element[i], *v = rep->element[i + 1];
            if (f->type != REDIS_REPLY_STRING) continue;
            if (!strcmp(f->str, "dim") && v->type == REDIS_REPLY_INTEGER) *dim = (int)v->integer;
            if (!strcmp(f->str, "metric") && v->type == REDIS_REPLY_STRING) *lower = !strcmp(v->str, "l2");
        }
        found = *dim > 0 ? 1 : -1;
        if (found < 0) snprintf(err, en, "Redis: SAIL.INFO %s: no dim in the reply", key);
    }
    freeReplyObject(rep);
    return found;
}

/* Record key as shard n_keys, answered by at. */
static int add_key(cli_redis *r, const char *key, redisContext *at, char *err, size_t en) {
    if (r->n_keys == MAX_SHARDS || !(r->keys[r->n_keys] = strdup(key))) {
        snprintf(err, en, "too many shards or out of memory");
        return 1;
    }
    r->at[r->n_keys++] = at;
    return 0;
}

int cli_redis_open(const char *url, int must_exist, cli_redis **out, int *dim, char *err, size_t en) {
    char host[256] = "127.0.0.1";
    int port = 6379;
    *out = NULL;
    const char *p = url + strlen("redis://"), *slash = strchr(p, '/'), *colon = memchr(p, ':', slash ? (size_t)(slash - p) : 0);
    if (strncmp(url, "redis://", 8) || !slash || !slash[1] || strlen(slash + 1) >= sizeof ((cli_redis *)0)->name - 16 ||
        (size_t)((colon ? colon : slash) - p) >= sizeof host) {
        snprintf(err, en, "'%s' is not redis://host[:port]/name", url);
        return 1;
    }
    if ((colon ? colon : slash) > p) {
        memcpy(host, p, (size_t)((colon ? colon : slash) - p));
        host[(colon ? colon : slash) - p] = 0;
    }
    if (colon && ((port = atoi(colon + 1)) <= 0 || port > 65535)) {
        snprintf(err, en, "'%s': bad port", url);
        return 1;
    }
    cli_redis *r = calloc(1, sizeof *r);
    if (!r || !(r->keys = calloc(MAX_SHARDS, sizeof *r->keys)) || !(r->at = calloc(MAX_SHARDS, sizeof *r->at))) {
        if (r) free(r->keys);
        free(r);
        snprintf(err, en, "out of memory");
        return 1;
    }
    *out = r;
    snprintf(r->name, sizeof r->name, "%s", slash + 1);
    if (!connect_to(r, host, port, err, en)) return 1;
    /* shards {name:0}, {name:1}, ... until one is missing; else the key itself */
    for (int i = 0; i < MAX_SHARDS; i++) {
        char key[600];
        int d = 0, lower = 0;
        redisContext *at = NULL;
        snprintf(key, sizeof key, "{%s:%d}", r->name, i);
        int found = info(r, key, &at, &d, &lower, err, en);
        if (found < 0) return 1;
        if (!found) break;
        if (i && (d != r->dim || lower != r->lower_is_better)) {
            snprintf(err, en, "shard %s has dim %d and metric %s; shard {%s:0} differs", key, d, lower ? "l2" : "not l2",
                     r->name);
            return 1;
        }
        r->dim = d;
        r->lower_is_better = lower;
        if (add_key(r, key, at, err, en)) return 1;
    }
    if (!r->n_keys) {
        redisContext *at = NULL;
        int found = info(r, r->name, &at, &r->dim, &r->lower_is_better, err, en);
        if (found < 0 || (found && add_key(r, r->name, at, err, en))) return 1;
        if (!found && must_exist) {
            snprintf(err, en, "no sail index at %s (neither the key %s nor shards {%s:0}, {%s:1}, ...)", url, r->name,
                     r->name, r->name);
            return 1;
        }
    }
    *dim = r->dim;
    return 0;
}

int cli_redis_create(cli_redis *r, int shards, const sail_index_options *io, char *err, size_t en) {
    char dim[16], M[16], efc[16], efs[16], seed[24];
    snprintf(dim, sizeof dim, "%d", io->dim);
    snprintf(M, sizeof M, "%d", io->M ? io->M : 16);
    snprintf(efc, sizeof efc, "%d", io->ef_construction ? io->ef_construction : 200);
    snprintf(efs, sizeof efs, "%d", io->ef_search ? io->ef_search : 64);
    snprintf(seed, sizeof seed, "%" PRIu64, io->seed);
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
        redisReply *rep = call(r, &at, 18, argv, lens, err, en);
        if (!rep) return 1;
        int ok = rep->type == REDIS_REPLY_STATUS;
        if (!ok) snprintf(err, en, "Redis: SAIL.CREATE %s: %s", key, rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        freeReplyObject(rep);
        if (!ok || add_key(r, key, at, err, en)) return 1;
    }
    r->dim = io->dim;
    r->lower_is_better = io->metric == SAIL_METRIC_L2;
    return 0;
}

int cli_redis_add(cli_redis *r, const uint64_t *ids, const float *v, const char *const *payloads, int n, char *err,
                  size_t en) {
    int *sent = calloc((size_t)r->n_keys, sizeof *sent), rc = 0;
    if (!sent) return snprintf(err, en, "out of memory"), 1;
    for (int i = 0; i < n; i++) {
        int s = (int)(ids[i] % (uint64_t)r->n_keys);
        char id[24];
        snprintf(id, sizeof id, "%" PRIu64, ids[i]);
        const char *pay = payloads && payloads[i] ? payloads[i] : "{}";
        const char *argv[] = {"SAIL.ADD", r->keys[s], id, "VECTOR", (const char *)(v + (size_t)i * r->dim), "PAYLOAD", pay};
        size_t lens[] = {8, strlen(r->keys[s]), strlen(id), 6, (size_t)r->dim * sizeof(float), 7, strlen(pay)};
        redisAppendCommandArgv(r->at[s], 7, argv, lens);
        sent[s]++;
    }
    /* every reply, in order per shard (a shard moved meanwhile is an error: rerun) */
    for (int s = 0; s < r->n_keys; s++)
        for (int i = 0; i < sent[s]; i++) {
            redisReply *rep = NULL;
            if (redisGetReply(r->at[s], (void **)&rep) != REDIS_OK || !rep) {
                snprintf(err, en, "Redis: %s", r->at[s]->errstr);
                free(sent);
                return 1; /* the connection is broken: no reply left to read */
            }
            if (rep->type == REDIS_REPLY_ERROR && !rc) {
                snprintf(err, en, "Redis: SAIL.ADD %s: %s", r->keys[s], rep->str);
                rc = 1;
            }
            freeReplyObject(rep);
        }
    free(sent);
    return rc;
}

typedef struct hit {
    uint64_t id;
    float score;
    char *payload;
} hit;

static int lower_first;
static int cmp_hit(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->score != y->score) return (x->score < y->score) == lower_first ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int cli_redis_search(cli_redis *r, const float *q, int k, const char *filter, int ef, int exact,
                     cli_redis_results *out, char *err, size_t en) {
    char ks[16], efs[16];
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(efs, sizeof efs, "%d", ef);
    hit *all = malloc((size_t)r->n_keys * k * sizeof *all);
    int n = 0, rc = 0;
    if (!all) return snprintf(err, en, "out of memory"), 1;
    for (int s = 0; s < r->n_keys && !rc; s++) {
        const char *argv[10] = {"SAIL.SEARCH", r->keys[s], "VECTOR", (const char *)q, ks};
        size_t lens[10] = {11, strlen(r->keys[s]), 6, (size_t)r->dim * sizeof(float), strlen(ks)};
        int argc = 5;
        if (filter) { argv[argc] = "FILTER"; lens[argc++] = 6; argv[argc] = filter; lens[argc++] = strlen(filter); }
        if (ef) { argv[argc] = "EF"; lens[argc++] = 2; argv[argc] = efs; lens[argc++] = strlen(efs); }
        if (exact) { argv[argc] = "EXACT"; lens[argc++] = 5; }
        redisReply *rep = call(r, &r->at[s], argc, argv, lens, err, en);
        if (!rep) { rc = 1; break; }
        if (rep->type != REDIS_REPLY_ARRAY) {
            snprintf(err, en, "Redis: SAIL.SEARCH %s: %s", r->keys[s], rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
            rc = rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "filter") ? 2 : 1;
        }
        for (size_t i = 0; !rc && i < rep->elements && (int)i < k; i++) {
            redisReply *h = rep->element[i];
            int ok = h->type == REDIS_REPLY_ARRAY && h->elements == 3;
            for (int f = 0; ok && f < 3; f++) ok = h->element[f]->type == REDIS_REPLY_STRING;
            if (!ok) { rc = 1; snprintf(err, en, "Redis: bad SAIL.SEARCH reply"); break; }
            all[n].id = strtoull(h->element[0]->str, NULL, 10);
            all[n].score = strtof(h->element[1]->str, NULL);
            if (!(all[n].payload = strdup(h->element[2]->str))) { rc = 1; snprintf(err, en, "out of memory"); break; }
            n++;
        }
        freeReplyObject(rep);
    }
    if (!rc) {
        lower_first = r->lower_is_better;
        qsort(all, (size_t)n, sizeof *all, cmp_hit);
        out->r.n_queries = 1;
        out->r.k = k;
        out->count = n < k ? n : k;
        out->r.counts = &out->count;
        out->r.hits = calloc((size_t)k, sizeof *out->r.hits);
        if (!out->r.hits) rc = 1, snprintf(err, en, "out of memory");
        for (int i = 0; !rc && i < out->count; i++)
            out->r.hits[i] = (sail_index_hit){all[i].id, all[i].score, all[i].payload};
        for (int i = rc ? 0 : out->count; i < n; i++) free(all[i].payload);
        out->payloads = rc ? NULL : all;
        if (rc) free(all);
    } else {
        for (int i = 0; i < n; i++) free(all[i].payload);
        free(all);
    }
    return rc;
}

void cli_redis_results_free(cli_redis_results *res) {
    hit *all = res->payloads;
    for (int i = 0; all && i < res->count; i++) free(all[i].payload);
    free(all);
    free(res->r.hits);
    memset(res, 0, sizeof *res);
}

void cli_redis_close(cli_redis *r) {
    if (!r) return;
    for (int i = 0; i < r->n_nodes; i++) redisFree(r->nodes[i].c);
    for (int i = 0; r->keys && i < r->n_keys; i++) free(r->keys[i]);
    free(r->keys);
    free(r->at);
    free(r);
}

#endif
