/* index_fixtures.h: what the index tests share: a fresh scratch directory
 * per case and clustered test vectors. Define INDEX_TEST_TAG (a short name
 * for the test) before including it. */
#ifndef SAIL_TESTS_INDEX_FIXTURES_H
#define SAIL_TESTS_INDEX_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rng.h"

static char g_dir[256];

static inline void rmrf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* $TMPDIR/sail-test-TAG-PID-name, emptied; valid until the next call. */
static inline const char *tmpdir(const char *name) {
    snprintf(g_dir, sizeof g_dir, "%s/sail-test-%s-%d-%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             INDEX_TEST_TAG, (int)getpid(), name);
    rmrf(g_dir);
    return g_dir;
}

/* Clustered data: n vectors around nc centres. */
static inline float *clustered(int n, int d, int nc, uint64_t seed) {
    sail_rng r = {seed};
    float *c = malloc((size_t)nc * d * sizeof(float)), *x = malloc((size_t)n * d * sizeof(float));
    for (int i = 0; i < nc * d; i++) c[i] = sail_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        int k = (int)(sail_rng_next(&r) % (uint64_t)nc);
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = c[k * d + j] + 0.5f * sail_rng_normal(&r);
    }
    free(c);
    return x;
}

#endif
