/* attention.c: fused masked multi-head attention. sail_attention splits the
 * work into tasks of (batch, head, block of query rows), or of whole heads
 * where bf16 products have heads enough for every thread; each block runs
 * the table's attn_block on per-thread scratch holding the block's scores. The
 * SIMD tables (ops_simd.h) do a block as two packed GEMMs around a row-wise
 * softmax; the reference here, sail_attn_block_with, goes one query row at a
 * time with dot and axpy. No (Tq, Tk) matrix is ever materialised. */
#include "kernels_impl.h"
#include "common.h"

#include <math.h>
#include <string.h>

/* A block's scores should stay near the core (packing K and V once per
 * block is what the blocked kernel saves, so blocks are as tall as that
 * allows, up to QBLOCK_TILES microkernel strips). 64 KiB, not 128: ViT-S's
 * 197 rows in blocks of 64, not 128 + 69, ran its q8_0 forward 2% faster
 * (Intel AMX, 2 threads, batch 8: 6.09 -> 5.96 ms, five alternations). */
#define QBLOCK_FLOATS 16384
#define QBLOCK_TILES 8
_Static_assert(QBLOCK_TILES * SAIL_BF16_AMX_MR <= SAIL_ATTN_BLOCK_ROWS, "a bf16 block keeps a sum a row");
/* f32 products pack K and V per block, not once per head: there blocks of
 * up to 256 KiB of scores (ViT-S's 197 rows in one block, not five) cost
 * attention about a tenth less beside the rest of the pass (perf, 1 thread,
 * Zen 5: ViT-S batch 8 at SAIL_ISA=avx2, q8_0 weights, attention's share
 * against the q8_0 kernel's 0.206 -> 0.183; f32 at avx512bf16, the
 * packing's 3.6 -> 3.1% of samples). */
#define QBLOCK_F32_FLOATS 65536

/* Scratch rows are padded to whole cache lines so threads never share one. */
size_t sail_attn_scratch_row(int Tk) { return ((size_t)Tk + 15) & ~(size_t)15; }

/* Bytes of one head's rounded k and v, whole cache lines; 0 when the
 * products are f32. */
static size_t kv_head_bytes(const sail_kernel_table *t, const sail_attn_args *a) {
    if (!a->bf16 || !t->attn_pack_kv) return 0;
    return (sail_attn_kv_bytes(a->Tk, a->hd) + 63) & ~(size_t)63;
}

/* Most query rows per task: a multiple of the row tile. */
static int qblock_max(const sail_attn_args *a) {
    const sail_kernel_table *t = sail_kernels();
    int mr = sail_attn_row_tile(t, a), f32 = !kv_head_bytes(t, a);
    size_t tiles = (f32 ? QBLOCK_F32_FLOATS : QBLOCK_FLOATS) / sail_attn_scratch_row(a->Tk) / (size_t)mr;
    return mr * (int)SAIL_MAX(1, f32 ? tiles : SAIL_MIN(tiles, QBLOCK_TILES));
}

/* Floats of one thread's scratch: the tallest block's scores and, for the
 * bf16 products, its rows of q rounded to bf16 (sail_attn_pairs floats),
 * and for an output in bf16 or quantised its rows of the output as floats. */
static size_t thread_scratch(const sail_attn_args *a) {
    size_t row = sail_attn_scratch_row(a->Tk) + sail_attn_pairs(a->hd) + (a->out_b || a->out_q ? (size_t)a->hd : 0);
    size_t n = (size_t)qblock_max(a) * row;
    return (n + 15) & ~(size_t)15; /* threads never share a cache line */
}

int sail_attention_bf16_ok(const sail_attn_args *a, int in) {
    int e;
    if (!kv_head_bytes(sail_kernels(), a)) return 0;
    return !in || (a->scale > 0.0f && frexpf(a->scale, &e) == 0.5f);
}

int sail_attention_q8a_ok(const sail_attn_args *a) {
    return kv_head_bytes(sail_kernels(), a) && a->hd % 32 == 0 && a->out_stride % 32 == 0;
}

size_t sail_attention_scratch(int n_threads, const sail_attn_args *a) {
    return (size_t)a->B * a->H * kv_head_bytes(sail_kernels(), a) / sizeof(float) +
           (size_t)SAIL_MAX(n_threads, 1) * thread_scratch(a);
}

void sail_attn_block_with(const sail_attn_prims *p, const sail_attn_args *a,
                          int b, int h, int t0, int t1, float *scratch) {
    const uint8_t *mask = a->key_mask ? a->key_mask + (size_t)b * a->Tk : NULL; // (Tk)
    const float *k = a->k + (size_t)b * a->Tk * a->k_stride + (size_t)h * a->hd; // (Tk, hd)
    const float *v = a->v + (size_t)b * a->Tk * a->v_stride + (size_t)h * a->hd; // (Tk, hd)
    float *s = scratch; // (Tk): one row, reused
    for (int t = t0; t < t1; t++) {
        size_t row = (size_t)b * a->Tq + t;
        const float *q = a->q + row * a->q_stride + (size_t)h * a->hd; // (hd)
        float *o = a->out + row * a->out_stride + (size_t)h * a->hd;   // (hd)
        int kend = a->causal ? SAIL_MIN(t + 1, a->Tk) : a->Tk;
        for (int j = 0; j < kend; j++)
            s[j] = mask && !mask[j] ? -INFINITY
                                    : a->scale * p->dot(q, k + (size_t)j * a->k_stride, a->hd);
        p->softmax(s, 1, kend);
        memset(o, 0, (size_t)a->hd * sizeof(float));
        for (int j = 0; j < kend; j++)
            if (s[j] != 0.0f) p->axpy(o, s[j], v + (size_t)j * a->v_stride, a->hd);
    }
}

void sail_attn_block_bf16_ref(const sail_attn_args *a, int b, int h, int t0, int t1,
                              float *scratch) {
    const uint8_t *mask = a->key_mask ? a->key_mask + (size_t)b * a->Tk : NULL; // (Tk)
    const float *k = a->k + (size_t)b * a->Tk * a->k_stride + (size_t)h * a->hd; // (Tk, hd)
    const float *v = a->v + (size_t)b * a->Tk * a->v_stride + (size_t)h * a->hd; // (Tk, hd)
    float *s = scratch, *qr = scratch + sail_attn_scratch_row(a->Tk); // (Tk), (hd)
    for (int t = t0; t < t1; t++) {
        size_t row = (size_t)b * a->Tq + t;
        const float *q = a->q + row * a->q_stride + (size_t)h * a->hd; // (hd)
        float *o = a->out + row * a->out_stride + (size_t)h * a->hd;   // (hd)
        for (int i = 0; i < a->hd; i++) qr[i] = sail_bf16_dp_value(q[i] * a->scale);
        int kend = a->causal ? SAIL_MIN(t + 1, a->Tk) : a->Tk;
        for (int j = 0; j < kend; j++) {
            const float *kj = k + (size_t)j * a->k_stride;
            float d = 0.0f;
            for (int i = 0; i < a->hd; i++) d += qr[i] * sail_bf16_dp_value(kj[i]);
            s[j] = mask && !mask[j] ? -INFINITY : d;
        }
        /* unnormalised: e^(s - max) rounded, the output divided by their sum */
        float mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < kend; j++) mx = fmaxf(mx, s[j]);
        memset(o, 0, (size_t)a->hd * sizeof(float));
        for (int j = 0; j < kend; j++) {
            float pj = sail_bf16_dp_value(mx == -INFINITY ? 0.0f : expf(s[j] - mx));
            sum += pj;
            const float *vj = v + (size_t)j * a->v_stride;
            for (int i = 0; i < a->hd; i++) o[i] += pj * sail_bf16_dp_value(vj[i]);
        }
        float inv = sum != 0.0f ? 1.0f / sum : 0.0f;
        for (int i = 0; i < a->hd; i++) o[i] *= inv;
    }
}

typedef struct attn_job {
    const sail_attn_args *a;
    const sail_kernel_table *t;
    uint8_t *kv;           /* bf16 products: every head's k and v; else NULL */
    size_t kv_head;        /* bytes per head */
    float *scratch;
    size_t scratch_floats; /* per thread */
    int n_qblocks, qblock;
} attn_job;

static void pack_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    j->t->attn_pack_kv(j->a, task / j->a->H, task % j->a->H, j->kv + (size_t)task * j->kv_head);
}

/* Blocks [qb0, qb1) of head bh (batch * H + head), from kv where the
 * products are bf16. */
static void run_blocks(const attn_job *j, int bh, int qb0, int qb1, const uint8_t *kv, int thread) {
    const sail_attn_args *a = j->a;
    int t0 = qb0 * j->qblock, t1 = SAIL_MIN(a->Tq, qb1 * j->qblock);
    float *scratch = j->scratch + (size_t)thread * j->scratch_floats;
    if (kv) j->t->attn_block_bf16(a, bh / a->H, bh % a->H, t0, t1, j->qblock, kv, scratch);
    else
        for (int t = t0; t < t1; t += j->qblock)
            j->t->attn_block(a, bh / a->H, bh % a->H, t, SAIL_MIN(t1, t + j->qblock), scratch);
}

static void attn_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    int bh = task / j->n_qblocks;
    int qb = task % j->n_qblocks;
    run_blocks(j, bh, qb, qb + 1, j->kv ? j->kv + (size_t)bh * j->kv_head : NULL, thread);
}

/* A whole head: its k and v rounded into the thread's own buffer, which
 * stays in L2 for its blocks (every head's, 2.5 MB for ViT-S at batch 8,
 * did not), then its blocks. */
static void head_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    uint8_t *kv = j->kv + (size_t)thread * j->kv_head;
    j->t->attn_pack_kv(j->a, task / j->a->H, task % j->a->H, kv);
    run_blocks(j, task, 0, j->n_qblocks, kv, thread);
}

/* Multiply-adds of Q K^T below which the caller runs attention alone: a
 * 16-token text's 12 heads took as long on one thread as on two (about 31
 * thousand cycles either way, Intel AMX), and in the model the second
 * thread read q, k and v from the other core's cache (BERT-base, 16
 * tokens, q8_0, 2 threads: 4.62-4.67 -> 4.46 ms, two runs of nine
 * alternations). */
#define SMALL_MACS 1048576.0

/* Blocks of near-equal height in whole row tiles: 120 rows become 70 + 50
 * rather than 112 + 8, a tail task that would pack K and V for 8 rows.
 * With bf16 products each head's k and v are rounded once, not by each of
 * its blocks: by the task of the whole head where there are heads enough
 * for every thread (or as many for each), else first, every head's, by a
 * run of their own. */
void sail_attention(sail_pool *pool, const sail_attn_args *a, float *scratch) {
    const sail_kernel_table *t = sail_kernels();
    int mr = sail_attn_row_tile(t, a), most = qblock_max(a);
    int n_qb = (a->Tq + most - 1) / most, even = (a->Tq + n_qb - 1) / n_qb;
    size_t kv_head = kv_head_bytes(t, a), kvf = (size_t)a->B * a->H * kv_head / sizeof(float);
    attn_job j = {a, t, kv_head ? (uint8_t *)scratch : NULL, kv_head, scratch + kvf, thread_scratch(a), 0,
                  SAIL_MIN(most, (even + mr - 1) / mr * mr)};
    j.n_qblocks = (a->Tq + j.qblock - 1) / j.qblock;
    int heads = a->B * a->H;
    if ((double)heads * a->Tq * a->Tk * a->hd < SMALL_MACS) pool = NULL;
    /* each thread packs its heads' k and v where its own blocks read them (ViT-S at batch 1,
     * 6 heads on 2 threads: attention 166-176 -> 144-159 us a layer, Intel AMX) */
    int T = sail_pool_size(pool);
    if (j.kv && (heads >= 4 * T || heads % T == 0)) {
        sail_pool_run(pool, head_task, &j, heads);
        return;
    }
    if (j.kv) sail_pool_run(pool, pack_task, &j, heads);
    sail_pool_run(pool, attn_task, &j, heads * j.n_qblocks);
}
