/* test_arena.c: the activation arena (src/core/arena.c). A first pass of a
 * new size spills into chunks; the next reset merges them into one block
 * with an eighth of headroom, so later passes up to that size allocate
 * nothing and keep their block (no regrowth, no fresh pages to fault);
 * marks give back what was taken after them, spill chunks included; and
 * blocks from 2 MiB up carry the huge-page advice (smaps' "hg" flag). */
#include "test.h"
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { MB = 1 << 20 };

/* One pass: floats of each size in turn, every one written; 1 when all
 * came back 64-byte aligned. */
static int pass(sail_arena *a, const size_t *sizes, int n) {
    for (int i = 0; i < n; i++) {
        float *p = sail_arena_floats(a, sizes[i]);
        if (!p || (uintptr_t)p % 64) return 0;
        memset(p, 0x5a, sizes[i] * sizeof(float));
    }
    return 1;
}

/* The VmFlags line of the mapping holding p in /proc/self/smaps, or "". */
static void vm_flags(const void *p, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { /* a mapping's first line */
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && !strncmp(line, "VmFlags:", 8)) {
            size_t n = strlen(line + 8) < cap ? strlen(line + 8) : cap - 1;
            memcpy(out, line + 8, n);
            out[n] = 0;
            break;
        }
    }
    fclose(f);
}

static int thp_offered(void) {
    char s[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    if (!fgets(s, sizeof s, f)) s[0] = 0;
    fclose(f);
    return !strstr(s, "[never]") && s[0];
}

int main(void) {
    sail_arena a = {0};
    const size_t first[] = {1000, 3 * MB / 4, 17, 250000}; /* floats */
    size_t bytes = 0;
    for (int i = 0; i < 4; i++) bytes += (first[i] * sizeof(float) + 63) & ~(size_t)63;

    CHECK(sail_arena_reset(&a) == 0 && pass(&a, first, 4), "a first pass on an empty arena: 4 blocks, 64-byte aligned");
    CHECK(a.cap == 0 && a.spilled == bytes && a.high == bytes,
          "it spills every block into chunks: %zu bytes spilled, high-water mark %zu (%zu expected)", a.spilled,
          a.high, bytes);

    CHECK(sail_arena_reset(&a) == 0 && a.spilled == 0 && a.chunks == NULL && a.cap == bytes + bytes / 8,
          "reset merges them into one block of the mark and an eighth: cap %zu (%zu)", a.cap, bytes + bytes / 8);
    unsigned char *base = a.base;
    size_t cap = a.cap;
    CHECK(pass(&a, first, 4) && a.spilled == 0 && a.used == bytes, "the same pass again fits the block (used %zu)",
          a.used);

    const size_t more[] = {1000, 3 * MB / 4, 17, 250000, bytes / 10 / sizeof(float)}; /* 10% more */
    CHECK(sail_arena_reset(&a) == 0 && pass(&a, more, 5) && a.spilled == 0,
          "a pass 10%% larger (a longer text) fits the headroom: nothing spilled");
    CHECK(sail_arena_reset(&a) == 0 && a.base == base && a.cap == cap,
          "...and the next reset keeps the block (no regrowth to fault in again)");

    const size_t big[] = {1000, 3 * MB / 4, 17, 250000, bytes / sizeof(float)}; /* twice */
    CHECK(pass(&a, big, 5) && a.spilled > 0, "a pass twice as large spills again (%zu bytes)", a.spilled);
    size_t high = a.high;
    CHECK(sail_arena_reset(&a) == 0 && a.cap == high + high / 8 && a.spilled == 0,
          "reset regrows to its mark and an eighth: cap %zu for a mark of %zu", a.cap, high);

    /* marks: everything taken after one is given back, chunks included */
    sail_arena_pos m = sail_arena_mark(&a);
    float *x = sail_arena_floats(&a, 1000);
    float *y = sail_arena_floats(&a, a.cap); /* cannot fit: a chunk */
    CHECK(x && y && a.spilled >= a.cap * sizeof(float), "inside a mark: one block from the arena, one spilled");
    sail_arena_release(&a, m);
    CHECK(a.used == m.used && a.spilled == m.spilled && a.chunks == NULL,
          "release gives back both: used %zu, spilled %zu, no chunk left", a.used, a.spilled);

    char flags[256];
    vm_flags(a.base + a.cap / 2, flags, sizeof flags);
    if (!thp_offered()) SKIP("transparent huge pages are off on this kernel: no advice to see");
    else if (!flags[0]) SKIP("/proc/self/smaps is not readable here");
    else
        CHECK(strstr(flags, " hg") != NULL, "the %zu MB block carries the huge-page advice (VmFlags:%.*s)", a.cap / MB,
              (int)strcspn(flags, "\n"), flags);

    sail_arena_free(&a);
    CHECK(a.base == NULL && a.cap == 0 && a.high == 0, "free leaves an empty arena");
    return test_done();
}
