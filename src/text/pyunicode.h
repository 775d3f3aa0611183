/* pyunicode.h: the pieces of Python's str semantics the reference tokenizers
 * rely on (str.isspace/split/strip, str.lower with its special cases,
 * unicodedata.normalize), computed from utf8proc's Unicode data. Internal to
 * src/text. All functions are thread-safe (no shared state). */
#ifndef SAIL_PYUNICODE_H
#define SAIL_PYUNICODE_H

#include "utf8.h"

#include <utf8proc.h>

static inline utf8proc_category_t sail_uc_category(uint32_t c) {
    return utf8proc_category((utf8proc_int32_t)c);
}

/* Python str.isspace(): what str.split() and str.strip() use. */
bool sail_py_isspace(uint32_t c);

/* The Unicode White_Space property: what `\s` means in the `regex` module. */
bool sail_py_white_space(uint32_t c);

/* Category predicates (L*, N*, P*). */
bool sail_uc_is_letter(uint32_t c);
bool sail_uc_is_number(uint32_t c);
bool sail_uc_is_punct(uint32_t c);

/* Append str.lower() of in[0..n) to out: full lowercase mapping (U+0130
 * becomes "i\u0307") and the Final_Sigma rule evaluated on in[0..n) as one
 * string, as CPython does. False on out of memory. */
bool sail_py_lower(const uint32_t *in, size_t n, sail_u32 *out);

/* Simple case folding approximation used for IGNORECASE matching. */
uint32_t sail_uc_fold(uint32_t c);

typedef enum sail_nf {
    SAIL_NF_NFC,
    SAIL_NF_NFD,
    SAIL_NF_NFKC
} sail_nf;

/* Append unicodedata.normalize(form, in[0..n)) to out. in must hold scalar
 * values (no surrogates). False on out of memory. */
bool sail_normalize(const uint32_t *in, size_t n, sail_nf form, sail_u32 *out);

#endif
