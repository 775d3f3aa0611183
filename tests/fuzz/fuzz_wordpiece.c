// sources: src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/wordpiece.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lutf8proc
/* fuzz_wordpiece.c: libFuzzer harness for the BERT WordPiece tokenizer on
 * arbitrary bytes (invalid UTF-8, huge words, control characters). Uses a
 * small built-in vocabulary so it needs no files; checks that the count is
 * stable across buffer sizes and every id is in range. */
#include "text/wordpiece.h"
#include "tok_check.h"

#include <stdlib.h>
#include <string.h>

static sail_wordpiece *wp;

static void init(void) {
    static const char *v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a",    "##a", "b",  "##b",
                              "ab",    "##ab",  "\xE4\xB8\xAD", "i", "##\xCC\x87", ".", "!",
                              "##s",   "the",   "\xC3\xA9", "##\xC3\xA9", "e", "##e"};
    wp = sail_wordpiece_new(v, (int)(sizeof v / sizeof *v), NULL);
    if (!wp) abort();
}

static sail_status encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap, size_t *n,
                          sail_error *e) {
    return sail_wordpiece_encode(t, s, len, ids, cap, n, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!wp) init();
    size_t n;
    int32_t *ids = tok_check(encode, wp, sail_wordpiece_size(wp), 8, data, size, &n);
    if (!ids) return 0;
    int32_t ctx[16];
    int len;
    if (sail_wordpiece_context(ids, n, 2, 3, 0, 16, ctx, &len, NULL) != SAIL_OK || ctx[len - 1] != 3)
        abort();
    free(ids);
    return 0;
}
