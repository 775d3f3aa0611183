/* test_index_files.c: the index directory's files beyond crashes
 * (tests/test_index_crash.c): a snapshot knows its log, so a missing log or
 * another index's log is refused (SAIL_ERR_FORMAT) instead of silently
 * replaced, and recover_without_log opens from the snapshot alone, keeps
 * the unusable log aside and says what was lost; leftover temp files of a
 * crash are removed on open; version-1 files (no log identity) still open
 * and are upgraded by the next snapshot; a snapshot with bad options names
 * the option once; a log that could not be replaced after a snapshot
 * accepts no more changes. */
#include "sail.h"
#include "test.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DIM 4

#define INDEX_TEST_TAG "files"
#include "index_fixtures.h"

static sail_index *open_ix(const char *dir, int create, int recover, sail_error *e) {
    sail_index_options o = {.dim = DIM, .metric = SAIL_METRIC_IP, .create = create, .n_threads = 1,
                            .recover_without_log = recover};
    memset(e, 0, sizeof *e);
    return sail_index_open(dir, &o, e);
}

/* Items [a, b), one call (one log record) each. */
static int add_range(sail_index *ix, uint64_t a, uint64_t b) {
    int ok = 1;
    for (uint64_t id = a; id < b; id++) {
        float v[DIM] = {(float)id, 1, 2, 3};
        ok &= sail_index_add(ix, &id, v, NULL, 1, NULL) == SAIL_OK;
    }
    return ok;
}

static const char *path_in(const char *dir, const char *name) {
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void copy_file(const char *from, const char *to) {
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    if (system(cmd) != 0) fprintf(stderr, "cp failed\n");
}

/* Live items of the index in dir, or -1 when it does not open (*e says why). */
static long count(const char *dir, int recover, sail_error *e) {
    sail_index *ix = open_ix(dir, 0, recover, e);
    long n = ix ? (long)sail_index_ids(ix, NULL, 0) : -1;
    sail_index_close(ix, NULL);
    return n;
}

/* An index with `snap` items in its snapshot and `logged` more in its log,
 * copied while open (so the log is not folded into a snapshot on close);
 * the copy is at dst. */
static void make_index(const char *src, const char *dst, uint64_t snap, uint64_t logged) {
    sail_error e;
    sail_index *ix = open_ix(src, 1, 0, &e);
    add_range(ix, 0, snap);
    sail_index_compact(ix, NULL);
    add_range(ix, snap, snap + logged);
    mkdir(dst, 0777);
    copy_file(path_in(src, "index.snap"), path_in(dst, "index.snap"));
    copy_file(path_in(src, "index.wal"), path_in(dst, "index.wal"));
    sail_index_close(ix, NULL);
}

/* make_index in fresh scratch directories TAGsrc and TAGdst, their paths
 * put in src and dst (300 bytes each). */
static void fresh_index(char *src, char *dst, const char *tag, uint64_t snap, uint64_t logged) {
    char name[64];
    snprintf(name, sizeof name, "%ssrc", tag);
    snprintf(src, 300, "%s", tmpdir(name));
    snprintf(name, sizeof name, "%sdst", tag);
    snprintf(dst, 300, "%s", tmpdir(name));
    make_index(src, dst, snap, logged);
}

static int read_at(const char *path, long off, void *buf, size_t n) {
    int fd = open(path, O_RDONLY);
    int ok = fd >= 0 && pread(fd, buf, n, off) == (ssize_t)n;
    if (fd >= 0) close(fd);
    return ok;
}

static void write_at(const char *path, long off, const void *buf, size_t n) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, buf, n, off) != (ssize_t)n) fprintf(stderr, "write %s failed\n", path);
    if (fd >= 0) close(fd);
}

static uint32_t version_of(const char *path) {
    uint32_t v = 0;
    read_at(path, 8, &v, 4);
    return v;
}

/* Patch a snapshot header field and re-seal the header checksum. */
static void patch_snap_header(const char *path, long off, const void *bytes, size_t n) {
    uint8_t h[128];
    if (!read_at(path, 0, h, sizeof h)) return;
    memcpy(h + off, bytes, n);
    uint32_t c = (uint32_t)crc32(0, h, 124);
    memcpy(h + 124, &c, 4);
    write_at(path, 0, h, sizeof h);
}

static void test_missing_log(void) {
    char src[300], dst[300];
    sail_error e;
    fresh_index(src, dst, "", 10, 183);
    CHECK(count(dst, 0, &e) == 193, "control: the copy opens with 10 + 183 items (%s)", e.msg);
    rmrf(dst); rmrf(src);

    make_index(src, dst, 10, 183);
    unlink(path_in(dst, "index.wal"));
    long n = count(dst, 0, &e);
    CHECK(n == -1 && e.status == SAIL_ERR_FORMAT && strstr(e.msg, "index.wal is missing") &&
          strstr(e.msg, "--recover-without-log"),
          "a deleted log (183 records) is refused, not re-created, naming the way out: %s", e.msg);
    CHECK(!exists(path_in(dst, "index.wal")), "the refused open leaves the directory as it was");
    n = count(dst, 1, &e);
    CHECK(n == 10 && e.status == SAIL_OK && strstr(e.msg, "missing") && strstr(e.msg, "lost"),
          "recover_without_log opens from the snapshot alone (%ld items) and says so: %s", n, e.msg);
    n = count(dst, 0, &e);
    CHECK(n == 10, "after recovery the index opens normally (%ld items) %s", n, e.msg);
    n = count(dst, 1, &e);
    CHECK(n == 10 && e.status == SAIL_OK && !e.msg[0], "recover_without_log on a sound index changes nothing (%ld items) %s",
          n, e.msg);
    rmrf(dst); rmrf(src);

    /* A freshly created index (empty log) closed cleanly: still refused,
     * since a snapshot cannot know whether records followed it. */
    sail_index *ix = open_ix(src, 1, 0, &e);
    sail_index_close(ix, NULL);
    unlink(path_in(src, "index.wal"));
    n = count(src, 0, &e);
    CHECK(n == -1 && e.status == SAIL_ERR_FORMAT, "a new index without its log is refused too: %s", e.msg);
    rmrf(src);
}

/* The index at dir is refused, a format error whose message has `refused`,
 * and recover_without_log opens it from its snapshot alone with `items`
 * items and a message that has `recovered`. */
static void refused_then_recovered(const char *dir, long items, const char *refused, const char *recovered,
                                   const char *what) {
    sail_error e;
    long n = count(dir, 0, &e);
    CHECK(n == -1 && e.status == SAIL_ERR_FORMAT && strstr(e.msg, refused), "%s is refused: %s", what, e.msg);
    n = count(dir, 1, &e);
    CHECK(n == items && e.status == SAIL_OK && strstr(e.msg, recovered),
          "%s: recover_without_log opens it from the snapshot (%ld items): %s", what, n, e.msg);
}

static void test_foreign_log(void) {
    char a[300], b[300], c[300];
    snprintf(a, sizeof a, "%s", tmpdir("a"));
    snprintf(b, sizeof b, "%s", tmpdir("b"));
    snprintf(c, sizeof c, "%s", tmpdir("c"));
    sail_error e;
    /* Two indexes at the same generation and dimension: only the identity
     * tells their logs apart. */
    make_index(a, c, 5, 0);
    rmrf(c);
    make_index(b, c, 5, 7);
    copy_file(path_in(c, "index.wal"), path_in(a, "index.wal"));
    refused_then_recovered(a, 5, "not this snapshot's log", "index.wal.orphan",
                           "another index's log of the same generation (not replayed; kept aside)");
    struct stat so, sc;
    CHECK(stat(path_in(a, "index.wal.orphan"), &so) == 0 && stat(path_in(c, "index.wal"), &sc) == 0 &&
          so.st_size == sc.st_size, "index.wal.orphan is the foreign log, untouched");
    copy_file(path_in(c, "index.wal"), path_in(a, "index.wal"));
    long n = count(a, 1, &e);
    CHECK(n == 5 && exists(path_in(a, "index.wal.orphan.1")), "a second orphan does not replace the first: %s", e.msg);
    rmrf(a); rmrf(b); rmrf(c);

    /* A log newer than its snapshot (an old index.snap restored) */
    make_index(a, c, 3, 0);
    sail_index *ix = open_ix(a, 0, 0, &e);
    add_range(ix, 3, 6);
    sail_index_compact(ix, NULL);
    add_range(ix, 6, 8);
    copy_file(path_in(c, "index.snap"), path_in(a, "index.snap.old"));
    sail_index_close(ix, NULL);
    rename(path_in(a, "index.snap.old"), path_in(a, "index.snap"));
    refused_then_recovered(a, 3, "newer", "orphan", "a log newer than its snapshot");
    rmrf(a); rmrf(c);

    /* A damaged log (a bad record before intact ones) can be opened without it */
    make_index(a, c, 2, 4);
    write_at(path_in(c, "index.wal"), 40 + 20 + 4, "\xff\xff", 2);
    refused_then_recovered(c, 2, "corrupt", "corrupt", "a corrupt log");
    rmrf(a); rmrf(c);
}

static void test_leftovers(void) {
    const char *dir = tmpdir("tmp");
    sail_error e;
    sail_index *ix = open_ix(dir, 1, 0, &e);
    add_range(ix, 0, 4);
    sail_index_close(ix, NULL);
    /* a crash mid-snapshot and mid-log-reset leaves these */
    copy_file(path_in(dir, "index.snap"), path_in(dir, "index.snap.tmp"));
    copy_file(path_in(dir, "index.wal"), path_in(dir, "index.wal.tmp"));
    long n = count(dir, 0, &e);
    CHECK(n == 4 && !exists(path_in(dir, "index.snap.tmp")) && !exists(path_in(dir, "index.wal.tmp")),
          "opening removes a leftover index.snap.tmp and index.wal.tmp (%ld items) %s", n, e.msg);
    rmrf(dir);
}

/* Rewrite a version-2 log as version 1 (32-byte header, no identity). */
static void wal_to_v1(const char *path) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1 << 20);
    size_t len = f ? fread(buf, 1, 1 << 20, f) : 0;
    if (f) fclose(f);
    uint8_t h[32] = {0};
    memcpy(h, buf, 24); /* magic, version, dim, generation */
    uint32_t one = 1;
    memcpy(h + 8, &one, 4);
    uint32_t c = (uint32_t)crc32(0, h, 28);
    memcpy(h + 28, &c, 4);
    f = fopen(path, "wb");
    if (f) {
        fwrite(h, 1, 32, f);
        if (len > 40) fwrite(buf + 40, 1, len - 40, f);
        fclose(f);
    }
    free(buf);
}

static void test_version1(void) {
    char src[300], dst[300];
    sail_error e;
    fresh_index(src, dst, "v1", 6, 5);
    uint32_t one = 1;
    uint8_t zero[8] = {0};
    patch_snap_header(path_in(dst, "index.snap"), 8, &one, 4);
    patch_snap_header(path_in(dst, "index.snap"), 108, zero, 8);
    wal_to_v1(path_in(dst, "index.wal"));
    CHECK(version_of(path_in(dst, "index.snap")) == 1 && version_of(path_in(dst, "index.wal")) == 1,
          "control: the files were rewritten as version 1");
    long n = count(dst, 0, &e);
    CHECK(n == 11, "a version-1 snapshot and log open with all 11 items %s", e.msg);
    CHECK(version_of(path_in(dst, "index.snap")) == 2 && version_of(path_in(dst, "index.wal")) == 2,
          "closing writes version 2 files");
    uint64_t s_uid = 0, w_uid = 0;
    read_at(path_in(dst, "index.snap"), 108, &s_uid, 8);
    read_at(path_in(dst, "index.wal"), 24, &w_uid, 8);
    CHECK(s_uid && s_uid == w_uid, "the upgraded snapshot and its log share a new identity (%016llx)", (unsigned long long)s_uid);
    n = count(dst, 0, &e);
    CHECK(n == 11, "and reopen with 11 items %s", e.msg);
    rmrf(dst); rmrf(src);
}

static void test_bad_options_message(void) {
    const char *dir = tmpdir("opts");
    sail_error e;
    sail_index *ix = open_ix(dir, 1, 0, &e);
    sail_index_close(ix, NULL);
    uint32_t zero = 0;
    patch_snap_header(path_in(dir, "index.snap"), 16, &zero, 4); /* dim 0 */
    long n = count(dir, 0, &e);
    const char *first = strstr(e.msg, "index.snap");
    CHECK(n == -1 && e.status == SAIL_ERR_FORMAT && strstr(e.msg, "dimension 0 is out of range 1..65536") && first &&
          !strstr(first + 1, "index.snap"), "a snapshot with dimension 0 says so once: %s", e.msg);
    rmrf(dir);
}

/* A snapshot that cannot replace the log leaves the old log on disk,
 * which the next open ignores as stale: changes must not be acknowledged
 * into it. */
static void test_log_not_replaced(void) {
    const char *dir = tmpdir("reset");
    sail_error e;
    sail_index *ix = open_ix(dir, 1, 0, &e);
    add_range(ix, 0, 3);
    mkdir(path_in(dir, "index.wal.tmp"), 0777); /* the new log cannot be created */
    sail_status st = sail_index_compact(ix, &e);
    CHECK(st == SAIL_ERR_IO, "control: the log reset after a snapshot fails: %s", e.msg);
    float v[DIM] = {1, 2, 3, 4};
    uint64_t id = 99;
    st = sail_index_add(ix, &id, v, NULL, 1, &e);
    CHECK(st == SAIL_ERR_IO && strstr(e.msg, "reopen"), "then an add is refused, not logged into the stale log: %s", e.msg);
    rmdir(path_in(dir, "index.wal.tmp"));
    sail_index_close(ix, NULL);
    long n = count(dir, 0, &e);
    CHECK(n == 3, "the index reopens with its 3 items (%ld) %s", n, e.msg);
    rmrf(dir);
}

int main(void) {
    test_missing_log();
    test_foreign_log();
    test_leftovers();
    test_version1();
    test_bad_options_message();
    test_log_not_replaced();
    return test_done();
}
