/* shared.c: what the Redis module's files share (sail_redis.h): Redis's
 * API, the value a key holds and its references, argument parsing and
 * error replies. module.c has the commands and persistence, search.c the
 * search threads. */
#include "sail_redis.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

RedisModuleType *sr_type;

/* ---------------------------------------------------------- the API -- */

#define RM_DEFINE(ret, name, params) ret(*RedisModule_##name) params;
RM_API(RM_DEFINE)
RM_API_OPTIONAL(RM_DEFINE)
#undef RM_DEFINE

int rm_api_init(RedisModuleCtx *ctx, const char *name, int ver) {
    int (*get)(const char *, void *) = (int (*)(const char *, void *))((void **)ctx)[0];
#define RM_GET(ret, fn, params) \
    if (get("RedisModule_" #fn, (void *)&RedisModule_##fn) != REDISMODULE_OK) return REDISMODULE_ERR;
    RM_API(RM_GET)
#undef RM_GET
#define RM_GET_OPTIONAL(ret, fn, params) \
    if (get("RedisModule_" #fn, (void *)&RedisModule_##fn) != REDISMODULE_OK) RedisModule_##fn = NULL;
    RM_API_OPTIONAL(RM_GET_OPTIONAL)
#undef RM_GET_OPTIONAL
    RedisModule_SetModuleAttribs(ctx, name, ver, REDISMODULE_APIVER_1);
    return REDISMODULE_OK;
}

/* ----------------------------------------------------------- values -- */

sr_value *sr_value_new(sail_index *ix) {
    sr_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&v->lock, &a);
    pthread_rwlockattr_destroy(&a);
    sail_index_info info;
    sail_index_get_info(ix, &info);
    v->ix = ix;
    v->dim = info.dim;
    atomic_init(&v->refs, 1);
    atomic_init(&v->search_us, 0);
    return v;
}

void sr_value_ref(sr_value *v) { atomic_fetch_add(&v->refs, 1); }

void sr_value_unref(sr_value *v) {
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
    sail_index_close(v->ix, NULL);
    pthread_rwlock_destroy(&v->lock);
    free(v);
}

sr_value *sr_open(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleKey **key) {
    *key = RedisModule_OpenKey(ctx, name, mode);
    const char *why = NULL;
    if (RedisModule_KeyType(*key) == REDISMODULE_KEYTYPE_EMPTY)
        why = "ERR sail: no index at this key (SAIL.CREATE makes one)";
    else if (RedisModule_ModuleTypeGetType(*key) != sr_type)
        why = "WRONGTYPE Operation against a key holding the wrong kind of value";
    if (!why) return RedisModule_ModuleTypeGetValue(*key);
    RedisModule_CloseKey(*key);
    *key = NULL;
    RedisModule_ReplyWithError(ctx, why);
    return NULL;
}

/* -------------------------------------------------------- arguments -- */

int sr_arg_is(RedisModuleString *arg, const char *word) {
    size_t n;
    const char *s = RedisModule_StringPtrLen(arg, &n);
    return n == strlen(word) && !strncasecmp(s, word, n);
}

int sr_arg_text(RedisModuleString *arg, char *buf, size_t cap) {
    size_t n;
    const char *s = RedisModule_StringPtrLen(arg, &n);
    if (n >= cap || memchr(s, 0, n)) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    return 1;
}

int sr_arg_long(RedisModuleString *arg, long long lo, long long hi, long long *out) {
    char buf[32], *end;
    if (!sr_arg_text(arg, buf, sizeof buf) || !buf[0] || isspace((unsigned char)buf[0])) return 1;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || v < lo || v > hi) return 1;
    *out = v;
    return 0;
}

int sr_arg_u64(RedisModuleString *arg, uint64_t *out) {
    char buf[32], *end;
    if (!sr_arg_text(arg, buf, sizeof buf) || !isdigit((unsigned char)buf[0])) return 1;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end) return 1;
    *out = v;
    return 0;
}

int sr_arg_vector(RedisModuleCtx *ctx, RedisModuleString *arg, int dim, float *out) {
    size_t n;
    const char *s = RedisModule_StringPtrLen(arg, &n);
    if (n != (size_t)dim * sizeof(float)) {
        char msg[160];
        snprintf(msg, sizeof msg, "ERR sail: the vector blob is %zu bytes; this index needs %d float32 (%zu bytes, "
                 "little-endian)", n, dim, (size_t)dim * sizeof(float));
        RedisModule_ReplyWithError(ctx, msg);
        return 1;
    }
    memcpy(out, s, n);
    return 0;
}

int sr_reply_error(RedisModuleCtx *ctx, const sail_error *e) {
    char msg[sizeof e->msg + 16];
    snprintf(msg, sizeof msg, "ERR sail: %s", e->msg);
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n') *p = ' '; /* an error reply is one line */
    return RedisModule_ReplyWithError(ctx, msg);
}
