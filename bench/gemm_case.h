/* gemm_case.h: the operands of one GEMM shape that bench_gemm_quant and
 * bench_threads time, drawn and stored alike so both time the same work. */
#ifndef SAIL_BENCH_GEMM_CASE_H
#define SAIL_BENCH_GEMM_CASE_H

#include "bench.h"
#include "format/gguf.h"
#include "kernels/numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C (M x N) = A (M x K) W^T, W being N x K. */
typedef struct bench_gemm_case {
    int M, N, K;
    float *A, *W, *C; /* A and W uniform in [-1, 1] (bench_uniform) */
    double flop;      /* 2 M N K */
    int inner;        /* calls that make a sample last >= ~2 ms at 100 GFLOP/s */
    char dims[32];    /* "MxNxK" */
} bench_gemm_case;

/* What a benchmark does when out of memory: its figures would mean nothing. */
static inline void *bench_gemm_case_need(void *p) {
    if (!p) {
        fprintf(stderr, "bench: out of memory for a GEMM case\n");
        exit(1);
    }
    return p;
}

/* The shape `name` (M x N x K) when its name contains `only` (a program's
 * --only; NULL: every shape): fills g, drawing A then W from seed, and
 * returns 1. Otherwise 0, g untouched and seed unused. Exits when out of
 * memory. */
static inline int bench_gemm_case_pick(bench_gemm_case *g, const char *name, const char *only, int M, int N, int K,
                                       unsigned *seed) {
    if (only && !strstr(name, only)) return 0;
    *g = (bench_gemm_case){.M = M, .N = N, .K = K};
    g->A = bench_gemm_case_need(bench_uniform((size_t)M * K, seed));
    g->W = bench_gemm_case_need(bench_uniform((size_t)N * K, seed));
    g->C = bench_gemm_case_need(bench_aligned((size_t)M * N * sizeof(float)));
    g->flop = 2.0 * M * N * K;
    g->inner = (int)(2e-3 / (g->flop / 100e9)) + 1;
    snprintf(g->dims, sizeof g->dims, "%dx%dx%d", M, N, K);
    return 1;
}

static inline void bench_gemm_case_free(bench_gemm_case *g) {
    free(g->A);
    free(g->W);
    free(g->C);
}

/* g's W stored as GGUF type `type`, `copies` times back to back; a row
 * takes *row_bytes, a copy *row_bytes * N. Exits when out of memory. */
static inline unsigned char *bench_gemm_case_quantize(const bench_gemm_case *g, uint32_t type, int copies,
                                                      size_t *row_bytes) {
    size_t rb = gguf_type_nbytes(type, (uint64_t)g->K), wbytes = rb * g->N;
    unsigned char *q = bench_gemm_case_need(malloc(wbytes * copies));
    for (int n = 0; n < g->N; n++) sail_quantize_row(type, q + n * rb, g->W + (size_t)n * g->K, g->K);
    for (int c = 1; c < copies; c++) memcpy(q + c * wbytes, q, wbytes);
    *row_bytes = rb;
    return q;
}

#endif
