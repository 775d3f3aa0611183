/* attention.c: fused masked multi-head attention. sail_attention splits the
 * work into tasks of (batch, head, block of query rows); each task runs the
 * table's attn_block on per-thread scratch holding the block's scores. The
 * SIMD tables (ops_simd.h) do a block as two packed GEMMs around a row-wise
 * softmax; the reference here, sail_attn_block_with, goes one query row at a
 * time with dot and axpy. No (Tq, Tk) matrix is ever materialised. */
#include "kernels_impl.h"
#include "common.h"

#include <math.h>
#include <string.h>

/* A block's scores should stay in L2 (packing K and V once per block is
 * what the blocked kernel saves, so blocks are as tall as that allows, up
 * to QBLOCK_TILES microkernel strips). */
#define QBLOCK_FLOATS 32768
#define QBLOCK_TILES 8

/* Scratch rows are padded to whole cache lines so threads never share one. */
size_t sail_attn_scratch_row(int Tk) { return ((size_t)Tk + 15) & ~(size_t)15; }

/* Most query rows per task: a multiple of the GEMM's row tile. */
static int qblock_max(int Tk) {
    int mr, nr;
    sail_gemm_tile(sail_kernels(), &mr, &nr);
    size_t tiles = QBLOCK_FLOATS / sail_attn_scratch_row(Tk) / (size_t)mr;
    return mr * (int)SAIL_MAX(1, SAIL_MIN(tiles, QBLOCK_TILES));
}

size_t sail_attention_scratch(int n_threads, int Tk) {
    return (size_t)SAIL_MAX(n_threads, 1) * qblock_max(Tk) * sail_attn_scratch_row(Tk);
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

typedef struct attn_job {
    const sail_attn_args *a;
    const sail_kernel_table *t;
    float *scratch;
    size_t scratch_floats; /* per thread */
    int n_qblocks, qblock;
} attn_job;

static void attn_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const sail_attn_args *a = j->a;
    int qb = task % j->n_qblocks, bh = task / j->n_qblocks;
    int t0 = qb * j->qblock, t1 = SAIL_MIN(a->Tq, t0 + j->qblock);
    j->t->attn_block(a, bh / a->H, bh % a->H, t0, t1,
                     j->scratch + (size_t)thread * j->scratch_floats);
}

/* Blocks of near-equal height in whole row tiles: 120 rows become 70 + 50
 * rather than 112 + 8, a tail task that would pack K and V for 8 rows. */
void sail_attention(sail_pool *pool, const sail_attn_args *a, float *scratch) {
    int mr, nr, most = qblock_max(a->Tk);
    sail_gemm_tile(sail_kernels(), &mr, &nr);
    int n_qb = (a->Tq + most - 1) / most, even = (a->Tq + n_qb - 1) / n_qb;
    attn_job j = {a, sail_kernels(), scratch, (size_t)most * sail_attn_scratch_row(a->Tk), 0,
                  SAIL_MIN(most, (even + mr - 1) / mr * mr)};
    j.n_qblocks = (a->Tq + j.qblock - 1) / j.qblock;
    sail_pool_run(pool, attn_task, &j, a->B * a->H * j.n_qblocks);
}
