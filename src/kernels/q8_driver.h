/* q8_driver.h: the packed loop nest shared by the q8_0 GEMMs of the avx2
 * level (gemm_quant_avx2.c, vpmaddubsw) and the avx512vnni level
 * (gemm_vnni_avx512.c, vpdpbusd), as gemm_driver.h is for the f32 panels.
 * A (kb-block, nc-column) slice of W is packed into 16-column panels; per
 * strip of mr rows of A, packed once, the microkernel runs over nr columns
 * of them. Each file describes its blocking and its three pieces in a
 * constant q8_nest, so the calls resolve at compile time. */
#ifndef SAIL_Q8_DRIVER_H
#define SAIL_Q8_DRIVER_H

#include "kernels_impl.h"
#include "common.h"

typedef struct q8_nest {
    int mr;             /* rows of A per strip */
    int kb;             /* blocks per K slice */
    int nc;             /* columns per packed slice of W */
    int pb;             /* bytes per (16-column panel, block) */
    int nr;             /* columns per microkernel: 16, or 32 as two panels */
    size_t strip_bytes; /* one packed strip of A: kb blocks of mr rows */
    /* Rows [0, nr) of W (nr <= 16), blocks [0, kb), into one panel. */
    void (*pack_panel)(const uint8_t *W, size_t ldw, int nr, int kb, uint8_t *dst);
    /* Rows [0, mr) of the quantised A, blocks [0, kb), into strip; the
     * rows up to the nest's mr add nothing. */
    void (*pack_strip)(const sail_q8a *A, size_t lda, int mr, int kb, uint8_t *strip);
    /* C(mr, nr) (+)= strip times the panels from P (pstride bytes apart)
     * [+ bias]; accum: add to C. next: NULL, or the panels the next call
     * reads (laid out as P's), to be prefetched block by block (with
     * those further on, pstride apart: a prefetch past the end is harmless). */
    void (*kernel)(int kb, const uint8_t *strip, const uint8_t *P, size_t pstride, float *C,
                   int ldc, int mr, int nr, int accum, const float *bias, const uint8_t *next);
} q8_nest;

/* Bytes of W (N rows, nb blocks) as whole-K panels: panel p (rows 16p ..
 * 16p+15, the missing ones zero) holds its nb blocks one after another. */
static inline size_t q8_panels_size(const q8_nest *q, int N, int nb) {
    return (size_t)((N + 15) / 16) * (size_t)nb * (size_t)q->pb;
}

/* W into whole-K panels (q8_panels_size bytes at dst), once per model: the
 * GEMMs then skip packing (at 16 rows of A it was two thirds of the work). */
static inline void q8_pack_panels(const q8_nest *q, const uint8_t *W, size_t ldw, int N, int nb,
                                  uint8_t *dst) {
    for (int j = 0; j < N; j += 16)
        q->pack_panel(W + (size_t)j * ldw, ldw, SAIL_MIN(16, N - j), nb,
                      dst + (size_t)(j / 16) * nb * q->pb);
}

/* C = bias + beta C + A W^T over nb > 0 blocks of K; Wp: W packed by
 * q8_pack_panels, or NULL to pack slices of it here. */
static inline void q8_packed(const q8_nest *q, int M, int N, int nb, const sail_q8a *A,
                             size_t lda, const uint8_t *W, size_t ldw, const uint8_t *Wp,
                             const float *bias, float beta, float *C, int ldc) {
    size_t wbytes = Wp ? 0 : (size_t)(q->nc / 16) * q->kb * q->pb;
    float *buf = sail_gemm_pack_buffer((wbytes + q->strip_bytes) / sizeof(float));
    if (!buf) { /* out of memory: still give the right answer */
        sail_gemm_q8_0_ref(M, N, nb * SAIL_Q8_0_BLOCK, A, lda, W, ldw, NULL, bias, beta, C, ldc);
        return;
    }
    uint8_t *Bp = (uint8_t *)buf; // (nc/16 panels, kb, pb)
    uint8_t *strip = Bp + wbytes; // (strip_bytes)
    int kslices = (nb + q->kb - 1) / q->kb, kstep = (nb + kslices - 1) / kslices;
    for (int jc = 0; jc < N; jc += q->nc) {
        int nc = SAIL_MIN(q->nc, N - jc);
        for (int pb = 0; pb < nb; pb += kstep) {
            int kb = SAIL_MIN(kstep, nb - pb);
            size_t pstride = (size_t)(Wp ? nb : kb) * q->pb;
            if (Wp)
                Bp = (uint8_t *)Wp + (size_t)(jc / 16) * pstride + (size_t)pb * q->pb;
            else
                for (int j = 0; j < nc; j += 16)
                    q->pack_panel(W + (size_t)(jc + j) * ldw + (size_t)pb * (2 + SAIL_Q8_0_BLOCK), ldw,
                                  SAIL_MIN(16, nc - j), kb, Bp + (size_t)(j / 16) * pstride);
            int accum = pb > 0 || beta != 0.0f;
            const float *bias_blk = pb == 0 && bias ? bias + jc : NULL;
            for (int ir = 0; ir < M; ir += q->mr) {
                int mr = SAIL_MIN(q->mr, M - ir);
                sail_prefetch_ahead(A + pb, lda * sizeof(sail_q8a), M, ir, q->mr,
                                    (size_t)kb * sizeof(sail_q8a));
                q->pack_strip(A + (size_t)ir * lda + pb, lda, mr, kb, strip);
                float *Crow = C + (size_t)ir * ldc + jc;
                for (int jr = 0; jr < nc; jr += q->nr) {
                    int nr = SAIL_MIN(q->nr, nc - jr);
                    /* The first strip meets each panel of the slice first,
                     * from memory or L3: it fetches the next call's panels
                     * as it goes (the later strips find them in L2). At 16
                     * rows of A this made BERT's products 10-15% faster. */
                    const uint8_t *next = ir == 0 && jr + q->nr < nc
                                              ? Bp + (size_t)((jr + q->nr) / 16) * pstride : NULL;
                    sail_prefetch_ahead(C + jc + jr, ldc * sizeof(float), M, ir, q->mr, nr * sizeof(float));
                    q->kernel(kb, strip, Bp + (size_t)(jr / 16) * pstride, pstride, Crow + jr, ldc,
                              mr, nr, accum, bias_blk ? bias_blk + jr : NULL, next);
                }
            }
        }
    }
}

#endif
