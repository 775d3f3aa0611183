/* utf8.h: UTF-8 decoding that matches CPython's bytes.decode("utf-8",
 * errors="replace") byte for byte, UTF-8 encoding, and a growable code point
 * buffer shared by the tokenizers. Internal to src/text. */
#ifndef SAIL_UTF8_H
#define SAIL_UTF8_H

#include "common.h"

/* A growable array of Unicode scalar values. Zero-initialise, then free with
 * sail_u32_free. Not thread-safe (each caller owns its buffers). */
typedef struct sail_u32 {
    uint32_t *v;  /* (n) code points */
    size_t n;     /* used */
    size_t cap;   /* allocated */
} sail_u32;

/* Ensure room for `extra` more entries; false on overflow or no memory. */
bool sail_u32_reserve(sail_u32 *b, size_t extra);
/* Append one code point (reserve first or check the result). */
static inline bool sail_u32_push(sail_u32 *b, uint32_t c) {
    if (b->n == b->cap && !sail_u32_reserve(b, 1)) return false;
    b->v[b->n++] = c;
    return true;
}
bool sail_u32_append(sail_u32 *b, const uint32_t *c, size_t n);
void sail_u32_free(sail_u32 *b);

/* Decode one character from s[0..len) (len >= 1). Returns the number of
 * bytes consumed (1..4) and stores the code point in *cp, or U+FFFD for one
 * "maximal subpart" of an ill-formed sequence (Unicode 15 §3.9, the practice
 * CPython follows): a lone continuation byte, C0/C1, F5..FF, an overlong or
 * surrogate prefix (E0 80.., ED A0.., F0 80.., F4 90..) each replace only the
 * bytes that could still have started a valid sequence. */
size_t sail_utf8_decode1(const uint8_t *s, size_t len, uint32_t *cp);

/* Decode len bytes, appending to out (out->n is not reset). */
bool sail_utf8_decode(const char *s, size_t len, sail_u32 *out);

/* Encode one scalar value into out (4 bytes of room); returns its length.
 * Surrogates and values above U+10FFFF are encoded as U+FFFD. */
size_t sail_utf8_encode1(uint32_t cp, char *out);

#endif
