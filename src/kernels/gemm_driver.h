/* gemm_driver.h: the loops shared by the GEMMs whose microkernel multiplies
 * f32 panels: the AVX-512 f32 GEMM and the f16 / bf16 weight GEMMs of the
 * avx2 and avx512 levels (the AVX2 f32 GEMM has its own, measured on Zen 3:
 * see gemm_avx2.c). Included by the ISA file after it defines MR, NR, KC, NC
 * and MICROKERNEL, so the SIMD code is inlined.
 *
 * gemm_packed is the GotoBLAS/BLIS nest: B is packed per (NC, kc) block by
 * the caller's packer (which is where the types differ: f32 copied, f16 or
 * bf16 widened), A per (MR, kc) strip, and K is cut into near-equal slices
 * no deeper than KC. gemm_tiles is the few-row loop over tiles that read W
 * in place. */
#ifndef SAIL_GEMM_DRIVER_H
#define SAIL_GEMM_DRIVER_H

/* Rows of A are taken in slices of this many bytes, which stay in L2 while
 * the rows of W stream past them; gemm_tiles runs k in blocks whose rows of
 * the slice take at most A_BLOCK_BYTES, about an L1 (measured on Zen 5 at
 * 16 rows: 24 KB slowed K = 768, which it splits, by up to a tenth; 48 KB
 * leaves K = 768 whole and runs K = 3072 15-30% faster in f32). */
enum { A_SLICE_BYTES = 256 * 1024, A_BLOCK_BYTES = 48 * 1024 };

/* Packs the (kc, nc) block of op(B) at column jc, depth pc into dst as NR
 * panels, panel j at dst + j * kc; columns past nc are zero. */
typedef void (*pack_b_fn)(const void *b, int jc, int pc, int nc, int kc, float *dst);

/* Rows of A into dst (MR, KC); missing rows are zero so they cost no NaNs. */
static void pack_a(const float *A, int lda, int mr, int kc, float *dst) {
    for (int i = 0; i < mr; i++) memcpy(dst + i * KC, A + (size_t)i * lda, kc * sizeof(float));
    for (int i = mr; i < MR; i++) memset(dst + i * KC, 0, kc * sizeof(float));
}

static int k_slice(int K) {
    int n = (K + KC - 1) / KC;
    return (K + n - 1) / n;
}

/* C = bias + beta C + A op(B) for K > 0, op(B)'s blocks from pack(b, ...).
 * Returns 0, C untouched, when K <= 0 or there is no packing buffer: the
 * caller's reference then gives the answer. */
static int gemm_packed(int M, int N, int K, const float *A, int lda, pack_b_fn pack,
                       const void *b, const float *bias, float beta, float *C, int ldc) {
    float *buf = K > 0 ? sail_gemm_pack_buffer((size_t)KC * NC + (size_t)MR * KC) : NULL;
    if (!buf) return 0;
    float *Bp = buf;                    // (NC/NR, kc, NR)
    float *Ap = buf + (size_t)KC * NC;  // (MR, KC)
    int kstep = k_slice(K);
    for (int jc = 0; jc < N; jc += NC) {
        int nc = SAIL_MIN(NC, N - jc);
        for (int pc = 0; pc < K; pc += kstep) {
            int kc = SAIL_MIN(kstep, K - pc);
            pack(b, jc, pc, nc, kc, Bp);
            int accum = pc > 0 || beta != 0.0f;
            const float *bias_blk = pc == 0 && bias ? bias + jc : NULL;
            for (int ir = 0; ir < M; ir += MR) {
                int mr = SAIL_MIN(MR, M - ir);
                pack_a(A + (size_t)ir * lda + pc, lda, mr, kc, Ap);
                float *Crow = C + (size_t)ir * ldc + jc;
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = SAIL_MIN(NR, nc - jr);
                    sail_prefetch_ahead(C + jc + jr, ldc * sizeof(float), M, ir, MR, nr * sizeof(float));
                    MICROKERNEL(kc, Ap, Bp + (size_t)jr * kc, Crow + jr, ldc, mr, nr, accum,
                                bias_blk ? bias_blk + jr : NULL);
                }
            }
        }
    }
    return 1;
}

/* C(rm, rn) = bias + beta C + A(rm, K) W(rn, K)^T, W rows ldw bytes apart in
 * the tile's stored type; one function per (rm, rn) so the loops unroll. */
typedef void (*tile_fn)(int K, const float *A, int lda, const uint8_t *W, size_t ldw,
                        const float *bias, float beta, float *C, int ldc);

/* C = bias + beta C + A W^T, W (wsize bytes an element) read in place by
 * tiles of at most tm rows of A by tn rows of W (tiles[(rm - 1) * tn + rn -
 * 1]): rows of A in slices that stay in L2, k in blocks that stay in L1 (at
 * K = 3072, BERT's fc2, 16 rows of A read from L2 for every tile of W ran
 * at half the rate of K = 768); per tn rows of W (in L1 after the first
 * group), every group of tm rows of the slice. The first block adds bias +
 * beta C, the others C. */
static void gemm_tiles(int M, int N, int K, const float *A, int lda, const uint8_t *W,
                       size_t ldw, size_t wsize, const tile_fn *tiles, int tm, int tn,
                       const float *bias, float beta, float *C, int ldc) {
    int slice = (int)SAIL_MAX((size_t)tm, A_SLICE_BYTES / ((size_t)K * sizeof(float)) / tm * tm);
    for (int m0 = 0; m0 < M; m0 += slice) {
        int m1 = SAIL_MIN(M, m0 + slice);
        int kb = (int)SAIL_MAX(256, A_BLOCK_BYTES / (sizeof(float) * (size_t)(m1 - m0)) & ~(size_t)31);
        for (int k0 = 0; k0 < K; k0 += kb) {
            int kn = SAIL_MIN(kb, K - k0);
            for (int n = 0; n < N; n += tn) {
                int rn = SAIL_MIN(tn, N - n);
                for (int i = m0; i < m1; i += tm)
                    tiles[(SAIL_MIN(tm, m1 - i) - 1) * tn + rn - 1](
                        kn, A + (size_t)i * lda + k0, lda, W + (size_t)n * ldw + wsize * (size_t)k0, ldw,
                        k0 || !bias ? NULL : bias + n, k0 ? 1.0f : beta, C + (size_t)i * ldc + n, ldc);
            }
        }
    }
}

#endif
