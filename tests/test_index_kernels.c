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
static void cmp(worst *w, const char *what, int d, double got, double want, double tol) {
    double e = fabs(got - want);
    if (!(e <= tol)) {
        if (w->bad++ < 5) printf("#   %s d=%d: got %.9g want %.9g (err %.3g > %.3g)\n", what, d, got, want, e, tol);
    }
    if (e > w->err) w->err = e;
}

/* One table against double precision (ref) or against the reference. */
static void check_table(const sail_dist_table *t, int vs_ref) {
    const sail_dist_table *r = &sail_dist_ref;
    worst w[6] = {{0}};
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
    for (int i = 0; i < 6; i++)
        CHECK(w[i].bad == 0, "%s %s vs %s at %d sizes 1..1023, unaligned: max err %.3g", t->name, names[i],
              vs_ref ? "ref" : "double", N_SIZES, w[i].err);
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
        SKIP("F16C rounding comparison: this CPU has no F16C");
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

int main(void) {
    check_table(&sail_dist_ref, 0);
    const sail_dist_table *avx2 = sail_dist_avx2_if_supported();
    if (avx2) check_table(avx2, 1);
    else SKIP("AVX2 distance kernels: this CPU lacks AVX2/FMA/F16C");
    check_f16();
    check_quant();
    return test_done();
}
