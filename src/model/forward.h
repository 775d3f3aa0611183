/* forward.h: the model's forward pass over a batch, with the record of its
 * activations that training keeps (fwd->keep) for src/train's backward.
 * Inference runs the same code with keep = 0 and reads only out.
 *
 * A sail model: text -> BERT layers; patches -> ViT layers; a spectrogram
 * -> its ViT, pooled to one token; all projected to the fusion width,
 * tagged by modality, images optionally compressed (perceiver), fused,
 * pooled, projected, L2-normalised. An imported model
 * ("towers"): the one modality present is encoded, pooled, optionally
 * pooled through tanh(dense), projected and L2-normalised on its own. */
#ifndef SAIL_FORWARD_H
#define SAIL_FORWARD_H

#include "layers.h"

/* A ViT's record (vision or audio tower). */
typedef struct fwd_vit {
    int n;                      /* inputs (images or clips) */
    int T;                      /* tokens each: prefix + patches; 0: the tower did not run */
    float *patches;             /* (n*np, C*p*p) unfolded (training) */
    float *emb;                 /* (n*T, d) [CLS; DIST;] patches + positions */
    float *x0;                  /* (n*T, d) first block's input (emb after a pre-LN) */
    fwd_block *enc;             /* [layers] */
    float *h;                   /* (n*T, d) after the final LN */
} fwd_vit;

/* One bottleneck of HTSAT's attentional feature fusion (model/swin.c's
 * aff_branch) over rows of embed values; inference aliases r = u, y = v. */
typedef struct fwd_aff_branch {
    float *u;                   /* (rows, ch) the first 1x1 convolution's output */
    float *r;                   /* (rows, ch) after its BatchNorm and ReLU */
    float *v;                   /* (rows, embed) the second convolution's output */
    float *y;                   /* (rows, embed) after its BatchNorm */
} fwd_aff_branch;

/* A fused HTSAT's fusion (enable_fusion), clip after clip. */
typedef struct fwd_aff {
    float *others;              /* (n*3*g*w3, 3p*p) the other three spectrograms' (p, 3p) patches */
    float *tok;                 /* (n*g*g, embed) the first's patch tokens before the fusion */
    float *l;                   /* (n*g*g, embed) the others' tokens side by side, zero-padded */
    float *sum;                 /* (n*g*g, embed) tok + l */
    float *mean;                /* (n, embed) sum's mean over each clip's tokens */
    fwd_aff_branch loc;         /* rows n*g*g, from sum */
    fwd_aff_branch glob;        /* rows n, from mean */
} fwd_aff;

/* HTSAT's record (model/swin.c), kept when its tower trains. */
typedef struct fwd_swin {
    int n;                      /* clips; 0: the tower did not run */
    const float *spec;          /* (n, 1 or 4 (fused), mel bins, frames) the input, the BatchNorm's */
    float *patches;             /* (n*g*g, p*p) each (first) image's patches */
    float *emb;                 /* (n*g*g, embed) the patch linear's output (fused: the fusion's) */
    fwd_aff aff;                /* fused models */
    float *x0;                  /* (n*g*g, embed) the first block's input (emb after the patch LN) */
    fwd_block *blk;             /* [sum of depths]; p: (windows, heads, w*w, w*w) */
    float *cat[SAIL_SWIN_MAX_STAGES];   /* (rows/4, 4 d_s) each merging's 2x2 concat */
    float *catn[SAIL_SWIN_MAX_STAGES];  /* (rows/4, 4 d_s) after its LayerNorm */
    float *h;                   /* (n*r*r, hidden) after the final LayerNorm */
} fwd_swin;

typedef struct fwd_acts {
    int n;
    /* text (T = 0 without texts) */
    int T;
    uint8_t *tmask;             /* (n, T) real tokens */
    int32_t *ids;               /* (n*T) ids, pad_id past each text's end */
    float *temb;                /* (n*T, dt) token + position (+ type), before any LN */
    float *tx0;                 /* (n*T, dt) first block's input (temb after the LN) */
    fwd_block *tenc;            /* [text.layers] */
    float *ht;                  /* (n*T, dt) tower output (after a final LN) */
    /* vision (vis.T = 0 without images) */
    int nv;                     /* images: n * frames per item */
    fwd_vit vis;
    /* audio (aud.T = 0 without clips) */
    fwd_vit aud;
    fwd_swin swin;              /* or HTSAT's (trained: kept) */
    float *apool;               /* fused models: (n, da) each clip's pooled tokens */
    /* fusion: sail models */
    float *tproj, *vproj;       /* (n*T, df), (nv*vis.T, df) projections to the fusion width */
    fwd_block perc;             /* perceiver over vproj (each image alone), when configured */
    int Sv, Sa, S;              /* image rows of an item's sequence (all its frames, one
                                   after another), then its audio rows (0 or 1), its length */
    uint8_t *mask;              /* (n, S) */
    float *seq;                 /* (n*S, df) fusion input, modality added */
    fwd_block *fuse;            /* [fusion.layers] */
    float *y;                   /* (n*S, df) final fusion LN */
    float *z;                   /* mean_tanh: (n*S, df) tanh(y) */
    /* head */
    int pool_d;                 /* width of pooled: df, or an imported tower's */
    int32_t *pool_row;          /* towers, CLS / EOS pooling: the row taken, per item */
    float *pooled;              /* (n, pool_d) */
    float *pooler;              /* towers with a pooler: tanh(dense(pooled)) (n, pool_d) */
    float *mid;                 /* towers with a two-layer projection (CLAP's): ReLU(proj) (n, dim) */
    fwd_block map;              /* towers with a MAP head: its record; out = pooled */
    float *e;                   /* (n, dim) before L2 */
    float *out;                 /* (n, dim) L2-normalised */
} fwd_acts;

/* Check a batch against the model (token ids in the vocabulary, lengths,
 * image sides multiples of the patch, modalities the model has). */
sail_status fwd_check(const sail_config *c, const sail_batch *b, sail_error *err);

/* Run a checked batch; s receives the activations (all of them when
 * f->keep), out (n, dim) the L2-normalised vectors (may be NULL in keep
 * mode: s->out). Errors: out of memory only. */
sail_status fwd_model(fwd *f, const sail_batch *b, fwd_acts *s, float *out, sail_error *err);

/* The output of a tower of L blocks with input x0. */
static inline const float *fwd_tower_out(const fwd_block *b, int L, const float *x0) {
    return L ? b[L - 1].out : x0;
}

#endif
