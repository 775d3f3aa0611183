/* tok_check.h: the check every tokenizer harness (fuzz_bpe, fuzz_wordpiece,
 * fuzz_spm; fuzz_hfconfig's range check) makes on an input: the count an
 * encoder reports does not depend on the buffer it is given, and the ids are
 * in range; and, for the tokenizers whose model input wraps the ids in a
 * start and an end token (BPE, WordPiece), the whole of their harness. */
#ifndef SAIL_FUZZ_TOK_CHECK_H
#define SAIL_FUZZ_TOK_CHECK_H

#include "sail.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A tokenizer's encode call (sail_bpe_encode's shape) with its handle as tok. */
typedef sail_status (*tok_encode_fn)(const void *tok, const char *text, size_t len, int32_t *ids, size_t cap,
                                     size_t *n, sail_error *err);

/* Aborts unless ids[0..n) are all in [0, vocab). */
static inline void tok_ids_in_range(const int32_t *ids, size_t n, int vocab) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) abort();
}

/* Encodes data into a `small`-entry buffer (small <= 8), then into one of the
 * count that reported, and aborts unless both succeed with the same count
 * and the same first ids and every id is in [0, vocab). Returns the ids
 * (free them) and their count in *n, or NULL when out of memory. */
static inline int32_t *tok_check(tok_encode_fn encode, const void *tok, int vocab, size_t small, const uint8_t *data,
                                 size_t size, size_t *n) {
    int32_t first[8];
    size_t n2 = 0;
    *n = 0;
    if (small > 8 || encode(tok, (const char *)data, size, first, small, n, NULL) != SAIL_OK) abort();
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    if (!ids) return NULL;
    if (encode(tok, (const char *)data, size, ids, *n, &n2, NULL) != SAIL_OK || n2 != *n) abort();
    tok_ids_in_range(ids, *n, vocab);
    if (*n && memcmp(first, ids, (*n < small ? *n : small) * sizeof *ids)) abort();
    return ids;
}

/* A tokenizer whose model input is start ids end, padded with pad to ctx
 * entries (sail_bpe_context, sail_wordpiece_context): what its harness
 * declares, and the handle tok_fuzz_wrapped opens on the first input. */
typedef struct tok_wrapped {
    const void *(*open)(int *vocab); /* the tokenizer and its vocabulary size; aborts when it cannot */
    tok_encode_fn encode;
    sail_status (*context)(const int32_t *ids, size_t n, int32_t start, int32_t end, int32_t pad, int ctx,
                           int32_t *out, int *len, sail_error *err);
    size_t small;            /* tok_check's small buffer */
    int32_t start, end, pad; /* the special ids */
    int ctx;                 /* the model input's length, <= 77 */
    const void *tok;         /* open's handle, kept for the whole run */
    int vocab;
} tok_wrapped;

/* The whole harness of such a tokenizer, for one libFuzzer input: opens t
 * on the first call, runs tok_check, then aborts unless the model input
 * builds and ends in t->end. Returns 0, LLVMFuzzerTestOneInput's value. */
static inline int tok_fuzz_wrapped(tok_wrapped *t, const uint8_t *data, size_t size) {
    if (!t->tok) t->tok = t->open(&t->vocab);
    size_t n;
    int32_t *ids = tok_check(t->encode, t->tok, t->vocab, t->small, data, size, &n);
    if (!ids) return 0;
    int32_t out[77];
    int len;
    if (t->ctx > 77 || t->context(ids, n, t->start, t->end, t->pad, t->ctx, out, &len, NULL) != SAIL_OK ||
        out[len - 1] != t->end)
        abort();
    free(ids);
    return 0;
}

#endif
