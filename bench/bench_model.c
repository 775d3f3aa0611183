/* bench_model.c: sail inference speed for the architectures of sail-base's
 * towers: ViT-S/16 @224 (ms/image) and BERT-base with 16 tokens (ms/text),
 * at batch 1 and 8, with f32 weights or each type of --types. The model is written once with random
 * weights (speed does not depend on their values) and fusion layers off, so
 * the figures compare with the bare towers run by bench/bench_torch.py.
 *
 *   bench_model [--threads N] [--reps R] [--only vit|bert] [--batch B]
 *               [--types f32,f16,bf16,q8_0] [--clock wall|cpu]
 *
 * --only and --batch narrow the run to one shape, so that a profiler's
 * samples are not spread over the others. --types also stores the model
 * in those types (sail_model_quantize) and times each, labelled sail-TYPE,
 * with its peak RSS beside file + activation arena. --clock cpu times in
 * process CPU time (use it with --threads 1 on a loaded machine).
 */
#include "model/model.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall time, or with --clock cpu the process's CPU time: on a machine
 * shared with other work, CPU time at --threads 1 is the cost of a pass
 * without the time spent waiting for a core. */
static clockid_t g_clock = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(g_clock, &t);
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

/* A /proc/self/status field in MB; -1 when unavailable. */
static double status_mb(const char *key) {
    long kb = sail_proc_status_kb(key);
    return kb < 0 ? -1 : (double)kb / 1024.0;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, only_batch = 0;
    const char *only = "", *types = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) only_batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--types")) types = argv[i + 1];
        else if (!strcmp(argv[i], "--clock") && !strcmp(argv[i + 1], "cpu")) g_clock = CLOCK_PROCESS_CPUTIME_ID;
    }
    const char *base = write_model();
    sail_rng rng = {5};
    int batches[2] = {1, 8};
    float *pix = malloc(sizeof(float) * 8 * 3 * 224 * 224);
    for (size_t i = 0; i < (size_t)8 * 3 * 224 * 224; i++) pix[i] = sail_rng_normal(&rng);
    int32_t ids[8 * 16];
    int lens[8];
    for (int i = 0; i < 8 * 16; i++) ids[i] = 1000 + (int)(sail_rng_next(&rng) % 20000);
    for (int i = 0; i < 8; i++) lens[i] = 16;
    char list[64];
    snprintf(list, sizeof list, "%s", types ? types : "f32");
    for (char *type = strtok(list, ","); type; type = strtok(NULL, ",")) {
        char path[128], label[32];
        sail_error err = {0};
        snprintf(path, sizeof path, "%s", base);
        snprintf(label, sizeof label, types ? "sail-%s" : "sail", type);
        if (strcmp(type, "f32")) {
            snprintf(path, sizeof path, "/tmp/sail_bench_base-%s.gguf", type);
            if (sail_model_quantize(base, path, type, &err)) {
                fprintf(stderr, "bench_model: %s\n", err.msg);
                return 1;
            }
        }
        double rss0 = status_mb("VmRSS");
        sail_proc_reset_peak();
        sail_load_options lo = {threads};
        sail_model *m = sail_model_load(path, &lo, &err);
        if (!m) {
            fprintf(stderr, "bench_model: %s\n", err.msg);
            return 1;
        }
        for (int k = 0; k < 2; k++) {
            int B = batches[k];
            if (only_batch && B != only_batch) continue;
            sail_batch vb = {.n = B, .pixels = pix, .h = 224, .w = 224};
            sail_batch tb = {.n = B, .ids = ids, .lens = lens};
            if (strcmp(only, "bert"))
                printf("%s vit_s16_224 batch %d threads %d: %.2f ms/image\n", label, B, threads,
                       1e3 * time_batch(m, &vb, reps));
            if (strcmp(only, "vit"))
                printf("%s bert_base_16tok batch %d threads %d: %.2f ms/text\n", label, B, threads,
                       1e3 * time_batch(m, &tb, reps));
            fflush(stdout);
        }
        if (types) { /* memory: the model's share of the peak against its own account */
            sail_model_memory mem;
            sail_model_memory_usage(m, &mem);
            double file = mem.file_bytes / 1048576.0, arena = mem.arena_bytes / 1048576.0;
            double own = status_mb("VmHWM") - rss0;
            printf("# %s (%s): peak RSS %.1f MB, model +%.1f MB = %.3fx (file %.1f + arena %.1f MB)\n",
                   label, sail_model_weight_type(m), status_mb("VmHWM"), own, own / (file + arena),
                   file, arena);
        }
        sail_model_free(m);
        if (strcmp(type, "f32")) remove(path);
    }
    free(pix);
    remove(base);
    return 0;
}
