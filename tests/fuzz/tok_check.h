/* tok_check.h: the check every tokenizer harness (fuzz_bpe, fuzz_wordpiece,
 * fuzz_spm; fuzz_hfconfig's range check) makes on an input: the count an
 * encoder reports does not depend on the buffer it is given, and the ids are
 * in range. */
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

#endif
