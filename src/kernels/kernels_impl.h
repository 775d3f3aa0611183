/* kernels_impl.h: what the per-ISA kernel files export to the dispatcher and
 * to the threaded drivers. Internal to src/kernels. */
#ifndef SAIL_KERNELS_IMPL_H
#define SAIL_KERNELS_IMPL_H

#include "kernels.h"

/* The tables of each level; the SIMD ones are only usable when the CPU has
 * the extension (see sail_kernels_for). */
extern const sail_kernel_table sail_table_ref;
extern const sail_kernel_table sail_table_avx2;
extern const sail_kernel_table sail_table_avx512; /* the base of the AVX-512 levels */

/* bias[n] (or 0) + beta *c: where output n of a GEMM starts, in the order
 * the references add; *c is not read when beta is 0 (C may be unset). */
static inline float sail_gemm_base(const float *c, const float *bias, int n, float beta) {
    float base = bias ? bias[n] : 0.0f;
    return beta != 0.0f ? base + beta * *c : base;
}

/* The packed GEMMs (gemm_driver.h, q8_driver.h, the bf16 one) walk C, and
 * the q8_0 one its quantised A, a strip of rows at a time, a few lines per
 * row: segments too short for the hardware prefetchers, so without help
 * each tile waited for its C from memory (read back where beta is 1: the
 * residual stream). So each tile asks for the same columns SAIL_AHEAD
 * strips below, into L2. On ViT-S at batch 8 (q8_0) this took the products
 * that add into the residual stream from 55-75% of the others' rate to
 * theirs (docs/BENCHMARKS-HISTORY.md); 1 and 2 strips ahead measured alike, 2 keeps
 * the lead where a strip is a single tile. */
#define SAIL_AHEAD 2

/* Bytes [0, n) of the rows of the strip SAIL_AHEAD below rows [ir, ir +
 * mr) (of M; row r at p + r * ld bytes). Inlined by force: gcc 12
 * otherwise judges a function that only prefetches to have no effect and
 * deletes its calls. */
static inline __attribute__((always_inline)) void sail_prefetch_ahead(const void *p, size_t ld, int M, int ir,
                                                                      int mr, size_t n) {
    int r0 = ir + SAIL_AHEAD * mr;
    for (int r = r0; r < M && r < r0 + mr; r++) {
        const char *row = (const char *)p + (size_t)r * ld;
        for (size_t l = 0; l < n; l += 64) __builtin_prefetch(row + l, 0, 2);
        __builtin_prefetch(row + n - 1, 0, 2);
    }
}

/* The single-threaded GEMMs the tables point at (contract: table->gemm). */
#define SAIL_GEMM_ARGS int M, int N, int K, const float *A, int lda, const float *B, \
    int ldb, int b_trans, const float *bias, float beta, float *C, int ldc
void sail_gemm_ref(SAIL_GEMM_ARGS);
void sail_gemm_avx2(SAIL_GEMM_ARGS);
void sail_gemm_avx512(SAIL_GEMM_ARGS);

/* The kernels on weights in their stored type (contracts: table->gemm_f16,
 * gemm_q8_0, quantize_q8a). sail_table_avx512 (ops_avx512.c) points at the
 * AVX2 ones; dispatch.c makes the AVX-512 levels' tables from it with the
 * AVX-512 kernels below in their place (q8_0 stays AVX2 without VNNI). */
#define SAIL_GEMM_H_ARGS int M, int N, int K, const float *A, int lda, const void *W, \
    size_t ldw, const float *bias, float beta, float *C, int ldc
#define SAIL_GEMM_Q8_ARGS int M, int N, int K, const sail_q8a *A, size_t lda, const void *W, \
    size_t ldw, const void *Wp, const float *bias, float beta, float *C, int ldc
/* A level's f16 and bf16 entry points, defined as its impl(..., bf16, ...)
 * with bf16 = 0 and 1: the two types share every loop but the widening. */
#define SAIL_GEMM_HALF_ENTRIES(level, impl)                                        \
    void sail_gemm_f16_##level(SAIL_GEMM_H_ARGS) {                                 \
        impl(M, N, K, A, lda, W, ldw, 0, bias, beta, C, ldc);                      \
    }                                                                              \
    void sail_gemm_bf16_##level(SAIL_GEMM_H_ARGS) {                                \
        impl(M, N, K, A, lda, W, ldw, 1, bias, beta, C, ldc);                      \
    }
void sail_gemm_f16_ref(SAIL_GEMM_H_ARGS);
void sail_gemm_bf16_ref(SAIL_GEMM_H_ARGS);
void sail_gemm_q8_0_ref(SAIL_GEMM_Q8_ARGS);
void sail_quantize_q8a_ref(sail_q8a *dst, const float *x, int n);
void sail_gemm_f16_avx2(SAIL_GEMM_H_ARGS);
void sail_gemm_bf16_avx2(SAIL_GEMM_H_ARGS);
void sail_gemm_q8_0_avx2(SAIL_GEMM_Q8_ARGS);
size_t sail_q8_0_panels_size_avx2(int N, int K);
void sail_q8_0_pack_avx2(const void *W, size_t ldw, int N, int K, void *dst);
void sail_quantize_q8a_avx2(sail_q8a *dst, const float *x, int n);
void sail_quantize_q8a_avx512(sail_q8a *dst, const float *x, int n); /* ops_avx512.c */
/* The AVX-512 dot-product kernels (levels avx512vnni, avx512bf16): q8_0 with
 * vpdpbusd (gemm_vnni_avx512.c; the same integers as the reference), bf16
 * with vdpbf16ps (gemm_bf16_avx512.c), which rounds A to bf16 first:
 * sail_gemm_bf16a_ref (gemm_quant.c) is its reference. */
void sail_gemm_q8_0_vnni(SAIL_GEMM_Q8_ARGS);
/* The table's gemm_q8_0_q8a on the q8_0 nests of q8_driver.h (the avx2 and
 * avx512 levels', the VNNI levels'): one slice of the nest's k (16 blocks)
 * at most. */
void sail_gemm_q8_0_q8a_avx2(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, const sail_rows_out *out);
void sail_gemm_q8_0_q8a_vnni(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, const sail_rows_out *out);
#define SAIL_Q8A_OUT_MAX_K 512
size_t sail_q8_0_panels_size_vnni(int N, int K);
void sail_q8_0_pack_vnni(const void *W, size_t ldw, int N, int K, void *dst);
/* q8_0 with AMX tiles (gemm_amx_avx512.c, level amx): the same bits as the
 * VNNI kernel; its own panels. */
void sail_gemm_q8_0_amx(SAIL_GEMM_Q8_ARGS);
size_t sail_q8_0_panels_size_amx(int N, int K);
void sail_q8_0_pack_amx(const void *W, size_t ldw, int N, int K, void *dst);
/* f16 / bf16 widened exactly into the f32 AVX-512 GEMM (gemm_avx512.c). */
void sail_gemm_f16_avx512(SAIL_GEMM_H_ARGS);
void sail_gemm_bf16_avx512(SAIL_GEMM_H_ARGS);
void sail_gemm_bf16_dp(SAIL_GEMM_H_ARGS);
/* The amx level's bf16 GEMM: sail_gemm_bf16_dp's nest, its microkernel on
 * AMX tiles (C(mr, nr <= 32) (+)= 32 rows of bf16 A, lda apart, times two
 * 16-column panels over npairs, a multiple of 16), between a configuration
 * of the thread's tiles and their release (gemm_amx_avx512.c). */
void sail_gemm_bf16_amx(SAIL_GEMM_H_ARGS);
/* A block of C that a bf16 microkernel stored before (rows of 32 floats,
 * contiguous), to be handed back in bf16 (post first) by the next call of
 * the microkernel: the AMX one does it between its tile products, while
 * the tiles compute and the vector units would wait (ViT-S's fc1 and its
 * GELU at 788 rows, 1.26 -> 1.08 ms a layer and thread). */
typedef struct sail_bf16_out {
    const float *S; /* rows x 32 floats */
    int rows;
    uint16_t *dst; /* row i's 32 bf16 at dst + i * ldd */
    size_t ldd;
    sail_post_fn post;
} sail_bf16_out;
/* Rows [r0, r1) of o (clipped to its rows) post-processed and rounded. */
void sail_bf16_out_rows(const sail_bf16_out *o, int r0, int r1);
/* The W tiles a bf16 microkernel call leaves loaded for the next: after
 * its last tile products it loads the first k of the next call's panels
 * (P0, P1; NULL: none), before its stores of C, so that the loads' wait
 * overlaps the stores and the call's end; `held`: this call's own first W
 * tiles came so. Alone, at ViT-S's K = 384, the kernel went 2.09 -> 2.22
 * TFLOP/s; in the nest, with its hand-over, ViT-S's products ~1%. */
typedef struct sail_w_ahead {
    int held;
    const uint8_t *P0, *P1;
} sail_w_ahead;
void sail_bf16_kernel_amx(int npairs, const uint16_t *Ap, size_t lda, const uint8_t *P0,
                          const uint8_t *P1, float *C, int ldc, int mr, int nr, int accum,
                          const float *bias, const sail_bf16_out *out, const sail_w_ahead *wa);
void sail_amx_configure_bf16(void);
/* post (if set) over rows [0, M) of C, N values each. */
static inline void sail_post_rows(sail_post_fn post, float *C, int ldc, int M, int N) {
    for (int i = 0; post && i < M; i++) post(C + (size_t)i * ldc, (size_t)N);
}
/* bf16 W packed once into a nest's panels (the table's bf16_panels_size,
 * bf16_pack and gemm_bf16_packed): the amx level's nest, and the
 * avx512bf16 level's (vdpbf16ps, sail_gemm_bf16_dp's). */
size_t sail_bf16_panels_size_amx(int N, int K);
void sail_bf16_pack_amx(const void *W, size_t ldw, int N, int K, void *dst);
void sail_gemm_bf16_packed_amx(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                               const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                               int ldc);
size_t sail_bf16_panels_size_dp(int N, int K);
void sail_bf16_pack_dp(const void *W, size_t ldw, int N, int K, void *dst);
void sail_gemm_bf16_packed_dp(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                              const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                              int ldc);
/* q8_0 W on the same nest (the table's gemm_q8_0_wide at this level): A
 * rounded to bf16, each weight d q rounded to bf16 (nearest even), products
 * exact, sums f32: sail_gemm_q8_0_bf16a_ref is its reference. */
void sail_gemm_q8_0_wide_amx(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                             int ldc);
void sail_gemm_q8_0_bf16a_ref(SAIL_GEMM_H_ARGS);
/* The table's gemm_wide_bf16 at the amx level: the same nest reading A's
 * bf16 rows in place; with g->Cb each block of C stays in a buffer and is
 * rounded out (sail_bf16_out). Cb needs K at most SAIL_BF16_OUT_MAX_K (one
 * slice of k) and N a multiple of 32. */
void sail_gemm_wide_bf16_amx(const sail_bf16_gemm *g);
#define SAIL_BF16_OUT_MAX_K 768
/* The same at the avx512bf16 level, on its vdpbf16ps nest (bf16 weights;
 * q8_0 through the reference), whose one slice of k is 384: Cb needs K at
 * most SAIL_BF16_DP_OUT_MAX_K. */
void sail_gemm_wide_bf16_dp(const sail_bf16_gemm *g);
#define SAIL_BF16_DP_OUT_MAX_K 384
/* The table's round_bf16: vcvtneps2bf16 (gemm_bf16_avx512.c), and its
 * reference (gemm_quant.c, the references' own rounding). */
void sail_round_bf16_avx512bf16(uint16_t *dst, const float *x, size_t n);
void sail_layernorm_bf16_avx512bf16(uint16_t *yb, const float *x, const float *w, const float *b, int rows,
                                    int n, float eps);
void sail_round_bf16_ref(uint16_t *dst, const float *x, size_t n);
/* Weight rows [n0, n0 + nr) (nr <= 16; n0 a multiple of 16 when Wp is
 * set) of a q8_0 W (N, K), blocks [b0, b0 + nb), widened into that nest's
 * bf16 panel layout (per pair of k, the 16 rows' pairs; 16 pairs a block;
 * missing rows zero). From Wp, the level's q8_0 panels of W, where given,
 * else from W's rows (ldw bytes apart). */
void sail_q8_0_widen_panel(const uint8_t *W, size_t ldw, const uint8_t *Wp, int K, int n0, int nr, int b0,
                           int nb, uint8_t *dst);
void sail_amx_release(void);
/* Its few-row path (M <= SAIL_GEMM_DIRECT_MAX_M): W read in place as
 * tiles; 0 when out of memory for A's tiles (nothing written). */
int sail_gemm_bf16_few_amx(SAIL_GEMM_H_ARGS);
void sail_gemm_bf16a_ref(SAIL_GEMM_H_ARGS);
/* x rounded to bf16 and read back as vdpbf16ps reads it (gemm_quant.c):
 * nearest even, subnormals to zero; the rounding of the references. */
float sail_bf16_dp_value(float x);

/* Both operands already bf16 (attention's products, attn_bf16_avx512.c):
 * C(M, N) = A W^T over npairs pairs of k. A: rows lda bf16 apart, and
 * rows up to M rounded up to SAIL_BF16_MR readable (their outputs are not
 * stored); W: 16-column panels pstride bytes apart, per pair of k one zmm
 * of the 16 columns' pairs (pack16x8's layout). The _amx one (on tiles,
 * between sail_amx_configure_bf16 and sail_amx_release) reads rows up to
 * M rounded up to SAIL_BF16_AMX_MR and takes npairs a multiple of 16. */
#define SAIL_BF16_MR 14
#define SAIL_BF16_AMX_MR 32
/* Most query rows in one of attention's blocks (attention.c: at most 8
 * strips of the tallest row tile). */
#define SAIL_ATTN_BLOCK_ROWS (8 * SAIL_BF16_AMX_MR)
void sail_gemm_bf16_panels(int M, int N, int npairs, const uint16_t *A, size_t lda,
                           const uint8_t *W, size_t pstride, float *C, int ldc);
void sail_gemm_bf16_panels_amx(int M, int N, int npairs, const uint16_t *A, size_t lda,
                               const uint8_t *W, size_t pstride, float *C, int ldc);

/* Attention with bf16 products (attn_bf16_avx512.c; the table's
 * attn_pack_kv and attn_block_bf16). One head's k and v rounded into those
 * panels: K as ceil(Tk/16) panels of 16 keys over the pairs of the head's
 * dims, then V as ceil(hd/16) panels of 16 dims over the pairs of keys;
 * what lies past Tk or hd is zero. A panel holds its pairs rounded up to
 * 16 (sail_attn_pairs), the depth of an AMX tile, so that the amx level
 * reads whole tiles; the avx512bf16 level stops at the data. */
static inline size_t sail_attn_pairs(int n) { return ((size_t)(n + 1) / 2 + 15) & ~(size_t)15; }
static inline size_t sail_attn_k_bytes(int Tk, int hd) {
    return 64 * ((size_t)(Tk + 15) / 16 * sail_attn_pairs(hd));
}
static inline size_t sail_attn_kv_bytes(int Tk, int hd) {
    return sail_attn_k_bytes(Tk, hd) + 64 * ((size_t)(hd + 15) / 16 * sail_attn_pairs(Tk));
}
void sail_attn_pack_kv_bf16(const sail_attn_args *a, int b, int h, uint8_t *kv);
void sail_attn_block_bf16(const sail_attn_args *a, int b, int h, int t0, int t1, int qblock,
                          const uint8_t *kv, float *scratch);
/* The amx level's: the same panels, its products on tiles. */
void sail_attn_block_bf16_amx(const sail_attn_args *a, int b, int h, int t0, int t1, int qblock,
                              const uint8_t *kv, float *scratch);
/* Rows of the strips attention's blocks are cut in on table t, whose
 * multiples its query blocks are (dispatch.c). */
int sail_attn_row_tile(const sail_kernel_table *t, const sail_attn_args *a);

/* Rows up to which a GEMM kernel may take its few-row path, which adds in
 * another order than its packed path: every kernel's bound (the f32 ones
 * in gemm_avx2.c / gemm_avx512.c, DIRECT_MAX_M and the like in the others)
 * is at most this. sail_gemm and sail_gemm_w cut M only into pieces above
 * it, so a row takes the same path, and C the same bits, whatever the
 * number of threads. */
#define SAIL_GEMM_DIRECT_MAX_M 64

/* Row and column tile of a table's GEMM microkernel: sail_gemm cuts C into
 * tasks along these so that only the last task has a partial tile. */
void sail_gemm_tile(const sail_kernel_table *t, int *mr, int *nr);
/* The same for the kernels on a stored weight type (not F32) at M rows;
 * *min_tn: the fewest columns a cut of N may leave a task while M alone
 * could be cut into a piece per thread (0: any); *tiles: 1 where the
 * product runs on the AMX nest, which prepares its rows of A once per task
 * and multiplies several times faster than the vector nests. */
void sail_gemm_w_tile(const sail_kernel_table *t, sail_wtype type, int M, int *mr, int *nr, int *min_tn,
                      int *tiles);
/* 1 when sail_gemm_w on table t takes gemm_q8_0_wide for M rows of a
 * weight of this type (A as floats, not quantised). */
int sail_gemm_w_wide(const sail_kernel_table *t, sail_wtype type, int M);

/* Columns per slice of packed W in the AVX-512 q8_0 (VNNI) and bf16
 * nests (gemm_vnni_avx512.c, gemm_bf16_avx512.c). */
#define SAIL_W_SLICE_NC 512

/* Per-thread GEMM packing buffer of at least n floats, 64-byte aligned,
 * grown on demand and kept for the thread's life (freed at thread exit or by
 * sail_kernels_release). NULL if the allocation fails. */
float *sail_gemm_pack_buffer(size_t n);

/* Floats per attention scratch row: Tk rounded up to a cache line. A call
 * of attn_block for rows [t0, t1) uses (t1 - t0) such rows. */
size_t sail_attn_scratch_row(int Tk);

/* The row-at-a-time attn_block of the reference table, over primitives. */
typedef struct sail_attn_prims {
    float (*dot)(const float *a, const float *b, int n);
    void (*axpy)(float *y, float a, const float *x, int n); /* y += a x */
    void (*softmax)(float *x, int rows, int n);
} sail_attn_prims;
void sail_attn_block_with(const sail_attn_prims *p, const sail_attn_args *a,
                          int b, int h, int t0, int t1, float *scratch);
/* The reference of attn_block_bf16, a row at a time in plain C: q * scale,
 * k, v and the unnormalised probabilities e^(s - max) rounded by
 * sail_bf16_dp_value, sums in f32, each output row divided by the sum of
 * its rounded exponentials. */
void sail_attn_block_bf16_ref(const sail_attn_args *a, int b, int h, int t0, int t1,
                              float *scratch);

#endif
