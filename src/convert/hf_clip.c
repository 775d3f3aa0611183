/* hf_clip.c: CLIPModel and ChineseCLIPModel: their config.json and their
 * checkpoint names. Both have CLIP's vision tower (pre_layrnorm, pre-norm
 * layers, post_layernorm on the class token, bias-free visual_projection);
 * CLIP's text tower is causal with pre-norm layers, a final LayerNorm and
 * pooling at the end-of-text token; Chinese-CLIP's is a BERT (post-norm,
 * erf GELU) pooled at [CLS] without a pooler. */
#include "convert.h"

#include <string.h>

const hf_block_names hf_clip_block = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
    "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2"};

const hf_block_names hf_bert_block = {
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
    "output.dense", "output.LayerNorm"};

#define VISION_NAMES                                                                \
    {"vis.patch.weight", "vision_model.embeddings.patch_embedding.weight", 4},     \
    {"vis.cls", "vision_model.embeddings.class_embedding", 0},                      \
    {"vis.pos", "vision_model.embeddings.position_embedding.weight", 0},            \
    {"vis.pre_norm.weight", "vision_model.pre_layrnorm.weight", 0},                 \
    {"vis.pre_norm.bias", "vision_model.pre_layrnorm.bias", 0},                     \
    {"vis.norm.weight", "vision_model.post_layernorm.weight", 0},                   \
    {"vis.norm.bias", "vision_model.post_layernorm.bias", 0},                       \
    {"vis.proj.weight", "visual_projection.weight", 0},                             \
    {"text.proj.weight", "text_projection.weight", 0}

static const hf_name clip_names[] = {
    HF_CLIP_TEXT_NAMES,
    VISION_NAMES,
};

static const hf_name cn_clip_names[] = {
    HF_BERT_EMB_NAMES("text_model."),
    VISION_NAMES,
};

/* Buffers a checkpoint may carry that are not parameters. */
static const char *const clip_ignore[] = {"position_ids", "token_type_ids"};

sail_status hf_clip_config(const json_t *cfg, int chinese, hf_model *m, sail_error *err) {
    sail_config *c = &m->cfg;
    const json_t *tc, *vc;
    json_t *empty = hf_two_towers(cfg, m, &tc, &vc, err);
    if (!empty) return SAIL_ERR_NOMEM;
    sail_towers *t = &c->towers;
    /* Defaults: CLIPTextConfig / ChineseCLIPTextConfig / CLIPVisionConfig. */
    sail_tower td = chinese ? (sail_tower){12, 768, 12, 3072, 1e-12f, SAIL_ACT_GELU, 0}
                            : (sail_tower){12, 512, 8, 2048, 1e-5f, SAIL_ACT_QUICK_GELU, 1};
    sail_tower vd = {12, 768, 12, 3072, 1e-5f, SAIL_ACT_QUICK_GELU, 1};
    sail_status s = hf_tower(tc, &td, &c->text, err);
    if (!s) s = hf_tower(vc, &vd, &c->vision, err);
    c->text.prenorm = !chinese;
    c->vision.prenorm = 1;
    if (!s) s = hf_int(tc, "vocab_size", chinese ? 30522 : 49408, 8, 1 << 24, &c->vocab_size, err);
    if (!s) s = hf_int(tc, "max_position_embeddings", chinese ? 512 : 77, 3, 8192, &c->max_positions, err);
    if (!s && chinese) s = hf_int(tc, "type_vocab_size", 2, 1, 16, &c->type_vocab, err);
    if (!s) s = hf_int(vc, "image_size", 224, 1, 1024, &c->image_size, err);
    if (!s) s = hf_int(vc, "patch_size", 32, 1, 64, &c->patch_size, err);
    if (!s) s = hf_int(cfg, "projection_dim", 512, 1, 16384, &c->dim, err);
    if (!s) s = hf_float(cfg, "logit_scale_init_value", 2.6592, &c->logit_scale, err);
    int eos = 0;
    if (!s && !chinese) s = hf_int(tc, "eos_token_id", 49407, -1, 1 << 24, &eos, err);
    json_decref(empty);
    if (s) return s;
    c->has_logit_scale = 1;
    c->context = chinese ? SAIL_MIN(52, c->max_positions) : c->max_positions;
    c->pre_size = c->pre_crop = c->image_size;
    c->resample = 3;
    t->text_proj = t->vision_proj = 1;
    t->vision_pre_norm = 1;
    if (chinese) {
        t->text_emb_norm = 1;
        t->text_pool = SAIL_TPOOL_CLS;
    } else {
        t->bpe = 1;
        t->text_causal = t->text_final_norm = 1;
        t->text_pool = SAIL_TPOOL_EOS;
        /* transformers: eos_token_id == 2 (old configs) means "argmax of the ids". */
        t->text_pool_token = eos == 2 ? -1 : eos;
    }
    snprintf(c->name, sizeof c->name, "%s", chinese ? "hf-chinese-clip" : "hf-clip");
    m->bert_tokenizer = chinese;
    m->map = (hf_map){
        .prefix = "",
        .text_layer = chinese ? "text_model.encoder.layer.%d." : "text_model.encoder.layers.%d.",
        .text_block = chinese ? &hf_bert_block : &hf_clip_block,
        .vis_layer = "vision_model.encoder.layers.%d.",
        .vis_block = &hf_clip_block,
        .fixed = chinese ? cn_clip_names : clip_names,
        .n_fixed = chinese ? (int)(sizeof cn_clip_names / sizeof *cn_clip_names)
                           : (int)(sizeof clip_names / sizeof *clip_names),
        .ignore = clip_ignore,
        .n_ignore = 2,
        .logit_scale = "logit_scale",
    };
    return SAIL_OK;
}

json_t *hf_clip_json(const sail_config *c, int chinese) {
    const sail_towers *t = &c->towers;
    json_t *tc, *vc, *j = hf_two_towers_json(c, chinese ? "ChineseCLIPModel" : "CLIPModel",
                                             chinese ? "chinese_clip" : "clip", &tc, &vc);
    if (!j) return NULL;
    int bad = json_object_set_new(j, "projection_dim", json_integer(c->dim));
    bad |= json_object_set_new(j, "logit_scale_init_value", hf_real(c->logit_scale));
    if (chinese) {
        bad |= json_object_set_new(tc, "type_vocab_size", json_integer(c->type_vocab));
    } else {
        bad |= json_object_set_new(tc, "bos_token_id", json_integer(c->cls_id));
        /* 2 is transformers' "argmax of the ids", read back as such above */
        bad |= json_object_set_new(tc, "eos_token_id", json_integer(t->text_pool_token < 0 ? 2 : t->text_pool_token));
    }
    return hf_json_done(j, bad);
}
