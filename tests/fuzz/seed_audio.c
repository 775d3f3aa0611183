// sources:
/* seed_audio.c: writes small WAV files (8-bit, 16-bit, float, stereo, odd
 * rates, a header that claims more than the file holds) into the corpus
 * folder argv[1]; the fuzzer mutates toward the other containers itself. */
#include "seed_write.h"

#include <stdint.h>
#include <string.h>

static size_t put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return 4;
}

static size_t put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
    return 2;
}

/* A WAV of n frames of a ramp; claim > 0 overrides the data size field. */
static size_t wav(uint8_t *b, int fmt, int channels, int rate, int bits, int n, uint32_t claim) {
    int bytes = bits / 8, data = n * channels * bytes;
    size_t o = 0;
    memcpy(b + o, "RIFF", 4), o += 4;
    o += put32(b + o, (uint32_t)(36 + data));
    memcpy(b + o, "WAVEfmt ", 8), o += 8;
    o += put32(b + o, 16);
    o += put16(b + o, (uint16_t)fmt);
    o += put16(b + o, (uint16_t)channels);
    o += put32(b + o, (uint32_t)rate);
    o += put32(b + o, (uint32_t)(rate * channels * bytes));
    o += put16(b + o, (uint16_t)(channels * bytes));
    o += put16(b + o, (uint16_t)bits);
    memcpy(b + o, "data", 4), o += 4;
    o += put32(b + o, claim ? claim : (uint32_t)data);
    for (int i = 0; i < n * channels; i++, o += (size_t)bytes) {
        float v = (float)((i * 37) % 200 - 100) / 128.0f;
        if (fmt == 3) memcpy(b + o, &v, 4);
        else if (bits == 8) b[o] = (uint8_t)(128 + (int)(v * 100));
        else put16(b + o, (uint16_t)(int16_t)(v * 20000));
    }
    return o;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    static uint8_t b[1 << 16];
    int rc = 0;
    rc |= seed_write(argv[1], 0, b, wav(b, 1, 1, 16000, 16, 400, 0));
    rc |= seed_write(argv[1], 1, b, wav(b, 1, 2, 44100, 16, 300, 0));
    rc |= seed_write(argv[1], 2, b, wav(b, 3, 1, 8000, 32, 250, 0));
    rc |= seed_write(argv[1], 3, b, wav(b, 1, 1, 22050, 8, 500, 0));
    rc |= seed_write(argv[1], 4, b, wav(b, 1, 1, 16000, 16, 100, 1u << 30));
    rc |= seed_write(argv[1], 5, b, wav(b, 1, 6, 48000, 16, 64, 0));
    return rc;
}
