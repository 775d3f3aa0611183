/* hf_ast.c: the Audio Spectrogram Transformer (ASTModel, and the base
 * model of ASTForAudioClassification, whose classifier head is left out)
 * as an imported audio tower. AST is a ViT over the fbank spectrogram:
 * Conv2d(1, d, p, stride (frequency_stride, time_stride)) patches in
 * frequency-major order, class and distillation tokens, positions, pre-norm
 * layers with erf GELU, a final LayerNorm; the pooled output is the mean of
 * the class and distillation rows, and sail's vector is that, L2-normalised
 * (docs/AUDIO.md). The front end comes from ASTFeatureExtractor's
 * preprocessor_config.json. */
#include "convert.h"

#include <string.h>

static const hf_name ast_names[] = {
    HF_VIT_NAMES("aud"),
    {"aud.dist", "embeddings.distillation_token", 3},
};

sail_status hf_ast_config(const json_t *cfg, hf_model *m, sail_error *err) {
    memset(m, 0, sizeof *m);
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    sail_audio_cfg *a = &c->audio;
    t->on = a->dist = 1;
    sail_tower d = {12, 768, 12, 3072, 1e-12f, SAIL_ACT_GELU, 1};
    sail_status s = hf_tower(cfg, &d, &a->tower, err);
    a->tower.prenorm = 1;
    a->fbank = sail_fbank_ast_params();
    if (!s) s = hf_int(cfg, "patch_size", 16, 1, 64, &a->patch, err);
    if (!s) s = hf_int(cfg, "frequency_stride", 10, 1, 64, &a->stride_f, err);
    if (!s) s = hf_int(cfg, "time_stride", 10, 1, 64, &a->stride_t, err);
    if (!s) s = hf_int(cfg, "max_length", 1024, a->patch, 65536, &a->fbank.max_length, err);
    if (!s) s = hf_int(cfg, "num_mel_bins", 128, SAIL_MAX(a->patch, 4), 1024, &a->fbank.num_mel_bins, err);
    const json_t *qb = json_object_get(cfg, "qkv_bias");
    if (!s && qb && !json_is_true(qb)) s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "qkv_bias false is not supported");
    if (s) return s;
    c->dim = a->tower.width;
    snprintf(c->name, sizeof c->name, "hf-ast");
    m->map = (hf_map){
        .prefix = "", .alt_prefix = "audio_spectrogram_transformer.",
        .vis_layer = "encoder.layer.%d.", .vis_block = &hf_vit_block,
        .fixed = ast_names, .n_fixed = (int)(sizeof ast_names / sizeof *ast_names),
    };
    return SAIL_OK;
}

/* ASTFeatureExtractor's keys. Its fbank call fixes everything else (25 ms
 * Hann windows every 10 ms, 20 Hz..Nyquist, pre-emphasis 0.97, no dither:
 * sail_fbank_ast_params); its padding and max_length must be the model's. */
sail_status hf_ast_preprocessor(const char *dir, sail_config *c, sail_error *err) {
    json_t *j = hf_json(dir, "preprocessor_config.json", 0, err);
    if (!j && err && err->status) return err->status;
    if (!j) return SAIL_OK; /* the extractor's defaults, which the model's config already holds */
    sail_fbank_params *f = &c->audio.fbank;
    int bins = 0, len = 0, fs = 1;
    float pad = 0;
    sail_status s = hf_int(j, "num_mel_bins", f->num_mel_bins, 1, 1024, &bins, err);
    if (!s) s = hf_int(j, "max_length", f->max_length, 1, 65536, &len, err);
    if (!s) s = hf_int(j, "sampling_rate", 16000, 4000, 192000, &f->sample_rate, err);
    if (!s) s = hf_int(j, "feature_size", 1, 1, 1, &fs, err);
    if (!s) s = hf_float(j, "padding_value", 0, &pad, err);
    if (!s) s = hf_float(j, "mean", -4.2677393, &f->norm_mean, err);
    if (!s) s = hf_float(j, "std", 4.5689974, &f->norm_std, err);
    const json_t *norm = json_object_get(j, "do_normalize");
    if (!s && norm && !json_is_boolean(norm)) s = sail_set_error(err, SAIL_ERR_FORMAT, "config key 'do_normalize' is not a boolean");
    if (!s && norm && json_is_false(norm)) f->norm_std = 0; /* sail_fbank: no normalisation */
    if (!s && f->norm_std < 0) s = sail_set_error(err, SAIL_ERR_FORMAT, "preprocessor_config.json: std %g is negative", f->norm_std);
    if (!s && pad != 0)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: padding_value %g; sail pads with 0", pad);
    if (!s && (bins != f->num_mel_bins || len != f->max_length))
        s = sail_set_error(err, SAIL_ERR_FORMAT,
                           "preprocessor_config.json makes %d mel bins x %d frames but config.json's model takes "
                           "%d x %d (num_mel_bins, max_length)", bins, len, f->num_mel_bins, f->max_length);
    json_decref(j);
    return s;
}
