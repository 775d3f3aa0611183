/* gemm_avx2.c: single-threaded SGEMM for AVX2+FMA, tuned on Zen 3 (32 KB
 * L1d, 512 KB L2 per core, shared L3).
 *
 * Packed path, BLIS loop order: NC columns of op(B) -> a KC-deep slice ->
 * pack that B block into NR-wide k-major panels (L3) -> MC rows of A -> pack
 * them into MR-row strips, k-interleaved (L2) -> for each B panel (16 KB,
 * stays in L1 while it meets every strip) -> for each strip: the 6x16
 * microkernel, 12 ymm accumulators, two B vectors and one broadcast filling
 * 15 of 16 registers. Variants of that order: when the B block fits in L2
 * (short K or narrow N) the strips go outside the panels, so C is walked
 * along its rows; when B is transposed and all of M is one A block, each
 * panel is used once and is packed just before use. The old order (one A
 * strip against a 768 KB B block that overflowed L2) ran at 0.6-0.95x
 * OpenBLAS; this one is 0.9-1.2x (docs/BENCHMARKS-HISTORY.md).
 *
 * Few rows with B transposed (a Linear layer on a short sentence): packing B
 * would cost about as much as the product, so a dot-product kernel reads the
 * rows of A and B where they are, 3 rows x 4 columns of C per tile.
 *
 * Operands often arrive from memory (activations of the previous op), so the
 * packers and sweeps prefetch the next strip / panel while they work. Edges:
 * partial strips and panels are zero-padded when packed; a panel of <= 8
 * columns runs a 6x8 kernel; partial tiles are stored through a scratch
 * tile. Nothing is allocated here: the packing buffer is the thread's
 * (sail_gemm_pack_buffer). */
#include "kernels_impl.h"
#include "common.h"
#include "transpose8.h"

#include <immintrin.h>
#include <string.h>

/* Blocking (bench_gemm measures KC 192..384 and MC 72..288 within noise of
 * each other; the loop order and prefetching are what count). */
#define MR 6
#define NR 16
#define KC 256    /* B panel KC x NR = 16 KB: half of L1 */
#define MC 144    /* A block MC x KC = 144 KB: well inside L2 */
#define NC 2048   /* B block KC x NC = 2 MB: L3 */
#define DOT_KC 1024 /* dot path K slice: A (<= 64 rows) x DOT_KC <= 256 KB, in L2 */

/* Lanes [0, n) set, for masked loads of partial vectors. */
static inline __m256i lanes(int n) {
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - SAIL_MAX(0, SAIL_MIN(n, 8))));
}

/* K cut into near-equal slices no deeper than kmax: depth of each. */
static int k_slice(int K, int kmax) {
    int n = (K + kmax - 1) / kmax;
    return (K + n - 1) / n;
}

/* ------------------------------------------------------------- packing -- */

/* A (kc, nc) block of B (K, N) into NR panels, panel j / NR at dst + j * kc
 * holding (kc, NR), zero-padded past nc. Eight rows at a time, each read
 * left to right: reading one panel's 64 bytes per row down a column would
 * touch a new page per row and defeat the prefetchers. */
static void pack_bn_block(const float *B, int ldb, int nc, int kc, float *dst) {
    int n16 = nc & ~(NR - 1);
    __m256i m0 = lanes(nc - n16), m1 = lanes(nc - n16 - 8);
    for (int k0 = 0; k0 < kc; k0 += 8) {
        int k1 = SAIL_MIN(kc, k0 + 8);
        int k2 = SAIL_MIN(kc, k1 + 8); /* the next 8 rows, prefetched as these go */
        for (int j = 0; j < n16; j += NR) {
            float *d = dst + (size_t)j * kc;
            for (int k = k1; k < k2; k++)
                _mm_prefetch((const char *)(B + (size_t)k * ldb + j), _MM_HINT_T0);
            for (int k = k0; k < k1; k++) {
                const float *b = B + (size_t)k * ldb + j;
                _mm256_store_ps(d + (size_t)k * NR, _mm256_loadu_ps(b));
                _mm256_store_ps(d + (size_t)k * NR + 8, _mm256_loadu_ps(b + 8));
            }
        }
        if (n16 < nc) {
            float *d = dst + (size_t)n16 * kc;
            for (int k = k0; k < k1; k++) {
                const float *b = B + (size_t)k * ldb + n16;
                _mm256_store_ps(d + (size_t)k * NR, _mm256_maskload_ps(b, m0));
                _mm256_store_ps(d + (size_t)k * NR + 8, _mm256_maskload_ps(b + 8, m1));
            }
        }
    }
}

/* Rows 0..mr of A (mr <= MR), depth kc, into dst (kc, MR): row i of step k
 * at dst[k * MR + i], rows mr..MR zero. Full strips go 8 k at a time through
 * an 8x8 register transpose whose 8-wide rows are stored MR apart, in order,
 * so each store's two spare lanes are overwritten by the next; the last one
 * spills two floats past this 8-step group (the buffer has room for it). */
static void pack_a_strip(const float *A, int lda, int mr, int kc, float *dst, int mr_next) {
    int k = 0;
    if (mr == MR) {
        for (; k + 8 <= kc; k += 8) {
            if (!(k & 15)) /* the next strip's rows, as for B panels */
                for (int i = 0; i < mr_next; i++)
                    _mm_prefetch((const char *)(A + (size_t)(MR + i) * lda + k), _MM_HINT_T0);
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = i < MR ? _mm256_loadu_ps(A + (size_t)i * lda + k) : _mm256_setzero_ps();
            transpose8_regs(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (size_t)(k + i) * MR, r[i]);
        }
    }
    for (; k < kc; k++)
        for (int i = 0; i < MR; i++)
            dst[(size_t)k * MR + i] = i < mr ? A[(size_t)i * lda + k] : 0.0f;
}

/* ---------------------------------------------------------- microkernel -- */

/* C(mr, nr) (+)= Ap(kc, MR) strip x Bp(kc, NR) panel [+ bias]; accum: add
 * to C. NV B vectors per k: 2 for the 6x16 tile, 1 for a panel of at most 8
 * columns (half the work on a narrow edge). Inlined with constant NV. */
static inline __attribute__((always_inline)) void
kernel_6xN(int NV, int kc, const float *restrict Ap, const float *restrict Bp, float *C,
           int ldc, int mr, int nr, int accum, const float *bias, const float *Cnext,
           int mr_next) {
    __m256 c[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        c[i][0] = c[i][1] = _mm256_setzero_ps();
        /* This tile's rows of C now, the next tile's (mr_next rows at Cnext)
         * into L2 for later: C is often far from L1, a page per row. */
        if (i < mr) {
            _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + (size_t)i * ldc + nr - 1), _MM_HINT_T0);
        }
        if (i < mr_next) {
            _mm_prefetch((const char *)(Cnext + (size_t)i * ldc), _MM_HINT_T1);
            _mm_prefetch((const char *)(Cnext + (size_t)i * ldc + nr - 1), _MM_HINT_T1);
        }
    }
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = NV > 1 ? _mm256_load_ps(Bp + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(Ap + i);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            if (NV > 1) c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
        }
        Ap += MR;
        Bp += NR;
    }
    if (mr == MR && nr == 8 * NV) {
        __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
        if (bias) {
            bias0 = _mm256_loadu_ps(bias);
            if (NV > 1) bias1 = _mm256_loadu_ps(bias + 8);
        }
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            float *row = C + (size_t)i * ldc;
            __m256 v0 = _mm256_add_ps(c[i][0], bias0), v1 = _mm256_add_ps(c[i][1], bias1);
            if (accum) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));
                if (NV > 1) v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row + 8));
            }
            _mm256_storeu_ps(row, v0);
            if (NV > 1) _mm256_storeu_ps(row + 8, v1);
        }
        return;
    }
    /* Partial tile: a scratch copy, then only the mr x nr part (AMD's masked
     * stores are slow, and edges are rare). */
    float t[MR][NR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(t[i], c[i][0]);
        _mm256_storeu_ps(t[i] + 8, c[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        float *row = C + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            float v = t[i][j] + (bias ? bias[j] : 0.0f);
            row[j] = accum ? row[j] + v : v;
        }
    }
}

static void kernel_6x16(int kc, const float *restrict Ap, const float *restrict Bp,
                        float *C, int ldc, int mr, int nr, int accum, const float *bias,
                        const float *Cnext, int mr_next) {
    kernel_6xN(2, kc, Ap, Bp, C, ldc, mr, nr, accum, bias, Cnext, mr_next);
}

static void kernel_6x8(int kc, const float *restrict Ap, const float *restrict Bp,
                       float *C, int ldc, int mr, int nr, int accum, const float *bias,
                       const float *Cnext, int mr_next) {
    kernel_6xN(1, kc, Ap, Bp, C, ldc, mr, nr, accum, bias, Cnext, mr_next);
}

/* ------------------------------------------------------- packed path -- */

/* Rows [r0, r1) of n floats, ld apart, towards L1. Inlined by force, as
 * every function that only prefetches (see sail_prefetch_ahead). */
static inline __attribute__((always_inline)) void prefetch_rows(const float *p, size_t ld, int n, int r0, int r1) {
    for (int r = r0; r < r1; r++)
        for (int l = 0; l < n; l += 16) _mm_prefetch((const char *)(p + r * ld + l), _MM_HINT_T0);
}

/* One kc-deep slice of C(mc, nc) (+)= A block x B block. */
typedef struct slice {
    int mc, nc, kc, accum;
    const float *Ap;   /* (mc / MR, kc, MR) packed strips */
    float *Bp;         /* (nc / NR, kc, NR) packed panels, or one panel (by_panel) */
    const float *Bsrc; /* op(B) at this slice, for packing by panel: B (N, K) */
    int ldb;
    float *C;          /* (mc, nc) of ldc */
    int ldc;
    const float *bias; /* (nc) or NULL */
} slice;

static inline void tile(const slice *s, int i, int j, const float *bp, const float *Cnext,
                        int mr_next) {
    int mr = SAIL_MIN(MR, s->mc - i), nr = SAIL_MIN(NR, s->nc - j);
    (nr > 8 ? kernel_6x16 : kernel_6x8)(s->kc, s->Ap + (size_t)i * s->kc, bp,
                                        s->C + (size_t)i * s->ldc + j, s->ldc, mr, nr, s->accum,
                                        s->bias ? s->bias + j : NULL, Cnext, mr_next);
}

/* Strips inside panels: each B panel stays in L1 while it meets every strip
 * of the A block (from L2). The strips of a panel each prefetch their share
 * of what the next panel will read (its packed lines, or by panel its rows
 * of B), so that it streams in meanwhile instead of stalling the first
 * strip. by_panel: B is packed a panel at a time into s->Bp just before. */
static void sweep_panels(const slice *s, int by_panel) {
    int kc = s->kc, ns = (s->mc + MR - 1) / MR;
    for (int j = 0; j < s->nc; j += NR) {
        const float *bp = s->Bp + (size_t)j * kc;
        if (by_panel) {
            pack_bt_panel(s->Bsrc + (size_t)j * s->ldb, s->ldb, SAIL_MIN(NR, s->nc - j), kc,
                          s->Bp, NR, 0);
            bp = s->Bp;
        }
        int nr_next = SAIL_MIN(NR, s->nc - j - NR);
        for (int i = 0, t = 0; i < s->mc; i += MR, t++) {
            if (nr_next > 0 && by_panel)
                prefetch_rows(s->Bsrc + (size_t)(j + NR) * s->ldb, s->ldb, kc,
                              nr_next * t / ns, nr_next * (t + 1) / ns);
            else if (nr_next > 0)
                prefetch_rows(bp + (size_t)NR * kc, NR, NR, kc * t / ns, kc * (t + 1) / ns);
            float *Ct = s->C + (size_t)i * s->ldc + j;
            int more = i + MR < s->mc;
            tile(s, i, j, bp, more ? Ct + (size_t)MR * s->ldc : Ct,
                 more ? SAIL_MIN(MR, s->mc - i - MR) : 0);
        }
    }
}

/* Panels inside strips, for a B block small enough to stay in L2 (short K
 * or narrow N): each A strip stays in L1 while it meets every panel, and C
 * is walked along its rows, which the hardware prefetchers follow; with
 * strips inside, a K of 64 spent as much time on C as on the product. */
static void sweep_strips(const slice *s) {
    for (int i = 0; i < s->mc; i += MR) {
        float *Crow = s->C + (size_t)i * s->ldc;
        int mr = SAIL_MIN(MR, s->mc - i);
        for (int j = 0; j < s->nc; j += NR)
            tile(s, i, j, s->Bp + (size_t)j * s->kc, j + NR < s->nc ? Crow + j + NR : Crow + j,
                 mr);
    }
}

static void gemm_packed(int M, int N, int K, const float *A, int lda, const float *B,
                        int ldb, int b_trans, const float *bias, float beta, float *C,
                        int ldc) {
    /* (NC / NR, KC, NR) B block, then (MC / MR, KC, MR) A block + spill room. */
    float *buf = sail_gemm_pack_buffer((size_t)KC * NC + (size_t)MC * KC + 16);
    if (!buf) { /* out of memory: still give the right answer */
        sail_gemm_ref(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
        return;
    }
    float *Bp = buf, *Ap = buf + (size_t)KC * NC;
    int kstep = k_slice(K, KC);
    for (int jc = 0; jc < N; jc += NC) {
        for (int pc = 0; pc < K; pc += kstep) {
            slice s = {0, SAIL_MIN(NC, N - jc), SAIL_MIN(kstep, K - pc), pc > 0 || beta != 0.0f,
                       Ap, Bp, b_trans ? B + (size_t)jc * ldb + pc : B + (size_t)pc * ldb + jc,
                       ldb, NULL, ldc, pc == 0 && bias ? bias + jc : NULL};
            int in_l2 = (size_t)s.kc * s.nc <= 65536; /* 256 KB */
            /* B transposed and all of M one A block: each panel is used
             * once, so it is packed just before, into a buffer in L1. */
            int by_panel = b_trans && M <= MC && !in_l2;
            if (!b_trans) pack_bn_block(s.Bsrc, ldb, s.nc, s.kc, Bp);
            else if (!by_panel)
                for (int j = 0; j < s.nc; j += NR)
                    pack_bt_panel(s.Bsrc + (size_t)j * ldb, ldb, SAIL_MIN(NR, s.nc - j), s.kc,
                                  Bp + (size_t)j * s.kc, NR, SAIL_MIN(NR, s.nc - j - NR));
            for (int ic = 0; ic < M; ic += MC) {
                s.mc = SAIL_MIN(MC, M - ic);
                s.C = C + (size_t)ic * ldc + jc;
                for (int i = 0; i < s.mc; i += MR)
                    pack_a_strip(A + (size_t)(ic + i) * lda + pc, lda, SAIL_MIN(MR, s.mc - i), s.kc,
                                 Ap + (size_t)i * s.kc, SAIL_MIN(MR, M - ic - i - MR));
                if (in_l2) sweep_strips(&s);
                else sweep_panels(&s, by_panel);
            }
        }
    }
}

/* ------------------------------------------------------ dot-product path -- */

/* Sum of each of four vectors: {sum v0, sum v1, sum v2, sum v3}. */
static inline __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* C(R, S) (+)= A(R, kc) B(S, kc)^T [+ bias], R <= 3 rows of A, S <= 4 rows
 * of B, all read in place; inlined with constant R and S. */
static inline __attribute__((always_inline)) void
dot_tile(int R, int S, int kc, const float *A, int lda, const float *B, int ldb, float *C,
         int ldc, int accum, const float *bias, const float *pf, int pf_rows) {
    __m256 acc[3][4];
#pragma GCC unroll 4
    for (int r = 0; r < 3; r++)
#pragma GCC unroll 4
        for (int s = 0; s < 4; s++) acc[r][s] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= kc; k += 8) {
        if (pf && !(k & 15))
            for (int p = 0; p < pf_rows; p++)
                _mm_prefetch((const char *)(pf + (size_t)p * ldb + k), _MM_HINT_T0);
        __m256 a[3];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) a[r] = _mm256_loadu_ps(A + (size_t)r * lda + k);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            __m256 b = _mm256_loadu_ps(B + (size_t)s * ldb + k);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][s] = _mm256_fmadd_ps(a[r], b, acc[r][s]);
        }
    }
    if (k < kc) {
        __m256i m = lanes(kc - k);
        __m256 a[3];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) a[r] = _mm256_maskload_ps(A + (size_t)r * lda + k, m);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            __m256 b = _mm256_maskload_ps(B + (size_t)s * ldb + k, m);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][s] = _mm256_fmadd_ps(a[r], b, acc[r][s]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        __m128 v = hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
        float *row = C + (size_t)r * ldc;
        if (S == 4) {
            if (bias) v = _mm_add_ps(v, _mm_loadu_ps(bias));
            if (accum) v = _mm_add_ps(v, _mm_loadu_ps(row));
            _mm_storeu_ps(row, v);
        } else {
            float t[4];
            _mm_storeu_ps(t, v);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                float x = t[s] + (bias ? bias[s] : 0.0f);
                row[s] = accum ? row[s] + x : x;
            }
        }
    }
}

#define DOT_CASE(r, s)                                                               \
    case (r) * 4 + (s) - 5:                                                          \
        dot_tile(r, s, kc, A, lda, B, ldb, C, ldc, accum, bias, pf, pf_rows);        \
        break;

static void dot_tile_any(int R, int S, int kc, const float *A, int lda, const float *B,
                         int ldb, float *C, int ldc, int accum, const float *bias,
                         const float *pf, int pf_rows) {
    switch (R * 4 + S - 5) {
        DOT_CASE(1, 1) DOT_CASE(1, 2) DOT_CASE(1, 3) DOT_CASE(1, 4)
        DOT_CASE(2, 1) DOT_CASE(2, 2) DOT_CASE(2, 3) DOT_CASE(2, 4)
        DOT_CASE(3, 1) DOT_CASE(3, 2) DOT_CASE(3, 3) DOT_CASE(3, 4)
    }
}

/* C = A B^T for few rows: for each K slice (A's rows of it stay in L2),
 * every 4 rows of B are read from memory once and stay in L1 while each
 * 3-row tile of A meets them. */
static void gemm_dot(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     const float *bias, float beta, float *C, int ldc) {
    int kstep = k_slice(K, DOT_KC);
    for (int pc = 0; pc < K; pc += kstep) {
        int kc = SAIL_MIN(kstep, K - pc);
        int accum = pc > 0 || beta != 0.0f;
        int tiles = (M + 2) / 3;
        for (int n = 0; n < N; n += 4) {
            int s = SAIL_MIN(4, N - n);
            const float *bias_n = pc == 0 && bias ? bias + n : NULL;
            /* The next 4 rows of B, prefetched a few rows per tile so that
             * memory streams while this group computes. */
            int next = SAIL_MIN(4, N - n - 4);
            for (int m = 0, t = 0; m < M; m += 3, t++) {
                int r0 = next * t / tiles, r1 = next * (t + 1) / tiles;
                const float *pf = r1 > r0 ? B + (size_t)(n + 4 + r0) * ldb + pc : NULL;
                dot_tile_any(SAIL_MIN(3, M - m), s, kc, A + (size_t)m * lda + pc, lda,
                             B + (size_t)n * ldb + pc, ldb, C + (size_t)m * ldc + n, ldc, accum,
                             bias_n, pf, r1 - r0);
            }
        }
    }
}

void sail_gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, int b_trans, const float *bias, float beta, float *C,
                    int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) sail_gemm_ref(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
    /* The dot path wins while B is read (and would be packed) for few rows:
     * bench_gemm --shape measures it ahead up to 32 rows, and to 64 when K
     * is deep enough that packing B dominates. */
    else if (b_trans && (M <= 32 || (M <= 64 && K >= 512)))
        gemm_dot(M, N, K, A, lda, B, ldb, bias, beta, C, ldc);
    else gemm_packed(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
}
