/* snapshot.c: index.snap, the whole index in one file, written atomically
 * (temp file, fsync, rename, directory fsync) and mmap-ed when opened so
 * that raw vectors need no copy. Layout: docs/INDEX.md.
 *
 *   header (128 bytes) | vectors f32 (n, dim) | ids u64 (n) | dead u8 (n),
 *   padded to 8 | payload lengths u32 (n), padded to 8 | payloads | graph
 */
#include "index_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#define SNAP_MAGIC "SAILIDX1"
#define SNAP_VERSION 2               /* 2 added the uid its log must carry; 1 is still read */
#define SNAP_HEADER IX_SNAP_HEADER

#define RELEASE_CHUNK ((size_t)16 << 20) /* bytes read between page releases */

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* A buffered writer that keeps a running crc of everything after the header. */
typedef struct writer {
    int fd;
    uint8_t *mem;            /* an image in memory (ix_snapshot_image) instead of fd */
    off_t off;
    uint32_t crc;
    uint8_t buf[1 << 16];
    size_t n;
    int failed;
} writer;

static void w_flush(writer *w) {
    if (w->n && !w->failed) {
        if (w->mem) memcpy(w->mem + w->off, w->buf, w->n);
        else if (ix_pwrite_all(w->fd, w->buf, w->n, w->off)) w->failed = errno ? errno : EIO;
        w->crc = ix_crc32(w->crc, w->buf, w->n);
        w->off += (off_t)w->n;
    }
    w->n = 0;
}

static void w_put(writer *w, const void *p, size_t len) {
    const uint8_t *b = p;
    while (len) {
        size_t k = SAIL_MIN(len, sizeof w->buf - w->n);
        memcpy(w->buf + w->n, b, k);
        w->n += k; b += k; len -= k;
        if (w->n == sizeof w->buf) w_flush(w);
    }
}

static void w_zero(writer *w, size_t len) {
    static const uint8_t z[8];
    while (len) {
        size_t k = SAIL_MIN(len, sizeof z);
        w_put(w, z, k);
        len -= k;
    }
}

/* After a snapshot is mapped (opened, or just written). An f32 index's
 * searches read its vectors in place: they get a private copy on huge
 * pages (HNSW reads them scattered; on 4 KiB pages nearly every vector
 * costs a TLB miss), or keep reading the mapping if memory is short. Then
 * the pages of the mapping nothing reads in place are given back (ids,
 * payloads and graph were copied; an f16/int8 index scans codes and
 * preads the few vectors it rescores). The page cache keeps them; they
 * stop counting as this process's memory, and are faulted back in if
 * something reads the mapping again. */
/* Give back the mapping's pages inside [from, to) (byte offsets). */
static void release(sail_index *ix, size_t from, size_t to) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    from = (from + page - 1) / page * page;
    to = to >= ix->map_len ? ix->map_len : to / page * page; /* the mapping's last page is whole */
    if (from < to) madvise((uint8_t *)ix->map + from, to - from, MADV_DONTNEED);
}

static void settle_mapping(sail_index *ix) {
    size_t bytes = ix->map_slots * (size_t)ix->dim * sizeof(float), chunk = RELEASE_CHUNK;
    float *copy = !ix->code_size && bytes && ix->map ? ix_huge_alloc(bytes) : NULL;
    /* piecewise, so the mapped pages leave as the copy grows (no 2x peak) */
    for (size_t o = 0; copy && o < bytes; o += chunk) {
        size_t k = SAIL_MIN(chunk, bytes - o);
        memcpy((uint8_t *)copy + o, (const uint8_t *)ix->map_vec + o, k);
        release(ix, SNAP_HEADER + o, SNAP_HEADER + o + k);
    }
    ix_huge_free(ix->vec_copy, ix->vec_copy_bytes);
    ix->vec_copy = copy;
    ix->vec_copy_bytes = copy ? bytes : 0;
    if (copy) ix->map_vec = copy;
    if (ix->map) release(ix, ix->code_size || copy ? 0 : SNAP_HEADER + bytes, ix->map_len);
}

/* Bytes of a snapshot holding ix with a graph section of graph_len. */
static size_t image_size(const sail_index *ix, size_t graph_len) {
    size_t n = ix->n_slots, pay = 0;
    for (size_t s = 0; s < n; s++)
        if (ix_payload_own(ix, s)) pay += strlen(ix->payload[s]);
    return SNAP_HEADER + n * (size_t)ix->dim * 4 + n * 8 + pad8(n) + pad8(n * 4) + pay + graph_len;
}

/* Everything after the header into w (from offset SNAP_HEADER), then the
 * header into h, naming generation gen. */
static void write_image(const sail_index *ix, writer *w, const uint8_t *graph, size_t graph_len, uint64_t gen,
                        uint8_t h[SNAP_HEADER]) {
    size_t n = ix->n_slots, d = (size_t)ix->dim, pay_bytes = 0;
    for (size_t s = 0; s < n; s++) w_put(w, ix_raw(ix, s), d * 4);
    w_put(w, ix->ids, n * 8);
    w_put(w, ix->dead, n);
    w_zero(w, pad8(n) - n);
    for (size_t s = 0; s < n; s++) {
        uint32_t l = ix_payload_own(ix, s) ? (uint32_t)strlen(ix->payload[s]) : 0;
        pay_bytes += l;
        w_put(w, &l, 4);
    }
    w_zero(w, pad8(n * 4) - n * 4);
    for (size_t s = 0; s < n; s++)
        if (ix_payload_own(ix, s)) w_put(w, ix->payload[s], strlen(ix->payload[s]));
    w_put(w, graph, graph_len);
    w_flush(w);

    memset(h, 0, SNAP_HEADER);
    memcpy(h, SNAP_MAGIC, 8);
    ix_wr32(h + 8, SNAP_VERSION);
    ix_wr32(h + 12, SNAP_HEADER);
    ix_wr32(h + 16, (uint32_t)ix->dim);
    ix_wr32(h + 20, (uint32_t)ix->metric);
    ix_wr32(h + 24, (uint32_t)ix->storage);
    ix_wr32(h + 28, (uint32_t)ix->kind);
    ix_wr32(h + 32, (uint32_t)ix->M);
    ix_wr32(h + 36, (uint32_t)ix->ef_construction);
    ix_wr32(h + 40, (uint32_t)ix->ef_search);
    ix_wr64(h + 48, ix->seed);
    ix_wr64(h + 56, gen);
    ix_wr64(h + 64, n);
    ix_wr64(h + 72, ix->n_dead);
    ix_wr64(h + 80, pay_bytes);
    ix_wr64(h + 88, graph_len);
    ix_wr64(h + 96, (uint64_t)w->off);
    ix_wr32(h + 104, w->crc);
    ix_wr64(h + 108, ix->uid);
    ix_wr32(h + 124, ix_crc32(0, h, 124));
}

sail_status ix_snapshot_image(const sail_index *ix, uint8_t **out, size_t *out_len, sail_error *err) {
    uint8_t *graph = NULL;
    size_t graph_len = 0;
    sail_status st = ix->hnsw ? ix_hnsw_serialize(ix, &graph, &graph_len, err) : SAIL_OK;
    if (st) return st;
    size_t len = image_size(ix, graph_len);
    writer *w = sail_malloc(sizeof *w);
    uint8_t *mem = sail_malloc(len);
    if (!w || !mem) {
        sail_free(w); sail_free(mem);
        ix_huge_free(graph, graph_len);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %zu-byte index image", len);
    }
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->mem = mem;
    w->off = SNAP_HEADER;
    write_image(ix, w, graph, graph_len, ix->generation, mem);
    sail_free(w);
    ix_huge_free(graph, graph_len);
    *out = mem;
    *out_len = len;
    return SAIL_OK;
}

sail_status ix_snapshot_write(sail_index *ix, sail_error *err) {
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/index.snap.tmp", ix->dir);
    snprintf(path, sizeof path, "%s/index.snap", ix->dir);
    size_t n = ix->n_slots, graph_len = 0;
    uint8_t *graph = NULL;
    sail_status st = SAIL_OK;
    if (!ix->uid) ix->uid = ix_new_uid(); /* a version-1 index gets its identity */
    if (ix->hnsw && (st = ix_hnsw_serialize(ix, &graph, &graph_len, err))) return st;
    writer *w = sail_malloc(sizeof *w);
    if (!w) {
        ix_huge_free(graph, graph_len);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory writing a snapshot");
    }
    memset(w, 0, sizeof *w);
    w->off = SNAP_HEADER;
    w->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        st = sail_set_error(err, SAIL_ERR_IO, "%s: %s", tmp, strerror(errno));
        ix_huge_free(graph, graph_len);
        sail_free(w);
        return st;
    }
    uint8_t h[SNAP_HEADER];
    write_image(ix, w, graph, graph_len, ix->generation + 1, h);
    int fd = w->fd, failed = w->failed;
    off_t size = w->off;
    sail_free(w);
    if (failed || ix_pwrite_all(fd, h, SNAP_HEADER, 0) || ix_fsync(fd) || ix_rename(tmp, path) || ix_fsync_dir(ix->dir)) {
        int e = failed ? failed : errno;
        close(fd);
        unlink(tmp);
        ix_huge_free(graph, graph_len);
        return sail_set_error(err, SAIL_ERR_IO, "writing %s: %s", path, strerror(e));
    }
    if (ix->hnsw) ix_hnsw_freeze(ix, graph, graph_len); /* the compact form of what was written */
    ix->generation++;
    /* The snapshot is durable; from here a failure leaves a stale log that
     * the next open discards. Map the new file and drop the tail. */
    void *map = size ? mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    if (map == MAP_FAILED) {
        close(fd);
        return sail_set_error(err, SAIL_ERR_IO, "mmap %s: %s", path, strerror(errno));
    }
    if (ix->snap_fd >= 0) close(ix->snap_fd);
    ix->snap_fd = fd;
    if (ix->map) munmap(ix->map, ix->map_len);
    ix->map = map;
    ix->map_len = (size_t)size;
    ix->map_vec = (const float *)((const uint8_t *)map + SNAP_HEADER);
    ix->map_slots = n;
    settle_mapping(ix);
    sail_free(ix->tail);
    ix->tail = NULL;
    ix->tail_cap = 0;
    return ix_wal_reset(ix, err);
}

sail_status ix_snapshot_parse(sail_index *ix, const uint8_t *buf, size_t len, sail_error *err) {
    if (len < SNAP_HEADER || memcmp(buf, SNAP_MAGIC, 8))
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap is not a sail index (bad magic or shorter than its header)");
    const uint8_t *h = buf;
    if (!ix_crc_ok(ix_rd32(h + 124), ix_crc32(0, h, 124)))
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap has a damaged header (checksum mismatch)");
    uint32_t version = ix_rd32(h + 8);
    if (version < 1 || version > SNAP_VERSION || ix_rd32(h + 12) != SNAP_HEADER)
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap has version %u; this build reads versions 1 and %d",
                              version, SNAP_VERSION);
    ix->dim = (int)ix_rd32(h + 16);
    ix->metric = (sail_metric)ix_rd32(h + 20);
    ix->storage = (sail_storage)ix_rd32(h + 24);
    ix->kind = (sail_index_kind)ix_rd32(h + 28);
    ix->M = (int)ix_rd32(h + 32);
    ix->ef_construction = (int)ix_rd32(h + 36);
    ix->ef_search = (int)ix_rd32(h + 40);
    ix->seed = ix_rd64(h + 48);
    ix->generation = ix_rd64(h + 56);
    ix->uid = version >= 2 ? ix_rd64(h + 108) : 0;
    uint64_t n = ix_rd64(h + 64), n_dead = ix_rd64(h + 72), pay = ix_rd64(h + 80), glen = ix_rd64(h + 88);
    uint64_t total = ix_rd64(h + 96);
    sail_status st = ix_configure(ix, err);
    if (st == SAIL_ERR_INVALID_ARG) { /* options checked as if given to create: here the file is at fault */
        if (err) {
            err->status = SAIL_ERR_FORMAT;
            sail_error_prefix(err, "index.snap has bad options");
        }
        return SAIL_ERR_FORMAT;
    }
    if (st) return st;
    if (n > SAIL_INDEX_MAX_ITEMS || n_dead > n || pay > len || glen > len)
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap has impossible counts");
    size_t d = (size_t)ix->dim;
    uint64_t expect = SNAP_HEADER + n * d * 4 + n * 8 + pad8(n) + pad8(n * 4) + pay + glen;
    if (total != len || expect != len)
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap is %zu bytes; its header says %llu (truncated or damaged)",
                              len, (unsigned long long)total);
    /* Parsing the mapped file (not a copy): pages go back behind each pass
     * (what is read again later faults in piecewise), so opening never
     * holds the whole file plus what is built from it. */
    int mapped = ix->map && (const uint8_t *)ix->map == buf;
    uint32_t crc = 0;
    for (size_t o = SNAP_HEADER; o < len; o += RELEASE_CHUNK) {
        crc = ix_crc32(crc, buf + o, SAIL_MIN(RELEASE_CHUNK, len - o));
        if (mapped) release(ix, o, o + RELEASE_CHUNK);
    }
    if (!ix_crc_ok(ix_rd32(h + 104), crc))
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap is damaged (data checksum mismatch)");
    const float *vec = (const float *)(buf + SNAP_HEADER);
    const uint8_t *pid = buf + SNAP_HEADER + n * d * 4, *pdead = pid + n * 8, *plen = pdead + pad8(n);
    const uint8_t *pp = plen + pad8(n * 4), *pend = pp + pay;
    size_t per = SAIL_MAX((size_t)1, RELEASE_CHUNK / (d * 4)); /* vectors between releases */
    for (size_t s = 0; s < n; s++) {
        for (size_t i = 0; i < d; i++)
            if (!isfinite(vec[s * d + i])) return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap holds a non-finite vector");
        if (mapped && (s + 1) % per == 0) release(ix, SNAP_HEADER + (s + 1 - per) * d * 4, SNAP_HEADER + (s + 1) * d * 4);
    }
    /* The graph first: read into its compact frozen form, it needs no
     * growable arrays from ix_reserve. */
    if (glen && !ix->hnsw) return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: an exact index with graph data");
    if (ix->hnsw && (st = ix_hnsw_deserialize(ix, (size_t)n, pend, (size_t)glen, err))) return st;
    /* Slots come from the mapping: reserve only the per-slot arrays. */
    ix->map_vec = vec;
    ix->map_slots = (size_t)n;
    int any_payload = 0;
    for (size_t s = 0; s < n && !any_payload; s++) any_payload = ix_rd32(plen + s * 4) != 0;
    if ((st = ix_reserve(ix, (size_t)n, any_payload, err))) return st;
    size_t dead_count = 0;
    for (size_t s = 0; s < n; s++) {
        uint32_t l = ix_rd32(plen + s * 4);
        uint8_t dead = pdead[s];
        if (dead > 1 || l > SAIL_INDEX_MAX_PAYLOAD || l > (size_t)(pend - pp) || (dead && l) || memchr(pp, 0, l))
            return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: item %zu has a bad payload or flag", s);
        uint64_t id = ix_rd64(pid + s * 8);
        char *p = NULL;
        if (!dead && l) { /* no bytes: the empty payload {} */
            if (!(p = strndup((const char *)pp, l))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory loading payloads");
        }
        pp += l;
        if (!dead && ix_idmap_get(&ix->idmap, id) >= 0) {
            sail_free(p);
            return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: id %llu appears twice", (unsigned long long)id);
        }
        long live = dead ? ix_idmap_get(&ix->idmap, id) : -1; /* a tombstone keeps a live twin mapped */
        ix_append_slot(ix, id, vec + s * d, p);
        if (mapped && (s + 1) % per == 0) release(ix, SNAP_HEADER + (s + 1 - per) * d * 4, SNAP_HEADER + (s + 1) * d * 4);
        if (dead) {
            ix->dead[s] = 1;
            ix_idmap_del(&ix->idmap, id);
            if (live >= 0) ix_idmap_put(&ix->idmap, id, (uint32_t)live);
            dead_count++;
        }
    }
    ix->n_dead = dead_count;
    if (dead_count != n_dead || pp != pend)
        return sail_set_error(err, SAIL_ERR_FORMAT, "index.snap: counts disagree with its contents");
    return SAIL_OK;
}


sail_status ix_snapshot_load(sail_index *ix, sail_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/index.snap", ix->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
        close(fd);
        return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    size_t len = (size_t)sb.st_size;
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    if (map == MAP_FAILED) {
        close(fd);
        return sail_set_error(err, SAIL_ERR_IO, "mmap %s: %s", path, strerror(errno));
    }
    ix->map = map;
    ix->map_len = len;
    ix->snap_fd = fd;
    sail_status st = ix_snapshot_parse(ix, map ? map : (const uint8_t *)"", len, err);
    if (!st) settle_mapping(ix);
    return st;
}
