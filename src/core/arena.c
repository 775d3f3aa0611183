/* arena.c: activation arena (see arena.h). */
#include "arena.h"
#include "common.h"

struct sail_arena_chunk {
    sail_arena_chunk *next;     /* the one taken before it */
    void *mem;
    size_t bytes;
};

static void free_chunks(sail_arena *a) {
    while (a->chunks) {
        sail_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        sail_free(c->mem);
        sail_free(c);
    }
    a->spilled = 0;
}

int sail_arena_reset(sail_arena *a) {
    free_chunks(a);
    a->used = 0;
    if (a->high > a->cap) {
        /* an eighth more than the mark: inputs whose lengths vary (the
         * texts of a training batch, a server's batches) would otherwise
         * regrow, and re-fault, the whole block for each new longest one */
        size_t cap = a->high + a->high / 8;
        if (cap < a->high) cap = a->high;
        sail_free(a->base);
        a->base = sail_alloc_aligned(cap);
        a->cap = a->base ? cap : 0;
        if (!a->base) return -1;
    }
    return 0;
}

float *sail_arena_floats(sail_arena *a, size_t n) {
    size_t bytes;
    if (!sail_mul_ok(n, sizeof(float), &bytes) || !sail_add_ok(bytes, 63, &bytes)) return NULL;
    bytes &= ~(size_t)63;
    size_t total = a->used + a->spilled + bytes;
    if (total > a->high) a->high = total;
    if (a->used + bytes <= a->cap) {
        float *p = (float *)(a->base + a->used);
        a->used += bytes;
        return p;
    }
    sail_arena_chunk *c = sail_malloc(sizeof *c);
    void *mem = c ? sail_alloc_aligned(bytes) : NULL;
    if (!mem) {
        sail_free(c);
        return NULL;
    }
    c->mem = mem;
    c->bytes = bytes;
    c->next = a->chunks;
    a->chunks = c;
    a->spilled += bytes;
    return mem;
}

sail_arena_pos sail_arena_mark(const sail_arena *a) {
    sail_arena_pos p = {a->used, a->spilled};
    return p;
}

void sail_arena_release(sail_arena *a, sail_arena_pos mark) {
    if (mark.used <= a->used) a->used = mark.used;
    while (a->chunks && a->spilled > mark.spilled) { /* chunks are a stack: the newest first */
        sail_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        a->spilled -= c->bytes;
        sail_free(c->mem);
        sail_free(c);
    }
}

void sail_arena_free(sail_arena *a) {
    free_chunks(a);
    sail_free(a->base);
    a->base = NULL;
    a->cap = a->used = a->high = 0;
}
