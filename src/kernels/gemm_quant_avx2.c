/* gemm_quant_avx2.c: AVX2 GEMMs on weights in their stored type, and the
 * q8_0 activation quantiser. The AVX-512 table uses these too.
 *
 * f16 / bf16, up to 64 rows of A (texts): no packing. Tiles of 4 rows of A
 * times 3 rows of W run down K with 12 FMA accumulators, widening 8 weights
 * of each row per step (F16C vcvtph2ps; a 16-bit shift for bf16) straight
 * from the mapping, with the next rows of W prefetched: W is read once, at
 * close to the bandwidth of memory, where packing it would cost more than
 * the few rows of A gain from it.
 * f16 / bf16, more rows (image batches): the GotoBLAS/BLIS loop nest of
 * gemm_avx2.c (KC x NC blocks of W packed into NR-wide k-major panels, a
 * 6x16 FMA microkernel), except that the packer widens the weights as it
 * goes, so each is converted once per block of C.
 *
 * q8_0, any number of rows: packed int8 panels and a 3x16 vpmaddubsw
 * microkernel in q8_driver.h's loop nest (see QMR below). There is no
 * few-row path reading W as stored any more: with the panels packed at
 * load the nest ran BERT's 16-token products 1.3-1.7x faster than it
 * (SAIL_ISA=avx2 on Zen 5, W from memory, 1 thread; 8 rows 0.8-1.4x, 4
 * rows 1.2x, 1 row 1.5x), BERT-base at batch 1 1.27x, and one order of
 * sums at every row count makes a row's result independent of the rows
 * beside it. Without the panels (a matrix's first use, no_repack) packing
 * a slice per call cost about what the in-place loop did at 16 rows and
 * less at 1. */
#include "kernels_impl.h"
#include "common.h"
#include "transpose8.h"
#include "q8a_pack.h"
#include "q8_driver.h"

#include <immintrin.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 384
#define NC 512

/* ------------------------------------------------------------ f16 / bf16 -- */

/* Lanes [0, n) set, for vmaskmov on partial panels. */
static inline __m256i lanes(int n) {
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - SAIL_MAX(0, SAIL_MIN(n, 8))));
}

static inline __m256 widen8(const uint8_t *p, int bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline float widen1(const uint8_t *p, int bf16) {
    uint16_t h;
    memcpy(&h, p, 2);
    if (!bf16) return _cvtsh_ss(h);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Rows [0, nr) of W (16-bit values, rows ldw bytes apart), depth kc, widened
 * into the panel dst (kc, NR); rows nr..NR are zero. */
static inline void pack_panel(const uint8_t *W, size_t ldw, int nr, int kc, float *dst,
                              int bf16) {
    int k8 = kc & ~7, n8 = nr & ~7;
    float tmp[64] __attribute__((aligned(32)));
    for (int n = 0; n < n8; n += 8) {
        for (int k = 0; k < k8; k += 8) {
            for (int r = 0; r < 8; r++)
                _mm256_store_ps(tmp + 8 * r, widen8(W + (size_t)(n + r) * ldw + 2 * (size_t)k, bf16));
            transpose8(tmp, 8, dst + (size_t)k * NR + n, NR);
        }
        for (int k = k8; k < kc; k++)
            for (int r = 0; r < 8; r++)
                dst[(size_t)k * NR + n + r] = widen1(W + (size_t)(n + r) * ldw + 2 * (size_t)k, bf16);
    }
    for (int k = 0; k < kc; k++) {
        float *d = dst + (size_t)k * NR;
        for (int n = n8; n < nr; n++) d[n] = widen1(W + (size_t)n * ldw + 2 * (size_t)k, bf16);
        for (int n = nr; n < NR; n++) d[n] = 0.0f;
    }
}

/* The end of both packed-path microkernels: rows [0, mr) of C(mr, nr) (+)=
 * the accumulators c (rows of 16 columns as two halves) + bias (or 0);
 * accum: add to C. Masked, so columns nr..16 are neither read nor written.
 * Inlined with constant rows (the kernel's MR), so c stays in registers. */
static inline __attribute__((always_inline)) void store_tile16(__m256 c[][2], int rows, float *C,
                                                               int ldc, int mr, int nr, int accum,
                                                               const float *bias) {
    __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    if (bias) {
        b0 = _mm256_maskload_ps(bias, m0);
        b1 = _mm256_maskload_ps(bias + 8, m1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m256 v0 = _mm256_add_ps(c[i][0], b0), v1 = _mm256_add_ps(c[i][1], b1);
        if (accum) {
            v0 = _mm256_add_ps(v0, _mm256_maskload_ps(row, m0));
            v1 = _mm256_add_ps(v1, _mm256_maskload_ps(row + 8, m1));
        }
        _mm256_maskstore_ps(row, m0, v0);
        _mm256_maskstore_ps(row + 8, m1, v1);
    }
}

/* C(mr, nr) (+)= Ap(MR, kc) * Bp(kc, NR) [+ bias]. accum: add to C. The
 * same register blocking as gemm_avx2.c's f32 microkernel. */
static void kernel_6x16(int kc, const float *restrict Ap, const float *restrict Bp,
                        float *C, int ldc, int mr, int nr, int accum, const float *bias) {
    __m256 c[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
        Bp += NR;
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(Ap + i * KC + k);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
        }
    }
    store_tile16(c, MR, C, ldc, mr, nr, accum, bias);
}

#define MICROKERNEL kernel_6x16
#include "gemm_driver.h"

typedef struct half_b { const uint8_t *W; size_t ldw; int bf16; } half_b;

static void pack_half_block(const void *ctx, int jc, int pc, int nc, int kc, float *dst) {
    const half_b *b = ctx;
    for (int j = 0; j < nc; j += NR)
        pack_panel(b->W + (size_t)(jc + j) * b->ldw + 2 * (size_t)pc, b->ldw, SAIL_MIN(NR, nc - j), kc,
                   dst + (size_t)j * kc, b->bf16);
}

/* Few rows of A (a short text): no packing. A tile of HM rows of A times
 * HN rows of W runs down K with HM*HN accumulators of 8 floats, widening 8
 * weights of each row per step; the HN weight rows stay in L1 while every
 * strip of A passes them, so W is read from memory once. */
#define HM 4
#define HN 3
#define DIRECT_MAX_M 64
_Static_assert(DIRECT_MAX_M <= SAIL_GEMM_DIRECT_MAX_M, "see kernels_impl.h");

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline __attribute__((always_inline)) void half_tile(
    int rm, int rn, int K, const float *A, int lda, const uint8_t *W, size_t ldw, int bf16,
    const float *bias, float beta, float *C, int ldc) {
    __m256 acc[HM][HN];
    int k8 = K & ~7;
#pragma GCC unroll 4
    for (int i = 0; i < rm; i++)
#pragma GCC unroll 4
        for (int j = 0; j < rn; j++) acc[i][j] = _mm256_setzero_ps();
    for (int k = 0; k < k8; k += 8) {
        __m256 w[HN];
        if (!(k & 31)) /* the next rows of W, one cache line ahead of their first use */
#pragma GCC unroll 4
            for (int j = 0; j < rn; j++)
                _mm_prefetch((const char *)W + (size_t)(j + HN) * ldw + 2 * (size_t)k, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int j = 0; j < rn; j++) w[j] = widen8(W + (size_t)j * ldw + 2 * (size_t)k, bf16);
#pragma GCC unroll 4
        for (int i = 0; i < rm; i++) {
            __m256 a = _mm256_loadu_ps(A + (size_t)i * lda + k);
#pragma GCC unroll 4
            for (int j = 0; j < rn; j++) acc[i][j] = _mm256_fmadd_ps(a, w[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < rm; i++)
#pragma GCC unroll 4
        for (int j = 0; j < rn; j++) {
            const float *a = A + (size_t)i * lda;
            float s = hsum8(acc[i][j]);
            for (int k = k8; k < K; k++) s += a[k] * widen1(W + (size_t)j * ldw + 2 * (size_t)k, bf16);
            float *c = C + (size_t)i * ldc + j;
            *c = sail_gemm_base(c, bias, j, beta) + s;
        }
}

#define HALF_TILE(RM, RN)                                                                   \
    static void f16_tile_##RM##x##RN(int K, const float *A, int lda, const uint8_t *W,       \
                                     size_t ldw, const float *bias, float beta, float *C,    \
                                     int ldc) {                                              \
        half_tile(RM, RN, K, A, lda, W, ldw, 0, bias, beta, C, ldc);                         \
    }                                                                                        \
    static void bf16_tile_##RM##x##RN(int K, const float *A, int lda, const uint8_t *W,      \
                                      size_t ldw, const float *bias, float beta, float *C,   \
                                      int ldc) {                                             \
        half_tile(RM, RN, K, A, lda, W, ldw, 1, bias, beta, C, ldc);                         \
    }
HALF_TILE(1, 1) HALF_TILE(1, 2) HALF_TILE(1, 3)
HALF_TILE(2, 1) HALF_TILE(2, 2) HALF_TILE(2, 3)
HALF_TILE(3, 1) HALF_TILE(3, 2) HALF_TILE(3, 3)
HALF_TILE(4, 1) HALF_TILE(4, 2) HALF_TILE(4, 3)
/* [bf16][rm - 1][rn - 1] */
static const tile_fn half_tiles[2][HM][HN] = {
    {{f16_tile_1x1, f16_tile_1x2, f16_tile_1x3}, {f16_tile_2x1, f16_tile_2x2, f16_tile_2x3},
     {f16_tile_3x1, f16_tile_3x2, f16_tile_3x3}, {f16_tile_4x1, f16_tile_4x2, f16_tile_4x3}},
    {{bf16_tile_1x1, bf16_tile_1x2, bf16_tile_1x3}, {bf16_tile_2x1, bf16_tile_2x2, bf16_tile_2x3},
     {bf16_tile_3x1, bf16_tile_3x2, bf16_tile_3x3}, {bf16_tile_4x1, bf16_tile_4x2, bf16_tile_4x3}},
};

static void gemm_half(int M, int N, int K, const float *A, int lda, const uint8_t *W,
                      size_t ldw, int bf16, const float *bias, float beta, float *C, int ldc) {
    half_b b = {W, ldw, bf16};
    if (K > 0 && M <= DIRECT_MAX_M) /* packing W would cost more than it saves */
        gemm_tiles(M, N, K, A, lda, W, ldw, 2, &half_tiles[bf16][0][0], HM, HN, bias, beta, C, ldc);
    else if (!gemm_packed(M, N, K, A, lda, pack_half_block, &b, bias, beta, C, ldc))
        /* K = 0 (C := bias + beta C) or no packing buffer */
        (bf16 ? sail_gemm_bf16_ref : sail_gemm_f16_ref)(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
}

SAIL_GEMM_HALF_ENTRIES(avx2, gemm_half)

/* ------------------------------------------------------------------ q8_0 -- */

enum { QBLK = 32, QBYTES = 34 };

/* The GotoBLAS loop nest, as the VNNI kernel runs it with 8-column
 * halves. A (QKB-block, QNC-column) slice of W is packed
 * into 16-column panels: per block 8 vectors of 64 bytes, vector q holding
 * int8 4q..4q+3 of weight rows 0-7 (low 32 bytes) and 8-15 (high), then
 * the same 8 vectors as |w| (stored, not recomputed per step: the kernel is
 * bound by vector ALU operations, and this saves 2 of about 28 a step),
 * then the 16 rows' f32 scales. A strip of QMR rows of A is packed by
 * q8a_pack.h. Per block the microkernel broadcasts 4 int8 of each row of A
 * and runs, per 8 columns, sign + vpmaddubsw + vpmaddwd + add into int32
 * accumulators (32 exact multiply-adds), then converts them and adds them
 * times d_a * d_w into f32 accumulators. */
#define QMR 3
#define QKB 16          /* blocks per K slice (512 values) */
_Static_assert(QKB * QBLK == SAIL_Q8A_OUT_MAX_K, "gemm_q8_0_q8a's one slice of k (kernels_impl.h)");
#define QNC 256         /* columns per packed slice of W (278 KB packed: L2) */
enum { QPB = 1088 };    /* bytes per (panel, block): 512 int8, their 512 |w|, 16 f32 */
/* The packed strip of A: q (QKB, QMR, 32) int8, then d (QKB, QMR) f32. */
enum { AQ_BYTES = QKB * QMR * QBLK, STRIP_BYTES = AQ_BYTES + QKB * QMR * 4 };

/* Rows [0, nr) of W (nr <= 16), blocks [0, kb), into the panel dst. */
static void pack_q8_panel(const uint8_t *W, size_t ldw, int nr, int kb, uint8_t *dst) {
    uint8_t tmp[16 * QBYTES];
    for (int b = 0; b < kb; b++, dst += QPB) {
        const uint8_t *src = W + (size_t)b * QBYTES;
        size_t ld = ldw;
        if (nr < 16) { /* missing rows: zero weights and scales */
            memset(tmp, 0, sizeof tmp);
            for (int r = 0; r < nr; r++) memcpy(tmp + r * QBYTES, src + (size_t)r * ldw, QBYTES);
            src = tmp;
            ld = QBYTES;
        }
        for (int h = 0; h < 2; h++) {
            __m256 v[8];
            for (int r = 0; r < 8; r++)
                v[r] = _mm256_castsi256_ps(
                    _mm256_loadu_si256((const __m256i *)(src + (size_t)(8 * h + r) * ld + 2)));
            transpose8_regs(v); /* dword q of the 8 rows: bit moves only */
            for (int q = 0; q < 8; q++) {
                __m256i w = _mm256_castps_si256(v[q]);
                _mm256_storeu_si256((__m256i *)(dst + 64 * q + 32 * h), w);
                _mm256_storeu_si256((__m256i *)(dst + 512 + 64 * q + 32 * h), _mm256_abs_epi8(w));
            }
        }
        uint16_t d[16];
        for (int r = 0; r < 16; r++) memcpy(&d[r], src + (size_t)r * ld, 2);
        _mm256_storeu_ps((float *)(dst + 1024), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d)));
        _mm256_storeu_ps((float *)(dst + 1056), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(d + 8))));
    }
}

/* Rows [0, mr) of the quantised A, blocks [0, kb), into the strip. */
static void pack_q8_strip(const sail_q8a *A, size_t lda, int mr, int kb, uint8_t *strip) {
    pack_q8a_strip(A, lda, mr, QMR, kb, (int8_t *)strip, (float *)(strip + AQ_BYTES));
}

/* C(mr, nr) (+)= the (QMR, kb blocks) strip times the panel P [+ bias]
 * (one panel: pstride unused); per block, next's block is prefetched
 * (q8_driver.h). */
static void q8_kernel_3x16(int kb, const uint8_t *strip, const uint8_t *restrict P, size_t pstride,
                           float *C, int ldc, int mr, int nr, int accum, const float *bias,
                           const uint8_t *next) {
    const int8_t *restrict aq = (const int8_t *)strip;
    const float *restrict ad = (const float *)(strip + AQ_BYTES);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 f[QMR][2];
#pragma GCC unroll 4
    for (int i = 0; i < QMR; i++) f[i][0] = f[i][1] = _mm256_setzero_ps();
    for (int b = 0; b < kb; b++, P += QPB, aq += QMR * QBLK, ad += QMR) {
        __m256i s[QMR][2];
        if (next)
            for (int l = 0; l < QPB; l += 64)
                _mm_prefetch((const char *)next + (size_t)b * QPB + l, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int i = 0; i < QMR; i++) s[i][0] = s[i][1] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int q = 0; q < 8; q++) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(P + 64 * q));
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(P + 64 * q + 32));
            /* |w| as unsigned bytes (vpabsb of -128 gives 128), sign(w) moved onto a:
             * a is in [-127, 127], so each pair sum of vpmaddubsw is at
             * most 2 * 128 * 127 = 32512 and never saturates. */
            __m256i u0 = _mm256_loadu_si256((const __m256i *)(P + 512 + 64 * q));
            __m256i u1 = _mm256_loadu_si256((const __m256i *)(P + 512 + 64 * q + 32));
#pragma GCC unroll 4
            for (int i = 0; i < QMR; i++) {
                int32_t a4;
                memcpy(&a4, aq + i * QBLK + 4 * q, 4);
                __m256i a = _mm256_set1_epi32(a4);
                __m256i p0 = _mm256_maddubs_epi16(u0, _mm256_sign_epi8(a, w0));
                __m256i p1 = _mm256_maddubs_epi16(u1, _mm256_sign_epi8(a, w1));
                s[i][0] = _mm256_add_epi32(s[i][0], _mm256_madd_epi16(p0, ones));
                s[i][1] = _mm256_add_epi32(s[i][1], _mm256_madd_epi16(p1, ones));
            }
        }
        __m256 d0 = _mm256_loadu_ps((const float *)(P + 1024));
        __m256 d1 = _mm256_loadu_ps((const float *)(P + 1056));
#pragma GCC unroll 4
        for (int i = 0; i < QMR; i++) {
            __m256 da = _mm256_broadcast_ss(ad + i);
            f[i][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][0]), _mm256_mul_ps(da, d0), f[i][0]);
            f[i][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][1]), _mm256_mul_ps(da, d1), f[i][1]);
        }
    }
    store_tile16(f, QMR, C, ldc, mr, nr, accum, bias);
}

static const q8_nest nest = {QMR, QKB, QNC, 0, QPB, 16, STRIP_BYTES, Q8_TILE_ORDER_BYTES,
                             pack_q8_panel, pack_q8_strip, q8_kernel_3x16};

size_t sail_q8_0_panels_size_avx2(int N, int K) { return q8_panels_size(&nest, N, K / QBLK); }

void sail_q8_0_pack_avx2(const void *W, size_t ldw, int N, int K, void *dst) {
    q8_pack_panels(&nest, W, ldw, N, K / QBLK, dst);
}

void sail_gemm_q8_0_q8a_avx2(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, const sail_rows_out *out) {
    q8_packed_q8a(&nest, sail_quantize_q8a_avx2, M, N, K, A, lda, W, ldw, Wp, post, bias, out);
}

void sail_gemm_q8_0_avx2(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W,
                         size_t ldw, const void *Wp, const float *bias, float beta, float *C, int ldc) {
    int nb = K / QBLK;
    if (nb <= 0) { /* no products: C := bias + beta C */
        sail_gemm_q8_0_ref(M, N, K, A, lda, W, ldw, NULL, bias, beta, C, ldc);
        return;
    }
    q8_packed(&nest, M, N, nb, A, lda, W, ldw, Wp, bias, beta, C, ldc, NULL);
}

/* Bit-identical with sail_quantize_q8a_ref: the same max, scale, product
 * and clamp in f32, and vcvtps2dq rounds to nearest even as lrintf does. */
void sail_quantize_q8a_avx2(sail_q8a *dst, const float *x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), hi = _mm256_set1_ps(127.0f);
    const __m256 lo = _mm256_set1_ps(-127.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / QBLK; b++, x += QBLK) {
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            amax = _mm256_max_ps(_mm256_andnot_ps(sign, v[i]), amax); /* NaN lanes keep amax */
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        float am = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        float d = am / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            __m256 t = _mm256_min_ps(_mm256_mul_ps(v[i], idv), hi); /* NaN -> 127 */
            q[i] = _mm256_cvtps_epi32(_mm256_max_ps(t, lo));
        }
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        dst[b].d = d;
        _mm256_storeu_si256((__m256i *)dst[b].q, _mm256_permutevar8x32_epi32(p, order));
    }
}
