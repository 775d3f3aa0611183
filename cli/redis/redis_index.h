/* redis_index.h: a sail index held in Redis by the module (docs/REDIS.md)
 * as `sail search` and `sail index add` use it: redis://host[:port]/name
 * names the key `name` or the shards {name:0}, {name:1}, ... of a Redis
 * Cluster. Without hiredis (the Makefile defines SAIL_HIREDIS when it is
 * found) every call fails with a message saying so. */
#ifndef SAIL_CLI_REDIS_INDEX_H
#define SAIL_CLI_REDIS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "sail.h"

typedef struct cli_redis cli_redis;

/* The merged hits, shaped as the library's results (one query). */
typedef struct cli_redis_results {
    sail_index_results r;
    int count;
    void *payloads;     /* owns the hits' payload texts */
} cli_redis_results;

/* Connect and find the shards; *dim gets the index's dimension (0 when
 * there is none and must_exist is 0). On failure returns non-zero with
 * err set (*out, if set, still to close). */
int cli_redis_open(const char *url, int must_exist, cli_redis **out, int *dim, char *err, size_t en);

/* Make the index of an open handle that found none: the key itself
 * (shards 1) or shards {name:0..shards-1}, with io's create options. */
int cli_redis_create(cli_redis *r, int shards, const sail_index_options *io, char *err, size_t en);

/* SAIL.ADD n items (vectors of the index's dim), item id to shard id mod
 * N, pipelined; payloads (or payloads[i]) may be NULL = {}. */
int cli_redis_add(cli_redis *r, const uint64_t *ids, const float *v, const char *const *payloads, int n, char *err,
                  size_t en);

/* The k best of every shard's SAIL.SEARCH for q (dim floats), merged by
 * score. ef 0 = the index's. Returns 0, or 1 (2 for a bad filter) with err. */
int cli_redis_search(cli_redis *r, const float *q, int k, const char *filter, int ef, int exact,
                     cli_redis_results *out, char *err, size_t en);
void cli_redis_results_free(cli_redis_results *res);
void cli_redis_close(cli_redis *r);

#endif
