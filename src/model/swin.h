/* swin.h: HTSAT, CLAP's audio encoder (Hugging Face ClapAudioEncoder). A clip's log-mel spectrogram
 * (n_mels x frames) is batch-normalised per mel bin, stretched in time to
 * spec * (spec / n_mels) frames (bicubic, align_corners) and folded into a
 * spec x spec image (reshape_mel2img); a patch convolution (+ LayerNorm)
 * makes a grid of tokens; each stage runs Swin blocks (window attention
 * with a relative position bias, every other block on windows shifted by
 * half a window with the attention mask of the wrapped regions) and, but
 * the last, a patch merging (2x2 neighbours concatenated, LayerNorm,
 * linear to twice the width); a final LayerNorm and the mean over the
 * tokens give pooler_output, which the projection (linear, ReLU, linear)
 * takes to the shared space. With enable_fusion=True a clip gives four
 * spectrograms (crops of a long clip and the whole one shrunk, or four
 * copies of a short one): the first's patches are fused with the other
 * three's (a (p, 3p) convolution of each, side by side) by attentional
 * feature fusion (AFF: 2 g w + 2 l (1 - w), w the sigmoid of a per-token
 * and a whole-grid 1x1-conv / BatchNorm / ReLU bottleneck).
 * Training keeps the forward's activations in a fwd_swin (the fusion's
 * in its fwd_aff); the backward is src/train/swin_backward.c.
 * docs/AUDIO.md has the conversion. */
#ifndef SAIL_SWIN_H
#define SAIL_SWIN_H

#include "forward.h"

#include <math.h>

/* One Swin block: the sail_block fields as a pre-norm block (norm1
 * layernorm_before, qkv query/key/value, out, norm2 layernorm_after, up,
 * down) and its relative position bias table ((2w-1)^2, heads). */
typedef struct sail_swin_block {
    sail_block b;
    const float *rel;           /* ((2w-1)^2, heads) when f32 */
    sail_wmat rel_m;            /* as stored */
} sail_swin_block;

#define SAIL_SWIN_BN_EPS 1e-5f  /* nn.BatchNorm2d's default, which ClapAudioEncoder keeps */

/* A BatchNorm in eval mode: (x - mean) / sqrt(var + eps) * w + b per channel. */
typedef struct sail_swin_bn {
    const float *w, *b, *mean, *var;  /* (channels) */
} sail_swin_bn;

/* Attentional feature fusion (ClapAudioAFFBlock): 1x1 convolutions as
 * linear layers, each followed by its BatchNorm. */
typedef struct sail_swin_aff {
    sail_linear mel_conv;       /* (embed, p*3p) Conv2d(1, embed, (p, 3p), stride (p, 3p)) */
    sail_linear local1, local2, global1, global2;   /* (c, embed), (embed, c) twice */
    sail_swin_bn local_bn1, local_bn2, global_bn1, global_bn2;
} sail_swin_aff;

typedef struct sail_swin_weights {
    sail_swin_bn bn;            /* (n_mels) BatchNorm2d over mel bins */
    sail_linear patch;          /* (embed, p*p) Conv2d(1, embed, p, stride p) */
    sail_swin_aff aff;          /* cfg.fusion only */
    sail_norm patch_norm;       /* (embed) */
    sail_swin_block *blocks;    /* [sum of depths], stage by stage */
    sail_norm merge_norm[SAIL_SWIN_MAX_STAGES];   /* (4 d_s) before each stage's merging */
    sail_linear merge[SAIL_SWIN_MAX_STAGES];      /* (2 d_s, 4 d_s), no bias */
    sail_norm norm;             /* (hidden) final LayerNorm */
    sail_linear proj1, proj2;   /* (dim, hidden), (dim, dim): the audio projection */
} sail_swin_weights;

/* The blocks array of w (free with sail_swin_free). */
sail_status sail_swin_alloc(sail_swin_weights **w, const sail_config *c, sail_error *err);
void sail_swin_free(sail_swin_weights *w);
/* Visit every HTSAT encoder tensor (names audio.*) in file order, up to
 * its final LayerNorm; the projection (proj1, proj2) is the imported
 * model's head, walked by weights.c (a fused model has fuse.aud_proj). */
void sail_swin_walk(sail_walk *k, const sail_config *c, sail_swin_weights *w);
/* Point the stored views (the bias tables) at the f32 slots the walk
 * filled: a trainable model's parameters. */
void sail_swin_f32_views(sail_swin_weights *w, const sail_config *c);

/* The encoder over b->spec (b->n spectrograms, or b->n times 4 fused),
 * pooled into s->pooled (n, hidden), s->pool_d = hidden. With f->keep
 * s->swin records every activation the backward reads. */
void sail_swin_forward(fwd *f, const sail_batch *b, fwd_acts *s);

/* Shared by the forward and src/train's backward: */
/* The fusion's weight of the first spectrogram's token from the local and
 * global bottlenecks' outputs: sigmoid(la + ga). */
static inline float sail_swin_aff_weight(float la, float ga) { return 1.0f / (1.0f + expf(-(la + ga))); }
/* The sail_tower of stage s: its width, heads, MLP, pre-norm. */
sail_tower sail_swin_stage(const sail_swin_cfg *c, int s);
/* Block j's cyclic shift on an r x r grid: half a window on odd blocks,
 * none when one window covers the grid. */
int sail_swin_shift(const sail_swin_cfg *c, int j, int r);
/* Window `task` (item, window row, window column) of r x r grids shifted
 * by `shift`: rows[i] (w*w) the token row its position i holds, token ((y +
 * shift) % r, (x + shift) % r) of its item; lab[i] the region the shift
 * mask compares (0 without a shift). */
void sail_swin_window(int task, int r, int w, int shift, int *rows, int *lab);
/* The bias table row of window positions i, j of a w x w window. */
static inline int sail_swin_rel(int i, int j, int w) {
    return (i / w - j / w + w - 1) * (2 * w - 1) + i % w - j % w + w - 1;
}
/* The row of x (B*r*r) patch merging puts in part q (0..3: (0,0) (1,0)
 * (0,1) (1,1) neighbours) of its output row (bi, i, j). */
size_t sail_swin_merge_row(int bi, int i, int j, int q, int r);

#endif
