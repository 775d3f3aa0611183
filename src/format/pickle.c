/* pickle.c: the restricted unpickler (see pickle.h). A small stack machine
 * over a closed set of opcodes; every value lives in one list freed at the
 * end, so hostile input cannot leak, loop or reach outside the buffer. */
#include "pickle.h"

#include "safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A state dict needs about 20 objects per tensor; 2^22 objects (about
 * 400 MB at worst) is far beyond any checkpoint and bounds what a small
 * hostile pickle can make us allocate. */
enum { MAX_STACK = 1 << 20, MAX_MEMO = 1 << 22, MAX_ITEMS = 1 << 22 };

typedef enum kind {
    K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_TUPLE, K_LIST, K_DICT, K_GLOBAL, K_STORAGE,
    K_TENSOR, K_MARK
} kind;

/* The globals a state dict needs; nothing else can be named. */
enum { G_ORDERED_DICT, G_REBUILD, G_FLOAT, G_HALF, G_BF16, G_LONG, N_GLOBALS };
/* LongStorage: integer buffers such as position_ids, which checkpoints
 * carry beside the weights; the converter reads no integer tensor. */
static const char *const globals[N_GLOBALS][2] = {
    {"collections", "OrderedDict"}, {"torch._utils", "_rebuild_tensor_v2"},
    {"torch", "FloatStorage"}, {"torch", "HalfStorage"}, {"torch", "BFloat16Storage"},
    {"torch", "LongStorage"}};

typedef struct val {
    kind k;
    int64_t i;                  /* BOOL, INT; GLOBAL: its index */
    const char *s;              /* STR: into the input (not NUL-terminated) */
    size_t len;
    struct val **items;         /* TUPLE, LIST, DICT (key, value pairs); TENSOR: its args */
    size_t n, cap;
    struct val *storage;        /* TENSOR */
    int dtype;                  /* STORAGE */
    uint64_t numel;             /* STORAGE */
} val;

typedef struct vm {
    const uint8_t *p, *end, *start;
    val **stack;
    size_t sp, scap;
    val **memo;
    size_t memo_cap, memo_count;  /* count: entries set, MEMOIZE's next index */
    val **all;                  /* every value, for the final free */
    size_t n_all, all_cap;
    sail_error *err;
    sail_status s;
} vm;

static sail_status fail(vm *m, sail_status st, const char *fmt, ...) SAIL_PRINTF(3, 4);

static sail_status fail(vm *m, sail_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!m->s) m->s = sail_set_error(m->err, st, "pickle byte %lld: %s",
                                     (long long)(m->p - m->start), msg);
    return m->s;
}

/* Room for one more in a growable array of n values (*cap doubles from
 * first): 0, after fail(), past max (the message says which limit) or out
 * of memory. */
static int grow(vm *m, val ***a, size_t n, size_t *cap, size_t first, size_t max, const char *limit) {
    if (n < *cap) return 1;
    size_t c = *cap ? *cap * 2 : first;
    if (c > max) return fail(m, SAIL_ERR_LIMIT, "%s", limit), 0;
    val **g = sail_realloc(*a, c * sizeof *g);
    if (!g) return fail(m, SAIL_ERR_NOMEM, "out of memory"), 0;
    *a = g;
    *cap = c;
    return 1;
}

static val *new_val(vm *m, kind k) {
    if (!grow(m, &m->all, m->n_all, &m->all_cap, 256, MAX_ITEMS, "more than 2^22 objects")) return NULL;
    val *v = sail_calloc(1, sizeof *v);
    if (!v) {
        fail(m, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    v->k = k;
    m->all[m->n_all++] = v;
    return v;
}

static int push(vm *m, val *v) {
    if (!v) return 0;
    if (!grow(m, &m->stack, m->sp, &m->scap, 64, MAX_STACK, "the stack grows past its limit")) return 0;
    m->stack[m->sp++] = v;
    return 1;
}

static val *pop(vm *m) {
    if (!m->sp || m->stack[m->sp - 1]->k == K_MARK) {
        fail(m, SAIL_ERR_FORMAT, "the stack is empty");
        return NULL;
    }
    return m->stack[--m->sp];
}

static int add_item(vm *m, val *c, val *x) {
    if (!grow(m, &c->items, c->n, &c->cap, 4, MAX_ITEMS, "a container is too large")) return 0;
    c->items[c->n++] = x;
    return 1;
}

/* Index of the topmost MARK, or -1 (error set). */
static long find_mark(vm *m) {
    for (size_t i = m->sp; i-- > 0;)
        if (m->stack[i]->k == K_MARK) return (long)i;
    fail(m, SAIL_ERR_FORMAT, "no MARK on the stack");
    return -1;
}

/* Pop everything above the topmost MARK (and the mark) into a new tuple. */
static val *pop_to_mark(vm *m, kind k) {
    long mk = find_mark(m);
    if (mk < 0) return NULL;
    val *t = new_val(m, k);
    for (size_t i = (size_t)mk + 1; t && i < m->sp; i++)
        if (!add_item(m, t, m->stack[i])) return NULL;
    m->sp = (size_t)mk;
    return t;
}

static int need(vm *m, size_t n) {
    if ((size_t)(m->end - m->p) < n) return fail(m, SAIL_ERR_FORMAT, "truncated pickle"), 0;
    return 1;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int memo_put(vm *m, uint64_t idx) {
    if (!m->sp) return fail(m, SAIL_ERR_FORMAT, "PUT with an empty stack"), 0;
    if (idx >= MAX_MEMO) return fail(m, SAIL_ERR_LIMIT, "memo index %llu is past the limit", (unsigned long long)idx), 0;
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        val **mm = sail_realloc(m->memo, cap * sizeof *mm);
        if (!mm) return fail(m, SAIL_ERR_NOMEM, "out of memory"), 0;
        memset(mm + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *mm);
        m->memo = mm;
        m->memo_cap = cap;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = m->stack[m->sp - 1];
    return 1;
}

static int memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx])
        return fail(m, SAIL_ERR_FORMAT, "GET of unset memo entry %llu", (unsigned long long)idx), 0;
    return push(m, m->memo[idx]);
}

static int global(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    for (int g = 0; g < N_GLOBALS; g++)
        if (strlen(globals[g][0]) == ml && !memcmp(globals[g][0], mod, ml) &&
            strlen(globals[g][1]) == nl && !memcmp(globals[g][1], name, nl)) {
            val *v = new_val(m, K_GLOBAL);
            if (v) v->i = g;
            return push(m, v);
        }
    char what[160];
    snprintf(what, sizeof what, "%.*s.%.*s", (int)SAIL_MIN(ml, 60), mod, (int)SAIL_MIN(nl, 60), name);
    return fail(m, SAIL_ERR_UNSUPPORTED,
                "the pickle refers to %s, which sail refuses to load (only tensors and dicts are "
                "allowed; nothing is executed)", what), 0;
}

/* GLOBAL's operands: two newline-terminated lines. */
static int op_global(vm *m) {
    const uint8_t *a = m->p, *nl1 = memchr(a, '\n', (size_t)(m->end - a));
    const uint8_t *b = nl1 ? nl1 + 1 : NULL, *nl2 = b ? memchr(b, '\n', (size_t)(m->end - b)) : NULL;
    if (!nl2) return fail(m, SAIL_ERR_FORMAT, "truncated GLOBAL"), 0;
    m->p = nl2 + 1;
    return global(m, (const char *)a, (size_t)(nl1 - a), (const char *)b, (size_t)(nl2 - b));
}

static int is_int(const val *v) { return v && (v->k == K_INT || v->k == K_BOOL); }

static int str_eq(const val *v, const char *s) {
    return v && v->k == K_STR && v->len == strlen(s) && !memcmp(v->s, s, v->len);
}

/* persistent_load(('storage', StorageType, key, location, numel)). */
static int op_persid(vm *m) {
    val *pid = pop(m), *t;
    if (!pid) return 0;
    if (pid->k != K_TUPLE || pid->n != 5 || !str_eq(pid->items[0], "storage") ||
        pid->items[1]->k != K_GLOBAL || pid->items[1]->i < G_FLOAT || pid->items[2]->k != K_STR ||
        pid->items[3]->k != K_STR || !is_int(pid->items[4]) || pid->items[4]->i < 0 ||
        pid->items[2]->len == 0 || pid->items[2]->len >= 32)
        return fail(m, SAIL_ERR_UNSUPPORTED, "a persistent id that is not a float/half/bfloat16/long storage"), 0;
    const val *key = pid->items[2];
    for (size_t i = 0; i < key->len; i++)
        if (!((key->s[i] >= '0' && key->s[i] <= '9') || (key->s[i] >= 'a' && key->s[i] <= 'z') ||
              (key->s[i] >= 'A' && key->s[i] <= 'Z') || key->s[i] == '_'))
            return fail(m, SAIL_ERR_FORMAT, "a storage key with a character other than [A-Za-z0-9_]"), 0;
    if (!(t = new_val(m, K_STORAGE))) return 0;
    static const int dt[] = {[G_FLOAT] = SAIL_ST_F32, [G_HALF] = SAIL_ST_F16, [G_BF16] = SAIL_ST_BF16,
                             [G_LONG] = SAIL_ST_I64};
    t->dtype = dt[pid->items[1]->i];
    t->s = key->s;
    t->len = key->len;
    t->numel = (uint64_t)pid->items[4]->i;
    return push(m, t);
}

/* REDUCE: only OrderedDict() and _rebuild_tensor_v2(storage, offset, size,
 * stride, requires_grad, hooks[, metadata]). */
static int op_reduce(vm *m) {
    val *args = pop(m), *fn = pop(m);
    if (!args || !fn) return 0;
    if (fn->k != K_GLOBAL || args->k != K_TUPLE)
        return fail(m, SAIL_ERR_UNSUPPORTED, "REDUCE of something other than an allowed global"), 0;
    if (fn->i == G_ORDERED_DICT) {
        if (args->n) return fail(m, SAIL_ERR_UNSUPPORTED, "OrderedDict with arguments"), 0;
        return push(m, new_val(m, K_DICT));
    }
    if (fn->i != G_REBUILD)
        return fail(m, SAIL_ERR_UNSUPPORTED, "a storage type called as a function"), 0;
    if ((args->n != 6 && args->n != 7) || args->items[0]->k != K_STORAGE || !is_int(args->items[1]) ||
        args->items[1]->i < 0 || args->items[2]->k != K_TUPLE || args->items[3]->k != K_TUPLE ||
        args->items[2]->n != args->items[3]->n || args->items[2]->n > SAIL_PKL_MAX_DIMS)
        return fail(m, SAIL_ERR_FORMAT, "_rebuild_tensor_v2 with unexpected arguments"), 0;
    for (size_t i = 0; i < args->items[2]->n; i++)
        if (!is_int(args->items[2]->items[i]) || !is_int(args->items[3]->items[i]) ||
            args->items[2]->items[i]->i < 0 || args->items[3]->items[i]->i < 0)
            return fail(m, SAIL_ERR_FORMAT, "a tensor size or stride that is not a non-negative integer"), 0;
    val *t = new_val(m, K_TENSOR);
    if (!t) return 0;
    t->storage = args->items[0];
    t->i = args->items[1]->i;
    t->items = NULL;
    t->n = 0;
    if (!add_item(m, t, args->items[2]) || !add_item(m, t, args->items[3])) return 0;
    return push(m, t);
}

static int set_items(vm *m, long mk) {
    if (mk < 1 || (m->sp - (size_t)mk - 1) % 2)
        return fail(m, SAIL_ERR_FORMAT, "SETITEMS with an odd number of entries"), 0;
    val *d = m->stack[mk - 1];
    if (d->k != K_DICT) return fail(m, SAIL_ERR_FORMAT, "SETITEM(S) on something that is not a dict"), 0;
    for (size_t i = (size_t)mk + 1; i < m->sp; i++)
        if (!add_item(m, d, m->stack[i])) return 0;
    m->sp = (size_t)mk;
    return 1;
}

static int step(vm *m) {
    uint8_t op = *m->p++;
    val *v;
    uint64_t n;
    switch (op) {
    case 0x80: return need(m, 1) && (m->p++, 1);                  /* PROTO */
    case 0x95: return need(m, 8) && (m->p += 8, 1);               /* FRAME */
    case 'c': return op_global(m);
    case 0x93: {                                                  /* STACK_GLOBAL */
        val *name = pop(m), *mod = pop(m);
        if (!name || !mod || name->k != K_STR || mod->k != K_STR)
            return fail(m, SAIL_ERR_FORMAT, "STACK_GLOBAL without two strings"), 0;
        return global(m, mod->s, mod->len, name->s, name->len);
    }
    case 'q': return need(m, 1) && memo_put(m, *m->p++);          /* BINPUT */
    case 'r': return need(m, 4) && (n = le(m->p, 4), m->p += 4, memo_put(m, n));
    case 0x94: return memo_put(m, m->memo_count);                 /* MEMOIZE */
    case 'h': return need(m, 1) && memo_get(m, *m->p++);          /* BINGET */
    case 'j': return need(m, 4) && (n = le(m->p, 4), m->p += 4, memo_get(m, n));
    case '}': return push(m, new_val(m, K_DICT));
    case ']': return push(m, new_val(m, K_LIST));
    case ')': return push(m, new_val(m, K_TUPLE));
    case '(': return push(m, new_val(m, K_MARK));
    case 'N': return push(m, new_val(m, K_NONE));
    case 0x88: case 0x89:                                         /* NEWTRUE, NEWFALSE */
        if ((v = new_val(m, K_BOOL))) v->i = op == 0x88;
        return push(m, v);
    case 'X': case 0x8c: case 0x8d: {                             /* BINUNICODE, SHORT_, 8 */
        int w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
        if (!need(m, (size_t)w)) return 0;
        n = le(m->p, w);
        m->p += w;
        if (!need(m, n)) return 0;
        if ((v = new_val(m, K_STR))) v->s = (const char *)m->p, v->len = (size_t)n;
        m->p += n;
        return push(m, v);
    }
    case 'J': case 'K': case 'M': {                               /* BININT, BININT1, BININT2 */
        int w = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if (!need(m, (size_t)w)) return 0;
        n = le(m->p, w);
        m->p += w;
        if ((v = new_val(m, K_INT))) v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)n : (int64_t)n;
        return push(m, v);
    }
    case 0x8a: {                                                  /* LONG1 */
        if (!need(m, 1)) return 0;
        int w = *m->p++;
        if (w > 8) return fail(m, SAIL_ERR_FORMAT, "LONG1 of %d bytes", w), 0;
        if (!need(m, (size_t)w)) return 0;
        n = le(m->p, w);
        if (w && w < 8 && (m->p[w - 1] & 0x80)) n |= ~(uint64_t)0 << (8 * w); /* sign-extend */
        m->p += w;
        if ((v = new_val(m, K_INT))) v->i = (int64_t)n;
        return push(m, v);
    }
    case 'G':                                                     /* BINFLOAT: value unused */
        if (!need(m, 8)) return 0;
        m->p += 8;
        return push(m, new_val(m, K_FLOAT));
    case 't': return push(m, pop_to_mark(m, K_TUPLE));
    case 0x85: case 0x86: case 0x87: {                            /* TUPLE1..3 */
        size_t k = (size_t)(op - 0x84);
        if (m->sp < k) return fail(m, SAIL_ERR_FORMAT, "TUPLE%zu on a short stack", k), 0;
        if (!(v = new_val(m, K_TUPLE))) return 0;
        for (size_t i = m->sp - k; i < m->sp; i++)
            if (m->stack[i]->k == K_MARK || !add_item(m, v, m->stack[i]))
                return fail(m, SAIL_ERR_FORMAT, "a MARK inside TUPLE%zu", k), 0;
        m->sp -= k;
        return push(m, v);
    }
    case 'R': return op_reduce(m);
    case 'Q': return op_persid(m);
    case 'b': {                                                   /* BUILD: OrderedDict._metadata, ignored */
        val *state = pop(m);
        if (!state) return 0;
        if (!m->sp || m->stack[m->sp - 1]->k != K_DICT)
            return fail(m, SAIL_ERR_UNSUPPORTED, "BUILD on something other than a dict"), 0;
        return 1;
    }
    case 's': {                                                   /* SETITEM */
        if (m->sp < 3) return fail(m, SAIL_ERR_FORMAT, "SETITEM on a short stack"), 0;
        val *x = pop(m), *k = pop(m);
        if (!x || !k) return 0;
        val *d = m->stack[m->sp - 1];
        if (d->k != K_DICT) return fail(m, SAIL_ERR_FORMAT, "SETITEM on something that is not a dict"), 0;
        return add_item(m, d, k) && add_item(m, d, x);
    }
    case 'u': {                                                   /* SETITEMS */
        long mk = find_mark(m);
        return mk >= 0 && set_items(m, mk);
    }
    case 'a': case 'e': {                                         /* APPEND, APPENDS */
        long mk = op == 'a' ? (long)m->sp - 1 : find_mark(m);
        size_t from = op == 'a' ? m->sp - 1 : (size_t)mk + 1;
        if (mk < 1 || m->stack[mk - 1]->k != K_LIST)
            return fail(m, SAIL_ERR_FORMAT, "APPEND to something that is not a list"), 0;
        for (size_t i = from; i < m->sp; i++)
            if (!add_item(m, m->stack[mk - 1], m->stack[i])) return 0;
        m->sp = op == 'a' ? m->sp - 1 : (size_t)mk;
        return 1;
    }
    default: {
        char c[2] = {op >= 0x20 && op < 0x7f ? (char)op : '?', 0};
        m->p--;
        return fail(m, SAIL_ERR_UNSUPPORTED, "opcode '%s' (0x%02x) is not allowed in a state dict", c, op), 0;
    }
    }
}

/* Contiguous row-major strides (dimensions of size 1 may have any). */
static int contiguous(const val *size, const val *stride) {
    int64_t want = 1;
    for (size_t i = size->n; i-- > 0;) {
        if (size->items[i]->i != 1 && stride->items[i]->i != want) return 0;
        want *= size->items[i]->i;
    }
    return 1;
}

/* A training checkpoint ({"epoch": .., "state_dict": {..}, "optimizer": ..},
 * as open_clip and many trainers save) holds the state dict under
 * "state_dict". */
static const val *state_dict_of(const val *d) {
    for (size_t i = 0; d->k == K_DICT && i + 1 < d->n; i += 2) {
        const val *k = d->items[i];
        if (k->k == K_STR && k->len == 10 && !memcmp(k->s, "state_dict", 10) && d->items[i + 1]->k == K_DICT)
            return d->items[i + 1];
    }
    return d;
}

static sail_status collect(vm *m, const val *d, sail_pkl_tensor **out, int *n_out) {
    d = state_dict_of(d);
    if (d->k != K_DICT) return fail(m, SAIL_ERR_FORMAT, "the pickle holds no dict of tensors");
    int n = (int)(d->n / 2);
    sail_pkl_tensor *t = sail_calloc(n ? (size_t)n : 1, sizeof *t);
    if (!t) return fail(m, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const val *k = d->items[2 * i], *v = d->items[2 * i + 1];
        if (k->k != K_STR || v->k != K_TENSOR || !k->len || memchr(k->s, 0, k->len)) {
            sail_pkl_free(t, i);
            return fail(m, SAIL_ERR_UNSUPPORTED, "state-dict entry %d is not a named tensor", i);
        }
        const val *size = v->items[0], *stride = v->items[1], *st = v->storage;
        sail_pkl_tensor *x = &t[i];
        uint64_t numel = 1;
        x->n_dims = (int)size->n;
        int ok = contiguous(size, stride);
        for (int j = 0; j < x->n_dims && ok; j++) {
            x->shape[j] = size->items[j]->i;
            ok = !__builtin_mul_overflow(numel, (uint64_t)x->shape[j], &numel);
        }
        uint64_t end;
        ok = ok && !__builtin_add_overflow((uint64_t)v->i, numel, &end) && end <= st->numel;
        x->name = ok ? sail_malloc(k->len + 1) : NULL;
        if (!x->name) {
            char nm[96];
            snprintf(nm, sizeof nm, "%.*s", (int)SAIL_MIN(k->len, 80), k->s);
            sail_pkl_free(t, i);
            return fail(m, SAIL_ERR_FORMAT,
                        "tensor '%s' is not contiguous or lies outside its storage", nm);
        }
        memcpy(x->name, k->s, k->len);
        x->name[k->len] = 0;
        x->dtype = st->dtype;
        memcpy(x->key, st->s, st->len);
        x->key[st->len] = 0;
        x->storage_numel = st->numel;
        x->offset = (uint64_t)v->i;
    }
    *out = t;
    *n_out = n;
    return SAIL_OK;
}

sail_status sail_pkl_state_dict(const uint8_t *data, size_t n, sail_pkl_tensor **out, int *n_out,
                                sail_error *err) {
    vm m = {.p = data, .end = data + n, .start = data, .err = err};
    if (!data && n) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "pickle: NULL data");
    int stopped = 0;
    while (!m.s && m.p < m.end) {
        if (*m.p == '.') {  /* STOP */
            stopped = 1;
            break;
        }
        step(&m);
    }
    if (!m.s && !stopped) fail(&m, SAIL_ERR_FORMAT, "truncated pickle (no STOP)");
    if (!m.s && m.sp != 1) fail(&m, SAIL_ERR_FORMAT, "STOP with %zu objects on the stack", m.sp);
    if (!m.s) collect(&m, m.stack[0], out, n_out);
    for (size_t i = 0; i < m.n_all; i++) {
        sail_free(m.all[i]->items);
        sail_free(m.all[i]);
    }
    sail_free(m.all);
    sail_free(m.stack);
    sail_free(m.memo);
    return m.s;
}

void sail_pkl_free(sail_pkl_tensor *t, int n) {
    if (!t) return;
    for (int i = 0; i < n; i++) sail_free(t[i].name);
    sail_free(t);
}
