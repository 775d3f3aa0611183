/* gemm.c: the reference GEMM, the per-thread packing buffers the SIMD GEMMs
 * share, and sail_gemm, which cuts C into tiles and runs them on the pool;
 * sail_gemm_w does the same for weights in their stored type (the kernels
 * are in gemm_quant*.c).
 *
 * Each task is a rectangle of C computed by the single-threaded table->gemm,
 * which packs its own panels. Tiles are chosen by a small cost model
 * (makespan of compute plus packing) so that both many-row shapes (ViT
 * batches: split M) and few-row shapes (a 16-token sentence: split N) keep
 * every thread busy without packing B or A more often than needed. M is
 * cut only into pieces longer than any kernel's few-row path, so results
 * are the same bits on any number of threads, and a product too small to
 * repay waking the workers runs on the caller alone. */
#include "kernels_impl.h"
#include "common.h"

#include <pthread.h>
#include <string.h>

/* ------------------------------------------------------------ reference -- */

void sail_gemm_ref(int M, int N, int K, const float *A, int lda, const float *B,
                   int ldb, int b_trans, const float *bias, float beta, float *C,
                   int ldc) {
    for (int m = 0; m < M; m++) {
        const float *a = A + (size_t)m * lda; // (K)
        float *c = C + (size_t)m * ldc;       // (N)
        for (int n = 0; n < N; n++) c[n] = sail_gemm_base(c + n, bias, n, beta);
        if (b_trans) {
            for (int n = 0; n < N; n++) {
                const float *b = B + (size_t)n * ldb; // (K)
                float s = 0.0f;
                for (int k = 0; k < K; k++) s += a[k] * b[k];
                c[n] += s;
            }
        } else {
            /* Row-wise axpy keeps the inner loop contiguous (vectorisable). */
            float *acc = c;
            for (int k = 0; k < K; k++) {
                const float *b = B + (size_t)k * ldb; // (N)
                float ak = a[k];
                for (int n = 0; n < N; n++) acc[n] += ak * b[n];
            }
        }
    }
}

/* ------------------------------------------------------ packing buffers -- */

typedef struct pack_buf {
    float *p;
    size_t cap; /* floats */
} pack_buf;

static pthread_key_t g_pack_key;
static pthread_once_t g_pack_once = PTHREAD_ONCE_INIT;

static void pack_buf_free(void *v) {
    pack_buf *b = v;
    if (!b) return;
    sail_free(b->p);
    sail_free(b);
}

static void pack_key_init(void) { pthread_key_create(&g_pack_key, pack_buf_free); }

float *sail_gemm_pack_buffer(size_t n) {
    pthread_once(&g_pack_once, pack_key_init);
    pack_buf *b = pthread_getspecific(g_pack_key);
    if (!b) {
        b = sail_calloc(1, sizeof *b);
        if (!b) return NULL;
        pthread_setspecific(g_pack_key, b);
    }
    if (b->cap < n) {
        sail_free(b->p);
        b->p = sail_alloc_aligned(n * sizeof(float));
        b->cap = b->p ? n : 0;
    }
    return b->p;
}

void sail_kernels_release(void) {
    pthread_once(&g_pack_once, pack_key_init);
    pack_buf_free(pthread_getspecific(g_pack_key));
    pthread_setspecific(g_pack_key, NULL);
}

/* ------------------------------------------------------- threaded driver -- */

typedef struct gemm_job {
    const sail_kernel_table *t;
    int M, N, K;
    const float *A; int lda;
    const float *B; int ldb; int b_trans;
    const float *bias; float beta;
    float *C; int ldc;
    int mr, nr;   /* microkernel tile: task edges fall on multiples of these */
    int gm, gn;   /* task grid */
    int min_tn;   /* an N cut leaves each task at least this many columns, when M can be cut
                     into a piece per thread */
    float mac_cost, a_cost; /* grid_cost's units per multiply-add, and per value of A a task
                               prepares once (see TILE_MAC_COST) */
    const sail_wmat *W; /* set: W (N, K) in its stored type replaces B */
    const sail_q8a *Aq; /* W q8_0: A quantised, K/32 blocks a row */
    sail_post_fn post;  /* W set: NULL, or applied to C once final */
    const sail_bf16_gemm *g16; /* set: A (and perhaps C) in bf16, through gemm_wide_bf16 */
    const sail_rows_out *out;  /* set (with Aq): C's rows quantised or in bf16 instead (gemm_q8_0_q8a) */
} gemm_job;

/* [*lo, *hi) = part i of `parts` of [0, total), cut at multiples of unit and
 * as even as whole units allow. */
static void split(int total, int unit, int parts, int i, int *lo, int *hi) {
    long units = (total + unit - 1) / unit;
    *lo = (int)(units * i / parts) * unit;
    *hi = SAIL_MIN(total, (int)(units * (i + 1) / parts) * unit);
}

/* C[m0:m1, n0:n1] with the kernel of W's stored type. */
static void w_task(const gemm_job *j, int m0, int m1, int n0, int n1) {
    const sail_wmat *W = j->W;
    const uint8_t *w = (const uint8_t *)W->data + (size_t)n0 * W->stride;
    const float *bias = j->bias ? j->bias + n0 : NULL;
    int M = m1 - m0, N = n1 - n0;
    /* columns are cut at multiples of the tile's nr, so of 16 */
    const uint8_t *wp = W->packed ? (const uint8_t *)W->packed + sail_gemm_w_packed_size(W, n0, j->K) : NULL;
    if (j->g16) {
        sail_bf16_gemm g = *j->g16;
        g.M = M, g.N = N, g.A += (size_t)m0 * g.lda, g.bias = bias;
        g.W = w, g.ldw = W->stride, g.Wp = wp, g.q8 = W->type == SAIL_WT_Q8_0;
        if (g.Cb) g.Cb += (size_t)m0 * g.ldcb + n0;
        else g.C += (size_t)m0 * g.ldc + n0;
        j->t->gemm_wide_bf16(&g);
        return;
    }
    float *C = j->C ? j->C + (size_t)m0 * j->ldc + n0 : NULL;  /* NULL: only out */
    const float *A = j->A ? j->A + (size_t)m0 * j->lda : NULL; /* NULL: only Aq */
    if (W->type == SAIL_WT_Q8_0) {
        size_t nb = (size_t)j->K / 32;
        if (j->out) { /* columns are cut at multiples of 32: whole blocks */
            sail_rows_out o = *j->out;
            if (o.q) o.q += (size_t)m0 * o.ld + (size_t)n0 / 32;
            else o.b += (size_t)m0 * o.ld + (size_t)n0;
            j->t->gemm_q8_0_q8a(M, N, j->K, j->Aq + (size_t)m0 * nb, nb, w, W->stride, wp, j->post, bias, &o);
            return;
        }
        if (!j->Aq) { /* the one kernel that applies post itself */
            j->t->gemm_q8_0_wide(M, N, j->K, A, j->lda, w, W->stride, wp, j->post, bias, j->beta, C, j->ldc);
            return;
        }
        j->t->gemm_q8_0(M, N, j->K, j->Aq + (size_t)m0 * nb, nb, w, W->stride, wp, bias, j->beta, C, j->ldc);
    } else if (W->type == SAIL_WT_BF16) {
        if (wp && sail_gemm_w_reads_packed(W, M)) {
            j->t->gemm_bf16_packed(M, N, j->K, A, j->lda, w, W->stride, wp, j->post, bias, j->beta, C, j->ldc);
            return;
        }
        j->t->gemm_bf16(M, N, j->K, A, j->lda, w, W->stride, bias, j->beta, C, j->ldc);
    } else {
        j->t->gemm_f16(M, N, j->K, A, j->lda, w, W->stride, bias, j->beta, C, j->ldc);
    }
    sail_post_rows(j->post, C, j->ldc, M, N);
}

static void gemm_task(void *ctx, int task, int thread) {
    const gemm_job *j = ctx;
    (void)thread;
    int m0, m1, n0, n1;
    split(j->M, j->mr, j->gm, task / j->gn, &m0, &m1);
    split(j->N, j->nr, j->gn, task % j->gn, &n0, &n1);
    if (m0 >= m1 || n0 >= n1) return;
    if (j->W) {
        w_task(j, m0, m1, n0, n1);
        return;
    }
    const float *B = j->b_trans ? j->B + (size_t)n0 * j->ldb : j->B + n0;
    j->t->gemm(m1 - m0, n1 - n0, j->K, j->A + (size_t)m0 * j->lda, j->lda, B, j->ldb,
               j->b_trans, j->bias ? j->bias + n0 : NULL, j->beta,
               j->C + (size_t)m0 * j->ldc + n0, j->ldc);
}

/* Estimated makespan of a gm x gn grid on T threads, in f32 flop units:
 * rounds of tasks times (microkernel work + packing of A and B per task +
 * A's preparation once per task). Packing one float costs about as much
 * as PACK_COST flops. */
#define PACK_COST 6.0
#define PACK_NC 512
/* The AMX nest's costs in those units (Intel AMX Xeon, 2026-12-07): its
 * tiles multiply about 7x as fast as the f32 nest (ViT-S batch 8's qkv
 * at q8_0, 1 thread: 1.1 TFLOP/s against 158 GFLOP/s), so what a task does
 * once with its rows of A (reads them in bf16, or rounds them to bf16
 * first) weighs on a split: a task of that 1576x1152x384 product cut
 * along N rather than M took 50 us more with A in bf16, about 26 units a
 * value. Without this term N and M cuts tied, N came first, and two
 * threads ran that qkv at 1.0-1.5x of one, against 1.8-2.0x cut along M.
 * (From floats the task took 240 us more, but A of a few hundred rows,
 * held in L2, rounds cheaply: the bf16 figure chooses right for both.) */
#define VEC_MAC_COST 2.0f
#define TILE_MAC_COST (VEC_MAC_COST / 7)
#define TILE_A_COST 26.0f
static double grid_cost(const gemm_job *j, int gm, int gn, int T) {
    double units_m = (j->M + j->mr - 1) / j->mr, units_n = (j->N + j->nr - 1) / j->nr;
    double tm = ((long)(units_m + gm - 1) / gm) * j->mr;
    double tn = ((long)(units_n + gn - 1) / gn) * j->nr;
    double rounds = (gm * gn + T - 1) / T;
    double n_blocks = (long)((tn + PACK_NC - 1) / PACK_NC);
    double pack = PACK_COST * j->K * (tn + tm * n_blocks) + (double)j->a_cost * tm * j->K;
    return rounds * ((double)j->mac_cost * tm * tn * j->K + pack);
}

/* Cutting M at row r0 changes no row's path while every piece has more
 * rows than any kernel's few-row path takes (SAIL_GEMM_DIRECT_MAX_M): then
 * each element of C is summed in the same order on any number of threads.
 * N can be cut anywhere (no kernel's order depends on a column's place). */
static int m_cut_ok(const gemm_job *j, int gm) {
    for (int i = 0; i < gm; i++) {
        int lo, hi;
        split(j->M, j->mr, gm, i, &lo, &hi);
        if (hi - lo <= SAIL_GEMM_DIRECT_MAX_M) return 0;
    }
    return 1;
}

/* About what waking the workers for one run costs, in the flop units of
 * grid_cost (a few microseconds at ~100 GFLOP/s: bench_threads measures
 * the pool). A product that two threads would not finish sooner by more
 * than this runs on the caller alone. */
#define WAKE_COST 1e6

/* The cheapest grid (gm x gn tasks) on T threads; 1 x 1 when splitting does
 * not pay for the wake-up; no task narrower than min_tn while M could be
 * cut into T pieces instead. Returns the number of tasks. */
static int choose_grid(gemm_job *j, int T) {
    int max_m = (j->M + j->mr - 1) / j->mr, max_n = (j->N + j->nr - 1) / j->nr;
    double one = grid_cost(j, 1, 1, 1), best = one;
    int narrow_ok = !j->min_tn || !m_cut_ok(j, T); /* else M alone gives every thread a piece */
    j->gm = j->gn = 1;
    for (int gm = 1; gm <= SAIL_MIN(max_m, 4 * T); gm++) {
        if (gm > 1 && !m_cut_ok(j, gm)) break; /* more pieces are only smaller */
        for (int gn = 1; gn <= SAIL_MIN(max_n, 4 * T) && gm * gn <= 4 * T; gn++) {
            if (gm * gn == 1) continue;
            if (gn > 1 && !narrow_ok && (max_n + gn - 1) / gn * j->nr < j->min_tn) break;
            double c = grid_cost(j, gm, gn, T) + WAKE_COST;
            if (c < best * 0.999) { best = c; j->gm = gm; j->gn = gn; }
        }
    }
    return j->gm * j->gn;
}

void sail_gemm(sail_pool *pool, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, int b_trans, const float *bias,
               float beta, float *C, int ldc) {
    const sail_kernel_table *t = sail_kernels();
    int T = sail_pool_size(pool);
    gemm_job j = {.t = t, .M = M, .N = N, .K = K, .A = A, .lda = lda, .B = B, .ldb = ldb, .b_trans = b_trans,
                  .bias = bias, .beta = beta, .C = C, .ldc = ldc, .gm = 1, .gn = 1, .mac_cost = VEC_MAC_COST};
    sail_gemm_tile(t, &j.mr, &j.nr);
    if (T == 1 || M <= 0 || N <= 0 || choose_grid(&j, T) == 1) {
        t->gemm(M, N, K, A, lda, B, ldb, b_trans, bias, beta, C, ldc);
        return;
    }
    sail_pool_run(pool, gemm_task, &j, j.gm * j.gn);
}

/* ------------------------------------------------- stored weight types -- */

/* Rows above which gemm_q8_0_wide runs rather than gemm_q8_0 on the packed
 * panels. Alone the int8 tiles win at 77 rows (bench_gemm_quant, CLIP text
 * fc1, 1 thread: 380 against 480-507 GFLOP/s), but on the wide nest the
 * model hands activations over in bf16 (sail_gemm_w_bf16), and the towers
 * run faster from 49 rows on (Intel AMX, 2 threads, 2026-12-07: CLIP text
 * at batch 1, 77 rows, 10.1 -> 8.3 ms; BERT-base at batch 8, 64 rows a
 * part, 3.1 -> 2.7 ms; CLIP image at batch 1, 50 rows, within noise). */
#define WIDE_MIN_M 48

int sail_gemm_w_wide(const sail_kernel_table *t, sail_wtype type, int M) {
    return type == SAIL_WT_Q8_0 && t->gemm_q8_0_wide && M > WIDE_MIN_M;
}

size_t sail_gemm_w_scratch(const sail_wmat *W, int M, int K) {
    if (W->type != SAIL_WT_Q8_0 || sail_gemm_w_wide(sail_kernels(), W->type, M)) return 0;
    return (size_t)M * (size_t)(K / 32) * sizeof(sail_q8a);
}

size_t sail_gemm_w_packed_size(const sail_wmat *W, int N, int K) {
    const sail_kernel_table *t = sail_kernels();
    if (N <= 0 || K <= 0) return 0;
    if (W->type == SAIL_WT_Q8_0 && t->q8_0_panels_size) return t->q8_0_panels_size(N, K);
    if (W->type == SAIL_WT_BF16 && t->bf16_panels_size) return t->bf16_panels_size(N, K);
    return 0;
}

int sail_gemm_w_reads_packed(const sail_wmat *W, int M) {
    return W->type == SAIL_WT_Q8_0 || M > SAIL_GEMM_DIRECT_MAX_M;
}

void sail_gemm_w_pack(sail_wmat *W, int N, int K, void *dst) {
    const sail_kernel_table *t = sail_kernels();
    if (W->type == SAIL_WT_Q8_0) t->q8_0_pack(W->data, W->stride, N, K, dst);
    else t->bf16_pack(W->data, W->stride, N, K, dst);
    W->packed = dst;
}

typedef struct quant_job {
    const sail_kernel_table *t;
    const float *A; int lda, K, rows_per_task, M;
    sail_q8a *Aq;
} quant_job;

static void quant_task(void *ctx, int task, int thread) {
    const quant_job *q = ctx;
    int r0 = task * q->rows_per_task, r1 = SAIL_MIN(q->M, r0 + q->rows_per_task);
    size_t nb = (size_t)q->K / 32;
    for (int r = r0; r < r1; r++)
        q->t->quantize_q8a(q->Aq + (size_t)r * nb, q->A + (size_t)r * q->lda, q->K);
}

/* Values per task when quantising A over the pool, and the fewest tasks
 * worth a wake-up (about 4 x 16K values: some 20 us of work). */
#define QUANT_CHUNK 16384
#define QUANT_MIN_TASKS 4

typedef struct post_job {
    sail_post_fn post;
    float *C;
    int ldc, N, rows_per_task, M;
} post_job;

static void post_task(void *ctx, int task, int thread) {
    const post_job *p = ctx;
    int r0 = task * p->rows_per_task;
    (void)thread;
    sail_post_rows(p->post, p->C + (size_t)r0 * p->ldc, p->ldc, SAIL_MIN(p->rows_per_task, p->M - r0), p->N);
}

/* j's product of a stored W on the pool, cut by the grid its shape picks. */
static void w_run(sail_pool *pool, gemm_job *j) {
    int tiles;
    sail_gemm_w_tile(j->t, j->W->type, j->M, &j->mr, &j->nr, &j->min_tn, &tiles);
    if (j->out) j->nr = SAIL_MAX(j->nr, 32); /* a task's columns are whole blocks (nr: 16 or 32) */
    j->mac_cost = tiles ? TILE_MAC_COST : VEC_MAC_COST;
    j->a_cost = tiles ? TILE_A_COST : 0.0f;
    if (sail_pool_size(pool) == 1 || choose_grid(j, sail_pool_size(pool)) == 1) w_task(j, 0, j->M, 0, j->N);
    else sail_pool_run(pool, gemm_task, j, j->gm * j->gn);
}

void sail_gemm_w(sail_pool *pool, int M, int N, int K, const float *A, int lda,
                 const sail_wmat *W, const float *bias, float beta, float *C, int ldc,
                 void *scratch) {
    sail_gemm_w_post(pool, M, N, K, A, lda, W, NULL, bias, beta, C, ldc, scratch);
}

void sail_gemm_w_post(sail_pool *pool, int M, int N, int K, const float *A, int lda,
                      const sail_wmat *W, sail_post_fn post, const float *bias, float beta, float *C,
                      int ldc, void *scratch) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || W->type == SAIL_WT_F32) {
        if (K <= 0) /* C := beta C + bias; W is not read (and K / 32 blocks would be 0) */
            sail_gemm_ref(M, N, 0, A, lda, NULL, 0, 1, bias, beta, C, ldc);
        else
            sail_gemm(pool, M, N, K, A, lda, W->data, (int)(W->stride / sizeof(float)), 1, bias, beta,
                      C, ldc);
        if (post) { /* sail_gemm's tasks are its own: a pass over C after them */
            post_job p = {post, C, ldc, N, SAIL_MAX(1, QUANT_CHUNK / N), M};
            sail_pool_run(pool, post_task, &p, (M + p.rows_per_task - 1) / p.rows_per_task);
        }
        return;
    }
    const sail_kernel_table *t = sail_kernels();
    int T = sail_pool_size(pool);
    int wide = sail_gemm_w_wide(t, W->type, M);
    gemm_job j = {.t = t, .M = M, .N = N, .K = K, .A = A, .lda = lda, .b_trans = 1, .bias = bias, .beta = beta,
                  .C = C, .ldc = ldc, .gm = 1, .gn = 1, .W = W, .Aq = wide ? NULL : scratch, .post = post};
    if (W->type == SAIL_WT_Q8_0 && !wide) {
        /* Quantise every row of A once; all tasks then share the blocks.
         * A few chunks are quicker done here than a wake-up of the pool. */
        quant_job q = {t, A, lda, K, SAIL_MAX(1, QUANT_CHUNK / K), M, scratch};
        int tasks = (M + q.rows_per_task - 1) / q.rows_per_task;
        if (T == 1 || tasks < QUANT_MIN_TASKS) for (int i = 0; i < tasks; i++) quant_task(&q, i, 0);
        else sail_pool_run(pool, quant_task, &q, tasks);
    }
    w_run(pool, &j);
}

int sail_gemm_w_q8a_ok(const sail_wmat *W, int M, int K) {
    return W->type == SAIL_WT_Q8_0 && M > 0 && K > 0 && K % 32 == 0 && !sail_gemm_w_wide(sail_kernels(), W->type, M);
}

void sail_gemm_w_q8a(sail_pool *pool, int M, int N, int K, const sail_q8a *Aq, const sail_wmat *W,
                     sail_post_fn post, const float *bias, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_job j = {.t = sail_kernels(), .M = M, .N = N, .K = K, .b_trans = 1, .bias = bias, .beta = beta, .C = C,
                  .ldc = ldc, .gm = 1, .gn = 1, .W = W, .Aq = Aq, .post = post};
    w_run(pool, &j);
}

int sail_gemm_w_q8a_out_ok(const sail_wmat *W, int M, int N, int K) {
    /* any M: q8_0 products have no few-row path, so the nest that hands the
     * rows on sums them as sail_gemm_w_q8a does */
    return sail_kernels()->gemm_q8_0_q8a && sail_gemm_w_q8a_ok(W, M, K) && N % 32 == 0 &&
           K <= SAIL_Q8A_OUT_MAX_K;
}

void sail_gemm_w_q8a_out(sail_pool *pool, int M, int N, int K, const sail_q8a *Aq, const sail_wmat *W,
                         sail_post_fn post, const float *bias, sail_q8a *Cq, uint16_t *Cb, size_t ldcb) {
    if (M <= 0 || N <= 0) return;
    const sail_kernel_table *t = sail_kernels();
    sail_rows_out out = {Cq, Cq ? NULL : Cb, Cq ? (size_t)N / 32 : ldcb, t->round_bf16};
    gemm_job j = {.t = t, .M = M, .N = N, .K = K, .b_trans = 1, .bias = bias, .gm = 1, .gn = 1,
                  .W = W, .Aq = Aq, .post = post, .out = &out};
    w_run(pool, &j);
}

int sail_gemm_w_bf16_ok(const sail_wmat *W, int M, int N, int K, int out) {
    const sail_kernel_table *t = sail_kernels();
    if (!t->gemm_wide_bf16 || M <= 0 || K <= 0 || K % 32) return 0;
    if (out && (N % 32 || K > t->wide_bf16_out_max_k)) return 0;
    /* where sail_gemm_w's own product rounds A whole on the same nest */
    return sail_gemm_w_wide(t, W->type, M) || (W->type == SAIL_WT_BF16 && M > SAIL_GEMM_DIRECT_MAX_M);
}

void sail_gemm_w_bf16(sail_pool *pool, const sail_wmat *W, const sail_bf16_gemm *g) {
    const sail_kernel_table *t = sail_kernels();
    gemm_job j = {.t = t, .M = g->M, .N = g->N, .K = g->K, .b_trans = 1, .bias = g->bias, .beta = g->beta,
                  .C = g->C, .ldc = g->ldc, .gm = 1, .gn = 1, .W = W, .post = g->post, .g16 = g};
    w_run(pool, &j);
}
