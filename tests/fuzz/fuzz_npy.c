// sources: src/index/interchange.c src/index/faiss_write.c src/index/index.c src/index/store.c src/index/apply.c src/index/fileio.c src/index/wal.c src/index/snapshot.c src/index/payload.c src/index/hnsw.c src/index/search.c src/index/exact.c src/index/distance.c src/index/distance_avx2.c src/index/distance_avx512.c src/apps/vectors.c src/kernels/numfmt.c src/core/alloc.c src/core/fault.c src/core/error.c src/core/pool.c src/core/cpu.c
// libs: -ljansson -lz -lpthread
/* fuzz_npy.c: libFuzzer harness for the readers of outside vector files:
 * sail_index_import of a .npy or an .fvecs file (src/index/interchange.c)
 * and sail_npy_read (src/apps/vectors.c, the apps' .npy matrices).
 * The first byte picks the reader (% 3: 0 = import .npy, 1 = import .fvecs,
 * 2 = sail_npy_read) and the index's dimension (1 + (b >> 2) % 8); the rest
 * is the file. The import goes into an index shell whose log is a memfd, so
 * accepted vectors really reach the index. Checks: an accepted file adds
 * as many items as it holds and sail_npy_read's matrix is finite. */
#include "fuzz_file.h"

#include "apps/apps.h"
#include "ix_shell.h"
#include "kernels/kernels.h"

#include <math.h>
#include <sys/mman.h>

/* apps/vectors.c's distance helpers need the kernels; reading does not. */
const sail_kernel_table *sail_kernels(void) { abort(); }
void sail_gemm(sail_pool *pool, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               int b_trans, const float *bias, float beta, float *C, int ldc) {
    (void)pool, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)b_trans;
    (void)bias, (void)beta, (void)C, (void)ldc;
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 3, dim = 1 + (data[0] >> 2) % 8;
    sail_error err;
    if (mode == 2) {
        const char *path = fuzz_file("m.npy", data + 1, size - 1);
        float *v = NULL;
        int n = 0, d = 0;
        if (sail_npy_read(path, &v, &n, &d, &err) == SAIL_OK) {
            if (n < 1 || d < 1 || !v) abort();
            for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
                if (!isfinite(v[i])) abort();
            sail_free(v);
        }
        return 0;
    }
    const char *path = fuzz_file(mode ? "v.fvecs" : "v.npy", data + 1, size - 1);
    sail_index *ix = ix_memory_shell(dim);
    if (!ix) return 0;
    size_t added = 0;
    sail_index_import(ix, path, 1, &added, &err);
    sail_index_info info;
    sail_index_get_info(ix, &info);
    if (info.count != added) abort();
    ix_free(ix);
    return 0;
}
