/* config.c: model presets and the sail.* metadata keys. */
#include "config.h"

#include "audio/audio_impl.h"
#include "keys.h"

#include <stdio.h>
#include <string.h>

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* A preset's tower: GELU, prenorm 1 for ViT's layers and 0 for BERT's. */
#define TOWER(layers, width, heads, ffn, eps, prenorm) {layers, width, heads, ffn, eps, SAIL_ACT_GELU, prenorm}

/* The sizes of sail_config_preset's presets; the rest is common. */
static const struct {
    const char *name;
    sail_tower text, vision, fusion;
    int image_size, max_positions;
} presets[] = {
    {"tiny", TOWER(4, 256, 4, 1024, 1e-12f, 0), TOWER(4, 256, 4, 1024, 1e-6f, 1),
     TOWER(1, 256, 4, 1024, 1e-6f, 1), 128, 64},
    {"base", TOWER(12, 768, 12, 3072, 1e-12f, 0) /* BERT-base */, TOWER(12, 384, 6, 1536, 1e-6f, 1) /* ViT-S/16 */,
     TOWER(2, 512, 8, 2048, 1e-6f, 1), 224, 512},
    {"large", TOWER(24, 1024, 16, 4096, 1e-12f, 0) /* BERT-large */, TOWER(12, 768, 12, 3072, 1e-6f, 1) /* ViT-B/16 */,
     TOWER(2, 768, 12, 3072, 1e-6f, 1), 224, 512},
};

sail_status sail_config_preset(sail_config *c, const char *name, sail_error *err) {
    memset(c, 0, sizeof *c);
    size_t i = 0, n = sizeof presets / sizeof *presets;
    while (i < n && strcmp(presets[i].name, name)) i++;
    if (i == n)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "unknown config '%s'; choose tiny, base or large", name);
    c->text = presets[i].text;
    c->vision = presets[i].vision;
    c->fusion = presets[i].fusion;
    c->image_size = presets[i].image_size;
    c->max_positions = presets[i].max_positions;
    snprintf(c->name, sizeof c->name, "sail-%s", name);
    c->type_vocab = 2;
    c->context = 52;                 /* Chinese-CLIP's text context */
    c->patch_size = 16;
    c->perceiver_latents = 0;
    c->pooling = SAIL_POOL_MEAN;
    c->dim = 512;
    c->pre_size = c->image_size;
    c->pre_crop = c->image_size;
    c->resample = 3;                 /* bicubic */
    memcpy(c->mean, clip_mean, sizeof c->mean);
    memcpy(c->std, clip_std, sizeof c->std);
    return SAIL_OK;
}

sail_status sail_audio_preset(sail_audio_cfg *a, const char *name, sail_error *err) {
    memset(a, 0, sizeof *a);
    a->fbank = sail_fbank_ast_params();
    if (!strcmp(name, "tiny")) {
        a->tower = (sail_tower)TOWER(4, 256, 4, 1024, 1e-6f, 1);
        a->patch = a->stride_f = a->stride_t = 16;
        a->fbank.num_mel_bins = 64;
        a->fbank.max_length = 512;
    } else if (!strcmp(name, "base")) {
        a->tower = (sail_tower)TOWER(12, 768, 12, 3072, 1e-12f, 1);
        a->patch = 16;
        a->stride_f = a->stride_t = 10;
        a->dist = 1;
    } else {
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "unknown audio config '%s'; choose tiny or base", name);
    }
    return SAIL_OK;
}

static sail_status check_tower(const sail_tower *t, const char *name, int allow_empty,
                               sail_error *err) {
    if (t->layers < (allow_empty ? 0 : 1) || t->layers > 256)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s.layers is %d; expected 1..256", name, t->layers);
    if (t->width < 1 || t->width > 16384 || t->heads < 1 || t->width % t->heads)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "%s.width %d is not a positive multiple of %s.heads %d",
                              name, t->width, name, t->heads);
    if (t->ffn < 1 || t->ffn > 65536)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s.ffn is %d; expected 1..65536", name, t->ffn);
    if (!(t->eps > 0 && t->eps < 1))
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s.eps is %g; expected 0 < eps < 1", name, t->eps);
    return SAIL_OK;
}

static sail_status validate_towers(const sail_config *c, sail_error *err);
static sail_status check_text(const sail_config *c, int min_types, sail_error *err);
static sail_status check_vision(const sail_config *c, sail_error *err);
static sail_status check_audio(const sail_config *c, sail_error *err);

sail_status sail_config_validate(const sail_config *c, sail_error *err) {
    sail_status s;
    if (c->has_logit_scale && !(c->logit_scale > -100 && c->logit_scale < 100))
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.logit_scale is %g; expected a log scale in (-100, 100)",
                              c->logit_scale);
    if (c->has_logit_bias && !c->towers.on)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.logit_bias is set on a native model; only imported (towers) models carry one");
    if (c->towers.on) return validate_towers(c, err);
    if ((s = check_tower(&c->text, "sail.text", 0, err))) return s;
    if ((s = check_tower(&c->vision, "sail.vision", 0, err))) return s;
    if ((s = check_tower(&c->fusion, "sail.fusion", 1, err))) return s;
    if (c->perceiver_latents < 0 || c->perceiver_latents > 1024)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.fusion.perceiver_latents is %d; expected 0..1024", c->perceiver_latents);
    if (c->dim < 1 || c->dim > 8192)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.dim is %d; expected 1..8192", c->dim);
    /* a composed CLIP text tower has no token types */
    if ((s = check_text(c, c->towers.layout && !c->towers.text_emb_norm ? 0 : 1, err))) return s;
    if (c->towers.text_pos_offset < 0 || c->context > c->max_positions - c->towers.text_pos_offset)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.text.pos_offset %d leaves fewer than context %d of %d "
                              "positions", c->towers.text_pos_offset, c->context, c->max_positions);
    if (sail_has_audio(c) && (s = c->swin.on ? sail_swin_check(c, err) : check_audio(c, err))) return s;
    return check_vision(c, err);
}

/* The text side: vocabulary, positions, context, special ids. */
static sail_status check_text(const sail_config *c, int min_types, sail_error *err) {
    if (c->vocab_size < 8 || c->vocab_size > (1 << 24))
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.text.vocab_size is %d; expected 8..16777216", c->vocab_size);
    if (c->max_positions < 3 || c->max_positions > 8192)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.text.max_positions is %d; expected 3..8192", c->max_positions);
    if (c->context < 3 || c->context > c->max_positions)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.text.context is %d; expected 3..max_positions (%d)",
                              c->context, c->max_positions);
    if (c->type_vocab < min_types || c->type_vocab > 16)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.text.type_vocab is %d; expected %d..16", c->type_vocab, min_types);
    int ids[4] = {c->pad_id, c->unk_id, c->cls_id, c->sep_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return sail_set_error(err, SAIL_ERR_FORMAT, "special token id %d is outside the vocabulary (%d tokens)",
                                  ids[i], c->vocab_size);
    return SAIL_OK;
}

/* The vision side: patch grid and image preprocessing. */
static sail_status check_vision(const sail_config *c, sail_error *err) {
    if (c->patch_size < 1 || c->patch_size > 64 || c->image_size < c->patch_size ||
        c->image_size > 1024 || c->image_size % c->patch_size)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "sail.vision.image_size %d is not a multiple of sail.vision.patch_size %d (patch 1..64, image up to 1024)",
                              c->image_size, c->patch_size);
    if (c->pre_size < 1 || c->pre_size > 4096 || c->pre_crop < 0 || c->pre_crop > c->pre_size)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.image.size %d / crop %d are inconsistent", c->pre_size, c->pre_crop);
    int side = c->pre_crop ? c->pre_crop : c->pre_size;
    if (side % c->patch_size)
        return sail_set_error(err, SAIL_ERR_FORMAT, "preprocessed image side %d is not a multiple of the patch size %d",
                              side, c->patch_size);
    if (c->resample != 2 && c->resample != 3)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.image.resample must be bilinear or bicubic");
    for (int i = 0; i < 3; i++)
        if (!(c->std[i] > 0))
            return sail_set_error(err, SAIL_ERR_FORMAT, "sail.image.std[%d] is %g; it must be positive", i, c->std[i]);
    return SAIL_OK;
}

sail_vit_geom sail_vit_vision(const sail_config *c) {
    sail_vit_geom g = {&c->vision, 3, c->image_size, c->image_size, c->patch_size, c->patch_size, c->patch_size,
                       !c->towers.vision_no_cls, 0, sail_has_layout(c) && c->towers.vision_pre_norm,
                       sail_patch_bias(c)};
    return g;
}

sail_vit_geom sail_vit_audio(const sail_config *c) {
    const sail_audio_cfg *a = &c->audio;
    sail_vit_geom g = {&a->tower, 1, a->fbank.num_mel_bins, a->fbank.max_length, a->patch, a->stride_f,
                       a->stride_t, 1, a->dist, 0, 1};
    if (c->swin.on) { /* HTSAT is no ViT: only its input, (4 x) mel bins x frames, is told */
        g.h = (c->swin.fusion ? 4 : 1) * c->swin.mel.n_mels;
        g.w = (int)sail_logmel_frames(&c->swin.mel, c->swin.max_samples);
    }
    return g;
}

int sail_audio_width(const sail_config *c) {
    return c->swin.on ? sail_swin_hidden(&c->swin) : c->audio.tower.width;
}

int sail_audio_tokens(const sail_config *c) {
    if (!c->swin.on) {
        sail_vit_geom g = sail_vit_audio(c);
        return sail_vit_tokens(&g);
    }
    int g = c->swin.spec / c->swin.patch;
    return g * g;
}

/* An audio tower: its transformer, its patch grid over the spectrogram and
 * its front end. */
static sail_status check_audio(const sail_config *c, sail_error *err) {
    const sail_audio_cfg *a = &c->audio;
    sail_status s = check_tower(&a->tower, "sail.audio", 0, err);
    if (s) return s;
    if ((s = sail_fbank_check(&a->fbank, err))) {
        sail_error_prefix(err, "sail.audio");
        if (err) err->status = SAIL_ERR_FORMAT;
        return SAIL_ERR_FORMAT;
    }
    int p = a->patch, h = a->fbank.num_mel_bins, w = a->fbank.max_length;
    if (p < 1 || p > 64 || a->stride_f < 1 || a->stride_f > 64 || a->stride_t < 1 || a->stride_t > 64 || h < p ||
        w < p || (int64_t)h * w > (1 << 22))
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "sail.audio: patch %d, strides %dx%d over %d mel bins x %d frames make no patch grid "
                              "(patch and strides 1..64, at least one patch, at most 2^22 bins x frames)",
                              p, a->stride_f, a->stride_t, h, w);
    if (c->towers.on && c->dim != a->tower.width)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.dim %d differs from the audio width %d", c->dim,
                              a->tower.width);
    return SAIL_OK;
}

static sail_status validate_towers(const sail_config *c, sail_error *err) {
    const sail_towers *t = &c->towers;
    sail_status s;
    if (!t->has_text && !t->has_vision && !sail_has_audio(c))
        return sail_set_error(err, SAIL_ERR_FORMAT, "the model has no text, vision nor audio encoder");
    if (sail_has_audio(c) && (s = c->swin.on ? sail_swin_check(c, err) : check_audio(c, err))) return s;
    if (c->dim < 1 || c->dim > 16384)
        return sail_set_error(err, SAIL_ERR_FORMAT, "sail.dim is %d; expected 1..16384", c->dim);
    if (t->has_text) {
        if ((s = check_tower(&c->text, "sail.text", 0, err)) || (s = check_text(c, 0, err))) return s;
        if ((unsigned)t->text_pool > SAIL_TPOOL_LAST || t->text_pool_token < -1 ||
            t->text_pool_token >= c->vocab_size)
            return sail_set_error(err, SAIL_ERR_FORMAT, "sail.text.pool / pool_token are out of range");
        if (t->text_pos_offset < 0 || c->context > c->max_positions - t->text_pos_offset ||
            (t->text_proj_mlp && !t->text_proj_bias))
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "sail.text.pos_offset %d leaves fewer than context %d of %d positions, or "
                                  "proj_mlp is set without proj_bias", t->text_pos_offset, c->context, c->max_positions);
        if (!t->text_proj && c->dim != c->text.width)
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "sail.dim %d differs from the text width %d and there is no text projection",
                                  c->dim, c->text.width);
    }
    if (t->has_vision) {
        if ((s = check_tower(&c->vision, "sail.vision", 0, err)) || (s = check_vision(c, err))) return s;
        if ((t->vision_no_cls && !t->vision_map) || (t->vision_map && t->vision_pooler))
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "sail.vision.pool = map excludes the pooler, and a model without a class token needs it");
        if (!t->vision_proj && c->dim != c->vision.width)
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "sail.dim %d differs from the vision width %d and there is no visual projection",
                                  c->dim, c->vision.width);
    }
    return SAIL_OK;
}

/* ---------------------------------------------------------------- read -- */

static const char *const act_names[] = {"gelu", "quick_gelu", "gelu_tanh"};
static const char *const norm_names[] = {"post", "pre"};
static const char *const pool_names[] = {"mean", "mean_tanh", "cls"};
static const char *const resample_names[] = {"", "", "bilinear", "bicubic"};
static const char *const tpool_names[] = {"cls", "eos", "mean", "pooler", "last"};
static const char *const vpool_names[] = {"cls", "map"};
static const char *const window_names[] = {"hanning", "povey", "hamming", "rectangular"};

static void read_tower(reader *r, const char *pre, sail_tower *t) {
    char k[64];
    int act = 0, norm = 0;
#define KEY(s) (snprintf(k, sizeof k, "sail.%s.%s", pre, s), k)
    get_int(r, KEY("layers"), &t->layers);
    get_int(r, KEY("width"), &t->width);
    get_int(r, KEY("heads"), &t->heads);
    get_int(r, KEY("ffn"), &t->ffn);
    get_float(r, KEY("eps"), &t->eps);
    get_enum(r, KEY("act"), act_names, 3, &act);
    get_enum(r, KEY("norm"), norm_names, 2, &norm);
#undef KEY
    t->act = (sail_act)act;
    t->prenorm = norm;
}

static void read_image(reader *r, sail_config *c) {
    get_int(r, "sail.image.size", &c->pre_size);
    get_int(r, "sail.image.crop", &c->pre_crop);
    get_enum(r, "sail.image.resample", resample_names, 4, &c->resample);
    if (!r->s) r->s = gguf_get_f32_array(r->f, "sail.image.mean", c->mean, 3, r->err);
    if (!r->s) r->s = gguf_get_f32_array(r->f, "sail.image.std", c->std, 3, r->err);
    if (gguf_find_kv(r->f, "sail.image.crop_floor")) get_bool(r, "sail.image.crop_floor", &c->crop_floor);
}

static void read_special_ids(reader *r, sail_config *c) {
    get_int(r, "tokenizer.ggml.padding_token_id", &c->pad_id);
    get_int(r, "tokenizer.ggml.unknown_token_id", &c->unk_id);
    get_int(r, "tokenizer.ggml.cls_token_id", &c->cls_id);
    get_int(r, "tokenizer.ggml.seperator_token_id", &c->sep_id);
}

/* Keys written only when they differ from CLIP's and ViT's layout
 * (SigLIP), so older files read as they always did. */
static void read_vision_extras(reader *r, sail_towers *t) {
    int cls = 1, pool = 0;
    if (gguf_find_kv(r->f, "sail.vision.class_token")) get_bool(r, "sail.vision.class_token", &cls);
    if (gguf_find_kv(r->f, "sail.vision.pool")) get_enum(r, "sail.vision.pool", vpool_names, 2, &pool);
    t->vision_no_cls = !cls;
    t->vision_map = pool == 1;
}

/* tokenizer.ggml.model: which tokenizer the text side runs. */
static void read_tokenizer_model(reader *r, sail_towers *t) {
    char model[16];
    if (!r->s) r->s = gguf_get_str(r->f, "tokenizer.ggml.model", model, sizeof model, r->err);
    if (r->s) return;
    if (!strcmp(model, "clip")) t->bpe = 1;
    else if (!strcmp(model, "gpt2")) t->bpe = 2;
    else if (!strcmp(model, "spm")) t->spm = 1;
    else if (strcmp(model, "bert"))
        r->s = sail_set_error(r->err, SAIL_ERR_UNSUPPORTED,
                              "tokenizer.ggml.model is '%s'; sail reads 'bert' (WordPiece), 'clip' and 'gpt2' (byte-level BPE) "
                              "and 'spm' (SigLIP's SentencePiece)",
                              model);
}

/* A fused model composed from imported towers carries their layout keys
 * (the towers' own, docs/FORMAT.md); one without them has BERT text and
 * ViT vision, as every file before them. */
static void read_fused_layout(reader *r, sail_config *c) {
    sail_towers *t = &c->towers;
    if (!gguf_find_kv(r->f, "sail.text.emb_norm")) return;
    t->layout = 1;
    get_bool(r, "sail.text.causal", &t->text_causal);
    get_bool(r, "sail.text.emb_norm", &t->text_emb_norm);
    get_bool(r, "sail.text.final_norm", &t->text_final_norm);
    get_bool(r, "sail.vision.pre_norm", &t->vision_pre_norm);
    get_bool(r, "sail.vision.patch_bias", &t->patch_bias);
    /* written only when they differ from BERT's, CLIP's and ViT's layout (SigLIP) */
    if (gguf_find_kv(r->f, "sail.text.padded")) get_bool(r, "sail.text.padded", &t->text_padded);
    if (gguf_find_kv(r->f, "sail.text.pos_offset")) get_int(r, "sail.text.pos_offset", &t->text_pos_offset);
    if (gguf_find_kv(r->f, "sail.vision.class_token")) {
        int cls = 1;
        get_bool(r, "sail.vision.class_token", &cls);
        t->vision_no_cls = !cls;
    }
    read_tokenizer_model(r, t);
}

/* An audio tower (imported, or in a fused model). */
static void read_audio(reader *r, sail_config *c) {
    sail_audio_cfg *a = &c->audio;
    sail_fbank_params *f = &a->fbank;
    int win = 0;
    read_tower(r, "audio", &a->tower);
    get_int(r, "sail.audio.patch_size", &a->patch);
    get_int(r, "sail.audio.stride_freq", &a->stride_f);
    get_int(r, "sail.audio.stride_time", &a->stride_t);
    get_bool(r, "sail.audio.dist_token", &a->dist);
    get_int(r, "sail.audio.sample_rate", &f->sample_rate);
    get_float(r, "sail.audio.frame_length_ms", &f->frame_length_ms);
    get_float(r, "sail.audio.frame_shift_ms", &f->frame_shift_ms);
    get_int(r, "sail.audio.mel_bins", &f->num_mel_bins);
    get_float(r, "sail.audio.low_freq", &f->low_freq);
    get_float(r, "sail.audio.high_freq", &f->high_freq);
    get_float(r, "sail.audio.preemphasis", &f->preemphasis);
    get_bool(r, "sail.audio.remove_dc_offset", &f->remove_dc_offset);
    get_enum(r, "sail.audio.window", window_names, 4, &win);
    get_int(r, "sail.audio.max_length", &f->max_length);
    get_float(r, "sail.audio.mean", &f->norm_mean);
    get_float(r, "sail.audio.std", &f->norm_std);
    f->window = (sail_window)win;
}

/* An imported model: the keys of each present tower, no fusion keys. */
static sail_status read_towers(reader *r, sail_config *c) {
    sail_towers *t = &c->towers;
    t->on = 1;
    read_tower(r, "text", &c->text);
    read_tower(r, "vision", &c->vision);
    get_int(r, "sail.dim", &c->dim);
    if (r->s) return r->s;
    t->has_text = c->text.layers > 0;
    t->has_vision = c->vision.layers > 0;
    if (t->has_text) {
        int pool = 0;
        get_int(r, "sail.text.vocab_size", &c->vocab_size);
        get_int(r, "sail.text.max_positions", &c->max_positions);
        get_int(r, "sail.text.type_vocab", &c->type_vocab);
        get_int(r, "sail.text.context", &c->context);
        get_bool(r, "sail.text.causal", &t->text_causal);
        get_bool(r, "sail.text.emb_norm", &t->text_emb_norm);
        get_bool(r, "sail.text.final_norm", &t->text_final_norm);
        get_enum(r, "sail.text.pool", tpool_names, 5, &pool);
        get_int(r, "sail.text.pool_token", &t->text_pool_token);
        get_bool(r, "sail.text.proj", &t->text_proj);
        if (gguf_find_kv(r->f, "sail.text.proj_bias")) get_bool(r, "sail.text.proj_bias", &t->text_proj_bias);
        if (gguf_find_kv(r->f, "sail.text.proj_mlp")) get_bool(r, "sail.text.proj_mlp", &t->text_proj_mlp);
        if (gguf_find_kv(r->f, "sail.text.pos_offset")) get_int(r, "sail.text.pos_offset", &t->text_pos_offset);
        read_special_ids(r, c);
        t->text_pool = (sail_text_pool)pool;
        read_tokenizer_model(r, t);
    }
    if (t->has_vision) {
        get_int(r, "sail.vision.image_size", &c->image_size);
        get_int(r, "sail.vision.patch_size", &c->patch_size);
        get_bool(r, "sail.vision.pre_norm", &t->vision_pre_norm);
        get_bool(r, "sail.vision.patch_bias", &t->patch_bias);
        get_bool(r, "sail.vision.pooler", &t->vision_pooler);
        get_bool(r, "sail.vision.proj", &t->vision_proj);
        read_vision_extras(r, t);
        read_image(r, c);
    }
    if (gguf_find_kv(r->f, "sail.audio.layers")) read_audio(r, c);
    else if (gguf_find_kv(r->f, "sail.htsat.depths") && !r->s) r->s = sail_swin_read(r->f, c, r->err);
    if (r->s) return r->s;
    return sail_config_validate(c, r->err);
}

sail_status sail_config_read(sail_config *c, const gguf_file *f, sail_error *err) {
    reader r = {f, err, SAIL_OK};
    char arch[32];
    memset(c, 0, sizeof *c);
    if (gguf_get_str(f, "general.architecture", arch, sizeof arch, err)) return err ? err->status : SAIL_ERR_FORMAT;
    if (strcmp(arch, "sail"))
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "general.architecture is '%s'; this file is not a sail model "
                              "(convert checkpoints with `sail convert`)", arch);
    if (gguf_find_kv(f, "general.name") &&
        gguf_get_str(f, "general.name", c->name, sizeof c->name, err))
        return err ? err->status : SAIL_ERR_FORMAT;
    if (gguf_find_kv(f, "sail.logit_scale")) {
        c->has_logit_scale = 1;
        get_float(&r, "sail.logit_scale", &c->logit_scale);
    }
    if (gguf_find_kv(f, "sail.logit_bias")) get_bool(&r, "sail.logit_bias", &c->has_logit_bias);
    if (gguf_find_kv(f, "sail.variant")) {
        char v[16];
        if (gguf_get_str(f, "sail.variant", v, sizeof v, err)) return err ? err->status : SAIL_ERR_FORMAT;
        if (strcmp(v, "towers"))
            return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "sail.variant is '%s'; this sail knows only 'towers'", v);
        if (r.s) return r.s;
        return read_towers(&r, c);
    }
    read_tower(&r, "text", &c->text);
    read_tower(&r, "vision", &c->vision);
    read_tower(&r, "fusion", &c->fusion);
    get_int(&r, "sail.text.vocab_size", &c->vocab_size);
    get_int(&r, "sail.text.max_positions", &c->max_positions);
    get_int(&r, "sail.text.type_vocab", &c->type_vocab);
    get_int(&r, "sail.text.context", &c->context);
    get_int(&r, "sail.vision.image_size", &c->image_size);
    get_int(&r, "sail.vision.patch_size", &c->patch_size);
    get_int(&r, "sail.fusion.perceiver_latents", &c->perceiver_latents);
    int pool = 0;
    get_enum(&r, "sail.pooling", pool_names, 3, &pool);
    c->pooling = (sail_pooling)pool;
    get_int(&r, "sail.dim", &c->dim);
    read_image(&r, c);
    read_special_ids(&r, c);
    read_fused_layout(&r, c);
    if (gguf_find_kv(f, "sail.audio.layers")) read_audio(&r, c);
    else if (gguf_find_kv(f, "sail.htsat.depths") && !r.s) r.s = sail_swin_read(f, c, err);
    if (r.s) return r.s;
    return sail_config_validate(c, err);
}

/* --------------------------------------------------------------- write -- */

static sail_status write_tower(gguf_writer *w, const char *pre, const sail_tower *t) {
    char k[64];
    sail_status s = SAIL_OK;
#define KEY(x) (snprintf(k, sizeof k, "sail.%s.%s", pre, x), k)
    if (!s) s = gguf_set_i32(w, KEY("layers"), t->layers);
    if (!s) s = gguf_set_i32(w, KEY("width"), t->width);
    if (!s) s = gguf_set_i32(w, KEY("heads"), t->heads);
    if (!s) s = gguf_set_i32(w, KEY("ffn"), t->ffn);
    if (!s) s = gguf_set_f32(w, KEY("eps"), t->eps);
    if (!s) s = gguf_set_str(w, KEY("act"), act_names[t->act]);
    if (!s) s = gguf_set_str(w, KEY("norm"), norm_names[t->prenorm ? 1 : 0]);
#undef KEY
    return s;
}

static sail_status write_image(const sail_config *c, gguf_writer *w) {
    sail_status s = gguf_set_i32(w, "sail.image.size", c->pre_size);
    if (!s) s = gguf_set_i32(w, "sail.image.crop", c->pre_crop);
    if (!s) s = gguf_set_str(w, "sail.image.resample", resample_names[c->resample]);
    if (!s) s = gguf_set_f32_array(w, "sail.image.mean", c->mean, 3);
    if (!s) s = gguf_set_f32_array(w, "sail.image.std", c->std, 3);
    /* Only when set: files with torchvision's rounding stay as they were. */
    if (!s && c->crop_floor) s = gguf_set_bool(w, "sail.image.crop_floor", 1);
    return s;
}

static sail_status write_special_ids(const sail_config *c, gguf_writer *w) {
    sail_status s = gguf_set_i32(w, "tokenizer.ggml.padding_token_id", c->pad_id);
    if (!s) s = gguf_set_i32(w, "tokenizer.ggml.unknown_token_id", c->unk_id);
    if (!s) s = gguf_set_i32(w, "tokenizer.ggml.cls_token_id", c->cls_id);
    if (!s) s = gguf_set_i32(w, "tokenizer.ggml.seperator_token_id", c->sep_id);
    return s;
}

static sail_status write_audio(const sail_config *c, gguf_writer *w) {
    const sail_audio_cfg *a = &c->audio;
    const sail_fbank_params *f = &a->fbank;
    sail_status s = write_tower(w, "audio", &a->tower);
    if (!s) s = gguf_set_i32(w, "sail.audio.patch_size", a->patch);
    if (!s) s = gguf_set_i32(w, "sail.audio.stride_freq", a->stride_f);
    if (!s) s = gguf_set_i32(w, "sail.audio.stride_time", a->stride_t);
    if (!s) s = gguf_set_bool(w, "sail.audio.dist_token", a->dist);
    if (!s) s = gguf_set_i32(w, "sail.audio.sample_rate", f->sample_rate);
    if (!s) s = gguf_set_f32(w, "sail.audio.frame_length_ms", f->frame_length_ms);
    if (!s) s = gguf_set_f32(w, "sail.audio.frame_shift_ms", f->frame_shift_ms);
    if (!s) s = gguf_set_i32(w, "sail.audio.mel_bins", f->num_mel_bins);
    if (!s) s = gguf_set_f32(w, "sail.audio.low_freq", f->low_freq);
    if (!s) s = gguf_set_f32(w, "sail.audio.high_freq", f->high_freq);
    if (!s) s = gguf_set_f32(w, "sail.audio.preemphasis", f->preemphasis);
    if (!s) s = gguf_set_bool(w, "sail.audio.remove_dc_offset", f->remove_dc_offset);
    if (!s) s = gguf_set_str(w, "sail.audio.window", window_names[f->window]);
    if (!s) s = gguf_set_i32(w, "sail.audio.max_length", f->max_length);
    if (!s) s = gguf_set_f32(w, "sail.audio.mean", f->norm_mean);
    if (!s) s = gguf_set_f32(w, "sail.audio.std", f->norm_std);
    return s;
}

/* An imported model's keys (the tokenizer model and vocabulary are the
 * converter's); an absent tower has sail.<tower>.layers = 0. */
static sail_status write_towers(const sail_config *c, gguf_writer *w) {
    const sail_towers *t = &c->towers;
    sail_status s = gguf_set_str(w, "sail.variant", "towers");
    if (!s) s = write_tower(w, "text", &c->text);
    if (!s) s = write_tower(w, "vision", &c->vision);
    if (!s) s = gguf_set_i32(w, "sail.dim", c->dim);
    if (!s && t->has_text) {
        s = gguf_set_i32(w, "sail.text.vocab_size", c->vocab_size);
        if (!s) s = gguf_set_i32(w, "sail.text.max_positions", c->max_positions);
        if (!s) s = gguf_set_i32(w, "sail.text.type_vocab", c->type_vocab);
        if (!s) s = gguf_set_i32(w, "sail.text.context", c->context);
        if (!s) s = gguf_set_bool(w, "sail.text.causal", t->text_causal);
        if (!s) s = gguf_set_bool(w, "sail.text.emb_norm", t->text_emb_norm);
        if (!s) s = gguf_set_bool(w, "sail.text.final_norm", t->text_final_norm);
        if (!s) s = gguf_set_str(w, "sail.text.pool", tpool_names[t->text_pool]);
        if (!s) s = gguf_set_i32(w, "sail.text.pool_token", t->text_pool_token);
        if (!s) s = gguf_set_bool(w, "sail.text.proj", t->text_proj);
        if (!s && t->text_proj_bias) s = gguf_set_bool(w, "sail.text.proj_bias", 1);
        if (!s && t->text_proj_mlp) s = gguf_set_bool(w, "sail.text.proj_mlp", 1);
        if (!s && t->text_pos_offset) s = gguf_set_i32(w, "sail.text.pos_offset", t->text_pos_offset);
        if (!s) s = write_special_ids(c, w);
    }
    if (!s && t->has_vision) {
        s = gguf_set_i32(w, "sail.vision.image_size", c->image_size);
        if (!s) s = gguf_set_i32(w, "sail.vision.patch_size", c->patch_size);
        if (!s) s = gguf_set_bool(w, "sail.vision.pre_norm", t->vision_pre_norm);
        if (!s) s = gguf_set_bool(w, "sail.vision.patch_bias", t->patch_bias);
        if (!s) s = gguf_set_bool(w, "sail.vision.pooler", t->vision_pooler);
        if (!s) s = gguf_set_bool(w, "sail.vision.proj", t->vision_proj);
        if (!s && t->vision_no_cls) s = gguf_set_bool(w, "sail.vision.class_token", 0);
        if (!s && t->vision_map) s = gguf_set_str(w, "sail.vision.pool", vpool_names[1]);
        if (!s) s = write_image(c, w);
    }
    if (!s && sail_has_audio(c)) s = c->swin.on ? sail_swin_write(c, w) : write_audio(c, w);
    return s;
}

/* A composed fused model's encoder layout (read_fused_layout); the
 * tokenizer model is the vocabulary's (sail_vocab_kv_write). */
static sail_status write_fused_layout(const sail_config *c, gguf_writer *w) {
    const sail_towers *t = &c->towers;
    sail_status s = gguf_set_bool(w, "sail.text.causal", t->text_causal);
    if (!s) s = gguf_set_bool(w, "sail.text.emb_norm", t->text_emb_norm);
    if (!s) s = gguf_set_bool(w, "sail.text.final_norm", t->text_final_norm);
    if (!s) s = gguf_set_bool(w, "sail.vision.pre_norm", t->vision_pre_norm);
    if (!s) s = gguf_set_bool(w, "sail.vision.patch_bias", t->patch_bias);
    if (!s && t->text_padded) s = gguf_set_bool(w, "sail.text.padded", 1);
    if (!s && t->text_pos_offset) s = gguf_set_i32(w, "sail.text.pos_offset", t->text_pos_offset);
    if (!s && t->vision_no_cls) s = gguf_set_bool(w, "sail.vision.class_token", 0);
    return s;
}

sail_status sail_config_write(const sail_config *c, gguf_writer *w) {
    sail_status s = gguf_set_str(w, "general.architecture", "sail");
    if (!s) s = gguf_set_str(w, "general.name", c->name);
    if (!s && c->has_logit_scale) s = gguf_set_f32(w, "sail.logit_scale", c->logit_scale);
    if (!s && c->has_logit_bias) s = gguf_set_bool(w, "sail.logit_bias", 1);
    if (!s && c->towers.on) return write_towers(c, w);
    if (!s) s = gguf_set_str(w, "general.name", c->name);
    if (!s) s = write_tower(w, "text", &c->text);
    if (!s) s = write_tower(w, "vision", &c->vision);
    if (!s) s = write_tower(w, "fusion", &c->fusion);
    if (!s) s = gguf_set_i32(w, "sail.text.vocab_size", c->vocab_size);
    if (!s) s = gguf_set_i32(w, "sail.text.max_positions", c->max_positions);
    if (!s) s = gguf_set_i32(w, "sail.text.type_vocab", c->type_vocab);
    if (!s) s = gguf_set_i32(w, "sail.text.context", c->context);
    if (!s) s = gguf_set_i32(w, "sail.vision.image_size", c->image_size);
    if (!s) s = gguf_set_i32(w, "sail.vision.patch_size", c->patch_size);
    if (!s) s = gguf_set_i32(w, "sail.fusion.perceiver_latents", c->perceiver_latents);
    if (!s) s = gguf_set_str(w, "sail.pooling", pool_names[c->pooling]);
    if (!s) s = gguf_set_i32(w, "sail.dim", c->dim);
    if (!s) s = write_image(c, w);
    if (!s) s = write_special_ids(c, w);
    if (!s && c->towers.layout) s = write_fused_layout(c, w);
    if (!s && sail_has_audio(c)) s = c->swin.on ? sail_swin_write(c, w) : write_audio(c, w);
    return s;
}

/* ---------------------------------------------------------------- misc -- */

const char *sail_window_name(sail_window w) {
    return (unsigned)w <= SAIL_WINDOW_RECTANGULAR ? window_names[w] : "?";
}

static const char *tokenizer_name(const sail_towers *t) {
    return t->bpe == 2 ? "gpt2-bpe" : t->bpe ? "clip-bpe" : t->spm ? "sentencepiece" : "wordpiece";
}

/* An audio tower's part of the description. */
static void describe_audio(const sail_config *c, char *buf, size_t cap) {
    const sail_fbank_params *f = &c->audio.fbank;
    snprintf(buf, cap,
             " audio_layers=%d audio_width=%d audio_heads=%d audio_ffn=%d audio_act=%s audio_patch=%d "
             "audio_stride=%dx%d audio_tokens=%s audio_rate=%d audio_frame_ms=%g/%g audio_window=%s audio_mel_bins=%d "
             "audio_band=%g..%g audio_preemphasis=%g audio_max_frames=%d audio_mean=%.8g audio_std=%.8g",
             c->audio.tower.layers, c->audio.tower.width, c->audio.tower.heads, c->audio.tower.ffn,
             act_names[c->audio.tower.act], c->audio.patch, c->audio.stride_f, c->audio.stride_t,
             c->audio.dist ? "cls+dist" : "cls",
             f->sample_rate, f->frame_length_ms, f->frame_shift_ms, window_names[f->window], f->num_mel_bins,
             f->low_freq, f->high_freq, f->preemphasis, f->max_length, f->norm_mean, f->norm_std);
}

void sail_config_describe(const sail_config *c, char *buf, size_t cap) {
    const sail_towers *t = &c->towers;
    if (t->on) {
        const sail_tower *v = &c->vision;
        snprintf(buf, cap,
                 "name=%s variant=towers dim=%d "
                 "text_layers=%d text_width=%d text_heads=%d text_ffn=%d text_norm=%s text_act=%s "
                 "text_pool=%s tokenizer=%s vocab=%d context=%d "
                 "vision_layers=%d vision_width=%d vision_heads=%d vision_ffn=%d vision_act=%s "
                 "image_size=%d patch=%d",
                 c->name, c->dim, c->text.layers, c->text.width, c->text.heads, c->text.ffn,
                 norm_names[c->text.prenorm ? 1 : 0], act_names[c->text.act],
                 tpool_names[t->text_pool], tokenizer_name(t), c->vocab_size,
                 c->context, v->layers, v->width, v->heads, v->ffn, act_names[v->act], c->image_size,
                 c->patch_size);
        size_t n = strlen(buf);
        if (sail_has_audio(c) && n < cap) (c->swin.on ? sail_swin_describe : describe_audio)(c, buf + n, cap - n);
        return;
    }
    snprintf(buf, cap,
             "name=%s dim=%d pooling=%s "
             "text_layers=%d text_width=%d text_heads=%d text_ffn=%d text_norm=%s vocab=%d context=%d "
             "vision_layers=%d vision_width=%d vision_heads=%d vision_ffn=%d image_size=%d patch=%d "
             "fusion_layers=%d fusion_width=%d fusion_heads=%d perceiver_latents=%d",
             c->name, c->dim, pool_names[c->pooling], c->text.layers, c->text.width,
             c->text.heads, c->text.ffn, norm_names[c->text.prenorm ? 1 : 0], c->vocab_size,
             c->context, c->vision.layers, c->vision.width, c->vision.heads, c->vision.ffn,
             c->image_size, c->patch_size, c->fusion.layers, c->fusion.width, c->fusion.heads,
             c->perceiver_latents);
    size_t n = strlen(buf);
    if (t->layout && n < cap) /* composed from imported towers: their layout */
        snprintf(buf + n, cap - n,
                 " tokenizer=%s text_causal=%d text_emb_norm=%d text_final_norm=%d vision_pre_norm=%d patch_bias=%d"
                 " text_padded=%d class_token=%d text_pos_offset=%d",
                 tokenizer_name(t),
                 t->text_causal, t->text_emb_norm, t->text_final_norm, t->vision_pre_norm, t->patch_bias,
                 t->text_padded, !t->vision_no_cls, t->text_pos_offset);
    n = strlen(buf);
    if (sail_has_audio(c) && n < cap) (c->swin.on ? sail_swin_describe : describe_audio)(c, buf + n, cap - n);
}
