/* hf_clap.c: Hugging Face ClapModel (LAION CLAP) as an imported model.
 * The audio tower is HTSAT (model/swin.h) with ClapFeatureExtractor's
 * front end ("rand_trunc" truncation) from preprocessor_config.json; its
 * pooled output goes through the audio projection (linear, ReLU, linear)
 * and is L2-normalised, as get_audio_features and F.normalize do (fused
 * checkpoints, enable_fusion=True, with the "fusion" extractor too). The
 * text tower is RoBERTa (BERT's post-norm layers, position ids from
 * pad_token_id + 1, one token type, the tanh pooler over <s>) with GPT-2's
 * byte-level BPE (vocab.json, merges.txt) and its own projection (linear,
 * ReLU, linear), as get_text_features. docs/AUDIO.md describes the
 * mapping. */
#include "convert.h"

#include "model/swin.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ENC "audio_model.audio_encoder."

/* HTSAT's tensors: sail name -> checkpoint name(s). */
static int clap_names(const char *name, char out[3][256], int *rank) {
    static const struct { const char *sail, *hf; int rank; } fixed[] = {
        {"audio.bn.weight", ENC "batch_norm.weight", 0},
        {"audio.bn.bias", ENC "batch_norm.bias", 0},
        {"audio.bn.mean", ENC "batch_norm.running_mean", 0},
        {"audio.bn.var", ENC "batch_norm.running_var", 0},
        {"audio.patch.weight", ENC "patch_embed.proj.weight", 4},
        {"audio.patch.bias", ENC "patch_embed.proj.bias", 0},
        {"audio.patch_norm.weight", ENC "patch_embed.norm.weight", 0},
        {"audio.patch_norm.bias", ENC "patch_embed.norm.bias", 0},
        {"audio.norm.weight", ENC "norm.weight", 0},
        {"audio.norm.bias", ENC "norm.bias", 0},
        {"audio.proj1.weight", "audio_projection.linear1.weight", 0},
        {"audio.proj1.bias", "audio_projection.linear1.bias", 0},
        {"audio.proj2.weight", "audio_projection.linear2.weight", 0},
        {"audio.proj2.bias", "audio_projection.linear2.bias", 0},
        {"audio.fuse.mel_conv.weight", ENC "patch_embed.mel_conv2d.weight", 6},
        {"audio.fuse.mel_conv.bias", ENC "patch_embed.mel_conv2d.bias", 0},
    };
    /* ClapAudioAFFBlock: nn.Sequential indices of its 1x1 convolutions and BatchNorms */
    static const struct { const char *sail, *hf; int conv; } aff[] = {
        {"local1", "local_att.0", 1}, {"local_bn1", "local_att.1", 0}, {"local2", "local_att.3", 1},
        {"local_bn2", "local_att.4", 0}, {"global1", "global_att.1", 1}, {"global_bn1", "global_att.2", 0},
        {"global2", "global_att.4", 1}, {"global_bn2", "global_att.5", 0},
    };
    static const struct { const char *sail, *hf; } block[] = {
        {"norm1", "layernorm_before"}, {"attn_out", "attention.output.dense"}, {"norm2", "layernorm_after"},
        {"ffn_up", "intermediate.dense"}, {"ffn_down", "output.dense"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(name, fixed[i].sail)) {
            snprintf(out[0], 256, "%s", fixed[i].hf);
            *rank = fixed[i].rank;
            return 1;
        }
    int s, b, n = 0;
    char part[32], suffix[16];
    if (sscanf(name, "audio.fuse.%31[^.].%15s%n", part, suffix, &n) == 2 && !name[n])
        for (size_t i = 0; i < sizeof aff / sizeof *aff; i++)
            if (!strcmp(part, aff[i].sail)) {
                /* BatchNorm: weight, bias, running_mean, running_var */
                const char *hs = !strcmp(suffix, "mean") ? "running_mean" : !strcmp(suffix, "var") ? "running_var" : suffix;
                snprintf(out[0], 256, ENC "patch_embed.fusion_model.%s.%s", aff[i].hf, hs);
                *rank = aff[i].conv && !strcmp(suffix, "weight") ? 5 : 0;
                return 1;
            }
    if (sscanf(name, "audio.s%d.b%d.%31[^.].%15s%n", &s, &b, part, suffix, &n) == 4 && !name[n]) {
        char pre[96];
        snprintf(pre, sizeof pre, ENC "layers.%d.blocks.%d.", s, b);
        if (!strcmp(part, "attn_qkv")) {
            const char *qkv[3] = {"query", "key", "value"};
            for (int k = 0; k < 3; k++) snprintf(out[k], 256, "%sattention.self.%s.%s", pre, qkv[k], suffix);
            return 3;
        }
        for (size_t i = 0; i < sizeof block / sizeof *block; i++)
            if (!strcmp(part, block[i].sail)) {
                snprintf(out[0], 256, "%s%s.%s", pre, block[i].hf, suffix);
                return 1;
            }
        return 0;
    }
    if (sscanf(name, "audio.s%d.b%d.rel_bias%n", &s, &b, &n) == 2 && !name[n]) {
        snprintf(out[0], 256, ENC "layers.%d.blocks.%d.attention.self.relative_position_bias_table", s, b);
        return 1;
    }
    if (sscanf(name, "audio.s%d.merge_norm.%15s%n", &s, suffix, &n) == 2 && !name[n]) {
        snprintf(out[0], 256, ENC "layers.%d.downsample.norm.%s", s, suffix);
        return 1;
    }
    if (sscanf(name, "audio.s%d.merge.weight%n", &s, &n) == 1 && !name[n]) {
        snprintf(out[0], 256, ENC "layers.%d.downsample.reduction.weight", s);
        return 1;
    }
    return 0;
}

static const hf_name text_names[] = {
    HF_BERT_EMB_NAMES("text_model."),
    HF_BERT_POOLER_NAMES("text_model."),
    {"text.proj.weight", "text_projection.linear1.weight", 0},
    {"text.proj.bias", "text_projection.linear1.bias", 0},
    {"text.proj2.weight", "text_projection.linear2.weight", 0},
    {"text.proj2.bias", "text_projection.linear2.bias", 0},
};

/* Buffers the checkpoint carries beside the parameters. */
static const char *const clap_ignore[] = {"relative_position_index", "num_batches_tracked", "position_ids",
                                          "token_type_ids", "logit_scale_t"};

/* An array of 1..SAIL_SWIN_MAX_STAGES integers, or def when absent. */
static sail_status int_list(const json_t *obj, const char *key, const int *def, int n_def, int *out, int *n,
                            sail_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        memcpy(out, def, (size_t)n_def * sizeof *out);
        *n = n_def;
        return SAIL_OK;
    }
    size_t k = json_array_size(v);
    if (!json_is_array(v) || k < 1 || k > SAIL_SWIN_MAX_STAGES)
        return sail_set_error(err, SAIL_ERR_FORMAT, "audio_config key '%s' is not a list of 1..%d integers", key,
                              SAIL_SWIN_MAX_STAGES);
    for (size_t i = 0; i < k; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 1024)
            return sail_set_error(err, SAIL_ERR_FORMAT, "audio_config key '%s' has a non-positive or non-integer "
                                  "entry", key);
        out[i] = (int)json_integer_value(x);
    }
    *n = (int)k;
    return SAIL_OK;
}

/* A boolean member, or def; anything else is an error naming it. */
static sail_status flag(const json_t *obj, const char *key, int def, int *out, sail_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) *out = def;
    else if (json_is_boolean(v)) *out = json_is_true(v);
    else return sail_set_error(err, SAIL_ERR_FORMAT, "config key '%s' is not a boolean", key);
    return SAIL_OK;
}

/* patch_stride: an integer or a pair; HTSAT as sail runs it takes square
 * patches without overlap (patch_stride = patch_size, no padding). */
static sail_status patch_stride(const json_t *a, int patch, sail_error *err) {
    const json_t *v = json_object_get(a, "patch_stride");
    int ok = !v || (json_is_integer(v) && json_integer_value(v) == patch) ||
             (json_is_array(v) && json_array_size(v) == 2 &&
              json_integer_value(json_array_get(v, 0)) == patch && json_integer_value(json_array_get(v, 1)) == patch);
    return ok ? SAIL_OK
              : sail_set_error(err, SAIL_ERR_UNSUPPORTED, "audio_config: patch_stride differs from patch_size %d; sail "
                                                          "runs HTSAT's non-overlapping patches only", patch);
}

static sail_status audio_config(const json_t *a, int proj_dim, sail_config *c, sail_error *err) {
    sail_swin_cfg *sc = &c->swin;
    static const int depths[] = {2, 2, 6, 2}, heads[] = {4, 8, 16, 32};
    int nd = 0, nh = 0, qkv_bias = 1, flat = 1, channels = 1, hidden = 0, mels = 0, pd = 0, r = 4;
    sail_act act = SAIL_ACT_GELU;
    sail_status s = flag(a, "enable_fusion", 0, &sc->fusion, err);
    const json_t *ft = json_object_get(a, "fusion_type");
    if (!s && sc->fusion && ft && !json_is_null(ft) && (!json_is_string(ft) || !strcmp(json_string_value(ft), "channel_map")))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "audio_config.fusion_type 'channel_map' is not supported; sail "
                                                      "fuses by attentional feature fusion (aff_2d, LAION's)");
    if (!s) s = hf_int(a, "aff_block_r", 4, 1, 4096, &r, err);
    if (!s) s = int_list(a, "depths", depths, 4, sc->depths, &nd, err);
    if (!s) s = int_list(a, "num_attention_heads", heads, 4, sc->heads, &nh, err);
    if (!s && nd != nh)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "audio_config: %d depths but %d num_attention_heads", nd, nh);
    sc->stages = nd;
    if (!s) s = hf_int(a, "patch_embeds_hidden_size", 96, 1, 4096, &sc->embed, err);
    if (!s) s = hf_int(a, "window_size", 8, 1, 64, &sc->window, err);
    if (!s) s = hf_int(a, "spec_size", 256, 1, 1024, &sc->spec, err);
    if (!s) s = hf_int(a, "patch_size", 4, 1, 64, &sc->patch, err);
    if (!s) s = patch_stride(a, sc->patch, err);
    if (!s) s = hf_int(a, "num_mel_bins", 64, 1, 1024, &mels, err);
    if (!s) s = hf_float(a, "mlp_ratio", 4.0, &sc->mlp_ratio, err);
    if (!s) s = flag(a, "enable_patch_layer_norm", 1, &sc->patch_norm, err);
    if (!s) s = flag(a, "qkv_bias", 1, &qkv_bias, err);
    if (!s) s = flag(a, "flatten_patch_embeds", 1, &flat, err);
    if (!s) s = hf_int(a, "patch_embed_input_channels", 1, 1, 1, &channels, err);
    if (!s) s = hf_act(a, "gelu", &act, err);
    if (!s) s = hf_float(a, "layer_norm_eps", 1e-5, &sc->eps, err);
    if (!s) s = hf_int(a, "hidden_size", 768, 1, 16384, &hidden, err);
    if (!s) s = hf_int(a, "projection_dim", proj_dim, 1, 16384, &pd, err);
    const json_t *pa = json_object_get(a, "projection_hidden_act");
    if (!s && pa && (!json_is_string(pa) || strcmp(json_string_value(pa), "relu")))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "audio_config.projection_hidden_act must be 'relu'");
    if (!s && (!qkv_bias || !flat))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "audio_config: qkv_bias and flatten_patch_embeds must be true");
    if (!s && (int64_t)sc->embed << (nd - 1) != hidden)
        s = sail_set_error(err, SAIL_ERR_FORMAT,
                           "audio_config: hidden_size %d is not patch_embeds_hidden_size %d doubled over %d stages",
                           hidden, sc->embed, nd);
    if (!s && sc->fusion && mels != 64)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "audio_config: num_mel_bins %d with enable_fusion; the original's "
                                                      "fusion shrinks a long clip to 64 mel bins, so fused models have 64",
                           mels);
    if (!s && pd != proj_dim)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "audio_config.projection_dim %d differs from projection_dim %d", pd,
                           proj_dim);
    if (s) return s;
    sc->on = 1;
    sc->act = (int)act;
    sc->fuse_channels = sc->embed / r;
    sc->mel = sail_logmel_clap_params();
    sc->mel.n_mels = mels;
    if (sc->fusion) { /* the "fusion" extractor's filters: torchaudio's HTK mel, no norm */
        sc->mel.htk_mel = 1;
        sc->mel.slaney_norm = 0;
    }
    sc->max_samples = 480000;
    sc->pad = SAIL_CLAP_REPEATPAD;
    return SAIL_OK;
}

/* ClapTextConfig: RoBERTa's sizes, its positions after pad_token_id. */
static sail_status text_config(const json_t *tc, int proj_dim, sail_config *c, sail_error *err) {
    sail_towers *t = &c->towers;
    sail_tower d = {12, 768, 12, 3072, 1e-12f, SAIL_ACT_GELU, 0};
    int pad = 1, pd = 0;
    sail_status s = hf_tower(tc, &d, &c->text, err);
    c->text.prenorm = 0;
    if (!s) s = hf_int(tc, "vocab_size", 50265, 8, 1 << 24, &c->vocab_size, err);
    if (!s) s = hf_int(tc, "max_position_embeddings", 514, 3, 8192, &c->max_positions, err);
    if (!s) s = hf_int(tc, "type_vocab_size", 1, 1, 16, &c->type_vocab, err);
    if (!s) s = hf_int(tc, "pad_token_id", 1, 0, c->max_positions - 4, &pad, err);
    if (!s) s = hf_int(tc, "projection_dim", proj_dim, 1, 16384, &pd, err);
    const json_t *pe = json_object_get(tc, "position_embedding_type");
    if (!s && pe && (!json_is_string(pe) || strcmp(json_string_value(pe), "absolute")))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "text_config.position_embedding_type must be 'absolute'");
    const json_t *pa = json_object_get(tc, "projection_hidden_act");
    if (!s && pa && (!json_is_string(pa) || strcmp(json_string_value(pa), "relu")))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "text_config.projection_hidden_act must be 'relu'");
    if (!s && pd != proj_dim)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "text_config.projection_dim %d differs from projection_dim %d", pd,
                           proj_dim);
    if (s) return s;
    t->has_text = t->text_emb_norm = 1;
    t->bpe = 2;
    t->text_pool = SAIL_TPOOL_POOLER;
    t->text_proj = t->text_proj_bias = t->text_proj_mlp = 1;
    t->text_pos_offset = pad + 1;   /* create_position_ids_from_input_ids */
    c->context = SAIL_MIN(c->max_positions - t->text_pos_offset, 512);
    return SAIL_OK;
}

sail_status hf_clap_config(const json_t *cfg, hf_model *m, sail_error *err) {
    memset(m, 0, sizeof *m);
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    /* ClapAudioModelWithProjection: config.json is the audio config itself */
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
    int audio_only = (mt && !strcmp(mt, "clap_audio_model")) || (arch && !strcmp(arch, "ClapAudioModelWithProjection"));
    const json_t *a = audio_only ? cfg : json_object_get(cfg, "audio_config");
    if (a && !json_is_object(a)) return sail_set_error(err, SAIL_ERR_FORMAT, "config key 'audio_config' is not an object");
    json_t *empty = json_object();
    if (!empty) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    float init = 0;
    sail_status s = hf_int(cfg, "projection_dim", 512, 1, 16384, &c->dim, err);
    const json_t *tc = json_object_get(cfg, "text_config");
    if (!s && tc && !json_is_object(tc)) s = sail_set_error(err, SAIL_ERR_FORMAT, "config key 'text_config' is not an object");
    if (!s) s = audio_config(a ? a : empty, c->dim, c, err);
    if (!s && !audio_only) s = text_config(tc ? tc : empty, c->dim, c, err);
    if (!s) s = hf_float(cfg, "logit_scale_init_value", 1 / 0.07, &init, err);
    json_decref(empty);
    if (!s && !(init > 0)) s = sail_set_error(err, SAIL_ERR_FORMAT, "logit_scale_init_value %g is not positive", init);
    if (s) return s;
    t->on = 1;
    c->has_logit_scale = 1;
    c->logit_scale = logf(init);   /* the parameter is its log; the checkpoint's logit_scale_a wins */
    snprintf(c->name, sizeof c->name, "hf-clap");
    m->map = (hf_map){
        .prefix = "", .names = clap_names, .ignore = clap_ignore,
        .text_layer = "text_model.encoder.layer.%d.", .text_block = &hf_bert_block,
        .fixed = text_names, .n_fixed = audio_only ? 0 : (int)(sizeof text_names / sizeof *text_names),
        .n_ignore = (int)(sizeof clap_ignore / sizeof *clap_ignore), .logit_scale = "logit_scale_a",
    };
    return SAIL_OK;
}

/* A string member that must be one of the values sail honours. */
static sail_status choice(const json_t *j, const char *key, const char *def, const char *const *ok, int n, int *out,
                          sail_error *err) {
    const json_t *v = json_object_get(j, key);
    const char *x = v && !json_is_null(v) ? json_string_value(v) : def;
    for (int i = 0; x && i < n; i++)
        if (!strcmp(x, ok[i])) {
            *out = i;
            return SAIL_OK;
        }
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: %s '%.40s' is not supported%s", key,
                          x ? x : "(not a string)",
                          strcmp(key, "truncation") ? "; sail pads by repeatpad, repeat or pad"
                                                    : "; CLAP's are \"rand_trunc\" and \"fusion\"");
}

/* ClapFeatureExtractor's keys. Its own default truncation is "fusion",
 * which an unfused model cannot take, so the file is required. */
sail_status hf_clap_preprocessor(const char *dir, sail_config *c, sail_error *err) {
    json_t *j = hf_json(dir, "preprocessor_config.json", 1, err);
    if (!j) return err ? err->status : SAIL_ERR_IO;
    sail_swin_cfg *sc = &c->swin;
    sail_logmel_params *m = &sc->mel;
    static const char *const trunc[] = {"rand_trunc", "fusion"}, *const pads[] = {"repeatpad", "repeat", "pad"};
    int mels = 0, secs = 10, tr = 0, pad = 0;
    float padv = 0;
    sail_status s = hf_int(j, "feature_size", 64, 1, 1024, &mels, err);
    if (!s) s = hf_int(j, "sampling_rate", 48000, 4000, 192000, &m->sample_rate, err);
    if (!s) s = hf_int(j, "hop_length", 480, 1, 65536, &m->hop, err);
    if (!s) s = hf_int(j, "fft_window_size", 1024, 16, 65536, &m->n_fft, err);
    if (!s) s = hf_int(j, "max_length_s", 10, 1, 600, &secs, err);
    if (!s) s = hf_float(j, "frequency_min", 0, &m->fmin, err);
    if (!s) s = hf_float(j, "frequency_max", 14000, &m->fmax, err);
    if (!s) s = hf_float(j, "padding_value", 0, &padv, err);
    if (!s) s = choice(j, "truncation", "fusion", trunc, 2, &tr, err);
    if (!s && tr != sc->fusion)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: truncation '%s' %s; %s",
                           trunc[tr], tr ? "feeds a fused model (enable_fusion) but this one is unfused"
                                         : "feeds an unfused model but this one has enable_fusion",
                           sc->fusion ? "a fused CLAP takes \"fusion\"" : "an unfused CLAP takes \"rand_trunc\"");
    if (!s) s = choice(j, "padding", "repeatpad", pads, 3, &pad, err);
    const json_t *top = json_object_get(j, "top_db");
    if (!s && top && !json_is_null(top))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: top_db is set; sail's dB scale has no "
                                                      "top_db clamp (CLAP's extractor leaves it null)");
    if (!s && padv != 0)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: padding_value %g; sail pads with 0", padv);
    if (!s && mels != m->n_mels)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "preprocessor_config.json's feature_size %d differs from "
                                                 "audio_config.num_mel_bins %d", mels, m->n_mels);
    if (!s && (int64_t)secs * m->sample_rate > (1 << 26))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: %d s at %d Hz is too long", secs,
                           m->sample_rate);
    sc->max_samples = secs * m->sample_rate;
    sc->pad = (sail_clap_pad)pad;
    json_decref(j);
    if (s) sail_error_prefix(err, "%s", dir);
    return s;
}
