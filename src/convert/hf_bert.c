/* hf_bert.c: BertModel (and the ViTModel image encoder) as imported towers.
 * BERT: embeddings + LayerNorm, post-norm layers with erf GELU, pooled at
 * [CLS], through the tanh pooler, or by a mean over the real tokens; no
 * projection (the vector is the hidden size). ViT: patch convolution with a
 * bias, class token, pre-norm layers, final LayerNorm, pooled at the class
 * token or through the tanh pooler. */
#include "convert.h"

#include <string.h>

static const char *const bert_names[][2] = {
    {"text.tok_emb", "embeddings.word_embeddings.weight"},
    {"text.pos_emb", "embeddings.position_embeddings.weight"},
    {"text.type_emb", "embeddings.token_type_embeddings.weight"},
    {"text.emb_norm.weight", "embeddings.LayerNorm.weight"},
    {"text.emb_norm.bias", "embeddings.LayerNorm.bias"},
    {"text.pooler.weight", "pooler.dense.weight"},
    {"text.pooler.bias", "pooler.dense.bias"},
};

static const char *const vit_names[][2] = {
    {"vis.patch.weight", "embeddings.patch_embeddings.projection.weight"},
    {"vis.patch.bias", "embeddings.patch_embeddings.projection.bias"},
    {"vis.cls", "embeddings.cls_token"},
    {"vis.pos", "embeddings.position_embeddings"},
    {"vis.norm.weight", "layernorm.weight"},
    {"vis.norm.bias", "layernorm.bias"},
    {"vis.pooler.weight", "pooler.dense.weight"},
    {"vis.pooler.bias", "pooler.dense.bias"},
};

static const hf_block_names vit_block = {
    "attention.attention.query", "attention.attention.key", "attention.attention.value",
    "attention.output.dense", "layernorm_before", "intermediate.dense", "output.dense",
    "layernorm_after"};

/* Buffers, and the pooler when the chosen pooling does not use it. */
static const char *const bert_ignore[] = {"position_ids", "token_type_ids", "pooler.dense.weight",
                                          "pooler.dense.bias"};

sail_status hf_bert_config(const json_t *cfg, const hf_options *o, hf_model *m, sail_error *err) {
    memset(m, 0, sizeof *m);
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    t->on = t->has_text = 1;
    const char *pool = o && o->pool ? o->pool : "cls";
    if (!strcmp(pool, "cls")) t->text_pool = SAIL_TPOOL_CLS;
    else if (!strcmp(pool, "pooler")) t->text_pool = SAIL_TPOOL_POOLER;
    else if (!strcmp(pool, "mean")) t->text_pool = SAIL_TPOOL_MEAN;
    else return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--pool '%s': a BERT pools by cls, pooler or mean", pool);
    sail_tower d = {12, 768, 12, 3072, 1e-12f, SAIL_ACT_GELU, 0};
    sail_status s = hf_tower(cfg, &d, &c->text, err);
    c->text.prenorm = 0;
    if (!s) s = hf_int(cfg, "vocab_size", 30522, 8, 1 << 24, &c->vocab_size, err);
    if (!s) s = hf_int(cfg, "max_position_embeddings", 512, 3, 8192, &c->max_positions, err);
    if (!s) s = hf_int(cfg, "type_vocab_size", 2, 1, 16, &c->type_vocab, err);
    const json_t *pe = json_object_get(cfg, "position_embedding_type");
    if (!s && pe && (!json_is_string(pe) || strcmp(json_string_value(pe), "absolute")))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "position_embedding_type must be 'absolute'");
    if (s) return s;
    c->context = c->max_positions;
    t->text_emb_norm = 1;
    c->dim = c->text.width;
    snprintf(c->name, sizeof c->name, "hf-bert");
    m->bert_tokenizer = 1;
    m->map = (hf_map){
        .prefix = "", .alt_prefix = "bert.",
        .text_layer = "encoder.layer.%d.", .text_block = &hf_bert_block,
        .fixed = bert_names, .n_fixed = (int)(sizeof bert_names / sizeof *bert_names),
        .ignore = bert_ignore, .n_ignore = t->text_pool == SAIL_TPOOL_POOLER ? 2 : 4,
    };
    return SAIL_OK;
}

sail_status hf_vit_config(const json_t *cfg, const hf_options *o, hf_model *m, sail_error *err) {
    memset(m, 0, sizeof *m);
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    t->on = t->has_vision = 1;
    const char *pool = o && o->pool ? o->pool : "cls";
    if (!strcmp(pool, "pooler")) t->vision_pooler = 1;
    else if (strcmp(pool, "cls"))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--pool '%s': a ViT pools by cls or pooler", pool);
    sail_tower d = {12, 768, 12, 3072, 1e-12f, SAIL_ACT_GELU, 1};
    sail_status s = hf_tower(cfg, &d, &c->vision, err);
    c->vision.prenorm = 1;
    if (!s) s = hf_int(cfg, "image_size", 224, 1, 1024, &c->image_size, err);
    if (!s) s = hf_int(cfg, "patch_size", 16, 1, 64, &c->patch_size, err);
    int channels = 3;
    if (!s) s = hf_int(cfg, "num_channels", 3, 3, 3, &channels, err);
    const json_t *qb = json_object_get(cfg, "qkv_bias");
    if (!s && qb && !json_is_true(qb))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "qkv_bias false is not supported");
    if (s) return s;
    t->patch_bias = 1;
    c->dim = c->vision.width;
    c->pre_size = c->image_size;
    c->pre_crop = 0;
    c->resample = 2;                /* ViTImageProcessor: bilinear, mean = std = 0.5 */
    for (int i = 0; i < 3; i++) c->mean[i] = c->std[i] = 0.5f;
    snprintf(c->name, sizeof c->name, "hf-vit");
    m->map = (hf_map){
        .prefix = "", .alt_prefix = "vit.",
        .vis_layer = "encoder.layer.%d.", .vis_block = &vit_block,
        .fixed = vit_names, .n_fixed = (int)(sizeof vit_names / sizeof *vit_names),
        .ignore = bert_ignore, .n_ignore = t->vision_pooler ? 2 : 4,
    };
    return SAIL_OK;
}
