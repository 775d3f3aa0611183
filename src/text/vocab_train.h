/* vocab_train.h: train a WordPiece vocabulary from a UTF-8 corpus.
 *
 * Algorithm (deterministic, documented in docs/TOKENIZERS.md): words come
 * from BERT's basic tokenizer (the same as sail_wordpiece_encode, so CJK
 * ideographs are single words); each word starts as its characters, the
 * non-initial ones with the "##" prefix; then the most frequent adjacent
 * pair (ties: smaller left symbol, then smaller right symbol, by bytes) is
 * merged repeatedly, as the BPE-style WordPiece trainer of Hugging Face
 * `tokenizers` does. The vocabulary is [PAD] [UNK] [CLS] [SEP] [MASK] (ids
 * 0-4), every initial symbol sorted by bytes, then each new merged symbol in
 * merge order, until `size` entries or no pair occurs min_frequency times. */
#ifndef SAIL_VOCAB_TRAIN_H
#define SAIL_VOCAB_TRAIN_H

#include "common.h"

/* The five special tokens, in id order. */
#define SAIL_VOCAB_N_SPECIAL 5
extern const char *const sail_vocab_specials[SAIL_VOCAB_N_SPECIAL];

/* Train from the '\n'-separated lines of the file at corpus_path.
 * size: wanted vocabulary size; an error (SAIL_ERR_LIMIT) when it cannot
 * hold the specials and every character of the corpus. min_frequency >= 1.
 * On success *tokens (free with sail_vocab_free) has *n <= size entries:
 * fewer when merges run out. Not thread-safe only in that it reads a file. */
sail_status sail_vocab_train(const char *corpus_path, int size, int min_frequency, char ***tokens,
                             int *n, sail_error *err);

/* Write tokens one per line ('\n'), the format sail_vocab_read reads. */
sail_status sail_vocab_write(const char *path, char *const *tokens, int n, sail_error *err);

#endif
