/* wordpiece.h: BERT WordPiece tokenizer, identical to Google's
 * FullTokenizer(do_lower_case=True) as used by Chinese-CLIP. */
#ifndef SAIL_WORDPIECE_H
#define SAIL_WORDPIECE_H

#include "common.h"

typedef struct sail_wordpiece sail_wordpiece;

/* Build from a token list (index = id). Tokens are copied. */
sail_wordpiece *sail_wordpiece_new(const char *const *tokens, int n_tokens,
                                   sail_error *err);
void sail_wordpiece_free(sail_wordpiece *wp);

/* vocab.txt files: sail_vocab_read and sail_vocab_free in sail.h. */

int sail_wordpiece_size(const sail_wordpiece *wp);
/* id of a token string, or -1. */
int sail_wordpiece_id(const sail_wordpiece *wp, const char *tok);
/* token string of an id (owned by wp), or NULL. */
const char *sail_wordpiece_token(const sail_wordpiece *wp, int id);

/* Tokenize len bytes of UTF-8 (invalid sequences become U+FFFD as Python's
 * errors="replace" does, which the cleaner then drops). Writes at most cap
 * ids (no [CLS]/[SEP]) and sets *n_ids to the full count, so a caller can
 * call again with a larger buffer. Thread-safe on a shared wp. */
sail_status sail_wordpiece_encode(const sail_wordpiece *wp, const char *text,
                                  size_t len, int32_t *ids, size_t cap,
                                  size_t *n_ids, sail_error *err);

/* Chinese-CLIP model input: out = [cls] ids[:ctx-2] [sep], right-padded with
 * pad to ctx entries (out has room for ctx). *len (may be NULL) receives the
 * unpadded length. The special ids come from the model file. ctx >= 2. */
sail_status sail_wordpiece_context(const int32_t *ids, size_t n, int32_t cls, int32_t sep,
                                   int32_t pad, int ctx, int32_t *out, int *len,
                                   sail_error *err);

/* BERT's BasicTokenizer(do_lower_case=True) alone: clean, space out CJK
 * ideographs, split on whitespace, lower-case, strip accents, split off
 * punctuation. Calls fn once per resulting word (UTF-8, not NUL-terminated);
 * a non-zero return from fn stops the walk and is reported as
 * SAIL_ERR_INVALID_ARG. Used by vocabulary training. Thread-safe. */
typedef int (*sail_word_fn)(const char *word, size_t len, void *user);
sail_status sail_bert_pretokenize(const char *text, size_t len, sail_word_fn fn, void *user,
                                  sail_error *err);

/* Longest word, in characters, that WordPiece splits; longer words are
 * [UNK] (BERT's max_input_chars_per_word). */
#define SAIL_WORDPIECE_MAX_WORD 200

#endif
