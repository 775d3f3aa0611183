/* fileio.c: POSIX helpers and checksums for the index files. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"
#include "fault.h"

/* An injected I/O failure reads as the disk's own. */
static int io_fault(void) {
    if (!sail_fault_hit(SAIL_FAULT_IO)) return 0;
    errno = EIO;
    return 1;
}

int ix_pwrite_all(int fd, const void *buf, size_t len, off_t off) {
    const uint8_t *p = buf;
    if (io_fault()) return -1;
    while (len) {
        ssize_t w = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w; len -= (size_t)w; off += w;
    }
    return 0;
}

int ix_fsync(int fd) { return io_fault() ? -1 : fsync(fd); }
int ix_fdatasync(int fd) { return io_fault() ? -1 : fdatasync(fd); }
int ix_rename(const char *from, const char *to) { return io_fault() ? -1 : rename(from, to); }

int ix_fsync_dir(const char *dir) {
    if (io_fault()) return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int ix_read_file(const char *path, uint8_t **buf, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); return -1; }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *b = sail_malloc(n ? n : 1);
    if (!b) { close(fd); errno = ENOMEM; return -1; }
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { int e = r < 0 ? errno : EIO; sail_free(b); close(fd); errno = e; return -1; }
        got += (size_t)r;
    }
    close(fd);
    *buf = b; *len = n;
    return 0;
}

uint32_t ix_crc32(uint32_t c, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) { /* zlib's length is a uInt */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = (uint32_t)crc32(c, b, k);
        b += k; n -= k;
    }
    return c;
}
