// sources: src/text/spm.c src/text/spm_shim.cc src/text/utf8.c src/text/pyunicode.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lutf8proc -lsentencepiece -lstdc++
/* fuzz_spm.c: libFuzzer harness for SigLIP's SentencePiece tokenizer.
 * Input starting with 0xFF: the rest is a spiece.model (a model file's
 * tokenizer.spm.model is hostile too): loading must fail cleanly or give a
 * tokenizer that encodes a fixed text. Any other input: text for a small
 * unigram model built here (the specials, "\u2581", letters, a few merged
 * pieces, two CJK characters), with the checks of fuzz_bpe: stable counts
 * across buffer sizes, ids in range, the max_length layout. */
#include "text/spm.h"
#include "tok_check.h"

#include <stdlib.h>
#include <string.h>

static sail_spm *spm;

typedef struct pb {
    uint8_t b[4096];
    size_t n;
} pb;

static void put_varint(pb *p, uint64_t v) {
    do {
        p->b[p->n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void put_bytes(pb *p, int field, const void *s, size_t n) {
    put_varint(p, (uint64_t)field << 3 | 2);
    put_varint(p, n);
    memcpy(p->b + p->n, s, n);
    p->n += n;
}

/* SentencePiece {piece = 1, score = 2 (float), type = 3} as ModelProto.pieces (1). */
static void piece(pb *m, const char *s, float score, int type) {
    pb e = {0};
    put_bytes(&e, 1, s, strlen(s));
    e.b[e.n++] = 2 << 3 | 5;
    memcpy(e.b + e.n, &score, 4);
    e.n += 4;
    put_varint(&e, 3 << 3);
    put_varint(&e, (uint64_t)type);
    put_bytes(m, 1, e.b, e.n);
}

static void init(void) {
    static const char *const normal[] = {
        "\xe2\x96\x81", "a", "b", "c", "d", "e", "h", "i", "n", "o", "s", "t", "x",
        "\xe2\x96\x81" "a", "\xe2\x96\x81" "the", "th", "he", "ab", "\xe4\xb8\xad", "\xe6\x96\x87"};
    pb m = {0};
    piece(&m, "<pad>", 0, 3);       /* CONTROL */
    piece(&m, "</s>", 0, 3);
    piece(&m, "<unk>", 0, 2);       /* UNKNOWN */
    for (size_t i = 0; i < sizeof normal / sizeof *normal; i++) piece(&m, normal[i], -1.0f - (float)i * 0.25f, 1);
    pb t = {0}; /* TrainerSpec: model_type (3) UNIGRAM, unk_id (40) 2, bos_id (41) -1, eos_id (42) 1, pad_id (43) 0 */
    put_varint(&t, 3 << 3), put_varint(&t, 1);
    put_varint(&t, 40 << 3), put_varint(&t, 2);
    put_varint(&t, 41 << 3), put_varint(&t, (uint64_t)-1);
    put_varint(&t, 42 << 3), put_varint(&t, 1);
    put_varint(&t, 43 << 3), put_varint(&t, 0);
    put_bytes(&m, 2, t.b, t.n);
    pb n = {0};
    put_bytes(&n, 1, "identity", 8);
    put_bytes(&m, 3, n.b, n.n);
    sail_spm_config cfg = {.lowercase = 1, .eos = 1, .unk = 2, .pad = 1};
    spm = sail_spm_new(m.b, m.n, &cfg, NULL);
    if (!spm) abort();
}

static void model_bytes(const uint8_t *data, size_t size) {
    sail_error err = {0};
    sail_spm *s = sail_spm_new(data, size, NULL, &err);
    if (!s) {
        if (err.status != SAIL_ERR_FORMAT && err.status != SAIL_ERR_NOMEM) abort();
        return;
    }
    size_t n = 0;
    if (sail_spm_encode(s, "A photo of a cat </s> 中文", 27, NULL, 0, &n, &err) && err.status != SAIL_ERR_NOMEM) abort();
    sail_spm_free(s);
}

static sail_status encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap, size_t *n,
                          sail_error *e) {
    return sail_spm_encode(t, s, len, ids, cap, n, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size && data[0] == 0xFF) {
        model_bytes(data + 1, size - 1);
        return 0;
    }
    if (!spm) init();
    size_t n;
    int32_t *ids = tok_check(encode, spm, sail_spm_size(spm), 4, data, size, &n), ctx[16];
    if (!ids) return 0;
    int len;
    if (sail_spm_context(ids, n, 1, 0, 16, ctx, &len, NULL) != SAIL_OK || len < 1 || len > 16 || ctx[len - 1] != 1)
        abort();
    for (int i = len; i < 16; i++)
        if (ctx[i] != 0) abort();
    free(ids);
    return 0;
}
