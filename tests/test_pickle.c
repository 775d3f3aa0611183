/* test_pickle.c: the restricted unpickler on hand-assembled pickles: a
 * state dict as torch.save writes it (protocol 2), then every refusal: a
 * forbidden global (by GLOBAL and STACK_GLOBAL), a storage type called,
 * non-contiguous or out-of-storage tensors, bad memo use, unknown opcodes,
 * truncation, runaway stacks and memo indices. */
#include "format/pickle.h"
#include "format/safetensors.h"
#include "test.h"

#include <string.h>

typedef struct { uint8_t b[4096]; size_t n; } pk;

static void raw(pk *p, const void *s, size_t n) {
    memcpy(p->b + p->n, s, n);
    p->n += n;
}
static void lit(pk *p, const char *s) { raw(p, s, strlen(s)); } /* no NUL inside */
static void op(pk *p, uint8_t o) { raw(p, &o, 1); }
static void str(pk *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    op(p, 'X');
    raw(p, &n, 4);
    raw(p, s, n);
}
static void i1(pk *p, uint8_t v) { op(p, 'K'), op(p, v); }

/* torch.save's pickle of {name: tensor(shape (2, c), stride (s0, s1))} over
 * a FloatStorage of `numel` elements at `offset`; `glob` replaces the
 * rebuild function's GLOBAL line when given. */
static void state_dict(pk *p, const char *key, int numel, int offset, int s0, int s1, const char *glob) {
    p->n = 0;
    lit(p, "\x80\x02}q\x0a(");
    str(p, "w");
    lit(p, glob ? glob : "ctorch._utils\n_rebuild_tensor_v2\n");
    lit(p, "q\x01((");
    str(p, "storage");
    lit(p, "ctorch\nFloatStorage\nq\x02");
    str(p, key);
    str(p, "cpu");
    i1(p, (uint8_t)numel);
    lit(p, "tq\x03QK");
    op(p, (uint8_t)offset);
    i1(p, 2), i1(p, 3), op(p, 0x86);
    i1(p, (uint8_t)s0), i1(p, (uint8_t)s1), op(p, 0x86);
    op(p, 0x89);
    lit(p, "ccollections\nOrderedDict\n)Rq\x04tRq\x05u");
    /* OrderedDict state (_metadata) arrives through BUILD; it is ignored. */
    lit(p, "}q\x06" "b.");
}

static int refused(const pk *p, const char *needle) {
    sail_pkl_tensor *t = NULL;
    int n = 0;
    sail_error err = {0};
    sail_status s = sail_pkl_state_dict(p->b, p->n, &t, &n, &err);
    if (!s) {
        sail_pkl_free(t, n);
        printf("#   accepted\n");
        return 0;
    }
    if (!strstr(err.msg, needle)) printf("#   message: %s\n", err.msg);
    return strstr(err.msg, needle) != NULL;
}

/* Whole pickles the unpickler must refuse, each with a word its message
 * must contain. */
#define PICKLE(lit) lit, sizeof lit - 1 /* a literal's bytes, NULs included */
static const struct {
    const char *bytes;
    size_t n;
    const char *needle, *what;
} bad_pickles[] = {
    {PICKLE("\x80\x02" "ctorch\nFloatStorage\n)R."), "storage type called", "calling a storage type is refused"},
    {PICKLE("\x80\x02" "ctorch\nFloatStorage\n"), "truncated", "a pickle without STOP is refused"},
    {PICKLE("\x80\x02h\x07."), "unset memo", "BINGET of an unset memo entry is refused"},
    {PICKLE("\x80\x02}r\xff\xff\xff\x7f."), "past the limit", "a huge LONG_BINPUT index is refused"},
    {PICKLE("\x80\x02(i__builtin__\nobject\n."), "opcode 'i'",
     "an opcode outside the allowed set (INST) is refused, named"},
    {PICKLE("\x80\x02}}."), "STOP with 2", "STOP with two objects on the stack is refused"},
    {PICKLE("\x80\x02]X\x05\x00\x00\x00" "ab"), "truncated", "a string running past the end is refused"},
    {PICKLE("\x80\x02u."), "MARK", "SETITEMS without a MARK is refused"},
};

int main(void) {
    pk p;
    sail_pkl_tensor *t = NULL;
    int n = 0;
    sail_error err = {0};
    state_dict(&p, "0", 8, 2, 3, 1, NULL);
    sail_status s = sail_pkl_state_dict(p.b, p.n, &t, &n, &err);
    CHECK(!s && n == 1, "a torch.save state dict parses %s", s ? err.msg : "");
    if (!s && n == 1)
        CHECK(!strcmp(t[0].name, "w") && t[0].dtype == SAIL_ST_F32 && t[0].n_dims == 2 && t[0].shape[0] == 2 &&
                  t[0].shape[1] == 3 && !strcmp(t[0].key, "0") && t[0].storage_numel == 8 && t[0].offset == 2,
              "name, dtype, shape, storage key, size and offset are recovered");
    sail_pkl_free(t, n);

    state_dict(&p, "0", 7, 2, 3, 1, NULL);
    CHECK(refused(&p, "outside its storage"), "a tensor past the end of its storage is refused");
    state_dict(&p, "0", 8, 0, 1, 2, NULL);
    CHECK(refused(&p, "not contiguous"), "a non-contiguous tensor is refused");
    state_dict(&p, "../x", 8, 0, 3, 1, NULL);
    CHECK(refused(&p, "storage key"), "a storage key with a path in it is refused");
    state_dict(&p, "0", 8, 0, 3, 1, "cos\nsystem\n");
    CHECK(refused(&p, "os.system"), "GLOBAL os.system is refused, named");
    state_dict(&p, "0", 8, 0, 3, 1, "cposix\nsystem\n");
    CHECK(refused(&p, "posix.system"), "GLOBAL posix.system is refused, named");
    state_dict(&p, "0", 8, 0, 3, 1, "ctorch._utils\n_rebuild_parameter\n");
    CHECK(refused(&p, "_rebuild_parameter"), "an unlisted torch global is refused, named");

    p.n = 0;
    lit(&p, "\x80\x04");
    op(&p, 0x8c), op(&p, 8), lit(&p, "builtins");
    op(&p, 0x8c), op(&p, 4), lit(&p, "eval");
    op(&p, 0x93);
    CHECK(refused(&p, "builtins.eval"), "STACK_GLOBAL builtins.eval is refused, named");

    for (size_t i = 0; i < sizeof bad_pickles / sizeof *bad_pickles; i++) {
        p.n = 0;
        raw(&p, bad_pickles[i].bytes, bad_pickles[i].n);
        CHECK(refused(&p, bad_pickles[i].needle), "%s", bad_pickles[i].what);
    }
    p.n = 0;
    lit(&p, "\x80\x02}");
    str(&p, "a");
    lit(&p, "K\x01s.");
    CHECK(refused(&p, "not a named tensor"), "a dict value that is not a tensor is refused");
    p.n = 0;
    CHECK(refused(&p, "truncated"), "an empty pickle is refused");
    {   /* a million MARKs: bounded stack */
        size_t big = (1u << 20) + 16;
        uint8_t *b = malloc(big + 1);
        memset(b, '(', big);
        b[big] = '.';
        s = sail_pkl_state_dict(b, big + 1, &t, &n, &err);
        CHECK(s == SAIL_ERR_LIMIT && strstr(err.msg, "stack"), "a runaway stack is stopped at its limit: %s", err.msg);
        free(b);
    }
    return test_done();
}
