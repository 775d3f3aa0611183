/* spm.h: SigLIP's SentencePiece tokenizer, id for id what Hugging Face's
 * SiglipTokenizer produces. The unigram (or BPE) segmentation itself is
 * Debian's libsentencepiece behind a C++ shim (spm_shim.cc): the model file
 * carries its own normalizer (NFKC tables, whitespace rules), and only the
 * original library is exact on all of it. spm.c adds what SiglipTokenizer
 * does around the library, in C: lower-casing, splitting off the special
 * tokens, canonicalize_text (ASCII punctuation removed, whitespace runs
 * collapsed, stripped), the "<unk>" prefix that stands in for the disabled
 * dummy prefix, and the eos / pad layout. docs/TOKENIZERS.md has the steps. */
#ifndef SAIL_SPM_H
#define SAIL_SPM_H

#include "common.h"

typedef struct sail_spm sail_spm;

/* The tokenizer_config.json side of a SiglipTokenizer (ids in the model). */
typedef struct sail_spm_config {
    int lowercase;      /* do_lower_case (SigLIP: 1): str.lower() of each character */
    int32_t eos;        /* eos_token ("</s>"): appended by sail_spm_context */
    int32_t unk;        /* unk_token ("<unk>"): its piece is the encoding prefix */
    int32_t pad;        /* pad_token ("</s>" in SigLIP, the same id as eos) */
} sail_spm_config;

/* Load the bytes of a spiece.model (a serialized sentencepiece ModelProto,
 * unigram or BPE), with its normalizer's add_dummy_prefix turned off as
 * SiglipTokenizer.get_spm_processor does. cfg NULL: SiglipTokenizer's
 * defaults (lower-case; eos and pad "</s>", unk "<unk>", looked up by
 * piece). The bytes are copied. Ids in cfg must be in range. A truncated or
 * garbage file is SAIL_ERR_FORMAT with the library's reason. NULL on
 * failure. */
sail_spm *sail_spm_new(const void *model_proto, size_t len, const sail_spm_config *cfg,
                       sail_error *err);
void sail_spm_free(sail_spm *spm);

/* Number of pieces (ids 0 .. size-1). */
int sail_spm_size(const sail_spm *spm);
/* The id of exactly this piece, -1 when the model has none. */
int sail_spm_piece_id(const sail_spm *spm, const char *piece);
/* The piece of id (owned by spm), NULL when out of range. */
const char *sail_spm_id_piece(const sail_spm *spm, int id);
/* The configuration in use (cfg of sail_spm_new, or the defaults found). */
sail_spm_config sail_spm_get_config(const sail_spm *spm);

/* SiglipTokenizer.tokenize + convert_tokens_to_ids of len bytes of UTF-8
 * (invalid sequences become U+FFFD, like bytes.decode(errors="replace")):
 * the ids without the eos that the model input adds. Writes at most cap ids
 * (ids may be NULL when cap is 0) and sets *n to the full count.
 * Thread-safe on a shared spm. */
sail_status sail_spm_encode(const sail_spm *spm, const char *text, size_t len, int32_t *ids,
                            size_t cap, size_t *n, sail_error *err);

/* The model input of SiglipTokenizer(text, padding="max_length",
 * truncation=True, max_length=ctx): the first ctx-1 ids, then eos unless the
 * kept ids already end with eos (_add_eos_if_not_present), right-padded with
 * pad to ctx entries. SigLIP pools the LAST position, so the padding is part
 * of what the model sees. *len (may be NULL) receives the unpadded length.
 * ctx >= 1. */
sail_status sail_spm_context(const int32_t *ids, size_t n, int32_t eos, int32_t pad, int ctx,
                             int32_t *out, int *len, sail_error *err);

#endif
