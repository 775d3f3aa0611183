/* gemm_driver.h: the GotoBLAS/BLIS loop nest of the AVX-512 GEMM (the AVX2
 * one has its own, measured on Zen 3: see gemm_avx2.c). Included by the ISA
 * file after it defines MR, NR, KC, NC, its panel packers pack_bt_panel /
 * pack_bn_panel and MICROKERNEL, so the SIMD code is inlined: B is packed
 * per (NC, kc) block, A per (MR, kc) strip, and K is cut into near-equal
 * slices no deeper than KC. */
#ifndef SAIL_GEMM_DRIVER_H
#define SAIL_GEMM_DRIVER_H

/* All NR panels of a (kc, nc) block of op(B), panel j at dst + j * kc. */
static void pack_b(const float *B, int ldb, int b_trans, int nc, int kc, float *dst) {
    for (int j = 0; j < nc; j += NR) {
        int nr = SAIL_MIN(NR, nc - j);
        float *d = dst + (size_t)j * kc;
        if (b_trans) pack_bt_panel(B + (size_t)j * ldb, ldb, nr, kc, d);
        else pack_bn_panel(B + j, ldb, nr, kc, d);
    }
}

/* Rows of A into dst (MR, KC); missing rows are zero so they cost no NaNs. */
static void pack_a(const float *A, int lda, int mr, int kc, float *dst) {
    for (int i = 0; i < mr; i++) memcpy(dst + i * KC, A + (size_t)i * lda, kc * sizeof(float));
    for (int i = mr; i < MR; i++) memset(dst + i * KC, 0, kc * sizeof(float));
}

static int k_slice(int K) {
    int n = (K + KC - 1) / KC;
    return (K + n - 1) / n;
}

static void gemm_blocked(int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, int b_trans, const float *bias, float beta, float *C,
                         int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* no products: C := beta C + bias, and k_slice would divide by 0 */
        sail_gemm_ref(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
        return;
    }
    float *buf = sail_gemm_pack_buffer((size_t)KC * NC + (size_t)MR * KC);
    if (!buf) { /* out of memory: still give the right answer */
        sail_gemm_ref(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
        return;
    }
    float *Bp = buf;                    // (NC/NR, kc, NR)
    float *Ap = buf + (size_t)KC * NC;  // (MR, KC)
    int kstep = k_slice(K);
    for (int jc = 0; jc < N; jc += NC) {
        int nc = SAIL_MIN(NC, N - jc);
        for (int pc = 0; pc < K; pc += kstep) {
            int kc = SAIL_MIN(kstep, K - pc);
            const float *Bblk = b_trans ? B + (size_t)jc * ldb + pc : B + (size_t)pc * ldb + jc;
            pack_b(Bblk, ldb, b_trans, nc, kc, Bp);
            int accum = pc > 0 || beta != 0.0f;
            const float *bias_blk = pc == 0 && bias ? bias + jc : NULL;
            for (int ir = 0; ir < M; ir += MR) {
                int mr = SAIL_MIN(MR, M - ir);
                pack_a(A + (size_t)ir * lda + pc, lda, mr, kc, Ap);
                float *Crow = C + (size_t)ir * ldc + jc;
                for (int jr = 0; jr < nc; jr += NR)
                    MICROKERNEL(kc, Ap, Bp + (size_t)jr * kc, Crow + jr, ldc, mr,
                                SAIL_MIN(NR, nc - jr), accum, bias_blk ? bias_blk + jr : NULL);
            }
        }
    }
}

#endif
