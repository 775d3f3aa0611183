/* fileio.h: small POSIX helpers for the index files: full writes, fsync
 * of a directory, little-endian field access. */
#ifndef SAIL_INDEX_FILEIO_H
#define SAIL_INDEX_FILEIO_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

/* Write all of buf at offset off (pwrite, retrying on EINTR/short writes).
 * Returns 0 or -1 with errno set. */
int ix_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* fsync the directory dir (so a rename or create in it is durable). */
int ix_fsync_dir(const char *dir);
/* fsync, fdatasync and rename; like every write above they are fault
 * points (core/fault.h), so the tests can fail any one of them. */
int ix_fsync(int fd);
int ix_fdatasync(int fd);
int ix_rename(const char *from, const char *to);
/* Read a whole file into a heap buffer (*buf, *len); -1 with errno set. */
int ix_read_file(const char *path, uint8_t **buf, size_t *len);

/* zlib crc32 over any length. */
uint32_t ix_crc32(uint32_t c, const void *p, size_t n);

/* A stored checksum matches a computed one. Fuzzing builds accept any, so
 * the fuzzer reaches the structure behind the checksums. */
static inline int ix_crc_ok(uint32_t stored, uint32_t computed) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    (void)stored; (void)computed;
    return 1;
#else
    return stored == computed;
#endif
}

static inline uint32_t ix_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ix_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void ix_wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void ix_wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

#endif
