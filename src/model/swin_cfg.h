/* swin_cfg.h: the configuration of CLAP's audio encoder, HTSAT (Hugging
 * Face ClapAudioModel): a Swin transformer over the log-mel spectrogram
 * folded into a square image, and the ClapFeatureExtractor front end that
 * feeds it. Kept apart from config.h's towers: swin_cfg.c has the keys and
 * the front end, model/swin.h the encoder. */
#ifndef SAIL_SWIN_CFG_H
#define SAIL_SWIN_CFG_H

#include "format/gguf.h"
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

struct sail_config;

/* Width of stage s, the final width, tokens per side of stage s. */
int sail_swin_width(const sail_swin_cfg *c, int s);
int sail_swin_hidden(const sail_swin_cfg *c);
/* The MLP width of a stage of width d: int(mlp_ratio * d). */
int sail_swin_ffn(const sail_swin_cfg *c, int d);

/* Frames of the spectrogram the front end makes (1 + max_samples / hop). */
int sail_swin_frames(const sail_swin_cfg *c);

/* Check a configuration read from a file or made by a converter (c's dim
 * included); the message names the key. */
sail_status sail_swin_check(const struct sail_config *c, sail_error *err);

/* Model file keys sail.htsat.* (docs/FORMAT.md). Read sets c->swin. */
sail_status sail_swin_read(const gguf_file *f, struct sail_config *c, sail_error *err);
sail_status sail_swin_write(const struct sail_config *c, gguf_writer *w);
void sail_swin_describe(const struct sail_config *c, char *buf, size_t cap);

/* n samples at the front end's rate -> spec (n_mels, frames): the clip cut
 * to its first max_samples (where Hugging Face takes a random crop) or
 * filled as pad says, then the CLAP log-mel (sail_logmel), transposed.
 * With the fusion, spec is (4, n_mels, frames): a clip up to max_samples
 * (filled as pad says) four times; a longer one's whole log-mel cropped at
 * the middle of each third of its possible starts (where Hugging Face picks
 * at random) and, fourth, all of it shrunk to frames (bilinear). */
sail_status sail_swin_spectrogram(const struct sail_config *c, const float *wave, int64_t n, float *spec,
                                  sail_error *err);

#endif
