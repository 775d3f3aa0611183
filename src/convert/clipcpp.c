/* clipcpp.c: importing clip.cpp's GGUF CLIP files (monatis/clip.cpp,
 * models/convert_hf_to_gguf.py): keys clip.{text,vision}.*, tensors renamed
 * from Hugging Face's (t./v. prefixes, fc1 stored as "ffn_down" and fc2 as
 * "ffn_up"), 2-D weights and the patch convolution often F16. The files
 * carry the vocabulary but no BPE merges, so the original merges.txt is
 * needed; they carry no logit_scale either. */
#include "convert.h"

#include "text/wordpiece.h"

#include <stdio.h>
#include <string.h>

static const hf_block_names clipcpp_block = {
    "attn_q", "attn_k", "attn_v", "attn_out", "ln1",
    "ffn_down", "ffn_up",   /* clip.cpp's names for fc1 and fc2 */
    "ln2"};

static const hf_name clipcpp_names[] = {
    {"text.tok_emb", "t.token_embd.weight", 0},
    {"text.pos_emb", "t.position_embd.weight", 0},
    {"text.final_norm.weight", "t.post_ln.weight", 0},
    {"text.final_norm.bias", "t.post_ln.bias", 0},
    {"text.proj.weight", "text_projection.weight", 0},
    {"vis.patch.weight", "v.patch_embd.weight", 4},
    {"vis.cls", "v.class_embd", 0},
    {"vis.pos", "v.position_embd.weight", 0},
    {"vis.pre_norm.weight", "v.pre_ln.weight", 0},
    {"vis.pre_norm.bias", "v.pre_ln.bias", 0},
    {"vis.norm.weight", "v.post_ln.weight", 0},
    {"vis.norm.bias", "v.post_ln.bias", 0},
    {"vis.proj.weight", "visual_projection.weight", 0},
};

typedef struct reader { const gguf_file *f; sail_error *err; sail_status s; } reader;

static void u32(reader *r, const char *key, int *out) {
    int32_t v = 0;
    if (!r->s) r->s = gguf_get_i32(r->f, key, &v, r->err);
    if (!r->s) *out = v;
}

static void tower(reader *r, const char *pre, sail_act act, sail_tower *t) {
    char k[96];
#define KEY(x) (snprintf(k, sizeof k, "clip.%s.%s", pre, x), k)
    u32(r, KEY("block_count"), &t->layers);
    u32(r, KEY("embedding_length"), &t->width);
    u32(r, KEY("attention.head_count"), &t->heads);
    u32(r, KEY("feed_forward_length"), &t->ffn);
    if (!r->s) r->s = gguf_get_f32(r->f, KEY("attention.layer_norm_epsilon"), &t->eps, r->err);
#undef KEY
    t->act = act;
    t->prenorm = 1;
}

static sail_status config(const gguf_file *f, hf_model *m, sail_error *err) {
    reader r = {f, err, SAIL_OK};
    sail_config *c = &m->cfg;
    sail_towers *t = &c->towers;
    memset(m, 0, sizeof *m);
    char arch[16];
    int gelu = 0, tdim = 0, vdim = 0;
    r.s = gguf_get_str(f, "general.architecture", arch, sizeof arch, err);
    if (!r.s && strcmp(arch, "clip"))
        r.s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "general.architecture is '%s'; a clip.cpp file says 'clip'", arch);
    if (!r.s) r.s = gguf_get_bool(f, "clip.has_text_encoder", &t->has_text, err);
    if (!r.s) r.s = gguf_get_bool(f, "clip.has_vision_encoder", &t->has_vision, err);
    if (!r.s) r.s = gguf_get_bool(f, "clip.use_gelu", &gelu, err);
    sail_act act = gelu ? SAIL_ACT_GELU : SAIL_ACT_QUICK_GELU; /* clip.cpp uses one for both towers */
    if (t->has_text) {
        tower(&r, "text", act, &c->text);
        u32(&r, "clip.text.context_length", &c->max_positions);
        u32(&r, "clip.text.projection_dim", &tdim);
        const gguf_kv *kv = gguf_find_kv(f, "tokenizer.ggml.tokens");
        if (!r.s && (!kv || kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_STRING || kv->v.arr.n > (1u << 24)))
            r.s = sail_set_error(err, SAIL_ERR_FORMAT, "tokenizer.ggml.tokens (the vocabulary) is missing");
        if (!r.s) c->vocab_size = (int)kv->v.arr.n;
        c->context = c->max_positions;
        t->bpe = t->text_causal = t->text_final_norm = t->text_proj = 1;
        t->text_pool = SAIL_TPOOL_EOS;
        t->text_pool_token = -1; /* OpenAI's argmax: clip.cpp records no eos id */
    }
    if (t->has_vision) {
        tower(&r, "vision", act, &c->vision);
        u32(&r, "clip.vision.image_size", &c->image_size);
        u32(&r, "clip.vision.patch_size", &c->patch_size);
        u32(&r, "clip.vision.projection_dim", &vdim);
        if (!r.s) r.s = gguf_get_f32_array(f, "clip.vision.image_mean", c->mean, 3, err);
        if (!r.s) r.s = gguf_get_f32_array(f, "clip.vision.image_std", c->std, 3, err);
        c->pre_size = c->pre_crop = c->image_size;  /* CLIP's resize + centre crop, bicubic */
        c->resample = 3;
        t->vision_pre_norm = t->vision_proj = 1;
    }
    if (r.s) return r.s;
    if (t->has_text && t->has_vision && tdim != vdim)
        return sail_set_error(err, SAIL_ERR_FORMAT, "text projection_dim %d differs from the vision one %d", tdim, vdim);
    c->dim = t->has_text ? tdim : vdim;
    t->on = 1;
    snprintf(c->name, sizeof c->name, "clip-cpp");
    m->map = (hf_map){
        .prefix = "",
        .text_layer = "t.blk.%d.", .text_block = &clipcpp_block,
        .vis_layer = "v.blk.%d.", .vis_block = &clipcpp_block,
        .fixed = clipcpp_names, .n_fixed = (int)(sizeof clipcpp_names / sizeof *clipcpp_names),
    };
    return SAIL_OK;
}

/* The file's tensors as checkpoint tensors: GGUF's ne reversed is the
 * PyTorch shape. */
static sail_status source(hf_source *src, gguf_file *f, sail_error *err) {
    memset(src, 0, sizeof *src);
    src->gg = f;
    size_t n = (size_t)f->n_tensors;
    src->gt = sail_calloc(n ? n : 1, sizeof *src->gt);
    src->t = sail_calloc(n ? n : 1, sizeof *src->t);
    src->used = sail_calloc(n ? n : 1, 1);
    if (!src->gt || !src->t || !src->used) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *g = &f->tensors[i];
        sail_st_tensor *t = &src->gt[i];
        if (g->type != GGUF_T_F32 && g->type != GGUF_T_F16)
            return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "tensor '%.*s' is %s; sail imports F32 and F16 clip.cpp files",
                                  (int)SAIL_MIN(g->name.len, 200), g->name.ptr, gguf_type_name(g->type));
        if (!(t->name = sail_malloc(g->name.len + 1))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        memcpy(t->name, g->name.ptr, g->name.len);
        t->name[g->name.len] = 0;
        t->dtype = g->type == GGUF_T_F32 ? SAIL_ST_F32 : SAIL_ST_F16;
        t->n_dims = (int)g->n_dims;
        for (uint32_t d = 0; d < g->n_dims; d++) t->shape[d] = (int64_t)g->ne[g->n_dims - 1 - d];
        t->data = g->data;
        t->nbytes = g->nbytes;
        src->t[src->n++] = t;
    }
    return SAIL_OK;
}

typedef struct cc_tok { const gguf_file *f; const char *merges; } cc_tok;

static sail_status tokenizer(void *ctx, sail_config *c, gguf_writer *w, sail_error *err) {
    const cc_tok *t = ctx;
    const gguf_kv *kv = gguf_find_kv(t->f, "tokenizer.ggml.tokens");
    int n = c->vocab_size;
    char **toks = sail_calloc(n ? (size_t)n : 1, sizeof *toks);
    sail_status s = toks ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < n; i++) {
        gguf_str g = kv->v.arr.strs[i];
        if (!(toks[i] = sail_malloc(g.len + 1))) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        else memcpy(toks[i], g.ptr, g.len), toks[i][g.len] = 0;
    }
    if (!s) s = hf_bpe_write(c, w, toks, n, t->merges, NULL, SAIL_BPE_CLIP, err);
    if (toks) sail_vocab_free(toks, n);
    return s;
}

sail_status hf_clipcpp_convert(const char *path, const char *out, const sail_convert_options *o,
                               sail_error *err) {
    if (o->pool) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--pool does not apply to CLIP models");
    gguf_file *f = gguf_open(path, err);
    if (!f) return err ? err->status : SAIL_ERR_FORMAT;
    hf_model hm;
    hf_source src = {0};
    sail_status s = config(f, &hm, err);
    if (!s && hm.cfg.towers.has_text && !o->merges)
        s = sail_set_error(err, SAIL_ERR_INVALID_ARG,
                           "clip.cpp files carry no BPE merges: pass --merges with the model's merges.txt "
                           "(from the original Hugging Face folder)");
    if (s) {
        gguf_close(f);
        return s;
    }
    s = source(&src, f, err);   /* src owns f from here */
    cc_tok ct = {f, o->merges};
    if (!s) s = hf_emit(&hm, &src, tokenizer, &ct, "clip.cpp GGUF", out, err);
    hf_source_close(&src);
    return s;
}
