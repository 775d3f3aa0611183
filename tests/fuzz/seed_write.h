/* seed_write.h: how a seed program (tests/fuzz/seed_*.c) writes its corpus
 * files: DIR/seedI, whole, and failing loudly through the exit status. */
#ifndef SAIL_FUZZ_SEED_WRITE_H
#define SAIL_FUZZ_SEED_WRITE_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Writes n bytes of p as dir/seed<i>; 0 on success. */
static inline int seed_write(const char *dir, size_t i, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/seed%zu", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    int bad = fwrite(p, 1, n, f) != n;
    return fclose(f) != 0 || bad;
}

/* Writes each string of seeds as its own file. With tagged set, the first
 * byte is the harness's selector and may be 0: one byte, then the rest. */
static inline int seed_write_all(const char *dir, const char *const *seeds, size_t n, int tagged) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[4096];
        size_t len = tagged ? 1 + strlen(seeds[i] + 1) : strlen(seeds[i]);
        if (len > sizeof buf) return 1;
        memcpy(buf, seeds[i], len);
        bad |= seed_write(dir, i, buf, len);
    }
    return bad;
}

#endif
