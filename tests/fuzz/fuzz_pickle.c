// sources: src/format/pickle.c src/core/error.c src/core/alloc.c src/core/fault.c
/* fuzz_pickle.c: libFuzzer harness for the restricted unpickler. Any input
 * must either be refused or yield tensors whose recorded extent lies inside
 * their storage; ASan/UBSan catch reads past the buffer, leaks and overflow. */
#include "format/pickle.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    sail_pkl_tensor *t = NULL;
    int n = 0;
    sail_error err;
    if (!sail_pkl_state_dict(buf, size, &t, &n, &err)) {
        for (int i = 0; i < n; i++) {
            uint64_t numel = 1;
            for (int d = 0; d < t[i].n_dims; d++) numel *= (uint64_t)t[i].shape[d];
            if (!t[i].name[0] || !t[i].key[0] || t[i].offset + numel > t[i].storage_numel) abort();
        }
        sail_pkl_free(t, n);
    }
    free(buf);
    return 0;
}
