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
#include "gemm_quant_case.h"
#include "kernels/numfmt.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers -- */

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
    test_amx_bits();
    sail_kernels_release();
    return test_done();
}
