/* image_timing.h: the timed decode + CLIP preprocessing loop that
 * bench_image and bench_photo share, so both time the same pipeline. */
#ifndef SAIL_BENCH_IMAGE_TIMING_H
#define SAIL_BENCH_IMAGE_TIMING_H

#include "bench.h"
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>

/* CLIP's preprocessing: bicubic, short side 224, centre crop 224, its mean and std. */
static inline sail_preprocess bench_clip_preprocess(void) {
    return (sail_preprocess){.size = 224, .crop = 224, .resample = SAIL_RESAMPLE_BICUBIC,
                             .mean = {0.48145466f, 0.4578275f, 0.40821073f},
                             .std = {0.26862954f, 0.26130258f, 0.27577711f}};
}

/* Decodes jpg (under lim; NULL: the defaults) and preprocesses it with p on
 * pool, iters + 1 times (the first run warms caches and is not counted).
 * Returns the mean milliseconds of decoding in *ms_dec and of preprocessing
 * in *ms_pre, and the decoded image's size in *dw, *dh. Exits at an error. */
static inline void bench_decode_preprocess(const unsigned char *jpg, unsigned long size, const char *name,
                                           const sail_image_limits *lim, const sail_preprocess *p,
                                           sail_pool *pool, int iters, double *ms_dec, double *ms_pre, int *dw,
                                           int *dh) {
    static float chw[3 * 224 * 224];
    double t_dec = 0, t_pre = 0;
    for (int i = 0; i < iters + 1; i++) {
        sail_image img;
        sail_error err;
        double t0 = bench_ms();
        if (sail_image_decode(jpg, size, name, lim, &img, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        double t1 = bench_ms();
        if (sail_image_preprocess_mt(&img, p, chw, pool, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        double t2 = bench_ms();
        if (i) t_dec += t1 - t0, t_pre += t2 - t1;
        *dw = img.w, *dh = img.h;
        sail_image_free(&img);
    }
    *ms_dec = t_dec / iters, *ms_pre = t_pre / iters;
}

#endif
