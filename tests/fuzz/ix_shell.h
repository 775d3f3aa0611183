/* ix_shell.h: an exact cosine index of dimension dim held in memory (its
 * log a memfd, no directory), configured and empty, for the harnesses and
 * regression tests that drive index code directly. NULL on failure. */
#ifndef SAIL_FUZZ_IX_SHELL_H
#define SAIL_FUZZ_IX_SHELL_H

#include "index/index_impl.h"

#include <sys/mman.h>

static inline sail_index *ix_memory_shell(int dim) {
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

#endif
