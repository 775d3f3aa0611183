/* seed_gguf.c: writes a few small valid GGUF files into the corpus directory
 * given as argv[1], so the gguf fuzzer starts from well-formed structure.
 * Built and run by tests/fuzz/run.sh before fuzz_gguf. */
// sources: src/format/gguf.c src/format/gguf_write.c src/core/error.c src/core/alloc.c src/core/fault.c
#include "format/gguf.h"

#include <stdio.h>

static int write_seed(const char *dir, const char *name, int with_tensors, uint32_t align) {
    static const char *const vocab[] = {"[PAD]", "", "中文", "hello"};
    static const float mean[3] = {0.5f, 0.25f, 0.125f};
    static float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static uint16_t h[4] = {0x3C00, 0x4000, 0x3F80, 0x4040};
    static uint8_t q[34 * 2];
    uint64_t ne_a[2] = {4, 2}, ne_h[3] = {1, 2, 2}, ne_q[2] = {32, 2}, ne_b = 4;
    uint8_t u8 = 7;
    double f64 = 0.5;
    char path[4096];
    sail_error err = {0};
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "sail");
    gguf_set_i32(w, "sail.dim", 8);
    gguf_set_f32(w, "sail.eps", 1e-6f);
    gguf_set_bool(w, "sail.flag", 1);
    gguf_set_scalar(w, "sail.u8", GGUF_VT_U8, &u8);
    gguf_set_scalar(w, "sail.f64", GGUF_VT_F64, &f64);
    gguf_set_f32_array(w, "sail.image.mean", mean, 3);
    gguf_set_str_array(w, "tokenizer.ggml.tokens", vocab, 4);
    if (align) gguf_set_u32(w, "general.alignment", align);
    if (with_tensors) {
        gguf_add_tensor(w, "a", GGUF_T_F32, 2, ne_a, a);
        gguf_add_tensor(w, "h", GGUF_T_F16, 3, ne_h, h);
        gguf_add_tensor(w, "q", GGUF_T_Q8_0, 2, ne_q, q);
        gguf_add_tensor(w, "b", GGUF_T_BF16, 1, &ne_b, h);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sail_status st = gguf_writer_write(w, path, &err);
    gguf_writer_free(w);
    if (st) fprintf(stderr, "seed_gguf: %s\n", err.msg);
    return st != SAIL_OK;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seed_gguf CORPUS_DIR\n");
        return 2;
    }
    return write_seed(argv[1], "seed-kv-only.gguf", 0, 0) |
           write_seed(argv[1], "seed-tensors.gguf", 1, 0) |
           write_seed(argv[1], "seed-align8.gguf", 1, 8);
}
