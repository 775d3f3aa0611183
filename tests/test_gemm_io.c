/* test_gemm_io.c: sail_gemm_w, the threaded GEMM on weights in their stored
 * type (f32, f16, bf16, q8_0 as stored and as packed at load), against
 * itself: the same bits on 1-4 threads and whatever the rows beside a row;
 * a post applied in the product as after it; and activations handed over
 * in bf16 or quantised (and results handed on so) as the bits of the same
 * product on floats. The kernels against their references are
 * test_gemm_quant.c's. */
#include "test.h"
#include "gemm_quant_case.h"

#include <math.h>
#include <string.h>

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

/* Runs of a product's rows (start, length; a negative start counts from
 * the end, a length is cut at the last row, runs of fewer than min_rows are
 * left out), each alone, against those rows of the whole product, for
 * shapes (M, N, K) and 4 seeds (with and without bias and beta), W as
 * W_TYPES[ti]. Returns 1 when all agree; *n: the runs compared. */
typedef struct rows_runs {
    const int (*shapes)[3];
    int nshapes;
    const int (*runs)[2];
    int nruns, min_rows;
} rows_runs;

static int runs_alone(sail_pool *pool, int ti, const rows_runs *rr, int *n) {
    int same = 1;
    *n = 0;
    for (int s = 0; s < rr->nshapes; s++)
        for (int v = 0; v < 4; v++) {
            int M = rr->shapes[s][0], N = rr->shapes[s][1], K = rr->shapes[s][2];
            wcase c;
            wcase_open(&c, ti, M, N, K, v);
            wcase_pack(&c);
            qcase q = c.q;
            const float *bias = q.has_bias ? q.bias : NULL;
            sail_gemm_w(pool, M, N, K, q.A, q.lda, &c.W, bias, (float)q.beta, q.R, q.ldc, c.scratch);
            for (int r = 0; r < rr->nruns; r++) {
                int r0 = rr->runs[r][0] < 0 ? M + rr->runs[r][0] : rr->runs[r][0];
                int m = SAIL_MIN(rr->runs[r][1], M - r0);
                if (m < rr->min_rows) continue;
                size_t off = (size_t)r0 * q.ldc, nc = (size_t)m * q.ldc;
                memcpy(q.C + off, q.C0 + off, nc * sizeof(float));
                sail_gemm_w(pool, m, N, K, q.A + (size_t)r0 * q.lda, q.lda, &c.W, bias, (float)q.beta,
                            q.C + off, q.ldc, c.scratch);
                ++*n;
                if (memcmp(q.C + off, q.R + off, nc * sizeof(float))) {
                    if (same) printf("#   %s %dx%dx%d (beta %d, bias %d): rows %d..%d alone differ\n",
                                     W_NAMES[ti], M, N, K, q.beta, q.has_bias, r0, r0 + m - 1);
                    same = 0;
                }
            }
            wcase_close(&c);
        }
    return same;
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
    const rows_runs rr = {shapes, 3, runs, 6, 129};
    sail_pool *pool = sail_pool_new(2);
    for (int ti = 0; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        int n, same = runs_alone(pool, ti, &rr, &n);
        CHECK(same && n > 0, "sail_gemm_w %s (%s): %d runs of more than 128 rows alone give the bits of "
              "the whole product", W_NAMES[ti], sail_kernel_level(), n);
    }
    sail_pool_free(pool);
}

/* q8_0 has no few-row path (q8_driver.h's nest runs every row count), so
 * runs of 1-7 rows alone give those rows' bits of the whole product too
 * (a batch's heads, one row an item, no longer change an item). Not at the
 * amx level, where sail_gemm_w widens A to bf16 past 48 rows (gemm.c,
 * WIDE_MIN_M). */
static void test_few_rows_q8(void) {
    if (sail_gemm_w_wide(sail_kernels(), SAIL_WT_Q8_0, 300)) {
        SKIP("q8_0 rows alone at 1-7 rows: level %s widens A to bf16 past 48 rows", sail_kernel_level());
        return;
    }
    static const int shapes[][3] = {{300, 200, 800}, {97, 544, 384}};
    static const int runs[][2] = {{0, 1}, {1, 1}, {5, 2}, {7, 3}, {31, 4}, {10, 5}, {64, 7}, {-1, 1}, {-4, 4}};
    const rows_runs rr = {shapes, 2, runs, 9, 1};
    sail_pool *pool = sail_pool_new(2);
    for (int ti = 3; ti < 5; ti++) {
        if (ti == 4 && !sail_kernels()->q8_0_pack) continue;
        int n, same = runs_alone(pool, ti, &rr, &n);
        CHECK(same && n > 0, "sail_gemm_w %s (%s): %d runs of 1-7 rows alone give the bits of the whole "
              "product", W_NAMES[ti], sail_kernel_level(), n);
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
    test_thread_invariance();
    test_row_invariance();
    test_few_rows_q8();
    test_post();
    test_bf16_io();
    test_q8a_io();
    sail_kernels_release();
    return test_done();
}
