/* wav_header.h: the 44-byte header of a canonical 16-bit PCM WAV, for the
 * C tests that build clips in memory (test_audio.c, audio_fixtures.h). */
#ifndef SAIL_TESTS_WAV_HEADER_H
#define SAIL_TESTS_WAV_HEADER_H

#include <stdint.h>
#include <string.h>

/* n frames of ch channels at rate Hz; the data chunk's size field says
 * claim instead when claim is not 0 (a lying header). Returns 44. */
static inline size_t wav_header(uint8_t *p, int n, int ch, int rate, uint32_t claim) {
    uint32_t data = (uint32_t)n * (uint32_t)ch * 2, block = (uint32_t)ch * 2;
    uint32_t v32[] = {36 + data, 16, (uint32_t)rate, (uint32_t)rate * block, claim ? claim : data};
    uint16_t v16[] = {1, (uint16_t)ch, (uint16_t)block, 16};
    uint8_t *q = p;
#define PUT(v, k) for (int i_ = 0; i_ < (k); i_++) *q++ = (uint8_t)((v) >> (8 * i_))
    memcpy(q, "RIFF", 4), q += 4;
    PUT(v32[0], 4);
    memcpy(q, "WAVEfmt ", 8), q += 8;
    PUT(v32[1], 4);
    PUT(v16[0], 2);
    PUT(v16[1], 2);
    PUT(v32[2], 4);
    PUT(v32[3], 4);
    PUT(v16[2], 2);
    PUT(v16[3], 2);
    memcpy(q, "data", 4), q += 4;
    PUT(v32[4], 4);
#undef PUT
    return 44;
}

#endif
