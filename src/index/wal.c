/* wal.c: the write-ahead log (index.wal). Each add or delete call is one
 * record, checksummed (crc32) and fdatasync-ed before the call returns.
 * Layout and recovery rules: docs/INDEX.md.
 *
 * Recovery: only the last record can be torn (records are written one at
 * a time and each is synced before the next), so a damaged record is a
 * torn tail when no intact record follows it anywhere in the file, and
 * corruption (SAIL_ERR_FORMAT) when one does. */
#include "index_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

#define WAL_MAGIC "SAILWAL1"
#define WAL_VERSION 2
#define WAL_HEADER 40               /* version 2; version 1 had 32 bytes and no uid */
#define WAL_HEADER_V1 32
#define REC_MAGIC 0x31434552u       /* "REC1" */
#define REC_HEADER 20
#define REC_ADD 1u
#define REC_DELETE 2u
#define REC_MAX_BODY (1u << 30)

static void wal_path(const sail_index *ix, char *p, size_t n, const char *suffix) {
    snprintf(p, n, "%s/index.wal%s", ix->dir, suffix);
}

static void header_bytes(const sail_index *ix, uint8_t h[WAL_HEADER]) {
    memset(h, 0, WAL_HEADER);
    memcpy(h, WAL_MAGIC, 8);
    ix_wr32(h + 8, WAL_VERSION);
    ix_wr32(h + 12, (uint32_t)ix->dim);
    ix_wr64(h + 16, ix->generation);
    ix_wr64(h + 24, ix->uid);
    ix_wr32(h + 36, ix_crc32(0, h, 36));
}

uint64_t ix_new_uid(void) {
    uint64_t u = 0;
    if (getrandom(&u, sizeof u, 0) != (ssize_t)sizeof u) { /* no entropy source: time and pid, mixed */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        u = ((uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec) ^ ((uint64_t)getpid() << 40);
        u ^= u >> 33; u *= 0xff51afd7ed558ccdull; u ^= u >> 33;
    }
    return u ? u : 1; /* 0 means "a version-1 snapshot, no identity" */
}

/* Replace the log by an empty one for the current generation, atomically. */
sail_status ix_wal_reset(sail_index *ix, sail_error *err) {
    char tmp[4096], path[4096];
    wal_path(ix, tmp, sizeof tmp, ".tmp");
    wal_path(ix, path, sizeof path, "");
    uint8_t h[WAL_HEADER];
    header_bytes(ix, h);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || ix_pwrite_all(fd, h, WAL_HEADER, 0) || ix_fsync(fd) || ix_rename(tmp, path) || ix_fsync_dir(ix->dir)) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        /* The log on disk is now older than the snapshot: whatever were
         * appended to it would be ignored as stale, so accept no more. */
        if (ix->wal_fd >= 0) close(ix->wal_fd);
        ix->wal_fd = -1;
        return sail_set_error(err, SAIL_ERR_IO, "writing %s: %s", fd < 0 ? tmp : path, strerror(e));
    }
    if (ix->wal_fd >= 0) close(ix->wal_fd);
    ix->wal_fd = fd;
    ix->wal_bytes = WAL_HEADER;
    ix->wal_records = 0;
    return SAIL_OK;
}

sail_status ix_wal_open(sail_index *ix, sail_error *err) {
    char path[4096];
    wal_path(ix, path, sizeof path, "");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) /* a log always exists beside a snapshot (see sail_index_open) */
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "index.wal is missing beside index.snap (generation %llu): the changes logged "
                              "after that snapshot cannot be replayed", (unsigned long long)ix->generation);
    if (fd < 0) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    ix->wal_fd = fd;
    return SAIL_OK;
}

/* Is there an intact record anywhere in buf[from, len)? */
static int intact_record_after(const uint8_t *buf, size_t len, size_t from) {
    for (size_t o = from; o + REC_HEADER <= len; o++) {
        if (ix_rd32(buf + o) != REC_MAGIC || !ix_crc_ok(ix_rd32(buf + o + 16), ix_crc32(0, buf + o, 16))) continue;
        uint32_t blen = ix_rd32(buf + o + 8);
        if (blen > REC_MAX_BODY || blen > len - o - REC_HEADER) continue;
        uint32_t c = ix_crc32(ix_crc32(0, buf + o + 4, 4), buf + o + REC_HEADER, blen);
        if (ix_crc_ok(ix_rd32(buf + o + 12), c)) return 1;
    }
    return 0;
}

static sail_status apply_record(sail_index *ix, uint32_t type, const uint8_t *b, uint32_t blen,
                                size_t off, sail_error *err) {
    if (blen < 4) return sail_set_error(err, SAIL_ERR_FORMAT, "log record at offset %zu is too short", off);
    uint32_t n = ix_rd32(b);
    if (type == REC_DELETE) {
        if ((uint64_t)n * 8 + 4 != blen)
            return sail_set_error(err, SAIL_ERR_FORMAT, "delete record at offset %zu has a wrong length", off);
        uint64_t *ids = sail_malloc((size_t)n * 8);
        if (!ids) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory replaying the log");
        memcpy(ids, b + 4, (size_t)n * 8);
        ix_apply_delete(ix, ids, (int)n);
        sail_free(ids);
        return SAIL_OK;
    }
    if (type != REC_ADD)
        return sail_set_error(err, SAIL_ERR_FORMAT, "log record at offset %zu has unknown type %u", off, type);
    if (blen < 8 || ix_rd32(b + 4) != (uint32_t)ix->dim)
        return sail_set_error(err, SAIL_ERR_FORMAT, "add record at offset %zu is for another dimension", off);
    uint64_t fixed = 8 + (uint64_t)n * (8 + 4 + (uint64_t)ix->dim * 4);
    if (n > (uint32_t)INT32_MAX || fixed > blen)
        return sail_set_error(err, SAIL_ERR_FORMAT, "add record at offset %zu has a wrong length", off);
    const uint8_t *pid = b + 8, *pvec = pid + (size_t)n * 8, *plen = pvec + (size_t)n * ix->dim * 4;
    const uint8_t *pp = plen + (size_t)n * 4, *end = b + blen;
    uint64_t *ids = sail_malloc((size_t)n * 8);
    float *vecs = sail_malloc((size_t)n * ix->dim * 4);
    char **pay = sail_calloc(n, sizeof *pay);
    sail_status st = SAIL_OK;
    if (!ids || !vecs || !pay) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory replaying the log");
    for (uint32_t i = 0; !st && i < n; i++) {
        uint32_t l = ix_rd32(plen + (size_t)i * 4);
        if (l > SAIL_INDEX_MAX_PAYLOAD || l > (size_t)(end - pp) || memchr(pp, 0, l)) {
            st = sail_set_error(err, SAIL_ERR_FORMAT, "add record at offset %zu has a bad payload", off);
            break;
        }
        pay[i] = strndup((const char *)pp, l);
        if (!pay[i]) st = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory replaying the log");
        pp += l;
    }
    if (!st && pp != end) st = sail_set_error(err, SAIL_ERR_FORMAT, "add record at offset %zu has extra bytes", off);
    if (!st) {
        memcpy(ids, pid, (size_t)n * 8);
        memcpy(vecs, pvec, (size_t)n * ix->dim * 4);
        for (size_t i = 0; i < (size_t)n * ix->dim; i++)
            if (!isfinite(vecs[i])) {
                st = sail_set_error(err, SAIL_ERR_FORMAT, "add record at offset %zu has a non-finite vector", off);
                break;
            }
    }
    if (!st) st = ix_apply_add(ix, ids, vecs, pay, (int)n, err);
    for (uint32_t i = 0; pay && i < n; i++) sail_free(pay[i]);
    sail_free(pay); sail_free(ids); sail_free(vecs);
    return st;
}

sail_status ix_wal_parse(sail_index *ix, const uint8_t *buf, size_t len, int apply, size_t *good_len,
                         sail_error *err) {
    if (len < WAL_HEADER_V1 || memcmp(buf, WAL_MAGIC, 8))
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.wal is not a sail log (bad magic or shorter than its header)");
    uint32_t version = ix_rd32(buf + 8);
    size_t hlen = version == 1 ? WAL_HEADER_V1 : WAL_HEADER;
    if ((version != 1 && version != WAL_VERSION) || len < hlen || !ix_crc_ok(ix_rd32(buf + hlen - 4), ix_crc32(0, buf, hlen - 4)))
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.wal has a damaged header or unknown version (%u; this build reads 1 and %d)",
                              version, WAL_VERSION);
    if (ix_rd32(buf + 12) != (uint32_t)ix->dim)
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.wal is for dimension %u, the snapshot for %d",
                              ix_rd32(buf + 12), ix->dim);
    uint64_t gen = ix_rd64(buf + 16), uid = version == 1 ? 0 : ix_rd64(buf + 24);
    if (gen > ix->generation)
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.wal (generation %llu) is newer than index.snap (%llu)",
                              (unsigned long long)gen, (unsigned long long)ix->generation);
    /* A stale log may predate the uid (written by version 1 before the
     * first version-2 snapshot); the current one carries the snapshot's. */
    if (uid != ix->uid && (gen == ix->generation || uid))
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.wal is not this snapshot's log (it belongs to index %016llx, "
                              "generation %llu; index.snap is index %016llx, generation %llu)",
                              (unsigned long long)uid, (unsigned long long)gen, (unsigned long long)ix->uid,
                              (unsigned long long)ix->generation);
    if (gen < ix->generation) { /* a snapshot was written and the log not yet reset: stale */
        *good_len = 0;
        return SAIL_OK;
    }
    size_t off = hlen;
    while (off < len) {
        const uint8_t *h = buf + off;
        size_t left = len - off;
        int ok = left >= REC_HEADER && ix_rd32(h) == REC_MAGIC && ix_crc_ok(ix_rd32(h + 16), ix_crc32(0, h, 16));
        uint32_t blen = ok ? ix_rd32(h + 8) : 0;
        ok = ok && blen <= REC_MAX_BODY && blen <= left - REC_HEADER &&
             ix_crc_ok(ix_rd32(h + 12), ix_crc32(ix_crc32(0, h + 4, 4), h + REC_HEADER, blen));
        if (!ok) {
            if (intact_record_after(buf, len, off + 1))
                return sail_set_error(err, SAIL_ERR_FORMAT,
                                      "index.wal is corrupt at offset %zu (a damaged record before intact ones)", off);
            break; /* torn tail: never acknowledged */
        }
        if (apply) {
            sail_status st = apply_record(ix, ix_rd32(h + 4), h + REC_HEADER, blen, off, err);
            if (st) return st;
            ix->wal_records++;
        }
        off += REC_HEADER + blen;
    }
    *good_len = off;
    return SAIL_OK;
}

sail_status ix_wal_replay(sail_index *ix, sail_error *err) {
    char path[4096];
    wal_path(ix, path, sizeof path, "");
    uint8_t *buf;
    size_t len, good = 0;
    if (ix_read_file(path, &buf, &len))
        return sail_set_error(err, errno == ENOMEM ? SAIL_ERR_NOMEM : SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    sail_status st = ix_wal_parse(ix, buf, len, 1, &good, err);
    sail_free(buf);
    if (st) return st;
    if (good == 0) return ix_wal_reset(ix, err); /* stale log */
    if (good < len && (ftruncate(ix->wal_fd, (off_t)good) || ix_fsync(ix->wal_fd)))
        return sail_set_error(err, SAIL_ERR_IO, "truncating the torn tail of %s: %s", path, strerror(errno));
    ix->wal_bytes = good;
    return SAIL_OK;
}

/* Append one record and make it durable; on failure the log is cut back. */
static sail_status append(sail_index *ix, uint32_t type, uint8_t *rec, size_t body, sail_error *err) {
    if (ix->wal_fd < 0)
        return sail_set_error(err, SAIL_ERR_IO, "%s/index.wal could not be replaced after the last snapshot, so "
                              "changes cannot be logged; close and reopen the index", ix->dir);
    if (body > REC_MAX_BODY)
        return sail_set_error(err, SAIL_ERR_LIMIT, "one batch is %zu bytes in the log; the limit is %u (add fewer items per call)",
                              body, REC_MAX_BODY);
    ix_wr32(rec, REC_MAGIC);
    ix_wr32(rec + 4, type);
    ix_wr32(rec + 8, (uint32_t)body);
    ix_wr32(rec + 12, ix_crc32(ix_crc32(0, rec + 4, 4), rec + REC_HEADER, body));
    ix_wr32(rec + 16, ix_crc32(0, rec, 16));
    if (ix_pwrite_all(ix->wal_fd, rec, REC_HEADER + body, (off_t)ix->wal_bytes) || ix_fdatasync(ix->wal_fd)) {
        int e = errno;
        if (ftruncate(ix->wal_fd, (off_t)ix->wal_bytes) == 0) ix_fdatasync(ix->wal_fd);
        return sail_set_error(err, SAIL_ERR_IO, "writing %s/index.wal: %s", ix->dir, strerror(e));
    }
    ix->wal_bytes += REC_HEADER + body;
    ix->wal_records++;
    return SAIL_OK;
}

sail_status ix_wal_append_add(sail_index *ix, const uint64_t *ids, const float *vecs,
                              char *const *payloads, int n, sail_error *err) {
    size_t body = 8 + (size_t)n * (8 + 4 + (size_t)ix->dim * 4);
    for (int i = 0; i < n; i++) body += strlen(payloads[i]);
    uint8_t *rec = sail_malloc(REC_HEADER + body);
    if (!rec) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %zu-byte log record", body);
    uint8_t *p = rec + REC_HEADER;
    ix_wr32(p, (uint32_t)n);
    ix_wr32(p + 4, (uint32_t)ix->dim);
    p += 8;
    memcpy(p, ids, (size_t)n * 8); p += (size_t)n * 8;
    memcpy(p, vecs, (size_t)n * ix->dim * 4); p += (size_t)n * ix->dim * 4;
    for (int i = 0; i < n; i++, p += 4) ix_wr32(p, (uint32_t)strlen(payloads[i]));
    for (int i = 0; i < n; i++) {
        size_t l = strlen(payloads[i]);
        memcpy(p, payloads[i], l);
        p += l;
    }
    sail_status st = append(ix, REC_ADD, rec, body, err);
    sail_free(rec);
    return st;
}

sail_status ix_wal_append_delete(sail_index *ix, const uint64_t *ids, int n, sail_error *err) {
    size_t body = 4 + (size_t)n * 8;
    uint8_t *rec = sail_malloc(REC_HEADER + body);
    if (!rec) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a log record");
    ix_wr32(rec + REC_HEADER, (uint32_t)n);
    memcpy(rec + REC_HEADER + 4, ids, (size_t)n * 8);
    sail_status st = append(ix, REC_DELETE, rec, body, err);
    sail_free(rec);
    return st;
}
