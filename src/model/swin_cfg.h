/* swin_cfg.h: the configuration of CLAP's audio encoder, HTSAT (Hugging
 * Face ClapAudioModel): a Swin transformer over the log-mel spectrogram
 * folded into a square image, and the ClapFeatureExtractor front end that
 * feeds it. Kept apart from config.h's towers: model/swin.h has the code. */
#ifndef SAIL_SWIN_CFG_H
#define SAIL_SWIN_CFG_H

#include "sail.h"

#define SAIL_SWIN_MAX_STAGES 8

/* How a clip shorter than max_samples is filled (ClapFeatureExtractor's
 * padding): repeated whole times then zero-padded, repeated and cut, or
 * zero-padded. */
typedef enum sail_clap_pad { SAIL_CLAP_REPEATPAD = 0, SAIL_CLAP_REPEAT = 1, SAIL_CLAP_PAD = 2 } sail_clap_pad;

typedef struct sail_swin_cfg {
    int on;                             /* the audio tower is HTSAT (sail_has_audio) */
    int stages;                         /* len(depths), 1..SAIL_SWIN_MAX_STAGES */
    int depths[SAIL_SWIN_MAX_STAGES];   /* blocks per stage */
    int heads[SAIL_SWIN_MAX_STAGES];    /* attention heads per stage */
    int embed;                          /* patch_embeds_hidden_size: stage 0's width; doubles per stage */
    int window;                         /* window side in tokens (window_size) */
    int spec;                           /* spec_size: the square image side */
    int patch;                          /* patch_size, also its stride */
    float mlp_ratio;                    /* ffn = int(mlp_ratio * width) */
    int patch_norm;                     /* LayerNorm after the patch convolution */
    int act;                            /* sail_act of the MLPs (hidden_act) */
    float eps;                          /* LayerNorm eps (layer_norm_eps) */
    int fusion;                         /* enable_fusion: 4 spectrograms per clip, the first's patches
                                           fused with the other three's (attentional feature fusion) */
    int fuse_channels;                  /* the fusion's hidden channels (embed / aff_block_r) */
    /* front end (ClapFeatureExtractor, truncation "rand_trunc", or "fusion"
       with the fusion: HTK mel filters without norm) */
    sail_logmel_params mel;             /* n_mels = num_mel_bins */
    int max_samples;                    /* max_length_s * sampling_rate */
    sail_clap_pad pad;
} sail_swin_cfg;

#endif
