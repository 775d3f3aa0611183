/* q8a_pack.h: the strip of quantised activations that the packed q8_0
 * GEMMs broadcast from, 4 int8 at a time (gemm_vnni_avx512.c with
 * vpdpbusd, gemm_quant_avx2.c with vpmaddubsw). Plain C: includable from a
 * file of any instruction set. */
#ifndef SAIL_Q8A_PACK_H
#define SAIL_Q8A_PACK_H

#include "kernels.h"

#include <string.h>

/* Rows [0, mr) of the quantised A (rows lda blocks apart), blocks [0, kb),
 * into q (kb, mr_max, 32) and d (kb, mr_max): block b of row i at
 * q + (b * mr_max + i) * 32, so one strip step reads the rows' blocks side
 * by side. Rows mr..mr_max get q = 0 and d = 0 (they add nothing). */
static inline void pack_q8a_strip(const sail_q8a *A, size_t lda, int mr, int mr_max, int kb,
                                  int8_t *q, float *d) {
    for (int b = 0; b < kb; b++)
        for (int i = 0; i < mr_max; i++) {
            int8_t *dst = q + ((size_t)b * mr_max + i) * 32;
            if (i < mr) {
                const sail_q8a *a = A + (size_t)i * lda + b;
                memcpy(dst, a->q, 32);
                d[b * mr_max + i] = a->d;
            } else {
                memset(dst, 0, 32);
                d[b * mr_max + i] = 0.0f;
            }
        }
}

#endif
