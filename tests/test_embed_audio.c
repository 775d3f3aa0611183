/* test_embed_audio.c: the audio embedding calls without Python, on a
 * random AST-shaped model (sail_model_write_random): a clip given as
 * samples, as an in-memory WAV and as a file gives one vector, at the
 * model's rate and resampled; a batch equals its clips alone; a Matryoshka
 * prefix; argument errors leave the output untouched; a model without an
 * audio tower refuses audio. The vectors' values are checked against
 * PyTorch by tests/test_convert_ast.py. */
#include "model/model.h"
#include "sail.h"
#include "audio_fixtures.h"
#include "fixtures.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { D = 32, MAX_N = 48000 };

static float maxdiff(const float *a, const float *b, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static int untouched(const float *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] != 7.0f) return 0;
    return 1;
}

static float g_x[MAX_N], g_y[MAX_N];
static uint8_t g_wav[5][44 + 2 * MAX_N];

int main(void) {
    char dir[] = "/tmp/sail_test_embed_audio_XXXXXX", path[128], wav_path[128]; /* mkdtemp's template */
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/ast.gguf", dir);
    snprintf(wav_path, sizeof wav_path, "%s/a.wav", dir);
    sail_error err = {0};
    sail_config c = ast_config(D);
    CHECK(!sail_model_write_random(&c, NULL, 7, path, &err), "a random AST-shaped model writes %s", err.msg);
    sail_model *m = sail_model_load(path, NULL, &err);
    CHECK(m != NULL, "and loads %s", m ? "" : err.msg);
    if (!m) return test_done();
    CHECK(strstr(sail_model_describe(m), "audio_layers=2") && strstr(sail_model_describe(m), "audio_stride=10x12"),
          "describe names the audio tower: %s", sail_model_describe(m));

    /* one clip three ways, at the model's rate: samples, bytes, file */
    float a[D], b[D], f[D];
    chirp(g_x, 16000, 16000, 200, 0.4f);
    size_t nw = make_wav(g_wav[0], g_x, 16000, 16000);
    FILE *fp = fopen(wav_path, "wb");
    CHECK(fp && fwrite(g_wav[0], 1, nw, fp) == nw && !fclose(fp), "the WAV is written");
    const void *data[5] = {g_wav[0]};
    size_t sizes[5] = {nw};
    const char *paths[1] = {wav_path};
    int ok = !sail_embed_audio_pcm(m, g_x, 16000, 16000, 0, a, &err);
    ok = ok && !sail_embed_audio_bytes(m, data, sizes, 1, 0, b, &err);
    ok = ok && !sail_embed_audio_files(m, paths, 1, 0, f, &err);
    CHECK(ok, "the three calls embed one clip %s", ok ? "" : err.msg);
    double norm = 0;
    for (int j = 0; j < D; j++) norm += (double)a[j] * a[j];
    CHECK(fabs(norm - 1) < 1e-5, "the vector has unit length (%.7f)", norm);
    CHECK(maxdiff(a, b, D) <= 1e-6f && maxdiff(b, f, D) == 0,
          "samples, bytes and file give one vector (samples vs bytes %.1e, bytes vs file %.1e)",
          maxdiff(a, b, D), maxdiff(b, f, D));

    /* at 48 kHz: both resample with the decoder's resampler */
    chirp(g_y, MAX_N, 48000, 300, 0.3f);
    sizes[0] = make_wav(g_wav[0], g_y, MAX_N, 48000);
    ok = !sail_embed_audio_pcm(m, g_y, MAX_N, 48000, 0, a, &err) && !sail_embed_audio_bytes(m, data, sizes, 1, 0, b, &err);
    CHECK(ok && maxdiff(a, b, D) <= 1e-6f, "48 kHz samples resample as the 48 kHz WAV decodes (%.1e) %s",
          maxdiff(a, b, D), ok ? "" : err.msg);

    /* five clips (two batches) equal each alone; lengths under one window,
       shorter and longer than the model's 120 frames */
    static const int lens[5] = {300, 4000, 16000, 19000, 30000};
    float all[5 * D], one[D];
    for (int i = 0; i < 5; i++) {
        chirp(g_x, lens[i], 16000, 150.0f + 90 * i, 0.5f);
        sizes[i] = make_wav(g_wav[i], g_x, lens[i], 16000);
        data[i] = g_wav[i];
    }
    ok = !sail_embed_audio_bytes(m, data, sizes, 5, 0, all, &err);
    float worst = 0;
    for (int i = 0; ok && i < 5; i++) {
        ok = !sail_embed_audio_bytes(m, &data[i], &sizes[i], 1, 0, one, &err);
        worst = fmaxf(worst, maxdiff(one, all + i * D, D));
    }
    CHECK(ok && worst <= 1e-6f, "a batch of 5 clips equals each clip alone (%.1e) %s", worst, ok ? "" : err.msg);
    CHECK(maxdiff(all, all + 4 * D, D) > 1e-3f && maxdiff(all + 3 * D, all + 4 * D, D) > 1e-3f,
          "different clips give different vectors");

    /* a Matryoshka prefix is the re-normalised head */
    float p8[8];
    ok = !sail_embed_audio_bytes(m, &data[2], &sizes[2], 1, 8, p8, &err);
    double h = 0;
    for (int j = 0; j < 8; j++) h += (double)all[2 * D + j] * all[2 * D + j];
    float want[8];
    for (int j = 0; j < 8; j++) want[j] = (float)(all[2 * D + j] / sqrt(h));
    CHECK(ok && maxdiff(p8, want, 8) <= 1e-6f, "dim 8: the first 8 components, re-normalised (%.1e)",
          maxdiff(p8, want, 8));

    /* argument errors, the output untouched */
    float out[2 * D];
    for (int j = 0; j < 2 * D; j++) out[j] = 7.0f;
    CHECK(sail_embed_audio_files(NULL, paths, 1, 0, out, &err) == SAIL_ERR_INVALID_ARG && untouched(out, D),
          "a NULL model: %s", err.msg);
    CHECK(sail_embed_audio_files(m, paths, -1, 0, out, &err) == SAIL_ERR_INVALID_ARG, "n = -1: %s", err.msg);
    CHECK(sail_embed_audio_files(m, paths, 1, 0, NULL, &err) == SAIL_ERR_INVALID_ARG, "a NULL output: %s", err.msg);
    CHECK(sail_embed_audio_files(m, NULL, 1, 0, out, &err) == SAIL_ERR_INVALID_ARG && untouched(out, D),
          "NULL paths: %s", err.msg);
    CHECK(sail_embed_audio_bytes(m, NULL, sizes, 1, 0, out, &err) == SAIL_ERR_INVALID_ARG && untouched(out, D),
          "NULL data: %s", err.msg);
    CHECK(sail_embed_audio_files(m, paths, 0, 0, NULL, &err) == SAIL_OK, "no clips: nothing to do");
    CHECK(sail_embed_audio_files(m, paths, 1, D + 1, out, &err) == SAIL_ERR_INVALID_ARG &&
              strstr(err.msg, "dim 33 is out of range") && untouched(out, D),
          "dim 33: %s", err.msg);
    CHECK(sail_embed_audio_pcm(m, NULL, 100, 16000, 0, out, &err) == SAIL_ERR_INVALID_ARG && untouched(out, D),
          "NULL samples: %s", err.msg);
    CHECK(sail_embed_audio_pcm(m, g_x, 0, 16000, 0, out, &err) == SAIL_ERR_INVALID_ARG && untouched(out, D),
          "no samples: %s", err.msg);
    CHECK(sail_embed_audio_pcm(m, g_x, 1000, 100, 0, out, &err) == SAIL_ERR_UNSUPPORTED &&
              strstr(err.msg, "100 Hz") && untouched(out, D),
          "a 100 Hz clip: %s", err.msg);
    g_x[500] = NAN;
    CHECK(sail_embed_audio_pcm(m, g_x, 1000, 16000, 0, out, &err) == SAIL_ERR_FORMAT &&
              strstr(err.msg, "NaN") && untouched(out, D),
          "a NaN sample: %s", err.msg);
    g_x[500] = 0;
    uint8_t junk[100];
    memset(junk, 'x', sizeof junk);
    const void *jd[2] = {g_wav[2], junk};
    size_t js[2] = {sizes[2], sizeof junk};
    CHECK(sail_embed_audio_bytes(m, jd, js, 2, 0, out, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "clip 1"),
          "undecodable bytes, named by index: %s", err.msg);
    const char *texts[1] = {"a b"};
    CHECK(sail_embed_texts(m, texts, 1, 0, out, &err) == SAIL_ERR_UNSUPPORTED &&
              strstr(err.msg, "no text encoder (it embeds audio only)"),
          "a text is refused: %s", err.msg);
    sail_model_free(m);

    /* hostile or inconsistent audio keys are refused at load */
    sail_config bad = ast_config(D);
    bad.audio.fbank.num_mel_bins = 1024;
    bad.audio.fbank.max_length = 8192;
    CHECK(sail_config_validate(&bad, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "2^22"),
          "a 1024 x 8192 spectrogram is over the bound: %s", err.msg);
    bad = ast_config(D);
    bad.audio.stride_t = 0;
    CHECK(sail_config_validate(&bad, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "strides"), "stride 0: %s", err.msg);
    bad = ast_config(D);
    bad.audio.fbank.sample_rate = 10;
    CHECK(sail_config_validate(&bad, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "sail.audio") &&
              strstr(err.msg, "sample rate"),
          "a 10 Hz front end: %s", err.msg);
    bad = ast_config(D);
    bad.towers.has_vision = 1;
    CHECK(sail_config_validate(&bad, &err) == SAIL_ERR_FORMAT, "audio and vision towers at once: %s", err.msg);
    bad = ast_config(D);
    bad.dim = 16;
    CHECK(sail_config_validate(&bad, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "audio width"),
          "a dim other than the width: %s", err.msg);

    /* a native model has no audio tower */
    sail_config n = micro();
    CHECK(!sail_model_write_random(&n, micro_tokens, 3, path, &err), "a native model writes %s", err.msg);
    m = sail_model_load(path, NULL, &err);
    for (int j = 0; j < D; j++) out[j] = 7.0f;
    CHECK(m && sail_embed_audio_bytes(m, data, sizes, 1, 0, out, &err) == SAIL_ERR_UNSUPPORTED &&
              strstr(err.msg, "no audio encoder (it embeds texts and images)") && untouched(out, D),
          "a native model refuses audio: %s", err.msg);
    sail_model_free(m);
    unlink(path);
    unlink(wav_path);
    rmdir(dir);
    return test_done();
}
