/* q8_driver.h: the packed loop nest shared by the q8_0 GEMMs of the avx2
 * level (gemm_quant_avx2.c, vpmaddubsw) and the avx512vnni level
 * (gemm_vnni_avx512.c, vpdpbusd), as gemm_driver.h is for the f32 panels.
 * A (kb-block, nc-column) slice of W is packed into 16-column panels (or
 * read from the model's panels), strips of mr rows of A are packed, and
 * the microkernel runs a strip against nr columns: tile by tile of W over
 * all strips, or strip by strip when A is large (q8_slice). Each file
 * describes its blocking and its three pieces in a
 * constant q8_nest, so the calls resolve at compile time. */
#ifndef SAIL_Q8_DRIVER_H
#define SAIL_Q8_DRIVER_H

#include "kernels_impl.h"
#include "common.h"

typedef struct q8_nest {
    int mr;             /* rows of A per strip */
    int kb;             /* blocks per K slice */
    int nc;             /* columns per slice of W packed here */
    size_t slice_bytes; /* with W's panels packed at load: slices of up to
                         * this many bytes (0: nc columns), so each strip of
                         * A is packed once per slice (q8_slice_cols) */
    int pb;             /* bytes per (16-column panel, block) */
    int nr;             /* columns per microkernel: 16, or 32 as two panels */
    size_t strip_bytes; /* one packed strip of A: kb blocks of mr rows */
    size_t tiles_max;   /* a slice's strips up to this many bytes run tile by
                         * tile (q8_slice); 0: always strip by strip */
    /* Rows [0, nr) of W (nr <= 16), blocks [0, kb), into one panel. */
    void (*pack_panel)(const uint8_t *W, size_t ldw, int nr, int kb, uint8_t *dst);
    /* Rows [0, mr) of the quantised A, blocks [0, kb), into strip; the
     * rows up to the nest's mr add nothing. */
    void (*pack_strip)(const sail_q8a *A, size_t lda, int mr, int kb, uint8_t *strip);
    /* C(mr, nr) (+)= strip times the panels from P (pstride bytes apart)
     * [+ bias]; accum: add to C. next: NULL, or the panels the next call
     * reads (laid out as P's), to be prefetched block by block (with
     * those further on, pstride apart: a prefetch past the end is harmless). */
    void (*kernel)(int kb, const uint8_t *strip, const uint8_t *P, size_t pstride, float *C,
                   int ldc, int mr, int nr, int accum, const float *bias, const uint8_t *next);
} q8_nest;

/* Where a nest's results go quantised or in bf16 instead of into C
 * (gemm_q8_0_q8a): strip by strip, the kernel calls write the strip's rows
 * of the slice to `tile` (rows tile_ld floats apart, in L1), and then each row,
 * post applied, goes to rows (one slice of k, nc a multiple of 32). A row
 * at a time, not a tile: 32 floats a call of post and of the quantiser
 * cost ViT-S's MLP more than they saved. */
typedef struct q8_out {
    sail_post_fn post;
    sail_rows_out rows;
    float *tile;
    int tile_ld;        /* the tile's rows: the slice's columns at most */
    void (*quantize)(sail_q8a *dst, const float *x, int n);
} q8_out;

/* o with its rows starting col columns on (a multiple of 32). */
static inline q8_out q8_out_at(const q8_out *o, int col) {
    q8_out s = *o;
    if (s.rows.q) s.rows.q += col / 32;
    else s.rows.b += col;
    return s;
}

/* n values (a multiple of 32) of row r of the result, post applied, to o's rows. */
static inline void q8_emit(const q8_out *o, size_t r, const float *x, int n) {
    if (o->rows.q) o->quantize(o->rows.q + r * o->rows.ld, x, n);
    else o->rows.round(o->rows.b + r * o->rows.ld, x, (size_t)n);
}

/* Bytes of W (N rows, nb blocks) as whole-K panels: panel p (rows 16p ..
 * 16p+15, the missing ones zero) holds its nb blocks one after another. */
static inline size_t q8_panels_size(const q8_nest *q, int N, int nb) {
    return (size_t)((N + 15) / 16) * (size_t)nb * (size_t)q->pb;
}

/* W into whole-K panels (q8_panels_size bytes at dst), once per model: the
 * GEMMs then skip packing (at 16 rows of A it was two thirds of the work). */
static inline void q8_pack_panels(const q8_nest *q, const uint8_t *W, size_t ldw, int N, int nb,
                                  uint8_t *dst) {
    for (int j = 0; j < N; j += 16)
        q->pack_panel(W + (size_t)j * ldw, ldw, SAIL_MIN(16, N - j), nb,
                      dst + (size_t)(j / 16) * nb * q->pb);
}

/* Strip s of A (rows lda blocks apart, M of them; blocks [0, kb)) into
 * strip, the rows two strips on asked for meanwhile. */
static inline void q8_strip(const q8_nest *q, const sail_q8a *A, size_t lda, int M, int s, int kb,
                            uint8_t *strip) {
    int ir = s * q->mr;
    sail_prefetch_ahead(A, lda * sizeof(sail_q8a), M, ir, q->mr, (size_t)kb * sizeof(sail_q8a));
    q->pack_strip(A + (size_t)ir * lda, lda, SAIL_MIN(q->mr, M - ir), kb, strip);
}

/* The avx2 and avx512vnni nests' tiles_max: up to it all of A is packed
 * first and the loops run tile by tile of W (q8_slice); past it, strip by
 * strip, the GotoBLAS order. Half of Zen 3's L2, a quarter of Zen 5's. (The
 * amx nest keeps the strip order it was measured with.) */
#define Q8_TILE_ORDER_BYTES (256 * 1024)

/* One (kb-block, nc-column) slice of W (panels from P, pstride bytes apart)
 * against M rows of A (lda blocks apart). tiles = 0: strip by strip, each
 * packed here into strips, the slice of W read from L2 by every strip.
 * tiles = 1: the caller packed every strip (strip_bytes apart from
 * strips), and each tile of W, once in L1, serves all of them. A block of
 * the vnni level's 6 x 32 kernel reads 1152 bytes of W and 240 of A (the
 * avx2 level's 3 x 16: 1088 and 108), so L2 then moves the smaller
 * operand. And the first strip fetches the next tile's panels while the
 * other strips compute, so memory streams beside the arithmetic; at 16
 * rows of A, the strip-by-strip order read the slice from memory in the
 * first strip's pass and then left memory idle. */
static inline void q8_slice(const q8_nest *q, int tiles, int M, int nc, int kb, const sail_q8a *A,
                            size_t lda, const uint8_t *P, size_t pstride, uint8_t *strips,
                            int accum, const float *bias, float *C, int ldc, const q8_out *out) {
    int nstrips = (M + q->mr - 1) / q->mr, ntiles = (nc + q->nr - 1) / q->nr;
    for (int outer = 0; outer < (tiles ? ntiles : nstrips); outer++)
        for (int inner = 0; inner < (tiles ? nstrips : ntiles); inner++) {
            int s = tiles ? inner : outer, jr = (tiles ? outer : inner) * q->nr;
            int ir = s * q->mr, mr = SAIL_MIN(q->mr, M - ir), nr = SAIL_MIN(q->nr, nc - jr);
            uint8_t *strip = strips + (tiles ? (size_t)s * q->strip_bytes : 0);
            if (!tiles && jr == 0) q8_strip(q, A, lda, M, s, kb, strip);
            /* The first strip meets each tile first, from memory or L3: it
             * fetches the next tile's panels as it goes. */
            const uint8_t *next = s == 0 && jr + q->nr < nc ? P + (size_t)((jr + q->nr) / 16) * pstride : NULL;
            if (out) { /* strip by strip (q8_packed) */
                q->kernel(kb, strip, P + (size_t)(jr / 16) * pstride, pstride, out->tile + jr, out->tile_ld, mr, nr, 0,
                          bias ? bias + jr : NULL, next);
                for (int i = 0; jr + nr == nc && i < mr; i++) {
                    float *row = out->tile + (size_t)i * out->tile_ld;
                    if (out->post) out->post(row, (size_t)nc);
                    q8_emit(out, (size_t)(ir + i), row, nc);
                }
                continue;
            }
            sail_prefetch_ahead(C + jr, ldc * sizeof(float), M, ir, q->mr, nr * sizeof(float));
            q->kernel(kb, strip, P + (size_t)(jr / 16) * pstride, pstride, C + (size_t)ir * ldc + jr, ldc,
                      mr, nr, accum, bias ? bias + jr : NULL, next);
        }
}

/* q8_packed's result by the reference, where the nest has no memory: into
 * C, or a row at a time through a row of floats on the stack into out's
 * rows (the same sums). */
static inline void q8_packed_ref(int M, int N, int nb, const sail_q8a *A, size_t lda, const uint8_t *W,
                                 size_t ldw, const float *bias, float beta, float *C, int ldc,
                                 const q8_out *out) {
    int K = nb * SAIL_Q8_0_BLOCK;
    if (!out) {
        sail_gemm_q8_0_ref(M, N, K, A, lda, W, ldw, NULL, bias, beta, C, ldc);
        return;
    }
    float row[32];
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n += 32) {
            sail_gemm_q8_0_ref(1, 32, K, A + (size_t)m * lda, lda, W + (size_t)n * ldw, ldw, NULL,
                               bias ? bias + n : NULL, 0.0f, row, 32);
            if (out->post) out->post(row, 32);
            q8_out at = q8_out_at(out, n);
            q8_emit(&at, (size_t)m, row, 32);
        }
}

/* Columns per slice of W (kb blocks deep) for N of them: nc when W is
 * packed here (the buffer's width), else as many whole 32-column tiles as
 * slice_bytes holds, at least nc, split evenly. A strip of A is packed
 * once per slice: at ViT-S's 576- and 768-column products (a thread's half
 * of qkv and of fc1) one slice, not 512 columns and a tail. */
static inline int q8_slice_cols(const q8_nest *q, int N, int kb, int packed) {
    if (!packed || !q->slice_bytes) return q->nc;
    int most = SAIL_MAX(q->nc, (int)(q->slice_bytes / ((size_t)kb * q->pb / 16)) / 32 * 32);
    int slices = (N + most - 1) / most;
    return SAIL_MIN(most, ((N + slices - 1) / slices + 31) / 32 * 32);
}

/* C = bias + beta C + A W^T over nb > 0 blocks of K; Wp: W packed by
 * q8_pack_panels, or NULL to pack slices of it here. out: NULL, or where the
 * result goes instead of C (q8_out; beta 0, nb at most a slice). */
static inline void q8_packed(const q8_nest *q, int M, int N, int nb, const sail_q8a *A,
                             size_t lda, const uint8_t *W, size_t ldw, const uint8_t *Wp,
                             const float *bias, float beta, float *C, int ldc, const q8_out *out) {
    size_t wbytes = Wp ? 0 : (size_t)(q->nc / 16) * q->kb * q->pb;
    int kslices = (nb + q->kb - 1) / q->kb, kstep = (nb + kslices - 1) / kslices;
    int nstrips = (M + q->mr - 1) / q->mr;
    int tiles = !out && (size_t)nstrips * q->strip_bytes / q->kb * kstep <= q->tiles_max;
    size_t sbytes = (size_t)(tiles ? kslices * nstrips : 1) * q->strip_bytes;
    int ncs = q8_slice_cols(q, N, kstep, Wp != NULL);
    size_t tbytes = out ? (size_t)q->mr * ncs * sizeof(float) : 0;
    float *buf = sail_gemm_pack_buffer((wbytes + sbytes + tbytes) / sizeof(float));
    if (!buf) { /* out of memory: still give the right answer */
        q8_packed_ref(M, N, nb, A, lda, W, ldw, bias, beta, C, ldc, out);
        return;
    }
    uint8_t *Bp = (uint8_t *)buf;  // (nc/16 panels, kb, pb)
    uint8_t *strips = Bp + wbytes; // one strip; with tiles, all: (kslices, nstrips, strip)
    q8_out base = out ? *out : (q8_out){0}, o = base; /* o: base at the slice's columns */
    base.tile = (float *)(strips + sbytes), base.tile_ld = ncs;
    for (int pb = 0; tiles && pb < nb; pb += kstep)
        for (int s = 0; s < nstrips; s++)
            q8_strip(q, A + pb, lda, M, s, SAIL_MIN(kstep, nb - pb),
                     strips + (size_t)(pb / kstep * nstrips + s) * q->strip_bytes);
    for (int jc = 0; jc < N; jc += ncs) {
        int nc = SAIL_MIN(ncs, N - jc);
        for (int pb = 0; pb < nb; pb += kstep) {
            int kb = SAIL_MIN(kstep, nb - pb);
            size_t pstride = (size_t)(Wp ? nb : kb) * q->pb;
            if (Wp)
                Bp = (uint8_t *)Wp + (size_t)(jc / 16) * pstride + (size_t)pb * q->pb;
            else
                for (int j = 0; j < nc; j += 16)
                    q->pack_panel(W + (size_t)(jc + j) * ldw + (size_t)pb * (2 + SAIL_Q8_0_BLOCK), ldw,
                                  SAIL_MIN(16, nc - j), kb, Bp + (size_t)(j / 16) * pstride);
            uint8_t *slice = strips + (tiles ? (size_t)(pb / kstep) * nstrips * q->strip_bytes : 0);
            if (out) o = q8_out_at(&base, jc);
            q8_slice(q, tiles, M, nc, kb, A + pb, lda, Bp, pstride, slice, pb > 0 || beta != 0.0f,
                     pb == 0 && bias ? bias + jc : NULL, out ? NULL : C + jc, ldc, out ? &o : NULL);
        }
    }
}

/* The table's gemm_q8_0_q8a on nest q, quantising with the level's
 * quantize_q8a: the reference's sums where there are no products or more
 * than one slice of k. */
static inline void q8_packed_q8a(const q8_nest *q, void (*quantize)(sail_q8a *, const float *, int), int M,
                                 int N, int K, const sail_q8a *A, size_t lda, const uint8_t *W, size_t ldw,
                                 const uint8_t *Wp, sail_post_fn post, const float *bias,
                                 const sail_rows_out *rows) {
    if (M <= 0 || N <= 0) return;
    q8_out out = {post, *rows, NULL, 0, quantize};
    int nb = K / SAIL_Q8_0_BLOCK;
    if (nb <= 0 || nb > q->kb) q8_packed_ref(M, N, nb, A, lda, W, ldw, bias, 0.0f, NULL, 0, &out);
    else q8_packed(q, M, N, nb, A, lda, W, ldw, Wp, bias, 0.0f, NULL, 0, &out);
}

#endif
