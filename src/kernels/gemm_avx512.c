/* gemm_avx512.c: single-threaded SGEMM for AVX-512, GotoBLAS/BLIS style.
 *
 * Loops: NC columns of B -> KC deep slice -> pack that B block (kc, nc) so it
 * sits in L2 -> for each MR-row strip of A: copy it (row-major, fixed stride
 * KC so broadcasts use immediate offsets; it stays in L1) -> for each NR
 * panel of the packed B: a 14x32 register-blocked microkernel.
 * 28 zmm accumulators hide the FMA latency; per k the kernel loads two B
 * vectors and broadcasts 14 A values for 28 FMAs. Edges: partial A strips are
 * zero-padded, partial B panels are zero-padded and stored through masks.
 *
 * Also the f16 / bf16 weight GEMMs of the avx512 levels (contract:
 * table->gemm_f16, exact widening, f32 products and sums): the same loops
 * and microkernel, with a packer that widens 16 rows x 16 k of the stored
 * weights at a time (pack16x8.h, then vcvtph2ps or a 16-bit shift), and
 * for at most 64 rows a path that reads W in place, once; the f32 GEMM
 * takes that path too for a Linear weight and at most 32 (64) rows. */
#include "kernels_impl.h"
#include "common.h"

#include "transpose8.h"
#include "pack16x8.h"

#include <immintrin.h>
#include <string.h>

#define MR 14
#define NR 32
#define KC 384
#define NC 512

/* One NR panel from B (K, N) columns 0..nr, depth kc: dst (kc, NR). */
static void pack_bn_panel(const float *B, int ldb, int nr, int kc, float *dst) {
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
    for (int k = 0; k < kc; k++) {
        const float *b = B + (size_t)k * ldb;
        _mm512_store_ps(dst + (size_t)k * NR, _mm512_maskz_loadu_ps(m0, b));
        _mm512_store_ps(dst + (size_t)k * NR + 16, _mm512_maskz_loadu_ps(m1, b + 16));
    }
}

/* C(mr, nr) (+)= Ap(MR, kc) * Bp(kc, NR) [+ bias]. accum: add to C. */
static void kernel_14x32(int kc, const float *restrict Ap, const float *restrict Bp,
                         float *C, int ldc, int mr, int nr, int accum,
                         const float *bias) {
    __m512 c[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
        Bp += NR;
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(Ap[i * KC + k]);
            c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
        }
    }
    store_tile32(c, MR, C, ldc, mr, nr, accum, bias);
}

#define MICROKERNEL kernel_14x32
#include "gemm_driver.h"

typedef struct f32_b { const float *B; int ldb, b_trans; } f32_b;

/* W's rows are read a panel ahead (pack_bt_panel's nr_next), as the avx2
 * packer already did: a Linear weight comes from memory (ViT-S: 85 MB an
 * image), and packing was a sixth of ViT-S batch 1's f32 pass. */
static void pack_f32_block(const void *ctx, int jc, int pc, int nc, int kc, float *dst) {
    const f32_b *b = ctx;
    const float *B = b->b_trans ? b->B + (size_t)jc * b->ldb + pc : b->B + (size_t)pc * b->ldb + jc;
    for (int j = 0; j < nc; j += NR) {
        int nr = SAIL_MIN(NR, nc - j);
        if (b->b_trans)
            pack_bt_panel(B + (size_t)j * b->ldb, b->ldb, nr, kc, dst + (size_t)j * kc, NR,
                          SAIL_MIN(NR, nc - j - NR));
        else pack_bn_panel(B + j, b->ldb, nr, kc, dst + (size_t)j * kc);
    }
}

static void gemm_blocked(int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, int b_trans, const float *bias, float beta, float *C,
                         int ldc) {
    if (M <= 0 || N <= 0) return;
    f32_b b = {B, ldb, b_trans};
    /* K = 0 (C := bias + beta C) or no packing buffer: the reference */
    if (!gemm_packed(M, N, K, A, lda, pack_f32_block, &b, bias, beta, C, ldc))
        sail_gemm_ref(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
}


/* ------------------------------------------------- f16 / bf16 weights -- */

/* 16 dwords, each two 16-bit values (k even, k odd), widened into f32. */
static inline __m512 widen_even(__m512i v, int bf16) {
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}
static inline __m512 widen_odd(__m512i v, int bf16) {
    if (bf16) return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
}

/* Rows [0, nr) of W (16-bit values, rows ldw bytes apart; nr <= NR), k
 * [0, kc), widened into the panel dst (kc, NR); missing rows are zero. */
static void pack_half_panel(const uint8_t *W, size_t ldw, int nr, int kc, float *dst, int bf16) {
    uint8_t t[512] __attribute__((aligned(64)));
    for (int h = 0; h < NR; h += 16) {
        int hr = SAIL_MIN(16, nr - h);
        const uint8_t *src = W + (size_t)h * ldw;
        for (int k = 0; k < kc; k += 16) {
            int kn = SAIL_MIN(16, kc - k);
            if (!(k & 31)) /* 16 rows are too many streams for the hardware prefetcher */
                for (int r = 0; r < hr; r++)
                    _mm_prefetch((const char *)src + (size_t)r * ldw + 2 * (size_t)k + 256, _MM_HINT_T0);
            if (hr <= 0) memset(t, 0, sizeof t);
            else if (hr == 16 && kn == 16) pack16x8(src + 2 * (size_t)k, ldw, t);
            else pack16x8_part(src + 2 * (size_t)k, ldw, hr, 2 * kn, t);
            for (int q = 0; 2 * q < kn; q++) {
                __m512i v = _mm512_load_si512(t + 64 * q);
                _mm512_store_ps(dst + (size_t)(k + 2 * q) * NR + h, widen_even(v, bf16));
                if (2 * q + 1 < kn)
                    _mm512_store_ps(dst + (size_t)(k + 2 * q + 1) * NR + h, widen_odd(v, bf16));
            }
        }
    }
}

typedef struct half_b { const uint8_t *W; size_t ldw; int bf16; } half_b;

static void pack_half_block(const void *ctx, int jc, int pc, int nc, int kc, float *dst) {
    const half_b *b = ctx;
    for (int j = 0; j < nc; j += NR)
        pack_half_panel(b->W + (size_t)(jc + j) * b->ldw + 2 * (size_t)pc, b->ldw,
                        SAIL_MIN(NR, nc - j), kc, dst + (size_t)j * kc, b->bf16);
}

/* At most DIRECT_MAX_M rows (texts): W read in place, 16 weights of FN
 * rows per step, widened and multiplied into FEW_M x FN accumulators; W is
 * read from memory once, which packing it would not beat at so few rows. */
#define FEW_M 4
#define FN 4
#define DIRECT_MAX_M 64
_Static_assert(DIRECT_MAX_M <= SAIL_GEMM_DIRECT_MAX_M, "see kernels_impl.h");

enum { T_F16 = 0, T_BF16 = 1, T_F32 = 2 };

/* 16 weights (the first m of them) of the stored type as f32. */
static inline __m512 widen16(const uint8_t *p, __mmask16 m, int type) {
    if (type == T_F32) return _mm512_maskz_loadu_ps(m, p);
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (type == T_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

static inline __attribute__((always_inline)) void few_tile(
    int rm, int rn, int K, const float *A, int lda, const uint8_t *W, size_t ldw, int type,
    const float *bias, float beta, float *C, int ldc) {
    size_t wsize = type == T_F32 ? 4 : 2;
    __m512 acc[FEW_M][FN];
#pragma GCC unroll 4
    for (int i = 0; i < rm; i++)
#pragma GCC unroll 4
        for (int j = 0; j < FN; j++) acc[i][j] = _mm512_setzero_ps(); /* j >= rn: sums of 0 */
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = mask16(K - k);
        __m512 w[FN];
        if (type == T_F32 || !(k & 31)) /* the next tile's rows: memory streams meanwhile */
#pragma GCC unroll 4
            for (int j = 0; j < FN; j++)
                _mm_prefetch((const char *)W + (size_t)(j + FN) * ldw + wsize * k, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int j = 0; j < rn; j++) w[j] = widen16(W + (size_t)j * ldw + wsize * k, m, type);
#pragma GCC unroll 4
        for (int i = 0; i < rm; i++) {
            __m512 a = _mm512_maskz_loadu_ps(m, A + (size_t)i * lda + k);
#pragma GCC unroll 4
            for (int j = 0; j < rn; j++) acc[i][j] = _mm512_fmadd_ps(a, w[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < rm; i++)
        store4(C + (size_t)i * ldc, hsum4x16(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), rn, bias,
               beta);
}

#define FEW_TILE(RM, RN)                                                                     \
    static void f16_##RM##x##RN(int K, const float *A, int lda, const uint8_t *W, size_t ldw, \
                                const float *bias, float beta, float *C, int ldc) {          \
        few_tile(RM, RN, K, A, lda, W, ldw, T_F16, bias, beta, C, ldc);                     \
    }                                                                                        \
    static void bf16_##RM##x##RN(int K, const float *A, int lda, const uint8_t *W,           \
                                 size_t ldw, const float *bias, float beta, float *C,        \
                                 int ldc) {                                                  \
        few_tile(RM, RN, K, A, lda, W, ldw, T_BF16, bias, beta, C, ldc);                    \
    }                                                                                        \
    static void f32_##RM##x##RN(int K, const float *A, int lda, const uint8_t *W, size_t ldw, \
                                const float *bias, float beta, float *C, int ldc) {          \
        few_tile(RM, RN, K, A, lda, W, ldw, T_F32, bias, beta, C, ldc);                     \
    }
FEW_TILE(1, 1) FEW_TILE(1, 2) FEW_TILE(1, 3) FEW_TILE(1, 4)
FEW_TILE(2, 1) FEW_TILE(2, 2) FEW_TILE(2, 3) FEW_TILE(2, 4)
FEW_TILE(3, 1) FEW_TILE(3, 2) FEW_TILE(3, 3) FEW_TILE(3, 4)
FEW_TILE(4, 1) FEW_TILE(4, 2) FEW_TILE(4, 3) FEW_TILE(4, 4)
/* [type][rm - 1][rn - 1] */
static const tile_fn few_tiles[3][FEW_M][FN] = {
    {{f16_1x1, f16_1x2, f16_1x3, f16_1x4}, {f16_2x1, f16_2x2, f16_2x3, f16_2x4},
     {f16_3x1, f16_3x2, f16_3x3, f16_3x4}, {f16_4x1, f16_4x2, f16_4x3, f16_4x4}},
    {{bf16_1x1, bf16_1x2, bf16_1x3, bf16_1x4}, {bf16_2x1, bf16_2x2, bf16_2x3, bf16_2x4},
     {bf16_3x1, bf16_3x2, bf16_3x3, bf16_3x4}, {bf16_4x1, bf16_4x2, bf16_4x3, bf16_4x4}},
    {{f32_1x1, f32_1x2, f32_1x3, f32_1x4}, {f32_2x1, f32_2x2, f32_2x3, f32_2x4},
     {f32_3x1, f32_3x2, f32_3x3, f32_3x4}, {f32_4x1, f32_4x2, f32_4x3, f32_4x4}},
};

static void gemm_half(int M, int N, int K, const float *A, int lda, const uint8_t *W,
                      size_t ldw, int bf16, const float *bias, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    half_b b = {W, ldw, bf16};
    if (K > 0 && M <= DIRECT_MAX_M)
        gemm_tiles(M, N, K, A, lda, W, ldw, 2, &few_tiles[bf16 ? T_BF16 : T_F16][0][0], FEW_M, FN, bias,
                   beta, C, ldc);
    else if (!gemm_packed(M, N, K, A, lda, pack_half_block, &b, bias, beta, C, ldc))
        /* K = 0 (C := bias + beta C) or no packing buffer */
        (bf16 ? sail_gemm_bf16_ref : sail_gemm_f16_ref)(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
}

SAIL_GEMM_HALF_ENTRIES(avx512, gemm_half)

/* f32: a Linear weight (b_trans) with few rows of A takes the direct path
 * (each weight read once, no packing; the AVX2 GEMM's rule, measured there:
 * up to 32 rows, 64 when K is deep enough that packing B dominates). */
void sail_gemm_avx512(int M, int N, int K, const float *A, int lda, const float *B,
                      int ldb, int b_trans, const float *bias, float beta, float *C,
                      int ldc) {
    if (M > 0 && N > 0 && K > 0 && b_trans && (M <= 32 || (M <= 64 && K >= 512)))
        gemm_tiles(M, N, K, A, lda, (const uint8_t *)B, (size_t)ldb * sizeof(float), sizeof(float),
                   &few_tiles[T_F32][0][0], FEW_M, FN, bias, beta, C, ldc);
    else gemm_blocked(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
}
