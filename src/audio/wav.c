/* wav.c: the 16 kHz mono 16-bit PCM WAV writer (sail_wav_write,
 * sail_wav_encode in include/sail.h): what the `sail data` generators write
 * and `sail bench --kind audio` embeds. Same samples -> same bytes. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xffff), le16(p + 2, v >> 16); }

/* A WAV is 44 header bytes and the samples, so it is written here rather
 * than through a libsox output handler, whose header fields and chunk
 * choices depend on its version. */
static sail_status wav_put(FILE *f, const char *path, const float *x, size_t n, sail_error *err) {
    if (n > 0x7fffffffu / 2 - 44) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: clip too long", path);
    uint32_t bytes = (uint32_t)n * 2;
    uint8_t h[44];
    memcpy(h, "RIFF", 4), le32(h + 4, 36 + bytes), memcpy(h + 8, "WAVEfmt ", 8);
    le32(h + 16, 16), le16(h + 20, 1), le16(h + 22, 1);                 /* PCM, mono */
    le32(h + 24, SAIL_SOUND_RATE), le32(h + 28, SAIL_SOUND_RATE * 2);  /* rate, bytes/s */
    le16(h + 32, 2), le16(h + 34, 16), memcpy(h + 36, "data", 4), le32(h + 40, bytes);
    int bad = fwrite(h, 1, 44, f) != 44;
    uint8_t buf[4096];
    for (size_t i = 0; i < n && !bad; i += sizeof buf / 2) {
        size_t k = SAIL_MIN(sizeof buf / 2, n - i);
        for (size_t j = 0; j < k; j++) {
            float v = x[i + j] * 32768.0f;
            le16(buf + 2 * j, (unsigned)(int)lrintf(v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v));
        }
        bad = fwrite(buf, 2, k, f) != k;
    }
    return bad ? sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno)) : SAIL_OK;
}

sail_status sail_wav_write(const char *path, const float *x, size_t n, sail_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    sail_status s = wav_put(f, path, x, n, err);
    if (fclose(f) && !s) s = sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return s;
}

sail_status sail_wav_encode(const float *x, size_t n, unsigned char **bytes, size_t *len, sail_error *err) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the clip");
    sail_status s = wav_put(f, "the clip", x, n, err);
    if (fclose(f) && !s) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the clip");
    if (s) {
        sail_free(buf);
        return s;
    }
    *bytes = (unsigned char *)buf;
    *len = size;
    return SAIL_OK;
}
