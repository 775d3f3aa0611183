// sources: src/format/ptzip.c src/format/pickle.c src/format/safetensors.c src/kernels/numfmt.c src/core/error.c src/core/alloc.c src/core/fault.c
// libs: -lzip -ljansson -lz
/* fuzz_ptzip.c: libFuzzer harness for PyTorch zip checkpoints
 * (pytorch_model.bin: torch.save's zip read with libzip, data.pkl through
 * the restricted unpickler, storages checked against the pickle). The input
 * is the file; every tensor of an accepted file is read end to end, so
 * ASan catches a view past its storage. seed_ptzip.c writes stored zips of
 * the layout torch.save uses. */
#include "fuzz_file.h"

#include "format/ptzip.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("pytorch_model.bin", data, size);
    sail_error err;
    sail_pt_file *f = sail_pt_open(path, &err);
    if (!f) return 0;
    for (int i = 0; i < f->n; i++) {
        const sail_st_tensor *t = &f->t[i];
        if (!t->name || sail_st_numel(t) * sail_st_dtype_size(t->dtype) != t->nbytes) abort();
        const uint8_t *p = t->data;
        for (uint64_t k = 0; k < t->nbytes; k++) sink ^= p[k];
    }
    sail_pt_close(f);
    return 0;
}
