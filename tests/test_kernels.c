/* test_kernels.c: every SIMD kernel against the plain C reference, and the
 * references against double precision, at awkward sizes (1, 2, 3, 5, 7, 15,
 * 16, 17, ... 1023) with unaligned pointers (offset by one float) and padded
 * leading dimensions. Also the threaded sail_gemm and sail_attention on pools
 * of 1, 2 and 3 threads. One CHECK per kernel x level; a failure prints the
 * first mismatches and the largest error.
 *
 * Tolerances (inputs uniform in [-1, 1] unless noted):
 *   gemm, dot     |err| <= 1e-6 * (K + 1)   (float sums of K terms in any
 *                 order; one dropped term would cost ~0.25)
 *   layernorm     |err| <= 1e-5 * (1 + |y|)  (PyTorch parity is 1e-5 rel)
 *   gelu          |err| <= 1e-6 * max(1, |x|) (erf approximation <= 1e-6 abs)
 *   quick_gelu    |err| <= 1e-6 + 2e-6 * |y|  (exp ~2 ulp, one division)
 *   tanh          |err| <= 1e-6
 *   *_grad        |err| <= 2e-6 * max(1, |u|) for dx = dy * f'(u), dy in
 *                 [-1, 1] (the same erf / exp / tanh, a few more roundings)
 *   softmax       |err| <= 1e-6 (probabilities), exact zeros where -inf
 *   attention     |err| <= 1e-5 against a double-precision evaluation
 *   add           exact */
#include "test.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static const int SIZES[] = {1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 1023};
#define N_SIZES (int)(sizeof SIZES / sizeof SIZES[0])

/* ---------------------------------------------------------------- helpers -- */

static unsigned long long g_rng = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = frand() * scale;
}

/* A buffer of n floats starting one float past a 64-byte boundary, so no
 * kernel can rely on alignment. */
typedef struct buf { float *base, *p; } buf;
static buf buf_new(size_t n) {
    buf b;
    b.base = aligned_alloc(64, ((n + 1) * sizeof(float) + 63) / 64 * 64);
    b.p = b.base + 1;
    return b;
}

/* Collects the worst error of one CHECK over many sizes and prints the first
 * few mismatches with their context. */
typedef struct cmp { double max_err; int n_bad, quiet; } cmp; /* quiet: expected mismatches */
static void cmp_one(cmp *c, const char *ctx, size_t i, double got, double want, double tol) {
    double e = fabs(got - want);
    if (isnan(got) != isnan(want)) e = INFINITY;
    else if (isnan(got)) e = 0;
    else if (isinf(got) || isinf(want)) e = got == want ? 0 : INFINITY;
    if (e > c->max_err) c->max_err = e;
    if (e > tol) {
        if (c->n_bad < 5 && (!c->quiet || getenv("SAIL_TEST_VERBOSE")))
            printf("#   %s [%zu]: got %.9g want %.9g (err %.3g > tol %.3g)\n", ctx, i, got,
                   want, e, tol);
        c->n_bad++;
    }
}
static int cmp_done(const cmp *c) {
    if (c->n_bad && !c->quiet) printf("#   %d mismatches, max error %.3g\n", c->n_bad, c->max_err);
    return c->n_bad == 0;
}

static const sail_kernel_table *g_ref;

/* ------------------------------------------------------------------- GEMM -- */

typedef struct gemm_case {
    int M, N, K, lda, ldb, ldc, bt, beta;
    int has_bias;
} gemm_case;

static gemm_case gemm_make(int M, int N, int K, int variant) {
    gemm_case g = {M, N, K, K + 3, 0, N + 7, variant & 1, (variant >> 1) & 1, (variant >> 2) & 1};
    g.ldb = (g.bt ? K : N) + 5;
    return g;
}

typedef struct gemm_data { buf A, B, bias, C0, C, R; } gemm_data;

static void gemm_data_init(gemm_data *d, const gemm_case *g) {
    size_t na = (size_t)g->M * g->lda, nb = (size_t)(g->bt ? g->N : g->K) * g->ldb;
    size_t nc = (size_t)g->M * g->ldc;
    d->A = buf_new(na); d->B = buf_new(nb); d->bias = buf_new(g->N);
    d->C0 = buf_new(nc); d->C = buf_new(nc); d->R = buf_new(nc);
    fill(d->A.p, na, 1); fill(d->B.p, nb, 1); fill(d->bias.p, g->N, 1); fill(d->C0.p, nc, 1);
}
static void gemm_data_free(gemm_data *d) {
    free(d->A.base); free(d->B.base); free(d->bias.base);
    free(d->C0.base); free(d->C.base); free(d->R.base);
}

typedef void (*gemm_fn)(void *ctx, const gemm_case *g, const gemm_data *d, float *C);

static void run_table_gemm(void *ctx, const gemm_case *g, const gemm_data *d, float *C) {
    const sail_kernel_table *t = ctx;
    t->gemm(g->M, g->N, g->K, d->A.p, g->lda, d->B.p, g->ldb, g->bt,
            g->has_bias ? d->bias.p : NULL, (float)g->beta, C, g->ldc);
}
static void run_pool_gemm(void *ctx, const gemm_case *g, const gemm_data *d, float *C) {
    sail_gemm(ctx, g->M, g->N, g->K, d->A.p, g->lda, d->B.p, g->ldb, g->bt,
              g->has_bias ? d->bias.p : NULL, (float)g->beta, C, g->ldc);
}

/* Runs fn and the reference (or double) on one case and compares the M x N
 * block; the padding columns of C must be left untouched. */
static void gemm_compare(cmp *c, const gemm_case *g, gemm_fn fn, void *ctx, int vs_double) {
    gemm_data d;
    gemm_data_init(&d, g);
    size_t nc = (size_t)g->M * g->ldc;
    memcpy(d.C.p, d.C0.p, nc * sizeof(float));
    memcpy(d.R.p, d.C0.p, nc * sizeof(float));
    fn(ctx, g, &d, d.C.p);
    if (!vs_double) run_table_gemm((void *)g_ref, g, &d, d.R.p);
    char ctxs[96];
    snprintf(ctxs, sizeof ctxs, "M=%d N=%d K=%d bt=%d beta=%d bias=%d", g->M, g->N, g->K,
             g->bt, g->beta, g->has_bias);
    double tol = 1e-6 * (g->K + 1);
    for (int m = 0; m < g->M; m++) {
        for (int n = 0; n < g->ldc; n++) {
            size_t i = (size_t)m * g->ldc + n;
            double want = d.R.p[i];
            if (n >= g->N) want = d.C0.p[i];
            else if (vs_double) {
                want = (g->beta ? d.C0.p[i] : 0.0) + (g->has_bias ? d.bias.p[n] : 0.0);
                for (int k = 0; k < g->K; k++) {
                    double b = g->bt ? d.B.p[(size_t)n * g->ldb + k] : d.B.p[(size_t)k * g->ldb + n];
                    want += (double)d.A.p[(size_t)m * g->lda + k] * b;
                }
            }
            cmp_one(c, ctxs, i, d.C.p[i], want, n >= g->N ? 0 : tol);
        }
    }
    gemm_data_free(&d);
}

/* Every size in each dimension with the other two from a short list; the
 * eight (b_trans, beta, bias) variants rotate over the cases. */
static void gemm_sweep(cmp *c, gemm_fn fn, void *ctx, int vs_double) {
    static const int other[] = {1, 17, 64, 127};
    int v = 0;
    for (int dim = 0; dim < 3; dim++)
        for (int s = 0; s < N_SIZES; s++)
            for (int x = 0; x < 4; x++)
                for (int y = 0; y < 4; y++) {
                    int d3[3] = {other[x], other[y], other[(x + y) % 4]};
                    d3[dim] = SIZES[s];
                    if (vs_double && (long)d3[0] * d3[1] * d3[2] > 200000) continue;
                    gemm_case g = gemm_make(d3[0], d3[1], d3[2], v++ & 7);
                    gemm_compare(c, &g, fn, ctx, vs_double);
                }
}

/* A kernel that drops the last k term: the sweep must notice it. */
static void broken_gemm(void *ctx, const gemm_case *g, const gemm_data *d, float *C) {
    const sail_kernel_table *t = ctx;
    if (g->K == 1) { C[0] += 1.0f; return; }
    t->gemm(g->M, g->N, g->K - 1, d->A.p, g->lda, d->B.p, g->ldb, g->bt,
            g->has_bias ? d->bias.p : NULL, (float)g->beta, C, g->ldc);
}

static void test_gemm(const sail_kernel_table *t) {
    cmp c = {0};
    gemm_sweep(&c, run_table_gemm, (void *)t, 0);
    CHECK(cmp_done(&c), "gemm %s vs ref: all sizes, both b_trans, bias, beta (max err %.2g)",
          t->name, c.max_err);
}

/* Shapes aimed at the blocking of the SIMD GEMMs (AVX2: 6x16 tiles, KC 256,
 * MC 144, NC 2048; a dot-product path for <= 64 rows with B transposed;
 * AVX-512: 14x32 tiles, KC 384, NC 512, and a direct path, 4 x 4 tiles,
 * for B transposed at <= 32 rows, <= 64 when K >= 512),
 * each in all eight (b_trans, beta, bias) variants: K = 0 (C := beta C +
 * bias), M = 0, N = 0; deep K cut into
 * odd slices on both paths; M just past one A block; N past one B block;
 * narrow edge panels (<= 8 and > 8 columns); row and column remainders of
 * the dot tiles; a single full tile. */
static void test_gemm_edges(const sail_kernel_table *t) {
    static const int shapes[][3] = {
        {5, 9, 0},     {0, 9, 5},      {5, 0, 7},     {0, 0, 0},     {6, 16, 1},     {1, 1, 3000},  {32, 9, 100},   {33, 24, 700},
        {64, 45, 1100}, {65, 200, 513}, {145, 25, 257}, {150, 37, 600}, {70, 2100, 24},
        {7, 2100, 40}, {300, 3, 5},
    };
    cmp c = {0};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (int v = 0; v < 8; v++) {
            gemm_case g = gemm_make(shapes[s][0], shapes[s][1], shapes[s][2], v);
            gemm_compare(&c, &g, run_table_gemm, (void *)t, 0);
        }
    CHECK(cmp_done(&c), "gemm %s vs ref: blocking edges, dot path, K = 0, M = 0, N = 0 (max err %.2g)",
          t->name, c.max_err);
}

static void test_gemm_pool(sail_pool *pool, int n) {
    static const int shapes[][3] = {{1, 1, 1},    {16, 2304, 768}, {16, 768, 3072},
                                    {197, 1152, 384}, {394, 384, 1536}, {3, 1000, 65},
                                    {1023, 33, 17}, {65, 65, 65},  {2, 5, 7},
                                    {5, 9, 0},      {300, 700, 0}, {0, 9, 5}};
    cmp c = {0};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        gemm_case g = gemm_make(shapes[s][0], shapes[s][1], shapes[s][2], s & 7);
        gemm_compare(&c, &g, run_pool_gemm, pool, 0);
        g = gemm_make(shapes[s][0], shapes[s][1], shapes[s][2], (s + 5) & 7);
        gemm_compare(&c, &g, run_pool_gemm, pool, 0);
    }
    CHECK(cmp_done(&c), "sail_gemm on %d threads (%s) vs ref (max err %.2g)", n,
          sail_kernel_level(), c.max_err);
}

/* ---------------------------------------------------------- element-wise -- */

/* Inputs for the activations: random values over [-scale, scale] plus the
 * awkward points every approximation must survive. */
static void fill_act(float *x, size_t n, float scale) {
    static const float special[] = {0.0f, -0.0f, 1e-8f, -1e-8f, 0.5f, -0.625f, 0.625f,
                                    3.99f, -4.01f, 9.5f, -9.5f, 20.0f, -20.0f, 88.0f, -88.0f};
    fill(x, n, scale);
    for (size_t i = 0; i < n && i < sizeof special / sizeof special[0]; i++)
        x[(i * 7) % n] = special[i];
}

typedef void (*act_fn)(float *x, size_t n);
typedef double (*act_tol)(double x, double y);
static double tol_gelu(double x, double y) { (void)y; return 1e-6 * fmax(1.0, fabs(x)); }
static double tol_qgelu(double x, double y) { (void)x; return 1e-6 + 2e-6 * fabs(y); }
static double tol_tanh(double x, double y) { (void)x; (void)y; return 1e-6; }

static double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double qgelu_d(double x) { return x / (1.0 + exp(-1.702 * x)); }
static double gelu_tanh_d(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* got = fn(x) at every size; want from the reference table, or from the
 * double-precision formula when exact != NULL. */
static int check_act(act_fn fn, act_fn ref, double (*exact)(double), act_tol tol,
                     const char *name, double *max_err) {
    cmp c = {0};
    for (int s = 0; s < N_SIZES; s++) {
        int n = SIZES[s];
        buf x = buf_new(n), y = buf_new(n), r = buf_new(n);
        fill_act(x.p, n, 8.0f);
        memcpy(y.p, x.p, n * sizeof(float));
        memcpy(r.p, x.p, n * sizeof(float));
        fn(y.p, n);
        if (!exact) ref(r.p, n);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "%s n=%d x=", name, n);
        for (int i = 0; i < n; i++) {
            double want = exact ? exact(x.p[i]) : r.p[i];
            char cx[96];
            snprintf(cx, sizeof cx, "%s%.7g", ctx, x.p[i]);
            cmp_one(&c, cx, i, y.p[i], want, tol(x.p[i], want));
        }
        free(x.base); free(y.base); free(r.base);
    }
    *max_err = c.max_err;
    return cmp_done(&c);
}

typedef void (*grad_fn)(float *dx, const float *dy, const float *u, size_t n);
static double tol_grad(double u) { return 2e-6 * fmax(1.0, fabs(u)); }

static double gelu_g(double u) { return 0.5 * (1.0 + erf(u / sqrt(2.0))) + u * exp(-0.5 * u * u) / sqrt(2.0 * M_PI); }
static double qgelu_g(double u) {
    double s = 1.0 / (1.0 + exp(-1.702 * u));
    return s + 1.702 * u * s * (1.0 - s);
}
static double gelu_tanh_g(double u) {
    double k = sqrt(2.0 / M_PI), a = 0.044715, t = tanh(k * (u + a * u * u * u));
    return 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * k * (1.0 + 3.0 * a * u * u);
}

/* dx = fn(dy, u) at every size, in place over dy on odd sizes (as training
 * calls it); want = dy * exact(u), or the reference table's output. */
static int check_grad(grad_fn fn, grad_fn ref, double (*exact)(double), const char *name,
                      double *max_err) {
    cmp c = {0};
    for (int s = 0; s < N_SIZES; s++) {
        int n = SIZES[s];
        buf u = buf_new(n), dy = buf_new(n), dx = buf_new(n), r = buf_new(n);
        fill_act(u.p, n, 8.0f);
        fill(dy.p, n, 1.0f);
        memcpy(dx.p, dy.p, n * sizeof(float));
        fn(dx.p, n & 1 ? dx.p : dy.p, u.p, n);
        if (!exact) ref(r.p, dy.p, u.p, n);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "%s n=%d u=", name, n);
        for (int i = 0; i < n; i++) {
            double want = exact ? dy.p[i] * exact(u.p[i]) : r.p[i];
            char cx[96];
            snprintf(cx, sizeof cx, "%s%.7g", ctx, u.p[i]);
            cmp_one(&c, cx, i, dx.p[i], want, tol_grad(u.p[i]));
        }
        free(u.base); free(dy.base); free(dx.base); free(r.base);
    }
    *max_err = c.max_err;
    return cmp_done(&c);
}

static void test_grads(const sail_kernel_table *t, int vs_double) {
    static const struct { const char *name; size_t off; double (*exact)(double); } G[] = {
        {"gelu_grad", offsetof(sail_kernel_table, gelu_grad), gelu_g},
        {"quick_gelu_grad", offsetof(sail_kernel_table, quick_gelu_grad), qgelu_g},
        {"gelu_tanh_grad", offsetof(sail_kernel_table, gelu_tanh_grad), gelu_tanh_g},
    };
    for (int i = 0; i < 3; i++) {
        grad_fn fn, ref;
        memcpy(&fn, (const char *)t + G[i].off, sizeof fn);
        memcpy(&ref, (const char *)g_ref + G[i].off, sizeof ref);
        double e;
        if (vs_double)
            CHECK(check_grad(fn, NULL, G[i].exact, G[i].name, &e), "%s ref vs double (max err %.2g)",
                  G[i].name, e);
        else
            CHECK(check_grad(fn, ref, NULL, G[i].name, &e), "%s %s vs ref (max err %.2g)", G[i].name,
                  t->name, e);
    }
}

static void test_activations(const sail_kernel_table *t, int vs_double) {
    double e;
    if (vs_double) {
        CHECK(check_act(t->gelu, NULL, gelu_d, tol_gelu, "gelu", &e),
              "gelu ref vs double erf (max err %.2g)", e);
        CHECK(check_act(t->quick_gelu, NULL, qgelu_d, tol_qgelu, "quick_gelu", &e),
              "quick_gelu ref vs double (max err %.2g)", e);
        CHECK(check_act(t->tanh, NULL, tanh, tol_tanh, "tanh", &e),
              "tanh ref vs double (max err %.2g)", e);
        CHECK(check_act(t->gelu_tanh, NULL, gelu_tanh_d, tol_gelu, "gelu_tanh", &e),
              "gelu_tanh ref vs double (max err %.2g)", e);
        return;
    }
    CHECK(check_act(t->gelu, g_ref->gelu, NULL, tol_gelu, "gelu", &e),
          "gelu %s vs ref (max err %.2g)", t->name, e);
    CHECK(check_act(t->quick_gelu, g_ref->quick_gelu, NULL, tol_qgelu, "quick_gelu", &e),
          "quick_gelu %s vs ref (max err %.2g)", t->name, e);
    CHECK(check_act(t->tanh, g_ref->tanh, NULL, tol_tanh, "tanh", &e),
          "tanh %s vs ref (max err %.2g)", t->name, e);
    CHECK(check_act(t->gelu_tanh, g_ref->gelu_tanh, NULL, tol_gelu, "gelu_tanh", &e),
          "gelu_tanh %s vs ref (max err %.2g)", t->name, e);
}

/* Dense sweep of GELU over [-6, 6] (the erf approximation's whole range). */
static void test_gelu_dense(const sail_kernel_table *t) {
    enum { N = 1 << 16 };
    static float x[N];
    cmp c = {0};
    for (int i = 0; i < N; i++) x[i] = -6.0f + 12.0f * i / N;
    t->gelu(x, N);
    for (int i = 0; i < N; i++) {
        double xi = -6.0f + 12.0f * i / N;
        cmp_one(&c, "gelu dense", i, x[i], gelu_d(xi), tol_gelu(xi, 0));
    }
    CHECK(cmp_done(&c), "gelu %s dense over [-6, 6] vs double erf (max err %.2g)", t->name,
          c.max_err);
}

static void test_add_dot(const sail_kernel_table *t) {
    cmp ca = {0}, cd = {0};
    for (int s = 0; s < N_SIZES; s++) {
        int n = SIZES[s];
        buf a = buf_new(n), b = buf_new(n), y = buf_new(n);
        fill(a.p, n, 1); fill(b.p, n, 1);
        t->add(y.p, a.p, b.p, n);
        for (int i = 0; i < n; i++) cmp_one(&ca, "add", i, y.p[i], a.p[i] + b.p[i], 0);
        double want = 0;
        for (int i = 0; i < n; i++) want += (double)a.p[i] * b.p[i];
        cmp_one(&cd, "dot", n, t->dot(a.p, b.p, n), want, 1e-6 * (n + 1));
        free(a.base); free(b.base); free(y.base);
    }
    CHECK(cmp_done(&ca), "add %s exact", t->name);
    CHECK(cmp_done(&cd), "dot %s vs double (max err %.2g)", t->name, cd.max_err);
}

/* Every (rows, cols) pair of awkward sizes up to 65, with padded leading
 * dimensions and unaligned pointers: dst must equal src transposed exactly,
 * and the padding must stay untouched. */
static void test_transpose(const sail_kernel_table *t) {
    static const int sz[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65};
    enum { NS = sizeof sz / sizeof sz[0] };
    cmp c = {0};
    for (int a = 0; a < NS; a++)
        for (int b = 0; b < NS; b++) {
            int rows = sz[a], cols = sz[b];
            size_t lds = (size_t)cols + 3, ldd = (size_t)rows + 5;
            buf src = buf_new((size_t)rows * lds), dst = buf_new((size_t)cols * ldd);
            fill(src.p, (size_t)rows * lds, 1);
            for (size_t i = 0; i < (size_t)cols * ldd; i++) dst.p[i] = -7.0f;
            t->transpose(src.p, lds, dst.p, ldd, rows, cols);
            for (int cc = 0; cc < cols; cc++)
                for (size_t r = 0; r < ldd; r++) {
                    float want = r < (size_t)rows ? src.p[r * lds + cc] : -7.0f;
                    cmp_one(&c, "transpose", (int)(cc * ldd + r), dst.p[cc * ldd + r], want, 0);
                }
            free(src.base); free(dst.base);
        }
    CHECK(cmp_done(&c), "transpose %s exact at 16 x 16 awkward shapes, padding untouched", t->name);
}

/* The backward against the double-precision reference: rows of awkward
 * widths, one with a large offset, out of place and accumulating (beta 1),
 * dw and db added to what they held. Tolerance as the forward's, 1e-5 of
 * (1 + |value|): float sums of n terms against double. */
static void test_layernorm_grad(const sail_kernel_table *t) {
    cmp c = {0};
    for (int s = 0; s < N_SIZES; s++) {
        int n = SIZES[s], rows = 3;
        size_t rn = (size_t)rows * n;
        buf x = buf_new(rn), dy = buf_new(rn), w = buf_new(n), dx = buf_new(rn), rx = buf_new(rn);
        buf dw = buf_new(2 * (size_t)n), rw = buf_new(2 * (size_t)n);
        fill(x.p, rn, 2); fill(dy.p, rn, 1); fill(w.p, n, 1);
        for (int i = 0; i < n; i++) x.p[2 * n + i] += 100.0f;
        for (int beta = 0; beta < 2; beta++) {
            fill(dx.p, rn, 1); memcpy(rx.p, dx.p, rn * sizeof(float));
            fill(dw.p, 2 * (size_t)n, 1); memcpy(rw.p, dw.p, 2 * (size_t)n * sizeof(float));
            t->layernorm_grad(dx.p, dw.p, dw.p + n, x.p, dy.p, w.p, rows, n, 1e-5f, (float)beta);
            g_ref->layernorm_grad(rx.p, rw.p, rw.p + n, x.p, dy.p, w.p, rows, n, 1e-5f, (float)beta);
            for (size_t i = 0; i < rn; i++) cmp_one(&c, "layernorm_grad dx", (int)i, dx.p[i], rx.p[i], 1e-5 * (1 + fabs(rx.p[i])));
            for (int i = 0; i < 2 * n; i++) cmp_one(&c, "layernorm_grad dw|db", i, dw.p[i], rw.p[i], 1e-5 * (1 + fabs(rw.p[i])));
        }
        free(x.base); free(dy.base); free(w.base); free(dx.base); free(rx.base); free(dw.base); free(rw.base);
    }
    CHECK(cmp_done(&c), "layernorm_grad %s vs ref (max err %.2g)", t->name, c.max_err);
}

/* Rows with a large offset make a one-pass variance visibly wrong. */
static void test_layernorm(const sail_kernel_table *t) {
    cmp c = {0};
    for (int s = 0; s < N_SIZES; s++) {
        /* 7 rows: a group of SAIL_LN_ROWS (4) done together and 3 alone */
        int n = SIZES[s], rows = 7;
        buf x = buf_new((size_t)rows * n), y = buf_new((size_t)rows * n);
        buf w = buf_new(n), b = buf_new(n);
        fill(x.p, (size_t)rows * n, 2); fill(w.p, n, 1); fill(b.p, n, 1);
        for (int i = 0; i < n; i++) x.p[2 * n + i] += 100.0f, x.p[5 * n + i] -= 100.0f;
        for (int pass = 0; pass < 2; pass++) { /* with and without affine */
            const float *wp = pass ? NULL : w.p, *bp = pass ? NULL : b.p;
            t->layernorm(y.p, x.p, wp, bp, rows, n, 1e-5f);
            for (int r = 0; r < rows; r++) {
                const float *xr = x.p + (size_t)r * n;
                double mean = 0, var = 0;
                for (int i = 0; i < n; i++) mean += xr[i];
                mean /= n;
                for (int i = 0; i < n; i++) var += (xr[i] - mean) * (xr[i] - mean);
                double rstd = 1 / sqrt(var / n + 1e-5);
                for (int i = 0; i < n; i++) {
                    double want = (xr[i] - mean) * rstd * (wp ? wp[i] : 1) + (bp ? bp[i] : 0);
                    cmp_one(&c, "layernorm", (size_t)r * n + i, y.p[(size_t)r * n + i], want,
                            1e-5 * (1 + fabs(want)));
                }
            }
        }
        free(x.base); free(y.base); free(w.base); free(b.base);
    }
    CHECK(cmp_done(&c), "layernorm %s vs double (max err %.2g)", t->name, c.max_err);
}

/* Rows: random, some -inf entries, all -inf (must become zeros). */
static void test_softmax(const sail_kernel_table *t) {
    cmp c = {0};
    for (int s = 0; s < N_SIZES; s++) {
        int n = SIZES[s], rows = 3;
        buf x = buf_new((size_t)rows * n), y = buf_new((size_t)rows * n);
        fill(x.p, (size_t)rows * n, 10);
        for (int i = 0; i < n; i += 3) x.p[n + i] = -INFINITY;
        for (int i = 0; i < n; i++) x.p[2 * n + i] = -INFINITY;
        if (n == 1) x.p[1] = 3.0f;
        memcpy(y.p, x.p, (size_t)rows * n * sizeof(float));
        t->softmax(y.p, rows, n);
        for (int r = 0; r < rows; r++) {
            const float *xr = x.p + (size_t)r * n;
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < n; i++) mx = fmax(mx, xr[i]);
            for (int i = 0; i < n; i++) sum += mx == -INFINITY ? 0 : exp(xr[i] - mx);
            for (int i = 0; i < n; i++) {
                double want = mx == -INFINITY ? 0 : exp(xr[i] - mx) / sum;
                cmp_one(&c, "softmax", (size_t)r * n + i, y.p[(size_t)r * n + i], want,
                        xr[i] == -INFINITY ? 0 : 1e-6);
            }
        }
        free(x.base); free(y.base);
    }
    CHECK(cmp_done(&c), "softmax %s vs double, -inf entries and rows (max err %.2g)",
          t->name, c.max_err);
}

/* -------------------------------------------------------------- attention -- */

typedef struct attn_case {
    sail_attn_args a;
    buf q, k, v, out;
    uint8_t *mask;
} attn_case;

/* Batch 1's mask is all zero (every output row must be zero); batch 0's mask
 * is random, so with causal some early rows see no key either. */
static void attn_case_init(attn_case *c, int B, int Tq, int Tk, int H, int hd, int causal,
                           int masked) {
    int w = H * hd;
    sail_attn_args a = {.B = B, .Tq = Tq, .Tk = Tk, .H = H, .hd = hd, .q_stride = w + 3, .k_stride = w + 5,
                        .v_stride = w + 1, .out_stride = w + 2, .causal = causal,
                        .scale = 1.0f / sqrtf((float)hd)};
    c->q = buf_new((size_t)B * Tq * a.q_stride); c->k = buf_new((size_t)B * Tk * a.k_stride);
    c->v = buf_new((size_t)B * Tk * a.v_stride); c->out = buf_new((size_t)B * Tq * a.out_stride);
    fill(c->q.p, (size_t)B * Tq * a.q_stride, 2); fill(c->k.p, (size_t)B * Tk * a.k_stride, 2);
    fill(c->v.p, (size_t)B * Tk * a.v_stride, 1);
    c->mask = NULL;
    if (masked) {
        c->mask = malloc((size_t)B * Tk);
        for (int i = 0; i < B * Tk; i++) c->mask[i] = i >= Tk ? 0 : frand() > -0.3f;
    }
    a.q = c->q.p; a.k = c->k.p; a.v = c->v.p; a.out = c->out.p; a.key_mask = c->mask;
    c->a = a;
}

static void attn_case_free(attn_case *c) {
    free(c->q.base); free(c->k.base); free(c->v.base); free(c->out.base); free(c->mask);
}

static void attn_compare(cmp *cm, const attn_case *c, const char *ctx) {
    const sail_attn_args *a = &c->a;
    double *p = malloc((size_t)a->Tk * sizeof(double));
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int t = 0; t < a->Tq; t++) {
                const float *q = a->q + ((size_t)b * a->Tq + t) * a->q_stride + h * a->hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < a->Tk; j++) {
                    int ok = (!a->key_mask || a->key_mask[b * a->Tk + j]) && (!a->causal || j <= t);
                    double s = 0;
                    const float *k = a->k + ((size_t)b * a->Tk + j) * a->k_stride + h * a->hd;
                    for (int i = 0; i < a->hd; i++) s += (double)q[i] * k[i];
                    p[j] = ok ? s * a->scale : -INFINITY;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j < a->Tk; j++) sum += p[j] = mx == -INFINITY ? 0 : exp(p[j] - mx);
                const float *o = a->out + ((size_t)b * a->Tq + t) * a->out_stride + h * a->hd;
                for (int i = 0; i < a->hd; i++) {
                    double want = 0;
                    for (int j = 0; j < a->Tk; j++)
                        want += p[j] * a->v[((size_t)b * a->Tk + j) * a->v_stride + h * a->hd + i];
                    cmp_one(cm, ctx, (size_t)t, o[i], sum ? want / sum : 0, 1e-5);
                }
            }
    free(p);
}

static const int ATTN_CASES[][7] = { /* B, Tq, Tk, H, hd, causal, masked */
    {2, 37, 37, 3, 17, 0, 1}, {2, 37, 37, 3, 17, 1, 1}, {1, 5, 33, 2, 64, 0, 0},
    {3, 1, 1, 1, 1, 0, 0},    {2, 16, 16, 2, 64, 1, 0}, {1, 65, 65, 1, 33, 0, 1},
    /* ViT-S's shape (two query blocks); keys deeper than one GEMM K slice;
     * odd head widths with masks and causal across several blocks. */
    {1, 197, 197, 2, 64, 0, 0}, {1, 15, 400, 1, 16, 0, 1}, {2, 127, 127, 1, 7, 1, 1},
    {1, 255, 255, 1, 5, 1, 0},  {1, 31, 63, 2, 3, 0, 1}};
#define N_ATTN (int)(sizeof ATTN_CASES / sizeof ATTN_CASES[0])

static void test_attn_block(const sail_kernel_table *t) {
    cmp cm = {0};
    for (int i = 0; i < N_ATTN; i++) {
        const int *s = ATTN_CASES[i];
        attn_case c;
        attn_case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
        float *scratch = malloc(sail_attention_scratch(1, &c.a) * sizeof(float));
        for (int b = 0; b < s[0]; b++)
            for (int h = 0; h < s[3]; h++)
                for (int t0 = 0; t0 < s[1]; t0 += 7)
                    t->attn_block(&c.a, b, h, t0, t0 + 7 < s[1] ? t0 + 7 : s[1], scratch);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "attn case %d row", i);
        attn_compare(&cm, &c, ctx);
        free(scratch);
        attn_case_free(&c);
    }
    CHECK(cmp_done(&cm), "attn_block %s vs double: masks, causal, empty rows (max err %.2g)",
          t->name, cm.max_err);
}

static void test_attention_pool(sail_pool *pool, int n) {
    cmp cm = {0};
    for (int i = 0; i < N_ATTN; i++) {
        const int *s = ATTN_CASES[i];
        attn_case c;
        attn_case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
        float *scratch = malloc(sail_attention_scratch(n, &c.a) * sizeof(float));
        sail_attention(pool, &c.a, scratch);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "attention case %d row", i);
        attn_compare(&cm, &c, ctx);
        free(scratch);
        attn_case_free(&c);
    }
    CHECK(cmp_done(&cm), "sail_attention on %d threads (%s) vs double (max err %.2g)", n,
          sail_kernel_level(), cm.max_err);
}

/* ------------------------------------------------------------- the rest -- */

static void test_helpers(void) {
    float x[3 * 4] = {1, 2, 3, 4, 10, 20, 30, 40, 5, 6, 7, 8}, out[4];
    uint8_t mask[3] = {1, 0, 1};
    sail_mean_pool(out, x, mask, 3, 4);
    CHECK(out[0] == 3 && out[3] == 6, "mean_pool with mask");
    uint8_t none[3] = {0, 0, 0};
    sail_mean_pool(out, x, none, 3, 4);
    CHECK(out[0] == 0 && out[3] == 0, "mean_pool with nothing selected gives zeros");
    float v[2] = {3, 4}, z[2] = {0, 0};
    sail_l2_normalize(v, 2);
    sail_l2_normalize(z, 2);
    CHECK(fabsf(v[0] - 0.6f) < 1e-7f && fabsf(v[1] - 0.8f) < 1e-7f && z[0] == 0,
          "l2_normalize (and a zero vector stays zero)");
}

int main(void) {
    g_ref = sail_kernels_for(SAIL_ISA_REF);
    CHECK(g_ref && sail_kernels() && sail_kernel_level(), "dispatch: active level %s",
          sail_kernel_level());

    /* The references against double precision. */
    cmp c = {0};
    gemm_sweep(&c, run_table_gemm, (void *)g_ref, 1);
    CHECK(cmp_done(&c), "gemm ref vs double (max err %.2g)", c.max_err);
    test_activations(g_ref, 1);
    test_grads(g_ref, 1);
    test_gelu_dense(g_ref);
    test_layernorm(g_ref);
    test_softmax(g_ref);
    test_add_dot(g_ref);
    test_transpose(g_ref);
    test_attn_block(g_ref);

    /* The harness itself must catch a wrong kernel. */
    cmp broken = {.quiet = 1}; /* SAIL_TEST_VERBOSE=1 prints its mismatches */
    gemm_case g = gemm_make(17, 33, 65, 0);
    gemm_compare(&broken, &g, broken_gemm, (void *)g_ref, 0);
    CHECK(broken.n_bad > 0, "the comparison catches a GEMM that drops one k term (%d expected "
          "mismatches)", broken.n_bad);

    for (int isa = SAIL_ISA_AVX2; isa <= SAIL_ISA_AVX512; isa++) {
        const sail_kernel_table *t = sail_kernels_for((sail_isa)isa);
        if (!t) {
            SKIP("level %d: not available on this CPU/build", isa);
            continue;
        }
        test_gemm(t);
        test_gemm_edges(t);
        test_activations(t, 0);
        test_grads(t, 0);
        test_gelu_dense(t);
        test_layernorm(t);
        test_softmax(t);
        test_add_dot(t);
        test_transpose(t);
        test_layernorm_grad(t);
        test_attn_block(t);
    }

    for (int n = 1; n <= 3; n++) {
        sail_pool *pool = sail_pool_new(n);
        test_gemm_pool(pool, n);
        test_attention_pool(pool, n);
        sail_pool_free(pool);
    }
    test_helpers();
    sail_kernels_release();
    return test_done();
}
