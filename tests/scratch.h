/* scratch.h: the files of a C test or test tool: one scratch directory per
 * run (made at the start, removed at the end), paths in it, and whole-file
 * writes and reads, so no test carries its own copy of these. */
#ifndef SAIL_TESTS_SCRATCH_H
#define SAIL_TESTS_SCRATCH_H

#include "sail.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scratch directory's path ("" until scratch_make). */
static inline char *scratch_dir(void) {
    static char d[256];
    return d;
}

/* Makes a fresh /tmp/NAME_XXXXXX and returns its path, or NULL after
 * printing why. */
static inline const char *scratch_make(const char *name) {
    char *d = scratch_dir();
    snprintf(d, 256, "/tmp/%s_XXXXXX", name);
    if (mkdtemp(d)) return d;
    printf("# mkdtemp %s: %s\n", d, strerror(errno));
    return NULL;
}

/* Removes the scratch directory and everything in it. */
static inline void scratch_remove(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir());
    if (system(cmd)) printf("# could not remove %s\n", scratch_dir());
}

/* NAME inside the scratch directory. The answer is one of four rotating
 * buffers, so a call may use a few paths at once. */
static inline const char *scratch_path(const char *name) {
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", scratch_dir(), name);
    return p[i];
}

/* Writes n bytes to path (a test input); returns 0 when it could not.
 * Callers that go on to read the file may ignore that: the read says so. */
static inline int spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Writes n bytes to NAME in the scratch directory; returns its path (as
 * scratch_path), or NULL when it could not be written. */
static inline const char *scratch_write(const char *name, const void *p, size_t n) {
    const char *path = scratch_path(name);
    return spit(path, p, n) ? path : NULL;
}

/* The whole file at path (free with sail_free), or NULL (*n = 0) after
 * printing why. */
static inline void *slurp(const char *path, size_t *n) {
    unsigned char *b = NULL;
    sail_error err = {0};
    if (!sail_read_file(path, SIZE_MAX - 1, &b, n, &err)) return b;
    fprintf(stderr, "%s\n", err.msg);
    *n = 0;
    return NULL;
}

/* slurp for the test tools, which stop (exit 1) at a file they cannot read. */
static inline void *slurp_or_exit(const char *path, size_t *n) {
    void *p = slurp(path, n);
    if (!p) exit(1);
    return p;
}

#endif
