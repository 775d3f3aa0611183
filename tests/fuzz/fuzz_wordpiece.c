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

static const void *open_wordpiece(int *vocab) {
    static const char *v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a",    "##a", "b",  "##b",
                              "ab",    "##ab",  "\xE4\xB8\xAD", "i", "##\xCC\x87", ".", "!",
                              "##s",   "the",   "\xC3\xA9", "##\xC3\xA9", "e", "##e"};
    sail_wordpiece *wp = sail_wordpiece_new(v, (int)(sizeof v / sizeof *v), NULL);
    if (!wp) abort();
    *vocab = sail_wordpiece_size(wp);
    return wp;
}

static sail_status encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap, size_t *n,
                          sail_error *e) {
    return sail_wordpiece_encode(t, s, len, ids, cap, n, e);
}

static tok_wrapped bert = {.open = open_wordpiece, .encode = encode, .context = sail_wordpiece_context,
                           .small = 8, .start = 2, .end = 3, .pad = 0, .ctx = 16};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return tok_fuzz_wrapped(&bert, data, size); }
