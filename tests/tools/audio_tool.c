/* audio_tool.c: test driver for the audio decoder and front ends
 * (tests/test_audio_features.py). Outputs are raw little-endian float32.
 *
 *   audio_tool decode FILE RATE MAX_SECONDS OUT.f32
 *   audio_tool decode-bytes FILE RATE MAX_SECONDS OUT.f32
 *       decode FILE (by path, or its bytes read into memory) to mono at
 *       RATE Hz (0 = default); MAX_SECONDS 0 = default. Prints
 *       "n RATE SRC_RATE SRC_CHANNELS".
 *   audio_tool fbank IN.f32 OUT.f32 RATE MEL_BINS WINDOW MAX_LENGTH MEAN STD
 *       sail_fbank from AST's parameters with these replaced
 *       (WINDOW: 0 hanning, 1 povey, 2 hamming, 3 rectangular; STD 0 = no
 *       normalisation). Prints "rows cols".
 *   audio_tool ast IN.f32 OUT.f32
 *       sail_fbank with sail_fbank_ast_params() unchanged.
 *   audio_tool logmel IN.f32 OUT.f32 RATE N_FFT HOP N_MELS FMIN FMAX HTK NORM LOG DROP PAD
 *   audio_tool whisper IN.f32 OUT.f32 N_MELS | clap IN.f32 OUT.f32
 *       sail_logmel with the given or preset parameters. Prints "rows cols".
 * Any error: "error STATUS MESSAGE" on stdout and exit 1.
 */
#include "sail.h"
#include "../scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const sail_error *e) {
    printf("error %s %s\n", sail_status_name(e->status), e->msg);
    return 1;
}

static int write_all(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 2;
    size_t w = n ? fwrite(x, sizeof *x, n, f) : 0;
    fclose(f);
    return w == n ? 0 : 2;
}

static int decode(int bytes, char **a) {
    sail_audio_options o = {atoi(a[3]), atof(a[4]), 0};
    sail_audio au;
    sail_error e = {0};
    sail_status s;
    if (bytes) {
        size_t n = 0;
        void *data = slurp(a[2], &n);
        if (!data) return 2;
        s = sail_audio_decode_bytes(data, n, &o, &au, &e);
        sail_free(data);
    } else {
        s = sail_audio_decode_file(a[2], &o, &au, &e);
    }
    if (s) return fail(&e);
    int rc = write_all(a[5], au.samples, (size_t)au.n);
    printf("%lld %d %d %d\n", (long long)au.n, au.sample_rate, au.src_rate, au.src_channels);
    sail_audio_free(&au);
    return rc;
}

/* Features of IN.f32 into OUT.f32 through sail_fbank (p) or sail_logmel (q). */
static int features(const char *in, const char *out, const sail_fbank_params *p, const sail_logmel_params *q) {
    size_t bytes = 0;
    float *x = slurp(in, &bytes);
    if (!x) return 2;
    int64_t n = (int64_t)(bytes / sizeof(float));
    int64_t rows = p ? sail_fbank_frames(p, n) : sail_logmel_frames(q, n);
    int cols = p ? p->num_mel_bins : q->n_mels;
    float *y = malloc((size_t)(rows > 0 ? rows : 1) * cols * sizeof *y);
    sail_error e = {0};
    sail_status s = p ? sail_fbank(p, x, n, y, &e) : sail_logmel(q, x, n, y, &e);
    int rc = s ? fail(&e) : write_all(out, y, (size_t)(rows > 0 ? rows : 0) * cols);
    if (!s) printf("%lld %d\n", (long long)rows, cols);
    sail_free(x);
    free(y);
    return rc;
}

int main(int argc, char **argv) {
    const char *c = argc > 1 ? argv[1] : "";
    if ((!strcmp(c, "decode") || !strcmp(c, "decode-bytes")) && argc == 6) return decode(c[6] == '-', argv);
    if (!strcmp(c, "fbank") && argc == 10) {
        sail_fbank_params p = sail_fbank_ast_params();
        p.sample_rate = atoi(argv[4]);
        p.num_mel_bins = atoi(argv[5]);
        p.window = (sail_window)atoi(argv[6]);
        p.max_length = atoi(argv[7]);
        p.norm_mean = (float)atof(argv[8]);
        p.norm_std = (float)atof(argv[9]);
        return features(argv[2], argv[3], &p, NULL);
    }
    if (!strcmp(c, "ast") && argc == 4) {
        sail_fbank_params p = sail_fbank_ast_params();
        return features(argv[2], argv[3], &p, NULL);
    }
    if (!strcmp(c, "logmel") && argc == 15) {
        sail_logmel_params q = {atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]),
                                (float)atof(argv[8]), (float)atof(argv[9]), atoi(argv[10]), atoi(argv[11]),
                                (sail_log_kind)atoi(argv[12]), atoi(argv[13]), atoll(argv[14])};
        return features(argv[2], argv[3], NULL, &q);
    }
    if (!strcmp(c, "whisper") && argc == 5) {
        sail_logmel_params q = sail_logmel_whisper_params(atoi(argv[4]));
        return features(argv[2], argv[3], NULL, &q);
    }
    if (!strcmp(c, "clap") && argc == 4) {
        sail_logmel_params q = sail_logmel_clap_params();
        return features(argv[2], argv[3], NULL, &q);
    }
    fprintf(stderr, "usage: see the comment at the top of tests/tools/audio_tool.c\n");
    return 2;
}
