/* optim_driver.c: runs sail_optim_step for tests/test_optim.py.
 * usage: optim_driver IN OUT lr wd warmup total min_ratio max_norm steps accum SPEC
 * SPEC is "n:decay:name,..." (tensors laid out at 16-float aligned offsets).
 * IN holds float32 params (sum of n) then steps*accum gradient blocks of the
 * same size; OUT receives params, m, v (each sum of n floats, unpadded), then
 * the learning rate (float64) of every step. */
#include "train/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAXT = 16 };

int main(int argc, char **argv) {
    if (argc != 12) {
        fprintf(stderr, "usage: optim_driver IN OUT lr wd warmup total min_ratio max_norm steps accum SPEC\n");
        return 2;
    }
    double lr = atof(argv[3]), wd = atof(argv[4]), min_ratio = atof(argv[7]), max_norm = atof(argv[8]);
    long warmup = atol(argv[5]), total = atol(argv[6]), steps = atol(argv[9]), accum = atol(argv[10]);
    sail_tparam t[MAXT];
    int nt = 0;
    size_t off = 0;
    char *spec = argv[11];
    for (char *tok = strtok(spec, ","); tok && nt < MAXT; tok = strtok(NULL, ",")) {
        long n;
        int decay;
        char name[96];
        if (sscanf(tok, "%ld:%d:%95s", &n, &decay, name) != 3 || n < 1) return 2;
        memset(&t[nt], 0, sizeof t[nt]);
        snprintf(t[nt].name, sizeof t[nt].name, "%s", name);
        t[nt].offset = off;
        t[nt].rows = 1;
        t[nt].cols = n;
        t[nt].decay = decay;
        t[nt].lr_scale = 1.0f;
        off += ((size_t)n + 15) / 16 * 16;
        nt++;
    }
    float *p = calloc(off, 4), *g = calloc(off, 4), *acc = calloc(off, 4);
    float *m = calloc(off, 4), *v = calloc(off, 4);
    FILE *in = fopen(argv[1], "rb");
    if (!p || !g || !acc || !m || !v || !in) return 1;
    for (int i = 0; i < nt; i++)
        if (fread(p + t[i].offset, 4, (size_t)t[i].cols, in) != (size_t)t[i].cols) return 1;
    sail_adamw o = {0.9, 0.999, 1e-8, wd};
    FILE *out = fopen(argv[2], "wb");
    double *lrs = calloc((size_t)steps, sizeof *lrs);
    if (!out || !lrs) return 1;
    for (long s = 0; s < steps; s++) {
        memset(acc, 0, off * 4);
        for (long k = 0; k < accum; k++) {
            for (int i = 0; i < nt; i++)
                if (fread(g + t[i].offset, 4, (size_t)t[i].cols, in) != (size_t)t[i].cols) return 1;
            for (size_t j = 0; j < off; j++) acc[j] += g[j];
        }
        lrs[s] = lr * sail_lr_factor(s, warmup, total, min_ratio);
        sail_optim_step(&o, t, nt, p, acc, m, v, s + 1, lrs[s], 1.0f / (float)accum, max_norm, NULL);
    }
    float *blocks[3] = {p, m, v};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < nt; i++) fwrite(blocks[b] + t[i].offset, 4, (size_t)t[i].cols, out);
    fwrite(lrs, sizeof *lrs, (size_t)steps, out);
    fclose(in);
    fclose(out);
    free(p); free(g); free(acc); free(m); free(v); free(lrs);
    return 0;
}
