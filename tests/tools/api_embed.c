/* api_embed.c: a program of the public C API only (include/sail.h), for the
 * pipeline tests (tests/test_pipeline_clip.py, tests/test_convert_ast.py):
 * loads MODEL, embeds every --text in one sail_embed_texts call, every
 * --image in one sail_embed_image_files call, every --audio in one
 * sail_embed_audio_files call, every --audio-bytes (a file read into
 * memory) in one sail_embed_audio_bytes call and each --pcm (raw float32
 * mono samples at RATE Hz) with sail_embed_audio_pcm, and writes the rows
 * in that order as raw float32 to OUT.
 *
 *   api_embed MODEL OUT.f32 [--dim D] [--text T]... [--image FILE]...
 *             [--audio FILE]... [--audio-bytes FILE]... [--pcm F32 RATE]...
 *
 * Exit status: 0 written, 1 a library error (its message on stderr),
 * 2 usage. */
#include "sail.h"
#include "../scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every --audio-bytes file read into memory, embedded in one call. */
static int embed_blobs(sail_model *m, const char **paths, int n, int dim, float *out, sail_error *err) {
    void **data = calloc((size_t)n, sizeof *data);
    size_t *sizes = calloc((size_t)n, sizeof *sizes);
    int rc = !data || !sizes;
    for (int i = 0; !rc && i < n; i++)
        if (!(data[i] = slurp(paths[i], &sizes[i]))) {
            snprintf(err->msg, sizeof err->msg, "cannot read %s", paths[i]);
            rc = 1;
        }
    if (!rc && sail_embed_audio_bytes(m, (const void *const *)data, sizes, n, dim, out, err)) rc = 1;
    for (int i = 0; data && i < n; i++) sail_free(data[i]);
    free(data);
    free(sizes);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: api_embed MODEL OUT.f32 [--dim D] [--text T]... [--image FILE]...\n");
        return 2;
    }
    const char **texts = calloc((size_t)argc, sizeof *texts), **images = calloc((size_t)argc, sizeof *images);
    const char **clips = calloc((size_t)argc, sizeof *clips), **blobs = calloc((size_t)argc, sizeof *blobs);
    const char **pcm = calloc((size_t)argc, sizeof *pcm);
    int *rates = calloc((size_t)argc, sizeof *rates);
    int nt = 0, ni = 0, na = 0, nb = 0, np = 0, dim = 0;
    if (!texts || !images || !clips || !blobs || !pcm || !rates) return 1;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "api_embed: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--text")) texts[nt++] = argv[++i];
        else if (!strcmp(argv[i], "--image")) images[ni++] = argv[++i];
        else if (!strcmp(argv[i], "--audio")) clips[na++] = argv[++i];
        else if (!strcmp(argv[i], "--audio-bytes")) blobs[nb++] = argv[++i];
        else if (!strcmp(argv[i], "--pcm") && i + 2 < argc) {
            pcm[np] = argv[++i];
            rates[np++] = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[++i]);
        else {
            fprintf(stderr, "api_embed: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    sail_error err;
    sail_model *m = sail_model_load(argv[1], NULL, &err);
    if (!m) {
        fprintf(stderr, "api_embed: %s\n", err.msg);
        return 1;
    }
    size_t d = (size_t)(dim ? dim : sail_model_dim(m));
    size_t rows = (size_t)nt + ni + na + nb + np;
    float *out = malloc(rows * d * sizeof *out + 1), *o = out;
    int rc = !out;
    if (!rc && nt && sail_embed_texts(m, texts, nt, dim, o, &err)) rc = 1;
    o += (size_t)nt * d;
    if (!rc && ni && sail_embed_image_files(m, images, ni, dim, o, &err)) rc = 1;
    o += (size_t)ni * d;
    if (!rc && na && sail_embed_audio_files(m, clips, na, dim, o, &err)) rc = 1;
    o += (size_t)na * d;
    if (!rc && nb) rc = embed_blobs(m, blobs, nb, dim, o, &err);
    o += (size_t)nb * d;
    for (int i = 0; !rc && i < np; i++, o += d) {
        size_t bytes;
        float *x = slurp(pcm[i], &bytes);
        if (!x || sail_embed_audio_pcm(m, x, (int64_t)(bytes / sizeof *x), rates[i], dim, o, &err)) rc = 1;
        if (!x) snprintf(err.msg, sizeof err.msg, "cannot read %s", pcm[i]);
        sail_free(x);
    }
    if (rc) fprintf(stderr, "api_embed: %s\n", out ? err.msg : "out of memory");
    FILE *f = rc ? NULL : fopen(argv[2], "wb");
    if (!rc && (!f || fwrite(out, sizeof *out, rows * d, f) != rows * d)) {
        fprintf(stderr, "api_embed: cannot write %s\n", argv[2]);
        rc = 1;
    }
    if (f && fclose(f)) rc = 1;
    sail_model_free(m);
    free(out);
    free(texts);
    free(images);
    free(clips);
    free(blobs);
    free(pcm);
    free(rates);
    return rc;
}
