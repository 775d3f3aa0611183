/* test_index_kernels.c: the index's distance kernels (src/index/distance*.c):
 * the reference against double precision and the AVX2 versions against the
 * reference, at awkward sizes with unaligned pointers; the half-float codec
 * against every one of the 65536 halves and F16C rounding; int8 quantisation.
 *
 * Tolerance for sums of d terms: |err| <= 2e-6 * (d + 1) * scale, where
 * scale bounds one term (float sums in any order; a dropped term would cost
 * far more). */
#include "test.h"
#include "index/distance.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

static const int SIZES[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 512, 1023};
#define N_SIZES (int)(sizeof SIZES / sizeof SIZES[0])

static unsigned long long g_rng = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

typedef struct worst { double err; int bad; } worst;
static int g_quiet;
static void cmp(worst *w, const char *what, int d, double got, double want, double tol) {
    double e = fabs(got - want);
    if (!(e <= tol)) {
        if (w->bad++ < 5 && !g_quiet) printf("#   %s d=%d: got %.9g want %.9g (err %.3g > %.3g)\n", what, d, got, want, e, tol);
    }
    if (e > w->err) w->err = e;
}

/* One table against double precision (ref) or against the reference;
 * returns the mismatches (quiet: no TAP lines, for the broken table). */
static int check_table(const sail_dist_table *t, int vs_ref, int quiet) {
    const sail_dist_table *r = &sail_dist_ref;
    worst w[6] = {{0}};
    g_quiet = quiet;
    for (int si = 0; si < N_SIZES; si++) {
        int d = SIZES[si];
        /* +1: unaligned starts */
        float *qb = malloc((d + 1) * 4), *xb = malloc((d + 1) * 4), *q = qb + 1, *x = xb + 1;
        uint16_t *hb = malloc((d + 1) * 2), *h = hb + 1;
        int8_t *cb = malloc(d + 1), *c = cb + 1;
        for (int i = 0; i < d; i++) q[i] = frand(), x[i] = frand(), h[i] = sail_f32_to_f16(frand());
        for (int i = 0; i < d; i++) c[i] = (int8_t)(frand() * 127);
        float s = 0.0123f;
        double dot = 0, l2 = 0, dh = 0, lh = 0, di = 0, li = 0;
        for (int i = 0; i < d; i++) {
            double hv = sail_f16_to_f32(h[i]), iv = (double)s * c[i];
            dot += (double)q[i] * x[i];
            l2 += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
            dh += q[i] * hv;
            lh += (q[i] - hv) * (q[i] - hv);
            di += q[i] * iv;
            li += (q[i] - iv) * (q[i] - iv);
        }
        double tol = 2e-6 * (d + 1);
        if (vs_ref) {
            dot = r->dot_f32(q, x, d); l2 = r->l2_f32(q, x, d);
            dh = r->dot_f16(q, h, d); lh = r->l2_f16(q, h, d);
            di = r->dot_i8(q, c, s, d); li = r->l2_i8(q, c, s, d);
        }
        cmp(&w[0], "dot_f32", d, t->dot_f32(q, x, d), dot, tol);
        cmp(&w[1], "l2_f32", d, t->l2_f32(q, x, d), l2, 4 * tol);
        cmp(&w[2], "dot_f16", d, t->dot_f16(q, h, d), dh, tol);
        cmp(&w[3], "l2_f16", d, t->l2_f16(q, h, d), lh, 4 * tol);
        cmp(&w[4], "dot_i8", d, t->dot_i8(q, c, s, d), di, tol);
        cmp(&w[5], "l2_i8", d, t->l2_i8(q, c, s, d), li, 4 * tol);
        /* decoders are exact */
        float *o = malloc((d + 1) * 4), *o1 = o + 1;
        t->f16_to_f32(o1, h, (size_t)d);
        int exact = 1;
        for (int i = 0; i < d; i++) exact &= o1[i] == sail_f16_to_f32(h[i]);
        t->i8_to_f32(o1, c, s, (size_t)d);
        for (int i = 0; i < d; i++) exact &= o1[i] == s * (float)c[i];
        if (!exact) w[0].bad++, printf("#   decoders differ at d=%d\n", d);
        free(o); free(qb); free(xb); free(hb); free(cb);
    }
    const char *names[6] = {"dot_f32", "l2_f32", "dot_f16", "l2_f16", "dot_i8", "l2_i8"};
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        bad += w[i].bad;
        if (!quiet)
            CHECK(w[i].bad == 0, "%s %s vs %s at %d sizes 1..1023, unaligned: max err %.3g", t->name, names[i],
                  vs_ref ? "ref" : "double", N_SIZES, w[i].err);
    }
    g_quiet = 0;
    return bad;
}

/* A table whose f32 dot product drops its last element: the check above
 * must catch it (a check that cannot fail proves nothing). */
static const sail_dist_table *g_under_test;
static float dot_f32_broken(const float *q, const float *x, int d) { return g_under_test->dot_f32(q, x, d - 1); }

static void check_catches_broken(const sail_dist_table *t) {
    sail_dist_table broken = *t;
    g_under_test = t;
    broken.dot_f32 = dot_f32_broken;
    int bad = check_table(&broken, 1, 1);
    CHECK(bad > 0, "a %s table with a deliberately broken dot_f32 is caught (%d mismatches)", t->name, bad);
}

/* scan_tile (the many-query exact scan) against a double-precision dot
 * product per (row, query), for IP (mul -1) and L2 (norms, mul -2), with
 * rows at unaligned addresses, a repeated row, and the bound flag: set iff
 * some entry is <= its query's bound. */
static void check_tile(const sail_dist_table *t, int vs_ref) {
    static const int DS[] = {1, 3, 8, 17, 64, 255, 512, 769};
    int bad = 0, flag_bad = 0;
    double worst = 0;
    for (size_t di = 0; di < sizeof DS / sizeof *DS; di++) {
        int d = DS[di];
        float *xb = malloc(((size_t)SAIL_TILE_ROWS * d + 1) * 4), *x = xb + 1;
        float *q = malloc((size_t)SAIL_TILE_QUERIES * d * 4), *panel = malloc((size_t)SAIL_TILE_QUERIES * d * 4);
        for (int i = 0; i < SAIL_TILE_ROWS * d; i++) x[i] = frand();
        for (int i = 0; i < SAIL_TILE_QUERIES * d; i++) q[i] = frand();
        int nq = 11; /* a short panel: queries 11..15 are zeros */
        sail_pack_panel(panel, q, nq, d);
        const float *rows[SAIL_TILE_ROWS];
        for (int r = 0; r < SAIL_TILE_ROWS; r++) rows[r] = x + (size_t)(r == 4 ? 1 : r) * d;
        for (int l2 = 0; l2 < 2; l2++) {
            float qadd[SAIL_TILE_QUERIES], radd[SAIL_TILE_ROWS], dist[SAIL_TILE_ROWS * SAIL_TILE_QUERIES];
            float ref[SAIL_TILE_ROWS * SAIL_TILE_QUERIES], bound[SAIL_TILE_QUERIES];
            for (int j = 0; j < SAIL_TILE_QUERIES; j++) qadd[j] = l2 ? 1.5f + frand() : 0.0f;
            for (int r = 0; r < SAIL_TILE_ROWS; r++) radd[r] = l2 ? 0.5f + frand() : 0.0f;
            for (int j = 0; j < SAIL_TILE_QUERIES; j++) bound[j] = -1e30f;
            int any = t->scan_tile(rows, panel, d, qadd, radd, l2 ? -2.0f : -1.0f, bound, dist);
            flag_bad += any != 0;
            if (vs_ref) sail_dist_ref.scan_tile(rows, panel, d, qadd, radd, l2 ? -2.0f : -1.0f, bound, ref);
            for (int r = 0; r < SAIL_TILE_ROWS; r++)
                for (int j = 0; j < SAIL_TILE_QUERIES; j++) {
                    double dot = 0;
                    for (int k = 0; k < d; k++) dot += (double)rows[r][k] * (j < nq ? q[(size_t)j * d + k] : 0.0f);
                    double want = vs_ref ? ref[r * SAIL_TILE_QUERIES + j] : (double)qadd[j] + radd[r] - (l2 ? 2 : 1) * dot;
                    double e = fabs(dist[r * SAIL_TILE_QUERIES + j] - want);
                    if (e > worst) worst = e;
                    if (!(e <= 2e-6 * (d + 1) * (l2 ? 4 : 1))) {
                        if (bad++ < 5) printf("#   tile d=%d l2=%d r=%d j=%d: got %.9g want %.9g\n", d, l2, r, j,
                                              dist[r * SAIL_TILE_QUERIES + j], want);
                    }
                }
            /* exactly one entry at or under its bound raises the flag */
            int r0 = d % SAIL_TILE_ROWS, j0 = d % nq;
            bound[j0] = dist[r0 * SAIL_TILE_QUERIES + j0];
            for (int r = 0; r < SAIL_TILE_ROWS; r++)
                if (r != r0 && dist[r * SAIL_TILE_QUERIES + j0] <= bound[j0]) bound[j0] = -1e30f;
            if (bound[j0] > -1e30f) flag_bad += t->scan_tile(rows, panel, d, qadd, radd, l2 ? -2.0f : -1.0f, bound, dist) == 0;
        }
        free(xb); free(q); free(panel);
    }
    CHECK(bad == 0, "%s scan_tile (6 rows x 16 queries, IP and L2) vs %s, d 1..769: max err %.3g", t->name,
          vs_ref ? "ref" : "double", worst);
    CHECK(flag_bad == 0, "%s scan_tile flags a tile iff an entry is <= its query's bound (%d wrong)", t->name, flag_bad);
}

/* The hardware conversion (F16C), compiled for it alone. */
__attribute__((target("f16c"))) static uint16_t f16c(float f) {
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0);
}

static void check_f16(void) {
    int bad = 0;
    for (uint32_t u = 0; u < 65536; u++) { /* round trip of every half */
        float f = sail_f16_to_f32((uint16_t)u);
        uint16_t back = sail_f32_to_f16(f);
        int nan = (u & 0x7c00) == 0x7c00 && (u & 0x3ff);
        if (nan ? (back & 0x7c00) != 0x7c00 || !(back & 0x3ff) : back != u) bad++;
    }
    CHECK(bad == 0, "f16 -> f32 -> f16 round trip of all 65536 halves (%d bad)", bad);
    const sail_dist_table *avx2 = sail_dist_avx2_if_supported();
    if (!avx2) {
        SKIP("F16C rounding comparison: no F16C (this CPU, or SAIL_ISA=ref)");
        return;
    }
    int mism = 0;
    for (int i = 0; i < 2000000; i++) { /* random bit patterns incl. subnormals, huge, nan */
        g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
        uint32_t bits = (uint32_t)g_rng;
        if (i & 1) bits = (bits & 0x87ffffffu) | 0x30000000u; /* near the half range */
        float f;
        memcpy(&f, &bits, 4);
        uint16_t hw = f16c(f);
        uint16_t mine = sail_f32_to_f16(f);
        if (isnan(f) ? (mine & 0x7fff) <= 0x7c00 : mine != hw) {
            if (mism++ < 5) printf("#   %a: F16C %04x, sail %04x\n", f, hw, mine);
        }
    }
    CHECK(mism == 0, "f32 -> f16 equals F16C vcvtps2ph on 2M bit patterns (%d differ)", mism);
}

static void check_quant(void) {
    float x[37];
    int8_t c[37];
    double worst = 0;
    for (int t = 0; t < 100; t++) {
        float m = 0;
        for (int i = 0; i < 37; i++) x[i] = frand() * (t + 1), m = fmaxf(m, fabsf(x[i]));
        float s = sail_quantize_i8(c, x, 37);
        for (int i = 0; i < 37; i++) {
            double e = fabs(s * c[i] - x[i]) / s;
            if (e > worst) worst = e;
        }
    }
    CHECK(worst <= 0.5 + 1e-4, "int8 codes are within half a step of the input (max %.4f steps)", worst);
    memset(x, 0, sizeof x);
    CHECK(sail_quantize_i8(c, x, 37) == 0 && c[0] == 0, "a zero vector quantises to scale 0");
}

/* Every check of a SIMD table against the reference, or a skip saying why
 * this CPU has none (t NULL). */
static void check_simd(const sail_dist_table *t, const char *missing) {
    if (!t) {
        SKIP("%s", missing);
        return;
    }
    check_table(t, 1, 0);
    check_tile(t, 1);
    check_catches_broken(t);
}

int main(void) {
    check_table(&sail_dist_ref, 0, 0);
    check_tile(&sail_dist_ref, 0);
    const sail_dist_table *avx2 = sail_dist_avx2_if_supported(), *avx512 = sail_dist_avx512_if_supported();
    check_simd(avx2, "AVX2 distance kernels: no AVX2/FMA/F16C (this CPU, or SAIL_ISA=ref)");
    check_simd(avx512, "AVX-512 distance kernels: no AVX-512 F/BW/DQ/VL (this CPU, or SAIL_ISA below avx512)");
    CHECK(!strcmp(sail_dist()->name, avx512 ? "avx512" : avx2 ? "avx2" : "ref"),
          "the index uses the best table allowed (%s)", sail_dist()->name);
    check_f16();
    check_quant();
    return test_done();
}
