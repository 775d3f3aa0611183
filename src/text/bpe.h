/* bpe.h: byte-level BPE tokenizers: OpenAI CLIP's (clip/simple_tokenizer.py,
 * SimpleTokenizer.encode), reading the merges straight from
 * bpe_simple_vocab_16e6.txt.gz, and GPT-2's (openai/gpt-2 encoder.py, as
 * RoBERTa and CLAP's text tower use it). */
#ifndef SAIL_BPE_H
#define SAIL_BPE_H

#include "common.h"

typedef struct sail_bpe sail_bpe;

/* CLIP's merge count: merges[1 : 49152 - 256 - 2 + 1]. */
#define SAIL_BPE_CLIP_MERGES 48894

/* Load merges from a gzip (or plain) text file whose first line is a
 * header; the next n_merges lines ("a b") are used, as CLIP slices them
 * (fewer if the file is shorter). n_merges <= 0 means SAIL_BPE_CLIP_MERGES.
 * The vocabulary is CLIP's: 256 byte symbols, the same with "</w>", one per
 * merge, then <|startoftext|> and <|endoftext|>. NULL on failure. */
sail_bpe *sail_bpe_load(const char *path, int n_merges, sail_error *err);
/* The two families. CLIP: text cleaned (ftfy subset, html.unescape,
 * whitespace collapsed, lower-cased), CLIP's case-insensitive pattern, one
 * digit per token, the last byte of a word as its "</w>" symbol. GPT-2: the
 * text as it is, GPT-2's pattern ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|
 * ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+), no end-of-word symbol, and no
 * special token spelled in the text (its characters are encoded). */
typedef enum sail_bpe_style { SAIL_BPE_CLIP = 0, SAIL_BPE_GPT2 = 1 } sail_bpe_style;

/* Build from an explicit vocabulary (index = id, e.g. a Hugging Face
 * vocab.json in id order) and merges ("a b", rank order, merges.txt without
 * its "#version" header). Every byte symbol (CLIP: and its "</w>" form) and
 * every merge result must be in the vocabulary; CLIP's needs
 * "<|startoftext|>" and "<|endoftext|>" too; the error names what is
 * missing. Strings are copied. NULL on failure. */
sail_bpe *sail_bpe_new(const char *const *tokens, int n_tokens, const char *const *merges,
                       int n_merges, sail_bpe_style style, sail_error *err);
void sail_bpe_free(sail_bpe *bpe);

/* Number of ids (49408 for CLIP). */
int sail_bpe_vocab_size(const sail_bpe *bpe);
/* Ids of "<|startoftext|>" and "<|endoftext|>" in this vocabulary (49406
 * and 49407 for CLIP), for callers without a model file. */
int32_t sail_bpe_sot(const sail_bpe *bpe);
int32_t sail_bpe_eot(const sail_bpe *bpe);

/* SimpleTokenizer.encode (GPT-2: Encoder.encode) of len bytes of UTF-8 (invalid sequences become
 * U+FFFD first, like bytes.decode(errors="replace")): ids without start/end
 * tokens. Writes at most cap ids and sets *n_ids to the full count.
 * Thread-safe on a shared bpe: the merge cache (bounded, 4096 words) is
 * guarded by a mutex. */
sail_status sail_bpe_encode(const sail_bpe *bpe, const char *text, size_t len, int32_t *ids,
                            size_t cap, size_t *n_ids, sail_error *err);

/* CLIP model input (clip.tokenize with truncate=True): out = sot ids eot,
 * right-padded with pad to ctx (77 for CLIP) entries; when ids do not fit,
 * the first ctx-1 tokens are kept and the last slot is eot. *len (may be
 * NULL) receives the unpadded length. Special ids come from the model file.
 * ctx >= 2. */
sail_status sail_bpe_context(const int32_t *ids, size_t n, int32_t sot, int32_t eot, int32_t pad,
                             int ctx, int32_t *out, int *len, sail_error *err);

#endif
