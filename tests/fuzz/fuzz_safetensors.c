// sources: src/format/safetensors.c src/kernels/numfmt.c src/core/error.c src/core/alloc.c src/core/fault.c
// libs: -ljansson
/* fuzz_safetensors.c: libFuzzer harness for the safetensors header parser.
 * Parses the input with sail_st_open_mem, then touches the first and last
 * byte of every tensor and converts small ones to f32, so ASan catches any
 * view that escapes the buffer. */
#include "format/safetensors.h"

#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private copy: the parser must never need bytes past `size`. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    sail_error err;
    sail_st_file *f = sail_st_open_mem(buf, size, &err);
    if (f) {
        for (int i = 0; i < f->n; i++) {
            const sail_st_tensor *t = &f->t[i];
            if (sail_st_find(f, t->name) == NULL) abort();
            if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
            uint64_t n = sail_st_numel(t);
            if (n * sail_st_dtype_size(t->dtype) != t->nbytes) abort();
            if (n && n <= 64) {
                float out[64];
                sail_st_to_f32(t, 0, n, out, &err);
            }
        }
        sail_st_close(f);
    }
    free(buf);
    return 0;
}
