/* hf_siglip.c: SiglipModel: its config.json and its checkpoint names.
 * Vision: a patch convolution with bias, positions over the patches only
 * (no class token), CLIP's pre-norm layers with tanh GELU, post_layernorm,
 * then the attention-pooling head (a learned probe attends over the tokens
 * through nn.MultiheadAttention, then residual + MLP(LayerNorm)); its
 * output is the image embedding (no projection). Text: token + position
 * embeddings, the same layers without a causal mask, final_layer_norm, the
 * last position, then `head` (Linear with bias). logit_scale and logit_bias
 * are (1)-shaped parameters of the sigmoid loss. */
#include "convert.h"

#include <math.h>
#include <string.h>

static const hf_name siglip_names[] = {
    HF_CLIP_TEXT_NAMES,
    {"text.proj.weight", "text_model.head.weight", 0},
    {"text.proj.bias", "text_model.head.bias", 0},
    {"vis.patch.weight", "vision_model.embeddings.patch_embedding.weight", 4},
    {"vis.patch.bias", "vision_model.embeddings.patch_embedding.bias", 0},
    {"vis.pos", "vision_model.embeddings.position_embedding.weight", 0},
    {"vis.norm.weight", "vision_model.post_layernorm.weight", 0},
    {"vis.norm.bias", "vision_model.post_layernorm.bias", 0},
    {"vis.map.probe", "vision_model.head.probe", 3},
    {"vis.map.attn_qkv.weight", "vision_model.head.attention.in_proj_weight", 0},
    {"vis.map.attn_qkv.bias", "vision_model.head.attention.in_proj_bias", 0},
    {"vis.map.attn_out.weight", "vision_model.head.attention.out_proj.weight", 0},
    {"vis.map.attn_out.bias", "vision_model.head.attention.out_proj.bias", 0},
    {"vis.map.norm.weight", "vision_model.head.layernorm.weight", 0},
    {"vis.map.norm.bias", "vision_model.head.layernorm.bias", 0},
    {"vis.map.ffn_up.weight", "vision_model.head.mlp.fc1.weight", 0},
    {"vis.map.ffn_up.bias", "vision_model.head.mlp.fc1.bias", 0},
    {"vis.map.ffn_down.weight", "vision_model.head.mlp.fc2.weight", 0},
    {"vis.map.ffn_down.bias", "vision_model.head.mlp.fc2.bias", 0},
    {"logit_bias", "logit_bias", 0},
};

/* Buffers a checkpoint may carry that are not parameters. */
static const char *const siglip_ignore[] = {"position_ids"};

/* SigLIP's initial temperature, log 10, where a checkpoint has none. */
#define SIGLIP_LOGIT_SCALE 2.302585093f

sail_status hf_siglip_config(const json_t *cfg, hf_model *m, sail_error *err) {
    sail_config *c = &m->cfg;
    const json_t *tc, *vc;
    json_t *empty = hf_two_towers(cfg, m, &tc, &vc, err);
    if (!empty) return SAIL_ERR_NOMEM;
    sail_towers *t = &c->towers;
    /* Defaults: SiglipTextConfig / SiglipVisionConfig. */
    sail_tower d = {12, 768, 12, 3072, 1e-6f, SAIL_ACT_GELU_TANH, 1};
    int proj = 0, use_head = 1;
    sail_status s = hf_tower(tc, &d, &c->text, err);
    if (!s) s = hf_tower(vc, &d, &c->vision, err);
    c->text.prenorm = c->vision.prenorm = 1;
    if (!s) s = hf_int(tc, "vocab_size", 32000, 8, 1 << 24, &c->vocab_size, err);
    if (!s) s = hf_int(tc, "max_position_embeddings", 64, 3, 8192, &c->max_positions, err);
    if (!s) s = hf_int(tc, "projection_size", c->text.width, 1, 16384, &proj, err);
    if (!s) s = hf_int(vc, "image_size", 224, 1, 1024, &c->image_size, err);
    if (!s) s = hf_int(vc, "patch_size", 16, 1, 64, &c->patch_size, err);
    if (!s && json_is_boolean(json_object_get(vc, "vision_use_head")))
        use_head = json_is_true(json_object_get(vc, "vision_use_head"));
    json_decref(empty);
    if (s) return s;
    if (!use_head)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "vision_config.vision_use_head is false; sail imports SigLIP with its attention-pooling head");
    if (proj != c->vision.width)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "text_config.projection_size %d differs from the vision hidden_size %d; "
                              "the two embeddings would not share a space", proj, c->vision.width);
    c->dim = proj;
    c->has_logit_scale = c->has_logit_bias = 1;
    c->logit_scale = SIGLIP_LOGIT_SCALE;
    c->context = c->max_positions;
    c->pre_size = c->image_size;
    c->resample = 3;
    for (int i = 0; i < 3; i++) c->mean[i] = c->std[i] = 0.5f; /* SiglipImageProcessor's defaults */
    t->text_final_norm = 1;
    t->text_pool = SAIL_TPOOL_LAST;
    t->text_proj = t->text_proj_bias = 1;
    t->patch_bias = t->vision_no_cls = t->vision_map = 1;
    snprintf(c->name, sizeof c->name, "hf-siglip");
    m->map = (hf_map){
        .prefix = "",
        .text_layer = "text_model.encoder.layers.%d.",
        .text_block = &hf_clip_block,
        .vis_layer = "vision_model.encoder.layers.%d.",
        .vis_block = &hf_clip_block,
        .fixed = siglip_names,
        .n_fixed = (int)(sizeof siglip_names / sizeof *siglip_names),
        .ignore = siglip_ignore,
        .n_ignore = 1,
        .logit_scale = "logit_scale",
    };
    return SAIL_OK;
}

json_t *hf_siglip_json(const sail_config *c) {
    json_t *tc, *vc, *j = hf_two_towers_json(c, "SiglipModel", "siglip", &tc, &vc);
    if (!j) return NULL;
    int bad = json_object_set_new(tc, "projection_size", json_integer(c->dim));
    bad |= json_object_set_new(tc, "model_type", json_string("siglip_text_model"));
    bad |= json_object_set_new(vc, "vision_use_head", json_true());
    bad |= json_object_set_new(vc, "model_type", json_string("siglip_vision_model"));
    return hf_json_done(j, bad);
}
