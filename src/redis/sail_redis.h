/* sail_redis.h: what the files of the Redis module (sail-redis.so) share:
 * the value a key holds and its reference count, argument parsing, and the
 * search threads. See docs/REDIS.md. */
#ifndef SAIL_REDIS_H
#define SAIL_REDIS_H

#include <pthread.h>
#include <stdatomic.h>

#include "redismodule_api.h"
#include "sail.h"

/* The value of a sail key: a sail index held in memory. Searches run on
 * the module's threads and writes on Redis's main thread; `lock` orders
 * them (writer-preferring, so a stream of searches cannot hold off a
 * write). The key and every search in flight hold a reference: a key
 * deleted or overwritten while searches use it is freed by the last. */
typedef struct sr_value {
    sail_index *ix;
    int dim;                 /* the index's, fixed at creation */
    pthread_rwlock_t lock;
    atomic_int refs;
    atomic_uint search_us;   /* recent searches' CPU time, a running mean (us); 0 before the first */
} sr_value;

extern RedisModuleType *sr_type;

sr_value *sr_value_new(sail_index *ix);
void sr_value_ref(sr_value *v);
void sr_value_unref(sr_value *v);

/* The index a key holds, for reading or writing. Replies with an error and
 * returns NULL when the key is missing or of another type (*key is then
 * closed); otherwise *key stays open for the caller to close. */
sr_value *sr_open(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleKey **key);

/* Argument parsing: sr_arg_is and sr_arg_text 1 on a match / a copy (a
 * short argument as a C string: 0 when it does not fit or holds a NUL),
 * the others 0 on success. */
int sr_arg_is(RedisModuleString *arg, const char *word);        /* case-insensitive */
int sr_arg_text(RedisModuleString *arg, char *buf, size_t cap);
int sr_arg_long(RedisModuleString *arg, long long lo, long long hi, long long *out);
int sr_arg_u64(RedisModuleString *arg, uint64_t *out);
/* A vector blob of dim little-endian float32, copied into out (dim floats:
 * Redis strings are not aligned). Replies the error (and returns non-zero)
 * when its length is wrong. */
int sr_arg_vector(RedisModuleCtx *ctx, RedisModuleString *arg, int dim, float *out);

/* Reply with a library error: "ERR sail: <message>". */
int sr_reply_error(RedisModuleCtx *ctx, const sail_error *e);

/* SAIL.SEARCH (search.c) and its threads. */
int sr_search_start(int n_threads);
int sr_cmd_search(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

#endif
