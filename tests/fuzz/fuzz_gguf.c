/* fuzz_gguf.c: libFuzzer harness for the GGUF reader. Parses the input with
 * gguf_open_mem, then touches everything a parsed file points at (keys,
 * strings, arrays, tensor data) through the public getters, so ASan catches
 * any view that escapes the buffer. Built and run by tests/fuzz/run.sh.
 * sources: the line below is read by run.sh. */
// sources: src/format/gguf.c src/core/error.c src/core/alloc.c src/core/fault.c
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;   /* keeps the touching reads alive */

static void touch(const void *p, uint64_t n) {
    if (n) sink ^= ((const uint8_t *)p)[0] ^ ((const uint8_t *)p)[n - 1];
}

static void walk_kv(const gguf_file *f, const gguf_kv *kv) {
    char key[64 * 1024 + 1], str[256];
    float fv[64], x;
    uint32_t u;
    int32_t i;
    int b;
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = '\0';
    if (gguf_find_kv(f, key) != kv) abort();   /* keys are unique */
    gguf_get_u32(f, key, &u, NULL);
    gguf_get_i32(f, key, &i, NULL);
    gguf_get_f32(f, key, &x, NULL);
    gguf_get_bool(f, key, &b, NULL);
    gguf_get_str(f, key, str, sizeof str, NULL);
    if (kv->type == GGUF_VT_STRING) touch(kv->v.str.ptr, kv->v.str.len);
    if (kv->type != GGUF_VT_ARRAY) return;
    if (kv->v.arr.n <= 64) gguf_get_f32_array(f, key, fv, kv->v.arr.n, NULL);
    if (kv->v.arr.type == GGUF_VT_STRING)
        for (uint64_t j = 0; j < kv->v.arr.n; j++) touch(kv->v.arr.strs[j].ptr, kv->v.arr.strs[j].len);
}

static void walk_tensor(const gguf_file *f, const gguf_tensor *t) {
    char name[64 * 1024 + 1];
    memcpy(name, t->name.ptr, t->name.len);
    name[t->name.len] = '\0';
    if (gguf_find_tensor(f, name) != t) abort();   /* names are unique */
    touch(t->data, t->nbytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = gguf_open_mem(data, size, NULL);
    if (!f) return 0;
    for (uint64_t i = 0; i < f->n_kv; i++) walk_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++) walk_tensor(f, &f->tensors[i]);
    gguf_close(f);
    return 0;
}
