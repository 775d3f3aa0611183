/* bench_model.c: sail f32 inference speed for the architectures of
 * sail-base's towers: ViT-S/16 @224 (ms/image) and BERT-base with 16 tokens
 * (ms/text), at batch 1 and 8. The model is written once with random
 * weights (speed does not depend on their values) and fusion layers off, so
 * the figures compare with the bare towers run by bench/bench_torch.py.
 *
 *   bench_model [--threads N] [--reps R] [--only vit|bert] [--batch B]
 *
 * --only and --batch narrow the run to one shape, so that a profiler's
 * samples are not spread over the others.
 */
#include "model/model.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static const char *write_model(void) {
    static char path[] = "/tmp/sail_bench_base.gguf";
    sail_config c;
    sail_config_preset(&c, "base", NULL);
    c.fusion.layers = 0;
    c.vocab_size = 21128;
    c.pad_id = 0, c.unk_id = 100, c.cls_id = 101, c.sep_id = 102;
    char **toks = malloc(sizeof *toks * c.vocab_size);
    for (int i = 0; i < c.vocab_size; i++) {
        toks[i] = malloc(16);
        snprintf(toks[i], 16, "t%d", i);
    }
    const char *special[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int at[5] = {0, 100, 101, 102, 103};
    for (int i = 0; i < 5; i++) snprintf(toks[at[i]], 16, "%s", special[i]);
    sail_error err = {0};
    if (sail_model_write_random(&c, (const char *const *)toks, 1, path, &err)) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < c.vocab_size; i++) free(toks[i]);
    free(toks);
    return path;
}

/* Best-of-reps seconds per item for one batch shape. */
static double time_batch(sail_model *m, const sail_batch *b, int reps) {
    float *out = malloc((size_t)b->n * sail_model_dim(m) * sizeof(float));
    sail_error err = {0};
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) { /* first run warms the arena */
        double t0 = now();
        if (sail_forward(m, b, out, &err)) {
            fprintf(stderr, "bench_model: %s\n", err.msg);
            exit(1);
        }
        double dt = now() - t0;
        if (r && dt < best) best = dt;
    }
    free(out);
    return best / b->n;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, only_batch = 0;
    const char *only = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) only_batch = atoi(argv[i + 1]);
    }
    const char *path = write_model();
    sail_error err = {0};
    sail_load_options lo = {threads};
    sail_model *m = sail_model_load(path, &lo, &err);
    if (!m) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        return 1;
    }
    sail_rng rng = {5};
    int batches[2] = {1, 8};
    float *pix = malloc(sizeof(float) * 8 * 3 * 224 * 224);
    for (size_t i = 0; i < (size_t)8 * 3 * 224 * 224; i++) pix[i] = sail_rng_normal(&rng);
    int32_t ids[8 * 16];
    int lens[8];
    for (int i = 0; i < 8 * 16; i++) ids[i] = 1000 + (int)(sail_rng_next(&rng) % 20000);
    for (int i = 0; i < 8; i++) lens[i] = 16;
    for (int k = 0; k < 2; k++) {
        int B = batches[k];
        if (only_batch && B != only_batch) continue;
        sail_batch vb = {.n = B, .pixels = pix, .h = 224, .w = 224};
        sail_batch tb = {.n = B, .ids = ids, .lens = lens};
        if (strcmp(only, "bert"))
            printf("sail vit_s16_224 batch %d threads %d: %.2f ms/image\n", B, threads,
                   1e3 * time_batch(m, &vb, reps));
        if (strcmp(only, "vit"))
            printf("sail bert_base_16tok batch %d threads %d: %.2f ms/text\n", B, threads,
                   1e3 * time_batch(m, &tb, reps));
        fflush(stdout);
    }
    free(pix);
    sail_model_free(m);
    remove(path);
    return 0;
}
