/* config.h: a sail model's architecture and hyperparameters, the named
 * presets (tiny, base, large) and their (de)serialisation as GGUF metadata
 * keys under sail.* (see docs/FORMAT.md). */
#ifndef SAIL_CONFIG_H
#define SAIL_CONFIG_H

#include "common.h"
#include "format/gguf.h"
#include "model/swin_cfg.h"

typedef enum sail_act {
    SAIL_ACT_GELU = 0,
    SAIL_ACT_QUICK_GELU = 1,
    SAIL_ACT_GELU_TANH = 2      /* tanh-approximate GELU (gelu_pytorch_tanh, SigLIP) */
} sail_act;
typedef enum sail_pooling { SAIL_POOL_MEAN = 0, SAIL_POOL_MEAN_TANH = 1, SAIL_POOL_CLS = 2 } sail_pooling;

typedef struct sail_tower {
    int layers, width, heads, ffn;
    float eps;
    sail_act act;
    int prenorm;            /* 1: x += f(LN(x)) (ViT); 0: x = LN(x + f(x)) (BERT) */
} sail_tower;

/* How an imported text tower pools its tokens. */
typedef enum sail_text_pool {
    SAIL_TPOOL_CLS = 0,     /* the first token ([CLS]) */
    SAIL_TPOOL_EOS = 1,     /* the end-of-text token (CLIP) */
    SAIL_TPOOL_MEAN = 2,    /* mean over the real tokens */
    SAIL_TPOOL_POOLER = 3,  /* tanh(dense([CLS])), BERT's pooler */
    SAIL_TPOOL_LAST = 4     /* SigLIP: texts padded with pad_id to the context, pads
                               attended, the last position */
} sail_text_pool;

/* An imported model (sail.variant = "towers", docs/FORMAT.md): no fusion;
 * each modality's encoder output is pooled, projected and L2-normalised on
 * its own, as the original model does. Zero for native sail models, except
 * a composed one's layout flags (layout = 1: see sail_has_layout). */
typedef struct sail_towers {
    int on;
    int layout;                 /* a fused (native) model whose encoders follow the layout
                                   flags below: composed from imported towers (CLIP's, say) */
    int has_text, has_vision;   /* a tower with 0 layers is absent */
    int bpe;                    /* text tokenizer: 1 CLIP byte-level BPE, 2 GPT-2's (RoBERTa,
                                   CLAP), 0 WordPiece */
    int spm;                    /* text tokenizer: 1 SigLIP's SentencePiece (tokenizer.ggml.model "spm") */
    int text_causal;            /* causal self-attention (CLIP) */
    int text_emb_norm;          /* LayerNorm after the embeddings (BERT) */
    int text_final_norm;        /* LayerNorm after the last layer (CLIP) */
    sail_text_pool text_pool;
    int text_pool_token;        /* EOS pooling: first position of this id; -1: of the largest id */
    int text_proj, vision_proj; /* a bias-free projection to dim */
    int vision_pre_norm;        /* LayerNorm before the first layer (CLIP pre_layrnorm) */
    int patch_bias;             /* the patch convolution has a bias (ViT) */
    int vision_pooler;          /* tanh(dense(CLS)) after the final norm (ViTModel pooler) */
    int text_proj_bias;         /* the text projection has a bias (SigLIP's text head) */
    int text_proj_mlp;          /* then ReLU and a second (dim, dim) linear with bias (CLAP) */
    int text_pos_offset;        /* position ids start here, not at 0 (RoBERTa: pad_id + 1) */
    int vision_no_cls;          /* no class token: the positions cover the patches only (SigLIP) */
    int vision_map;             /* pool by attention from a learned probe (SigLIP's MAP head) */
    int text_padded;            /* fused (layout) models: texts run at the context, padded with
                                   pad_id, pads attended by the tower and the fusion (SigLIP) */
} sail_towers;

/* An audio tower (AST's layout): a ViT over a spectrogram. The samples
 * become Kaldi fbank features (frames x mel bins), padded or cut to
 * fbank.max_length and normalised as the model's feature extractor does;
 * the tower reads them transposed, as a 1-channel image mel bins high and
 * max_length wide, in patch x patch squares taken every (stride_f,
 * stride_t) bins and frames. It pools its class token, or the mean of the
 * class and distillation tokens. In an imported model it is the model; in
 * a fused one its pooled output is one token of each item's sequence. */
typedef struct sail_audio_cfg {
    sail_tower tower;           /* layers 0: the model has no audio tower */
    int patch, stride_f, stride_t;
    int dist;                   /* a distillation token after the class token (AST, DeiT) */
    sail_fbank_params fbank;
} sail_audio_cfg;

typedef struct sail_config {
    char name[32];
    sail_tower text, vision, fusion;
    int vocab_size, max_positions, type_vocab, context;
    int image_size, patch_size;     /* vision grid = image_size / patch_size */
    int perceiver_latents;          /* 0: image tokens enter fusion directly */
    sail_pooling pooling;
    int dim;                        /* output dimension */
    /* image preprocessing */
    int pre_size, pre_crop;         /* crop 0: squash to pre_size */
    int crop_floor;                 /* crop offset (h - crop) // 2 (Hugging Face); 0: rounded (torchvision) */
    int resample;                   /* sail_resample (PIL numbering) */
    float mean[3], std[3];
    /* tokenizer special ids (from the model file) */
    int pad_id, unk_id, cls_id, sep_id;  /* BPE models: cls = start, sep = end of text */
    sail_towers towers;             /* imported models only */
    sail_audio_cfg audio;           /* the audio tower, when audio.tower.layers > 0 */
    sail_swin_cfg swin;             /* or CLAP's HTSAT audio tower, when swin.on (model/swin.h) */
    int has_logit_scale;            /* sail.logit_scale present */
    float logit_scale;              /* its value: the log of the zero-shot temperature */
    int has_logit_bias;             /* a learned "logit_bias" tensor: sigmoid loss (SigLIP) */
} sail_config;

/* The layout flags of c->towers (bpe, spm, text_causal, text_emb_norm,
 * text_final_norm, text_padded, vision_pre_norm, patch_bias, vision_no_cls)
 * describe the encoders:
 * imported models and fused models composed from imported towers. Other
 * native models have BERT text (embedding LayerNorm, token types) and ViT
 * vision (patch bias), whatever those fields hold. */
static inline int sail_has_layout(const sail_config *c) { return c->towers.on || c->towers.layout; }
/* Texts run at the context length, padded with pad_id, pads attended
 * (SigLIP: imported, or its tower composed into a fused model). */
static inline int sail_text_padded(const sail_config *c) {
    return (c->towers.on && c->towers.text_pool == SAIL_TPOOL_LAST) || (c->towers.layout && c->towers.text_padded);
}
/* LayerNorm after the text embeddings; a patch bias. */
static inline int sail_text_emb_norm(const sail_config *c) { return !sail_has_layout(c) || c->towers.text_emb_norm; }
static inline int sail_patch_bias(const sail_config *c) { return !sail_has_layout(c) || c->towers.patch_bias; }

/* An audio tower: a ViT (AST) or CLAP's HTSAT (swin). */
static inline int sail_has_audio(const sail_config *c) { return c->audio.tower.layers > 0 || c->swin.on; }
/* The width of the audio tower's pooled output (what fuse.aud_proj takes). */
int sail_audio_width(const sail_config *c);
/* Tokens of one clip in the audio tower (its first stage's grid for HTSAT). */
int sail_audio_tokens(const sail_config *c);

/* A ViT over images (the vision tower) or spectrograms (the audio tower):
 * what its forward and backward need to know besides its weights. */
typedef struct sail_vit_geom {
    const sail_tower *t;
    int nc, h, w;               /* input (channels, h, w) at the size its positions were trained for */
    int p, sh, sw;              /* patch side; patches taken every sh x sw (they overlap for audio) */
    int cls, dist;              /* a class token; a distillation token after it */
    int pre_norm, patch_bias;   /* a LayerNorm before the first layer (CLIP); a patch bias */
} sail_vit_geom;

sail_vit_geom sail_vit_vision(const sail_config *c);
sail_vit_geom sail_vit_audio(const sail_config *c);
/* Tokens before the patches; the grid of an h x w input. */
static inline int sail_vit_prefix(const sail_vit_geom *g) { return g->cls + g->dist; }
static inline void sail_vit_grid(const sail_vit_geom *g, int h, int w, int *gh, int *gw) {
    *gh = (h - g->p) / g->sh + 1;
    *gw = (w - g->p) / g->sw + 1;
}
/* Tokens of one input at the trained size. */
static inline int sail_vit_tokens(const sail_vit_geom *g) {
    int gh, gw;
    sail_vit_grid(g, g->h, g->w, &gh, &gw);
    return sail_vit_prefix(g) + gh * gw;
}

/* Fill a preset ("tiny", "base", "large"); vocab_size and the special ids are
 * left for the caller. Returns SAIL_ERR_INVALID_ARG for an unknown name. */
sail_status sail_config_preset(sail_config *c, const char *name, sail_error *err);

/* A fresh audio tower's preset ("tiny": 4 layers of width 256 over 64 mel
 * bins x 5.12 s in 16 x 16 patches; "base": AST's, 12 x 768 over 128 x
 * 10.24 s, patches every 10 x 10, a distillation token) with AST's Kaldi
 * fbank front end. SAIL_ERR_INVALID_ARG for an unknown name. */
sail_status sail_audio_preset(sail_audio_cfg *a, const char *name, sail_error *err);

/* Check internal consistency (heads divide widths, image size divisible by
 * the patch, dims in range); the message names the offending field. */
sail_status sail_config_validate(const sail_config *c, sail_error *err);

sail_status sail_config_read(sail_config *c, const gguf_file *f, sail_error *err);
sail_status sail_config_write(const sail_config *c, gguf_writer *w);

/* Kaldi's name of a window ("hanning", ...), as the model file stores it. */
const char *sail_window_name(sail_window w);

/* "key=value ..." one-line description into buf. */
void sail_config_describe(const sail_config *c, char *buf, size_t cap);

#endif
