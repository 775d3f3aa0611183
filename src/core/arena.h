/* arena.h: bump allocator for activations. A forward pass takes everything
 * from the arena and releases it at the end. The first pass of a new, larger
 * shape spills into extra chunks; the next reset merges them into one block
 * of the high-water size, so steady-state passes allocate nothing. */
#ifndef SAIL_ARENA_H
#define SAIL_ARENA_H

#include <stddef.h>

typedef struct sail_arena_chunk sail_arena_chunk;

typedef struct sail_arena {
    unsigned char *base;        /* 64-byte aligned */
    size_t cap, used;
    size_t spilled;             /* bytes in chunks this pass */
    size_t high;                /* high-water mark of used + spilled */
    sail_arena_chunk *chunks;
} sail_arena;

/* Start a pass: frees spill chunks and regrows base, when the high-water
 * mark passed it, to the mark and an eighth more. Returns 0, or -1 when
 * that allocation fails. */
int sail_arena_reset(sail_arena *a);
/* n floats, 64-byte aligned, uninitialised; NULL when out of memory. */
float *sail_arena_floats(sail_arena *a, size_t n);
/* Mark and release for scoped scratch inside a pass: a release gives back
 * everything taken since its mark, spill chunks included (so a first pass
 * of a new shape holds no more memory than the live data). */
typedef struct sail_arena_pos { size_t used, spilled; } sail_arena_pos;
sail_arena_pos sail_arena_mark(const sail_arena *a);
void sail_arena_release(sail_arena *a, sail_arena_pos mark);
void sail_arena_free(sail_arena *a);

#endif
