/* trace_dump.c: test driver for the PyTorch parity test. Runs one batch
 * through a model and writes every traced activation as raw float32 to
 * OUTDIR/<name>.bin (plus OUTDIR/index.txt: name rows cols).
 *
 *   trace_dump MODEL OUTDIR [--tokens IDS.i32 LENS.i32 N] [--images PIX.f32 N H W]
 *                           [--audio SPEC.f32 N MEL FRAMES]
 * (--audio: spectrograms as the audio tower reads them, n x mel x frames)
 */
#include "model/model.h"
#include "../scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *outdir;
static FILE *index_file;

static void dump(void *ud, const char *name, const float *x, int rows, int cols) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", outdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof(float), (size_t)rows * cols, f) != (size_t)rows * cols) {
        fprintf(stderr, "trace_dump: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
    fprintf(index_file, "%s %d %d\n", name, rows, cols);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: trace_dump MODEL OUTDIR [--tokens IDS LENS N] [--images PIX N H W]\n"); return 2; }
    sail_error err = {0};
    sail_load_options lo = {.n_threads = getenv("SAIL_THREADS") ? atoi(getenv("SAIL_THREADS")) : 0};
    sail_model *m = sail_model_load(argv[1], &lo, &err);
    if (!m) { fprintf(stderr, "trace_dump: %s\n", err.msg); return 1; }
    outdir = argv[2];
    char path[4096];
    snprintf(path, sizeof path, "%s/index.txt", outdir);
    index_file = fopen(path, "w");
    if (!index_file) return 1;
    sail_batch b = {0};
    void *ids = NULL, *lens = NULL, *pix = NULL;
    size_t n;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 3 < argc) {
            ids = slurp_or_exit(argv[i + 1], &n);
            lens = slurp_or_exit(argv[i + 2], &n);
            b.n = atoi(argv[i + 3]);
            b.ids = ids;
            b.lens = lens;
            i += 3;
        } else if ((!strcmp(argv[i], "--images") || !strcmp(argv[i], "--audio")) && i + 4 < argc) {
            pix = slurp_or_exit(argv[i + 1], &n);
            b.n = atoi(argv[i + 2]);
            b.h = atoi(argv[i + 3]);
            b.w = atoi(argv[i + 4]);
            if (!strcmp(argv[i], "--images")) b.pixels = pix; /* n x 3 x H x W */
            else b.spec = pix;                                 /* n x MEL x FRAMES */
            i += 4;
        } else { fprintf(stderr, "trace_dump: bad argument %s\n", argv[i]); return 2; }
    }
    float *out = malloc((size_t)b.n * sail_model_dim(m) * sizeof(float));
    /* Twice: the second pass runs with a warm arena, as in steady state. */
    for (int pass = 0; pass < 2; pass++) {
        m->trace = pass ? dump : NULL;
        if (sail_forward(m, &b, out, &err)) { fprintf(stderr, "trace_dump: %s\n", err.msg); return 1; }
    }
    fclose(index_file);
    free(out); sail_free(ids); sail_free(lens); sail_free(pix);
    sail_model_free(m);
    return 0;
}
