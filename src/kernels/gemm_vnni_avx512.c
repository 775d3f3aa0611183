/* gemm_vnni_avx512.c: the q8_0 GEMM with AVX-512 VNNI (vpdpbusd), for the
 * avx512vnni and avx512bf16 levels. Compiled with -mavx512vnni; nothing
 * else is, so no other file can pick the instruction up.
 *
 * Same contract and the same integers as sail_gemm_q8_0_ref: A comes
 * quantised by quantize_q8a (per row, per 32-value block: d and q in
 * [-127, 127]); per block the dot product of the int8 values is exact and is
 * scaled by both blocks' scales in f32.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The weights are made
 * unsigned (w + 128; a weight of -128, which other writers may store,
 * becomes 0), so each block sum comes out as dot + 128 * sum(a); the
 * integer accumulator starts at -128 times that sum instead of 0 and the
 * result is the exact dot. Nothing saturates.
 *
 * One loop nest for every row count (q8_driver.h). W is packed into
 * 16-column panels: per block 8 vectors, vector q holding int8 4q..4q+3 of
 * each of the 16 weight rows (the vpdpbusd layout) plus 128, then the 16
 * rows' f32 scales. A strip of MR rows of A is copied as is, with each
 * row's block correction -128 sum(q). The 6 x 32 microkernel runs each
 * block as 8 vpdpbusd steps into 12 int32 accumulators, then converts them
 * and adds them times d_a * d_w into 12 f32 accumulators: 96 vpdpbusd (6144
 * multiply-adds) per 36 f32 operations. A 4 x 32 one runs as fast on data
 * in L1 (both about 685 GOP/s on Zen 5, 84% of vpdpbusd's peak): it serves
 * the row counts that 4 divides with less padding than 6 (16 tokens: 16
 * rows, not 18; BERT's 16-token GEMMs 1.05-1.12x, docs/BENCHMARKS-HISTORY.md), and
 * the fewest rows. There is no few-row path reading W as stored: with the
 * panels packed at load the nest is faster at 1-4 rows too (1 x 3072 x 768,
 * W from memory, 1 thread: 80-85 against 112-122 us; 4 rows: 83-84 against
 * 135-151), and each element is then the same sums at every row count, so
 * a row's result does not depend on the rows beside it. (Where the
 * panels are not there yet, a matrix's first use or no_repack, a product of
 * 1-4 rows packs its slices as a larger one does: 2.2x the in-place loop's
 * time at 1 row.) */
#include "kernels_impl.h"
#include "common.h"
#include "pack16x8.h"
#include "q8a_pack.h"
#include "q8_driver.h"

#include <immintrin.h>
#include <string.h>

enum { QBLK = 32, QBYTES = 34 };

#define MR 6           /* the most rows of A per strip (nest6; nest4 has 4) */
#define JN 2            /* 16-column panels per microkernel */
#define KB 16           /* blocks per K slice (512 values) */
_Static_assert(KB * QBLK == SAIL_Q8A_OUT_MAX_K, "gemm_q8_0_q8a's one slice of k (kernels_impl.h)");
#define NCQ SAIL_W_SLICE_NC /* columns per packed slice of W */
enum { PB = 576 };      /* bytes per (panel, block): 512 int8, 16 f32 scales */
/* A slice of W packed at load, up to this: a third of the L2 of the VNNI
 * CPUs seen (1 MB a core on Zen 5 and Cascade Lake), 864 columns at K 384. */
#define SLICE_BYTES (384 * 1024)
/* A packed strip of mr rows: au (KB, mr, 32), ad (KB, mr) f32, corr (KB, mr) int32. */
#define AU_BYTES(mr) (KB * (mr) * 32)
#define STRIP_BYTES(mr) (AU_BYTES(mr) + KB * (mr) * 8)

/* Rows [0, nr) of W (nr <= 16), blocks [0, kb), into the panel dst, each
 * int8 made unsigned (w + 128). */
static void pack_q8_panel(const uint8_t *W, size_t ldw, int nr, int kb, uint8_t *dst) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < kb; b++, dst += PB) {
        pack16x8_q8_block(W + (size_t)b * QBYTES, ldw, nr, dst, (float *)(dst + 512));
        for (int q = 0; q < 8; q++)
            _mm512_storeu_si512(dst + 64 * q, _mm512_xor_si512(_mm512_loadu_si512(dst + 64 * q), flip));
    }
}

/* Rows [0, mr) of the quantised A, blocks [0, kb), into a strip of rmax
 * rows: au (kb, rmax, 32) (q as is) and ad (kb, rmax) (q8a_pack.h), and
 * corr (kb, rmax): -128 sum(q), what the +128 of the weights adds to each
 * block's dot. */
static inline __attribute__((always_inline)) void pack_strip_rows(int rmax, const sail_q8a *A, size_t lda,
                                                                  int mr, int kb, uint8_t *strip) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    uint8_t *au = strip;
    float *ad = (float *)(strip + AU_BYTES(rmax));
    int32_t *corr = (int32_t *)(ad + KB * rmax);
    pack_q8a_strip(A, lda, mr, rmax, kb, (int8_t *)au, ad);
    for (int b = 0; b < kb * rmax; b++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(au + (size_t)b * 32));
        /* sum(q + 128) in four 64-bit lanes */
        __m256i s = _mm256_sad_epu8(_mm256_xor_si256(q, flip), _mm256_setzero_si256());
        __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        int sum = (int)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 128 * QBLK;
        corr[b] = -128 * sum;
    }
}

/* C(mr, nr) (+)= the (rmax rows, kb blocks) strip times the panels P0 = P
 * and P1 = P + pstride [+ bias]; per block, next's two panels' block is
 * prefetched (q8_driver.h). */
static inline __attribute__((always_inline)) void kernel_rows(
    int rmax, int kb, const uint8_t *strip, const uint8_t *P, size_t pstride, float *C, int ldc,
    int mr, int nr, int accum, const float *bias, const uint8_t *next) {
    const uint8_t *restrict au = strip;
    const float *restrict ad = (const float *)(strip + AU_BYTES(rmax));
    const int32_t *restrict corr = (const int32_t *)(ad + KB * rmax);
    const uint8_t *P0 = P, *P1 = nr > 16 ? P + pstride : P; /* unused lanes: masked */
    __m512 f[MR][JN];
#pragma GCC unroll 6
    for (int i = 0; i < rmax; i++) f[i][0] = f[i][1] = _mm512_setzero_ps();
    for (int b = 0; b < kb; b++, P0 += PB, P1 += PB, au += rmax * 32, ad += rmax, corr += rmax) {
        __m512i s[MR][JN];
        if (next) {
            const char *n = (const char *)next + (size_t)b * PB;
#pragma GCC unroll 10
            for (int l = 0; l < PB; l += 64) {
                _mm_prefetch(n + l, _MM_HINT_T0);
                _mm_prefetch(n + pstride + l, _MM_HINT_T0);
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < rmax; i++) s[i][0] = s[i][1] = _mm512_set1_epi32(corr[i]);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            __m512i w0 = _mm512_loadu_si512(P0 + 64 * q), w1 = _mm512_loadu_si512(P1 + 64 * q);
#pragma GCC unroll 6
            for (int i = 0; i < rmax; i++) {
                int32_t a4;
                memcpy(&a4, au + i * 32 + 4 * q, 4);
                s[i][0] = _mm512_dpbusd_epi32(s[i][0], w0, _mm512_set1_epi32(a4));
                s[i][1] = _mm512_dpbusd_epi32(s[i][1], w1, _mm512_set1_epi32(a4));
            }
        }
        __m512 d0 = _mm512_loadu_ps(P0 + 512), d1 = _mm512_loadu_ps(P1 + 512);
#pragma GCC unroll 6
        for (int i = 0; i < rmax; i++) {
            __m512 da = _mm512_set1_ps(ad[i]);
            f[i][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i][0]), _mm512_mul_ps(da, d0), f[i][0]);
            f[i][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i][1]), _mm512_mul_ps(da, d1), f[i][1]);
        }
    }
    store_tile32(f, rmax, C, ldc, mr, nr, accum, bias);
}

/* The two strip heights, each its packer and microkernel. */
#define Q8_NEST(R)                                                                               \
    static void pack_q8_strip##R(const sail_q8a *A, size_t lda, int mr, int kb, uint8_t *strip) { \
        pack_strip_rows(R, A, lda, mr, kb, strip);                                                \
    }                                                                                             \
    static void kernel_##R##x32(int kb, const uint8_t *strip, const uint8_t *P, size_t pstride,  \
                                float *C, int ldc, int mr, int nr, int accum, const float *bias,   \
                                const uint8_t *next) {                                            \
        kernel_rows(R, kb, strip, P, pstride, C, ldc, mr, nr, accum, bias, next);                 \
    }                                                                                             \
    static const q8_nest nest##R = {R, KB, NCQ, SLICE_BYTES, PB, 16 * JN, STRIP_BYTES(R), Q8_TILE_ORDER_BYTES, \
                                    pack_q8_panel, pack_q8_strip##R, kernel_##R##x32};
Q8_NEST(6)
Q8_NEST(4)

/* The strip height that pads M less (6 on a tie). */
static const q8_nest *nest_for(int M) { return (M + 3) / 4 * 4 < (M + 5) / 6 * 6 ? &nest4 : &nest6; }

/* The panels do not depend on the strip height. */
size_t sail_q8_0_panels_size_vnni(int N, int K) { return q8_panels_size(&nest6, N, K / QBLK); }

void sail_q8_0_pack_vnni(const void *W, size_t ldw, int N, int K, void *dst) {
    q8_pack_panels(&nest6, W, ldw, N, K / QBLK, dst);
}

void sail_gemm_q8_0_vnni(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W,
                         size_t ldw, const void *Wp, const float *bias, float beta, float *C, int ldc) {
    int nb = K / QBLK;
    if (M <= 0 || N <= 0) return;
    if (nb == 0) { /* no products: C := bias + beta C */
        sail_gemm_q8_0_ref(M, N, K, A, lda, W, ldw, NULL, bias, beta, C, ldc);
        return;
    }
    q8_packed(nest_for(M), M, N, nb, A, lda, W, ldw, Wp, bias, beta, C, ldc, NULL);
}

void sail_gemm_q8_0_q8a_vnni(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, const sail_rows_out *out) {
    q8_packed_q8a(nest_for(M), sail_quantize_q8a_avx512, M, N, K, A, lda, W, ldw, Wp, post, bias, out);
}
