/* bench_finetune.c: sail's fine-tuning throughput on a model file (a
 * converted checkpoint): one forward + backward step (the optimiser left
 * out, as bench_train.c) on a batch of (16-token text, image) pairs, all
 * parameters trained or the towers frozen. bench/run_finetune.sh runs it
 * beside the same model in PyTorch (bench_finetune_torch.py).
 *
 *   bench_finetune --model M.gguf [--threads N] [--batch B] [--steps S] [--freeze text,vision]
 *
 * Prints one line: pairs/s of the fastest and the median step (wall clock)
 * and the process's peak resident memory (MiB, model included). */
#include "kernels/kernels.h"
#include "bench.h"
#include "train_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int main(int argc, char **argv) {
    const char *model = NULL, *freeze = NULL;
    int threads = 2, batch = 16, steps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--freeze")) freeze = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else model = NULL, i = argc;
    }
    if (!model || threads < 1 || batch < 2 || steps < 1 || steps > 100) {
        fprintf(stderr, "usage: bench_finetune --model M.gguf [--threads N] [--batch B] [--steps S] [--freeze PARTS]\n");
        return 2;
    }
    sail_error err = {0};
    sail_tmodel *tm = sail_tmodel_load(model, 0, threads, &err);
    if (!tm) {
        fprintf(stderr, "bench_finetune: %s\n", err.msg);
        return 1;
    }
    float scale[SAIL_N_PARTS] = {1, 1, 1, 1, 1};
    for (const char *p = freeze; p && *p;) {
        size_t n = strcspn(p, ",");
        int part = sail_part_parse(p, n);
        if (part >= 0) scale[part] = 0;
        p += n + (p[n] == ',');
    }
    sail_tmodel_set_parts(tm, scale);
    const sail_config *c = sail_tmodel_config(tm);
    int image = c->image_size;
    bench_batch b; /* the end token is the largest id: CLIP pools there */
    if (bench_batch_make(&b, c, batch, image, 0, (uint64_t)(c->vocab_size - 2))) return 1;
    double *dt = malloc((size_t)steps * sizeof(double));
    float loss = 0;
    for (int s = 0; s <= steps; s++) { /* step 0 warms up (and sizes the arena) */
        double t0 = bench_now();
        sail_tmodel_zero_grads(tm);
        if (sail_tmodel_step(tm, batch, &b.text, &b.imgs, NULL, NULL, 1, &loss, NULL, NULL, &err)) {
            fprintf(stderr, "bench_finetune: %s\n", err.msg);
            return 1;
        }
        if (s) dt[s - 1] = bench_now() - t0;
    }
    qsort(dt, (size_t)steps, sizeof *dt, bench_cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("sail finetune batch %d threads %d freeze %s: %.2f pairs/s best, %.2f median, peak %.0f MiB (loss %.4f)\n",
           batch, threads, freeze ? freeze : "none", batch / dt[0], batch / dt[steps / 2], ru.ru_maxrss / 1024.0,
           loss);
    free(dt);
    bench_batch_free(&b);
    sail_tmodel_free(tm);
    sail_kernels_release();
    return 0;
}
