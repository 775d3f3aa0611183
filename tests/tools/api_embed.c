/* api_embed.c: a program of the public C API only (include/sail.h), for the
 * pipeline test (tests/test_pipeline_clip.py): loads MODEL, embeds every
 * --text in one sail_embed_texts call and every --image in one
 * sail_embed_image_files call, and writes the rows (texts first, then
 * images) as raw float32 to OUT.
 *
 *   api_embed MODEL OUT.f32 [--dim D] [--text T]... [--image FILE]...
 *
 * Exit status: 0 written, 1 a library error (its message on stderr),
 * 2 usage. */
#include "sail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: api_embed MODEL OUT.f32 [--dim D] [--text T]... [--image FILE]...\n");
        return 2;
    }
    const char **texts = calloc((size_t)argc, sizeof *texts), **images = calloc((size_t)argc, sizeof *images);
    int nt = 0, ni = 0, dim = 0;
    if (!texts || !images) return 1;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "api_embed: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--text")) texts[nt++] = argv[++i];
        else if (!strcmp(argv[i], "--image")) images[ni++] = argv[++i];
        else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[++i]);
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
    float *out = malloc(((size_t)nt + (size_t)ni) * d * sizeof *out + 1);
    int rc = !out;
    if (!rc && nt && sail_embed_texts(m, texts, nt, dim, out, &err)) rc = 1;
    if (!rc && ni && sail_embed_image_files(m, images, ni, dim, out + (size_t)nt * d, &err)) rc = 1;
    if (rc) fprintf(stderr, "api_embed: %s\n", out ? err.msg : "out of memory");
    FILE *f = rc ? NULL : fopen(argv[2], "wb");
    if (!rc && (!f || fwrite(out, sizeof *out, ((size_t)nt + ni) * d, f) != ((size_t)nt + ni) * d)) {
        fprintf(stderr, "api_embed: cannot write %s\n", argv[2]);
        rc = 1;
    }
    if (f && fclose(f)) rc = 1;
    sail_model_free(m);
    free(out);
    free(texts);
    free(images);
    return rc;
}
