/* gemm_amx_avx512.c: the GEMMs on Intel AMX tiles, for the amx level:
 * q8_0 with tdpbssd, and the microkernel of the bf16 one with tdpbf16ps
 * (its loop nest is gemm_bf16_avx512.c's). Compiled with -mamx-tile
 * -mamx-int8 -mamx-bf16 (and -mavx512bf16); nothing else is.
 *
 * Same contract and the same integers as sail_gemm_q8_0_ref, and the same
 * f32 steps as the VNNI kernel (gemm_vnni_avx512.c): per block, the exact
 * int32 dot times (d_a * d_w) is added into f32 accumulators in block order,
 * so the two levels give the same bits.
 *
 * One tdpbssd multiplies a tile of 16 rows x 32 int8 of A (one q8_0 block
 * of 16 rows, signed) by one of 8 x 64 bytes of W (the block of 16 weight
 * rows in the VNNI layout: row q holds int8 4q..4q+3 of each weight row,
 * pack16x8's layout, signed) into 16 x 16 int32: 8192 multiply-adds in one
 * instruction where vpdpbusd takes 128. A tile's K is one block, not the
 * 64 bytes a tile could hold, because each block has its own scales. What
 * is left is the vector work per block: the int32 tile stored, then per
 * row a conversion, a scale product and an FMA, three instructions per 16
 * outputs where the VNNI kernel spends eleven. The next block's tdpbssd
 * is issued into the other C tile first, but on Sapphire Rapids the tile
 * work and this vector work measured as taking turns, not overlapping
 * (about 9 ns each per block in L1; docs/BENCHMARKS-HISTORY.md, "Intel AMX"): the
 * kernel runs at 15-19% of the tiles' int8 rate at a block's depth.
 *
 * sail_gemm_w does not use this kernel past 48 rows (gemm.c, WIDE_MIN_M):
 * there the bf16 nest, with each weight block widened to bf16 as it is
 * packed (sail_q8_0_widen_panel, below), runs at the bf16 tiles' rate,
 * which at a block's depth is the int8 tiles' rate too, with no per-block
 * scaling (ViT-S batch 8, q8_0: 13.1 to 11.2 ms an image).
 *
 * Every row count: q8_driver.h's loop nest with 16-row strips
 * (pack_q8a_strip, zero rows past M) and panels of 16 weight rows, per
 * block 512 int8 and 16 f32 scales. Up to 4 rows it took the VNNI file's
 * loop reading W in place; that loop is gone (on the panels packed at load
 * the VNNI nest ran 1-4 rows 1.3-1.8x faster than it, on Zen 5), and the
 * VNNI level now runs those rows on its nest, whose bits this one claims.
 *
 * Tiles are per thread: each call loads the configuration it needs and
 * releases the tiles at the end, so the thread's later context switches do
 * not carry 8 KiB of tile data. The kernel's permission to use them is
 * asked for once per process (core/cpu.c). */
#include "kernels_impl.h"
#include "common.h"
#include "pack16x8.h"
#include "q8a_pack.h"
#include "q8_driver.h"

#include <immintrin.h>
#include <string.h>

enum { QBLK = 32, QBYTES = 34 };

#define MR 16                /* rows of A per strip: a tile's rows */
#define KB 16                /* blocks per K slice (512 values) */
#define NCQ SAIL_W_SLICE_NC  /* columns per packed slice of W */
enum { PB = 576 };           /* bytes per (panel, block): 512 int8, then 16 f32 scales */
/* A strip: a strip_head, the scales ad (KB, MR) f32, then for a partial
 * strip its int8 au (KB, MR, 32) */
#define AD_OFF 64
#define AU_OFF (AD_OFF + KB * MR * 4)
#define STRIP_BYTES (AU_OFF + KB * MR * QBLK)

/* Tile registers: C of even and odd blocks, their A and W tiles. Macros,
 * not constants: the intrinsics paste the number into the instruction. */
#define TC0 0
#define TC1 1
#define TA0 2
#define TA1 3
#define TW0 4
#define TW1 5

/* The palette-1 configuration (Intel SDM, LDTILECFG). */
typedef struct tilecfg {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;
_Static_assert(sizeof(tilecfg) == 64, "LDTILECFG reads 64 bytes");

/* gcc 12's _tile_loadconfig tells the compiler it reads 8 bytes, which let
 * it drop the stores of the rows and columns before it: this one names
 * all 64. */
static inline void tiles_load(const tilecfg *c) { __asm__ volatile("ldtilecfg %0" ::"m"(*c)); }

/* Tile t (16 rows of 64 bytes) into the 1 KiB at p. gcc 12's _tile_stored
 * clobbers all memory, which kept the kernels' accumulators on the stack;
 * this one names what it writes. */
#define TILE_STORE16(t, p) \
    __asm__ volatile("tilestored %%tmm" #t ", (%1,%2,1)" : "=m"(*(int32_t(*)[256])(p)) : "r"(p), "r"(64L))

static void tiles_configure(void) {
    tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[TC0] = c.rows[TC1] = MR; /* 16 x 16 int32 */
    c.colsb[TC0] = c.colsb[TC1] = 64;
    c.rows[TA0] = c.rows[TA1] = MR; /* 16 rows x one block */
    c.colsb[TA0] = c.colsb[TA1] = QBLK;
    c.rows[TW0] = c.rows[TW1] = QBLK / 4; /* 8 groups of 4 k x 16 columns */
    c.colsb[TW0] = c.colsb[TW1] = 64;
    tiles_load(&c);
}

/* Rows [0, nr) of W (nr <= 16), blocks [0, kb), into the panel dst. */
static void pack_amx_panel(const uint8_t *W, size_t ldw, int nr, int kb, uint8_t *dst) {
    for (int b = 0; b < kb; b++, dst += PB)
        pack16x8_q8_block(W + (size_t)b * QBYTES, ldw, nr, dst, (float *)(dst + 512));
}

/* Where a strip's int8 tiles come from: a whole strip's from A itself (a
 * tile load takes a row stride, and copying them cost a tenth of ViT-S's
 * q8_0 forward), a partial one's from au, zero past its rows. */
typedef struct strip_head {
    const int8_t *q; /* block 0 of row 0 */
    size_t stride;   /* bytes from row to row (a block is 36 bytes on); 0: au */
} strip_head;

static void pack_amx_strip(const sail_q8a *A, size_t lda, int mr, int kb, uint8_t *strip) {
    strip_head *h = (strip_head *)strip;
    float *ad = (float *)(strip + AD_OFF);
    if (mr < MR) {
        pack_q8a_strip(A, lda, mr, MR, kb, (int8_t *)(strip + AU_OFF), ad);
        h->q = (const int8_t *)(strip + AU_OFF);
        h->stride = 0;
        return;
    }
    for (int b = 0; b < kb; b++)
        for (int i = 0; i < MR; i++) ad[b * MR + i] = A[(size_t)i * lda + b].d;
    h->q = A->q;
    h->stride = lda * sizeof(sail_q8a);
}

/* Block b of the strip times block b of the panel P into C tile c. */
#define TILE_BLOCK(c, ta, tw, b)                                                     \
    do {                                                                             \
        _tile_zero(c);                                                               \
        _tile_loadd(ta, au + (size_t)(b) * bstep, rstride);                          \
        _tile_loadd(tw, P + (size_t)(b) * PB, 64);                                   \
        _tile_dpbssd(c, ta, tw);                                                     \
    } while (0)

/* C(mr, nr) (+)= the 16-row strip times the panel P over kb blocks [+ bias]. */
static void kernel_16x16(int kb, const uint8_t *strip, const uint8_t *P, size_t pstride, float *C,
                         int ldc, int mr, int nr, int accum, const float *bias, const uint8_t *next) {
    /* q8_driver.h's calls resolve at compile time and may inline the
     * packers before this: their stores must not sink past the tile loads,
     * which name no memory they read (gcc 12's _tile_loadd) */
    __asm__ volatile("" ::: "memory");
    const strip_head *h = (const strip_head *)strip;
    const int8_t *au = h->q;
    size_t rstride = h->stride ? h->stride : QBLK, bstep = h->stride ? sizeof(sail_q8a) : MR * QBLK;
    const float *ad = (const float *)(strip + AD_OFF);
    _Alignas(64) int32_t t[2][MR * 16];
    __m512 acc[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) acc[i] = _mm512_setzero_ps();
    /* even blocks in TC0, odd in TC1: block b + 1 is issued before block
     * b (its int32 tile stored to t[b & 1]) is scaled */
    TILE_BLOCK(TC0, TA0, TW0, 0);
    for (int b = 0; b < kb; b++) {
        if (b & 1) {
            if (b + 1 < kb) TILE_BLOCK(TC0, TA0, TW0, b + 1);
            TILE_STORE16(1, t[1]);
        } else {
            if (b + 1 < kb) TILE_BLOCK(TC1, TA1, TW1, b + 1);
            TILE_STORE16(0, t[0]);
        }
        if (next) { /* at 16 rows this strip is the one that meets W first: the next panel's
                     * block into L1, and the one two panels further into L2, where more lines
                     * can be on their way (the strip's only other stream is the hardware's:
                     * BERT-base 16 tokens at 1 thread, CPU time, 8.74 -> 7.62 ms) */
            const char *n1 = (const char *)next + (size_t)b * PB, *n3 = n1 + 2 * pstride;
            for (int l = 0; l < PB; l += 64) {
                _mm_prefetch(n1 + l, _MM_HINT_T0);
                _mm_prefetch(n3 + l, _MM_HINT_T1);
            }
        }
        const int32_t *tb = t[b & 1];
        const float *adb = ad + (size_t)b * MR;
        __m512 dw = _mm512_loadu_ps(P + (size_t)b * PB + 512);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512 sc = _mm512_mul_ps(_mm512_set1_ps(adb[i]), dw);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(tb + 16 * i)), sc, acc[i]);
        }
    }
    __mmask16 m = mask16(nr);
    __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) { /* constant indices: acc stays in registers */
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m512 v = _mm512_add_ps(acc[i], bv);
        if (accum) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, row));
        _mm512_mask_storeu_ps(row, m, v);
    }
}

/* ------------------------------------------------------------- bf16 -- */

/* Tiles of the bf16 kernel: 2 x 2 C tiles of 16 x 16 f32, stationary over
 * the whole slice of k, the two A tiles (16 rows x 32 k) and the two W
 * tiles (16 pairs of k x 16 columns, pack16x8's layout). */
void sail_amx_configure_bf16(void) {
    tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    tiles_load(&c);
}

void sail_amx_release(void) { _tile_release(); }

/* C tiles 0-3 (0-1 for a strip of at most 16 rows, `half`) start from C
 * (accum alone), from the bias in every row (bias alone), or from zero
 * (both, added after the sum as store_tile32 does, or neither): the same
 * order of sums for a whole 32 x 32 block and a partial one, so a row's
 * bits do not depend on the rows beside it (test_gemm_quant
 * test_row_invariance). A partial block's C and bias go through t, zero
 * past its mr x nr. Returns whether the block is whole and its tiles store
 * straight to C. */
static int tiles_start(const float *C, int ldc, int mr, int nr, int accum, const float *bias, int half,
                       float t[4][256]) {
    int both = accum && bias;
    int direct = (mr == 32 || mr == 16) && nr == 32 && !both;
    size_t sc = (size_t)ldc * sizeof(float);
    _Alignas(64) float b[32]; /* a partial block's bias, zero past nr */
    const float *bsrc = bias;
/* op on tiles 0-1, and 2-3 unless half (tile numbers are immediates) */
#define EACH_TILE(op) do { op(0); op(1); if (!half) { op(2); op(3); } } while (0)
#define ZERO(k) _tile_zero(k)
#define FROM_C(k) _tile_loadd(k, C + 16 * (size_t)((k) / 2) * ldc + 16 * ((k) % 2), sc)
#define FROM_T(k) _tile_loadd(k, t[k], 64)
#define FROM_BIAS(k) _tile_loadd(k, bsrc + 16 * ((k) % 2), 0) /* stride 0: every row reads the bias */
    if (both || (!accum && !bias)) EACH_TILE(ZERO);
    else if (accum && direct) EACH_TILE(FROM_C);
    else if (accum) { /* C's mr x nr, zero around it */
        __mmask16 m[2] = {mask16(nr), mask16(nr - 16)};
        for (int i = 0; i < (half ? 16 : 32); i++)
            for (int j = 0; j < 2; j++)
                _mm512_store_ps(t[(i / 16) * 2 + j] + 16 * (i % 16),
                                _mm512_maskz_loadu_ps(i < mr ? m[j] : 0, C + (size_t)i * ldc + 16 * j));
        __asm__ volatile("" ::: "memory"); /* GCC does not see a tile load read t */
        EACH_TILE(FROM_T);
    } else {
        if (nr < 32) { /* the tiles read 32: a copy, which a tile load waits on, only here */
            memset(b, 0, sizeof b);
            memcpy(b, bias, (size_t)nr * sizeof(float));
            __asm__ volatile("" ::: "memory");
            bsrc = b;
        }
        EACH_TILE(FROM_BIAS);
    }
#undef EACH_TILE
#undef ZERO
#undef FROM_C
#undef FROM_T
#undef FROM_BIAS
    return direct;
}

/* The share of out's rows for step s of steps: spread evenly over the k
 * loop, so that each share's vector work has the step's tile products to
 * hide behind (a GELU of 8 rows at once outlasted them and was no faster
 * than after the product). */
static inline void out_step(const sail_bf16_out *out, int s, int steps) {
    if (out) sail_bf16_out_rows(out, s * SAIL_BF16_AMX_MR / steps, (s + 1) * SAIL_BF16_AMX_MR / steps);
}

void sail_bf16_kernel_amx(int npairs, const uint16_t *Ap, size_t lda, const uint8_t *P0,
                          const uint8_t *P1, float *C, int ldc, int mr, int nr, int accum,
                          const float *bias, const sail_bf16_out *out, const sail_w_ahead *wa) {
    int half = mr <= 16; /* the last strip of a task: half the tile work */
    int steps = npairs / 16;
    _Alignas(64) float t[4][256]; /* (row half, column half) */
    int direct = tiles_start(C, ldc, mr, nr, accum, bias, half, t);
    if (!wa || !wa->held) {
        _tile_stream_loadd(6, P0, 64);
        _tile_stream_loadd(7, P1, 64);
    }
    /* each W tile of the next k (or of the next call) is loaded as soon as
     * its products have read it: its wait on L2 overlaps the other tile's */
    for (int p = 0; p < npairs; p += 16) {
        int last = p + 16 >= npairs;
        const uint8_t *w0 = last ? wa ? wa->P0 : NULL : P0 + 64 * (size_t)(p + 16);
        const uint8_t *w1 = last ? wa ? wa->P1 : NULL : P1 + 64 * (size_t)(p + 16);
        _tile_loadd(4, Ap + 2 * (size_t)p, 2 * lda);
        if (!half) _tile_loadd(5, Ap + 16 * lda + 2 * (size_t)p, 2 * lda);
        _tile_dpbf16ps(0, 4, 6);
        if (!half) _tile_dpbf16ps(2, 5, 6);
        if (w0) _tile_stream_loadd(6, w0, 64);
        _tile_dpbf16ps(1, 4, 7);
        if (!half) _tile_dpbf16ps(3, 5, 7);
        if (w1) _tile_stream_loadd(7, w1, 64);
        out_step(out, p / 16, steps);
    }
    /* out's last rows went at the last step: the stores below may reuse its buffer */
    if (direct) { /* C's own rows take the tiles: no pass through the vector registers */
        size_t sc = (size_t)ldc * sizeof(float);
        _tile_stored(0, C, sc);
        _tile_stored(1, C + 16, sc);
        if (!half) {
            _tile_stored(2, C + 16 * (size_t)ldc, sc);
            _tile_stored(3, C + 16 * (size_t)ldc + 16, sc);
        }
        return;
    }
    _tile_stored(0, t[0], 64);
    _tile_stored(1, t[1], 64);
    if (!half) {
        _tile_stored(2, t[2], 64);
        _tile_stored(3, t[3], 64);
    }
    /* with both bias and accum, as store_tile32 adds: (sum + bias) + C */
    int both = accum && bias;
    __mmask16 m[2] = {mask16(nr), mask16(nr - 16)};
    __m512 b[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int j = 0; j < 2 && both; j++) b[j] = _mm512_maskz_loadu_ps(m[j], bias + 16 * j);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < 2; j++) {
            float *c = C + (size_t)i * ldc + 16 * j;
            __m512 v = _mm512_load_ps(t[(i / 16) * 2 + j] + 16 * (i % 16));
            if (both) v = _mm512_add_ps(_mm512_add_ps(v, b[j]), _mm512_maskz_loadu_ps(m[j], c));
            _mm512_mask_storeu_ps(c, m[j], v);
        }
}

/* Few rows of A (bf16 weights, at most SAIL_GEMM_DIRECT_MAX_M rows):
 * C^T = W A^T, so that the weights are the tiles' A operand and stream in
 * place, 16 rows of W as one tile load at W's own row stride, each row
 * read once per 32 rows of A; A, small, is rounded and laid out as the B
 * operand (per 32 k, 16 pairs x up to 16 rows). Without this the few-row
 * path ran on vdpbf16ps, which on Sapphire Rapids issues every other cycle
 * and held a 16-token BERT-base to half the rate memory streams its bf16
 * weights. Tiles: C^T in 0-3 (2 groups of 16 weight rows x 2 of 16 rows of
 * A), W in 4-5, A in 6-7; all 16 rows x 64 bytes (sail_amx_configure_bf16). */

/* r[i] lane j becomes r[j] lane i (dwords): pairs, then quads, then
 * 128-bit lanes twice. */
static inline void transpose16_epi32(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0xDD);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);
    }
}

/* Rows [m0, m0 + 16) of A (those below M), k [0, K), rounded, as ksteps
 * B tiles at dst (each 16 pairs x 16 rows x 2 bf16), zero elsewhere: per
 * step, row m's 16 pairs in one register, transposed (16 scatters a step
 * took 5% of BERT-base's batch-1 time at bf16). */
static void few_pack_a(const float *A, int lda, int M, int m0, int K, int ksteps, uint16_t *dst) {
    int rows = SAIL_MIN(16, M - m0);
    for (int s = 0; s < ksteps; s++) {
        int k = 32 * s;
        __m512i r[16];
        for (int i = 0; i < 16; i++) {
            if (i >= rows) {
                r[i] = _mm512_setzero_si512();
                continue;
            }
            const float *x = A + (size_t)(m0 + i) * lda + k;
            __m512 lo = _mm512_maskz_loadu_ps(mask16(K - k), x);
            __m512 hi = _mm512_maskz_loadu_ps(mask16(K - k - 16), x + 16);
            r[i] = (__m512i)_mm512_cvtne2ps_pbh(hi, lo); /* dword p: the pair k + 2p, k + 2p + 1 */
        }
        transpose16_epi32(r); /* r[p] lane m: row m's pair p, the tile's row p */
        for (int p = 0; p < 16; p++) _mm512_store_si512(dst + (size_t)s * 512 + 32 * p, r[p]);
    }
}

/* 32 weight rows from n0 as the kernel reads them: in place (stride ldw)
 * when all 32 rows exist and whole tiles cover K; else copied with zeros
 * past N and K into pad (32 rows x k32 bf16). */
static const uint8_t *few_w_rows(const uint8_t *W, size_t ldw, int N, int n0, int K, int k32,
                                 uint8_t *pad, size_t *stride) {
    if (n0 + 32 <= N && K == k32) {
        *stride = ldw;
        return W + (size_t)n0 * ldw;
    }
    for (int r = 0; r < 32; r++) {
        uint8_t *d = pad + (size_t)r * k32 * 2;
        if (n0 + r < N) {
            memcpy(d, W + (size_t)(n0 + r) * ldw, (size_t)K * 2);
            memset(d + (size_t)K * 2, 0, (size_t)(k32 - K) * 2);
        } else memset(d, 0, (size_t)k32 * 2);
    }
    *stride = (size_t)k32 * 2;
    return pad;
}

enum { FEW_AHEAD = 2 };

/* A group's C^T, stored from its tiles, on its way to C: [weight group +
 * 2 A group] (weight row, row of A), for C rows [m0, m0 + rows), columns
 * [n0, n0 + nn) as base (bias + beta C) + sum. */
typedef struct few_out {
    _Alignas(64) float t[4][256];
    int m0, rows, n0, nn;
} few_out;

/* Rows [i0, i1) of o's group into C. */
static void few_out_rows(const few_out *o, int i0, int i1, const float *bias, float beta, float *C, int ldc) {
    const __m512i col = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192,
                                          208, 224, 240);
    for (int i = i0; i < i1; i++)
        for (int g = 0; g < 2; g++) {
            int n = o->n0 + 16 * g;
            if (n >= o->n0 + o->nn) break;
            __mmask16 m = mask16(o->n0 + o->nn - n);
            float *c = C + (size_t)(o->m0 + i) * ldc + n;
            __m512 base = bias ? _mm512_maskz_loadu_ps(m, bias + n) : _mm512_setzero_ps();
            if (beta != 0.0f)
                base = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c), base);
            __m512 sum = _mm512_i32gather_ps(col, o->t[g + 2 * (i / 16)] + i % 16, 4);
            _mm512_mask_storeu_ps(c, m, _mm512_add_ps(base, sum));
        }
}

/* C^T(32 weight rows, 16 or 32 rows of A) over ksteps into out (rows
 * [m0, m0 + rows), columns [n0, n0 + nn)); meanwhile the last group's,
 * pending (NULL: none), goes to C a share of its rows a step, so that the
 * stream of W does not wait on it (BERT-base's fc1 at 16 rows, from
 * memory: 8% faster than after the group). */
static inline __attribute__((always_inline)) void few_block(
    int two, int ksteps, const uint8_t *w, size_t sw, const uint16_t *B0, const uint16_t *B1,
    const uint8_t *next, size_t next_bytes, const few_out *pending, few_out *out, const float *bias,
    float beta, float *C, int ldc) {
    /* gcc 12's _tile_loadd names no memory it reads: the stores that laid
     * out A and the padded W rows (inlined before it) must not sink past */
    __asm__ volatile("" ::: "memory");
    _tile_zero(0);
    _tile_zero(1);
    if (two) {
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int s = 0; s < ksteps; s++) {
        /* into L2 ahead of the tiles: 32 row streams a thread are more than the hardware's
         * prefetchers follow. The next group's rows (next_bytes from next, one block of memory)
         * a share a step, in address order (BERT-base, 16 tokens, bf16, with the transposed
         * A: 8.86 -> 8.32 ms); in the last group, the rows' own line FEW_AHEAD steps on (9.4 ->
         * 8.6 ms alone; 1, 3 or 4 steps, or into L1, gained less) */
        if (next) {
            size_t per = (next_bytes / 64 + ksteps - 1) / ksteps * 64;
            for (size_t o = per * s; o < per * (s + 1) && o < next_bytes; o += 64)
                _mm_prefetch((const char *)next + o, _MM_HINT_T1);
        } else if (s + FEW_AHEAD < ksteps)
            for (int r = 0; r < 32; r++)
                _mm_prefetch((const char *)w + r * sw + 64 * (size_t)(s + FEW_AHEAD), _MM_HINT_T1);
        _tile_loadd(4, w + 64 * (size_t)s, sw);
        _tile_loadd(5, w + 16 * sw + 64 * (size_t)s, sw);
        _tile_loadd(6, B0 + 512 * (size_t)s, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 5, 6);
        if (two) {
            _tile_loadd(7, B1 + 512 * (size_t)s, 64);
            _tile_dpbf16ps(2, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
        }
        if (pending)
            few_out_rows(pending, s * pending->rows / ksteps, (s + 1) * pending->rows / ksteps, bias, beta, C, ldc);
    }
    /* pending's rows went out at the last step: out may be its buffer's twin, never itself */
    _tile_stored(0, out->t[0], 64);
    _tile_stored(1, out->t[1], 64);
    if (two) {
        _tile_stored(2, out->t[2], 64);
        _tile_stored(3, out->t[3], 64);
    }
}

int sail_gemm_bf16_few_amx(int M, int N, int K, const float *A, int lda, const void *W,
                           size_t ldw, const float *bias, float beta, float *C, int ldc) {
    int ksteps = (K + 31) / 32, k32 = 32 * ksteps;
    size_t a_bytes = (size_t)2 * ksteps * 1024, pad_bytes = (size_t)32 * k32 * 2;
    uint8_t *buf = (uint8_t *)sail_gemm_pack_buffer((a_bytes + pad_bytes) / sizeof(float));
    if (!buf) return 0;
    uint16_t *B0 = (uint16_t *)buf, *B1 = B0 + (size_t)ksteps * 512;
    uint8_t *pad = buf + a_bytes;
    size_t group_bytes = 31 * ldw + (size_t)K * 2; /* 32 weight rows, in place */
    few_out outs[2], *pending = NULL;
    int flip = 0;
    sail_amx_configure_bf16();
    for (int m0 = 0; m0 < M; m0 += 32) { /* W is read once per 32 rows of A */
        int rows = SAIL_MIN(32, M - m0), two = rows > 16;
        few_pack_a(A, lda, M, m0, K, ksteps, B0);
        if (two) few_pack_a(A, lda, M, m0 + 16, K, ksteps, B1);
        for (int n0 = 0; n0 < N; n0 += 32, flip ^= 1) {
            size_t sw;
            const uint8_t *w = few_w_rows(W, ldw, N, n0, K, k32, pad, &sw);
            const uint8_t *next = n0 + 64 <= N && K == k32 ? W + (size_t)(n0 + 32) * ldw : NULL;
            few_out *out = &outs[flip];
            out->m0 = m0, out->rows = rows, out->n0 = n0, out->nn = SAIL_MIN(32, N - n0);
            if (two) few_block(1, ksteps, w, sw, B0, B1, next, group_bytes, pending, out, bias, beta, C, ldc);
            else few_block(0, ksteps, w, sw, B0, B1, next, group_bytes, pending, out, bias, beta, C, ldc);
            pending = out;
        }
    }
    sail_amx_release();
    if (pending) few_out_rows(pending, 0, pending->rows, bias, beta, C, ldc);
    return 1;
}

/* ------------------------------------------- q8_0 widened to bf16 -- */

/* One 576-byte block of a q8_0 panel (pack16x8's int8 layout, then the 16
 * rows' scales) as 16 pairs of k of bf16 (1024 bytes, per pair the 16
 * rows' pairs): each weight d q (exact in f32: 11 by 8 bits) rounded to
 * nearest even by vcvtne2ps2bf16, as sail_bf16_dp_value does. One byte
 * permute puts each q, in the order the pair layout wants, in the top byte
 * of an otherwise zero dword: that is q 2^24, and d 2^-24 scales it back
 * exactly. */
static void widen_block(const uint8_t *blk, uint8_t *dst) {
    const __m512 d = _mm512_mul_ps(_mm512_loadu_ps(blk + 512), _mm512_set1_ps(0x1p-24f));
    /* lanes 2i and 2i + 1 take row i (lo: rows 0-7) or 8 + i (hi) */
    const __m512 dl = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7), d);
    const __m512 dh = _mm512_permutexvar_ps(_mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15), d);
    /* byte 3 of dword l of pair h's lo / hi: byte 2h + l % 2 of row l / 2 (+ 8) */
#define TOP(l) 0, 0, 0, 4 * ((l) / 2) + (l) % 2
    static const uint8_t first[64] = {TOP(0), TOP(1), TOP(2),  TOP(3),  TOP(4),  TOP(5),  TOP(6),  TOP(7),
                                      TOP(8), TOP(9), TOP(10), TOP(11), TOP(12), TOP(13), TOP(14), TOP(15)};
#undef TOP
    const __m512i i00 = _mm512_loadu_si512(first);
    const __m512i idx[2][2] = {{i00, _mm512_add_epi8(i00, _mm512_set1_epi8(32))},
                               {_mm512_add_epi8(i00, _mm512_set1_epi8(2)), _mm512_add_epi8(i00, _mm512_set1_epi8(34))}};
    const __mmask64 top = 0x8888888888888888ull;
    for (int q = 0; q < 8; q++) { /* int8 4q .. 4q + 3 of each row: pairs 2q, 2q + 1 */
        __m512i v = _mm512_loadu_si512(blk + 64 * q);
        for (int h = 0; h < 2; h++) {
            __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_permutexvar_epi8(top, idx[h][0], v)), dl);
            __m512 hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_permutexvar_epi8(top, idx[h][1], v)), dh);
            _mm512_storeu_si512(dst + 128 * q + 64 * h, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

void sail_q8_0_widen_panel(const uint8_t *W, size_t ldw, const uint8_t *Wp, int K, int n0, int nr, int b0,
                           int nb, uint8_t *dst) {
    _Alignas(64) uint8_t tmp[PB];
    const uint8_t *p = Wp ? Wp + ((size_t)(n0 / 16) * (K / QBLK) + b0) * PB : NULL;
    /* the panels of a slice are far apart (K/32 blocks each): the next
     * panel's blocks are fetched while this one's are widened */
    const uint8_t *next = p ? p + (size_t)(K / QBLK) * PB : NULL;
    for (int b = 0; b < nb; b++, dst += 1024) {
        const uint8_t *blk = p ? p + (size_t)b * PB : tmp;
        if (next)
            for (int l = 0; l < PB; l += 64) _mm_prefetch((const char *)next + (size_t)b * PB + l, _MM_HINT_T0);
        if (!p) pack16x8_q8_block(W + (size_t)n0 * ldw + (size_t)(b0 + b) * QBYTES, ldw, nr, tmp, (float *)(tmp + 512));
        widen_block(blk, dst);
    }
}

/* ------------------------------------------------------------- q8_0 -- */

static const q8_nest nest16 = {MR, KB, NCQ, 0, PB, 16, STRIP_BYTES, 0,
                               pack_amx_panel, pack_amx_strip, kernel_16x16};

size_t sail_q8_0_panels_size_amx(int N, int K) { return q8_panels_size(&nest16, N, K / QBLK); }

void sail_q8_0_pack_amx(const void *W, size_t ldw, int N, int K, void *dst) {
    q8_pack_panels(&nest16, W, ldw, N, K / QBLK, dst);
}

void sail_gemm_q8_0_amx(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W,
                        size_t ldw, const void *Wp, const float *bias, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < QBLK) { /* no products: C := bias + beta C */
        sail_gemm_q8_0_ref(M, N, K, A, lda, W, ldw, NULL, bias, beta, C, ldc);
        return;
    }
    tiles_configure();
    q8_packed(&nest16, M, N, K / QBLK, A, lda, W, ldw, Wp, bias, beta, C, ldc, NULL);
    _tile_release();
}
