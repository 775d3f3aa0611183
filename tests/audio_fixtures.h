/* audio_fixtures.h: what the C tests that embed audio share: a random
 * AST-shaped model (sail_model_write_random writes it; d wide, 2 layers)
 * and in-memory WAVs of chirps. */
#ifndef SAIL_TESTS_AUDIO_FIXTURES_H
#define SAIL_TESTS_AUDIO_FIXTURES_H

#include "model/model.h"
#include "wav_header.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A mono 16-bit PCM WAV of x (in [-1, 1], stored exactly as v / 32768). */
static inline size_t make_wav(uint8_t *buf, const float *x, int n, int rate) {
    uint8_t *p = buf + wav_header(buf, n, 1, rate, 0);
    for (int i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(int16_t)lrintf(x[i] * 32768.0f);
        *p++ = (uint8_t)(v & 0xff);
        *p++ = (uint8_t)(v >> 8);
    }
    return 44 + (size_t)n * 2;
}

/* A chirp whose samples are exact int16 values / 32768. */
static inline void chirp(float *x, int n, int rate, float f0, float amp) {
    for (int i = 0; i < n; i++) {
        double t = (double)i / rate;
        x[i] = (float)lrint(amp * 32767 * sin(2 * M_PI * (f0 + 300 * t) * t)) / 32768.0f;
    }
}

static inline sail_config ast_config(int d) {
    sail_config c = {0};
    snprintf(c.name, sizeof c.name, "ast-test");
    c.audio.tower = (sail_tower){2, d, 2, 64, 1e-6f, SAIL_ACT_GELU, 1};
    c.audio.patch = 16;
    c.audio.dist = 1;
    c.audio.fbank = sail_fbank_ast_params();
    c.audio.fbank.num_mel_bins = 64;
    c.audio.fbank.max_length = 120;
    c.audio.stride_f = 10;
    c.audio.stride_t = 12;
    c.towers = (sail_towers){.on = 1};
    c.dim = d;
    return c;
}

#endif
