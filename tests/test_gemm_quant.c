/* test_gemm_quant.c: the GEMMs on weights in their stored type (f16, bf16,
 * q8_0) and the q8_0 activation quantiser, at awkward sizes (M, N, K of 1,
 * 2, 3, 5, 7, 17, ...; K only multiples of 32 for q8_0, which the format
 * requires), with an unaligned A, weight rows at an odd byte address and
 * odd byte stride, padded C (its padding must stay untouched), bias and
 * beta = 0 / 1. One CHECK per kernel x level; failures print the first
 * mismatches and the largest error.
 *
 * Tolerances (A, W, bias, C in [-1, 1]; u = 2^-24, a float's unit roundoff):
 *   quantize_q8a        SIMD bit-identical with the reference.
 *   f16 / bf16          |err| <= 1e-6 (K + 1) against the reference and
 *                       against a double GEMM on the widened weights (the
 *                       same bound as f32 GEMM in test_kernels.c: only the
 *                       order of K float additions differs).
 *   bf16, avx512bf16    the same bound against sail_gemm_bf16a_ref, which
 *                       rounds A to bf16 as vdpbf16ps needs (the products
 *                       are then exact); that reference against double on
 *                       the rounded A. The bound is tight enough to tell: the
 *                       unrounded reference fails it (checked below).
 *   q8_0 wide (amx)     the same bound against sail_gemm_q8_0_bf16a_ref,
 *                       which rounds A and each weight d q to bf16; that
 *                       reference against double on the rounded values, and
 *                       unrounded weights fail it.
 *
 * Levels the CPU lacks are skipped with "no avx2", "no avx512", "no
 * avx512_vnni", "no avx512_bf16", "no amx_int8". Deliberately broken kernels (a block or
 * a k term dropped) must fail each level's comparison.
 *   q8_0 vs exact       want = base + sum_b dot_b * s_b in double, with dot_b
 *                       the block's integer dot product and s_b the f32
 *                       product of the two scales; a float sum of nb terms
 *                       in any order (8 lanes + 3 adds in SIMD) is within
 *                       (nb + 5) * 2u * (|base| + sum_b |q|.|q| s_b).
 *   q8_0 vs unquantised the reference against double A x W~^T (W~ the
 *                       dequantised weights): rounding an activation moves it
 *                       by at most d/2 (d = its block's amax / 127, plus the
 *                       f32 rounding of x * (1/d), < 1e-4 d), so
 *                       |err| <= sum_k |W~_k| d_k 0.5001 + the bound above. */
#include "test.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "format/gguf.h"
#include "kernels/numfmt.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers -- */

static unsigned long long g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return g_rng;
}
static float frand(void) { /* uniform in [-1, 1) */
    return (float)((next_u64() >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = frand();
}

typedef struct cmp { double max_err; int n_bad, quiet; } cmp; /* quiet: expected mismatches */
static void cmp_one(cmp *c, const char *ctx, size_t i, double got, double want, double tol) {
    double e = fabs(got - want);
    if (isnan(got) != isnan(want)) e = INFINITY;
    else if (isnan(got)) e = 0;
    if (e > c->max_err) c->max_err = e;
    if (e > tol) {
        if (c->n_bad < 5 && (!c->quiet || getenv("SAIL_TEST_VERBOSE")))
            printf("#   %s [%zu]: got %.9g want %.9g (err %.3g > tol %.3g)\n", ctx, i, got, want, e, tol);
        c->n_bad++;
    }
}
static int cmp_done(const cmp *c) {
    if (c->n_bad) printf("#   %d mismatches, max error %.3g\n", c->n_bad, c->max_err);
    return c->n_bad == 0;
}

static const sail_kernel_table *g_ref;

/* Bytes of one stored weight row of K values. */
static size_t row_bytes(sail_wtype t, int K) {
    return t == SAIL_WT_Q8_0 ? (size_t)K / 32 * 34 : (size_t)K * 2;
}

/* One GEMM case: A (M, K) at lda = K + 3, one float past an aligned start;
 * W (N, K) stored as type, rows at an odd address and odd byte stride; its
 * widened copy Wf (N, K); C (M, ldc = N + 5) starting from C0. */
typedef struct qcase {
    int M, N, K, beta, has_bias, lda, ldc;
    int round_a;        /* bf16: the kernel rounds A to bf16 (bf16_rounds_a) */
    int wide;           /* q8_0: the kernel is gemm_q8_0_wide (A rounded, W widened to bf16) */
    int packed;         /* q8_0 (bf16): the kernel reads W as its level's q8_0_pack (bf16_pack) wrote it */
    sail_wtype type;
    size_t ldw;
    float *a_base, *A, *Wf, *bias, *C0, *C, *R;
    unsigned char *w_base, *W;
    sail_q8a *Aq;
} qcase;

static void qcase_init(qcase *q, sail_wtype type, int M, int N, int K, int variant) {
    memset(q, 0, sizeof *q);
    q->type = type; q->M = M; q->N = N; q->K = K;
    q->beta = variant & 1; q->has_bias = (variant >> 1) & 1;
    q->lda = K + 3; q->ldc = N + 5;
    q->ldw = row_bytes(type, K) + 3;
    q->a_base = malloc(((size_t)M * q->lda + 1) * sizeof(float));
    q->A = q->a_base + 1;
    fill(q->A, (size_t)M * q->lda);
    q->w_base = malloc(q->ldw * N + 1);
    q->W = q->w_base + 1;
    q->Wf = malloc((size_t)N * K * sizeof(float));
    uint32_t gt = type == SAIL_WT_F16 ? GGUF_T_F16 : type == SAIL_WT_BF16 ? GGUF_T_BF16 : GGUF_T_Q8_0;
    float *row = malloc((size_t)K * sizeof(float));
    for (int n = 0; n < N; n++) {
        unsigned char *w = q->W + (size_t)n * q->ldw;
        fill(row, K);
        if (n % 3 == 1 && K) row[(n * 7) % K] *= 9.0f; /* an outlier sets its block's scale */
        sail_quantize_row(gt, w, row, K);
        /* Other writers may store -128, which sail's quantiser never does. */
        if (type == SAIL_WT_Q8_0 && n % 4 == 2 && K) w[2 + (n % 32)] = 0x80;
        sail_dequantize_row(gt, q->Wf + (size_t)n * K, w, K);
    }
    free(row);
    q->bias = malloc((size_t)N * sizeof(float));
    fill(q->bias, N);
    size_t nc = (size_t)M * q->ldc;
    q->C0 = malloc(nc * sizeof(float)); q->C = malloc(nc * sizeof(float)); q->R = malloc(nc * sizeof(float));
    fill(q->C0, nc);
    memcpy(q->C, q->C0, nc * sizeof(float));
    memcpy(q->R, q->C0, nc * sizeof(float));
    if (type == SAIL_WT_Q8_0) {
        q->Aq = malloc((size_t)M * (K / 32) * sizeof(sail_q8a));
        for (int m = 0; m < M; m++) g_ref->quantize_q8a(q->Aq + (size_t)m * (K / 32), q->A + (size_t)m * q->lda, K);
    }
}

static void qcase_free(qcase *q) {
    free(q->a_base); free(q->w_base); free(q->Wf); free(q->bias);
    free(q->C0); free(q->C); free(q->R); free(q->Aq);
}

/* W packed by t's q8_0_pack (bf16: bf16_pack) into a 64-byte aligned
 * buffer (free it). */
static void *pack_w_as(const sail_kernel_table *t, sail_wtype type, const void *W, size_t ldw, int N, int K) {
    int q8 = type == SAIL_WT_Q8_0;
    size_t n = q8 ? t->q8_0_panels_size(N, K) : t->bf16_panels_size(N, K);
    void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    (q8 ? t->q8_0_pack : t->bf16_pack)(W, ldw, N, K, p);
    return p;
}

static void *pack_w(const sail_kernel_table *t, const void *W, size_t ldw, int N, int K) {
    return pack_w_as(t, SAIL_WT_Q8_0, W, ldw, N, K);
}

/* Run one table's kernel for the case into C. */
static void run_kernel(const sail_kernel_table *t, const qcase *q, float *C) {
    const float *bias = q->has_bias ? q->bias : NULL;
    if (t == NULL) { /* the reference of a level whose kernel rounds A to bf16 */
        (q->type == SAIL_WT_Q8_0 ? sail_gemm_q8_0_bf16a_ref : sail_gemm_bf16a_ref)(
            q->M, q->N, q->K, q->A, q->lda, q->W, q->ldw, bias, (float)q->beta, C, q->ldc);
    } else if (q->type == SAIL_WT_Q8_0) {
        void *wp = q->packed && t->q8_0_pack && q->N > 0 && q->K > 0 ? pack_w(t, q->W, q->ldw, q->N, q->K) : NULL;
        if (q->wide)
            t->gemm_q8_0_wide(q->M, q->N, q->K, q->A, q->lda, q->W, q->ldw, wp, NULL, bias, (float)q->beta, C, q->ldc);
        else
            t->gemm_q8_0(q->M, q->N, q->K, q->Aq, q->K / 32, q->W, q->ldw, wp, bias, (float)q->beta, C, q->ldc);
        free(wp);
    }
    else if (q->type == SAIL_WT_F16)
        t->gemm_f16(q->M, q->N, q->K, q->A, q->lda, q->W, q->ldw, bias, (float)q->beta, C, q->ldc);
    else if (q->packed && t->bf16_pack && q->M > SAIL_GEMM_DIRECT_MAX_M && q->N > 0 && q->K > 0) {
        void *wp = pack_w_as(t, SAIL_WT_BF16, q->W, q->ldw, q->N, q->K);
        t->gemm_bf16_packed(q->M, q->N, q->K, q->A, q->lda, q->W, q->ldw, wp, NULL, bias, (float)q->beta, C, q->ldc);
        free(wp);
    } else
        t->gemm_bf16(q->M, q->N, q->K, q->A, q->lda, q->W, q->ldw, bias, (float)q->beta, C, q->ldc);
}

/* The reference a level's kernel must equal: NULL stands for
 * sail_gemm_bf16a_ref (bf16) or sail_gemm_q8_0_bf16a_ref (q8_0, wide). */
static const sail_kernel_table *ref_for(const sail_kernel_table *t, sail_wtype type, int wide) {
    return (type == SAIL_WT_BF16 && t->bf16_rounds_a) || (type == SAIL_WT_Q8_0 && wide) ? NULL : g_ref;
}

static double base_of(const qcase *q, int m, int n) {
    return (q->beta ? q->C0[(size_t)m * q->ldc + n] : 0.0) + (q->has_bias ? q->bias[n] : 0.0);
}

/* Exact q8_0 result from the quantised activations, and the rounding bound. */
static double q8_exact(const qcase *q, int m, int n, double *bound) {
    const sail_q8a *a = q->Aq + (size_t)m * (q->K / 32);
    const unsigned char *w = q->W + (size_t)n * q->ldw;
    double base = base_of(q, m, n), s = base, mag = fabs(base);
    int nb = q->K / 32;
    for (int b = 0; b < nb; b++, w += 34) {
        uint16_t d16;
        memcpy(&d16, w, 2);
        float scale = a[b].d * sail_f16_to_f32(d16);
        long dot = 0, adot = 0;
        for (int j = 0; j < 32; j++) {
            dot += (long)(int8_t)w[2 + j] * a[b].q[j];
            adot += labs((long)(int8_t)w[2 + j] * a[b].q[j]);
        }
        s += (double)dot * scale;
        mag += (double)adot * fabs(scale);
    }
    *bound = (nb + 5) * 2.0 * ldexp(1.0, -24) * mag;
    return s;
}

/* got (the case's C) against: ref (R) when vs == 0; double on widened
 * weights when vs == 1; exact q8_0 when vs == 2; q8_0 vs unquantised A
 * when vs == 3. Padding columns must hold C0. */
static void compare(cmp *c, const qcase *q, const float *got, int vs) {
    char ctx[96];
    snprintf(ctx, sizeof ctx, "M=%d N=%d K=%d beta=%d bias=%d", q->M, q->N, q->K, q->beta, q->has_bias);
    double tol16 = 1e-6 * (q->K + 1);
    for (int m = 0; m < q->M; m++)
        for (int n = 0; n < q->ldc; n++) {
            size_t i = (size_t)m * q->ldc + n;
            if (n >= q->N) {
                cmp_one(c, ctx, i, got[i], q->C0[i], 0);
                continue;
            }
            double want, tol, qb = 0;
            if (q->type == SAIL_WT_Q8_0 && q->wide) { /* A and the widened W rounded to bf16 */
                want = q->R[i];
                if (vs == 1) {
                    want = base_of(q, m, n);
                    const float *a = q->A + (size_t)m * q->lda, *w = q->Wf + (size_t)n * q->K;
                    for (int k = 0; k < q->K; k++)
                        want += (double)sail_bf16_dp_value(a[k]) * sail_bf16_dp_value(w[k]);
                }
                tol = tol16;
            } else if (q->type == SAIL_WT_Q8_0 && (vs == 0 || vs == 2)) {
                double exact = q8_exact(q, m, n, &qb);
                want = vs == 0 ? q->R[i] : exact;
                tol = vs == 0 ? 2 * qb : qb;
            } else if (vs == 0) {
                want = q->R[i];
                tol = tol16;
            } else {
                want = base_of(q, m, n);
                double wsum = 0;
                const float *a = q->A + (size_t)m * q->lda, *w = q->Wf + (size_t)n * q->K;
                for (int k = 0; k < q->K; k++)
                    want += (q->round_a ? (double)sail_bf16_to_f32(sail_f32_to_bf16(a[k])) : a[k]) * w[k];
                if (q->type != SAIL_WT_Q8_0) tol = tol16;
                else {
                    const sail_q8a *aq = q->Aq + (size_t)m * (q->K / 32);
                    for (int k = 0; k < q->K; k++) wsum += fabs(w[k]) * aq[k / 32].d * 0.5001;
                    q8_exact(q, m, n, &qb);
                    tol = wsum + qb;
                }
            }
            cmp_one(c, ctx, i, got[i], want, tol);
        }
}

static const char *type_name(sail_wtype t) {
    return t == SAIL_WT_F16 ? "f16" : t == SAIL_WT_BF16 ? "bf16" : "q8_0";
}

/* --------------------------------------------------------------- sweeps -- */

/* M up to 64 takes the SIMD f16/bf16 path without packing, above it the
 * packed one; 100 rows of K >= 800 span two L2 slices of A. */
static const int MN[][2] = {{0, 5},   {1, 1},   {1, 17},  {2, 33},   {3, 16},   {4, 1023},
                            {5, 7},   {7, 130}, {13, 5},  {6, 16},   {17, 48},  {40, 530},
                            {70, 20}, {80, 70}, {100, 33}, {197, 45}, {1023, 3}};
#define N_MN (int)(sizeof MN / sizeof MN[0])
static const int K16[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 127, 385, 800, 1023};
static const int K8[] = {0, 32, 64, 96, 160, 416, 544, 1024};

/* Every (M, N) with every K of the type; `vs` as in compare(); packed: W as
 * the level's q8_0_pack or bf16_pack wrote it; wide: q8_0 through gemm_q8_0_wide
 * (t NULL: its reference). */
static void sweep(cmp *c, const sail_kernel_table *t, sail_wtype type, int vs, int packed, int wide) {
    const int *ks = type == SAIL_WT_Q8_0 ? K8 : K16;
    int nk = type == SAIL_WT_Q8_0 ? (int)(sizeof K8 / sizeof *K8) : (int)(sizeof K16 / sizeof *K16);
    int v = 0;
    const sail_kernel_table *ref = t ? ref_for(t, type, wide) : g_ref;
    for (int i = 0; i <= N_MN + 1; i++)
        for (int k = 0; k < nk; k++) {
            /* the last two cases: rows enough that the q8_0 nest runs strip
             * by strip rather than tile by tile (q8_driver.h), and then
             * columns for more than one slice of W (its strips packed once) */
            int M = i < N_MN ? MN[i][0] : i == N_MN ? 900 : 480, N = i < N_MN ? MN[i][1] : i == N_MN ? 3 : 530;
            int K = i < N_MN ? ks[k] : 1024;
            if (i >= N_MN && (type != SAIL_WT_Q8_0 || k)) continue;
            if (i < N_MN && (long)M * N * K > 3000000) continue;
            qcase q;
            qcase_init(&q, type, M, N, K, v++ & 3);
            q.round_a = t == NULL || (type == SAIL_WT_BF16 && t->bf16_rounds_a);
            q.wide = wide;
            q.packed = packed;
            run_kernel(t, &q, q.C);
            q.packed = 0;
            if (vs == 0) run_kernel(ref, &q, q.R);
            compare(c, &q, q.C, vs);
            qcase_free(&q);
        }
}

static const sail_wtype TYPES[3] = {SAIL_WT_F16, SAIL_WT_BF16, SAIL_WT_Q8_0};

static void test_refs(void) {
    for (int i = 0; i < 3; i++) {
        cmp c = {0};
        sweep(&c, g_ref, TYPES[i], 1, 0, 0);
        CHECK(cmp_done(&c), "gemm_%s ref vs double on the dequantised weights%s (max err %.2g)",
              type_name(TYPES[i]), TYPES[i] == SAIL_WT_Q8_0 ? ", within the activation rounding bound" : "",
              c.max_err);
    }
    cmp c = {0};
    sweep(&c, g_ref, SAIL_WT_Q8_0, 2, 0, 0);
    CHECK(cmp_done(&c), "gemm_q8_0 ref vs exact integer block dots (max err %.2g)", c.max_err);
    cmp r = {0};
    sweep(&r, NULL, SAIL_WT_BF16, 1, 0, 0);
    CHECK(cmp_done(&r), "gemm_bf16a ref (A rounded to bf16) vs double on the rounded A (max err %.2g)",
          r.max_err);
    cmp w = {0};
    sweep(&w, NULL, SAIL_WT_Q8_0, 1, 0, 1);
    CHECK(cmp_done(&w), "gemm_q8_0_bf16a ref (A and each weight d q rounded to bf16) vs double on the "
          "rounded values (max err %.2g)", w.max_err);
    /* The bound can tell a kernel that rounds A from one that does not. */
    qcase q;
    qcase_init(&q, SAIL_WT_BF16, 7, 33, 385, 0);
    run_kernel(g_ref, &q, q.C);
    run_kernel(NULL, &q, q.R);
    cmp u = {.quiet = 1};
    compare(&u, &q, q.C, 0);
    CHECK(u.n_bad > 0, "gemm_bf16 without the rounding of A fails the bf16a comparison (%d "
          "expected mismatches)", u.n_bad);
    qcase_free(&q);
    /* and one that leaves the weights unrounded (dequantised in f32) */
    qcase_init(&q, SAIL_WT_Q8_0, 7, 33, 384, 0);
    q.wide = 1;
    run_kernel(NULL, &q, q.R);
    for (int m = 0; m < q.M; m++)
        for (int n = 0; n < q.N; n++) {
            float s = 0.0f;
            for (int k = 0; k < q.K; k++)
                s += sail_bf16_dp_value(q.A[(size_t)m * q.lda + k]) * q.Wf[(size_t)n * q.K + k];
            q.C[(size_t)m * q.ldc + n] = s;
        }
    cmp uw = {.quiet = 1};
    compare(&uw, &q, q.C, 0);
    CHECK(uw.n_bad > 0, "q8_0 with unrounded weights fails the q8_0_bf16a comparison (%d expected "
          "mismatches)", uw.n_bad);
    qcase_free(&q);
}

/* gemm_q8_0_wide where the level has it: against its reference, W as
 * stored and as packed at load. */
static void test_wide(const sail_kernel_table *t) {
    if (!t->gemm_q8_0_wide) {
        SKIP("%s has no gemm_q8_0_wide", t->name);
        return;
    }
    cmp c = {0}, p = {0};
    sweep(&c, t, SAIL_WT_Q8_0, 0, 0, 1);
    sweep(&p, t, SAIL_WT_Q8_0, 0, 1, 1);
    CHECK(cmp_done(&c) && cmp_done(&p), "gemm_q8_0_wide %s vs q8_0_bf16a ref: all sizes, odd strides, bias, "
          "beta, W as stored and packed at load (max err %.2g, %.2g)", t->name, c.max_err, p.max_err);
    /* 1100 rows of K = 2080 round to more bf16 than the amx nest keeps at
     * once (4 MiB): A is done in two chunks, here and in gemm_bf16 */
    cmp k = {0};
    for (int i = 0; i < 2; i++) {
        qcase q;
        qcase_init(&q, i ? SAIL_WT_BF16 : SAIL_WT_Q8_0, 1100, 40, 2080, 3);
        q.wide = !i;
        q.round_a = i && t->bf16_rounds_a;
        run_kernel(t, &q, q.C);
        run_kernel(ref_for(t, q.type, q.wide), &q, q.R);
        compare(&k, &q, q.C, 0);
        qcase_free(&q);
    }
    CHECK(cmp_done(&k), "gemm_q8_0_wide and gemm_bf16 %s at 1100 x 40 x 2080 vs their references (max err %.2g)",
          t->name, k.max_err);
}

/* bf16 W from the panels bf16_pack wrote: every size against the reference,
 * the same bits as from W itself (bias, beta, a post, and a task's columns
 * from 16 on, read at the offset bf16_panels_size gives), and a changed
 * packed weight caught. */
static void test_bf16_packed(const sail_kernel_table *t) {
    if (!t->bf16_pack) {
        SKIP("%s keeps no packed bf16 weights", t->name);
        return;
    }
    cmp c = {0};
    sweep(&c, t, SAIL_WT_BF16, 0, 1, 0);
    CHECK(cmp_done(&c), "gemm_bf16 %s on weights packed at load (bf16_pack) vs %s: all sizes (max err %.2g)",
          t->name, ref_for(t, SAIL_WT_BF16, 0) ? "ref" : "bf16a ref", c.max_err);
    static const int shapes[][3] = {{65, 16, 32}, {70, 45, 33}, {100, 530, 385}, {197, 61, 800},
                                    {97, 40, 1023}, {130, 33, 1536}, {80, 48, 3072}};
    int same = 1, n_cases = 0, caught = 1;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int v = 0; v < 4; v++) {
            qcase q;
            qcase_init(&q, SAIL_WT_BF16, shapes[i][0], shapes[i][1], shapes[i][2], v);
            const float *bias = q.has_bias ? q.bias : NULL;
            sail_post_fn post = v == 3 ? t->gelu : NULL;
            t->gemm_bf16(q.M, q.N, q.K, q.A, q.lda, q.W, q.ldw, bias, (float)q.beta, q.R, q.ldc);
            if (post) sail_post_rows(post, q.R, q.ldc, q.M, q.N);
            uint8_t *wp = pack_w_as(t, SAIL_WT_BF16, q.W, q.ldw, q.N, q.K);
            t->gemm_bf16_packed(q.M, q.N, q.K, q.A, q.lda, q.W, q.ldw, wp, post, bias, (float)q.beta, q.C, q.ldc);
            same &= !memcmp(q.C, q.R, (size_t)q.M * q.ldc * sizeof(float));
            if (q.N > 16) { /* columns [16, N) alone, as a task of sail_gemm_w reads them */
                memcpy(q.C, q.C0, (size_t)q.M * q.ldc * sizeof(float));
                for (int m = 0; m < q.M; m++) memcpy(q.C + (size_t)m * q.ldc, q.R + (size_t)m * q.ldc, 16 * sizeof(float));
                t->gemm_bf16_packed(q.M, q.N - 16, q.K, q.A, q.lda, q.W + 16 * q.ldw, q.ldw,
                                    wp + t->bf16_panels_size(16, q.K), post, bias ? bias + 16 : NULL, (float)q.beta,
                                    q.C + 16, q.ldc);
                same &= !memcmp(q.C, q.R, (size_t)q.M * q.ldc * sizeof(float));
            }
            if (v == 2) { /* the last row's last weight changed in the panels only */
                uint8_t *bad = q.W + (size_t)(q.N - 1) * q.ldw + 2 * (size_t)(q.K - 1);
                bad[1] ^= 0x21;
                uint8_t *wb = pack_w_as(t, SAIL_WT_BF16, q.W, q.ldw, q.N, q.K);
                bad[1] ^= 0x21;
                t->gemm_bf16_packed(q.M, q.N, q.K, q.A, q.lda, q.W, q.ldw, wb, NULL, bias, (float)q.beta, q.C, q.ldc);
                cmp o = {.quiet = 1};
                compare(&o, &q, q.C, 0);
                caught &= o.n_bad > 0;
                free(wb);
            }
            n_cases++;
            free(wp);
            qcase_free(&q);
        }
    CHECK(same, "gemm_bf16_packed %s gives gemm_bf16's bits: %d cases of 65-197 rows, K 32-3072, bias, beta, "
          "GELU, and columns from 16 on", t->name, n_cases);
    CHECK(caught, "gemm_bf16_packed %s with one packed weight changed is caught", t->name);
}

static void test_simd(const sail_kernel_table *t) {
    for (int i = 0; i < 3; i++) {
        cmp c = {0};
        sweep(&c, t, TYPES[i], 0, 0, 0);
        CHECK(cmp_done(&c), "gemm_%s %s vs %s: all sizes, odd strides, bias, beta (max err %.2g)",
              type_name(TYPES[i]), t->name, ref_for(t, TYPES[i], 0) ? "ref" : "bf16a ref", c.max_err);
    }
    test_wide(t);
    test_bf16_packed(t);
    cmp c = {0};
    sweep(&c, t, SAIL_WT_Q8_0, 2, 0, 0);
    CHECK(cmp_done(&c), "gemm_q8_0 %s vs exact integer block dots (max err %.2g)", t->name, c.max_err);
    if (!t->q8_0_pack) {
        SKIP("%s keeps no packed q8_0 weights", t->name);
        return;
    }
    cmp p = {0}, e = {0};
    sweep(&p, t, SAIL_WT_Q8_0, 0, 1, 0);
    sweep(&e, t, SAIL_WT_Q8_0, 2, 1, 0);
    CHECK(cmp_done(&p) && cmp_done(&e), "gemm_q8_0 %s on weights packed at load (q8_0_pack) vs ref and "
          "exact block dots: all sizes, odd strides, bias, beta (max err %.2g, %.2g)", t->name, p.max_err, e.max_err);
}

/* A level's kernels, broken on purpose (q8_0 dropping the last block,
 * f16/bf16 the last k), must fail the comparison with their reference, at a
 * few-row and a many-row shape. */
static void test_broken(const sail_kernel_table *t) {
    for (int i = 0; i < 3; i++) {
        int bad = 0;
        for (int s = 0; s < 2; s++) {
            qcase q;
            qcase_init(&q, TYPES[i], s ? 37 : 3, 45, TYPES[i] == SAIL_WT_Q8_0 ? 160 : 161, 2);
            const float *bias = q.bias; /* variant 2: bias, beta 0 */
            if (TYPES[i] == SAIL_WT_Q8_0) /* the same rows of A, one block short */
                t->gemm_q8_0(q.M, q.N, q.K - 32, q.Aq, q.K / 32, q.W, q.ldw, NULL, bias, 0.0f, q.C, q.ldc);
            else /* one k short */
                (TYPES[i] == SAIL_WT_F16 ? t->gemm_f16 : t->gemm_bf16)(
                    q.M, q.N, q.K - 1, q.A, q.lda, q.W, q.ldw, bias, 0.0f, q.C, q.ldc);
            q.round_a = TYPES[i] == SAIL_WT_BF16 && t->bf16_rounds_a;
            run_kernel(ref_for(t, TYPES[i], 0), &q, q.R);
            cmp c = {.quiet = 1};
            compare(&c, &q, q.C, 0);
            bad += c.n_bad > 0;
            qcase_free(&q);
        }
        CHECK(bad == 2, "a broken gemm_%s %s (last %s dropped) is caught at 3 and 37 rows",
              type_name(TYPES[i]), t->name, TYPES[i] == SAIL_WT_Q8_0 ? "block" : "k");
    }
    if (t->gemm_q8_0_wide) { /* one block short, and one weight of the packed W changed */
        qcase q;
        qcase_init(&q, SAIL_WT_Q8_0, 70, 45, 160, 2);
        q.wide = 1;
        t->gemm_q8_0_wide(q.M, q.N, q.K - 32, q.A, q.lda, q.W, q.ldw, NULL, NULL, q.bias, 0.0f, q.C, q.ldc);
        run_kernel(NULL, &q, q.R);
        cmp c = {.quiet = 1}, o = {.quiet = 1};
        compare(&c, &q, q.C, 0);
        unsigned char *last = q.W + (size_t)(q.N - 1) * q.ldw + q.ldw - 4;
        *last ^= 0x5a;
        uint8_t *bad = pack_w(t, q.W, q.ldw, q.N, q.K);
        *last ^= 0x5a;
        t->gemm_q8_0_wide(q.M, q.N, q.K, q.A, q.lda, q.W, q.ldw, bad, NULL, q.bias, 0.0f, q.C, q.ldc);
        compare(&o, &q, q.C, 0);
        CHECK(c.n_bad > 0 && o.n_bad > 0, "a broken gemm_q8_0_wide %s (last block dropped; a packed weight "
              "changed) is caught (%d, %d mismatches)", t->name, c.n_bad, o.n_bad);
        free(bad);
        qcase_free(&q);
    }
    if (!t->q8_0_pack) return;
    /* packed weights with one value changed (the last row's last weight),
     * and packed weights read with the unpacked W's panel offsets wrong */
    qcase q;
    qcase_init(&q, SAIL_WT_Q8_0, 37, 45, 160, 2);
    uint8_t *wp = pack_w(t, q.W, q.ldw, q.N, q.K);
    unsigned char *last = q.W + (size_t)(q.N - 1) * q.ldw + q.ldw - 4;
    *last ^= 0x5a;
    uint8_t *bad = pack_w(t, q.W, q.ldw, q.N, q.K);
    *last ^= 0x5a;
    t->gemm_q8_0(q.M, q.N, q.K, q.Aq, q.K / 32, q.W, q.ldw, bad, q.bias, 0.0f, q.C, q.ldc);
    run_kernel(g_ref, &q, q.R);
    cmp c = {.quiet = 1};
    compare(&c, &q, q.C, 0);
    t->gemm_q8_0(q.M, q.N - 16, q.K, q.Aq, q.K / 32, q.W + 16 * q.ldw, q.ldw, wp, q.bias + 16, 0.0f, q.C + 16,
                 q.ldc);
    cmp o = {.quiet = 1};
    compare(&o, &q, q.C, 0);
    CHECK(c.n_bad > 0 && o.n_bad > 0, "gemm_q8_0 %s on packed weights with one weight changed, or from the "
          "wrong panel, is caught (%d, %d mismatches)", t->name, c.n_bad, o.n_bad);
    free(wp);
    free(bad);
    qcase_free(&q);
}

/* The AMX kernel claims the VNNI kernel's bits (the same block products,
 * added in the same order): at few and many rows, partial strips and
 * panels, K past one slice, W as stored and packed by each level. */
static void test_amx_bits(void) {
    const sail_kernel_table *amx = sail_kernels_for(SAIL_ISA_AMX), *vnni = sail_kernels_for(SAIL_ISA_AVX512_VNNI);
    if (!amx || !vnni) {
        SKIP("no amx_int8 (or Linux refused the tile state, or SAIL_ISA caps it): the AMX q8_0 kernel not "
             "compared with the VNNI one");
        return;
    }
    static const int S[][3] = {{3, 45, 160}, {5, 17, 32}, {16, 2304, 768}, {37, 45, 544},
                               {197, 384, 1536}, {230, 33, 1024}};
    int same = 1;
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++)
        for (int packed = 0; packed < 2; packed++) {
            qcase q;
            qcase_init(&q, SAIL_WT_Q8_0, S[i][0], S[i][1], S[i][2], (int)i & 3);
            q.packed = packed;
            run_kernel(amx, &q, q.C);
            run_kernel(vnni, &q, q.R);
            if (memcmp(q.C, q.R, (size_t)q.M * q.ldc * sizeof(float))) {
                printf("#   %dx%dx%d%s: amx and avx512vnni differ\n", q.M, q.N, q.K, packed ? " packed" : "");
                same = 0;
            }
            qcase_free(&q);
        }
    CHECK(same, "gemm_q8_0 amx gives avx512vnni's bits (3 to 230 rows, W as stored and packed)");
}

/* A kernel that skips the last weight block (or row of K) must be caught:
 * the checks can fail. */
static void test_sensitivity(const sail_kernel_table *t) {
    qcase q;
    qcase_init(&q, SAIL_WT_Q8_0, 5, 7, 96, 0);
    t->gemm_q8_0(q.M, q.N, 64, q.Aq, 3, q.W, q.ldw, NULL, NULL, 0.0f, q.C, q.ldc);
    cmp c = {.quiet = 1}; /* SAIL_TEST_VERBOSE=1 prints its mismatches */
    compare(&c, &q, q.C, 3);
    CHECK(c.n_bad > 0, "a q8_0 kernel that drops a block fails the bound (%d expected mismatches)",
          c.n_bad);
    qcase_free(&q);
}

/* ------------------------------------------------------------- quantiser -- */

static void test_quantize(const sail_kernel_table *t) {
    enum { NB = 300 };
    float *x = malloc(NB * 32 * sizeof(float));
    sail_q8a *a = malloc(NB * sizeof *a), *r = malloc(NB * sizeof *r);
    for (int i = 0; i < NB * 32; i++) x[i] = frand() * (float)(1 << (i / 32 % 20)) * 1e-3f;
    memset(x, 0, 32 * sizeof(float)); /* scale 0 */
    x[32] = 127.0f;                   /* d = 1: the others are ties k + 0.5 */
    for (int j = 1; j < 32; j++) x[32 + j] = (float)(j - 16) + 0.5f;
    x[64 + 3] = NAN; x[96 + 5] = INFINITY; x[128 + 7] = -INFINITY;
    x[160 + 1] = -0.0f; x[192 + 2] = 3e38f; x[224 + 4] = 1e-40f;
    for (int j = 17; j < 32; j += 2) x[256 + j] = NAN; /* NaNs in a block's later vectors, */
    x[288 + 29] = NAN;                                  /* where max's operand order matters */
    g_ref->quantize_q8a(r, x, NB * 32);
    if (t == g_ref) {
        int ok = 1;
        for (int b = 0; b < NB; b++)
            for (int j = 0; j < 32; j++) {
                float v = x[b * 32 + j];
                ok &= r[b].q[j] != -128;
                if (b >= 5 && !isnan(v)) ok &= fabs(v - r[b].d * r[b].q[j]) <= r[b].d * 0.5001;
            }
        for (int j = 1; j < 32; j++) ok &= r[1].q[j] == (int)rint(x[32 + j]); /* ties to even */
        CHECK(ok, "quantize_q8a ref: |x - d q| <= d / 2, ties to even, q never -128");
    } else {
        t->quantize_q8a(a, x, NB * 32);
        int same = 1;
        for (int b = 0; b < NB; b++) {
            uint32_t da, dr;
            memcpy(&da, &a[b].d, 4);
            memcpy(&dr, &r[b].d, 4);
            if (da != dr || memcmp(a[b].q, r[b].q, 32)) {
                if (same) printf("#   block %d differs: d %g vs %g\n", b, a[b].d, r[b].d);
                same = 0;
            }
        }
        CHECK(same, "quantize_q8a %s bit-identical with ref (ties, NaN, inf, zero blocks)", t->name);
    }
    free(x); free(a); free(r);
}

/* ------------------------------------------------------------ threaded -- */

static void test_pool(sail_pool *pool, int threads) {
    static const int shapes[][3] = {{1, 512, 256}, {16, 768, 256}, {16, 1024, 256}, {17, 256, 1024},
                                    {200, 96, 160}, {3, 1000, 64}, {65, 65, 96}, {2, 5, 32},
                                    {5, 9, 0},      {300, 700, 0}, {0, 9, 32}};
    for (int i = 0; i < 4; i++) { /* f16, bf16, q8_0, q8_0 packed as a model's at load */
        cmp c = {0};
        int packed = i == 3;
        if (packed && !sail_kernels()->q8_0_pack) continue;
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
            qcase q;
            qcase_init(&q, TYPES[packed ? 2 : i], shapes[s][0], shapes[s][1], shapes[s][2], s & 3);
            sail_wmat W = {q.W, q.ldw, q.type, NULL};
            size_t pb = packed ? sail_gemm_w_packed_size(&W, q.N, q.K) : 0;
            void *wp = pb ? aligned_alloc(64, (pb + 63) / 64 * 64) : NULL;
            if (wp) sail_gemm_w_pack(&W, q.N, q.K, wp);
            size_t need = sail_gemm_w_scratch(&W, q.M, q.K);
            void *scratch = need ? aligned_alloc(64, (need + 63) / 64 * 64) : NULL;
            sail_gemm_w(pool, q.M, q.N, q.K, q.A, q.lda, &W, q.has_bias ? q.bias : NULL,
                        (float)q.beta, q.C, q.ldc, scratch);
            q.round_a = q.type == SAIL_WT_BF16 && sail_kernels()->bf16_rounds_a;
            q.wide = sail_gemm_w_wide(sail_kernels(), q.type, q.M);
            run_kernel(ref_for(sail_kernels(), q.type, q.wide), &q, q.R);
            compare(&c, &q, q.C, 0);
            free(scratch);
            free(wp);
            qcase_free(&q);
        }
        CHECK(cmp_done(&c), "sail_gemm_w %s%s on %d threads (%s) vs ref (max err %.2g)",
              type_name(TYPES[packed ? 2 : i]), packed ? " packed" : "", threads, sail_kernel_level(), c.max_err);
    }
}

/* q8_0 at the extremes of the int8 range: activations +-127, weights 127
 * and -128, all scales 1, so every pair of vpmaddubsw sums to
 * +-2 * 128 * 127 = +-32512, next to int16's limit. The block sums are
 * integers below 2^24, exact in f32 in any order: the kernel must give the
 * exact integer dot, as the reference does, with no saturation. A naive
 * (w + 128) x a pairing would saturate at these values (checked: the test
 * can tell). Few-row (3) and packed (37 rows) paths, a partial panel. */
static void test_extremes(const sail_kernel_table *t) {
    enum { K = 512, NB = K / 32, N = 45, LDW = NB * 34 };
    static const int ms[2] = {3, 37};
    uint8_t *W = malloc((size_t)N * LDW);
    for (int n = 0; n < N; n++)
        for (int b = 0; b < NB; b++) {
            uint8_t *blk = W + (size_t)n * LDW + b * 34;
            uint16_t one = 0x3C00; /* f16 1.0 */
            memcpy(blk, &one, 2);
            for (int j = 0; j < 32; j++) /* rows: all -128, all 127, or the two in turn */
                blk[2 + j] = (uint8_t)(n % 3 == 0 || (n % 3 == 2 && (j / 2 + b) % 2) ? 0x80 : 127);
        }
    int exact = 1, ref_exact = 1, naive_saturates = 0;
    for (int s = 0; s < 2; s++) {
        int M = ms[s];
        sail_q8a *A = malloc((size_t)M * NB * sizeof *A);
        for (int m = 0; m < M; m++)
            for (int b = 0; b < NB; b++) {
                A[(size_t)m * NB + b].d = 1.0f;
                for (int j = 0; j < 32; j++) /* rows: all 127, all -127, or mixed by pairs */
                    A[(size_t)m * NB + b].q[j] = (int8_t)(m % 3 == 0 ? 127 : m % 3 == 1 ? -127
                                                          : ((j / 2 + m) % 2 ? 127 : -127));
            }
        float *C = malloc((size_t)M * N * sizeof(float)), *R = malloc((size_t)M * N * sizeof(float));
        void *wp = t->q8_0_pack ? pack_w(t, W, LDW, N, K) : NULL;
        float *P = malloc((size_t)M * N * sizeof(float));
        t->gemm_q8_0(M, N, K, A, NB, W, LDW, NULL, NULL, 0.0f, C, N);
        t->gemm_q8_0(M, N, K, A, NB, W, LDW, wp, NULL, 0.0f, P, N);
        g_ref->gemm_q8_0(M, N, K, A, NB, W, LDW, NULL, NULL, 0.0f, R, N);
        exact &= !memcmp(C, P, (size_t)M * N * sizeof(float));
        free(wp);
        free(P);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                long dot = 0, naive = 0;
                for (int k = 0; k < K; k += 2) {
                    int w0 = (int8_t)W[(size_t)n * LDW + k / 32 * 34 + 2 + k % 32];
                    int w1 = (int8_t)W[(size_t)n * LDW + k / 32 * 34 + 3 + k % 32];
                    int a0 = A[(size_t)m * NB + k / 32].q[k % 32];
                    int a1 = A[(size_t)m * NB + k / 32].q[k % 32 + 1];
                    dot += w0 * a0 + w1 * a1;
                    int pair = (w0 + 128) * a0 + (w1 + 128) * a1; /* int16-saturated, then -128 sum(a) */
                    naive += (pair > 32767 ? 32767 : pair < -32768 ? -32768 : pair) - 128 * (a0 + a1);
                }
                naive_saturates |= naive != dot;
                exact &= C[(size_t)m * N + n] == (float)dot;
                ref_exact &= R[(size_t)m * N + n] == (float)dot;
            }
        free(A); free(C); free(R);
    }
    free(W);
    CHECK(exact && ref_exact && naive_saturates,
          "gemm_q8_0 %s at +-127 activations and 127 / -128 weights: exact integer dots, no int16 "
          "saturation (3 and 37 rows, W as stored and packed; ref exact: %d; a naive u8 pairing saturates here: %d)",
          t->name, ref_exact, naive_saturates);
}

/* The stored types sail_gemm_w is checked on, the last q8_0 in the panels
 * a model packs at load (where the level has them). */
static const sail_wtype W_TYPES[5] = {SAIL_WT_F32, SAIL_WT_F16, SAIL_WT_BF16, SAIL_WT_Q8_0, SAIL_WT_Q8_0};
static const char *const W_NAMES[5] = {"f32", "f16", "bf16", "q8_0", "q8_0 packed at load"};

/* Test case q (drawn for M x N x K, seed s) with W as W_TYPES[ti] (f32:
 * q's own f32 weights), the scratch sail_gemm_w asks for, and for ti 4 the
 * room for W's panels (filled by wcase_pack). */
typedef struct wcase { qcase q; sail_wmat W; void *wp, *scratch; } wcase;

static void wcase_open(wcase *c, int ti, int M, int N, int K, int s) {
    sail_wtype type = W_TYPES[ti];
    qcase_init(&c->q, type == SAIL_WT_F32 ? SAIL_WT_F16 : type, M, N, K, s);
    c->W = type == SAIL_WT_F32 ? (sail_wmat){c->q.Wf, (size_t)K * sizeof(float), type, NULL}
                               : (sail_wmat){c->q.W, c->q.ldw, type, NULL};
    size_t need = sail_gemm_w_scratch(&c->W, M, K);
    c->scratch = need ? aligned_alloc(64, (need + 63) / 64 * 64) : NULL;
    c->wp = ti == 4 ? aligned_alloc(64, (sail_gemm_w_packed_size(&c->W, N, K) + 63) / 64 * 64) : NULL;
}

static void wcase_pack(wcase *c) {
    if (c->wp) sail_gemm_w_pack(&c->W, c->q.N, c->q.K, c->wp);
}

static void wcase_close(wcase *c) {
    free(c->wp);
    free(c->scratch);
    qcase_free(&c->q);
}

/* sail_gemm_w gives the same bits on 1, 2, 3 and 4 threads, for every
 * stored type (f32 through sail_gemm): the driver cuts M only where no
 * row changes path, so each element is summed in the same order. The
 * shapes are the models' (few-row texts, 64 rows, ViT and CLIP batches,
 * the last cut along M rather than into narrow columns) and cuts near the
 * few-row bound. */
static void test_thread_invariance(void) {
    static const int shapes[][3] = {{1, 768, 768},   {4, 2304, 768},  {16, 3072, 768},
                                    {64, 768, 768},  {65, 300, 256},  {100, 200, 96},
                                    {129, 130, 160}, {140, 64, 512},  {197, 1152, 384},
                                    {260, 96, 384},  {20, 512, 256},  {1576, 384, 128},
                                    {400, 768, 768}};
    sail_pool *pools[4];
    for (int p = 0; p < 4; p++) pools[p] = sail_pool_new(p + 1);
    for (int ti = 0; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        int same = 1, nonzero = 0;
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            wcase c;
            wcase_open(&c, ti, M, N, K, s & 3);
            qcase q = c.q;
            sail_wmat W = c.W;
            void *scratch = c.scratch, *ref = NULL;
            size_t nc = (size_t)M * q.ldc;
            if (ti == 4) { /* packed: the same bits as the unpacked q8_0 on 1 thread */
                ref = malloc((size_t)M * q.ldc * sizeof(float));
                memcpy(ref, q.C0, (size_t)M * q.ldc * sizeof(float));
                sail_gemm_w(pools[0], M, N, K, q.A, q.lda, &W, q.has_bias ? q.bias : NULL, (float)q.beta, ref,
                            q.ldc, scratch);
                wcase_pack(&c);
                W = c.W;
            }
            for (int p = 0; p < 4; p++) {
                float *out = p ? q.C : q.R;
                memcpy(out, q.C0, nc * sizeof(float));
                sail_gemm_w(pools[p], M, N, K, q.A, q.lda, &W, q.has_bias ? q.bias : NULL,
                            (float)q.beta, out, q.ldc, scratch);
                if (p && memcmp(q.C, q.R, nc * sizeof(float))) {
                    if (same) printf("#   %s %dx%dx%d differs on %d threads\n", W_NAMES[ti], M, N, K, p + 1);
                    same = 0;
                }
            }
            for (size_t i = 0; i < nc; i++) nonzero |= q.R[i] != q.C0[i];
            if (ref && memcmp(ref, q.R, nc * sizeof(float))) {
                if (same) printf("#   q8_0 %dx%dx%d packed differs from as stored\n", M, N, K);
                same = 0;
            }
            free(ref);
            wcase_close(&c);
        }
        CHECK(same && nonzero, "sail_gemm_w %s (%s): the same bits on 1, 2, 3 and 4 threads at "
              "the models' shapes", W_NAMES[ti], sail_kernel_level());
    }
    for (int p = 0; p < 4; p++) sail_pool_free(pools[p]);
}

/* Above the few-row paths (64 rows; 48 for q8_0 at the amx level) a
 * row's result does not depend on the rows beside it: any run of more
 * than 128 of a product's rows, alone, gives those rows' bits of the whole
 * product, with and without bias and beta. (The few-row paths block k by
 * their rows, and do not have this.) The runs start and end inside and on
 * the tiles' 16- and 32-row strips. */
static void test_row_invariance(void) {
    static const int shapes[][3] = {{1576, 384, 128}, {400, 200, 768}, {300, 96, 800}};
    static const int runs[][2] = {{0, 788}, {788, 788}, {5, 139}, {32, 150}, {129, 171}, {16, 241}};
    sail_pool *pool = sail_pool_new(2);
    for (int ti = 0; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        int same = 1, n = 0;
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
            for (int v = 0; v < 4; v++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                wcase c;
                wcase_open(&c, ti, M, N, K, v);
                wcase_pack(&c);
                qcase q = c.q;
                const float *bias = q.has_bias ? q.bias : NULL;
                sail_gemm_w(pool, M, N, K, q.A, q.lda, &c.W, bias, (float)q.beta, q.R, q.ldc, c.scratch);
                for (int r = 0; r < (int)(sizeof runs / sizeof runs[0]); r++) {
                    int r0 = runs[r][0], m = SAIL_MIN(runs[r][1], M - r0);
                    if (m <= 128) continue;
                    size_t off = (size_t)r0 * q.ldc, nc = (size_t)m * q.ldc;
                    memcpy(q.C + off, q.C0 + off, nc * sizeof(float));
                    sail_gemm_w(pool, m, N, K, q.A + (size_t)r0 * q.lda, q.lda, &c.W, bias, (float)q.beta,
                                q.C + off, q.ldc, c.scratch);
                    n++;
                    if (memcmp(q.C + off, q.R + off, nc * sizeof(float))) {
                        if (same) printf("#   %s %dx%dx%d (beta %d, bias %d): rows %d..%d alone differ\n",
                                         W_NAMES[ti], M, N, K, q.beta, q.has_bias, r0, r0 + m - 1);
                        same = 0;
                    }
                }
                wcase_close(&c);
            }
        CHECK(same && n > 0, "sail_gemm_w %s (%s): %d runs of more than 128 rows alone give the bits of "
              "the whole product", W_NAMES[ti], sail_kernel_level(), n);
    }
    sail_pool_free(pool);
}

/* One case of a sweep: 1 when the product checks out (0 also reports it);
 * *counted set where the case was run. */
typedef int (*wcase_fn)(wcase *c, sail_pool *pool, int *counted);

/* fn on W_TYPES[ti] at each shape (M, N, K) and 1-3 threads, W packed
 * where the level packs it; 1 when every case checked out. */
static int wsweep(int ti, const int (*shapes)[3], int n_shapes, wcase_fn fn, int *counted) {
    int same = 1;
    for (int s = 0; s < n_shapes; s++)
        for (int threads = 1; threads <= 3; threads++) {
            wcase c;
            wcase_open(&c, ti, shapes[s][0], shapes[s][1], shapes[s][2], s & 3);
            wcase_pack(&c);
            sail_pool *pool = sail_pool_new(threads);
            if (!fn(&c, pool, counted) && same) {
                printf("#   %s %dx%dx%d on %d threads differs\n", W_NAMES[ti], shapes[s][0], shapes[s][1],
                       shapes[s][2], threads);
                same = 0;
            }
            sail_pool_free(pool);
            wcase_close(&c);
        }
    return same;
}

/* sail_gemm_w then quick_gelu against sail_gemm_w_post; *changed: the
 * activation moved some value. */
static int post_case(wcase *c, sail_pool *pool, int *changed) {
    qcase *q = &c->q;
    int M = q->M, N = q->N, K = q->K;
    size_t nc = (size_t)M * q->ldc;
    sail_post_fn post = sail_kernels()->quick_gelu;
    const float *bias = q->has_bias ? q->bias : NULL;
    memcpy(q->R, q->C0, nc * sizeof(float));
    sail_gemm_w(pool, M, N, K, q->A, q->lda, &c->W, bias, (float)q->beta, q->R, q->ldc, c->scratch);
    for (int i = 0; i < M; i++) {
        float *row = q->R + (size_t)i * q->ldc;
        for (int n = 0; n < N && !*changed; n++) *changed = row[n] > 0.0f && row[n] < 8.0f;
        post(row, (size_t)N);
    }
    memcpy(q->C, q->C0, nc * sizeof(float));
    sail_gemm_w_post(pool, M, N, K, q->A, q->lda, &c->W, post, bias, (float)q->beta, q->C, q->ldc, c->scratch);
    return !memcmp(q->C, q->R, nc * sizeof(float));
}

/* sail_gemm_w_post equals sail_gemm_w followed by post on C's M x N (the
 * padding past N untouched), bit for bit, for every stored type, on 1-3
 * threads: at the amx level q8_0 above 48 rows applies post inside the
 * nest, strip by strip (1100 x 40 x 2080 in two chunks of rows), the
 * others after each task's block. */
static void test_post(void) {
    static const int shapes[][3] = {{3, 100, 64},    {64, 768, 768},  {129, 130, 160},
                                    {200, 300, 256}, {400, 768, 768}, {1100, 40, 2080}};
    for (int ti = 0; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        int changed = 0, same = wsweep(ti, shapes, (int)(sizeof shapes / sizeof shapes[0]), post_case, &changed);
        CHECK(same && changed, "sail_gemm_w_post %s (%s): sail_gemm_w then quick_gelu on M x N, the same bits, "
              "1-3 threads, up to 1100 rows", W_NAMES[ti], sail_kernel_level());
    }
}

/* round_bf16 at level t equals the reference's bits (vcvtneps2bf16's
 * rounding: nearest even, subnormals to a zero of their sign, NaN quiet)
 * at awkward lengths, over ties, subnormals, infinities and NaNs; rounding
 * by truncation instead would be caught. */
static void test_round(const sail_kernel_table *t) {
    enum { N = 1023 + 17 };
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00800000u,
                                       0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0x7f800000u,
                                       0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffbfffffu, 0x47ffffffu};
    float x[N];
    uint16_t got[N + 1], want[N + 1], trunc[N];
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)next_u64();
        if (i % 5 == 0) u = special[(i / 5) % (sizeof special / sizeof special[0])];
        else if (i % 5 == 1) u = (u & 0xffff0000u) | 0x8000u; /* a tie */
        memcpy(&x[i], &u, 4);
        trunc[i] = (uint16_t)(u >> 16);
    }
    int same = 1, caught = 0;
    static const int lens[] = {1, 7, 15, 16, 17, 31, 33, 100, 1023, N};
    for (int l = 0; l < (int)(sizeof lens / sizeof lens[0]); l++) {
        int n = lens[l];
        got[n] = want[n] = 0xabcd;
        t->round_bf16(got, x, (size_t)n);
        g_ref->round_bf16(want, x, (size_t)n);
        same &= !memcmp(got, want, (size_t)(n + 1) * sizeof(uint16_t));
        caught |= memcmp(trunc, want, (size_t)n * sizeof(uint16_t)) != 0;
    }
    CHECK(same && caught, "round_bf16 %s: the reference's bits at lengths 1-1040 (ties, subnormals, "
          "inf, NaN), nothing written past n; truncation would differ", t->name);
}

/* layernorm_bf16 at level t (where it has one) equals its own layernorm
 * then round_bf16, bit for bit, at awkward widths, 7 rows (a group of
 * SAIL_LN_ROWS and 3 alone, two with large offsets), with and without
 * each affine term, nothing written past the rows; rounding by truncation
 * would differ. */
static void test_layernorm_bf16(const sail_kernel_table *t) {
    if (t->gemm_wide_bf16)
        CHECK(t->layernorm_bf16 != NULL, "%s: layernorm_bf16 beside gemm_wide_bf16 (the model's LayerNorm "
              "writes the bf16 rows those products read through it)", t->name);
    if (!t->layernorm_bf16) return;
    static const int widths[] = {1, 7, 16, 17, 31, 32, 33, 100, 384, 1023};
    enum { ROWS = 7, MAXW = 1023 };
    float *x = malloc(sizeof(float) * ROWS * MAXW), *y = malloc(sizeof(float) * ROWS * MAXW);
    float w[MAXW], b[MAXW];
    uint16_t *got = malloc(sizeof(uint16_t) * (ROWS * MAXW + 1)), *want = malloc(sizeof(uint16_t) * ROWS * MAXW);
    int same = 1, caught = 0;
    for (int wi = 0; wi < (int)(sizeof widths / sizeof widths[0]); wi++) {
        int n = widths[wi];
        for (int i = 0; i < ROWS * n; i++) x[i] = 2.0f * frand() + (i / n == 2 ? 100.0f : i / n == 5 ? -100.0f : 0.0f);
        for (int i = 0; i < n; i++) w[i] = frand(), b[i] = frand();
        for (int affine = 0; affine < 4; affine++) {
            const float *wp = affine & 1 ? w : NULL, *bp = affine & 2 ? b : NULL;
            got[ROWS * n] = 0xabcd;
            t->layernorm_bf16(got, x, wp, bp, ROWS, n, 1e-5f);
            t->layernorm(y, x, wp, bp, ROWS, n, 1e-5f);
            t->round_bf16(want, y, (size_t)ROWS * n);
            same &= !memcmp(got, want, sizeof(uint16_t) * ROWS * n) && got[ROWS * n] == 0xabcd;
            for (int i = 0; i < ROWS * n; i++) {
                uint32_t u;
                memcpy(&u, &y[i], 4);
                caught |= (uint16_t)(u >> 16) != got[i];
            }
        }
    }
    CHECK(same && caught, "layernorm_bf16 %s: its layernorm then round_bf16, the same bits (widths 1-1023, "
          "7 rows, each affine term or none), nothing written past the rows; truncation would differ", t->name);
    free(x); free(y); free(got); free(want);
}

/* rows x K floats rounded into bf16 rows K apart, rows up to a multiple of
 * 32 set to NaN (their products must never reach C). */
static uint16_t *bf16_rows(const float *A, int lda, int rows, int K) {
    size_t r32 = ((size_t)rows + 31) & ~(size_t)31;
    uint16_t *b = malloc(r32 * K * sizeof(uint16_t) + 2);
    for (int i = 0; i < rows; i++) sail_kernels()->round_bf16(b + (size_t)i * K, A + (size_t)i * lda, (size_t)K);
    for (size_t i = (size_t)rows * K; i < r32 * K; i++) b[i] = 0x7fc0;
    return b;
}

/* Cases where the level took bf16 activations (cases[0]) and also gave a
 * bf16 result (cases[1]). */
static int g_io_cases[2];

/* sail_gemm_w_bf16 against sail_gemm_w_post on the floats, and with a bf16
 * result against the rounding of the float one (beta 0; nothing written
 * past N); a case the level does not take passes uncounted. */
static int bf16_io_case(wcase *c, sail_pool *pool, int *unused) {
    qcase *q = &c->q;
    int M = q->M, N = q->N, K = q->K;
    if (!sail_gemm_w_bf16_ok(&c->W, M, N, K, 0)) return 1;
    g_io_cases[0]++;
    size_t nc = (size_t)M * q->ldc;
    sail_post_fn post = sail_kernels()->quick_gelu;
    const float *bias = q->has_bias ? q->bias : NULL;
    uint16_t *Ab = bf16_rows(q->A, q->lda, M, K);
    sail_gemm_w_post(pool, M, N, K, q->A, q->lda, &c->W, post, bias, (float)q->beta, q->R, q->ldc, c->scratch);
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .A = Ab, .lda = (size_t)K, .post = post,
                        .bias = bias, .beta = (float)q->beta, .C = q->C, .ldc = q->ldc};
    sail_gemm_w_bf16(pool, &c->W, &g);
    int ok = !memcmp(q->C, q->R, nc * sizeof(float));
    if (sail_gemm_w_bf16_ok(&c->W, M, N, K, 1)) {
        g_io_cases[1]++;
        size_t ldcb = (size_t)N + 8;
        uint16_t *want = malloc((size_t)M * ldcb * 2), *got = malloc((size_t)M * ldcb * 2);
        memset(want, 0x5a, (size_t)M * ldcb * 2);
        memset(got, 0x5a, (size_t)M * ldcb * 2);
        sail_gemm_w_post(pool, M, N, K, q->A, q->lda, &c->W, post, bias, 0.0f, q->R, q->ldc, c->scratch);
        for (int i = 0; i < M; i++)
            g_ref->round_bf16(want + (size_t)i * ldcb, q->R + (size_t)i * q->ldc, (size_t)N);
        g.beta = 0.0f, g.C = NULL, g.Cb = got, g.ldcb = ldcb;
        sail_gemm_w_bf16(pool, &c->W, &g);
        ok &= !memcmp(got, want, (size_t)M * ldcb * 2);
        free(want);
        free(got);
    }
    free(Ab);
    return ok;
}

/* Past what sail_gemm_w_bf16_ok allows (K 800: two slices; N 50), the
 * table's gemm_wide_bf16 still gives the reference's product, activated
 * and rounded, into exactly N values a row. */
static int bf16_out_beyond(void) {
    int M = 70, N = 50, K = 800;
    size_t ldcb = (size_t)N + 8, bytes = (size_t)M * ldcb * 2;
    wcase c;
    wcase_open(&c, 3, M, N, K, 0);
    qcase *q = &c.q;
    sail_post_fn post = sail_kernels()->quick_gelu;
    uint16_t *Ab = bf16_rows(q->A, q->lda, M, K), *got = malloc(bytes), *want = malloc(bytes);
    memset(got, 0x5a, bytes);
    memset(want, 0x5a, bytes);
    sail_gemm_q8_0_bf16a_ref(M, N, K, q->A, q->lda, c.W.data, c.W.stride, q->bias, 0.0f, q->R, q->ldc);
    for (int i = 0; i < M; i++) {
        post(q->R + (size_t)i * q->ldc, (size_t)N);
        g_ref->round_bf16(want + (size_t)i * ldcb, q->R + (size_t)i * q->ldc, (size_t)N);
    }
    sail_bf16_gemm g = {.M = M, .N = N, .K = K, .A = Ab, .lda = (size_t)K, .W = c.W.data, .ldw = c.W.stride,
                        .q8 = 1, .post = post, .bias = q->bias, .Cb = got, .ldcb = ldcb};
    sail_kernels()->gemm_wide_bf16(&g);
    int ok = !memcmp(got, want, bytes);
    free(Ab); free(got); free(want);
    wcase_close(&c);
    return ok;
}

/* sail_gemm_w_q8a on A quantised by the table's quantize_q8a against
 * sail_gemm_w_post on A's floats, with a post; *counted: the cases the
 * level takes (sail_gemm_w_q8a_ok). */
static int q8a_case(wcase *c, sail_pool *pool, int *counted) {
    qcase *q = &c->q;
    int M = q->M, N = q->N, K = q->K;
    if (!sail_gemm_w_q8a_ok(&c->W, M, K)) return 1;
    ++*counted;
    size_t nc = (size_t)M * q->ldc, nb = (size_t)K / 32;
    sail_post_fn post = sail_kernels()->quick_gelu;
    const float *bias = q->has_bias ? q->bias : NULL;
    sail_q8a *Aq = malloc((size_t)M * nb * sizeof *Aq);
    for (int i = 0; i < M; i++) sail_kernels()->quantize_q8a(Aq + (size_t)i * nb, q->A + (size_t)i * q->lda, K);
    memcpy(q->R, q->C0, nc * sizeof(float));
    sail_gemm_w_post(pool, M, N, K, q->A, q->lda, &c->W, post, bias, (float)q->beta, q->R, q->ldc, c->scratch);
    memcpy(q->C, q->C0, nc * sizeof(float));
    sail_gemm_w_q8a(pool, M, N, K, Aq, &c->W, post, bias, (float)q->beta, q->C, q->ldc);
    int ok = !memcmp(q->C, q->R, nc * sizeof(float));
    if (sail_gemm_w_q8a_out_ok(&c->W, M, N, K)) { /* and handed on: the floats' blocks, or bf16 rows */
        counted[1]++;
        size_t nbo = (size_t)N / 32, ldb = (size_t)N + 8;
        sail_q8a *want = malloc((size_t)M * nbo * sizeof *want), *got = malloc((size_t)M * nbo * sizeof *got);
        uint16_t *wantb = malloc((size_t)M * ldb * 2), *gotb = malloc((size_t)M * ldb * 2);
        memset(got, 0x5a, (size_t)M * nbo * sizeof *got);
        memset(gotb, 0x5a, (size_t)M * ldb * 2);
        memset(wantb, 0x5a, (size_t)M * ldb * 2); /* past N: untouched */
        sail_gemm_w_q8a(pool, M, N, K, Aq, &c->W, post, bias, 0.0f, q->R, q->ldc);
        for (int i = 0; i < M; i++) {
            sail_kernels()->quantize_q8a(want + (size_t)i * nbo, q->R + (size_t)i * q->ldc, N);
            g_ref->round_bf16(wantb + (size_t)i * ldb, q->R + (size_t)i * q->ldc, (size_t)N);
        }
        sail_gemm_w_q8a_out(pool, M, N, K, Aq, &c->W, post, bias, got, NULL, 0);
        sail_gemm_w_q8a_out(pool, M, N, K, Aq, &c->W, post, bias, NULL, gotb, ldb);
        ok &= !memcmp(got, want, (size_t)M * nbo * sizeof *got) && !memcmp(gotb, wantb, (size_t)M * ldb * 2);
        free(want); free(got); free(wantb); free(gotb);
    }
    free(Aq);
    return ok;
}

/* q8_0 products from activations handed over quantised (a LayerNorm's,
 * at inference) give the bits of the same product on the floats, on 1-3
 * threads, as stored and packed, few rows and many (the amx level's bf16
 * nest past 48 rows takes floats: those shapes are not offered). */
static void test_q8a_io(void) {
    static const int shapes[][3] = {{1, 96, 64},     {4, 768, 768},    {16, 2304, 768}, {65, 130, 160},
                                    {200, 320, 256}, {394, 1536, 384}, {1100, 64, 2080}, {97, 1056, 512}};
    for (int ti = 3; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        int counted[2] = {0, 0}, same = wsweep(ti, shapes, (int)(sizeof shapes / sizeof shapes[0]), q8a_case, counted);
        int out = sail_kernels()->gemm_q8_0_q8a != NULL;
        CHECK(same && counted[0] >= 9 && (!out || counted[1] >= 9),
              "sail_gemm_w_q8a %s (%s): activations quantised first give the bits of sail_gemm_w_post on their "
              "floats (%d cases), and %s (%d), 1-3 threads", W_NAMES[ti], sail_kernel_level(), counted[0],
              out ? "a quantised or bf16 result (sail_gemm_w_q8a_out) the blocks or the rounding of the float one"
                  : "no quantised result "
              "at this level", counted[1]);
    }
}

/* sail_gemm_w_bf16 (activations handed over in bf16) gives the bits of
 * sail_gemm_w_post on their floats, and with Cb the rounding of that
 * result, on 1-3 threads, for bf16 and q8_0 weights (as stored and packed)
 * at the models' shapes and odd ones, where sail_gemm_w_bf16_ok says the
 * level takes them; rows of A past M are NaN and must not matter. */
static void test_bf16_io(void) {
    if (!sail_kernels()->gemm_wide_bf16) {
        SKIP("sail_gemm_w_bf16: level %s takes no bf16 activations (needs avx512_bf16)", sail_kernel_level());
        return;
    }
    /* {77, 32, 96}: one block a strip, so each kernel call hands back the
     * block whose buffer it then stores into (sail_bf16_out) */
    static const int shapes[][3] = {{65, 96, 64},    {129, 130, 160}, {200, 300, 256}, {394, 1536, 384},
                                    {400, 768, 768}, {300, 2048, 512}, {1100, 64, 2080}, {77, 32, 96}};
    for (int ti = 2; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        if (ti >= 3 && !sail_kernels()->gemm_q8_0_wide) { /* sail_gemm_w_bf16_ok refuses them all */
            SKIP("sail_gemm_w_bf16 %s: level %s has no bf16 nest for q8_0 (needs amx)", W_NAMES[ti],
                 sail_kernel_level());
            continue;
        }
        g_io_cases[0] = g_io_cases[1] = 0;
        int same = wsweep(ti, shapes, (int)(sizeof shapes / sizeof shapes[0]), bf16_io_case, NULL);
        CHECK(same && g_io_cases[0] >= 12 && g_io_cases[1] >= 9,
              "sail_gemm_w_bf16 %s (%s): bf16 activations give the bits of their floats (%d cases), and a "
              "bf16 result the rounding of the float one (%d), 1-3 threads, pad rows NaN", W_NAMES[ti],
              sail_kernel_level(), g_io_cases[0], g_io_cases[1]);
    }
    CHECK(bf16_out_beyond(), "gemm_wide_bf16 (%s) past one slice of k and at N 50: the reference's product, "
          "activated and rounded, nothing written past N", sail_kernel_level());
}

int main(void) {
    g_ref = sail_kernels_for(SAIL_ISA_REF);
    test_quantize(g_ref);
    test_refs();
    test_sensitivity(g_ref);
    static const char *const need[] = {"", "avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx_int8"};
    for (int isa = SAIL_ISA_AVX2; isa <= SAIL_ISA_MAX; isa++) {
        const sail_kernel_table *t = sail_kernels_for((sail_isa)isa);
        if (!t) {
            SKIP("no %s: this CPU or build lacks it (or SAIL_ISA caps it); its kernels not run",
                 need[isa]);
            continue;
        }
        test_quantize(t);
        test_simd(t);
        test_broken(t);
        test_extremes(t);
        test_round(t);
        test_layernorm_bf16(t);
    }
    for (int n = 1; n <= 3; n++) {
        sail_pool *pool = sail_pool_new(n);
        test_pool(pool, n);
        sail_pool_free(pool);
    }
    test_thread_invariance();
    test_row_invariance();
    test_post();
    test_bf16_io();
    test_q8a_io();
    test_amx_bits();
    sail_kernels_release();
    return test_done();
}
