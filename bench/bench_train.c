/* bench_train.c: sail's training throughput (pairs/s): one forward + backward
 * step of the trainable model (train.h) on a batch of text/image pairs, the
 * optimiser left out. The model is the "tiny" preset with a 4000-token
 * vocabulary at the image size `sail train --image_size` would give it, the
 * loss Matryoshka InfoNCE on {512, 256, 128}; texts are 16 tokens
 * ([CLS] 14 ids [SEP]), images random normalised pixels. The same model and
 * batch in PyTorch is bench/bench_train_torch.py; bench/run.sh runs the two
 * interleaved and prints the ratio.
 *
 *   bench_train [--threads N] [--batch B] [--image_size PX] [--steps S] [--warmup W]
 *
 * Prints one line: pairs/s of the fastest step and of the median step (wall
 * clock), and pairs per CPU-second of the cheapest step (the process's CPU
 * time: on a loaded machine the fairer single-thread figure; with more
 * threads it also counts any spinning of the pool), and the step's
 * matrix-product work per pair (train-mflop/pair) to set against the CPU's
 * FMA ceiling (bench_peak).
 */
#include "kernels/kernels.h"
#include "bench.h"
#include "train_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Matrix-product flops of one tower layer over T tokens (2 per multiply-add):
 * QKV and output projections, FFN, QK^T and AV. */
static double layer_flops(const sail_tower *t, double T) {
    double d = t->width;
    return 2 * T * (4 * d * d + 2 * d * t->ffn) + 4 * T * T * d;
}

/* Forward flops of one (text of BENCH_TEXT_LEN tokens, image) pair: towers,
 * patch embedding, projections into the fusion width, fusion over each
 * side, head. Norms and activations are left out (a few percent). A
 * training step is counted as 3 forwards (backward = 2 products per product). */
static double pair_flops(const sail_config *c) {
    int g = c->image_size / c->patch_size, Tv = 1 + g * g;
    double f = c->text.layers * layer_flops(&c->text, BENCH_TEXT_LEN) + c->vision.layers * layer_flops(&c->vision, Tv);
    f += 2.0 * g * g * 3 * c->patch_size * c->patch_size * c->vision.width;
    f += 2.0 * BENCH_TEXT_LEN * c->text.width * c->fusion.width + 2.0 * Tv * c->vision.width * c->fusion.width;
    f += c->fusion.layers * (layer_flops(&c->fusion, BENCH_TEXT_LEN) + layer_flops(&c->fusion, Tv));
    return f + 2 * 2.0 * c->fusion.width * c->dim;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_train: out of memory\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    int threads = 2, batch = 32, image = 64, steps = 5, warmup = 1;
    for (int i = 1; i < argc; i++) {
        int *slot = !strcmp(argv[i], "--threads") ? &threads : !strcmp(argv[i], "--batch") ? &batch
                  : !strcmp(argv[i], "--image_size") ? &image : !strcmp(argv[i], "--steps") ? &steps
                  : !strcmp(argv[i], "--warmup") ? &warmup : NULL;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "usage: bench_train [--threads N] [--batch B] [--image_size PX] [--steps S] [--warmup W]\n");
            return 2;
        }
        *slot = atoi(argv[++i]);
    }
    if (threads < 1 || batch < 2 || batch > 4096 || steps < 1 || steps > 1000 || warmup < 0) {
        fprintf(stderr, "bench_train: threads >= 1, batch 2..4096, steps 1..1000, warmup >= 0\n");
        return 2;
    }
    sail_error err = {0};
    sail_config c;
    sail_config_preset(&c, "tiny", NULL);
    c.vocab_size = 4000;
    c.pad_id = 0, c.unk_id = 1, c.cls_id = 2, c.sep_id = 3;
    c.image_size = c.pre_size = c.pre_crop = image; /* as sail train --image_size does */
    sail_tmodel *tm = sail_tmodel_new(&c, 1, threads, &err);
    if (!tm) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }

    bench_batch b;
    if (bench_batch_make(&b, &c, batch, image, 5, (uint64_t)(c.vocab_size - 5))) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    sail_loss_opts lo = {3, {512, 256, 128}, {1.0f, 1.0f, 1.0f}};

    double *dt = xmalloc((size_t)steps * sizeof(double)), *cpu = xmalloc((size_t)steps * sizeof(double));
    float loss = 0;
    float *grads = sail_tmodel_grads(tm);
    size_t size = sail_tmodel_size(tm);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = bench_seconds(CLOCK_MONOTONIC), c0 = bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
        memset(grads, 0, size * sizeof(float)); /* a step starts from zero gradients */
        if (sail_tmodel_step(tm, batch, &b.text, &b.imgs, NULL, &lo, 1, &loss, NULL, NULL, &err)) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
        if (s >= warmup) {
            dt[s - warmup] = bench_seconds(CLOCK_MONOTONIC) - t0;
            cpu[s - warmup] = bench_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
    }
    long long n_params = 0; /* the model's size, to compare with PyTorch's */
    for (int i = 0; i < sail_tmodel_n_tensors(tm); i++)
        n_params += sail_tmodel_tensor(tm, i)->rows * sail_tmodel_tensor(tm, i)->cols;
    qsort(dt, (size_t)steps, sizeof *dt, bench_cmp_double);
    qsort(cpu, (size_t)steps, sizeof *cpu, bench_cmp_double);
    printf("sail train tiny img %d batch %d threads %d: %.1f pairs/s best, %.1f median, %.1f per cpu-s (%lld params, loss %.4f) train-mflop/pair %.1f\n",
           image, batch, threads, batch / dt[0], batch / dt[steps / 2], batch / cpu[0], n_params, loss,
           3 * pair_flops(&c) / 1e6);
    free(dt);
    free(cpu);
    bench_batch_free(&b);
    sail_tmodel_free(tm);
    sail_kernels_release();
    return 0;
}
