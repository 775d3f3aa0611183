/* kernels.h: the compute kernels of sail and their runtime dispatch.
 *
 * Each kernel has a plain C reference (the *_ref functions, also the
 * portable fallback) and SIMD versions for AVX2 and AVX-512 chosen once at
 * start-up from CPUID. SAIL_FORCE_REF at build time, or SAIL_ISA=ref|avx2|
 * avx512|avx512vnni|avx512bf16|amx in the environment, caps the level (never
 * above what the CPU has).
 * Every pointer may be unaligned; sizes may be any value >= 1. */
#ifndef SAIL_KERNELS_H
#define SAIL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "numfmt.h"

/* Levels in order; each needs what the one below it needs. AVX512_VNNI adds
 * vpdpbusd (the q8_0 GEMM), AVX512_BF16 adds vdpbf16ps (the bf16 GEMM), AMX
 * the q8_0 GEMM on tiles (tdpbssd); the rest of their tables is the AVX512
 * one. */
typedef enum sail_isa {
    SAIL_ISA_REF = 0, SAIL_ISA_AVX2 = 1, SAIL_ISA_AVX512 = 2, SAIL_ISA_AVX512_VNNI = 3,
    SAIL_ISA_AVX512_BF16 = 4, SAIL_ISA_AMX = 5
} sail_isa;
#define SAIL_ISA_MAX SAIL_ISA_AMX

/* A weight matrix W (N, K) as a model file stores it, used in place (no
 * copy): row n starts at (const char *)data + n * stride. F32 rows are
 * floats, F16/BF16 rows 16-bit values, Q8_0 rows K/32 blocks of 34 bytes (an
 * f16 scale, then 32 int8; kernels/numfmt.h). Rows need no alignment. */
typedef struct sail_wmat {
    const void *data;
    size_t stride;      /* bytes from one row to the next */
    sail_wtype type;
    /* Q8_0, and BF16 at the amx level, optional: the same weights in the
     * active level's panels (sail_gemm_w_pack), which GEMMs of more than a
     * few rows then read instead of packing W on every call; NULL
     * otherwise. */
    const void *packed;
} sail_wmat;

/* 32 activations quantised for the q8_0 GEMM: x ~= d * q. */
typedef struct sail_q8a {
    float d;
    int8_t q[32];
} sail_q8a;

/* Where a product's rows go instead of floats (gemm_q8_0_q8a): quantised
 * by the level's quantize_q8a into q (row m's N/32 blocks at q + m * ld),
 * or, q NULL, rounded to bf16 by round into b (row m at b + m * ld). */
typedef struct sail_rows_out {
    sail_q8a *q;
    uint16_t *b;
    size_t ld;
    void (*round)(uint16_t *dst, const float *x, size_t n); /* the table's round_bf16 */
} sail_rows_out;

/* Arguments of one attention call: softmax(scale * Q K^T + mask) V, per head.
 * Row t of batch b of Q is at q + (b*Tq + t) * q_stride; head h occupies
 * columns [h*hd, (h+1)*hd). The same for k, v (Tk rows) and out (Tq rows). */
typedef struct sail_attn_args {
    int B, Tq, Tk, H, hd;
    const float *q; int q_stride;
    const float *k; int k_stride;
    const float *v; int v_stride;
    float *out; int out_stride;
    const uint8_t *key_mask; /* (B, Tk): nonzero = may be attended; NULL = all */
    int causal;              /* query t sees keys <= t (Tq == Tk) */
    float scale;             /* > 0; usually 1/sqrt(hd) */
    /* Products in bf16 where the level has vdpbf16ps (the table's
     * attn_pack_kv; elsewhere f32): q * scale, k, v and the unnormalised
     * probabilities e^(s - max) rounded to bf16 (nearest even), sums in
     * f32, each output row divided by the f32 sum of its rounded
     * exponentials (so its weights sum to 1). Each
     * rounded value moves by up to 2^-9 of itself; the model asks for it
     * when its weights are bf16 or q8_0, whose GEMMs round as much or more. */
    int bf16;
    /* With bf16, where sail_attention_bf16_ok says: q, k, v as bf16 rows
     * (qb, kb, vb, the same strides, rounded as round_bf16 does; q, k, v
     * unused), and out_b: the output rounded so into bf16 rows (out_stride
     * apart; out unused). The same bits as from and to floats. */
    const uint16_t *qb, *kb, *vb;
    uint16_t *out_b;
    /* Or, where sail_attention_q8a_ok says, the output quantised by the
     * level's quantize_q8a into blocks (row r's at out_q + r * out_stride /
     * 32; out, out_b unused): each head's hd values are whole blocks, so
     * the blocks of the float output's rows, bit for bit. */
    sail_q8a *out_q;
} sail_attn_args;

/* One ISA's implementations. Rows of a matrix are contiguous. */
/* An element-wise function applied in place to n floats (the table's gelu,
 * quick_gelu, ...). */
typedef void (*sail_post_fn)(float *x, size_t n);

/* A product whose activations are already bf16 (the table's
 * gemm_wide_bf16): C(M, N) = post(A W^T + bias + beta C), W (N, K) q8_0
 * (q8; Wp as for gemm_q8_0) or bf16 rows ldw bytes apart. A: rows lda
 * values apart, rounded as round_bf16 does, rows readable up to M rounded
 * up to 32. Cb set: the result (beta 0) goes there rounded the same way,
 * rows ldcb values apart, and C is not used. The bits equal the product
 * on A's values as floats, then the rounding. */
typedef struct sail_bf16_gemm {
    int M, N, K;
    const uint16_t *A;
    size_t lda;
    const void *W;
    size_t ldw;
    const void *Wp;
    int q8;
    sail_post_fn post;
    const float *bias;
    float beta;
    float *C;
    int ldc;
    uint16_t *Cb;
    size_t ldcb;
} sail_bf16_gemm;

/* Rows a LayerNorm kernel does at once (ops_simd.h). */
#define SAIL_LN_ROWS 4

typedef struct sail_kernel_table {
    const char *name;
    /* C(M,N) = A(M,K) * op(B) + bias + beta*C. op(B) = B^T with B (N,K) when
     * b_trans (a PyTorch Linear weight), else B (K,N). bias (N) may be NULL;
     * beta is 0 (overwrite; C need not be initialised) or 1 (accumulate).
     * Single-threaded: threading is done by sail_gemm over tiles. */
    void (*gemm)(int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, int b_trans, const float *bias, float beta, float *C,
                 int ldc);
    /* y = (x - mean) / sqrt(var + eps) * w + b per row of n. In place allowed.
     * SAIL_LN_ROWS rows at a time are fastest (their statistics interleave). */
    void (*layernorm)(float *y, const float *x, const float *w, const float *b,
                      int rows, int n, float eps);
    /* Its backward over rows of n, w not NULL: dx = rstd (gy - mean(gy) -
     * xhat mean(gy xhat)) with gy = dy w, plus dx where beta is 1 (beta 0:
     * dx is not read); dw += sum over rows of dy xhat, db += sum of dy. */
    void (*layernorm_grad)(float *dx, float *dw, float *db, const float *x, const float *dy,
                           const float *w, int rows, int n, float eps, float beta);
    void (*gelu)(float *x, size_t n);        /* erf GELU, in place */
    void (*quick_gelu)(float *x, size_t n);  /* x * sigmoid(1.702 x) */
    void (*tanh)(float *x, size_t n);
    /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's
     * gelu(approximate="tanh"), in place */
    void (*gelu_tanh)(float *x, size_t n);
    /* dx = dy * f'(u) for f = gelu, quick_gelu, gelu_tanh (training's
     * backward); dx may be dy or u */
    void (*gelu_grad)(float *dx, const float *dy, const float *u, size_t n);
    void (*quick_gelu_grad)(float *dx, const float *dy, const float *u, size_t n);
    void (*gelu_tanh_grad)(float *dx, const float *dy, const float *u, size_t n);
    void (*softmax)(float *x, int rows, int n); /* per row, in place; -inf ok */
    void (*add)(float *y, const float *a, const float *b, size_t n); /* y = a + b */
    /* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (no overlap) */
    void (*transpose)(const float *src, size_t lds, float *dst, size_t ldd, int rows, int cols);
    float (*dot)(const float *a, const float *b, int n);
    /* One (batch, head, query rows [t0, t1)) of attention; see
     * sail_attention. scratch: as much as sail_attention_scratch(1, a)
     * gives for a->bf16 = 0, which covers the tallest block sail_attention
     * hands out. */
    void (*attn_block)(const sail_attn_args *a, int b, int h, int t0, int t1,
                       float *scratch);
    /* The same with bf16 products (sail_attn_args.bf16), NULL where the
     * level lacks them: attn_pack_kv rounds head (b, h)'s k and v once per
     * call into kv (kernels_impl.h: sail_attn_kv_bytes), which
     * attn_block_bf16 then reads in place of k and v, for query rows
     * [t0, t1) in blocks of qblock rows (scratch: for one), one call a
     * head where a task takes the whole head (the amx level configures
     * its tiles once a call, not once a block). */
    void (*attn_pack_kv)(const sail_attn_args *a, int b, int h, uint8_t *kv);
    void (*attn_block_bf16)(const sail_attn_args *a, int b, int h, int t0, int t1, int qblock,
                            const uint8_t *kv, float *scratch);
    /* C(M,N) = A(M,K) W^T + bias + beta*C for a weight W (N, K) stored as
     * f16 / bf16 (rows ldw bytes apart): each weight is widened in the
     * kernel, products and sums are f32. bias, beta, C: as gemm. */
    void (*gemm_f16)(int M, int N, int K, const float *A, int lda, const void *W,
                     size_t ldw, const float *bias, float beta, float *C, int ldc);
    void (*gemm_bf16)(int M, int N, int K, const float *A, int lda, const void *W,
                      size_t ldw, const float *bias, float beta, float *C, int ldc);
    /* 1 when gemm_bf16 first rounds each activation to bf16 (nearest even,
     * subnormals to zero, as vcvtneps2bf16) and reads subnormal weights as
     * zero (vdpbf16ps): then every product is exact and the sums are f32.
     * The avx512bf16 level does this; an activation moves by up to 2^-9 of
     * itself. */
    int bf16_rounds_a;
    /* The same for a q8_0 W with A quantised by quantize_q8a (row m's K/32
     * blocks at A + m * lda): per block an exact integer dot product times
     * both scales, summed in f32. K is a multiple of 32. Wp: NULL, or W as
     * this level's q8_0_pack wrote it (the same result, bit for bit). */
    void (*gemm_q8_0)(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W,
                      size_t ldw, const void *Wp, const float *bias, float beta, float *C, int ldc);
    /* The same product from A as floats, where the level has a way that is
     * faster than quantising A for products of many rows (sail_gemm_w takes
     * it above 48 rows, gemm.c WIDE_MIN_M); NULL elsewhere.
     * The amx level rounds A to bf16 and widens each weight d q to bf16
     * (nearest even): products exact, sums f32. Against f32 an activation
     * moves by up to 2^-9 of itself (not by half its block's step, as
     * quantize_q8a moves it) and a weight by up to 2^-9 of d q. Wp: as for
     * gemm_q8_0. post: NULL, or applied to each row's piece of C (in place)
     * once it is final, while it is still in cache. */
    void (*gemm_q8_0_wide)(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                           const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                           int ldc);
    /* gemm_q8_0's product (beta 0, the packed path's sums whatever M) then
     * post, into out's rows (quantised or bf16), a strip's rows of each
     * slice of columns as soon as they are final: the product's floats
     * never reach memory. N a multiple of 32, K at most
     * SAIL_Q8A_OUT_MAX_K. NULL where the level has none. */
    void (*gemm_q8_0_q8a)(int M, int N, int K, const sail_q8a *A, size_t lda, const void *W, size_t ldw,
                          const void *Wp, sail_post_fn post, const float *bias, const sail_rows_out *out);
    /* W (N, K) q8_0 in the panels gemm_q8_0 reads: q8_0_panels_size(N, K)
     * bytes, of which the first q8_0_panels_size(n0, K) hold rows before n0
     * for any n0 that is a multiple of 16. NULL where the level has none. */
    size_t (*q8_0_panels_size)(int N, int K);
    void (*q8_0_pack)(const void *W, size_t ldw, int N, int K, void *dst);
    /* W (N, K) bf16 in the panels the level's bf16 products read past its
     * few-row path, sized and cut by columns as q8_0's (the avx512bf16 and
     * amx levels; NULL elsewhere), and gemm_bf16 from them for such M: the
     * same bits; W is read only without memory for A; post as
     * gemm_q8_0_wide's. */
    size_t (*bf16_panels_size)(int N, int K);
    void (*bf16_pack)(const void *W, size_t ldw, int N, int K, void *dst);
    void (*gemm_bf16_packed)(int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                             const void *Wp, sail_post_fn post, const float *bias, float beta, float *C,
                             int ldc);
    /* x (n, a multiple of 32) into n/32 blocks: d = max|x| / 127, q =
     * rint(x * (1/d)) (ties to even) clamped to [-127, 127] (NaN -> 127).
     * Bit-identical at every level. */
    void (*quantize_q8a)(sail_q8a *dst, const float *x, int n);
    /* n floats to bf16 as the level's bf16 products round them (nearest
     * even; a subnormal may become a zero of its sign, as it is read). */
    void (*round_bf16)(uint16_t *dst, const float *x, size_t n);
    /* layernorm's rows rounded as round_bf16 rounds them (the same bits),
     * without the floats (layernorm, then round_bf16, is its reference).
     * Set wherever gemm_wide_bf16 is, whose bf16 rows it writes; else NULL. */
    void (*layernorm_bf16)(uint16_t *yb, const float *x, const float *w, const float *b, int rows, int n,
                           float eps);
    /* sail_bf16_gemm's product on the level's bf16 nest; NULL where the
     * level's products do not round A to bf16 (then bf16 activations would
     * change the bits), as below the avx512bf16 level. A bf16 result (Cb)
     * needs K at most wide_bf16_out_max_k (one slice of the nest's k). */
    void (*gemm_wide_bf16)(const sail_bf16_gemm *g);
    int wide_bf16_out_max_k;

} sail_kernel_table;


/* The table chosen for this CPU (initialised on first call; thread-safe). */
const sail_kernel_table *sail_kernels(void);
/* A given level's table, or NULL if this CPU or build lacks it (for tests). */
const sail_kernel_table *sail_kernels_for(sail_isa isa);
/* The active level's name: sail_kernel_level() (sail.h). */

/* Multithreaded GEMM with the active table; same contract as table->gemm. */
void sail_gemm(sail_pool *pool, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, int b_trans, const float *bias,
               float beta, float *C, int ldc);

/* Multithreaded A(M,K) W^T + bias (+ C when beta = 1) with W in its stored
 * type, using the active table (F32 goes to sail_gemm). scratch holds
 * sail_gemm_w_scratch(W, M, K) bytes, aligned for float (q8_0: A quantised
 * once per call; NULL when that is 0). */
size_t sail_gemm_w_scratch(const sail_wmat *W, int M, int K);
/* Bytes sail_gemm_w_pack needs for W (N, K): 0 when the active level keeps
 * no packed form of W's type. */
size_t sail_gemm_w_packed_size(const sail_wmat *W, int N, int K);
/* 1 when products of M rows read W's packed form (bf16: only past the
 * few-row path, which reads W in place). */
int sail_gemm_w_reads_packed(const sail_wmat *W, int M);
/* W->packed := dst (sail_gemm_w_packed_size bytes, 64-byte aligned), filled:
 * done once at load, it saves each GEMM of more than a few rows its packing
 * of W. dst must outlive W's use. */
void sail_gemm_w_pack(sail_wmat *W, int N, int K, void *dst);
void sail_gemm_w(sail_pool *pool, int M, int N, int K, const float *A, int lda,
                 const sail_wmat *W, const float *bias, float beta, float *C, int ldc,
                 void *scratch);
/* The same, then C := post(C) element by element (post: as the table's
 * gelu, in place), each piece of C as soon as it is final where the kernel
 * allows (gemm_q8_0_wide), else each task's block after its product: an
 * activation on the output of a product needs no pass of its own over
 * memory. post NULL: sail_gemm_w. */
void sail_gemm_w_post(sail_pool *pool, int M, int N, int K, const float *A, int lda,
                      const sail_wmat *W, sail_post_fn post, const float *bias, float beta, float *C,
                      int ldc, void *scratch);
/* 1 when the active level's product of W (N, K) for M rows takes its
 * activations in bf16 (sail_gemm_w_bf16), and with out set hands its
 * result back in bf16 too. Its producer can then write bf16 rows (half the
 * bytes) instead of floats that the product would round itself. */
int sail_gemm_w_bf16_ok(const sail_wmat *W, int M, int N, int K, int out);
/* sail_gemm_w_post on bf16 activations, where sail_gemm_w_bf16_ok says:
 * g gives M, N, K, A, post, bias, beta and C or Cb (its weight fields are
 * W's). */
void sail_gemm_w_bf16(sail_pool *pool, const sail_wmat *W, const sail_bf16_gemm *g);

/* 1 when the active level's product of W for M rows (K values a row)
 * takes its activations quantised (sail_gemm_w_q8a): q8_0 weights, off the
 * amx level's bf16 nest. Their producer can then write the blocks
 * (quantize_q8a's, 36 bytes per 32 values) instead of floats that the
 * product would quantise in a pass of its own. */
int sail_gemm_w_q8a_ok(const sail_wmat *W, int M, int K);
/* sail_gemm_w_post on activations quantised by the table's quantize_q8a
 * (Aq: M rows of K / 32 blocks, one after another), where
 * sail_gemm_w_q8a_ok says: the bits of sail_gemm_w_post on their floats. */
void sail_gemm_w_q8a(sail_pool *pool, int M, int N, int K, const sail_q8a *Aq, const sail_wmat *W,
                     sail_post_fn post, const float *bias, float beta, float *C, int ldc);

/* 1 when the product of W (N, K) for M rows, from activations quantised
 * (sail_gemm_w_q8a_ok), can also hand its result over quantised or in bf16
 * (sail_gemm_w_q8a_out): for a product whose consumer takes it so. */
int sail_gemm_w_q8a_out_ok(const sail_wmat *W, int M, int N, int K);
/* Cq (M rows of N / 32 blocks, one after another) = quantize_q8a(post(Aq
 * W^T + bias)), or with Cq NULL, Cb (rows ldcb values apart) = those
 * floats rounded to bf16 (round_bf16), where sail_gemm_w_q8a_out_ok says:
 * the bits of sail_gemm_w_q8a into floats, then post and the quantiser or
 * the rounding. */
void sail_gemm_w_q8a_out(sail_pool *pool, int M, int N, int K, const sail_q8a *Aq, const sail_wmat *W,
                         sail_post_fn post, const float *bias, sail_q8a *Cq, uint16_t *Cb, size_t ldcb);

/* Frees the calling thread's GEMM packing buffers (they are otherwise kept
 * for reuse until the thread exits; pool workers free theirs when the pool
 * is freed). Call from the main thread before exit for leak-free shutdown;
 * harmless if none exist. */
void sail_kernels_release(void);

/* Fused masked multi-head attention over the pool. scratch holds
 * sail_attention_scratch(pool size, a) floats (no allocation per call):
 * per thread, one block of query rows' scores; with a->bf16 on a level
 * that has it, also every head's rounded k and v.
 * A query row with no key to attend to gets zeros. */
size_t sail_attention_scratch(int n_threads, const sail_attn_args *a);
void sail_attention(sail_pool *pool, const sail_attn_args *a, float *scratch);
/* 1 when sail_attention at the active level takes a's q, k, v (in) or
 * gives its output (!in) in bf16: with a->bf16 on a level with bf16
 * products, and for the input a power-of-two scale (q * scale is then
 * exact, and rounding q first changes nothing). */
int sail_attention_bf16_ok(const sail_attn_args *a, int in);
/* 1 when sail_attention gives its output quantised (out_q): with a->bf16
 * on a level with bf16 products, head width and out_stride multiples of 32. */
int sail_attention_q8a_ok(const sail_attn_args *a);

/* Plain C helpers (not hot enough to need SIMD). */
/* out(n) = mean of the rows r of x(rows, n) with mask[r] != 0 (NULL = all);
 * zeros when no row is selected. */
void sail_mean_pool(float *out, const float *x, const uint8_t *mask, int rows, int n);
/* x /= ||x||_2 (unchanged when the norm is 0). */
void sail_l2_normalize(float *x, int n);

#endif
