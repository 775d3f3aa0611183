/* test_fuzz_regress.c: every input the fuzz harnesses (tests/fuzz/) found a
 * problem with, fed to the library again: each must now be refused (or
 * read) cleanly. docs/RELIABILITY.md lists the findings. Some findings were
 * allocations sized by a file's unchecked claim; outside sanitizer builds
 * malloc is wrapped here to count requests over 1 GiB, so those checks fail
 * if a refused file still asks for the memory it claims. */
#include "scratch.h"
#include "test.h"

#include "apps/apps.h"
#include "convert/convert.h"
#include "format/ptzip.h"
#include "fuzz/ix_shell.h"
#include "index/index_impl.h"

#include <errno.h>
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
void *__libc_memalign(size_t align, size_t n);
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
int posix_memalign(void **p, size_t align, size_t n) {
    if (n > ((size_t)1 << 30)) big_allocs++;
    void *q = __libc_memalign(align, n);
    if (!q) return ENOMEM;
    *p = q;
    return 0;
}
#endif

/* A check on big_allocs, or a skip where it cannot count. */
#define CHECK_NO_BIG_ALLOC(what)                                                      \
    do {                                                                              \
        if (COUNT_ALLOCS) CHECK(big_allocs == 0, "%s: no allocation over 1 GiB", what); \
        else SKIP("%s: allocations are not counted under a sanitizer", what);         \
    } while (0)

/* ------------------------------------------------------- the inputs -- */

/* fuzz_npy: an .fvecs file whose first dimension is 0x554e930c was
 * refused, but the import still sized its batch buffer by that dimension
 * (5.7 GB). */
static void fvecs_huge_dimension(void) {
    static const uint8_t in[] = {0x0c, 0x93, 0x4e, 0x55, 'M', 'P', 'Y', 1, 0, 'v', 0, '{', '}'};
    const char *path = scratch_write("huge_dim.fvecs", in, sizeof in);
    sail_index *ix = ix_memory_shell(5);
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
 * made sail_npy_read ask for 3.8 TB before reading the (absent) data. */
static void npy_shape_past_file(void) {
    char h[119];
    int k = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (16000000, 60000), }");
    memset(h + k, ' ', sizeof h - 1 - (size_t)k);
    h[117] = '\n';
    uint8_t in[10 + 118] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
    memcpy(in + 10, h, 118);
    const char *path = scratch_write("big_shape.npy", in, sizeof in);
    float *v = NULL;
    int n = 0, d = 0;
    sail_error err = {0};
    big_allocs = 0;
    sail_status st = path ? sail_npy_read(path, &v, &n, &d, &err) : SAIL_ERR_IO;
    CHECK(st == SAIL_ERR_FORMAT && !v, "npy claiming 16000000 x 60000 in 128 bytes refused (%s)", err.msg);
    CHECK_NO_BIG_ALLOC("npy claiming 16000000 x 60000");
}

/* fuzz_ptzip: a 430-byte torch.save zip whose deflated storage entry
 * (5 bytes) claims 2 GiB, matching a pickle that claims 512M floats: the
 * reader allocated the claim before inflating found the lie. */
static const uint8_t pt_bomb[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x42, 0x56, 0x84, 0x5d, 0xee, 0xf9,
    0xba, 0x4f, 0xbf, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x61, 0x72,
    0x63, 0x68, 0x69, 0x76, 0x65, 0x2f, 0x64, 0x61, 0x74, 0x61, 0x2e, 0x70, 0x6b, 0x6c, 0x80, 0x02,
    0x63, 0x63, 0x6f, 0x6c, 0x6c, 0x65, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x73, 0x0a, 0x4f, 0x72, 0x64,
    0x65, 0x72, 0x65, 0x64, 0x44, 0x69, 0x63, 0x74, 0x0a, 0x71, 0x01, 0x29, 0x52, 0x71, 0x02, 0x28,
    0x58, 0x0e, 0x00, 0x00, 0x00, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x2e, 0x30, 0x2e, 0x77, 0x65, 0x69,
    0x67, 0x68, 0x74, 0x63, 0x74, 0x6f, 0x72, 0x63, 0x68, 0x2e, 0x5f, 0x75, 0x74, 0x69, 0x6c, 0x73,
    0x0a, 0x5f, 0x72, 0x65, 0x62, 0x75, 0x69, 0x6c, 0x64, 0x5f, 0x74, 0x65, 0x6e, 0x73, 0x6f, 0x72,
    0x5f, 0x76, 0x32, 0x0a, 0x71, 0x03, 0x28, 0x28, 0x58, 0x07, 0x00, 0x00, 0x00, 0x73, 0x74, 0x6f,
    0x72, 0x61, 0x67, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x63, 0x68, 0x0a, 0x46, 0x6c, 0x6f, 0x61, 0x74,
    0x53, 0x74, 0x6f, 0x72, 0x61, 0x67, 0x65, 0x0a, 0x58, 0x01, 0x00, 0x00, 0x00, 0x30, 0x58, 0x03,
    0x00, 0x00, 0x00, 0x63, 0x70, 0x75, 0x4a, 0x00, 0x00, 0x00, 0x20, 0x74, 0x51, 0x4b, 0x02, 0x4b,
    0x02, 0x4b, 0x02, 0x86, 0x4b, 0x02, 0x4b, 0x01, 0x86, 0x89, 0x63, 0x63, 0x6f, 0x6c, 0x6c, 0x65,
    0x63, 0x74, 0x69, 0x6f, 0x6e, 0x73, 0x0a, 0x4f, 0x72, 0x64, 0x65, 0x72, 0x65, 0x64, 0x44, 0x69,
    0x63, 0x74, 0x0a, 0x29, 0x52, 0x74, 0x52, 0x75, 0x7d, 0x71, 0x09, 0x62, 0x2e, 0x50, 0x4b, 0x03,
    0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x20, 0xca, 0xc1, 0xa3, 0x05,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x0e, 0x00, 0x00, 0x00, 0x61, 0x72, 0x63, 0x68, 0x69,
    0x76, 0x65, 0x2f, 0x64, 0x61, 0x74, 0x61, 0x2f, 0x30, 0x63, 0x60, 0xc0, 0x0e, 0x00, 0x50, 0x4b,
    0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x42, 0x56, 0x84, 0x5d, 0xee, 0xf9,
    0xba, 0x4f, 0xbf, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x61, 0x72, 0x63, 0x68,
    0x69, 0x76, 0x65, 0x2f, 0x64, 0x61, 0x74, 0x61, 0x2e, 0x70, 0x6b, 0x6c, 0x50, 0x4b, 0x01, 0x02,
    0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x20, 0xca, 0xc1, 0xa3,
    0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0xed, 0x00, 0x00, 0x00, 0x61, 0x72, 0x63, 0x68, 0x69, 0x76,
    0x65, 0x2f, 0x64, 0x61, 0x74, 0x61, 0x2f, 0x30, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x02, 0x00, 0x7a, 0x00, 0x00, 0x00, 0x1e, 0x01, 0x00, 0x00, 0x00, 0x00
};

static void ptzip_size_lie(void) {
    const char *path = scratch_write("pytorch_model.bin", pt_bomb, sizeof pt_bomb);
    sail_error err = {0};
    big_allocs = 0;
    sail_pt_file *f = path ? sail_pt_open(path, &err) : NULL;
    CHECK(!f && err.status == SAIL_ERR_FORMAT && strstr(err.msg, "claims"),
          "zip entry claiming 2 GiB from 5 bytes refused (%s)", err.msg);
    CHECK_NO_BIG_ALLOC("zip entry claiming 2 GiB");
    sail_pt_close(f);
}

/* fuzz_hfconfig: a config.json whose layer_norm_eps is 1e300 (finite as a
 * double) was accepted as an infinite float32 epsilon. */
static void hf_eps_overflow(void) {
    static const char cfg[] = "{\"architectures\": [\"BertModel\"], \"hidden_size\": 312, \"num_hidden_layers\": 4, "
                              "\"num_attention_heads\": 12, \"intermediate_size\": 1200, \"vocab_size\": 21128, "
                              "\"layer_norm_eps\": 1e300}";
    json_t *j = json_loads(cfg, 0, NULL);
    hf_model m;
    sail_error err = {0};
    sail_status st = j ? hf_bert_config(j, NULL, &m, &err) : SAIL_ERR_NOMEM;
    CHECK(st == SAIL_ERR_FORMAT && strstr(err.msg, "layer_norm_eps"), "layer_norm_eps 1e300 refused (%s)", err.msg);
    json_decref(j);
}

/* Review of size_entry while writing fuzz_hfconfig: a size of 2^32 + 224
 * was cast to int before its range check and became 224. */
static void hf_size_wraps(void) {
    static const char pp[] = "{\"size\": {\"shortest_edge\": 4294967520}, \"crop_size\": 224}";
    const char *path = scratch_write("preprocessor_config.json", pp, sizeof pp - 1);
    sail_config c;
    memset(&c, 0, sizeof c);
    c.image_size = 224;
    c.resample = 3;
    sail_error err = {0};
    sail_status st = path ? hf_preprocessor(scratch_dir(), 0, &c, &err) : SAIL_ERR_IO;
    CHECK(st == SAIL_ERR_UNSUPPORTED && strstr(err.msg, "4294967520"), "shortest_edge 2^32 + 224 refused (%s)", err.msg);
}

/* fuzz_audio: a float WAV whose samples reach 9.4e21 decoded, and its
 * fbank overflowed float32 power spectra to infinite features. Such
 * samples are now refused by the features, naming the first. */
static void audio_huge_samples(void) {
    uint8_t w[44 + 4 * 400] = "RIFF";
    const uint32_t hdr[] = {36 + 4 * 400, 0x45564157, 0x20746d66, 16, 0x00010003, 8000, 32000, 0x00200004,
                            0x61746164, 4 * 400};
    memcpy(w + 4, hdr, sizeof hdr);
    for (int i = 0; i < 400; i++) {
        float v = i == 77 ? 9.4448e21f : (float)(i % 50 - 25) / 40.0f;
        memcpy(w + 44 + 4 * i, &v, 4);
    }
    sail_audio a = {0};
    sail_error err = {0};
    sail_status s = sail_audio_decode_bytes(w, sizeof w, NULL, &a, &err);
    CHECK(s == SAIL_OK, "audio: a float WAV with a 9.4e21 sample decodes (%s)", err.msg);
    if (s) return;
    sail_fbank_params fp = sail_fbank_ast_params();
    float *out = malloc((size_t)sail_fbank_frames(&fp, a.n) * fp.num_mel_bins * sizeof(float));
    s = sail_fbank(&fp, a.samples, a.n, out, &err);
    CHECK(out && s == SAIL_ERR_INVALID_ARG && strstr(err.msg, "magnitude"),
          "audio: its fbank is refused, not infinite (%s)", err.msg);
    sail_logmel_params lp = sail_logmel_whisper_params(80);
    lp.pad_samples = 0;
    float *lm = malloc((size_t)sail_logmel_frames(&lp, a.n) * 80 * sizeof(float));
    s = sail_logmel(&lp, a.samples, a.n, lm, &err);
    CHECK(lm && s == SAIL_ERR_INVALID_ARG, "audio: so is its log-mel (%s)", err.msg);
    free(out);
    free(lm);
    sail_audio_free(&a);
}

int main(void) {
    if (!scratch_make("sail_fuzz_regress")) {
        CHECK(0, "temporary folder");
        return test_done();
    }
    fvecs_huge_dimension();
    npy_shape_past_file();
    ptzip_size_lie();
    hf_eps_overflow();
    hf_size_wraps();
    audio_huge_samples();
    scratch_remove();
    return test_done();
}
