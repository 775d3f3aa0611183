// sources: src/audio/decode.c src/audio/fbank.c src/audio/fft.c src/kernels/spectral.c src/kernels/spectral_avx2.c src/kernels/spectral_avx512.c src/core/cpu.c src/audio/logmel.c src/format/av.c src/core/dl.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lavformat -lavcodec -lavutil -lswresample -lfftw3 -lpthread
/* fuzz_audio.c: libFuzzer harness over sail_audio_decode_bytes (every
 * container and codec FFmpeg sniffs from the bytes, the WAV header check,
 * down-mix and resampling) and, when a clip decodes, its fbank and log-mel
 * features. The bounds are lowered so one run stays fast; a decoded clip
 * must honour them and its features must be finite. */
#include "sail.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void features(const sail_audio *a) {
    sail_fbank_params fp = sail_fbank_ast_params();
    fp.max_length = 0;
    int64_t rows = sail_fbank_frames(&fp, a->n);
    float *out = rows > 0 ? malloc((size_t)rows * (size_t)fp.num_mel_bins * sizeof(float)) : NULL;
    sail_error err;
    if (out && sail_fbank(&fp, a->samples, a->n, out, &err) == SAIL_OK)
        for (int64_t i = 0; i < rows * fp.num_mel_bins; i++)
            if (!isfinite(out[i])) abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sail_audio_options o = {16000, 4.0, (int64_t)1 << 20};
    sail_audio a = {0};
    sail_error err;
    if (sail_audio_decode_bytes(data, size, &o, &a, &err) != SAIL_OK) return 0;
    if (a.n < 1 || a.n > (int64_t)(4.0 * 16000) + 16000 || a.sample_rate != 16000) abort();
    for (int64_t i = 0; i < a.n; i++)
        if (!isfinite(a.samples[i])) abort();
    features(&a);
    sail_audio_free(&a);
    return 0;
}
