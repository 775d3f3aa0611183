// sources: src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/wordpiece.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lutf8proc
/* fuzz_wordpiece.c: libFuzzer harness for the BERT WordPiece tokenizer on
 * arbitrary bytes (invalid UTF-8, huge words, control characters). Uses a
 * small built-in vocabulary so it needs no files; checks that the count is
 * stable across buffer sizes and every id is in range. */
#include "text/wordpiece.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!wp) init();
    int32_t small[8];
    size_t n = 0, n2 = 0;
    if (sail_wordpiece_encode(wp, (const char *)data, size, small, 8, &n, NULL) != SAIL_OK) abort();
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return 0;
    if (sail_wordpiece_encode(wp, (const char *)data, size, ids, n, &n2, NULL) != SAIL_OK || n2 != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= sail_wordpiece_size(wp)) abort();
    if (n && memcmp(small, ids, (n < 8 ? n : 8) * sizeof *ids)) abort();
    int32_t ctx[16];
    int len;
    if (sail_wordpiece_context(ids, n, 2, 3, 0, 16, ctx, &len, NULL) != SAIL_OK || ctx[len - 1] != 3)
        abort();
    free(ids);
    return 0;
}
