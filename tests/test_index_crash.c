/* test_index_crash.c: durability of the index directory.
 *
 * Crash test: a child process inserts 10,000 items (and deletes some) in
 * small batches, compacting now and then, and reports each acknowledged
 * batch through a pipe; the parent SIGKILLs it at random moments, then
 * reopens the index and checks that every acknowledged item is there with
 * its exact vector and payload, every acknowledged delete is gone, and
 * nothing present is wrong. At least 20 kills; more rounds until all
 * 10,000 are in.
 *
 * Corruption tests: a torn last log record is dropped silently; a damaged
 * record before intact ones, a wrong magic, a truncated or bit-flipped
 * snapshot are SAIL_ERR_FORMAT; a stale log (a crash between the snapshot
 * rename and the log reset) is ignored. */
#include "sail.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIM 8
#define TOTAL 10000
#define MIN_KILLS 20

#define INDEX_TEST_TAG "crash"
#include "index_fixtures.h"

/* The vector and payload of id: a pure function of the id. */
static void item(uint64_t id, float *v, char *p, size_t pn) {
    for (int j = 0; j < DIM; j++) v[j] = (float)((id * 2654435761u + (uint64_t)j * 40503u) % 1000) / 100.0f - 5.0f;
    snprintf(p, pn, "{\"text\":\"item %llu\",\"k\":%llu}", (unsigned long long)id, (unsigned long long)(id * 7));
}

static int deletable(uint64_t id) { return id % 17 == 0; }

typedef struct ack { uint64_t kind, a, b; } ack; /* kind 1: [a,b) added; 2: its deletable ids deleted */

/* The child: continue after the largest id present, ack every batch. */
static void child(const char *dir, int fd, unsigned seed) {
    sail_index_options o = {.dim = DIM, .metric = SAIL_METRIC_L2, .kind = SAIL_INDEX_HNSW, .M = 8,
                            .ef_construction = 32, .create = 1, .n_threads = 1};
    sail_error e;
    sail_index *ix = sail_index_open(dir, &o, &e);
    if (!ix) _exit(3);
    size_t n = sail_index_ids(ix, NULL, 0);
    uint64_t *ids = malloc((n + 1) * 8), next = 0;
    sail_index_ids(ix, ids, n);
    for (size_t i = 0; i < n; i++) if (ids[i] + 1 > next) next = ids[i] + 1;
    free(ids);
    srand(seed);
    float v[64 * DIM];
    char pbuf[64][96];
    const char *pay[64];
    uint64_t bid[64];
    while (next < TOTAL) {
        int b = 1 + rand() % 40;
        if (next + (uint64_t)b > TOTAL) b = (int)(TOTAL - next);
        for (int i = 0; i < b; i++) {
            bid[i] = next + (uint64_t)i;
            item(bid[i], v + i * DIM, pbuf[i], sizeof pbuf[i]);
            pay[i] = pbuf[i];
        }
        if (sail_index_add(ix, bid, v, pay, b, &e)) _exit(4);
        ack a = {1, next, next + (uint64_t)b};
        if (write(fd, &a, sizeof a) != sizeof a) _exit(5);
        int nd = 0;
        uint64_t del[64];
        for (int i = 0; i + 1 < b; i++) if (deletable(bid[i])) del[nd++] = bid[i];
        if (nd && sail_index_delete(ix, del, nd, NULL, &e)) _exit(6);
        a.kind = 2;
        if (write(fd, &a, sizeof a) != sizeof a) _exit(5);
        next += (uint64_t)b;
        if (rand() % 60 == 0 && sail_index_compact(ix, &e)) _exit(7); /* snapshots under fire */
    }
    sail_index_close(ix, NULL);
    _exit(0);
}

/* must[id]: 1 present, 2 absent, 0 either. */
static int verify(const char *dir, const uint8_t *must, char *why, size_t wn) {
    sail_error e = {0};
    sail_index *ix = sail_index_open(dir, NULL, &e);
    if (!ix) { snprintf(why, wn, "open failed: %.200s", e.msg); return 0; }
    int ok = 1;
    float v[DIM], want[DIM];
    char wp[96];
    for (uint64_t id = 0; id < TOTAL && ok; id++) {
        char *p = NULL;
        sail_status st = sail_index_get(ix, id, v, &p, &e);
        if (must[id] == 1 && st) { snprintf(why, wn, "acknowledged id %llu is missing", (unsigned long long)id); ok = 0; }
        if (must[id] == 2 && !st) { snprintf(why, wn, "id %llu was deleted (acknowledged) but is present", (unsigned long long)id); ok = 0; }
        if (!st) {
            item(id, want, wp, sizeof wp);
            if (memcmp(v, want, sizeof v) || strcmp(p, wp)) { snprintf(why, wn, "id %llu has a wrong vector or payload", (unsigned long long)id); ok = 0; }
        }
        free(p);
    }
    sail_index_close(ix, NULL); /* snapshots: the next child starts from it */
    return ok;
}

/* Record what one acknowledgement guarantees in must[]. */
static void note_ack(uint8_t *must, const ack *a) {
    for (uint64_t id = a->a; id < a->b; id++) {
        /* a deletable id may be deleted before its delete is acked */
        int may_go = deletable(id) && id + 1 < a->b;
        if (a->kind == 1 && !must[id] && !may_go) must[id] = 1;
        if (a->kind == 2 && may_go) must[id] = 2;
    }
}

static void test_crash(void) {
    const char *dir = tmpdir("kill");
    char d2[256];
    snprintf(d2, sizeof d2, "%s", dir);
    uint8_t *must = calloc(TOTAL, 1);
    int kills = 0, rounds = 0, bad = 0, done = 0;
    char why[256] = "";
    srand(12345);
    while (!done && rounds < 200 && !bad) {
        int pfd[2];
        if (pipe(pfd)) break;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            child(d2, pfd[1], (unsigned)rounds + 1);
        }
        close(pfd[1]);
        int killing = kills < MIN_KILLS || rand() % 2;
        ack a;
        if (killing) {
            /* Kill after a random number of acknowledgements plus a random
             * few ms, so every round ends mid-run however fast the machine
             * is (a timer alone lets a fast child finish in a few rounds). */
            int n_acks = rand() % 16;
            for (int i = 0; i < n_acks && read(pfd[0], &a, sizeof a) == sizeof a; i++) note_ack(must, &a);
            struct timespec ts = {0, (long)(rand() % 3000) * 1000}; /* 0..3 ms */
            nanosleep(&ts, NULL);
            kill(pid, SIGKILL);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        while (read(pfd[0], &a, sizeof a) == sizeof a) note_ack(must, &a);
        close(pfd[0]);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) kills++;
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) done = 1;
        else { snprintf(why, sizeof why, "child failed with status %d", status); bad = 1; break; }
        rounds++;
        if (!verify(d2, must, why, sizeof why)) bad = 1;
    }
    int acked = 0, gone = 0;
    for (int i = 0; i < TOTAL; i++) acked += must[i] == 1, gone += must[i] == 2;
    CHECK(!bad && done && kills >= MIN_KILLS,
          "crash test: %d SIGKILLs in %d rounds; all %d acknowledged items present, %d acknowledged deletes gone, nothing wrong%s%s",
          kills, rounds, acked, gone, *why ? ": " : "", why);
    free(must);
    rmrf(d2);
}

/* ------------------------------------------------------- corruption -- */

static sail_index *fresh(const char *dir) {
    sail_index_options o = {.dim = DIM, .metric = SAIL_METRIC_IP, .create = 1, .n_threads = 1};
    return sail_index_open(dir, &o, NULL);
}

static void add_range(sail_index *ix, uint64_t a, uint64_t b) {
    float v[DIM];
    char p[96];
    for (uint64_t id = a; id < b; id++) {
        item(id, v, p, sizeof p);
        const char *pp = p;
        sail_index_add(ix, &id, v, &pp, 1, NULL);
    }
}

static long fsize(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static void copy_file(const char *from, const char *to) {
    char cmd[1500]; /* two paths of up to 700 bytes */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    if (system(cmd) != 0) fprintf(stderr, "cp failed\n");
}

/* A copy of an index with 3 items in the snapshot and 3 in the log
 * (taken while it is open, so the log is not folded into a snapshot). */
static void make_copy(const char *src, const char *dst) {
    char a[600], b[600];
    sail_index *ix = fresh(src);
    add_range(ix, 0, 3);
    sail_index_compact(ix, NULL);
    add_range(ix, 3, 6);
    mkdir(dst, 0777);
    snprintf(a, sizeof a, "%s/index.snap", src); snprintf(b, sizeof b, "%s/index.snap", dst); copy_file(a, b);
    snprintf(a, sizeof a, "%s/index.wal", src); snprintf(b, sizeof b, "%s/index.wal", dst); copy_file(a, b);
    sail_index_close(ix, NULL);
}

static void patch(const char *path, long off, const void *bytes, size_t n) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, bytes, n, off < 0 ? fsize(path) + off : off) != (ssize_t)n) fprintf(stderr, "patch failed\n");
    close(fd);
}

static size_t count(const char *dir, sail_status *st, char *msg) {
    sail_error e = {0};
    sail_index *ix = sail_index_open(dir, NULL, &e);
    *st = ix ? SAIL_OK : e.status;
    snprintf(msg, 512, "%.500s", ix ? "" : e.msg);
    size_t n = ix ? sail_index_ids(ix, NULL, 0) : 0;
    sail_index_close(ix, NULL);
    return n;
}

/* The damage done to a fresh copy (make_copy) and what opening it gives:
 * `items` items, or (needle set) a format error whose message has needle. */
#define AT_END LONG_MIN /* patch: append to the file */
static const uint8_t zeros[300];
typedef struct damaged {
    const char *file;   /* index.wal or index.snap */
    long cut;           /* bytes truncated off its end first */
    long off;           /* where bytes go: from the start, < 0 from the end, or AT_END */
    const void *bytes;
    size_t n;
    size_t items;
    const char *needle, *what;
} damaged;
static const damaged damage[] = {
    {"index.wal", 5, 0, NULL, 0, 5, NULL, "a torn last log record is dropped"},
    /* zeros after the last record (the file grown, the data lost) */
    {"index.wal", 0, AT_END, zeros, sizeof zeros, 6, NULL, "zeros after the last record are a torn tail"},
    /* a flipped byte in the first record (40-byte log header, 20-byte record header): intact ones follow */
    {"index.wal", 0, 40 + 20 + 10, "\xff", 1, 0, "corrupt", "a bad checksum mid-log"},
    {"index.wal", 0, -3, "\x01\x02\x03", 3, 5, NULL, "a damaged last record is a torn tail"},
    {"index.wal", 0, 0, "XAILWAL1", 8, 0, "magic", "a log with a wrong magic"},
    {"index.snap", 0, 0, "XAILIDX1", 8, 0, "magic", "a snapshot with a wrong magic"},
    {"index.snap", 9, 0, NULL, 0, 0, "truncated", "a truncated snapshot"},
    {"index.snap", 0, 128 + 4, "\x7f", 1, 0, "checksum", "a flipped bit in snapshot data"},
};

static void test_corruption(void) {
    char src[300], dst[300], path[700], msg[512];
    snprintf(src, sizeof src, "%s", tmpdir("src"));
    snprintf(dst, sizeof dst, "%s", tmpdir("dst"));
    sail_status st;

    make_copy(src, dst);
    CHECK(count(dst, &st, msg) == 6 && st == SAIL_OK, "an intact copy opens with 6 items");
    rmrf(dst); rmrf(src);

    for (size_t k = 0; k < sizeof damage / sizeof *damage; k++) {
        const damaged *d = &damage[k];
        make_copy(src, dst);
        snprintf(path, sizeof path, "%s/%s", dst, d->file);
        if (d->cut && truncate(path, fsize(path) - d->cut)) perror("truncate");
        if (d->n) patch(path, d->off == AT_END ? fsize(path) : d->off, d->bytes, d->n);
        size_t n = count(dst, &st, msg);
        if (d->needle)
            CHECK(st == SAIL_ERR_FORMAT && strstr(msg, d->needle), "%s is a format error: %s", d->what, msg);
        else
            CHECK(st == SAIL_OK && n == d->items, "%s: %zu items (%s)", d->what, d->items, msg);
        rmrf(dst); rmrf(src);
    }

    /* stale log: snapshot renamed, log not yet reset -> replaying it again
     * must not be needed; the generation check discards it */
    make_copy(src, dst);
    char wal_old[700];
    snprintf(wal_old, sizeof wal_old, "%s/index.wal", dst);
    snprintf(path, sizeof path, "%s/wal.keep", dst);
    copy_file(wal_old, path); /* holds the adds of ids 3, 4, 5 */
    sail_index *ix = sail_index_open(dst, NULL, NULL);
    uint64_t four = 4;
    sail_index_delete(ix, &four, 1, NULL, NULL);
    sail_index_close(ix, NULL); /* snapshot (generation + 1), log reset */
    copy_file(path, wal_old);   /* as if the crash came before the reset */
    size_t n = count(dst, &st, msg);
    CHECK(st == SAIL_OK && n == 5, "a stale log beside a newer snapshot is not replayed (%zu items, 5 expected) %s", n, msg);
    rmrf(dst); rmrf(src);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    test_corruption();
    test_crash();
    return test_done();
}
