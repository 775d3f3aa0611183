/* attention.c: fused masked multi-head attention. sail_attention splits the
 * work into tasks of (batch, head, block of query rows); each task runs the
 * table's attn_block, which for one query row at a time computes the scores
 * against every visible key into a per-thread scratch row, softmaxes them in
 * place and accumulates P·V into the output. Scores never leave L1 and no
 * (Tq, Tk) matrix is materialised. */
#include "kernels_impl.h"
#include "common.h"

#include <math.h>
#include <string.h>

/* Query rows per task: enough work to amortise the hand-out, small enough
 * that B*H*Tq/QBLOCK tasks balance over the pool. */
#define QBLOCK 16

/* Scratch rows are padded to whole cache lines so threads never share one. */
static size_t scratch_row(int Tk) { return ((size_t)Tk + 15) & ~(size_t)15; }

size_t sail_attention_scratch(int n_threads, int Tk) {
    return (size_t)SAIL_MAX(n_threads, 1) * scratch_row(Tk);
}

void sail_attn_block_with(const sail_attn_prims *p, const sail_attn_args *a,
                          int b, int h, int t0, int t1, float *scratch) {
    const uint8_t *mask = a->key_mask ? a->key_mask + (size_t)b * a->Tk : NULL; // (Tk)
    const float *k = a->k + (size_t)b * a->Tk * a->k_stride + (size_t)h * a->hd; // (Tk, hd)
    const float *v = a->v + (size_t)b * a->Tk * a->v_stride + (size_t)h * a->hd; // (Tk, hd)
    float *s = scratch; // (Tk)
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
    int n_qblocks;
} attn_job;

static void attn_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const sail_attn_args *a = j->a;
    int qb = task % j->n_qblocks, bh = task / j->n_qblocks;
    int t0 = qb * QBLOCK, t1 = SAIL_MIN(a->Tq, t0 + QBLOCK);
    j->t->attn_block(a, bh / a->H, bh % a->H, t0, t1,
                     j->scratch + (size_t)thread * scratch_row(a->Tk));
}

void sail_attention(sail_pool *pool, const sail_attn_args *a, float *scratch) {
    attn_job j = {a, sail_kernels(), scratch, (a->Tq + QBLOCK - 1) / QBLOCK};
    sail_pool_run(pool, attn_task, &j, a->B * a->H * j.n_qblocks);
}
