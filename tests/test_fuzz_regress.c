/* test_fuzz_regress.c: every input the fuzz harnesses (tests/fuzz/) found a
 * problem with, fed to the library again: each must now be refused (or
 * read) cleanly. docs/RELIABILITY.md lists the findings. Some findings were
 * allocations sized by a file's unchecked claim; outside sanitizer builds
 * malloc is wrapped here to count requests over 1 GiB, so those checks fail
 * if a refused file still asks for the memory it claims. */
#include "test.h"

#include "apps/apps.h"
#include "index/index_impl.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------- large allocations -- */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

static size_t big_allocs; /* requests over 1 GiB since the last reset */

#if COUNT_ALLOCS
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *malloc(size_t n) {
    if (n > ((size_t)1 << 30)) big_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    if (size && n > ((size_t)1 << 30) / size) big_allocs++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    if (n > ((size_t)1 << 30)) big_allocs++;
    return __libc_realloc(p, n);
}
#endif

/* A check on big_allocs, or a skip where it cannot count. */
#define CHECK_NO_BIG_ALLOC(what)                                                      \
    do {                                                                              \
        if (COUNT_ALLOCS) CHECK(big_allocs == 0, "%s: no allocation over 1 GiB", what); \
        else SKIP("%s: allocations are not counted under a sanitizer", what);         \
    } while (0)

/* ---------------------------------------------------------- helpers -- */

static char tmpdir[64];

static const char *write_tmp(const char *name, const void *data, size_t n) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

/* An index shell of dimension dim whose log is a memfd (as fuzz_npy.c). */
static sail_index *shell_index(int dim) {
    sail_index *ix = ix_new_shell();
    if (!ix) return NULL;
    ix->dim = dim;
    ix->metric = SAIL_METRIC_COSINE;
    ix->storage = SAIL_STORAGE_F32;
    ix->kind = SAIL_INDEX_EXACT;
    ix->M = 4;
    ix->ef_construction = ix->ef_search = 8;
    ix->wal_fd = memfd_create("wal", MFD_CLOEXEC);
    if (ix->wal_fd < 0 || ix_configure(ix, NULL)) {
        ix_free(ix);
        return NULL;
    }
    return ix;
}

/* ------------------------------------------------------- the inputs -- */

/* fuzz_npy: an .fvecs file whose first dimension is 0x554e930c was
 * refused, but the import still sized its batch buffer by that dimension
 * (5.7 GB). */
static void fvecs_huge_dimension(void) {
    static const uint8_t in[] = {0x0c, 0x93, 0x4e, 0x55, 'M', 'P', 'Y', 1, 0, 'v', 0, '{', '}'};
    const char *path = write_tmp("huge_dim.fvecs", in, sizeof in);
    sail_index *ix = shell_index(5);
    CHECK(path && ix, "fvecs: fixture");
    if (!path || !ix) return;
    sail_error err = {0};
    size_t added = 99;
    big_allocs = 0;
    sail_status st = sail_index_import(ix, path, 1, &added, &err);
    CHECK(st == SAIL_ERR_FORMAT && added == 0, "fvecs with dimension 0x554e930c refused (%s)", err.msg);
    CHECK_NO_BIG_ALLOC("fvecs with dimension 0x554e930c");
    ix_free(ix);
}

/* fuzz_npy: a 130-byte .npy whose header claims 16000000 x 60000 float32
 * made apps_npy_read ask for 3.8 TB before reading the (absent) data. */
static void npy_shape_past_file(void) {
    char h[119];
    int k = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (16000000, 60000), }");
    memset(h + k, ' ', sizeof h - 1 - (size_t)k);
    h[117] = '\n';
    uint8_t in[10 + 118] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
    memcpy(in + 10, h, 118);
    const char *path = write_tmp("big_shape.npy", in, sizeof in);
    float *v = NULL;
    int n = 0, d = 0;
    sail_error err = {0};
    big_allocs = 0;
    sail_status st = path ? apps_npy_read(path, &v, &n, &d, &err) : SAIL_ERR_IO;
    CHECK(st == SAIL_ERR_FORMAT && !v, "npy claiming 16000000 x 60000 in 128 bytes refused (%s)", err.msg);
    CHECK_NO_BIG_ALLOC("npy claiming 16000000 x 60000");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sail_fuzz_regress_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "temporary folder");
        return test_done();
    }
    fvecs_huge_dimension();
    npy_shape_past_file();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("# could not remove %s\n", tmpdir);
    return test_done();
}
