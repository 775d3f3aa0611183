/* redismodule_api.h: the part of the Redis module API (redis.io, "Modules
 * API reference") that sail-redis.so calls, declared here because Debian
 * packages no redismodule.h. Redis hands a module its functions by name at
 * load time: rm_api_init() asks for each one listed in RM_API through the
 * lookup function found in the first word of the load context, as every
 * module does. Only what is declared here is used; the types are opaque
 * except the structures Redis reads from the module, which are laid out as
 * Redis 7.0's redismodule.h lays them out. Checked against Redis 7.0 (the
 * API is versioned by name, so later servers serve the same functions). */
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

typedef struct RedisModuleCommand RedisModuleCommand;

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

/* RedisModule_SetCommandInfo (Redis 7.0): a command's arity, summary and
 * key specs, which COMMAND INFO, ACL key permissions and cluster routing
 * read. Version 1 of these structures; only the fields below are used. */
#define REDISMODULE_CMD_KEY_RO (1ULL << 0)     /* reads the key's value */
#define REDISMODULE_CMD_KEY_RW (1ULL << 1)     /* modifies it */
#define REDISMODULE_CMD_KEY_ACCESS (1ULL << 4) /* returns or uses user data from it */
#define REDISMODULE_CMD_KEY_UPDATE (1ULL << 5) /* changes data (may replace some) */
#define REDISMODULE_CMD_KEY_INSERT (1ULL << 6) /* adds data, changing none */
#define REDISMODULE_CMD_KEY_DELETE (1ULL << 7) /* removes some data */

typedef enum {
    REDISMODULE_KSPEC_BS_INVALID = 0, /* ends an array of key specs */
    REDISMODULE_KSPEC_BS_UNKNOWN,
    REDISMODULE_KSPEC_BS_INDEX,
    REDISMODULE_KSPEC_BS_KEYWORD
} RedisModuleKeySpecBeginSearchType;

typedef enum {
    REDISMODULE_KSPEC_FK_OMITTED = 0, /* one key, where the search began */
    REDISMODULE_KSPEC_FK_UNKNOWN,
    REDISMODULE_KSPEC_FK_RANGE,
    REDISMODULE_KSPEC_FK_KEYNUM
} RedisModuleKeySpecFindKeysType;

/* An argument's documentation (COMMAND DOCS): sail sets none, but its size
 * goes into RedisModuleCommandInfoVersion. */
typedef struct RedisModuleCommandArg {
    const char *name;
    int type; /* a RedisModuleCommandArgType (an enum: int-sized) */
    int key_spec_index;
    const char *token;
    const char *summary;
    const char *since;
    int flags;
    const char *deprecated_since;
    struct RedisModuleCommandArg *subargs;
} RedisModuleCommandArg;

typedef struct {
    const char *since;
    const char *changes;
} RedisModuleCommandHistoryEntry;

typedef struct {
    const char *notes;
    uint64_t flags; /* REDISMODULE_CMD_KEY_* */
    RedisModuleKeySpecBeginSearchType begin_search_type;
    union {
        struct {
            int pos;
        } index;
        struct {
            const char *keyword;
            int startfrom;
        } keyword;
    } bs;
    RedisModuleKeySpecFindKeysType find_keys_type;
    union {
        struct {
            int lastkey;
            int keystep;
            int limit;
        } range;
        struct {
            int keynumidx;
            int firstkey;
            int keystep;
        } keynum;
    } fk;
} RedisModuleCommandKeySpec;

/* Tells Redis which layout the module was built with (version 1). */
typedef struct {
    int version;
    size_t sizeof_historyentry;
    size_t sizeof_keyspec;
    size_t sizeof_arg;
} RedisModuleCommandInfoVersion;

typedef struct {
    const RedisModuleCommandInfoVersion *version;
    const char *summary;
    const char *complexity;
    const char *since;
    RedisModuleCommandHistoryEntry *history;
    const char *tips;
    int arity; /* argc with the name; -N: at least N */
    RedisModuleCommandKeySpec *key_specs; /* ends with a zeroed one */
    RedisModuleCommandArg *args;
} RedisModuleCommandInfo;

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

/* Functions that older servers lack: NULL there (Redis before 7.0 has no
 * command info; the module then registers its commands the legacy way). */
#define RM_API_OPTIONAL(X)                                                                                     \
    X(RedisModuleCommand *, GetCommand, (RedisModuleCtx * ctx, const char *name))                              \
    X(int, SetCommandInfo, (RedisModuleCommand * command, const RedisModuleCommandInfo *info))

#define RM_DECLARE(ret, name, params) extern ret(*RedisModule_##name) params;
RM_API(RM_DECLARE)
RM_API_OPTIONAL(RM_DECLARE)
#undef RM_DECLARE

/* Fill every RedisModule_ pointer above from the load context and register
 * the module's name; REDISMODULE_ERR when Redis lacks one of RM_API's
 * (RM_API_OPTIONAL's are left NULL). */
int rm_api_init(RedisModuleCtx *ctx, const char *name, int ver);

#endif
