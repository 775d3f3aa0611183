/* hf_bert.c: BertModel (and the ViTModel image encoder) as imported towers.
 * BERT: embeddings + LayerNorm, post-norm layers with erf GELU, pooled at
 * [CLS], through the tanh pooler, or by a mean over the real tokens; no
 * projection (the vector is the hidden size). ViT: patch convolution with a
 * bias, class token, pre-norm layers, final LayerNorm, pooled at the class
 * token or through the tanh pooler. */
#include "convert.h"

#include <string.h>

/* The word embeddings first: emit.c probes for alt_prefix with them. */
static const hf_name bert_names[] = {
    HF_BERT_EMB_NAMES(""),
    HF_BERT_POOLER_NAMES(""),
};

static const hf_name vit_names[] = {
    HF_VIT_NAMES("vis"),
    {"vis.pooler.weight", "pooler.dense.weight", 0},
    {"vis.pooler.bias", "pooler.dense.bias", 0},
};

const hf_block_names hf_vit_block = {
    "attention.attention.query", "attention.attention.key", "attention.attention.value",
    "attention.output.dense", "layernorm_before", "intermediate.dense", "output.dense",
    "layernorm_after"};

/* Buffers, and the pooler when the chosen pooling does not use it. */
static const char *const bert_ignore[] = {"position_ids", "token_type_ids", "pooler.dense.weight",
                                          "pooler.dense.bias"};

static const char *const pool_names[] = {"cls", "eos", "mean", "pooler"};   /* sail_text_pool */

/* The start of both families' config: m zeroed with its towers on; the
 * pooling, one of the family's (a bit mask of sail_text_pool): --pool, else
 * config.json's sail_pool (written by `sail export`, as Hugging Face's
 * config has no such key), else cls; the temperature sail fine-tuning
 * learned, which `sail export` keeps in config.json (BertModel and ViTModel
 * have none). */
static sail_status encoder_start(const json_t *cfg, const hf_options *o, hf_model *m, const char *family,
                                 unsigned pools, int *pool, sail_error *err) {
    memset(m, 0, sizeof *m);
    m->cfg.towers.on = 1;
    const json_t *v = json_object_get(cfg, "sail_pool");
    const char *name = o && o->pool ? o->pool : v ? json_string_value(v) : "cls";
    if (!name) return sail_set_error(err, SAIL_ERR_FORMAT, "config key 'sail_pool' is not a string");
    *pool = -1;
    char allowed[64] = "";
    for (int i = 0, k = 0, n = __builtin_popcount(pools); i < 4; i++) {
        if (!(pools >> i & 1)) continue;
        if (!strcmp(name, pool_names[i])) *pool = i;
        size_t at = strlen(allowed);
        snprintf(allowed + at, sizeof allowed - at, "%s%s", !k ? "" : k == n - 1 ? " or " : ", ", pool_names[i]);
        k++;
    }
    if (*pool < 0)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "pool '%s' (--pool or config.json's sail_pool): a %s pools by %s", name, family,
                              allowed);
    if (!json_object_get(cfg, "logit_scale_init_value")) return SAIL_OK;
    m->cfg.has_logit_scale = 1;
    return hf_float(cfg, "logit_scale_init_value", 0, &m->cfg.logit_scale, err);
}

static json_t *encoder_json(const sail_config *c, const sail_tower *tw, const char *arch, const char *type,
                            const char *pool) {
    json_t *j = json_object(), *a = json_array();
    int bad = json_array_append_new(a, json_string(arch));
    bad |= json_object_set_new(j, "architectures", a);
    bad |= json_object_set_new(j, "model_type", json_string(type));
    bad |= hf_tower_json(j, tw);
    bad |= json_object_set_new(j, "sail_pool", json_string(pool));
    if (c->has_logit_scale) bad |= json_object_set_new(j, "logit_scale_init_value", hf_real(c->logit_scale));
    bad |= json_object_set_new(j, "torch_dtype", json_string("float32"));
    return hf_json_done(j, bad);
}

json_t *hf_bert_json(const sail_config *c) {
    json_t *j = encoder_json(c, &c->text, "BertModel", "bert", pool_names[c->towers.text_pool]);
    int bad = !j;
    bad |= json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
    bad |= json_object_set_new(j, "max_position_embeddings", json_integer(c->max_positions));
    bad |= json_object_set_new(j, "type_vocab_size", json_integer(c->type_vocab));
    bad |= json_object_set_new(j, "pad_token_id", json_integer(c->pad_id));
    bad |= json_object_set_new(j, "position_embedding_type", json_string("absolute"));
    return hf_json_done(j, bad);
}

json_t *hf_vit_json(const sail_config *c) {
    json_t *j = encoder_json(c, &c->vision, "ViTModel", "vit", c->towers.vision_pooler ? "pooler" : "cls");
    int bad = !j;
    bad |= json_object_set_new(j, "image_size", json_integer(c->image_size));
    bad |= json_object_set_new(j, "patch_size", json_integer(c->patch_size));
    bad |= json_object_set_new(j, "num_channels", json_integer(3));
    bad |= json_object_set_new(j, "qkv_bias", json_true());
    return hf_json_done(j, bad);
}

sail_status hf_bert_config(const json_t *cfg, const hf_options *o, hf_model *m, sail_error *err) {
    int pool;
    sail_status ps = encoder_start(cfg, o, m, "BERT", 1u << SAIL_TPOOL_CLS | 1u << SAIL_TPOOL_MEAN |
                                   1u << SAIL_TPOOL_POOLER, &pool, err);
    if (ps) return ps;
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    t->has_text = 1;
    t->text_pool = (sail_text_pool)pool;
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
    int pool;
    sail_status ps = encoder_start(cfg, o, m, "ViT", 1u << SAIL_TPOOL_CLS | 1u << SAIL_TPOOL_POOLER, &pool, err);
    if (ps) return ps;
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    t->has_vision = 1;
    t->vision_pooler = pool == SAIL_TPOOL_POOLER;
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
        .vis_layer = "encoder.layer.%d.", .vis_block = &hf_vit_block,
        .fixed = vit_names, .n_fixed = (int)(sizeof vit_names / sizeof *vit_names),
        .ignore = bert_ignore, .n_ignore = t->vision_pooler ? 2 : 4,
    };
    return SAIL_OK;
}
