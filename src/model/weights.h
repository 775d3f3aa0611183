/* weights.h: the parameter tensors of a sail model, their names in the model
 * file and one walk over them shared by loading, initialisation, training
 * and `info`. The float pointers are f32, row-major, into the mmap-ed file
 * (or a training / init buffer); shapes are given as (rows, cols).
 *
 * A loaded model's weight matrices and embedding tables may be stored as
 * F16, BF16 or Q8_0: inference reads them through the sail_wmat views (used
 * in place, in their stored type) and the float pointer of such a tensor is
 * NULL. 1-D tensors (norms, biases) are always f32. */
#ifndef SAIL_WEIGHTS_H
#define SAIL_WEIGHTS_H

#include "config.h"
#include "kernels/kernels.h"
#include "rng.h"

typedef struct sail_linear {
    const float *w;   /* (out, in): a PyTorch Linear weight, when f32 */
    const float *b;   /* (out) */
    sail_wmat wm;     /* (out, in) as the file stores it (inference) */
    /* a LoRA adapter (training only): y += lscale * (x A^T) B^T */
    const float *la;  /* (rank, in) A, or NULL */
    const float *lb;  /* (out, rank) B */
    int rank;
    float lscale;     /* alpha / rank */
    /* q8_0 (and on AMX bf16) wm: where its panels go (model.c reserves them
     * at load), filled at the second GEMM that reads them (layers.c,
     * pack_linear), which then sets wm.packed; NULL: wm is read as stored.
     * The first GEMM packs as it goes, as without panels, so a model used
     * once (one command, one text) pays nothing for them. */
    void *pack_to;
    int gemms;        /* GEMMs that read panels so far, counted until wm.packed is set */
} sail_linear;

typedef struct sail_norm {
    const float *w, *b; /* (width) */
} sail_norm;

typedef struct sail_block {
    sail_linear qkv;    /* (3d, d): rows q, k, v */
    sail_linear out;    /* (d, d) */
    sail_norm norm1;    /* pre-norm: before attention; post-norm: after it */
    sail_linear up;     /* (ffn, d) */
    sail_linear down;   /* (d, ffn) */
    sail_norm norm2;
} sail_block;

/* A ViT over images or spectrograms (sail_vit_geom): the vision tower and
 * the audio tower. */
typedef struct sail_vit {
    sail_linear patch;       /* (d, C*p*p): conv weight flattened (c, ky, kx) */
    const float *cls;        /* (d), or NULL */
    const float *dist;       /* (d) distillation token, or NULL */
    const float *pos;        /* (prefix + gh*gw, d): sail_vit_prefix, sail_vit_grid */
    sail_norm pre;           /* before the first layer (CLIP pre_layrnorm), when the geometry says */
    sail_block *blocks;      /* [tower.layers] */
    sail_norm norm;          /* final */
    sail_wmat tab_pos;       /* pos as the file stores it; inference decodes rows */
} sail_vit;

typedef struct sail_weights {
    /* text encoder */
    const float *tok_emb;    /* (vocab, dt) */
    const float *pos_emb;    /* (max_positions, dt) */
    const float *type_emb;   /* (type_vocab, dt) */
    sail_norm emb_norm;
    sail_block *text;        /* [text.layers] */
    sail_vit vis;            /* vision encoder ("vis.*") */
    sail_vit aud;            /* audio encoder ("aud.*") */
    /* fusion */
    sail_linear text_proj;   /* (df, dt) */
    sail_linear vis_proj;    /* (df, dv) */
    sail_linear aud_proj;    /* (df, da): the audio tower's pooled output, one token */
    const float *modality;   /* (2 or 3, df): row 0 image, 1 text, 2 audio (models with audio) */
    const float *latents;    /* (n_latents, df) or NULL */
    sail_norm perc_norm_kv;  /* on the image tokens (keys, values) */
    sail_block perc;         /* cross-attention: norm1 on the latents (queries),
                                norm2 before its FFN */
    sail_block *fusion;      /* [fusion.layers] */
    sail_norm fuse_norm;
    sail_linear head;        /* (dim, df) */
    /* imported ("towers") models only; a NULL bias means none */
    sail_norm text_final;    /* after the last text layer (CLIP final_layer_norm) */
    sail_linear text_pooler; /* (dt, dt) BERT pooler, tanh */
    sail_linear text_out;    /* (dim, dt) text projection, no bias */
    sail_linear text_out2;   /* (dim, dim) after ReLU (towers.text_proj_mlp, CLAP) */
    sail_linear vis_pooler;  /* (dv, dv) ViT pooler, tanh */
    sail_linear vis_out;     /* (dim, dv) visual projection, no bias */
    const float *vis_probe;  /* (dv) MAP head: the learned query (SigLIP) */
    sail_block vis_map;      /* MAP head: qkv = in_proj, out = out_proj, norm2 = its
                                LayerNorm, up / down = its MLP; norm1 unused */
    const float *logit_bias; /* (1) sigmoid loss bias (SigLIP), or NULL */
    struct sail_swin_weights *swin; /* an HTSAT audio tower (c->swin.on), else NULL */
    /* the tables above as the file stores them; inference decodes rows */
    struct {
        sail_wmat tok, pos, type, modality, latents;
    } tab;
} sail_weights;

/* CLAP's audio encoder (model/swin.h). */
struct sail_swin_weights;

typedef enum sail_init_kind { SAIL_INIT_NORMAL, SAIL_INIT_ZERO, SAIL_INIT_ONE } sail_init_kind;

/* Called once per tensor: name, shape (rows, cols; rows = 1 for vectors),
 * the slot to fill and how it would be initialised. Returns non-zero to stop. */
typedef sail_status (*sail_weight_visitor)(void *ctx, const char *name, int64_t rows,
                                           int64_t cols, const float **slot,
                                           sail_init_kind init);

/* The same walk for loading a file: `stored` is where a weight matrix or an
 * embedding table may be kept in its stored type (NULL for 1-D tensors,
 * which must be f32); lin: the Linear layer whose weight it is, which GEMMs
 * read whole (NULL for a table, read by rows). */
typedef sail_status (*sail_weight_loader)(void *ctx, const char *name, int64_t rows,
                                          int64_t cols, const float **slot, sail_wmat *stored,
                                          sail_linear *lin);

/* Fill p (n floats) with a tensor's initial values: 0.02 * N(0, 1) drawn in
 * order from rng, zeros or ones. Shared by sail_model_write_random and the
 * trainable model, so the same seed gives the same weights in both. */
void sail_weights_init_values(float *p, size_t n, sail_init_kind init, sail_rng *rng);

/* Allocate the block arrays of w for c (free with sail_weights_free_blocks). */
sail_status sail_weights_alloc_blocks(sail_weights *w, const sail_config *c, sail_error *err);
void sail_weights_free_blocks(sail_weights *w);

/* Visit every tensor of config c in file order. */
sail_status sail_weights_walk(const sail_config *c, sail_weights *w,
                              sail_weight_visitor fn, void *ctx);
/* A walk in progress, for towers whose tensors are listed by their own
 * code (model/swin.c): the same visits as the list's, by name. stored: as
 * in sail_weight_loader (NULL for 1-D tensors). */
typedef struct sail_walk sail_walk;
void sail_walk_tensor(sail_walk *k, const char *name, int64_t rows, int64_t cols, const float **slot,
                      sail_wmat *stored, sail_init_kind init);
/* pre.what.weight (out, in) and pre.what.bias (out). */
void sail_walk_linear(sail_walk *k, const char *pre, const char *what, int64_t out, int64_t in, sail_linear *l);
/* pre.what.weight and pre.what.bias (d). */
void sail_walk_norm(sail_walk *k, const char *pre, const char *what, int64_t d, sail_norm *nm);

sail_status sail_weights_walk_stored(const sail_config *c, sail_weights *w,
                                     sail_weight_loader fn, void *ctx);

#endif
