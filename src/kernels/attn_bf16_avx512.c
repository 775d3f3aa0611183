/* attn_bf16_avx512.c: attention with both products on vdpbf16ps (the
 * avx512bf16 level's attn_pack_kv and attn_block_bf16), for models whose
 * weights are bf16 or q8_0. Compiled with -mavx512bf16; nothing else but
 * gemm_bf16_avx512.c is.
 *
 * q * scale, k, v and the unnormalised probabilities e^(s - max) are
 * rounded to bf16 (nearest even, vcvtneps2bf16), each row's output divided
 * by the f32 sum of its rounded exponentials; each product of two bf16 is
 * exact in f32 and the sums are f32, so a block equals
 * sail_attn_block_bf16_ref (attention.c) but for the order of the sums. In
 * f32 the two products of ViT-S's attention ran at about half the FMA
 * peak, a quarter of its q8_0 forward.
 *
 * sail_attention rounds each head's k and v once per call, into the bf16
 * GEMM's panels (kernels_impl.h: sail_attn_kv_bytes): K as panels of 16
 * keys over pairs of dims, V as panels of 16 dims over pairs of keys. A
 * block of query rows then runs S = Q K^T (sail_gemm_bf16_panels), the
 * exponentials of each row of S, rounded as they are written back over
 * the row as bf16 (P), and O = P V divided by each row's sum. The amx
 * level runs the same with both products on AMX tiles
 * (gemm_amx_avx512.c). */
#include "kernels_impl.h"
#include "common.h"
#include "pack16x8.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* x[0, n) (zeros past n, n may be <= 0), 32 floats, as 32 bf16 in order. */
static inline __m512i round32(const float *x, int n, __m512 scale) {
    __m512 lo = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(n), x), scale);
    __m512 hi = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(n - 16), x + 16), scale);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Rows of floats, or of bf16 already rounded (b set), ld values apart. */
typedef struct rows_src { const float *f; const uint16_t *b; size_t ld; } rows_src;

/* Head h of batch b's rows (T of them per batch) of x or xb. */
static rows_src head_rows(const float *x, const uint16_t *xb, int stride, int T, int b, int h, int hd) {
    size_t off = ((size_t)b * T) * stride + (size_t)h * hd;
    return (rows_src){xb ? NULL : x + off, xb ? xb + off : NULL, (size_t)stride};
}

/* Asks for row j of r (n values from column c) when it is one: a head's
 * rows lie a row of q, k and v apart (4.5 KB in ViT-S), a line or four
 * each, so no hardware prefetcher runs ahead of them and each waited on
 * L3 (packing K, V and Q was 7% of ViT-S batch 8's q8_0 forward). */
static inline void row_ahead(const rows_src *r, int j, int rows, int c, int n) {
    if (j >= rows) return;
    const char *p = r->b ? (const char *)(r->b + (size_t)j * r->ld + c) : (const char *)(r->f + (size_t)j * r->ld + c);
    size_t bytes = (size_t)n * (r->b ? 2 : 4);
    for (size_t l = 0; l < bytes; l += 64) _mm_prefetch(p + l, _MM_HINT_T0);
    _mm_prefetch(p + bytes - 1, _MM_HINT_T0);
}

/* Row j of r from column c, n values (zeros past n, n may be <= 0), 32 of
 * them times scale as bf16 in order. From bf16 rows the product is exact
 * for a power-of-two scale: the same bits as from the floats. */
static inline __m512i q_scaled(const rows_src *r, size_t j, int c, int n, __m512 scale) {
    if (!r->b) return round32(r->f + j * r->ld + c, n, scale);
    __m512i h = _mm512_maskz_loadu_epi16(mask32(n), r->b + j * r->ld + c);
    __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    __m512 hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, scale), _mm512_mul_ps(lo, scale));
}

/* Row j of r from column c: n values (n <= 16; zeros past n) as bf16. */
static inline __m256i bf16_16(const rows_src *r, size_t j, int c, int n) {
    if (r->b) return _mm256_maskz_loadu_epi16(mask16(n), r->b + j * r->ld + c);
    __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask16(n), r->f + j * r->ld + c));
    __m256i v;
    memcpy(&v, &h, 32);
    return v;
}

/* K: per 16 keys and 16 dims, the keys' dims rounded (16 bf16 = 8 pairs
 * each) and transposed by pairs, as pack16x8 does weight rows. */
static inline __m256i round_key(const rows_src *k, int Tk, int j, int d0, int n) {
    return j < Tk ? bf16_16(k, (size_t)j, d0, n) : _mm256_setzero_si256();
}

static void pack_k(const rows_src *k, int Tk, int hd, uint8_t *dst) {
    int hp = (hd + 1) / 2;
    size_t hp16 = sail_attn_pairs(hd);
    for (int j0 = 0; j0 < Tk; j0 += 16, dst += hp16 * 64) {
        for (int j = j0 ? j0 + 32 : 0; j < j0 + 48; j++) row_ahead(k, j, Tk, 0, hd);
        for (int d0 = 0; d0 < hd; d0 += 16) {
            __m512i z[8];
            for (int r = 0; r < 8; r++)
                z[r] = _mm512_inserti64x4(_mm512_castsi256_si512(round_key(k, Tk, j0 + r, d0, hd - d0)),
                                          round_key(k, Tk, j0 + r + 8, d0, hd - d0), 1);
            transpose16x8(z, dst + (size_t)(d0 / 2) * 64, SAIL_MIN(8, hp - d0 / 2));
        }
        memset(dst + (size_t)hp * 64, 0, (hp16 - (size_t)hp) * 64);
    }
}

/* V: per 16 dims and pair of keys, the two keys' 16 values interleaved. */
static void pack_v(const rows_src *v, int Tk, int hd, uint8_t *dst) {
    int kp = (Tk + 1) / 2;
    size_t kp16 = sail_attn_pairs(Tk);
    const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int d0 = 0; d0 < hd; d0 += 16, dst += kp16 * 64) {
        int n = hd - d0;
        memset(dst + (size_t)kp * 64, 0, (kp16 - (size_t)kp) * 64);
        for (int p = 0; p < kp; p++) {
            if (d0 == 0) {
                row_ahead(v, 2 * p + 16, Tk, 0, hd);
                row_ahead(v, 2 * p + 17, Tk, 0, hd);
            }
            __m256i a = bf16_16(v, (size_t)(2 * p), d0, n);
            __m256i b = 2 * p + 1 < Tk ? bf16_16(v, (size_t)(2 * p + 1), d0, n) : _mm256_setzero_si256();
            __m512i ab = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1); /* a's 16, then b's 16 */
            _mm512_storeu_si512(dst + (size_t)p * 64, _mm512_permutexvar_epi16(pairs, ab));
        }
    }
}

void sail_attn_pack_kv_bf16(const sail_attn_args *a, int b, int h, uint8_t *kv) {
    rows_src k = head_rows(a->k, a->kb, a->k_stride, a->Tk, b, h, a->hd);
    rows_src v = head_rows(a->v, a->vb, a->v_stride, a->Tk, b, h, a->hd);
    pack_k(&k, a->Tk, a->hd, kv);
    pack_v(&v, a->Tk, a->hd, kv + sail_attn_k_bytes(a->Tk, a->hd));
}

/* e^(x - max) of x[0, n) (n <= 16; zeros past n, none if n <= 0) as 2^t,
 * t = (x - max) log2 e, the difference first: the max's t is exactly 0
 * and its exponential exactly 1, as the oracle's (an FMA with -max log2 e
 * rounded left the max's at 1 +- 2e-5 of scores in the hundreds, which
 * the output's division by the sum kept and the row's bf16 1 did not). t's
 * fraction f = t - round(t) in one vreduceps (exact; 4% faster than a
 * vrndscaleps and a subtraction), its integer part by vscalefps and 2^f,
 * |f| <= 1/2, by a degree-4 polynomial with constant term 1 (relative
 * error 3.0e-6 evaluated in f32, a 650th of the bf16 rounding that
 * follows, within the 1e-5 of a rounding boundary that test_attn_bf16's
 * oracle lets go either way; minimax by reweighted least squares on 20000
 * points; degree 5 was one FMA more for 1.6e-7: ViT-S b8 5.43 -> 5.38
 * ms). Half the instructions of ops_simd.h's v_exp, whose range
 * reduction and clamps vscalefps makes unneeded. t is clamped
 * at -150, where n = t and 2^f = 1: 2^-150 rounds to 0. The scores may
 * come scaled by s, l2e then log2 e / s (a power of two: the same t as
 * from the scaled scores, bit for bit). */
static inline __m512 exp_n(const float *x, int n, __m512 l2e, __m512 mx) {
    __mmask16 m = mask16(n);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x), mx);
    __m512 t = _mm512_max_ps(_mm512_mul_ps(d, l2e), _mm512_set1_ps(-150.0f));
    __m512 f = _mm512_reduce_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); /* t - round(t), exact */
    __m512 k = _mm512_sub_ps(t, f);
    __m512 p = _mm512_set1_ps(9.585735388e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.591332912e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402407676e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931232214e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(m, p, k);
}

/* A row of scores x[0, n) becomes its unnormalised probabilities e^(x -
 * max) rounded to bf16 over itself, n2 >= n of them (zero past n; all zero
 * for a row of only -inf); returns the f32 sum of the rounded ones, by
 * which the row's output is divided, so the probabilities that weigh v
 * sum to 1 and f32 error in the scores moves the output only where it
 * moves a rounding, as it did when the normalised row was rounded. One
 * pass that rounds as it goes, not a second that normalises the row. Each
 * 32-float load is read before the 64 bytes it leaves are written, and
 * those lie below it. */
static float row_exp(float *x, int n, int n2, float l2e_scaled) {
    /* four chains of maxima: one alone waits on each max's latency */
    __m512 vmax = _mm512_set1_ps(-INFINITY), m1 = vmax, m2 = vmax, m3 = vmax;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
        m2 = _mm512_max_ps(m2, _mm512_loadu_ps(x + i + 32));
        m3 = _mm512_max_ps(m3, _mm512_loadu_ps(x + i + 48));
    }
    vmax = _mm512_max_ps(_mm512_max_ps(vmax, m1), _mm512_max_ps(m2, m3));
    for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    __mmask16 tail = mask16(n - i);
    vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_maskz_loadu_ps(tail, x + i));
    float mx = _mm512_reduce_max_ps(vmax);
    uint16_t *p = (uint16_t *)x;
    if (mx == -INFINITY) {
        memset(p, 0, (size_t)n2 * sizeof(uint16_t));
        return 0.0f;
    }
    const __m512 l2e = _mm512_set1_ps(l2e_scaled), vmx = _mm512_set1_ps(mx);
    __m512 sum = _mm512_setzero_ps();
    for (i = 0; i < n2; i += 32) {
        /* past n only zeros: ViT's 197 keys padded to 224 leave a last half of none */
        __m512 e0 = exp_n(x + i, n - i, l2e, vmx);
        __m512 e1 = n - i > 16 ? exp_n(x + i + 16, n - i - 16, l2e, vmx) : _mm512_setzero_ps();
        __m512i pb = (__m512i)_mm512_cvtne2ps_pbh(e1, e0);
        /* the rounded values as floats: each dword's low bf16 shifted up, its high one in place */
        __m512 r0 = _mm512_castsi512_ps(_mm512_slli_epi32(pb, 16));
        __m512 r1 = _mm512_castsi512_ps(_mm512_and_si512(pb, _mm512_set1_epi32((int)0xffff0000u)));
        sum = _mm512_add_ps(sum, _mm512_add_ps(r0, r1));
        _mm512_mask_storeu_epi16(p + i, mask32(n2 - i), pb);
    }
    return _mm512_reduce_add_ps(sum);
}

/* Whether the products may read the block's Q rows where they lie (bf16
 * rows, as q_scaled would make them): a power-of-two scale, which leaves
 * each bf16 value's bits but its exponent (scaling the scores instead gives
 * the same exponents in row_exp), whole tiles of dims (hd a multiple of 32:
 * no columns of the next head), and the strips' rows past the block's
 * within the B Tq rows of Q (both microkernels read whole strips; those
 * rows' scores are never used). */
static int q_in_place(const sail_attn_args *a, int b, int t0, int rows_mr) {
    int e;
    return a->qb && frexpf(a->scale, &e) == 0.5f && a->hd % 32 == 0 &&
           (size_t)b * a->Tq + (size_t)t0 + (size_t)rows_mr <= (size_t)a->B * a->Tq;
}

/* Rows [0, rows) of o (ld floats apart, hd of each) times inv[row]: the
 * output's division by the sums of the rounded probabilities. */
static void scale_rows(float *o, size_t ld, int rows, int hd, const float *inv) {
    for (int i = 0; i < rows; i++) {
        float *r = o + (size_t)i * ld;
        const __m512 sc = _mm512_set1_ps(inv[i]);
        for (int c = 0; c < hd; c += 16) {
            __mmask16 m = mask16(hd - c);
            _mm512_mask_storeu_ps(r + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, r + c), sc));
        }
    }
}

/* amx: the products on tiles, whose strips are SAIL_BF16_AMX_MR rows and
 * whose depth is whole tiles (the panels' zero pairs, and zeros written
 * past each row of P). */
static inline __attribute__((always_inline)) void attn_block(const sail_attn_args *a, int b, int h,
                                                             int t0, int t1, const uint8_t *kv,
                                                             float *scratch, int amx) {
    const uint8_t *mask = a->key_mask ? a->key_mask + (size_t)b * a->Tk : NULL; // (Tk)
    size_t row0 = (size_t)b * a->Tq + t0, oc = row0 * a->out_stride + (size_t)h * a->hd;
    rows_src q = head_rows(a->q, a->qb, a->q_stride, a->Tq, b, h, a->hd); // (Tq, hd)
    int mr = amx ? SAIL_BF16_AMX_MR : SAIL_BF16_MR;
    int rows = t1 - t0, rows_mr = (rows + mr - 1) / mr * mr;
    int ld = (int)sail_attn_scratch_row(a->Tk), hp16 = (int)sail_attn_pairs(a->hd);
    int kn = a->causal ? SAIL_MIN(t1, a->Tk) : a->Tk, kn2 = (kn + 1) & ~1;
    int qpairs = amx ? hp16 : (a->hd + 1) / 2, ppairs = amx ? (kn2 / 2 + 15) & ~15 : kn2 / 2;
    const uint8_t *kpan = kv, *vpan = kv + sail_attn_k_bytes(a->Tk, a->hd);
    void (*gemm)(int, int, int, const uint16_t *, size_t, const uint8_t *, size_t, float *, int) =
        amx ? sail_gemm_bf16_panels_amx : sail_gemm_bf16_panels;
    /* Q's rows (and the strip's padding rows, zero) after the scores */
    uint16_t *qb = (uint16_t *)(scratch + (size_t)rows_mr * ld); // (rows_mr, 2 hp16)
    float l2e = 1.44269504088896341f, inv[SAIL_ATTN_BLOCK_ROWS];
    if (q_in_place(a, b, t0, rows_mr)) { /* the products read Q's rows; the scale goes to the exponent */
        l2e *= a->scale;
        gemm(rows, kn, qpairs, q.b + (size_t)t0 * q.ld, q.ld, kpan, (size_t)hp16 * 64, scratch, ld);
    } else {
        const __m512 scale = _mm512_set1_ps(a->scale);
        for (int i = 0; i < 8; i++) row_ahead(&q, t0 + i, t1, 0, a->hd);
        for (int i = 0; i < rows_mr; i++) {
            row_ahead(&q, t0 + i + 8, t1, 0, a->hd);
            for (int c = 0; c < 2 * hp16; c += 32)
                _mm512_storeu_si512(qb + (size_t)i * 2 * hp16 + c,
                                    i < rows ? q_scaled(&q, (size_t)(t0 + i), c, a->hd - c, scale)
                                             : _mm512_setzero_si512());
        }
        gemm(rows, kn, qpairs, qb, 2 * (size_t)hp16, kpan, (size_t)hp16 * 64, scratch, ld);
    }
    for (int i = 0; i < rows_mr; i++) {
        float *s = scratch + (size_t)i * ld; // (kn)
        int kend = i >= rows ? 0 : a->causal ? SAIL_MIN(t0 + i + 1, a->Tk) : a->Tk;
        if (mask)
            for (int j = 0; j < kend; j++)
                if (!mask[j]) s[j] = -INFINITY;
        float sum = kend ? row_exp(s, kend, 2 * ppairs, l2e) : 0.0f;
        if (!kend) memset(s, 0, (size_t)ppairs * 4); /* a padding row or one with no key: P zero */
        inv[i] = sum != 0.0f ? 1.0f / sum : 0.0f; /* O's rows come divided by the sums */
    }
    if (!a->out_b && !a->out_q) {
        gemm(rows, a->hd, ppairs, (const uint16_t *)scratch, 2 * (size_t)ld, vpan,
             64 * sail_attn_pairs(a->Tk), a->out + oc, a->out_stride);
        scale_rows(a->out + oc, (size_t)a->out_stride, rows, a->hd, inv);
        return;
    }
    float *o = (float *)(qb + (size_t)rows_mr * 2 * hp16); // (rows, hd), then rounded or quantised out
    gemm(rows, a->hd, ppairs, (const uint16_t *)scratch, 2 * (size_t)ld, vpan, 64 * sail_attn_pairs(a->Tk),
         o, a->hd);
    if (a->out_q) { /* the float path's rows, then the level's quantiser */
        size_t nb = (size_t)a->out_stride / 32;
        scale_rows(o, (size_t)a->hd, rows, a->hd, inv);
        for (int i = 0; i < rows; i++)
            sail_quantize_q8a_avx512(a->out_q + (row0 + (size_t)i) * nb + (size_t)h * a->hd / 32,
                                     o + (size_t)i * a->hd, a->hd);
        return;
    }
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < a->hd; c += 32)
            _mm512_mask_storeu_epi16(a->out_b + oc + (size_t)i * a->out_stride + c, mask32(a->hd - c),
                                     round32(o + (size_t)i * a->hd + c, a->hd - c, _mm512_set1_ps(inv[i])));
}

void sail_attn_block_bf16(const sail_attn_args *a, int b, int h, int t0, int t1, int qblock,
                          const uint8_t *kv, float *scratch) {
    for (int t = t0; t < t1; t += qblock) attn_block(a, b, h, t, SAIL_MIN(t1, t + qblock), kv, scratch, 0);
}

/* One configuration of the tiles for all the blocks: loading it and
 * releasing them took 0.5% of ViT-S's pass when done per block. */
void sail_attn_block_bf16_amx(const sail_attn_args *a, int b, int h, int t0, int t1, int qblock,
                              const uint8_t *kv, float *scratch) {
    sail_amx_configure_bf16();
    for (int t = t0; t < t1; t += qblock) attn_block(a, b, h, t, SAIL_MIN(t1, t + qblock), kv, scratch, 1);
    sail_amx_release();
}
