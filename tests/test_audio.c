/* test_audio.c: the audio decoder and front ends from C, without Python
 * (tests/test_audio_features.py holds the parity checks against
 * torchaudio, Whisper and ffmpeg). Runs under `make asan`: in-memory WAVs
 * decoded exactly, the WAV writer, resampling keeping a tone's pitch, fbank and log-mel on
 * signals whose answer is known, concurrent first use of the FFT plan
 * cache, and argument errors leaving outputs untouched. */
#include "sail.h"
#include "test.h"
#include "wav_header.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A canonical 16-bit PCM WAV of n frames of `ch` interleaved samples. */
static size_t make_wav(uint8_t *buf, const int16_t *pcm, int n, int ch, int rate, uint32_t claim) {
    size_t data = (size_t)n * ch * 2;
    memcpy(buf + wav_header(buf, n, ch, rate, claim), pcm, data);
    return 44 + data;
}

static int16_t g_pcm[2 * 48000];
static uint8_t g_wav[44 + sizeof g_pcm];

static void test_decode_exact(void) {
    for (int i = 0; i < 16000; i++) g_pcm[i] = (int16_t)((i * 7919) % 65536 - 32768);
    size_t size = make_wav(g_wav, g_pcm, 16000, 1, 16000, 0);
    sail_audio a = {0};
    sail_error e = {0};
    sail_status s = sail_audio_decode_bytes(g_wav, size, NULL, &a, &e);
    int same = !s && a.n == 16000 && a.sample_rate == 16000 && a.src_channels == 1;
    for (int i = 0; same && i < 16000; i++) same = a.samples[i] == g_pcm[i] / 32768.0f;
    CHECK(same, "mono int16 WAV at its own rate: every sample is x / 32768 (%s)", e.msg);
    sail_audio_free(&a);

    for (int i = 0; i < 2 * 8000; i++) g_pcm[i] = (int16_t)(i % 2 ? -i : 3 * i);
    size = make_wav(g_wav, g_pcm, 8000, 2, 16000, 0);
    s = sail_audio_decode_bytes(g_wav, size, NULL, &a, &e);
    same = !s && a.n == 8000 && a.src_channels == 2;
    for (int i = 0; same && i < 8000; i++)
        same = a.samples[i] == (g_pcm[2 * i] / 32768.0f) * 0.5f + (g_pcm[2 * i + 1] / 32768.0f) * 0.5f;
    CHECK(same, "stereo WAV: mono is the equal-weight mean of the channels, exactly (%s)", e.msg);
    sail_audio_free(&a);
    sail_audio_free(&a);
    sail_audio_free(NULL);
    CHECK(a.samples == NULL && a.n == 0, "sail_audio_free zeroes the clip; freeing twice and NULL are no-ops");
}

/* sail_wav_encode / sail_wav_write against the canonical WAV make_wav writes
 * of the samples the spec says (x * 32768 rounded to nearest even, clipped
 * to int16), and FFmpeg's reading of it. */
static void test_wav_write(void) {
    static const float x[] = {0.0f, 1.0f / 32768, -3.0f / 32768, 0.5f / 32768, 1.5f / 32768, -0.5f,
                              0.99999f, 1.0f, 1.5f, -1.0f, -2.0f, 12345.0f / 32768};
    static const int16_t want[] = {0, 1, -3, 0, 2, -16384, 32767, 32767, 32767, -32768, -32768, 12345};
    enum { N = sizeof x / sizeof x[0] };
    uint8_t ref[44 + 2 * N];
    size_t ref_size = make_wav(ref, want, N, 1, SAIL_SOUND_RATE, 0);
    unsigned char *bytes = NULL;
    size_t len = 0;
    sail_error e = {0};
    sail_status s = sail_wav_encode(x, N, &bytes, &len, &e);
    CHECK(!s && len == ref_size && !memcmp(bytes, ref, len),
          "sail_wav_encode: a 44-byte 16 kHz mono header, then x * 32768 rounded and clipped (%s)", e.msg);
    sail_audio a = {0};
    s = s ? s : sail_audio_decode_bytes(bytes, len, NULL, &a, &e);
    int same = !s && a.n == N && a.sample_rate == SAIL_SOUND_RATE;
    for (int i = 0; same && i < N; i++) same = a.samples[i] == want[i] / 32768.0f;
    CHECK(same, "FFmpeg reads the encoded clip back as the rounded samples (%s)", e.msg);
    sail_audio_free(&a);

    char path[] = "/tmp/sail_test_wav_XXXXXX";
    int fd = mkstemp(path);
    s = fd < 0 ? SAIL_ERR_IO : sail_wav_write(path, x, N, &e);
    FILE *f = fd < 0 ? NULL : fopen(path, "rb");
    uint8_t back[sizeof ref + 1];
    size_t got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    if (fd >= 0) close(fd), remove(path);
    CHECK(!s && got == len && bytes && !memcmp(back, bytes, len), "sail_wav_write writes the same bytes to a file (%s)",
          e.msg);
    sail_free(bytes);
    CHECK(sail_wav_write("/nonexistent-dir/x.wav", x, N, &e) == SAIL_ERR_IO && strstr(e.msg, "/nonexistent-dir/x.wav"),
          "sail_wav_write to a missing folder is an I/O error naming the path (%s)", e.msg);
}

/* The frequency (Hz) of the largest DFT bin of x between 50 and 4000 Hz. */
static double peak_hz(const float *x, int64_t n, int rate) {
    double best = 0, best_f = 0;
    for (int f = 50; f <= 4000; f += 5) {
        double re = 0, im = 0;
        for (int64_t i = 0; i < n; i++) {
            re += x[i] * cos(2 * M_PI * f * i / rate);
            im -= x[i] * sin(2 * M_PI * f * i / rate);
        }
        if (re * re + im * im > best) best = re * re + im * im, best_f = f;
    }
    return best_f;
}

static void test_resample(void) {
    for (int i = 0; i < 48000; i++) g_pcm[i] = (int16_t)lrint(16000 * sin(2 * M_PI * 440 * i / 48000.0));
    size_t size = make_wav(g_wav, g_pcm, 48000, 1, 48000, 0);
    sail_audio_options o = {16000, 0, 0};
    sail_audio a = {0};
    sail_error e = {0};
    sail_status s = sail_audio_decode_bytes(g_wav, size, &o, &a, &e);
    CHECK(!s && a.n == 16000 && a.src_rate == 48000, "48 kHz -> 16 kHz: 1 s stays 16000 samples (%lld) %s",
          (long long)a.n, e.msg);
    if (!s) {
        double rms = 0;
        for (int64_t i = 1000; i < 15000; i++) rms += (double)a.samples[i] * a.samples[i];
        rms = sqrt(rms / 14000);
        double want = 16000 / 32768.0 / sqrt(2);
        CHECK(peak_hz(a.samples, a.n, 16000) == 440 && fabs(rms - want) < 0.01 * want,
              "resampled 440 Hz tone keeps its pitch and level (rms %.5f, want %.5f)", rms, want);
    }
    sail_audio_free(&a);
}

/* Kaldi's mel scale, for the bin a tone should light up. */
static double kmel(double f) { return 1127.0 * log(1.0 + f / 700.0); }

static void test_fbank(void) {
    sail_fbank_params p = sail_fbank_ast_params();
    p.max_length = 0;
    p.norm_std = 0;
    int64_t want[][2] = {{0, 0}, {399, 0}, {400, 1}, {559, 1}, {560, 2}, {561, 2}, {16000, 98}};
    int ok = 1;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) ok &= sail_fbank_frames(&p, want[i][0]) == want[i][1];
    CHECK(ok, "fbank frame counts follow snip_edges: 1 + (n - 400) / 160, 0 under one window");
    CHECK(sail_fbank_frames(&(sail_fbank_params){0}, 100) == -1, "fbank_frames of invalid parameters is -1");

    static float x[16000], out[98 * 128];
    for (int i = 0; i < 16000; i++) x[i] = (float)(0.5 * sin(2 * M_PI * 1000 * i / 16000.0));
    sail_error e = {0};
    sail_status s = sail_fbank(&p, x, 16000, out, &e);
    /* The filter whose centre is nearest 1 kHz in mel should be loudest. */
    double lo = kmel(20), delta = (kmel(8000) - lo) / 129;
    int expect = (int)lround((kmel(1000) - lo) / delta) - 1, argmax = 0;
    for (int m = 1; m < 128; m++)
        if (out[50 * 128 + m] > out[50 * 128 + argmax]) argmax = m;
    CHECK(!s && argmax == expect, "1 kHz tone: the loudest fbank bin is %d (expected %d)", argmax, expect);

    sail_fbank_params ast = sail_fbank_ast_params();
    static float full[1024 * 128];
    s = sail_fbank(&ast, x, 300, full, &e);
    float pad = (0.0f + 4.2677393f) / (2 * 4.5689974f);
    ok = !s;
    for (int i = 0; ok && i < 1024 * 128; i++) ok = fabsf(full[i] - pad) < 1e-7f;
    CHECK(ok, "AST: a clip under one window is 1024 rows of normalised padding (%g)", pad);
}

static void test_logmel(void) {
    sail_logmel_params w = sail_logmel_whisper_params(80);
    CHECK(sail_logmel_frames(&w, 1) == 3000 && sail_logmel_frames(&w, 1000000) == 3000,
          "Whisper: always 3000 frames (30 s padding or cut)");
    static float silence[160], out[3000 * 80];
    sail_error e = {0};
    sail_status s = sail_logmel(&w, silence, 160, out, &e);
    int ok = !s;
    for (int i = 0; ok && i < 3000 * 80; i++) ok = out[i] == -1.5f;
    CHECK(ok, "Whisper log-mel of silence is (log10(1e-10) + 4) / 4 = -1.5 everywhere");

    sail_logmel_params c = sail_logmel_clap_params();
    CHECK(sail_logmel_frames(&c, 48000) == 101 && sail_logmel_frames(&c, 479) == 1 && sail_logmel_frames(&c, 480) == 2,
          "CLAP: 1 + n / 480 centred frames");
    float one = 0.25f, col[64];
    s = sail_logmel(&c, &one, 1, col, &e);
    CHECK(!s, "CLAP log-mel of a single sample (reflect padding of a length-1 signal) %s", e.msg);
}

/* Threads make the first plans of several FFT sizes at once; each result
 * must equal the same call made alone afterwards. */
typedef struct job {
    int kind, rate;
    float *out;
    int64_t count;
    sail_status s;
} job;

static float g_wave[48000];

static void run_job(job *j) {
    if (j->kind == 0) {
        sail_fbank_params p = sail_fbank_ast_params();
        p.sample_rate = j->rate;
        p.max_length = 0;
        j->count = sail_fbank_frames(&p, 48000) * p.num_mel_bins;
        j->s = sail_fbank(&p, g_wave, 48000, j->out, NULL);
    } else {
        sail_logmel_params p = j->kind == 1 ? sail_logmel_clap_params() : sail_logmel_whisper_params(128);
        p.pad_samples = 0;
        j->count = sail_logmel_frames(&p, 48000) * p.n_mels;
        j->s = sail_logmel(&p, g_wave, 48000, j->out, NULL);
    }
}

static void *thread_main(void *arg) {
    run_job(arg);
    return NULL;
}

static void test_threads(void) {
    for (int i = 0; i < 48000; i++) g_wave[i] = (float)(0.3 * sin(i * 0.01) + 0.1 * sin(i * 0.37));
    job jobs[6] = {{.kind = 0, .rate = 8000}, {.kind = 0, .rate = 22050}, {.kind = 0, .rate = 44100},
                   {.kind = 1, .rate = 48000}, {.kind = 2, .rate = 16000}, {.kind = 0, .rate = 11025}};
    static float bufs[6][2][600 * 128];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        jobs[i].out = bufs[i][0];
        pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    }
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        job again = jobs[i];
        again.out = bufs[i][1];
        run_job(&again);
        ok &= !jobs[i].s && !again.s && jobs[i].count > 0 && jobs[i].count <= 600 * 128 &&
              !memcmp(bufs[i][0], bufs[i][1], (size_t)jobs[i].count * sizeof(float));
    }
    CHECK(ok, "6 threads planning 6 FFT sizes at once give the serial results bit for bit");
}

static void test_errors(void) {
    sail_audio a = {0};
    sail_error e = {0};
    sail_audio_options bad_rate = {100, 0, 0};
    size_t size = make_wav(g_wav, g_pcm, 1000, 1, 16000, 0);
    CHECK(sail_audio_decode_bytes(g_wav, size, &bad_rate, &a, &e) == SAIL_ERR_INVALID_ARG && a.samples == NULL &&
              strstr(e.msg, "100 Hz"),
          "output rate 100 Hz refused: %s", e.msg);
    sail_audio_options small = {0, 0, 100};
    CHECK(sail_audio_decode_bytes(g_wav, size, &small, &a, &e) == SAIL_ERR_LIMIT && strstr(e.msg, "max_bytes"),
          "a buffer over max_bytes refused: %s", e.msg);
    sail_audio_options short_ = {0, 0.01, 0};
    CHECK(sail_audio_decode_bytes(g_wav, size, &short_, &a, &e) == SAIL_ERR_LIMIT && strstr(e.msg, "max_seconds"),
          "a clip over max_seconds refused: %s", e.msg);
    size = make_wav(g_wav, g_pcm, 1000, 1, 16000, 0xFFFFFFFFu);
    CHECK(sail_audio_decode_bytes(g_wav, size, &short_, &a, &e) == SAIL_ERR_LIMIT,
          "a streamed WAV (no data size) over max_seconds refused: %s", e.msg);
    CHECK(sail_audio_decode_bytes(NULL, 10, NULL, &a, &e) == SAIL_ERR_INVALID_ARG, "NULL data refused");
    CHECK(sail_audio_decode_file(NULL, NULL, &a, &e) == SAIL_ERR_INVALID_ARG, "NULL path refused");
    CHECK(a.samples == NULL && a.n == 0, "failed decodes leave the output untouched");

    float x[1000] = {0}, y[16];
    sail_fbank_params p = sail_fbank_ast_params();
    p.num_mel_bins = 2;
    CHECK(sail_fbank(&p, x, 1000, y, &e) == SAIL_ERR_INVALID_ARG && strstr(e.msg, "num_mel_bins"),
          "fbank: 2 mel bins refused: %s", e.msg);
    p = sail_fbank_ast_params();
    p.low_freq = 9000;
    CHECK(sail_fbank(&p, x, 1000, y, &e) == SAIL_ERR_INVALID_ARG && strstr(e.msg, "Nyquist"),
          "fbank: a band above Nyquist refused: %s", e.msg);
    sail_logmel_params q = sail_logmel_clap_params();
    q.hop = 0;
    CHECK(sail_logmel(&q, x, 1000, y, &e) == SAIL_ERR_INVALID_ARG && strstr(e.msg, "hop"), "log-mel: hop 0 refused: %s",
          e.msg);
    q = sail_logmel_clap_params();
    CHECK(sail_logmel(&q, x, 0, y, &e) == SAIL_ERR_INVALID_ARG, "log-mel of 0 samples refused: %s", e.msg);
}

int main(void) {
    test_decode_exact();
    test_wav_write();
    test_resample();
    test_fbank();
    test_logmel();
    test_threads();
    test_errors();
    return test_done();
}
