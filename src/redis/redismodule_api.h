/* redismodule_api.h: the part of the Redis module API (redis.io, "Modules
 * API reference") that sail-redis.so calls, declared here because Debian
 * packages no redismodule.h. Redis hands a module its functions by name at
 * load time: rm_api_init() asks for each one listed in RM_API through the
 * lookup function found in the first word of the load context, as every
 * module does. Only what is declared here is used; the types are opaque.
 * Checked against Redis 7.0 (the API is versioned by name, so later
 * servers serve the same functions). */
#ifndef SAIL_REDISMODULE_API_H
#define SAIL_REDISMODULE_API_H

#include <stddef.h>
#include <stdint.h>

#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1
#define REDISMODULE_APIVER_1 1

#define REDISMODULE_READ (1 << 0)
#define REDISMODULE_WRITE (1 << 1)
#define REDISMODULE_KEYTYPE_EMPTY 0

/* RedisModule_GetContextFlags: where a command runs */
#define REDISMODULE_CTX_FLAGS_LUA (1 << 0)
#define REDISMODULE_CTX_FLAGS_MULTI (1 << 1)
#define REDISMODULE_CTX_FLAGS_LOADING (1 << 13)
#define REDISMODULE_CTX_FLAGS_DENY_BLOCKING (1 << 21)

/* RedisModule_SetModuleOptions: the loaders check RedisModule_IsIOError
 * instead of Redis stopping on a short read */
#define REDISMODULE_OPTIONS_HANDLE_IO_ERRORS (1 << 0)

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleKey RedisModuleKey;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleIO RedisModuleIO;
typedef struct RedisModuleType RedisModuleType;
typedef struct RedisModuleDigest RedisModuleDigest;
typedef struct RedisModuleBlockedClient RedisModuleBlockedClient;

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* A data type's callbacks; version 1 of the structure is these fields. */
#define REDISMODULE_TYPE_METHOD_VERSION_1 1
typedef struct RedisModuleTypeMethods {
    uint64_t version;
    void *(*rdb_load)(RedisModuleIO *rdb, int encver);
    void (*rdb_save)(RedisModuleIO *rdb, void *value);
    void (*aof_rewrite)(RedisModuleIO *aof, RedisModuleString *key, void *value);
    size_t (*mem_usage)(const void *value);
    void (*digest)(RedisModuleDigest *digest, void *value);
    void (*free)(void *value);
} RedisModuleTypeMethods;

/* X(return type, name without the RedisModule_ prefix, parameters) */
#define RM_API(X)                                                                                              \
    X(int, CreateCommand, (RedisModuleCtx * ctx, const char *name, RedisModuleCmdFunc fn, const char *flags,  \
                           int firstkey, int lastkey, int keystep))                                           \
    X(void, SetModuleAttribs, (RedisModuleCtx * ctx, const char *name, int ver, int apiver))                   \
    X(void, SetModuleOptions, (RedisModuleCtx * ctx, int options))                                             \
    X(int, GetContextFlags, (RedisModuleCtx * ctx))                                                            \
    X(void, Log, (RedisModuleCtx * ctx, const char *level, const char *fmt, ...))                              \
    X(void, LogIOError, (RedisModuleIO * io, const char *level, const char *fmt, ...))                          \
    X(void, Free, (void *ptr))                                                                                 \
    X(int, WrongArity, (RedisModuleCtx * ctx))                                                                 \
    X(int, ReplyWithError, (RedisModuleCtx * ctx, const char *err))                                            \
    X(int, ReplyWithSimpleString, (RedisModuleCtx * ctx, const char *msg))                                     \
    X(int, ReplyWithLongLong, (RedisModuleCtx * ctx, long long ll))                                            \
    X(int, ReplyWithArray, (RedisModuleCtx * ctx, long len))                                                   \
    X(int, ReplyWithNull, (RedisModuleCtx * ctx))                                                              \
    X(int, ReplyWithStringBuffer, (RedisModuleCtx * ctx, const char *buf, size_t len))                         \
    X(const char *, StringPtrLen, (const RedisModuleString *str, size_t *len))                                 \
    X(void *, OpenKey, (RedisModuleCtx * ctx, RedisModuleString *name, int mode))                              \
    X(void, CloseKey, (RedisModuleKey * key))                                                                  \
    X(int, KeyType, (RedisModuleKey * key))                                                                    \
    X(RedisModuleType *, CreateDataType, (RedisModuleCtx * ctx, const char *name, int encver,                  \
                                          RedisModuleTypeMethods *methods))                                    \
    X(int, ModuleTypeSetValue, (RedisModuleKey * key, RedisModuleType *type, void *value))                     \
    X(RedisModuleType *, ModuleTypeGetType, (RedisModuleKey * key))                                            \
    X(void *, ModuleTypeGetValue, (RedisModuleKey * key))                                                      \
    X(int, ReplicateVerbatim, (RedisModuleCtx * ctx))                                                          \
    X(int, IsIOError, (RedisModuleIO * io))                                                                    \
    X(void, SaveUnsigned, (RedisModuleIO * io, uint64_t value))                                                \
    X(uint64_t, LoadUnsigned, (RedisModuleIO * io))                                                            \
    X(void, SaveStringBuffer, (RedisModuleIO * io, const char *str, size_t len))                               \
    X(char *, LoadStringBuffer, (RedisModuleIO * io, size_t *len))                                             \
    X(void, EmitAOF, (RedisModuleIO * io, const char *cmd, const char *fmt, ...))                              \
    X(RedisModuleBlockedClient *, BlockClient, (RedisModuleCtx * ctx, RedisModuleCmdFunc reply,                \
                                                RedisModuleCmdFunc timeout,                                    \
                                                void (*free_privdata)(RedisModuleCtx *, void *),               \
                                                long long timeout_ms))                                         \
    X(int, UnblockClient, (RedisModuleBlockedClient * bc, void *privdata))                                     \
    X(void *, GetBlockedClientPrivateData, (RedisModuleCtx * ctx))

#define RM_DECLARE(ret, name, params) extern ret(*RedisModule_##name) params;
RM_API(RM_DECLARE)
#undef RM_DECLARE

/* Fill every RedisModule_ pointer above from the load context and register
 * the module's name; REDISMODULE_ERR when Redis lacks one of them. */
int rm_api_init(RedisModuleCtx *ctx, const char *name, int ver);

#endif
