/* inputs.h: the model's one front door for its inputs. The model file
 * decides how text becomes ids (WordPiece or CLIP BPE, its special tokens,
 * its context length and truncation) and how an image becomes the tensor it
 * sees (resize filter, crop or squash, mean and std); embedding, the
 * server's byte paths, the training loader, eval and checkpoints all go
 * through here, so they cannot disagree. */
#ifndef SAIL_INPUTS_H
#define SAIL_INPUTS_H

#include "config.h"
#include "format/gguf.h"
#include "image/image.h"
#include "text/bpe.h"
#include "text/spm.h"
#include "text/wordpiece.h"

/* A model file's vocabulary as stored: the tokens and, for BPE models,
 * the merges, for SentencePiece models the spiece.model bytes (what a saved
 * or checkpointed model must carry on). */
typedef struct sail_vocab_kv {
    char **tokens;              /* (n) SentencePiece: the pieces, in id order */
    int n;
    char **merges;              /* (n_merges); NULL unless byte-level BPE */
    int gpt2;                   /* the BPE is GPT-2's (tokenizer.ggml.model "gpt2") */
    int n_merges;
    uint8_t *spm;               /* (n_spm) spiece.model as read; NULL unless SentencePiece */
    size_t n_spm;
    int spm_lowercase;          /* SiglipTokenizer's do_lower_case */
} sail_vocab_kv;

/* Read f's tokenizer keys for config c (merges when c is a BPE model;
 * tokenizer.spm.model and tokenizer.spm.lowercase when it is SentencePiece);
 * checks the count against c->vocab_size. */
sail_status sail_vocab_kv_read(const gguf_file *f, const sail_config *c, sail_vocab_kv *v,
                               sail_error *err);
/* Write them (tokenizer.ggml.model "bert", "clip", "gpt2" or "spm", tokens, merges
 * or the SentencePiece keys). */
sail_status sail_vocab_kv_write(const sail_vocab_kv *v, gguf_writer *w);
void sail_vocab_kv_free(sail_vocab_kv *v);

/* Text -> ids for one model. */
typedef struct sail_text_tok {
    sail_wordpiece *wp;         /* WordPiece models */
    sail_bpe *bpe;              /* CLIP BPE models */
    int cls, sep, pad, context; /* BPE: cls = start, sep = end of text; SentencePiece: sep = eos, no cls */
    sail_spm *spm;              /* SentencePiece models (SigLIP) */
    const char *embeds;         /* sail_config_embeds, for the message of a model without text */
} sail_text_tok;

/* Build the tokenizer the config names from vocabulary v. A model without
 * a text tower gets an empty one (encode answers UNSUPPORTED). */
sail_status sail_text_tok_init(sail_text_tok *t, const sail_vocab_kv *v, const sail_config *c,
                               sail_error *err);
void sail_text_tok_free(sail_text_tok *t);

/* ids (context) = [CLS] + the first context-2 pieces + [SEP], padded;
 * *n_real the real count. SentencePiece (SigLIP): the first context-1
 * pieces + eos (unless they end with it), padded with pad; *n_real counts
 * the eos. Thread-safe. */
sail_status sail_text_tok_encode(const sail_text_tok *t, const char *text, size_t len, int32_t *ids,
                                 int *n_real, sail_error *err);
/* Tokens text has before truncation, with the two specials (SentencePiece:
 * with the eos it would get). */
sail_status sail_text_tok_count(const sail_text_tok *t, const char *text, size_t len, int *n,
                                sail_error *err);

/* The image preprocessing the config records. */
sail_preprocess sail_config_preprocess(const sail_config *c);

/* Audio: what the model's audio tower reads (sail_has_audio). The
 * decoding options (mono at the front end's rate; default limits), and
 * n samples at that rate -> spec (num_mel_bins, max_length): the fbank
 * features, padded or cut and normalised (sail_fbank), transposed as AST
 * transposes them. Thread-safe. */
sail_audio_options sail_config_audio_options(const sail_config *c);
sail_status sail_audio_spectrogram(const sail_config *c, const float *wave, int64_t n, float *spec,
                                   sail_error *err);
/* What a model embeds, for messages: "texts and images", "texts only",
 * "texts, images and audio", ... */
const char *sail_config_embeds(const sail_config *c);
/* SAIL_ERR_UNSUPPORTED: the model has no `which` ("text", "vision",
 * "audio") encoder, saying what it embeds instead. */
sail_status sail_no_encoder(const sail_config *c, const char *which, sail_error *err);

#endif
