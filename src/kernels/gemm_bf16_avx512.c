/* gemm_bf16_avx512.c: the bf16-weight GEMM with AVX-512 BF16 (vdpbf16ps),
 * for the avx512bf16 level. Compiled with -mavx512bf16; nothing else is.
 *
 * vdpbf16ps multiplies pairs of bf16 and adds both products to an f32
 * lane, twice the multiply-adds of an f32 FMA per instruction. Its
 * operands are bf16, so the activations are rounded to bf16 (nearest even,
 * as vcvtneps2bf16 does) on the fly, a panel of A at a time, into the
 * thread's packing buffer. Products of two bf16 are exact in f32, sums are
 * f32: sail_gemm_bf16a_ref (gemm_quant.c) is the reference this equals.
 * The rounding costs accuracy: each activation moves by up to 2^-9 of
 * itself, the error of PyTorch's bf16 autocast on CPU.
 *
 * More than FEW_M rows: GotoBLAS loop nest. A (KC, NC) block of W is packed
 * into 16-column panels, per pair of k the 16 rows' bf16 pairs in one zmm
 * (the vdpbf16ps layout); an MR-row strip of A is rounded into bf16 rows;
 * the 14 x 32 microkernel keeps 28 f32 accumulators, per pair of k two
 * weight vectors and 14 broadcast activation pairs (as gemm_avx512.c's f32
 * kernel, with two k per instruction).
 * At most FEW_M rows: W rows read in place, 32 bf16 per load, each row
 * once, against the rows of A rounded once per call.
 * The amx level runs the same nest with 32-row strips and a microkernel on
 * AMX tiles (sail_bf16_kernel_amx), k padded with zeros to whole tiles,
 * and A rounded once per call; the same nest also takes q8_0 weights
 * there (sail_gemm_q8_0_wide_amx), each block widened to bf16 as W is
 * packed. */
#include "kernels_impl.h"
#include "common.h"
#include "numfmt.h"
#include "pack16x8.h"

#include <immintrin.h>
#include <string.h>

#define MR 14
#define KC 384  /* k per slice, a multiple of 16 (vdpbf16ps nest) */
#define KC_AMX 512
#define KC_AMX_ONE SAIL_BF16_OUT_MAX_K /* up to here K is one slice */
#define NC SAIL_W_SLICE_NC /* columns per packed block of W */
#define FEW_M 4 /* rows of A per direct tile */
#define FN 4    /* W rows per direct tile */
#define DIRECT_MAX_M 64 /* up to here W is read in place (no packing) */
_Static_assert(DIRECT_MAX_M <= SAIL_GEMM_DIRECT_MAX_M, "see kernels_impl.h");

void sail_round_bf16_avx512bf16(uint16_t *dst, const float *x, size_t n) {
    for (size_t k = 0; k < n; k += 16) {
        __mmask16 m = mask16((int)SAIL_MIN(n - k, (size_t)16));
        __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + k));
        _mm256_mask_storeu_epi16(dst + k, m, (__m256i)h);
    }
}

/* n floats rounded to bf16 into dst, zero from n up to n16. */
static void round_row(uint16_t *dst, const float *x, int n, int n16) {
    sail_round_bf16_avx512bf16(dst, x, (size_t)n);
    memset(dst + n, 0, (size_t)(n16 - n) * sizeof(uint16_t));
}

/* --------------------------------------------------------- packed path -- */

/* Rows [0, nr) of W (bf16, rows ldw bytes apart), k [0, kc), into the
 * panel dst (kcq / 2 pairs, 16 columns, 2), zero from kc to kcq. */
static void pack_w_panel(const uint8_t *W, size_t ldw, int nr, int kc, int kcq, uint8_t *dst) {
    for (int k = 0; k < kcq; k += 16, dst += 512) {
        const uint8_t *src = W + 2 * (size_t)k;
        if (!(k & 31) && k < kc) /* 16 rows are too many streams for the hardware prefetcher */
            for (int r = 0; r < nr; r++) _mm_prefetch((const char *)src + (size_t)r * ldw + 256, _MM_HINT_T0);
        if (nr == 16 && kc - k >= 16) pack16x8(src, ldw, dst);
        else pack16x8_part(src, ldw, nr, 2 * SAIL_MAX(0, SAIL_MIN(16, kc - k)), dst);
    }
}

/* C(mr, nr) (+)= Ap(MR rows, lda bf16 apart) * panels P0, P1 over npairs
 * [+ bias], after out (the vector units have nothing to overlap it with). */
static void kernel_14x32(int npairs, const uint16_t *restrict Ap, size_t lda, const uint8_t *P0,
                         const uint8_t *P1, float *C, int ldc, int mr, int nr, int accum,
                         const float *bias, const sail_bf16_out *out, const sail_w_ahead *wa) {
    (void)wa; /* no tiles to carry */
    if (out) sail_bf16_out_rows(out, 0, out->rows);
    __m512 c[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < npairs; p++, P0 += 64, P1 += 64) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(P0), w1 = (__m512bh)_mm512_loadu_si512(P1);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            int32_t a2;
            memcpy(&a2, Ap + i * lda + 2 * p, 4);
            __m512bh a = (__m512bh)_mm512_set1_epi32(a2);
            c[i][0] = _mm512_dpbf16_ps(c[i][0], a, w0);
            c[i][1] = _mm512_dpbf16_ps(c[i][1], a, w1);
        }
    }
    store_tile32(c, MR, C, ldc, mr, nr, accum, bias);
}

/* A packed nest's strip height, the multiple its k is padded to, its
 * microkernel: C(mr, nr <= 32) (+)= the strip (rows lda bf16 apart) times
 * panels P0, P1 over npairs pairs of k [+ bias], and out (NULL: none)
 * handed back; and whether A is rounded once per call (pre) rather than a
 * strip per slice of W. */
typedef void (*bf16_kernel)(int npairs, const uint16_t *Ap, size_t lda, const uint8_t *P0,
                            const uint8_t *P1, float *C, int ldc, int mr, int nr, int accum,
                            const float *bias, const sail_bf16_out *out, const sail_w_ahead *wa);
typedef struct bf16_nest { int mr, kc, kc_one, kq, pre; bf16_kernel kernel; } bf16_nest;
static const bf16_nest nest_dp = {MR, KC, KC, 16, 0, kernel_14x32};
/* AMX (gemm_amx_avx512.c): 32 x 32 in four tiles, k a multiple of a
 * tile's 32. Its tiles load A in place from rows rounded once per call:
 * rounding a strip per slice of W (three times for ViT's fc1, each a
 * wait on A from memory) was a third of the bf16 product's time. */
static const bf16_nest nest_amx = {SAIL_BF16_AMX_MR, KC_AMX, KC_AMX_ONE, 32, 1, sail_bf16_kernel_amx};
_Static_assert(SAIL_BF16_AMX_MR >= MR, "the strip buffer holds the taller strip");

/* Bytes of rounded A a thread keeps at most (pre nests): M is done in
 * chunks of rows when its rounded rows would take more. */
#define PRE_BYTES (4u << 20)
/* Rows [m0, m0 + mc) of A rounded into Ab (rows lab bf16 apart, zero past
 * K), and zero rows up to the strip that follows the last. */
static void round_rows(const bf16_nest *nest, const float *A, int lda, int m0, int mc, int K,
                       uint16_t *Ab, size_t lab) {
    for (int i = 0; i < mc; i++) round_row(Ab + i * lab, A + (size_t)(m0 + i) * lda, K, (int)lab);
    int pad = (mc + nest->mr - 1) / nest->mr * nest->mr - mc;
    memset(Ab + (size_t)mc * lab, 0, (size_t)pad * lab * 2);
}

/* Columns [jc, jc + nc), k [pc, pc + kc) of g's W into 16-column panels
 * at Bp, pstride = kcq * 32 bytes apart, zero from kc to kcq. */
static void pack_w_block(const sail_bf16_gemm *g, int jc, int nc, int pc, int kc, int kcq, uint8_t *Bp) {
    const uint8_t *W = g->W;
    for (int j = 0; j < nc; j += 16) {
        uint8_t *dst = Bp + (size_t)(j / 16) * kcq * 32;
        int nr = SAIL_MIN(16, nc - j);
        if (g->q8) sail_q8_0_widen_panel(W, g->ldw, g->Wp, g->K, jc + j, nr, pc / 32, kc / 32, dst);
        else pack_w_panel(W + (size_t)(jc + j) * g->ldw + 2 * (size_t)pc, g->ldw, nr, kc, kcq, dst);
    }
}

/* The strip of A from row ir, k from pc, as the kernel reads it (*las bf16
 * from row to row). For pre nests Ap holds A's rounded rows from m0 (lab
 * apart), and the strip is read there in place. For the others Ap is the
 * strip buffer, into which the strip's mr rows are rounded from A's floats
 * here, or copied from Ab's bf16 rows (lab apart: read in place at
 * ViT-S's fc2, 3 KB apart, its 14 rows fell into few sets of L1), zero
 * below them; the rows two strips on are asked for meanwhile. */
static const uint16_t *a_strip(const bf16_nest *nest, const float *A, int lda, const uint16_t *Ab, int M,
                               int ir, int mr, int pc, int kc, int kcq, uint16_t *Ap, size_t lab, int m0,
                               size_t *las) {
    if (nest->pre) {
        *las = lab;
        return Ap + (size_t)(ir - m0) * lab + pc;
    }
    if (Ab) sail_prefetch_ahead(Ab + pc, lab * 2, M, ir, nest->mr, (size_t)kc * 2);
    else sail_prefetch_ahead(A + pc, (size_t)lda * sizeof(float), M, ir, nest->mr, (size_t)kc * sizeof(float));
    for (int i = 0; i < nest->mr; i++) {
        uint16_t *row = Ap + i * KC;
        if (i >= mr) memset(row, 0, (size_t)kcq * 2);
        else if (!Ab) round_row(row, A + (size_t)(ir + i) * lda + pc, kc, kcq);
        else {
            memcpy(row, Ab + (size_t)(ir + i) * lab + pc, (size_t)kc * 2);
            memset(row + kc, 0, (size_t)(kcq - kc) * 2);
        }
    }
    *las = KC;
    return Ap;
}

/* The two 16-column panels (pstride bytes apart from Bp) of the block of
 * columns from jr in a slice nc wide; P1 is P0 again where the block is at
 * most 16 wide (the kernel masks those lanes). */
static void block_panels(const uint8_t *Bp, size_t pstride, int jr, int nc, const uint8_t **P0,
                         const uint8_t **P1) {
    *P0 = Bp + (size_t)(jr / 16) * pstride;
    *P1 = nc - jr > 16 ? *P0 + pstride : *P0;
}

/* wa, which held the last call's, for the call on the block at jr of a
 * strip: its first W tiles are held where the last call named a next
 * block (calls on one slice's panels run in this order), and its next call
 * is on the block beside it, or on the first of the next strip (more_rows)
 * with the same panels: none after the last. */
static void ahead_of(sail_w_ahead *wa, const uint8_t *Bp, size_t pstride, int jr, int nc, int more_rows) {
    wa->held = wa->P0 != NULL;
    wa->P0 = wa->P1 = NULL;
    if (jr + 32 < nc) block_panels(Bp, pstride, jr + 32, nc, &wa->P0, &wa->P1);
    else if (more_rows) block_panels(Bp, pstride, 0, nc, &wa->P0, &wa->P1);
}

/* Pieces of the out-of-memory path, on the stack. */
enum { REF_K = 256, REF_N = 64 };

/* g's product by the references (gemm_quant.c), for when the nest has no
 * memory; A's floats (rows lda apart) where g->A is NULL. */
static void gemm_packed_ref(const sail_bf16_gemm *g, const float *A, int lda) {
    void (*ref)(SAIL_GEMM_H_ARGS) = g->q8 ? sail_gemm_q8_0_bf16a_ref : sail_gemm_bf16a_ref;
    if (!g->A && !g->Cb) {
        ref(g->M, g->N, g->K, A, lda, g->W, g->ldw, g->bias, g->beta, g->C, g->ldc);
        sail_post_rows(g->post, g->C, g->ldc, g->M, g->N);
        return;
    }
    float a[REF_K], c[REF_N];
    for (int m = 0; m < g->M; m++)
        for (int n0 = 0; n0 < g->N; n0 += REF_N) {
            int nn = SAIL_MIN(REF_N, g->N - n0);
            float *crow = g->Cb ? NULL : g->C + (size_t)m * g->ldc + n0;
            if (crow) memcpy(c, crow, (size_t)nn * sizeof(float));
            for (int k0 = 0; k0 < g->K || k0 == 0; k0 += REF_K) {
                int kk = SAIL_MIN(REF_K, g->K - k0);
                for (int k = 0; k < kk; k++)
                    a[k] = g->A ? sail_bf16_to_f32(g->A[(size_t)m * g->lda + k0 + k]) : A[(size_t)m * lda + k0 + k];
                size_t wk = g->q8 ? (size_t)k0 / 32 * (2 + SAIL_Q8_0_BLOCK) : 2 * (size_t)k0;
                ref(1, nn, kk, a, kk, (const uint8_t *)g->W + (size_t)n0 * g->ldw + wk, g->ldw,
                    k0 || !g->bias ? NULL : g->bias + n0, k0 ? 1.0f : g->Cb ? 0.0f : g->beta, c, nn);
            }
            sail_post_rows(g->post, c, nn, 1, nn);
            if (g->Cb) sail_round_bf16_avx512bf16(g->Cb + (size_t)m * g->ldcb + n0, c, (size_t)nn);
            else memcpy(crow, c, (size_t)nn * sizeof(float));
        }
}

void sail_bf16_out_rows(const sail_bf16_out *o, int r0, int r1) {
    r1 = SAIL_MIN(r1, o->rows);
    if (r0 >= r1) return;
    const float *S = o->S + (size_t)r0 * 32;
    if (o->post) o->post((float *)S, (size_t)(r1 - r0) * 32);
    for (int i = r0; i < r1; i++, S += 32)
        _mm512_storeu_si512(o->dst + (size_t)i * o->ldd,
                            (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(S + 16), _mm512_loadu_ps(S)));
}

/* The nest's slices of K: how many, and k per slice (a multiple of its
 * kq; the last slice may hold less). */
static int k_slices(const bf16_nest *nest, int K, int *kstep) {
    int kslices = K <= nest->kc_one ? 1 : (K + nest->kc - 1) / nest->kc;
    *kstep = ((K + kslices - 1) / kslices + nest->kq - 1) / nest->kq * nest->kq;
    return kslices;
}

/* bf16 weights packed once (the table's bf16_pack): per 16 columns a panel
 * of every slice of k of the nest in turn, each as pack_w_block lays it
 * out, so that a slice's block of columns is read in place, its panels
 * panel_bytes apart. The nest that packed per call was 36% of ViT-S's bf16
 * forward at batch 1 (197 rows a product; perf, 1 thread, Intel AMX), and
 * 5% at batch 8 on the dp nest (Zen 5). */
static size_t panel_bytes(const bf16_nest *nest, int K) {
    int kstep, kslices = k_slices(nest, K, &kstep), last = K - (kslices - 1) * kstep;
    return ((size_t)(kslices - 1) * kstep + (size_t)(last + nest->kq - 1) / nest->kq * nest->kq) * 32;
}

static void bf16_pack(const bf16_nest *nest, const void *W, size_t ldw, int N, int K, void *dst) {
    int kstep;
    k_slices(nest, K, &kstep);
    size_t pb = panel_bytes(nest, K);
    for (int n0 = 0; n0 < N; n0 += 16) {
        uint8_t *d = (uint8_t *)dst + (size_t)(n0 / 16) * pb;
        for (int pc = 0; pc < K; pc += kstep) {
            int kc = SAIL_MIN(kstep, K - pc), kcq = (kc + nest->kq - 1) / nest->kq * nest->kq;
            pack_w_panel((const uint8_t *)W + (size_t)n0 * ldw + 2 * (size_t)pc, ldw, SAIL_MIN(16, N - n0), kc,
                         kcq, d);
            d += (size_t)kcq * 32;
        }
    }
}

size_t sail_bf16_panels_size_amx(int N, int K) { return (size_t)(N + 15) / 16 * panel_bytes(&nest_amx, K); }
size_t sail_bf16_panels_size_dp(int N, int K) { return (size_t)(N + 15) / 16 * panel_bytes(&nest_dp, K); }
void sail_bf16_pack_amx(const void *W, size_t ldw, int N, int K, void *dst) { bf16_pack(&nest_amx, W, ldw, N, K, dst); }
void sail_bf16_pack_dp(const void *W, size_t ldw, int N, int K, void *dst) { bf16_pack(&nest_dp, W, ldw, N, K, dst); }

/* g's product on the nest, from A's floats (rows lda apart) where g->A is
 * NULL. post (NULL: none) runs on each strip's rows of a block of columns
 * after the block's last slice of k, while they are in cache; with g->Cb
 * (one slice of k, N a multiple of 32) each 32-column block of a strip's C
 * goes to a buffer of its own (S, rows of 32) that stays in cache, and the
 * next kernel call hands it back (sail_bf16_out): only its rounding goes
 * to memory. */
static void gemm_packed(const bf16_nest *nest, const sail_bf16_gemm *g, const float *A, int lda) {
    int M = g->M, N = g->N, K = g->K;
    const uint16_t *Ab = g->A; /* already rounded: read in place */
    size_t lab = Ab ? g->lda : ((size_t)K + 31) & ~(size_t)31;
    int chunk = M; /* rows rounded at a time (pre) */
    if (nest->pre && !Ab) {
        int chunks = (int)(((size_t)M * lab * 2 + PRE_BYTES - 1) / PRE_BYTES);
        chunk = ((M + chunks - 1) / chunks + nest->mr - 1) / nest->mr * nest->mr;
    }
    int kstep, kq = nest->kq;
    k_slices(nest, K, &kstep);
    /* bf16 weights in their panels (the amx nest's only): read in place */
    const uint8_t *Wq = !g->q8 && g->Wp ? (const uint8_t *)g->Wp : NULL;
    size_t wq_panel = Wq ? panel_bytes(nest, K) : 0;
    size_t wbytes = (size_t)NC * kstep * 2;
    size_t abytes = !nest->pre ? (size_t)SAIL_BF16_AMX_MR * KC * 2 : Ab ? 0 : (size_t)chunk * lab * 2;
    size_t sbytes = g->Cb ? (size_t)SAIL_BF16_AMX_MR * NC * sizeof(float) : 0;
    float *buf = sail_gemm_pack_buffer((wbytes + abytes + sbytes) / sizeof(float));
    if (!buf) { /* out of memory: still give the right answer */
        gemm_packed_ref(g, A, lda);
        return;
    }
    uint8_t *Bp = (uint8_t *)buf;              // (NC/16 panels, kc16/2, 16, 2) bf16
    /* (MR, KC) bf16, or pre: (chunk, lab) */
    uint16_t *Ap = nest->pre && Ab ? (uint16_t *)Ab : (uint16_t *)(Bp + wbytes);
    float *S = (float *)(Bp + wbytes + abytes); // (NC / 32, MR, 32): a strip of C when g->Cb
    sail_bf16_out out, *pending = NULL; /* the block the next call hands back */
    for (int m0 = 0; m0 < M; m0 += chunk) {
        int mc = SAIL_MIN(chunk, M - m0);
        if (nest->pre && !Ab) round_rows(nest, A, lda, m0, mc, K, Ap, lab);
        for (int jc = 0; jc < N; jc += NC) {
            int nc = SAIL_MIN(NC, N - jc);
            for (int pc = 0; pc < K; pc += kstep) {
                int kc = SAIL_MIN(kstep, K - pc), kcq = (kc + kq - 1) / kq * kq;
                size_t pstride = (size_t)kcq * 32; /* bytes per 16-column panel */
                const uint8_t *Bw = Bp;
                if (Wq) {
                    Bw = Wq + (size_t)(jc / 16) * wq_panel + (size_t)(pc / kstep) * kstep * 32;
                    pstride = wq_panel;
                } else pack_w_block(g, jc, nc, pc, kc, kcq, Bp);
                int accum = pc > 0 || g->beta != 0.0f;
                const float *bias_blk = pc == 0 && g->bias ? g->bias + jc : NULL;
                sail_w_ahead wa = {0, NULL, NULL};
                for (int ir = m0; ir < m0 + mc; ir += nest->mr) {
                    int mr = SAIL_MIN(nest->mr, M - ir);
                    size_t las;
                    const uint16_t *As = a_strip(nest, A, lda, Ab, M, ir, mr, pc, kc, kcq, Ap, lab, m0, &las);
                    float *Crow = g->Cb ? NULL : g->C + (size_t)ir * g->ldc + jc;
                    for (int jr = 0; jr < nc; jr += 32) {
                        int nr = SAIL_MIN(32, nc - jr);
                        const uint8_t *P0, *P1;
                        block_panels(Bw, pstride, jr, nc, &P0, &P1);
                        ahead_of(&wa, Bw, pstride, jr, nc, ir + nest->mr < m0 + mc);
                        if (g->Cb) {
                            float *blk = S + (size_t)(jr / 32) * nest->mr * 32;
                            nest->kernel(kcq / 2, As, las, P0, P1, blk, 32, mr, nr, accum,
                                         bias_blk ? bias_blk + jr : NULL, pending, &wa);
                            out = (sail_bf16_out){blk, mr, g->Cb + (size_t)ir * g->ldcb + jc + jr, g->ldcb, g->post};
                            pending = &out;
                            continue;
                        }
                        /* not on AMX: its blocks of C that add to big residual streams
                         * (ViT-S, 788 rows a thread) ran 2-4% faster without */
                        if (!nest->pre)
                            sail_prefetch_ahead(g->C + jc + jr, g->ldc * sizeof(float), M, ir, nest->mr, nr * sizeof(float));
                        nest->kernel(kcq / 2, As, las, P0, P1, Crow + jr, g->ldc, mr, nr, accum,
                                     bias_blk ? bias_blk + jr : NULL, NULL, &wa);
                    }
                    if (pc + kc < K || g->Cb) continue;
                    sail_post_rows(g->post, Crow, g->ldc, mr, nc);
                }
            }
        }
    }
    if (pending) sail_bf16_out_rows(pending, 0, pending->rows);
}

static void panels(const bf16_nest *nest, int M, int N, int npairs, const uint16_t *A, size_t lda,
                   const uint8_t *W, size_t pstride, float *C, int ldc) {
    sail_w_ahead wa = {0, NULL, NULL};
    for (int ir = 0; ir < M; ir += nest->mr)
        for (int jr = 0; jr < N; jr += 32) {
            const uint8_t *P0, *P1;
            block_panels(W, pstride, jr, N, &P0, &P1);
            ahead_of(&wa, W, pstride, jr, N, ir + nest->mr < M);
            nest->kernel(npairs, A + (size_t)ir * lda, lda, P0, P1, C + (size_t)ir * ldc + jr, ldc,
                         SAIL_MIN(nest->mr, M - ir), SAIL_MIN(32, N - jr), 0, NULL, NULL, &wa);
        }
}

void sail_gemm_bf16_panels(int M, int N, int npairs, const uint16_t *A, size_t lda,
                           const uint8_t *W, size_t pstride, float *C, int ldc) {
    _Static_assert(MR == SAIL_BF16_MR, "see kernels_impl.h");
    panels(&nest_dp, M, N, npairs, A, lda, W, pstride, C, ldc);
}

void sail_gemm_bf16_panels_amx(int M, int N, int npairs, const uint16_t *A, size_t lda,
                               const uint8_t *W, size_t pstride, float *C, int ldc) {
    panels(&nest_amx, M, N, npairs, A, lda, W, pstride, C, ldc);
}

/* ---------------------------------------------------------- few rows -- */

/* C(rm, rn) = bias + beta C + Ab(rm, K rounded, rows lab apart) W(rn, K)^T. */
static inline __attribute__((always_inline)) void few_tile(
    int rm, int rn, int K, const uint16_t *Ab, size_t lab, const uint8_t *W, size_t ldw,
    const float *bias, float beta, float *C, int ldc) {
    __m512 acc[FEW_M][FN];
#pragma GCC unroll 4
    for (int i = 0; i < rm; i++)
#pragma GCC unroll 4
        for (int j = 0; j < FN; j++) acc[i][j] = _mm512_setzero_ps(); /* j >= rn: sums of 0 */
    for (int k = 0; k < K; k += 32) {
        __mmask32 m = mask32(K - k);
        __m512bh w[FN];
#pragma GCC unroll 4
        for (int j = 0; j < FN; j++) /* the next tile's rows: memory streams meanwhile */
            _mm_prefetch((const char *)W + (size_t)(j + FN) * ldw + 2 * (size_t)k, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int j = 0; j < rn; j++)
            w[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, W + (size_t)j * ldw + 2 * (size_t)k);
#pragma GCC unroll 4
        for (int i = 0; i < rm; i++) {
            __m512bh a = (__m512bh)_mm512_loadu_si512(Ab + i * lab + k);
#pragma GCC unroll 4
            for (int j = 0; j < rn; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], a, w[j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < rm; i++)
        store4(C + (size_t)i * ldc, hsum4x16(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), rn, bias,
               beta);
}

typedef void (*few_fn)(int K, const uint16_t *Ab, size_t lab, const uint8_t *W, size_t ldw,
                       const float *bias, float beta, float *C, int ldc);
#define FEW_TILE(RM, RN)                                                                   \
    static void few_##RM##x##RN(int K, const uint16_t *Ab, size_t lab, const uint8_t *W,   \
                                size_t ldw, const float *bias, float beta, float *C,       \
                                int ldc) {                                                 \
        few_tile(RM, RN, K, Ab, lab, W, ldw, bias, beta, C, ldc);                         \
    }
FEW_TILE(1, 1) FEW_TILE(1, 2) FEW_TILE(1, 3) FEW_TILE(1, 4)
FEW_TILE(2, 1) FEW_TILE(2, 2) FEW_TILE(2, 3) FEW_TILE(2, 4)
FEW_TILE(3, 1) FEW_TILE(3, 2) FEW_TILE(3, 3) FEW_TILE(3, 4)
FEW_TILE(4, 1) FEW_TILE(4, 2) FEW_TILE(4, 3) FEW_TILE(4, 4)
static const few_fn few_tiles[FEW_M][FN] = {
    {few_1x1, few_1x2, few_1x3, few_1x4}, {few_2x1, few_2x2, few_2x3, few_2x4},
    {few_3x1, few_3x2, few_3x3, few_3x4}, {few_4x1, few_4x2, few_4x3, few_4x4},
};

/* Rows of A are rounded a slice at a time, a slice small enough to stay in
 * L2 while all of W streams past it in tiles of FN rows (in L1 from the
 * first group of FEW_M rows of A on). Within a slice, k runs in blocks
 * whose rows of A fit L1 beside the W tile: at K = 3072 (BERT's fc2) the
 * 16 rows of A are 96 KB, and reading them from L2 for every tile of W ran
 * at half the rate of the K = 768 shapes. */
enum { A_SLICE_BYTES = 128 * 1024, A_BLOCK_BYTES = 24 * 1024 };

static void gemm_few(int M, int N, int K, const float *A, int lda, const uint8_t *W,
                     size_t ldw, const float *bias, float beta, float *C, int ldc) {
    size_t lab = ((size_t)K + 31) & ~(size_t)31; /* bf16 per rounded row */
    int slice = (int)SAIL_MAX((size_t)FEW_M, A_SLICE_BYTES / (lab * 2) / FEW_M * FEW_M);
    slice = SAIL_MIN(slice, M);
    uint16_t *Ab = (uint16_t *)sail_gemm_pack_buffer((size_t)slice * lab / 2);
    if (!Ab) {
        sail_gemm_bf16a_ref(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
        return;
    }
    for (int m0 = 0; m0 < M; m0 += slice) {
        int m1 = SAIL_MIN(M, m0 + slice);
        for (int i = m0; i < m1; i++)
            round_row(Ab + (i - m0) * lab, A + (size_t)i * lda, K, (int)lab);
        int kb = (int)SAIL_MAX(256, A_BLOCK_BYTES / (2 * (size_t)(m1 - m0)) & ~(size_t)31);
        for (int k0 = 0; k0 < K; k0 += kb) { /* the first block adds bias + beta C, the rest C */
            int kn = SAIL_MIN(kb, K - k0);
            for (int n = 0; n < N; n += FN) {
                int rn = SAIL_MIN(FN, N - n);
                for (int i = m0; i < m1; i += FEW_M)
                    few_tiles[SAIL_MIN(FEW_M, m1 - i) - 1][rn - 1](
                        kn, Ab + (i - m0) * lab + k0, lab, W + (size_t)n * ldw + 2 * (size_t)k0, ldw,
                        k0 || !bias ? NULL : bias + n, k0 ? 1.0f : beta, C + (size_t)i * ldc + n, ldc);
            }
        }
    }
}

void sail_gemm_bf16_dp(int M, int N, int K, const float *A, int lda, const void *W,
                       size_t ldw, const float *bias, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* no products: C := bias + beta C */
        sail_gemm_bf16a_ref(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
        return;
    }
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .W = W, .ldw = ldw, .bias = bias, .beta = beta, .C = C, .ldc = ldc};
    if (M <= DIRECT_MAX_M) gemm_few(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
    else gemm_packed(&nest_dp, &g, A, lda);
}

/* bf16 W from its panels (sail_bf16_pack_dp); W itself for few rows and
 * where memory for A runs out. */
void sail_gemm_bf16_packed_dp(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                              const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                              int ldc) {
    if (M <= 0 || N <= 0) return;
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .W = W, .ldw = ldw, .Wp = Wp, .post = post,
                        .bias = bias, .beta = beta, .C = C, .ldc = ldc};
    if (K <= 0 || M <= DIRECT_MAX_M) {
        sail_gemm_bf16_dp(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
        sail_post_rows(post, C, ldc, M, N);
    } else gemm_packed(&nest_dp, &g, A, lda);
}

/* The packed nest on tiles, between a configuration of the thread's tiles
 * and their release. */
static void packed_amx(const sail_bf16_gemm *g, const float *A, int lda) {
    sail_amx_configure_bf16();
    gemm_packed(&nest_amx, g, A, lda);
    sail_amx_release();
}

/* The amx level: the same, with the packed nest on tiles. */
void sail_gemm_bf16_amx(int M, int N, int K, const float *A, int lda, const void *W,
                        size_t ldw, const float *bias, float beta, float *C, int ldc) {
    if (M <= DIRECT_MAX_M && K > 0 && sail_gemm_bf16_few_amx(M, N, K, A, lda, W, ldw, bias, beta, C, ldc))
        return;
    if (M <= DIRECT_MAX_M || K <= 0) {
        sail_gemm_bf16_dp(M, N, K, A, lda, W, ldw, bias, beta, C, ldc);
        return;
    }
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .W = W, .ldw = ldw, .bias = bias, .beta = beta, .C = C, .ldc = ldc};
    packed_amx(&g, A, lda);
}

/* q8_0 weights on the same nest: each block widened to bf16 as W is
 * packed, A rounded. On Sapphire Rapids this runs at the bf16 tiles'
 * rate, which at a q8_0 block's depth is the int8 tiles' too, while the
 * int8 kernel (gemm_amx_avx512.c) waits on its per-block scaling. */
void sail_gemm_q8_0_wide_amx(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                             int ldc) {
    if (M <= 0 || N <= 0) return;
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .W = W, .ldw = ldw, .Wp = Wp, .q8 = 1, .post = post,
                        .bias = bias, .beta = beta, .C = C, .ldc = ldc};
    if (K <= 0) gemm_packed_ref(&g, A, lda);
    else packed_amx(&g, A, lda);
}

/* bf16 W from its panels (sail_bf16_pack_amx) on the same nest; W itself
 * only where memory for A runs out. */
void sail_gemm_bf16_packed_amx(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                               const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                               int ldc) {
    if (M <= 0 || N <= 0) return;
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .W = W, .ldw = ldw, .Wp = Wp, .post = post,
                        .bias = bias, .beta = beta, .C = C, .ldc = ldc};
    if (K <= 0) gemm_packed_ref(&g, A, lda);
    else packed_amx(&g, A, lda);
}

/* Activations already rounded (and perhaps the result rounded too): the
 * dp nest copies their strips as it would round them from floats. q8_0
 * weights have no bf16 nest at this level: the reference takes them. */
void sail_gemm_wide_bf16_dp(const sail_bf16_gemm *g) {
    if (g->M <= 0 || g->N <= 0) return;
    if (g->q8 || g->K <= 0 || (g->Cb && (g->K > KC || g->beta != 0.0f || g->N % 16))) gemm_packed_ref(g, NULL, 0);
    else gemm_packed(&nest_dp, g, NULL, 0);
}

/* Activations already rounded (and perhaps the result rounded too): the
 * nest reads them in place. */
void sail_gemm_wide_bf16_amx(const sail_bf16_gemm *g) {
    if (g->M <= 0 || g->N <= 0) return;
    /* a bf16 C is made in one slice of k, from nothing */
    if (g->K <= 0 || (g->Cb && (g->K > KC_AMX_ONE || g->beta != 0.0f || g->N % 16))) gemm_packed_ref(g, NULL, 0);
    else packed_amx(g, NULL, 0);
}
