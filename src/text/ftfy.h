/* ftfy.h: the text clean-up OpenAI CLIP's SimpleTokenizer.encode applies
 * before BPE: the subset of ftfy.fix_text (6.3.1, default config) that does
 * not guess encodings, html.unescape twice, whitespace collapse and lower().
 * Internal to src/text. Thread-safe (no shared state). */
#ifndef SAIL_FTFY_H
#define SAIL_FTFY_H

#include "utf8.h"

/* Python html.unescape(s) of in[0..n), appended to out. */
bool sail_html_unescape(const uint32_t *in, size_t n, sail_u32 *out);

/* ftfy.fix_text(text) without fix_encoding (mojibake repair), appended to
 * out. Segments are split after each '\n' as ftfy does. */
bool sail_ftfy_fix_text(const uint32_t *in, size_t n, sail_u32 *out);

/* SimpleTokenizer's whole pre-BPE pipeline:
 *   whitespace_clean(basic_clean(text)).lower()
 * appended to out. */
bool sail_clip_clean(const uint32_t *in, size_t n, sail_u32 *out);

#endif
