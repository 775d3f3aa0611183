/* convert.h: importing Hugging Face checkpoints (CLIP, Chinese-CLIP, BERT,
 * ViT) into sail model files. Internal to src/convert; the entry point is
 * sail_convert in include/sail.h. docs/IMPORT.md describes the mapping. */
#ifndef SAIL_CONVERT_H
#define SAIL_CONVERT_H

#include <jansson.h>

#include "format/safetensors.h"
#include "format/gguf.h"
#include "model/config.h"
#include "sail.h"
#include "text/bpe.h"

/* Every tensor of a checkpoint, whatever files it came from. */
typedef struct hf_source {
    sail_st_file **st;          /* (n_st) safetensors files */
    int n_st;
    struct sail_pt_file *pt;    /* or a pytorch_model.bin */
    gguf_file *gg;              /* or a clip.cpp GGUF file */
    sail_st_tensor *gt;         /* (n) its tensors */
    const sail_st_tensor **t;   /* (n) all tensors */
    uint8_t *used;              /* (n) consumed by the conversion */
    int n;
} hf_source;

/* Open DIR's weights: model.safetensors, the shards named by
 * model.safetensors.index.json, or pytorch_model.bin (in that order). */
sail_status hf_source_open(hf_source *src, const char *dir, sail_error *err);
void hf_source_close(hf_source *src);
/* A tensor by name, marked used; NULL when absent. */
const sail_st_tensor *hf_take(hf_source *src, const char *name);
int hf_has(const hf_source *src, const char *name);

/* The names of one transformer layer's parameters, relative to the layer. */
typedef struct hf_block_names {
    const char *q, *k, *v, *out, *norm1, *up, *down, *norm2;
} hf_block_names;

/* BERT's layer names (BertModel, Chinese-CLIP's text tower). */
extern const hf_block_names hf_bert_block;
/* ViT's (ViTModel, AST). */
extern const hf_block_names hf_vit_block;
/* CLIP's (CLIPModel's towers, SigLIP's). */
extern const hf_block_names hf_clip_block;

/* A sail tensor outside the layers and its checkpoint name. rank: the
 * checkpoint's number of dimensions where sail's (1 for a vector, 2 for a
 * matrix, 1 for a one-row matrix) does not say it: 4 for the patch
 * convolution (d, C, p, p); 3 for ViT's (1, 1, d) cls_token and (1, n, d)
 * position_embeddings; 2 for a table that may have one row (token types);
 * 5 for a 1x1 convolution (rows, cols, 1, 1); 6 for HTSAT's one-channel
 * (p, 3p) convolution (rows, 1, p, 3p); 0 otherwise. */
typedef struct hf_name {
    const char *sail, *hf;
    int rank;
} hf_name;

/* Rows of hf_name tables that several families share, as macros so that a
 * prefix is pasted onto the literals. BERT's embeddings under checkpoint
 * prefix p (BertModel "", Chinese-CLIP's and CLAP's text "text_model."): */
#define HF_BERT_EMB_NAMES(p)                                                    \
    {"text.tok_emb", p "embeddings.word_embeddings.weight", 0},                 \
    {"text.pos_emb", p "embeddings.position_embeddings.weight", 0},             \
    {"text.type_emb", p "embeddings.token_type_embeddings.weight", 2},          \
    {"text.emb_norm.weight", p "embeddings.LayerNorm.weight", 0},               \
    {"text.emb_norm.bias", p "embeddings.LayerNorm.bias", 0}
/* BERT's tanh pooler under prefix p. */
#define HF_BERT_POOLER_NAMES(p)                                                 \
    {"text.pooler.weight", p "pooler.dense.weight", 0},                         \
    {"text.pooler.bias", p "pooler.dense.bias", 0}
/* CLIP's text embeddings and final LayerNorm (CLIPModel, SigLIP). */
#define HF_CLIP_TEXT_NAMES                                                      \
    {"text.tok_emb", "text_model.embeddings.token_embedding.weight", 0},        \
    {"text.pos_emb", "text_model.embeddings.position_embedding.weight", 0},     \
    {"text.final_norm.weight", "text_model.final_layer_norm.weight", 0},        \
    {"text.final_norm.bias", "text_model.final_layer_norm.bias", 0}
/* ViT's embeddings and final LayerNorm as sail tower t's ("vis"; AST's
 * checkpoint is a ViT's, imported as "aud"). */
#define HF_VIT_NAMES(t)                                                         \
    {t ".patch.weight", "embeddings.patch_embeddings.projection.weight", 4},    \
    {t ".patch.bias", "embeddings.patch_embeddings.projection.bias", 0},        \
    {t ".cls", "embeddings.cls_token", 3},                                      \
    {t ".pos", "embeddings.position_embeddings", 3},                            \
    {t ".norm.weight", "layernorm.weight", 0},                                  \
    {t ".norm.bias", "layernorm.bias", 0}

/* How a family's checkpoint names map onto sail's (docs/FORMAT.md); convert
 * and export read the same tables. */
typedef struct hf_map {
    const char *prefix;                 /* prepended to every name below ("") */
    const char *alt_prefix;             /* used instead when the checkpoint's names have it ("bert.") */
    const char *text_layer;             /* printf format with %d, e.g. "text_model.encoder.layers.%d." */
    const hf_block_names *text_block;
    const char *vis_layer;
    const hf_block_names *vis_block;
    const hf_name *fixed;               /* the rest */
    int n_fixed;
    const char *const *ignore;          /* suffixes of tensors that may stay unused */
    int n_ignore;
    const char *logit_scale;            /* the 0-D temperature tensor (sail.logit_scale), or NULL */
    /* names the tables above do not cover (HTSAT's stages), tried first:
       as hf_map_name, without the prefix */
    int (*names)(const char *sail, char out[3][256], int *rank);
} hf_map;

/* Checkpoint names of sail tensor `name` under mp and prefix: 3 for a fused
 * q/k/v (in that order), 1 otherwise, 0 when the map has none; *rank as in
 * hf_name (0: sail's own). */
int hf_map_name(const hf_map *mp, const char *prefix, const char *name, char out[3][256], int *rank);

/* The checkpoint shape of part k of np of a sail tensor (rows, cols) stored
 * with rank (hf_map_name); returns the number of dimensions. */
int hf_tensor_shape(const sail_config *c, int rank, int64_t rows, int64_t cols, int np, int64_t shape[4]);

/* What a family's config step fills in besides sail_config. */
typedef struct hf_model {
    sail_config cfg;
    hf_map map;
    int bert_tokenizer;                 /* vocab.txt; else vocab.json + merges.txt */
} hf_model;

typedef struct hf_options {
    const char *pool;                   /* "cls", "pooler", "mean" or NULL: config.json's sail_pool, else cls */
} hf_options;

/* Writes the tokenizer keys and fills c's special ids. */
typedef sail_status (*hf_tokenizer_fn)(void *ctx, sail_config *c, gguf_writer *w, sail_error *err);

/* Convert: tokenizer, config, every tensor of src in sail's order (checked
 * against hm's config), leftovers an error; the file goes to out. what names
 * the source format in messages. */
sail_status hf_emit(hf_model *hm, hf_source *src, hf_tokenizer_fn tok, void *tok_ctx, const char *what,
                    const char *out, sail_error *err);

/* A byte-level BPE (CLIP's, or GPT-2's for RoBERTa) from a vocabulary in
 * id order and a merges.txt (first line dropped); special ids from
 * tokenizer_config.json (tc, may be NULL) or the family's names (CLIP's
 * <|startoftext|> ..., RoBERTa's <pad> <unk> <s> </s>). */
sail_status hf_bpe_write(sail_config *c, gguf_writer *w, char **toks, int n, const char *merges_path,
                         const json_t *tc, sail_bpe_style style, sail_error *err);

/* A Hugging Face folder's own tokenizer files, as an hf_tokenizer_fn (ctx
 * an hf_folder_tok): SentencePiece (spm), WordPiece vocab.txt (bert), or a
 * byte-level BPE vocab.json + merges.txt (CLIP's, or GPT-2's when gpt2). */
typedef struct hf_folder_tok { const char *dir; int bert, spm, gpt2; } hf_folder_tok;
sail_status hf_folder_tokenizer(void *ctx, sail_config *c, gguf_writer *w, sail_error *err);

/* Whether DIR/FILE exists. */
int hf_exists(const char *dir, const char *file);

/* SigLIP's SentencePiece tokenizer (spm_tok.c) from DIR's spiece.model,
 * tokenizer_config.json and special_tokens_map.json (both optional), read
 * as transformers' SiglipTokenizer reads them: eos_token / unk_token /
 * pad_token (defaults "</s>", "<unk>", "</s>") must be pieces of the model,
 * do_lower_case (default true), model_max_length (default 64, at most
 * c->max_positions). Needs c->vocab_size and c->max_positions set; the
 * piece count must equal vocab_size. Writes tokenizer.ggml.model "spm",
 * tokenizer.ggml.tokens (the pieces), tokenizer.spm.model and
 * tokenizer.spm.lowercase, and sets c->towers.spm, c->context =
 * model_max_length, c->pad_id / unk_id, c->sep_id = c->cls_id = eos (no
 * start token). Usable as the body of an hf_tokenizer_fn. */
sail_status hf_spm_write(const char *dir, sail_config *c, gguf_writer *w, sail_error *err);

/* ------------------------------------------------------ config.json -- */

/* An integer / number / string member of obj, or def when absent; a member
 * of the wrong type is an error naming it (file and key). */
sail_status hf_int(const json_t *obj, const char *key, int def, int lo, int hi, int *out,
                   sail_error *err);
sail_status hf_float(const json_t *obj, const char *key, double def, float *out, sail_error *err);
/* hidden_act: "gelu" or "quick_gelu"; anything else is SAIL_ERR_UNSUPPORTED. */
sail_status hf_act(const json_t *obj, const char *def, sail_act *out, sail_error *err);
/* hidden_act's name for a (the inverse of hf_act). */
const char *hf_act_name(sail_act a);
/* A transformer tower's sizes (hidden_size, num_hidden_layers, ...). */
sail_status hf_tower(const json_t *obj, const sail_tower *defaults, sail_tower *t, sail_error *err);

/* The start of a text + vision config (CLIP, Chinese-CLIP, SigLIP): m
 * zeroed with both towers on; *tc and *vc cfg's text_config and
 * vision_config, or the returned empty object where one is absent (every
 * key then has its library default). The caller releases the returned
 * object; NULL (err set) when out of memory. */
json_t *hf_two_towers(const json_t *cfg, hf_model *m, const json_t **tc, const json_t **vc, sail_error *err);
/* preprocessor_config.json into c's image fields; squash forces a resize to
 * size x size with no crop (Chinese-CLIP, ViT). */
sail_status hf_preprocessor(const char *dir, int squash, sail_config *c, sail_error *err);
/* A JSON file of DIR parsed (object at the top); NULL + err. */
json_t *hf_json(const char *dir, const char *file, int required, sail_error *err);

/* The inverse direction (export): the keys the readers above take, set from
 * sail's values on obj. Returns 0, or -1 when out of memory. */
int hf_tower_json(json_t *obj, const sail_tower *t);
/* preprocessor_config.json of c; squash as in hf_preprocessor. NULL: out of memory. */
json_t *hf_preprocessor_json(const sail_config *c, const char *processor, int squash);
/* A float as the shortest decimal that reads back as the same float. */
json_t *hf_real(float x);
/* j, or NULL (j released) when bad: the end of every *_json builder. */
json_t *hf_json_done(json_t *j, int bad);
/* The inverse of hf_two_towers: config.json with architectures [arch],
 * model_type, torch_dtype, and *tc / *vc (text_config, vision_config, held
 * by the result) with each tower's sizes, vocab_size,
 * max_position_embeddings, pad_token_id, image_size, patch_size and
 * num_channels, for the family's own keys. NULL when out of memory. */
json_t *hf_two_towers_json(const sail_config *c, const char *arch, const char *type, json_t **tc, json_t **vc);

/* ------------------------------------------------------- families -- */

sail_status hf_clip_config(const json_t *cfg, int chinese, hf_model *m, sail_error *err);
sail_status hf_bert_config(const json_t *cfg, const hf_options *o, hf_model *m, sail_error *err);
/* A clip.cpp GGUF file (monatis/clip.cpp's convert_hf_to_gguf.py) with
 * o->merges (merges.txt: clip.cpp files carry no BPE merges). */
sail_status hf_clipcpp_convert(const char *path, const char *out, const sail_convert_options *o,
                               sail_error *err);
sail_status hf_vit_config(const json_t *cfg, const hf_options *o, hf_model *m, sail_error *err);
/* An OpenCLIP checkpoint (openclip.c): a folder with open_clip_config.json
 * and open_clip_model.safetensors / open_clip_pytorch_model.bin, or the
 * checkpoint file itself (o->arch when no open_clip_config.json is beside
 * it); the merges from o->tokenizer or bpe_simple_vocab_16e6.txt.gz /
 * merges.txt beside it. */
sail_status hf_openclip_convert(const char *in, const char *out, const sail_convert_options *o,
                                sail_error *err);

/* config.json of a model of each family (export), from which the matching
 * *_config above reads c's architecture back; NULL when out of memory. */
json_t *hf_clip_json(const sail_config *c, int chinese);
json_t *hf_bert_json(const sail_config *c);
json_t *hf_vit_json(const sail_config *c);
/* ASTModel / ASTForAudioClassification (hf_ast.c): the audio tower, and
 * its front end from DIR's preprocessor_config.json (ASTFeatureExtractor;
 * its defaults when absent). */
sail_status hf_ast_config(const json_t *cfg, hf_model *m, sail_error *err);
sail_status hf_ast_preprocessor(const char *dir, sail_config *c, sail_error *err);
/* ClapModel / ClapAudioModelWithProjection (hf_clap.c): HTSAT (unfused)
 * and its projection; the front end from DIR's preprocessor_config.json
 * (ClapFeatureExtractor, required). */
sail_status hf_clap_config(const json_t *cfg, hf_model *m, sail_error *err);
sail_status hf_clap_preprocessor(const char *dir, sail_config *c, sail_error *err);
/* SiglipModel (hf_siglip.c): both towers, sigmoid loss (logit_bias). */
sail_status hf_siglip_config(const json_t *cfg, hf_model *m, sail_error *err);
json_t *hf_siglip_json(const sail_config *c);

#endif
