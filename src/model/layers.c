/* layers.c: transformer building blocks on top of the kernels, for
 * inference and (keeping activations) training alike. */
#include "layers.h"
#include "kernels/numfmt.h"

#include <math.h>
#include <string.h>

/* ----------------------------------------------------------- memory -- */

int fwd_start(fwd *f, sail_arena *a, sail_pool *pool) {
    f->a = a;
    f->pool = pool;
    f->k = sail_kernels();
    f->oom = 0;
    f->live = f->peak = 0;
    return sail_arena_reset(a);
}

void fwd_finish(fwd *f) {
    if (f->a->spilled && !f->oom) f->a->high = f->peak;
}

float *fwd_alloc(fwd *f, size_t n) {
    n = n ? n : 1; /* a zero-size take from an empty arena would read as OOM */
    float *p = f->oom ? NULL : sail_arena_floats(f->a, n);
    if (!p) f->oom = 1;
    f->live += (n * sizeof(float) + 63) & ~(size_t)63;
    f->peak = SAIL_MAX(f->peak, f->live);
    return p;
}

void *fwd_alloc_bytes(fwd *f, size_t n) { return fwd_alloc(f, n / sizeof(float) + 1); }

/* rows x cols bf16, zero rows after the last up to a multiple of 32 (the
 * tiles of a bf16 product read whole strips). */
uint16_t *fwd_alloc_bf16(fwd *f, int rows, int cols) {
    size_t r32 = ((size_t)rows + 31) & ~(size_t)31;
    uint16_t *p = fwd_alloc_bytes(f, r32 * cols * sizeof(uint16_t));
    if (p) memset(p + (size_t)rows * cols, 0, (r32 - rows) * cols * sizeof(uint16_t));
    return p;
}

fwd_mark fwd_mark_get(const fwd *f) {
    fwd_mark m = {sail_arena_mark(f->a), f->live};
    return m;
}

void fwd_release(fwd *f, fwd_mark m) {
    sail_arena_release(f->a, m.pos);
    f->live = m.live;
}

void trace(fwd *f, const char *name, const float *x, int rows, int cols) {
    if (f->m && f->m->trace && !f->oom) f->m->trace(f->m->trace_ud, name, x, rows, cols);
}

/* ----------------------------------------------------------- linear -- */

/* l's panels once pack_linear has published them, else NULL. A batch split
 * across threads runs its parts' forwards side by side (forward.c), so the
 * pointer is set and read atomically, after the panels it points at. */
static const void *panels_of(const sail_linear *l) { return __atomic_load_n(&l->wm.packed, __ATOMIC_ACQUIRE); }

/* l's weight into its reserved panels by its second GEMM that reads them:
 * the one call that counts to 2 packs; others meanwhile read W as stored. */
static void pack_linear(const sail_linear *l, int out, int in) {
    sail_linear *w = (sail_linear *)l;
    if (__atomic_fetch_add(&w->gemms, 1, __ATOMIC_RELAXED) != 1) return;
    sail_wmat wm = {w->wm.data, w->wm.stride, w->wm.type, NULL};
    sail_gemm_w_pack(&wm, out, in, w->pack_to);
    __atomic_store_n(&w->wm.packed, wm.packed, __ATOMIC_RELEASE);
    /* the file's copy is read again only by few-row products: until then
     * its pages need not count as this process's memory */
    sail_pages_drop(w->wm.data, (size_t)out * w->wm.stride);
}

static void act_run(fwd *f, sail_post_fn fn, float *y, const float *x, size_t n);

static sail_post_fn act_fn(const sail_kernel_table *k, sail_act act) {
    return act == SAIL_ACT_QUICK_GELU ? k->quick_gelu : act == SAIL_ACT_GELU_TANH ? k->gelu_tanh : k->gelu;
}

/* l's weight as its products of n rows read it (packed first where due). */
static sail_wmat linear_wmat(const sail_linear *l, int n, int in, int out) {
    if (l->w) return (sail_wmat){l->w, (size_t)in * sizeof(float), SAIL_WT_F32, NULL};
    if (l->pack_to && !panels_of(l) && sail_gemm_w_reads_packed(&l->wm, n)) pack_linear(l, out, in);
    return (sail_wmat){l->wm.data, l->wm.stride, l->wm.type, panels_of(l)};
}

/* 1 when l's product for n rows takes its input in bf16 (and with outb
 * gives its output so): then the bits are those of the floats. */
int linear_takes_bf16(const sail_linear *l, int n, int in, int out, int outb) {
    return !l->w && !l->la && sail_gemm_w_bf16_ok(&l->wm, n, out, in, outb);
}

void linear_bf16(fwd *f, const sail_linear *l, const uint16_t *x, int n, int in, int out, float *y,
                 uint16_t *yb, float beta, sail_post_fn post) {
    if (f->oom) return;
    sail_wmat wm = linear_wmat(l, n, in, out);
    sail_bf16_gemm g = {.M = n, .N = out, .K = in, .A = x, .lda = (size_t)in, .post = post, .bias = l->b,
                        .beta = beta, .C = y, .ldc = out, .Cb = yb, .ldcb = (size_t)out};
    sail_gemm_w_bf16(f->pool, &wm, &g);
}

/* Floats a task of a LayerNorm handed over quantised keeps on its stack:
 * it normalises a few rows into them while they are in L1 and quantises
 * them from there (so rows of at most this many values). */
#define LN_Q8_FLOATS 4096

/* 1 when l's product for n rows takes its input quantised (sail_gemm_w_q8a):
 * the bits are those of the floats. */
static int linear_takes_q8a(const sail_linear *l, int n, int in) {
    return !l->w && !l->la && sail_gemm_w_q8a_ok(&l->wm, n, in);
}

/* The same, from a LayerNorm of rows of in values. */
static int norm_to_q8a(const sail_linear *l, int n, int in) { return in <= LN_Q8_FLOATS && linear_takes_q8a(l, n, in); }

static void linear_q8a(fwd *f, const sail_linear *l, const sail_q8a *x, int n, int in, int out, float *y,
                       float beta, sail_post_fn post) {
    if (f->oom) return;
    sail_wmat wm = linear_wmat(l, n, in, out);
    sail_gemm_w_q8a(f->pool, n, out, in, x, &wm, post, l->b, beta, y, out);
}

/* linear_q8a into yq (quantised, after post) or, yq NULL, yb (bf16) instead
 * of floats: where sail_gemm_w_q8a_out_ok says, and the consumer takes
 * them (linear_takes_q8a; attention's bf16 rows). */
static void linear_q8a_out(fwd *f, const sail_linear *l, const sail_q8a *x, int n, int in, int out,
                           sail_q8a *yq, uint16_t *yb, sail_post_fn post) {
    if (f->oom) return;
    sail_wmat wm = linear_wmat(l, n, in, out);
    sail_gemm_w_q8a_out(f->pool, n, out, in, x, &wm, post, l->b, yq, yb, (size_t)out);
}

static sail_q8a *fwd_alloc_q8a(fwd *f, int rows, int cols) {
    return fwd_alloc_bytes(f, (size_t)rows * (size_t)(cols / 32) * sizeof(sail_q8a));
}

/* linear_forward, then y := post(y) (NULL: none); post is applied inside
 * the product where nothing comes between them (no LoRA). */
static void linear_post(fwd *f, const sail_linear *l, const float *x, int n, int in, int out, float *y,
                        float beta, sail_post_fn post) {
    if (f->oom) return;
    sail_wmat wm = linear_wmat(l, n, in, out);
    fwd_mark mark = fwd_mark_get(f);
    size_t need = sail_gemm_w_scratch(&wm, n, in);
    void *scratch = need ? fwd_alloc(f, (need + sizeof(float) - 1) / sizeof(float)) : NULL;
    if (f->oom) return;
    sail_gemm_w_post(f->pool, n, out, in, x, in, &wm, l->la ? NULL : post, l->b, beta, y, out, scratch);
    if (l->la) { /* LoRA: y += s (x A^T) B^T through the (n, rank) bottleneck */
        float *t = fwd_alloc(f, (size_t)n * l->rank); // (n, rank)
        if (f->oom) return;
        sail_gemm(f->pool, n, l->rank, in, x, in, l->la, in, 1, NULL, 0.0f, t, l->rank);
        for (size_t i = 0; i < (size_t)n * l->rank; i++) t[i] *= l->lscale;
        sail_gemm(f->pool, n, out, l->rank, t, l->rank, l->lb, l->rank, 1, NULL, 1.0f, y, out);
    }
    fwd_release(f, mark);
    if (l->la && post) act_run(f, post, y, y, (size_t)n * out);
}

void linear_forward(fwd *f, const sail_linear *l, const float *x, int n, int in,
                    int out, float *y, float beta) {
    linear_post(f, l, x, n, in, out, y, beta, NULL);
}

sail_linear linear_rows(const sail_linear *l, int r0, int in) {
    /* a view reads the parent's panels from row r0 when they are made and
     * r0 starts a panel; it never packs them itself */
    const char *panels = panels_of(l);
    sail_linear v = {
        .w = l->w ? l->w + (size_t)r0 * in : NULL,
        .b = l->b ? l->b + r0 : NULL,
        .wm = {l->wm.data ? (const char *)l->wm.data + (size_t)r0 * l->wm.stride : NULL, l->wm.stride, l->wm.type,
               panels && r0 % 16 == 0 ? panels + sail_gemm_w_packed_size(&l->wm, r0, in) : NULL},
        .la = l->la,
        .lb = l->lb ? l->lb + (size_t)r0 * l->rank : NULL,
        .rank = l->rank,
        .lscale = l->lscale,
    };
    return v;
}

const float *tab_row(const sail_wmat *t, int r, float *buf, int n) {
    const void *row = (const char *)t->data + (size_t)r * t->stride;
    if (t->type == SAIL_WT_F32) return row;
    sail_dequantize_row(t->type, buf, row, (size_t)n);
    return buf;
}

const float *tab_rows(fwd *f, const sail_wmat *t, int rows, int n) {
    if (t->type == SAIL_WT_F32) return t->data;
    float *buf = fwd_alloc(f, (size_t)rows * n);
    if (f->oom) return NULL;
    for (int r = 0; r < rows; r++) tab_row(t, r, buf + (size_t)r * n, n);
    return buf;
}

/* ---------------------------------------------- element- and row-wise -- */

/* Element-wise and row-wise work is split over the pool too: on 2 cores a
 * single-threaded GELU or LayerNorm would be a visible share of a layer.
 * The chunks do not depend on the pool size, so results never do. */
enum { CHUNK = 16384 };

typedef struct act_job {
    sail_post_fn fn;
    float *y;
    const float *x;
    size_t n;
} act_job;

static void act_task(void *ctx, int task, int thread) {
    const act_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, len = SAIL_MIN((size_t)CHUNK, j->n - lo);
    if (j->y != j->x) memcpy(j->y + lo, j->x + lo, len * sizeof(float));
    j->fn(j->y + lo, len);
}

/* y := fn(x) over the pool (y == x: in place). */
static void act_run(fwd *f, sail_post_fn fn, float *y, const float *x, size_t n) {
    act_job j = {fn, y, x, n};
    sail_pool_run(f->pool, act_task, &j, (int)((n + CHUNK - 1) / CHUNK));
}

void act_forward(fwd *f, sail_act act, float *y, const float *x, size_t n) {
    if (!f->oom) act_run(f, act_fn(f->k, act), y, x, n);
}

typedef struct norm_job {
    const sail_kernel_table *k;
    const sail_norm *nm;
    float *y;      /* NULL: only yb or yq */
    uint16_t *yb;  /* set: y also in bf16 */
    sail_q8a *yq;  /* set: only y quantised (quantize_q8a), y and yb NULL */
    const float *x;
    int rows, d, per_task;
    float eps;
} norm_job;

static void norm_task(void *ctx, int task, int thread) {
    const norm_job *j = ctx;
    int r0 = task * j->per_task, n = SAIL_MIN(j->per_task, j->rows - r0);
    size_t off = (size_t)r0 * j->d;
    if (j->yq) {
        float buf[LN_Q8_FLOATS];
        int step = SAIL_MAX(1, SAIL_MIN(SAIL_LN_ROWS, LN_Q8_FLOATS / j->d));
        size_t nb = (size_t)j->d / 32;
        for (int r = 0; r < n; r += step) {
            int nr = SAIL_MIN(step, n - r);
            j->k->layernorm(buf, j->x + off + (size_t)r * j->d, j->nm->w, j->nm->b, nr, j->d, j->eps);
            for (int i = 0; i < nr; i++)
                j->k->quantize_q8a(j->yq + (size_t)(r0 + r + i) * nb, buf + (size_t)i * j->d, j->d);
        }
        return;
    }
    if (!j->yb) {
        j->k->layernorm(j->y + off, j->x + off, j->nm->w, j->nm->b, n, j->d, j->eps);
        return;
    }
    if (!j->y) { /* the levels whose products take bf16 rows have it (kernels.h) */
        j->k->layernorm_bf16(j->yb + off, j->x + off, j->nm->w, j->nm->b, n, j->d, j->eps);
        return;
    }
    for (int r = 0; r < n; r += SAIL_LN_ROWS) { /* a few rows at a time: rounded while in L1 */
        int nr = SAIL_MIN(SAIL_LN_ROWS, n - r);
        size_t o = off + (size_t)r * j->d;
        j->k->layernorm(j->y + o, j->x + o, j->nm->w, j->nm->b, nr, j->d, j->eps);
        j->k->round_bf16(j->yb + o, j->y + o, (size_t)nr * j->d);
    }
}

/* LayerNorm of x's rows into y (NULL: none) and yb (bf16; NULL: none), or
 * only into yq (quantised; y and yb NULL). */
static void norm_run(fwd *f, const sail_norm *nm, float *y, uint16_t *yb, sail_q8a *yq, const float *x,
                     int rows, int d, float eps) {
    if (f->oom) return;
    int per_task = SAIL_MAX(1, CHUNK / d / SAIL_LN_ROWS) * SAIL_LN_ROWS;
    norm_job j = {f->k, nm, y, yb, yq, x, rows, d, per_task, eps};
    sail_pool_run(f->pool, norm_task, &j, (rows + j.per_task - 1) / j.per_task);
}

void norm_forward(fwd *f, const sail_norm *nm, float *y, const float *x, int rows,
                  int d, float eps) {
    norm_run(f, nm, y, NULL, NULL, x, rows, d, eps);
}

/* -------------------------------------------------------- attention -- */

typedef struct attn_job {
    const sail_kernel_table *k;
    const fwd_attn *a;
    float *p, *out;
} attn_job;

/* One (batch, head): S = scale Q K^T, masked softmax into P, O = P V. */
static void attn_store_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const fwd_attn *a = j->a;
    int b = task / a->H, h = task % a->H, Tq = a->Tq, Tk = a->Tk;
    float scale = 1.0f / sqrtf((float)a->hd);
    const float *q = a->q + (size_t)b * Tq * a->qs + (size_t)h * a->hd;  // (Tq, hd)
    const float *k = a->k + (size_t)b * Tk * a->kvs + (size_t)h * a->hd; // (Tk, hd)
    const float *v = a->v + (size_t)b * Tk * a->kvs + (size_t)h * a->hd; // (Tk, hd)
    const uint8_t *mask = a->mask ? a->mask + (size_t)b * Tk : NULL;     // (Tk)
    float *p = j->p + (size_t)task * Tq * Tk;                            // (Tq, Tk)
    j->k->gemm(Tq, Tk, a->hd, q, a->qs, k, a->kvs, 1, NULL, 0.0f, p, Tk);
    for (int t = 0; t < Tq; t++) {
        float *s = p + (size_t)t * Tk;
        for (int i = 0; i < Tk; i++)
            s[i] = (mask && !mask[i]) || (a->causal && i > t) ? -INFINITY : s[i] * scale;
    }
    j->k->softmax(p, Tq, Tk);
    j->k->gemm(Tq, a->hd, Tk, p, Tk, v, a->kvs, 0, NULL, 0.0f,
               j->out + (size_t)b * Tq * a->d + (size_t)h * a->hd, a->d);
}

int attn_bf16(const sail_linear *qkv) {
    return qkv->wm.type == SAIL_WT_BF16 || qkv->wm.type == SAIL_WT_Q8_0;
}

static sail_attn_args attn_args(const fwd_attn *a, float *out) {
    return (sail_attn_args){
        .B = a->B, .Tq = a->Tq, .Tk = a->Tk, .H = a->H, .hd = a->hd,
        .q = a->q, .q_stride = a->qs, .k = a->k, .k_stride = a->kvs, .v = a->v, .v_stride = a->kvs,
        .out = out, .out_stride = a->d, .key_mask = a->mask, .causal = a->causal,
        .scale = 1.0f / sqrtf((float)a->hd), .bf16 = a->bf16,
        .qb = a->qb, .kb = a->kb, .vb = a->vb, .out_b = a->out_b, .out_q = a->out_q,
    };
}

/* 1 when attention_forward (streaming) takes a's q, k, v (in) or gives
 * its output (!in) in bf16. */
static int attn_takes_bf16(const fwd_attn *a, int in) {
    sail_attn_args args = attn_args(a, NULL);
    return sail_attention_bf16_ok(&args, in);
}

/* 1 when it gives its output quantised. */
static int attn_gives_q8a(const fwd_attn *a) {
    sail_attn_args args = attn_args(a, NULL);
    return sail_attention_q8a_ok(&args);
}

void attention_forward(fwd *f, const fwd_attn *a, float *p, float *out) {
    if (f->oom) return;
    if (p) {
        attn_job j = {f->k, a, p, out};
        sail_pool_run(f->pool, attn_store_task, &j, a->B * a->H);
        return;
    }
    fwd_mark mark = fwd_mark_get(f);
    sail_attn_args args = attn_args(a, out);
    float *scratch = fwd_alloc(f, sail_attention_scratch(sail_pool_size(f->pool), &args));
    if (f->oom) return;
    sail_attention(f->pool, &args, scratch);
    fwd_release(f, mark);
}

/* ----------------------------------------------------------- blocks -- */

/* The MLP at inference where both products take bf16: LayerNorm and the
 * activation write bf16 rows (half the bytes of floats, and rounded once)
 * and the up projection's output never exists as floats. */
static int ffn_bf16(fwd *f, const sail_tower *t, const sail_block *w, int n) {
    return !f->keep && linear_takes_bf16(&w->up, n, t->width, t->ffn, 1) &&
           linear_takes_bf16(&w->down, n, t->ffn, t->width, 0);
}

static void ffn_forward_bf16(fwd *f, const sail_tower *t, const sail_block *w, fwd_block *s, int n) {
    fwd_mark mark = fwd_mark_get(f);
    int d = t->width;
    size_t nd = (size_t)n * d;
    uint16_t *h2 = fwd_alloc_bf16(f, n, d), *a = fwd_alloc_bf16(f, n, t->ffn);
    if (f->oom) return;
    /* post-norm: LN1 in place in r1 (the residual), and in bf16 */
    norm_run(f, t->prenorm ? &w->norm2 : &w->norm1, t->prenorm ? NULL : s->r1, h2, NULL, s->r1, n, d, t->eps);
    linear_bf16(f, &w->up, h2, n, d, t->ffn, NULL, a, 0, act_fn(f->k, t->act));
    float *res = t->prenorm ? s->out : s->r2;
    if (res != s->r1) memcpy(res, s->r1, nd * sizeof(float));
    linear_bf16(f, &w->down, a, n, t->ffn, d, res, NULL, 1, NULL);
    if (!t->prenorm) norm_forward(f, &w->norm2, s->out, s->r2, n, d, t->eps);
    fwd_release(f, mark);
}

void ffn_forward(fwd *f, const sail_tower *t, const sail_block *w, fwd_block *s, int n) {
    if (ffn_bf16(f, t, w, n)) {
        s->r2 = t->prenorm ? NULL : s->out;
        ffn_forward_bf16(f, t, w, s, n);
        return;
    }
    fwd_mark mark = fwd_mark_get(f);
    size_t nd = (size_t)n * t->width, nf = (size_t)n * t->ffn;
    int keep = f->keep, d = t->width;
    /* inference: LN1 of a post-norm block runs in place, the activation too */
    /* inference, pre-norm, q8_0: LN2 hands its rows to the up projection
     * quantised, and that its activated output to the down projection */
    int h2q = !keep && t->prenorm && norm_to_q8a(&w->up, n, d);
    int aq = h2q && sail_gemm_w_q8a_out_ok(&w->up.wm, n, t->ffn, d) && linear_takes_q8a(&w->down, n, t->ffn);
    s->h2 = h2q ? NULL : keep || t->prenorm ? fwd_alloc(f, nd) : s->r1;
    sail_q8a *h2x = h2q ? fwd_alloc_q8a(f, n, d) : NULL, *ax = aq ? fwd_alloc_q8a(f, n, t->ffn) : NULL;
    s->u = aq ? NULL : fwd_alloc(f, nf);
    s->a = keep ? fwd_alloc(f, nf) : s->u;
    s->r2 = t->prenorm ? NULL : keep ? fwd_alloc(f, nd) : s->out;
    if (f->oom) return;
    if (h2q) {
        norm_run(f, &w->norm2, NULL, NULL, h2x, s->r1, n, d, t->eps);
        if (aq) linear_q8a_out(f, &w->up, h2x, n, d, t->ffn, ax, NULL, act_fn(f->k, t->act));
        else linear_q8a(f, &w->up, h2x, n, d, t->ffn, s->a, 0, act_fn(f->k, t->act));
    } else {
        norm_forward(f, t->prenorm ? &w->norm2 : &w->norm1, s->h2, s->r1, n, d, t->eps);
        if (keep) { /* training keeps u, the activation's input */
            linear_forward(f, &w->up, s->h2, n, d, t->ffn, s->u, 0);
            act_forward(f, t->act, s->a, s->u, nf);
        } else {
            linear_post(f, &w->up, s->h2, n, d, t->ffn, s->a, 0, act_fn(f->k, t->act));
        }
    }
    float *res = t->prenorm ? s->out : s->r2;
    const float *src = t->prenorm ? s->r1 : s->h2;
    if (res != src) memcpy(res, src, nd * sizeof(float));
    if (aq) linear_q8a(f, &w->down, ax, n, t->ffn, d, res, 1, NULL);
    else linear_forward(f, &w->down, s->a, n, t->ffn, d, res, 1);
    if (!t->prenorm) norm_forward(f, &w->norm2, s->out, s->r2, n, d, t->eps);
    if (!keep) fwd_release(f, mark);
}

void map_head_forward(fwd *f, const sail_tower *t, const sail_block *w, const float *probe,
                      fwd_block *s, const float *x, int B, int T, float *out) {
    if (f->oom) return;
    int d = t->width, keep = f->keep;
    size_t rk = (size_t)B * T;
    *s = (fwd_block){.B = B, .T = 1, .Tk = T, .x = x, .out = out};
    fwd_mark mark = fwd_mark_get(f);
    s->qkv = fwd_alloc(f, (size_t)B * d);
    s->kv = fwd_alloc(f, rk * 2 * d);
    s->p = keep ? fwd_alloc(f, (size_t)B * t->heads * T) : NULL;
    s->att = fwd_alloc(f, (size_t)B * d);
    s->r1 = keep ? fwd_alloc(f, (size_t)B * d) : out;
    if (f->oom) return;
    /* the probe's query is the same for every item: computed once, copied */
    sail_linear wq = linear_rows(&w->qkv, 0, d), wkv = linear_rows(&w->qkv, d, d);
    linear_forward(f, &wq, probe, 1, d, d, s->qkv, 0);
    for (int i = 1; i < B; i++) memcpy(s->qkv + (size_t)i * d, s->qkv, (size_t)d * sizeof(float));
    linear_forward(f, &wkv, x, (int)rk, d, 2 * d, s->kv, 0);
    fwd_attn a = {.B = B, .Tq = 1, .Tk = T, .H = t->heads, .hd = d / t->heads, .d = d, .q = s->qkv, .qs = d,
                  .k = s->kv, .v = s->kv + d, .kvs = 2 * d, .bf16 = attn_bf16(&w->qkv)};
    attention_forward(f, &a, s->p, s->att);
    linear_forward(f, &w->out, s->att, B, d, d, s->r1, 0);
    if (!keep) fwd_release(f, mark);
    sail_tower pre = *t;
    pre.prenorm = 1;
    ffn_forward(f, &pre, w, s, B);
}

void block_forward(fwd *f, const sail_tower *t, const sail_block *w, fwd_block *s,
                   const float *x, float *out, int B, int T, const uint8_t *mask, int causal) {
    if (f->oom) return;
    fwd_mark mark = fwd_mark_get(f);
    int d = t->width, n = B * T, keep = f->keep;
    size_t nd = (size_t)n * d;
    *s = (fwd_block){.B = B, .T = T, .Tk = T, .causal = causal, .mask = mask, .x = x, .out = out};
    fwd_attn a = {.B = B, .Tq = T, .Tk = T, .H = t->heads, .hd = d / t->heads, .d = d, .qs = 3 * d,
                  .kvs = 3 * d, .mask = mask, .causal = causal, .bf16 = attn_bf16(&w->qkv)};
    /* inference: LN1 (pre-norm) to qkv, qkv to attention and attention to
     * its projection in bf16, each where both ends take it */
    int h1b = !keep && t->prenorm && linear_takes_bf16(&w->qkv, n, d, 3 * d, 0);
    int qkvb = h1b && linear_takes_bf16(&w->qkv, n, d, 3 * d, 1) && attn_takes_bf16(&a, 1);
    int attb = !keep && attn_takes_bf16(&a, 0) && linear_takes_bf16(&w->out, n, d, d, 0);
    int attq = !keep && !attb && attn_gives_q8a(&a) && linear_takes_q8a(&w->out, n, d); /* or quantised */
    int h1q = !keep && t->prenorm && !h1b && norm_to_q8a(&w->qkv, n, d); /* the same, quantised */
    /* and from those blocks, qkv to attention in bf16 */
    int qkvq = h1q && sail_gemm_w_q8a_out_ok(&w->qkv.wm, n, 3 * d, d) && attn_takes_bf16(&a, 1);
    s->h1 = h1b || h1q ? NULL : t->prenorm ? fwd_alloc(f, nd) : (float *)x;
    sail_q8a *h1x = h1q ? fwd_alloc_q8a(f, n, d) : NULL;
    uint16_t *h1 = h1b ? fwd_alloc_bf16(f, n, d) : NULL, *qkv = qkvb || qkvq ? fwd_alloc_bf16(f, n, 3 * d) : NULL;
    uint16_t *att = attb ? fwd_alloc_bf16(f, n, d) : NULL;
    sail_q8a *attx = attq ? fwd_alloc_q8a(f, n, d) : NULL;
    s->qkv = qkv ? NULL : fwd_alloc(f, 3 * nd);
    s->att = attb || attq ? NULL : fwd_alloc(f, nd);
    s->p = keep ? fwd_alloc(f, (size_t)B * t->heads * T * T) : NULL;
    s->r1 = keep ? fwd_alloc(f, nd) : out;
    if (f->oom) return;
    if (h1b) {
        norm_run(f, &w->norm1, NULL, h1, NULL, x, n, d, t->eps);
        linear_bf16(f, &w->qkv, h1, n, d, 3 * d, s->qkv, qkv, 0, NULL);
    } else if (h1q) {
        norm_run(f, &w->norm1, NULL, NULL, h1x, x, n, d, t->eps);
        if (qkv) linear_q8a_out(f, &w->qkv, h1x, n, d, 3 * d, NULL, qkv, NULL);
        else linear_q8a(f, &w->qkv, h1x, n, d, 3 * d, s->qkv, 0, NULL);
    } else {
        if (t->prenorm) norm_forward(f, &w->norm1, s->h1, x, n, d, t->eps);
        linear_forward(f, &w->qkv, s->h1, n, d, 3 * d, s->qkv, 0);
    }
    if (qkv) a.qb = qkv, a.kb = qkv + d, a.vb = qkv + 2 * d;
    else a.q = s->qkv, a.k = s->qkv + d, a.v = s->qkv + 2 * d;
    a.out_b = att, a.out_q = attx;
    attention_forward(f, &a, s->p, s->att);
    if (s->r1 != x) memcpy(s->r1, x, nd * sizeof(float));
    if (att) linear_bf16(f, &w->out, att, n, d, d, s->r1, NULL, 1, NULL);
    else if (attx) linear_q8a(f, &w->out, attx, n, d, d, s->r1, 1, NULL);
    else linear_forward(f, &w->out, s->att, n, d, d, s->r1, 1);
    if (!keep) fwd_release(f, mark);
    ffn_forward(f, t, w, s, n);
}
