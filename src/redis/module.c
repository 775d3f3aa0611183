/* module.c: sail-redis.so, a sail index as a native Redis data type.
 *
 *   SAIL.CREATE key DIM d [METRIC ip|cosine|l2] [STORAGE f32|f16|int8]
 *               [KIND hnsw|exact] [M m] [EF_CONSTRUCTION n] [EF_SEARCH n] [SEED s]
 *   SAIL.ADD    key id VECTOR blob [PAYLOAD json]    -> 1 added, 0 replaced
 *   SAIL.DEL    key id [id ...]                      -> ids deleted
 *   SAIL.GET    key id                               -> [vector blob, payload] or nil
 *   SAIL.INFO   key                                  -> [field, value, ...]
 *   SAIL.IDS    key CURSOR c [COUNT n]               -> [next cursor, [id, ...]]
 *   SAIL.SEARCH key VECTOR blob k [FILTER f] [EF n] [EXACT] [NOPAYLOAD]  (search.c)
 *
 * The index is src/index's (sail_index_new, held in memory). RDB stores
 * its byte image (sail_index_serialize) in chunks; AOF rewrite emits the
 * SAIL.CREATE and one SAIL.ADD per live item; writes are replicated
 * verbatim. Each command's key spec (what it does with its key) goes to
 * Redis for ACL key permissions and cluster-aware clients. Module
 * arguments: THREADS n (search threads; default one per core, at most 8;
 * 0 runs searches on Redis's main thread). docs/REDIS.md has the details. */
#include "sail_redis.h"
#include "index/ids.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TYPE_NAME "sailindex"     /* Redis wants exactly 9 characters */
#define TYPE_ENCVER 1
#define RDB_CHUNK ((size_t)64 << 20) /* bytes per RDB string of an image */
#define IDS_COUNT 1000               /* SAIL.IDS: ids per page by default, */
#define IDS_MAX_COUNT 100000         /* and at most */

static int reply_usage(RedisModuleCtx *ctx, const char *what) {
    char msg[300];
    snprintf(msg, sizeof msg, "ERR sail: %s", what);
    return RedisModule_ReplyWithError(ctx, msg);
}

/* --------------------------------------------------------- commands -- */

/* SAIL.CREATE's options (argv[2..]) into o; 0, or non-zero once the error is replied. */
static int parse_create(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, sail_index_options *o) {
    int have_dim = 0;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) return reply_usage(ctx, "an option lacks its value"), 1;
        RedisModuleString *a = argv[i], *v = argv[i + 1];
        long long x;
        char word[16];
        if (sr_arg_is(a, "DIM")) {
            if (sr_arg_long(v, 1, 65536, &x)) return reply_usage(ctx, "DIM must be 1..65536"), 1;
            o->dim = (int)x;
            have_dim = 1;
        } else if (sr_arg_is(a, "METRIC")) {
            if (!sr_arg_text(v, word, sizeof word) || sail_metric_parse(word, &o->metric))
                return reply_usage(ctx, "METRIC must be ip, cosine or l2"), 1;
        } else if (sr_arg_is(a, "STORAGE")) {
            if (!sr_arg_text(v, word, sizeof word) || sail_storage_parse(word, &o->storage))
                return reply_usage(ctx, "STORAGE must be f32, f16 or int8"), 1;
        } else if (sr_arg_is(a, "KIND")) {
            if (!sr_arg_text(v, word, sizeof word) || sail_index_kind_parse(word, &o->kind))
                return reply_usage(ctx, "KIND must be hnsw or exact"), 1;
        } else if (sr_arg_is(a, "M")) {
            if (sr_arg_long(v, 2, 256, &x)) return reply_usage(ctx, "M must be 2..256"), 1;
            o->M = (int)x;
        } else if (sr_arg_is(a, "EF_CONSTRUCTION") || sr_arg_is(a, "EF_SEARCH")) {
            if (sr_arg_long(v, 1, 100000, &x)) return reply_usage(ctx, "EF_CONSTRUCTION and EF_SEARCH must be 1..100000"), 1;
            *(sr_arg_is(a, "EF_SEARCH") ? &o->ef_search : &o->ef_construction) = (int)x;
        } else if (sr_arg_is(a, "SEED")) {
            if (sr_arg_u64(v, &o->seed)) return reply_usage(ctx, "SEED must be an unsigned 64-bit integer"), 1;
        } else {
            return reply_usage(ctx, "unknown option (DIM, METRIC, STORAGE, KIND, M, EF_CONSTRUCTION, EF_SEARCH, SEED)"), 1;
        }
    }
    if (!have_dim) return reply_usage(ctx, "SAIL.CREATE needs DIM"), 1;
    return 0;
}

/* The options every module index runs with: one thread (the module's
 * threads run searches side by side) and a serial graph build, so a
 * replica or an AOF replay that adds the same items in the same order
 * builds the same graph. */
static void run_options(sail_index_options *o) {
    o->n_threads = 1;
    o->deterministic = 1;
}

static int cmd_create(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4) return RedisModule_WrongArity(ctx);
    sail_index_options o = {.metric = SAIL_METRIC_COSINE, .kind = SAIL_INDEX_HNSW};
    if (parse_create(ctx, argv, argc, &o)) return REDISMODULE_OK;
    run_options(&o);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    if (RedisModule_KeyType(key) != REDISMODULE_KEYTYPE_EMPTY) {
        RedisModule_CloseKey(key);
        return reply_usage(ctx, "the key exists (DEL it first)");
    }
    sail_error e = {0};
    sail_index *ix = sail_index_new(&o, &e);
    sr_value *v = ix ? sr_value_new(ix) : NULL;
    if (!v) {
        RedisModule_CloseKey(key);
        if (ix) sail_index_close(ix, NULL);
        return ix ? reply_usage(ctx, "out of memory") : sr_reply_error(ctx, &e);
    }
    RedisModule_ModuleTypeSetValue(key, sr_type, v);
    RedisModule_CloseKey(key);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int cmd_add(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 5 && argc != 7) return RedisModule_WrongArity(ctx);
    uint64_t id;
    if (sr_arg_u64(argv[2], &id)) return reply_usage(ctx, "the id must be an unsigned 64-bit integer");
    if (!sr_arg_is(argv[3], "VECTOR") || (argc == 7 && !sr_arg_is(argv[5], "PAYLOAD")))
        return reply_usage(ctx, "usage: SAIL.ADD key id VECTOR blob [PAYLOAD json]");
    char *payload = NULL;
    if (argc == 7) {
        size_t n;
        const char *s = RedisModule_StringPtrLen(argv[6], &n);
        if (memchr(s, 0, n) || !(payload = strndup(s, n)))
            return reply_usage(ctx, "the payload must be JSON text without NUL bytes");
    }
    RedisModuleKey *key;
    sr_value *v = sr_open(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    float *vec = v ? malloc((size_t)v->dim * sizeof(float)) : NULL;
    if (!v || !vec || sr_arg_vector(ctx, argv[4], v->dim, vec)) {
        if (v && !vec) reply_usage(ctx, "out of memory");
        free(vec);
        free(payload);
        if (key) RedisModule_CloseKey(key);
        return REDISMODULE_OK;
    }
    sail_error e = {0};
    pthread_rwlock_wrlock(&v->lock);
    int existed = sail_index_get(v->ix, id, NULL, NULL, NULL) == SAIL_OK;
    sail_status st = sail_index_add(v->ix, &id, vec, (const char *const *)&payload, 1, &e);
    pthread_rwlock_unlock(&v->lock);
    RedisModule_CloseKey(key);
    free(vec);
    free(payload);
    if (st) return sr_reply_error(ctx, &e);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithLongLong(ctx, !existed);
}

static int cmd_del(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    uint64_t *ids = malloc((size_t)(argc - 2) * sizeof *ids);
    if (!ids) return reply_usage(ctx, "out of memory");
    for (int i = 2; i < argc; i++)
        if (sr_arg_u64(argv[i], &ids[i - 2])) {
            free(ids);
            return reply_usage(ctx, "ids must be unsigned 64-bit integers");
        }
    RedisModuleKey *key;
    sr_value *v = sr_open(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    if (!v) {
        free(ids);
        return REDISMODULE_OK;
    }
    sail_error e = {0};
    int n = 0;
    pthread_rwlock_wrlock(&v->lock);
    sail_status st = sail_index_delete(v->ix, ids, argc - 2, &n, &e);
    pthread_rwlock_unlock(&v->lock);
    RedisModule_CloseKey(key);
    free(ids);
    if (st) return sr_reply_error(ctx, &e);
    if (n) RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithLongLong(ctx, n);
}

static int cmd_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    uint64_t id;
    if (sr_arg_u64(argv[2], &id)) return reply_usage(ctx, "the id must be an unsigned 64-bit integer");
    RedisModuleKey *key;
    sr_value *v = sr_open(ctx, argv[1], REDISMODULE_READ, &key);
    if (!v) return REDISMODULE_OK;
    float *vec = malloc((size_t)v->dim * sizeof(float));
    char *payload = NULL;
    sail_status st = vec ? sail_index_get(v->ix, id, vec, &payload, NULL) : SAIL_ERR_NOMEM;
    if (st == SAIL_ERR_INVALID_ARG) {
        RedisModule_ReplyWithNull(ctx);
    } else if (st) {
        reply_usage(ctx, "out of memory");
    } else {
        RedisModule_ReplyWithArray(ctx, 2);
        RedisModule_ReplyWithStringBuffer(ctx, (const char *)vec, (size_t)v->dim * sizeof(float));
        RedisModule_ReplyWithStringBuffer(ctx, payload, strlen(payload));
    }
    RedisModule_CloseKey(key);
    free(vec);
    free(payload);
    return REDISMODULE_OK;
}

static void reply_field(RedisModuleCtx *ctx, const char *name, const char *text, long long num) {
    RedisModule_ReplyWithStringBuffer(ctx, name, strlen(name));
    if (text) RedisModule_ReplyWithStringBuffer(ctx, text, strlen(text));
    else RedisModule_ReplyWithLongLong(ctx, num);
}

static int cmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key;
    sr_value *v = sr_open(ctx, argv[1], REDISMODULE_READ, &key);
    if (!v) return REDISMODULE_OK;
    sail_index_info i;
    sail_index_get_info(v->ix, &i);
    RedisModule_CloseKey(key);
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, i.seed);
    RedisModule_ReplyWithArray(ctx, 2 * 11);
    reply_field(ctx, "dim", NULL, i.dim);
    reply_field(ctx, "metric", sail_metric_name(i.metric), 0);
    reply_field(ctx, "storage", sail_storage_name(i.storage), 0);
    reply_field(ctx, "kind", sail_index_kind_name(i.kind), 0);
    reply_field(ctx, "M", NULL, i.M);
    reply_field(ctx, "ef_construction", NULL, i.ef_construction);
    reply_field(ctx, "ef_search", NULL, i.ef_search);
    reply_field(ctx, "seed", seed, 0);
    reply_field(ctx, "count", NULL, (long long)i.count);
    reply_field(ctx, "tombstones", NULL, (long long)i.tombstones);
    reply_field(ctx, "memory_bytes", NULL, (long long)i.memory_bytes);
    return REDISMODULE_OK;
}

static void reply_u64(RedisModuleCtx *ctx, uint64_t x) {
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, x);
    RedisModule_ReplyWithStringBuffer(ctx, s, strlen(s));
}

/* A page of ids, as SCAN pages keys: the cursor is a slot position, so a
 * walk is stable under adds and deletes (ids.h says how). */
static int cmd_ids(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 4 && argc != 6) return RedisModule_WrongArity(ctx);
    uint64_t cursor, next = 0;
    long long count = IDS_COUNT;
    if (!sr_arg_is(argv[2], "CURSOR") || (argc == 6 && !sr_arg_is(argv[4], "COUNT")))
        return reply_usage(ctx, "usage: SAIL.IDS key CURSOR c [COUNT n]");
    if (sr_arg_u64(argv[3], &cursor)) return reply_usage(ctx, "the cursor must be an unsigned 64-bit integer (0 starts)");
    if (argc == 6 && sr_arg_long(argv[5], 1, IDS_MAX_COUNT, &count)) return reply_usage(ctx, "COUNT must be 1..100000");
    RedisModuleKey *key;
    sr_value *v = sr_open(ctx, argv[1], REDISMODULE_READ, &key);
    if (!v) return REDISMODULE_OK;
    uint64_t *ids = malloc((size_t)count * sizeof *ids);
    size_t n = ids ? ix_ids_page(v->ix, cursor, ids, (size_t)count, &next) : 0;
    RedisModule_CloseKey(key);
    if (!ids) return reply_usage(ctx, "out of memory");
    RedisModule_ReplyWithArray(ctx, 2);
    reply_u64(ctx, next);
    RedisModule_ReplyWithArray(ctx, (long)n);
    for (size_t i = 0; i < n; i++) reply_u64(ctx, ids[i]);
    free(ids);
    return REDISMODULE_OK;
}

/* ------------------------------------------------------- persistence -- */

/* RDB: the image's length, then the image in strings of up to RDB_CHUNK. */
static void rdb_save(RedisModuleIO *io, void *value) {
    sr_value *v = value;
    void *img = NULL;
    size_t len = 0;
    sail_error e = {0};
    if (sail_index_serialize(v->ix, &img, &len, &e)) {
        /* no way to fail a save here: an empty image, which loading refuses */
        RedisModule_LogIOError(io, "warning", "sail: cannot serialise an index: %s", e.msg);
        len = 0;
    }
    RedisModule_SaveUnsigned(io, len);
    for (size_t o = 0; o < len; o += RDB_CHUNK)
        RedisModule_SaveStringBuffer(io, (const char *)img + o, len - o < RDB_CHUNK ? len - o : RDB_CHUNK);
    sail_free(img);
}

static void *rdb_load(RedisModuleIO *io, int encver) {
    if (encver != TYPE_ENCVER) {
        RedisModule_LogIOError(io, "warning", "sail: index encoding %d; this module reads %d", encver, TYPE_ENCVER);
        return NULL;
    }
    uint64_t len = RedisModule_LoadUnsigned(io);
    /* image bytes come in chunks whose lengths must add up to len */
    uint8_t *img = !RedisModule_IsIOError(io) && len && len < ((uint64_t)1 << 46) ? malloc(len) : NULL;
    uint64_t got = 0;
    while (img && got < len) {
        size_t n = 0;
        char *chunk = RedisModule_LoadStringBuffer(io, &n);
        if (RedisModule_IsIOError(io) || !chunk || n == 0 || n > len - got) {
            if (chunk) RedisModule_Free(chunk);
            free(img);
            img = NULL;
            break;
        }
        memcpy(img + got, chunk, n);
        got += n;
        RedisModule_Free(chunk);
    }
    if (!img) {
        RedisModule_LogIOError(io, "warning", "sail: an index's RDB data is truncated or damaged");
        return NULL;
    }
    sail_index_options o = {0};
    run_options(&o);
    sail_error e = {0};
    sail_index *ix = sail_index_deserialize(img, len, &o, &e);
    free(img);
    sr_value *v = ix ? sr_value_new(ix) : NULL;
    if (!v) {
        RedisModule_LogIOError(io, "warning", "sail: refusing an index from RDB: %s", ix ? "out of memory" : e.msg);
        sail_index_close(ix, NULL);
    }
    return v;
}

/* AOF rewrite: the commands that rebuild the index, live items in order. */
static void aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    sr_value *v = value;
    sail_index_info i;
    sail_index_get_info(v->ix, &i);
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, i.seed);
    RedisModule_EmitAOF(aof, "SAIL.CREATE", "sclccccccclclclcc", key, "DIM", (long long)i.dim,
                        "METRIC", sail_metric_name(i.metric), "STORAGE", sail_storage_name(i.storage),
                        "KIND", sail_index_kind_name(i.kind), "M", (long long)i.M,
                        "EF_CONSTRUCTION", (long long)i.ef_construction, "EF_SEARCH", (long long)i.ef_search,
                        "SEED", seed);
    size_t n = sail_index_ids(v->ix, NULL, 0);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    float *vec = malloc((size_t)i.dim * sizeof(float));
    if (!ids || !vec) {
        RedisModule_LogIOError(aof, "warning", "sail: out of memory rewriting an index of %zu items", n);
        n = 0;
    } else {
        n = sail_index_ids(v->ix, ids, n); /* no writer runs during a rewrite */
    }
    for (size_t k = 0; k < n; k++) {
        char *payload = NULL, id[24];
        if (sail_index_get(v->ix, ids[k], vec, &payload, NULL)) continue;
        snprintf(id, sizeof id, "%" PRIu64, ids[k]);
        RedisModule_EmitAOF(aof, "SAIL.ADD", "sccbcc", key, id, "VECTOR", (const char *)vec,
                            (size_t)i.dim * sizeof(float), "PAYLOAD", payload);
        free(payload);
    }
    free(ids);
    free(vec);
}

static size_t mem_usage(const void *value) {
    sail_index_info i;
    sail_index_get_info(((const sr_value *)value)->ix, &i);
    return sizeof(sr_value) + i.memory_bytes;
}

static void value_free(void *value) { sr_value_unref(value); }

/* ------------------------------------------------------------- load -- */

#define KEY_READ (REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS)

/* Every command has one key, argv[1]. Its key spec says what the command
 * does with it, in Redis's terms: ACL key permissions (%R~ / %W~), COMMAND
 * INFO and key-spec-aware clients read it. ACCESS: returns or uses items;
 * SAIL.INFO reports metadata only (like LLEN). SAIL.ADD may replace an
 * item (UPDATE); SAIL.CREATE only makes a new key (INSERT). */
static const struct command {
    const char *name, *flags, *summary;
    RedisModuleCmdFunc fn;
    int arity;          /* as Redis counts it: with the name; -N: at least N */
    uint64_t key_flags; /* REDISMODULE_CMD_KEY_* */
} cmds[] = {
    {"sail.create", "write deny-oom", "Creates an index at a new key", cmd_create, -4,
     REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_INSERT},
    {"sail.add", "write deny-oom", "Adds an item to an index or replaces the item with its id", cmd_add, -5,
     REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE},
    {"sail.del", "write", "Deletes items from an index", cmd_del, -3,
     REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_DELETE},
    {"sail.get", "readonly fast", "Returns an item's vector and payload", cmd_get, 3, KEY_READ},
    {"sail.info", "readonly", "Returns an index's options and counts", cmd_info, 2, REDISMODULE_CMD_KEY_RO},
    {"sail.ids", "readonly", "Returns a page of an index's ids", cmd_ids, -4, KEY_READ},
    {"sail.search", "readonly", "Returns the nearest items to a vector", sr_cmd_search, -5, KEY_READ},
};

/* The command with its key at argv[1]; on Redis 7.0 and later also its
 * arity, summary and key spec. Older servers lack SetCommandInfo and keep
 * the legacy spec that (1, 1, 1) gives: read-write access to the key. */
static int register_command(RedisModuleCtx *ctx, const struct command *c) {
    if (RedisModule_CreateCommand(ctx, c->name, c->fn, c->flags, 1, 1, 1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (!RedisModule_SetCommandInfo || !RedisModule_GetCommand) return REDISMODULE_OK;
    static const RedisModuleCommandInfoVersion layout = {
        .version = 1,
        .sizeof_historyentry = sizeof(RedisModuleCommandHistoryEntry),
        .sizeof_keyspec = sizeof(RedisModuleCommandKeySpec),
        .sizeof_arg = sizeof(RedisModuleCommandArg),
    };
    RedisModuleCommandKeySpec specs[2] = { /* one key, argv[1]; a zeroed spec ends the list */
        {.flags = c->key_flags,
         .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
         .bs.index.pos = 1,
         .find_keys_type = REDISMODULE_KSPEC_FK_RANGE,
         .fk.range = {.lastkey = 0, .keystep = 1, .limit = 0}},
    };
    RedisModuleCommandInfo info = {.version = &layout, .summary = c->summary, .arity = c->arity, .key_specs = specs};
    RedisModuleCommand *cmd = RedisModule_GetCommand(ctx, c->name);
    if (cmd && RedisModule_SetCommandInfo(cmd, &info) == REDISMODULE_OK) return REDISMODULE_OK;
    RedisModule_Log(ctx, "warning", "sail: Redis refused the command info of %s", c->name);
    return REDISMODULE_ERR;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (rm_api_init(ctx, "sail", 1) != REDISMODULE_OK) return REDISMODULE_ERR;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long long threads = cores < 1 ? 1 : cores > 8 ? 8 : cores;
    for (int i = 0; i < argc; i += 2) {
        if (i + 1 < argc && sr_arg_is(argv[i], "THREADS") && !sr_arg_long(argv[i + 1], 0, 256, &threads)) continue;
        RedisModule_Log(ctx, "warning", "sail: unknown or bad module argument (THREADS n, n = 0..256)");
        return REDISMODULE_ERR;
    }
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS);
    RedisModuleTypeMethods tm = {.version = REDISMODULE_TYPE_METHOD_VERSION_1, .rdb_load = rdb_load,
                                 .rdb_save = rdb_save, .aof_rewrite = aof_rewrite, .mem_usage = mem_usage,
                                 .free = value_free};
    if (!(sr_type = RedisModule_CreateDataType(ctx, TYPE_NAME, TYPE_ENCVER, &tm))) return REDISMODULE_ERR;
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (register_command(ctx, &cmds[i]) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (sr_search_start((int)threads)) {
        RedisModule_Log(ctx, "warning", "sail: cannot start %lld search threads", threads);
        return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}
