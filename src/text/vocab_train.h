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

/* sail_vocab_train and sail_vocab_write are declared in sail.h. */

#endif
