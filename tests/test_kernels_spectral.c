/* test_kernels_spectral.c: the spectral-feature kernels (spectral.h,
 * frame_prep .. log_floor). The references against long-double
 * transcriptions of their contracts (half_power and power8 against a
 * direct DFT of the real frame), then every SIMD level this CPU has against
 * the reference (power8 against the DFT too), at awkward sizes and
 * unaligned pointers. */
#include "kernels/spectral.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <string.h>

static unsigned g_seed = 12345;
static double urand(void) { /* [-1, 1) */
    g_seed = g_seed * 1103515245u + 12345u;
    return (double)(g_seed >> 8) / (1 << 23) - 1.0;
}

/* max |a - b| / max(|want|, tiny) over n */
static double rel_err(const double *got, const double *want, int n, int stride) {
    double peak = 1e-300, err = 0;
    for (int i = 0; i < n; i++) peak = fmax(peak, fabs(want[(size_t)i * stride]));
    for (int i = 0; i < n; i++) err = fmax(err, fabs(got[(size_t)i * stride] - want[(size_t)i * stride]));
    return err / peak;
}

static const int k_sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 255, 256, 400, 401};
#define N_SIZES (int)(sizeof k_sizes / sizeof k_sizes[0])

/* ---------------------------------------------------------- frame_prep -- */

static void prep_want(double *y, const float *x, const double *win, int n, double pre, int dc) {
    long double mean = 0;
    for (int i = 0; dc && i < n; i++) mean += x[i];
    if (dc) mean /= n;
    for (int i = 0; i < n; i++) {
        long double d = x[i] - mean, dp = x[i ? i - 1 : 0] - mean;
        y[i] = (double)((d - pre * dp) * win[i]);
    }
}

static void test_frame_prep(const sail_spectral_table *t, const sail_spectral_table *ref) {
    float xs[402];
    double win[402], got[402], want[402];
    double worst = 0;
    for (int si = 0; si < N_SIZES; si++)
        for (int v = 0; v < 4; v++) {
            int n = k_sizes[si], dc = v & 1;
            double pre = v & 2 ? 0.97 : 0.0;
            float *x = xs + 1; /* unaligned */
            for (int i = 0; i < n; i++) {
                x[i] = (float)(0.3 + 0.5 * urand()); /* a DC offset to remove */
                win[i] = 0.5 + 0.5 * urand();
            }
            (ref ? ref : t)->frame_prep(ref ? want : got, x, win, n, pre, dc);
            if (ref) t->frame_prep(got, x, win, n, pre, dc);
            else prep_want(want, x, win, n, pre, dc);
            worst = fmax(worst, rel_err(got, want, n, 1));
        }
    CHECK(worst < 1e-12, "frame_prep %s vs %s, n 1..401, DC and pre-emphasis on/off (max rel err %.2g)", t->name,
          ref ? ref->name : "long double", worst);
}

/* A block's frames at once, interleaved: against prep_want frame by frame
 * (ref NULL) or the reference's frame_prep8, at frame lengths 1..401, the
 * frames half a frame apart (overlapping) or a frame and a sample apart. */
static void test_frame_prep8(const sail_spectral_table *t, const sail_spectral_table *ref) {
    enum { L8 = SAIL_MEL_LANES };
    static float xs[8 * 402 + 1];
    static double win[401], got[401 * L8], want[401 * L8], one[401];
    double worst = 0;
    for (int si = 0; si < N_SIZES; si++)
        for (int v = 0; v < 8; v++) {
            int n = k_sizes[si], dc = v & 1;
            size_t shift = v & 4 ? (size_t)n + 1 : (size_t)(n + 1) / 2;
            double pre = v & 2 ? 0.97 : 0.0;
            float *x = xs + 1; /* unaligned */
            for (size_t i = 0; i < 7 * shift + n; i++) x[i] = (float)(0.3 + 0.5 * urand());
            for (int i = 0; i < n; i++) win[i] = 0.5 + 0.5 * urand();
            if (ref) {
                ref->frame_prep8(want, x, shift, win, n, pre, dc);
            } else {
                for (int f = 0; f < L8; f++) {
                    prep_want(one, x + f * shift, win, n, pre, dc);
                    for (int i = 0; i < n; i++) want[i * L8 + f] = one[i];
                }
            }
            t->frame_prep8(got, x, shift, win, n, pre, dc);
            worst = fmax(worst, rel_err(got, want, n * L8, 1));
        }
    CHECK(worst < 1e-12, "frame_prep8 %s vs %s, n 1..401, 8 frames overlapping or not, DC and pre-emphasis "
          "on/off (max rel err %.2g)", t->name, ref ? ref->name : "long double", worst);
}

/* ---------------------------------------------------------- half_power -- */

/* |DFT|^2 of 2h real samples, directly, and z: the h-point DFT of them read
 * as h complex numbers. */
static void half_case(int h, const double *x, double *z, double *tw, double *want) {
    const long double pi = 3.141592653589793238462643383279503L;
    for (int k = 0; k < h; k++) {
        long double re = 0, im = 0;
        for (int j = 0; j < h; j++) {
            long double a = -2 * pi * j * k / h;
            re += x[2 * j] * cosl(a) - x[2 * j + 1] * sinl(a);
            im += x[2 * j] * sinl(a) + x[2 * j + 1] * cosl(a);
        }
        z[2 * k] = (double)re;
        z[2 * k + 1] = (double)im;
    }
    for (int k = 0; k <= h; k++) {
        tw[2 * k] = cos(M_PI * k / h);
        tw[2 * k + 1] = sin(M_PI * k / h);
        long double re = 0, im = 0;
        for (int j = 0; j < 2 * h; j++) {
            long double a = -2 * pi * j * k / (2 * h);
            re += x[j] * cosl(a);
            im += x[j] * sinl(a);
        }
        want[k] = (double)(re * re + im * im);
    }
}

static void test_half_power(const sail_spectral_table *t, const sail_spectral_table *ref) {
    static double x[2 * 401], z[2 * 401 + 2], tw[2 * 402], want[402 * 8], got[402 * 8 + 1];
    double worst = 0;
    int strides[] = {1, 8};
    for (int si = 0; si < N_SIZES; si++)
        for (int s = 0; s < 2; s++) {
            int h = k_sizes[si], stride = strides[s];
            for (int j = 0; j < 2 * h; j++) x[j] = urand();
            double direct[402];
            half_case(h, x, z + 1, tw, direct); /* z + 1: unaligned */
            for (int k = 0; k <= h; k++) want[(size_t)k * stride] = direct[k];
            if (ref) ref->half_power(want, stride, z + 1, tw, h);
            memset(got, 0, sizeof got);
            t->half_power(got + 1, stride, z + 1, tw, h);
            worst = fmax(worst, rel_err(got + 1, want, h + 1, stride));
        }
    CHECK(worst < 1e-12, "half_power %s vs %s, h 1..401, strides 1 and 8 (max err %.2g of the peak)", t->name,
          ref ? ref->name : "a direct DFT of the real frame", worst);
}

/* -------------------------------------------------------------- power8 -- */

enum { L = SAIL_MEL_LANES, MAX_N = 2048 };
typedef void (*power8_fn)(double *power, double *x, const double *tw, int n);

/* Sample i of frame f in case v: random in case 0; in case 1 one edge per
 * frame: zeros, an impulse first and last, random at the sample limit
 * (65536), a constant, the Nyquist alternation, random at 1e-100, random. */
static double sample(int v, int f, int i, int n) {
    switch (v ? f : 7) {
    case 0: return 0;
    case 1: return i == 0;
    case 2: return i == n - 1 ? -3.0 : 0.0;
    case 3: return 65536 * urand();
    case 4: return 0.25;
    case 5: return i % 2 ? -1.0 : 1.0;
    case 6: return 1e-100 * urand();
    default: return urand();
    }
}

/* |X|^2 of the interleaved frames of x by the definition, in long double. */
static void power8_direct(double *want, const double *x, int n) {
    static long double c[MAX_N], s[MAX_N];
    const long double pi = 3.141592653589793238462643383279503L;
    for (int j = 0; j < n; j++) {
        c[j] = cosl(2 * pi * j / n);
        s[j] = sinl(2 * pi * j / n);
    }
    for (int f = 0; f < L; f++)
        for (int k = 0; k <= n / 2; k++) {
            long double re = 0, im = 0;
            for (int j = 0; j < n; j++) {
                re += x[j * L + f] * c[(size_t)j * k % n];
                im -= x[j * L + f] * s[(size_t)j * k % n];
            }
            want[k * L + f] = (double)(re * re + im * im);
        }
}

/* Max over n = 2, 4, .. MAX_N and both cases of each frame's largest
 * |got - want| relative to the frame's peak power, want from ref (NULL:
 * the direct DFT); skew_tw gives fn twiddles whose angles are 1e-9
 * too large (a broken kernel the check must catch). Pointers unaligned. */
static double power8_worst(power8_fn fn, power8_fn ref, int skew_tw) {
    static double x[MAX_N * L], scratch[MAX_N * L + 1], got[(MAX_N / 2 + 1) * L + 1], want[(MAX_N / 2 + 1) * L];
    static double tw[MAX_N + 2], skew[MAX_N + 2];
    double worst = 0;
    for (int n = 2; n <= MAX_N; n *= 2)
        for (int v = 0; v < 2; v++) {
            int h = n / 2;
            for (int k = 0; k <= h; k++) {
                tw[2 * k] = cos(M_PI * k / h);
                tw[2 * k + 1] = sin(M_PI * k / h);
                skew[2 * k] = cos(M_PI * k / h * (1 + 1e-9));
                skew[2 * k + 1] = sin(M_PI * k / h * (1 + 1e-9));
            }
            for (int i = 0; i < n; i++)
                for (int f = 0; f < L; f++) x[i * L + f] = sample(v, f, i, n);
            if (ref) {
                memcpy(scratch, x, (size_t)n * L * sizeof *x);
                ref(want, scratch, tw, n);
            } else {
                power8_direct(want, x, n);
            }
            memcpy(scratch + 1, x, (size_t)n * L * sizeof *x); /* unaligned */
            fn(got + 1, scratch + 1, skew_tw ? skew : tw, n);
            for (int f = 0; f < L; f++) worst = fmax(worst, rel_err(got + 1 + f, want + f, h + 1, L));
        }
    return worst;
}

static void test_power8(const sail_spectral_table *t, const sail_spectral_table *ref) {
    double direct = power8_worst(t->power8, NULL, 0);
    CHECK(direct < 1e-12, "power8 %s vs a long-double DFT, n 2..%d, random and edge frames (max err %.2g of the "
          "frame's peak)", t->name, MAX_N, direct);
    if (ref) {
        double vs_ref = power8_worst(t->power8, ref->power8, 0);
        CHECK(vs_ref < 1e-13, "power8 %s vs %s, n 2..%d (max err %.2g of the frame's peak)", t->name, ref->name,
              MAX_N, vs_ref);
    } else {
        double broken = power8_worst(t->power8, NULL, 1);
        CHECK(broken > 1e-12, "power8's check catches a broken kernel (twiddle angles 1e-9 off: err %.2g)", broken);
    }
}

/* ----------------------------------------------------------- mel_block -- */

static void test_mel_block(const sail_spectral_table *t, const sail_spectral_table *ref) {
    enum { L = SAIL_MEL_LANES };
    static double power[257 * L + 1], got[L * 40], want[L * 40];
    static float w[40 * 257];
    int lo[40], hi[40];
    const int mels[] = {1, 3, 8, 13, 40}, bins[] = {1, 3, 17, 257};
    double worst = 0;
    for (int mi = 0; mi < 5; mi++)
        for (int bi = 0; bi < 4; bi++) {
            int nm = mels[mi], nb = bins[bi];
            double *p = power + 1; /* unaligned */
            for (int i = 0; i < nb * L; i++) p[i] = exp(urand()); /* full 53-bit mantissas */
            for (int m = 0; m < nm; m++) {
                int a = (int)((urand() + 1) / 2 * nb), b = (int)((urand() + 1) / 2 * nb);
                lo[m] = a < b ? a : b;
                hi[m] = (a < b ? b : a) + 1 > nb ? nb : (a < b ? b : a) + 1;
                for (int k = 0; k < nb; k++) w[m * nb + k] = k >= lo[m] && k < hi[m] ? (float)urand() : 0.0f;
            }
            if (ref) ref->mel_block(want, p, w, lo, hi, nm, nb);
            else
                for (int f = 0; f < L; f++)
                    for (int m = 0; m < nm; m++) {
                        long double acc = 0;
                        for (int k = 0; k < nb; k++) acc += (long double)w[m * nb + k] * p[k * L + f];
                        want[f * nm + m] = (double)acc;
                    }
            t->mel_block(got, p, w, lo, hi, nm, nb);
            double peak = 1, err = 0;
            for (int i = 0; i < L * nm; i++) {
                peak = fmax(peak, fabs(want[i]));
                err = fmax(err, fabs(got[i] - want[i]));
            }
            worst = fmax(worst, err / peak);
        }
    CHECK(worst < 1e-13, "mel_block %s vs %s, 1..40 filters over 1..257 bins (max err %.2g)", t->name,
          ref ? ref->name : "long double", worst);
}

/* ----------------------------------------------------------- log_floor -- */

static void test_log_floor(const sail_spectral_table *t, const sail_spectral_table *ref) {
    static double x[1002]; /* n up to 1001, from x + 1 */
    static float got[1001], want[1001];
    double worst = 0; /* in units of the output's float ulp */
    const float subs[] = {0.0f, -4.2677393f}, divs[] = {1.0f, 9.1379948f};
    for (int si = 0; si < N_SIZES; si++)
        for (int v = 0; v < 2; v++) {
            int n = k_sizes[si] + 600 * (si == N_SIZES - 1);
            double *xp = x + 1; /* unaligned */
            for (int i = 0; i < n; i++) {
                double u = urand();
                xp[i] = i % 17 == 3 ? NAN : i % 13 == 5 ? 0.0 : i % 11 == 7 ? 1e38 : pow(10.0, 12 * u);
            }
            float sub = subs[v], div = divs[v];
            if (ref) ref->log_floor(want, xp, n, FLT_EPSILON, sub, div);
            else
                for (int i = 0; i < n; i++) {
                    double e = xp[i] > FLT_EPSILON ? xp[i] : FLT_EPSILON;
                    want[i] = (float)(((double)logl((float)e) - sub) / div);
                }
            t->log_floor(got, xp, n, FLT_EPSILON, sub, div);
            for (int i = 0; i < n; i++) {
                double scale = (fabs(logf((float)fmax(xp[i] > 0 ? xp[i] : 0, FLT_EPSILON))) + fabs(sub)) / div;
                worst = fmax(worst, fabs((double)got[i] - want[i]) / (scale * FLT_EPSILON / 2));
            }
        }
    CHECK(worst <= 4, "log_floor %s vs %s, with the floor, NaN, 1e38 and AST's normalisation (max err %.2g ulp)",
          t->name, ref ? ref->name : "logl", worst);
}

int main(void) {
    const sail_spectral_table *ref = &sail_spectral_ref;
    test_frame_prep(ref, NULL);
    test_frame_prep8(ref, NULL);
    test_half_power(ref, NULL);
    test_power8(ref, NULL);
    test_mel_block(ref, NULL);
    test_log_floor(ref, NULL);
    const sail_spectral_table *simd[] = {sail_spectral_avx2_if_supported(), sail_spectral_avx512_if_supported()};
    const char *names[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        if (!simd[i]) {
            SKIP("spectral kernels at %s: not available on this CPU/build (or above SAIL_ISA)", names[i]);
            continue;
        }
        test_frame_prep(simd[i], ref);
        test_frame_prep8(simd[i], ref);
        test_half_power(simd[i], ref);
        test_power8(simd[i], ref);
        test_mel_block(simd[i], ref);
        test_log_floor(simd[i], ref);
    }
    CHECK(sail_spectral() == (simd[1] ? simd[1] : simd[0] ? simd[0] : ref), "dispatch: the best table allowed (%s)",
          sail_spectral()->name);
    return test_done();
}
