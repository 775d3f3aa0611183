/* fuzz_file.h: for harnesses whose parser reads a path, not a buffer. Each
 * input is written to a file in a private folder (under /dev/shm, a RAM file
 * system, when there is one, else /tmp) made once per process and removed at
 * exit. fuzz_file(name, data, size) returns the file's path (valid until the
 * next call with that name). Header-only: included by one harness each. */
#ifndef SAIL_FUZZ_FILE_H
#define SAIL_FUZZ_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FZ_MAX_FILES = 16 };
static char fz_dir[64];
static char fz_paths[FZ_MAX_FILES][128];
static int fz_n;

static void fz_cleanup(void) {
    for (int i = 0; i < fz_n; i++) unlink(fz_paths[i]);
    if (fz_dir[0]) rmdir(fz_dir);
}

/* The private folder, made on first use. */
static const char *fuzz_dir(void) {
    if (fz_dir[0]) return fz_dir;
    snprintf(fz_dir, sizeof fz_dir, "%s/sail-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fz_dir)) abort();
    atexit(fz_cleanup);
    return fz_dir;
}

/* Registers dir/name for removal at exit and returns its path. */
static const char *fuzz_path(const char *name) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
    for (int i = 0; i < fz_n; i++)
        if (!strcmp(fz_paths[i], p)) return fz_paths[i];
    if (fz_n == FZ_MAX_FILES) abort();
    memcpy(fz_paths[fz_n], p, sizeof p);
    return fz_paths[fz_n++];
}

/* Writes data to dir/name (replacing it) and returns the path. */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    close(fd);
    return path;
}

#endif
