/* compose.c: a fused sail model from pretrained towers (compose.h). The
 * model is assembled as a trainable model (the fresh parts drawn exactly as
 * sail_tmodel_new draws them), the towers' tensors (and a kept fusion's)
 * copied over by name, and saved like any trained model. */
#include "common.h"

#include "kernels/numfmt.h"
#include "model/model.h"
#include "tmodel.h"

#include <stdio.h>
#include <string.h>

/* Why the text tower of c cannot run in a fused sail model, or NULL. The
 * fused forward runs BERT's, RoBERTa's (CLAP's: BERT's layers, positions
 * from an offset, GPT-2 BPE), CLIP's and SigLIP's layouts
 * (sail_has_layout): a causal tower hands every real token's state to the
 * fusion, the end-of-text token's (which has seen the whole text) among
 * them; SigLIP's runs its texts padded to the context, pads attended, and
 * hands every position's state over, the last (the one SigLIP pools) among
 * them. Its text head (pooler, projection) is the imported model's pooling
 * and is left behind. */
static const char *text_unfit(const sail_config *c) {
    const sail_towers *t = &c->towers;
    if (!t->on) return NULL;
    if (!t->has_text) return "it has no text tower";
    return NULL;
}

/* Why the vision tower of c cannot run in a fused sail model, or NULL.
 * Without a class token (SigLIP) the fusion sees the patch tokens; the
 * attention-pooling head is the imported model's pooling, left behind. */
static const char *vision_unfit(const sail_config *c) {
    const sail_towers *t = &c->towers;
    if (!t->on) return NULL;
    if (!t->has_vision) return "it has no vision tower";
    return NULL;
}

/* Why the audio tower of c cannot run in a fused sail model, or NULL. An
 * AST's or CLAP's HTSAT (its front end with it) is taken; HTSAT's
 * projection is the imported model's head, left behind for fuse.aud_proj. */
static const char *audio_unfit(const sail_config *c) {
    return sail_has_audio(c) ? NULL : "it has no audio tower";
}

/* Why the fusion of f cannot be kept over towers t and v, or NULL. */
static const char *fusion_unfit(const sail_config *f, const sail_config *t, const sail_config *v) {
    if (f->towers.on) return "it is an imported model (no fusion layers)";
    if (f->text.width != t->text.width || f->vision.width != v->vision.width)
        return "its text and vision widths differ from the towers' (its projections would not fit)";
    return NULL;
}

/* The encoder layout of c's towers as a fused model carries it: the file's
 * flags where it has them, else BERT text and ViT vision. */
static void compose_layout(sail_towers *out, const sail_config *t, const sail_config *v) {
    const sail_towers *tt = &t->towers, *vt = &v->towers;
    out->layout = 1;
    out->bpe = tt->bpe;
    out->spm = tt->spm;
    out->text_padded = sail_text_padded(t);
    out->text_causal = sail_has_layout(t) && tt->text_causal;
    out->text_emb_norm = sail_text_emb_norm(t);
    out->text_final_norm = sail_has_layout(t) && tt->text_final_norm;
    out->text_pos_offset = tt->text_pos_offset;
    out->vision_pre_norm = sail_has_layout(v) && vt->vision_pre_norm;
    out->patch_bias = sail_patch_bias(v);
    out->vision_no_cls = sail_has_layout(v) && vt->vision_no_cls;
}

/* The composed configuration: T's text side, V's vision side, A's audio
 * tower (A may be NULL: o->audio_config's, or none), F's fusion (F may be
 * NULL: new). */
static sail_status compose_config(const sail_compose_opts *o, const sail_config *t, const sail_config *v,
                                  const sail_config *a, const sail_config *f, sail_config *c, sail_error *err) {
    memset(c, 0, sizeof *c);
    if (o->name && (!*o->name || strlen(o->name) >= sizeof c->name))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the model name must be 1 to %zu bytes",
                              sizeof c->name - 1);
    snprintf(c->name, sizeof c->name, "%s", o->name ? o->name : "sail-composed");
    c->text = t->text;
    c->vocab_size = t->vocab_size;
    c->max_positions = t->max_positions;
    c->type_vocab = t->type_vocab;
    c->context = t->context;
    c->pad_id = t->pad_id, c->unk_id = t->unk_id, c->cls_id = t->cls_id, c->sep_id = t->sep_id;
    c->vision = v->vision;
    c->image_size = v->image_size;
    c->patch_size = v->patch_size;
    c->pre_size = v->pre_size;
    c->pre_crop = v->pre_crop;
    c->crop_floor = v->crop_floor;
    c->resample = v->resample;
    memcpy(c->mean, v->mean, sizeof c->mean);
    memcpy(c->std, v->std, sizeof c->std);
    compose_layout(&c->towers, t, v);
    sail_status s = a ? SAIL_OK : o->audio_config ? sail_audio_preset(&c->audio, o->audio_config, err) : SAIL_OK;
    if (a) c->audio = a->audio, c->swin = a->swin;
    if (f) {
        c->fusion = f->fusion;
        c->perceiver_latents = f->perceiver_latents;
        c->pooling = f->pooling;
        c->dim = f->dim;
    } else {
        int df = o->fusion_width ? o->fusion_width : SAIL_MAX(t->text.width, v->vision.width);
        int heads = df % 64 == 0 ? df / 64 : df % 32 == 0 ? df / 32 : 1; /* heads of 64 (or 32) */
        c->fusion = (sail_tower){o->fusion_layers, df, heads, 4 * df, 1e-6f, SAIL_ACT_GELU, 1};
        c->perceiver_latents = o->perceiver_latents;
        c->pooling = SAIL_POOL_MEAN;
        c->dim = o->dim;
    }
    return s ? s : sail_config_validate(c, err);
}

/* The audio projection into the fusion (fuse.aud_proj) adapts one audio
 * tower: it comes with the tower (copy_audio asks for it by name), never
 * with a kept fusion's "fuse." tensors. */
static int is_aud_proj(const char *name) { return !strncmp(name, "fuse.aud_proj.", 14); }

/* Tensors of tm whose names start with prefix, from the file of m. A kept
 * fusion's modality table may have a row fewer (no audio row: it stays
 * fresh) or one more (an audio row, left behind with the model's audio
 * tower; the rows are text, image, audio). With optional, a tensor m lacks
 * or holds in another shape stays fresh. */
static sail_status copy_part(sail_tmodel *tm, const sail_model *m, const char *prefix, int optional,
                             sail_error *err) {
    size_t np = strlen(prefix);
    for (int i = 0; i < tm->n_tensors; i++) {
        const sail_tparam *p = &tm->tensors[i];
        if (strncmp(p->name, prefix, np) || (is_aud_proj(p->name) && !is_aud_proj(prefix))) continue;
        const gguf_tensor *t = gguf_find_tensor(m->file, p->name);
        uint64_t n = 1, want = (uint64_t)(p->rows * p->cols);
        for (uint32_t d = 0; t && d < t->n_dims; d++) n *= t->ne[d];
        int row_off = t && !strcmp(p->name, "fuse.modality") &&
                      (n + (uint64_t)p->cols == want || n == want + (uint64_t)p->cols);
        if (optional && (!t || n != want)) continue;
        if (!t || (n != want && !row_off))
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s: tensor %s is %s", m->path, p->name,
                                  t ? "of another shape" : "missing");
        sail_dequantize_row(t->type, tm->params + p->offset, t->data, (size_t)SAIL_MIN(n, want));
    }
    return SAIL_OK;
}

/* The audio tower of m, and its projection into the fusion when m is a
 * fused sail model whose projection fits (an imported AST or CLAP has
 * none: it starts fresh). */
static sail_status copy_audio(sail_tmodel *tm, const sail_model *m, sail_error *err) {
    sail_status s = copy_part(tm, m, m->cfg.swin.on ? "audio." : "aud.", 0, err);
    return s ? s : copy_part(tm, m, "fuse.aud_proj.", 1, err);
}

/* A kept fusion: its layers, head and temperature (and the Matryoshka
 * prefixes it was trained with). */
static sail_status copy_fusion(sail_tmodel *tm, const sail_model *m, sail_error *err) {
    sail_status s = copy_part(tm, m, "fuse.", 0, err);
    if (!s) s = copy_part(tm, m, "head.", 0, err);
    if (!s && m->cfg.has_logit_scale) tm->params[tm->tensors[tm->n_tensors - 1].offset] = m->cfg.logit_scale;
    tm->n_trained_dims = m->n_trained_dims;
    for (int i = 0; i < m->n_trained_dims; i++) tm->trained_dims[i] = m->trained_dims[i];
    return s;
}

sail_status sail_compose(const sail_compose_opts *o, const char *path, sail_error *err) {
    if (!o || !o->text || !o->vision || !path)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "compose needs a text model, a vision model and an output");
    if (o->fusion_layers < 0 || o->fusion_layers > 64 || o->dim < 1 || o->dim > 8192 || o->fusion_width < 0 ||
        o->perceiver_latents < 0 || o->perceiver_latents > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "compose: fusion layers 0..64, dim 1..8192, "
                              "perceiver latents 0..1024");
    sail_load_options lo = {.n_threads = 1, .no_repack = 1}; /* tensors are copied, not run */
    sail_model *mt = sail_model_load(o->text, &lo, err);
    sail_model *mv = mt ? sail_model_load(o->vision, &lo, err) : NULL;
    sail_model *ma = mv && o->audio ? sail_model_load(o->audio, &lo, err) : NULL;
    sail_model *mf = mv && (ma || !o->audio) && o->fusion ? sail_model_load(o->fusion, &lo, err) : NULL;
    sail_status s = mv && (ma || !o->audio) && (mf || !o->fusion) ? SAIL_OK : (err ? err->status : SAIL_ERR_IO);
    const char *why = NULL;
    if (!s && (why = text_unfit(&mt->cfg)))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: its text tower cannot be composed: %s", o->text, why);
    if (!s && (why = vision_unfit(&mv->cfg)))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: its vision tower cannot be composed: %s", o->vision, why);
    if (!s && ma && (why = audio_unfit(&ma->cfg)))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: its audio tower cannot be composed: %s", o->audio, why);
    if (!s && mf && (why = fusion_unfit(&mf->cfg, &mt->cfg, &mv->cfg)))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: its fusion cannot be kept: %s", o->fusion, why);
    sail_config c;
    if (!s) s = compose_config(o, &mt->cfg, &mv->cfg, ma ? &ma->cfg : NULL, mf ? &mf->cfg : NULL, &c, err);
    sail_tmodel *tm = NULL;
    if (!s && !(tm = sail_tmodel_new(&c, o->seed, 1, err))) s = err ? err->status : SAIL_ERR_NOMEM;
    if (!s && !o->scratch) s = copy_part(tm, mt, "text.", 0, err);
    if (!s && !o->scratch) s = copy_part(tm, mv, "vis.", 0, err);
    if (!s && !o->scratch && ma) s = copy_audio(tm, ma, err);
    if (!s && !o->scratch && mf) s = copy_fusion(tm, mf, err);
    sail_vocab_kv v = {0};
    if (!s) s = sail_vocab_kv_read(mt->file, &mt->cfg, &v, err);
    if (!s) s = sail_tmodel_save(tm, &v, path, err);
    sail_vocab_kv_free(&v);
    sail_tmodel_free(tm);
    sail_model_free(mt);
    sail_model_free(mv);
    sail_model_free(ma);
    sail_model_free(mf);
    return s;
}
