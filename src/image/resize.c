/* resize.c: resampling that reproduces PIL 9.4's Image.resize((w, h),
 * BILINEAR|BICUBIC) on RGB images byte for byte.
 *
 * PIL (libImaging/Resample.c) convolves separably: a horizontal pass over
 * only the input rows the vertical pass will read, then a vertical pass.
 * For each output position it centres the filter at (i + 0.5) * scale; when
 * reducing, the filter is stretched by the scale (antialiasing), so support
 * grows with the reduction. Weights are computed in double, normalised to
 * sum to 1, then rounded to 22-bit fixed point; sums start at one half and
 * are clipped to 0..255 after the shift. Every step below keeps PIL's order
 * of floating-point operations, since a different rounding of one weight can
 * flip an output byte. The integer passes are exact, so the AVX2 kernels
 * give the same bytes as the portable ones. */
#include "image/image_impl.h"
#include "image/resize_impl.h"
#include "cpu.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static double bilinear(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic with a = -0.5, written as PIL writes it. */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static void coeffs_free(sail_rs_coeffs *c) {
    sail_free(c->first);
    sail_free(c->len);
    sail_free(c->k);
}

/* Taps of outputs [off, off + n_out) of an in_size -> out_size resize: the
 * window alone is computed and stored, so a crop of a very long target (a
 * 32768 x 1 strip whose short side goes to 224) costs the crop, not the
 * strip. */
static int coeffs_init(sail_rs_coeffs *c, int in_size, int out_size, int off, int n_out,
                       sail_resample f) {
    double (*filter)(double) = f == SAIL_RESAMPLE_BICUBIC ? bicubic : bilinear;
    double support = f == SAIL_RESAMPLE_BICUBIC ? 2.0 : 1.0;
    /* PIL's box is float; (in1 - in0) is a float subtraction. */
    double scale = (double)((float)in_size - 0.0f) / out_size, filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    support *= filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    memset(c, 0, sizeof *c);
    c->ksize = ksize;
    c->first = sail_malloc(sizeof(int) * (size_t)n_out);
    c->len = sail_malloc(sizeof(int) * (size_t)n_out);
    c->k = sail_calloc((size_t)n_out * (size_t)ksize, sizeof(int32_t));
    double *w = sail_malloc(sizeof(double) * (size_t)ksize);
    if (!c->first || !c->len || !c->k || !w) {
        sail_free(w);
        coeffs_free(c);
        return -1;
    }
    for (int j = 0; j < n_out; j++) {
        int i = off + j;
        double center = 0.0f + (i + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        for (int x = 0; x < n; x++) {
            w[x] = filter((x + lo - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)j * ksize;
        for (int x = 0; x < n; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            double f = v * (1 << SAIL_RS_PRECISION_BITS);
            k[x] = (int32_t)(v < 0 ? -0.5 + f : 0.5 + f);
        }
        c->first[j] = lo;
        c->len[j] = n;
    }
    sail_free(w);
    return 0;
}

/* ----------------------------------------------------- portable passes -- */

int sail_rs_hpass_ref(uint8_t *dst, int dst_w, const uint8_t *src, int src_w, int rows,
                       const sail_rs_coeffs *c) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *s = src + (size_t)y * src_w * 3;
        uint8_t *d = dst + (size_t)y * dst_w * 3;
        for (int i = 0; i < dst_w; i++, d += 3) {
            const int32_t *k = c->k + (size_t)i * c->ksize;
            const uint8_t *p = s + (size_t)c->first[i] * 3;
            int32_t s0 = 1 << (SAIL_RS_PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < c->len[i]; x++, p += 3) {
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            d[0] = sail_rs_clip8(s0);
            d[1] = sail_rs_clip8(s1);
            d[2] = sail_rs_clip8(s2);
        }
    }
    return 0;
}

/* Taps outermost so the inner loop runs along contiguous bytes. */
void sail_rs_vpass_ref(uint8_t *dst, int dst_h, const uint8_t *src, int w,
                       const sail_rs_coeffs *c, int32_t *acc) {
    size_t n = (size_t)w * 3;
    for (int y = 0; y < dst_h; y++) {
        const int32_t *k = c->k + (size_t)y * c->ksize;
        for (size_t i = 0; i < n; i++) acc[i] = 1 << (SAIL_RS_PRECISION_BITS - 1);
        for (int t = 0; t < c->len[y]; t++) {
            const uint8_t *s = src + (size_t)(c->first[y] + t) * n;
            for (size_t i = 0; i < n; i++) acc[i] += s[i] * k[t];
        }
        for (size_t i = 0; i < n; i++) dst[(size_t)y * n + i] = sail_rs_clip8(acc[i]);
    }
}

static sail_rs_hpass_fn hpass = sail_rs_hpass_ref;
static sail_rs_vpass_fn vpass = sail_rs_vpass_ref;

/* sail_cpu() applies the one dispatch rule (the CPU, SAIL_ISA,
 * SAIL_FORCE_REF); the AVX2 passes serve every SIMD level. */
static void choose_passes(void) {
    const sail_cpu_features *c = sail_cpu();
    if (c->avx2 && c->fma && c->f16c) {
        hpass = sail_rs_hpass_avx2;
        vpass = sail_rs_vpass_avx2;
    }
}

static void pick_kernels(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, choose_passes);
}

/* Point c at outputs [off, ...) only: each output position depends on
 * nothing but its own taps, so a band of rows needs only its own. */
static sail_rs_coeffs coeffs_window(const sail_rs_coeffs *c, int off) {
    sail_rs_coeffs w = {c->ksize, c->first + off, c->len + off, c->k + (size_t)off * c->ksize};
    return w;
}

/* ---------------------------------------------------------- row bands -- */

/* Each pass splits its output rows into one band per pool thread. Bands
 * write disjoint rows and the integer passes are exact, so the bytes do not
 * depend on the split. */
typedef struct pass_job {
    uint8_t *dst;
    const uint8_t *src;
    int dst_w, src_w;   /* pixels per row (the vertical pass: both w) */
    int rows;           /* output rows (the horizontal pass reads as many) */
    const sail_rs_coeffs *c;
    int n_bands;
    atomic_int failed;  /* a band ran out of memory */
} pass_job;

static void band_rows(const pass_job *j, int b, int *lo, int *hi) {
    *lo = (int)((int64_t)j->rows * b / j->n_bands);
    *hi = (int)((int64_t)j->rows * (b + 1) / j->n_bands);
}

/* The horizontal pass reads the same rows it writes. */
static void hpass_band(void *ctx, int b, int thread) {
    pass_job *j = ctx;
    int lo, hi;
    band_rows(j, b, &lo, &hi);
    if (hi > lo && hpass(j->dst + (size_t)lo * j->dst_w * 3, j->dst_w,
                         j->src + (size_t)lo * j->src_w * 3, j->src_w, hi - lo, j->c))
        atomic_store(&j->failed, 1);
}

/* The vertical pass: output rows lo..hi with their own taps, any input. */
static void vpass_band(void *ctx, int b, int thread) {
    pass_job *j = ctx;
    int lo, hi;
    band_rows(j, b, &lo, &hi);
    if (hi <= lo) return;
    int32_t *acc = sail_malloc(sizeof(int32_t) * (size_t)j->dst_w * 3);
    if (!acc) {
        atomic_store(&j->failed, 1);
        return;
    }
    sail_rs_coeffs cb = coeffs_window(j->c, lo);
    vpass(j->dst + (size_t)lo * j->dst_w * 3, hi - lo, j->src, j->dst_w, &cb, acc);
    sail_free(acc);
}

/* -1 when a band ran out of memory. */
static int run_bands(sail_pool *pool, sail_task_fn fn, uint8_t *dst, const uint8_t *src,
                     int dst_w, int src_w, int rows, const sail_rs_coeffs *c) {
    pass_job j = {dst, src, dst_w, src_w, rows, c, sail_pool_size(pool), 0};
    sail_pool_run(pool, fn, &j, j.n_bands);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---------------------------------------------------------- the entry -- */

sail_status sail_img_resize_window(const sail_image *in, int w, int h, int left, int top,
                                   int cw, int chh, sail_resample resample, sail_pool *pool,
                                   sail_image *out, sail_error *err) {
    if (!in || !in->rgb || in->w <= 0 || in->h <= 0 || !out)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "resize: no input image");
    if (resample != SAIL_RESAMPLE_BILINEAR && resample != SAIL_RESAMPLE_BICUBIC)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "resize: unknown filter %d",
                              (int)resample);
    if (w <= 0 || h <= 0 || cw <= 0 || chh <= 0 || left < 0 || top < 0 || left > w - cw ||
        top > h - chh)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "resize: window %dx%d+%d+%d of %dx%d is empty or outside", cw, chh,
                              left, top, w, h);
    sail_image_limits nolim = {0, 0, 0, 0};
    sail_status st = sail_img_check_size("resize", w, h, &nolim, err);
    if (st) return st;
    sail_image o = {0, 0, NULL}, tmp = {0, 0, NULL}, full = {0, 0, NULL};
    if ((st = sail_img_alloc("resize", cw, chh, &o, err))) return st;
    if (w == in->w && h == in->h) { /* PIL returns a copy */
        for (int y = 0; y < chh; y++)
            memcpy(o.rgb + (size_t)y * cw * 3, in->rgb + ((size_t)(top + y) * w + left) * 3,
                   (size_t)cw * 3);
        *out = o;
        return SAIL_OK;
    }
    pick_kernels();
    sail_rs_coeffs ch, cv;
    if (coeffs_init(&ch, in->w, w, left, cw, resample)) goto nomem;
    if (coeffs_init(&cv, in->h, h, top, chh, resample)) {
        coeffs_free(&ch);
        goto nomem;
    }
    sail_rs_coeffs hw = ch, vw = cv;
    const uint8_t *src = in->rgb;
    if (w != in->w) {
        /* Only rows first..last feed the vertical pass. */
        int first = h != in->h ? vw.first[0] : top;
        int last = h != in->h ? vw.first[chh - 1] + vw.len[chh - 1] : top + chh;
        sail_image *dst = h != in->h ? &tmp : &o;
        if (dst == &tmp && sail_img_alloc("resize", cw, last - first, &tmp, err)) goto fail;
        if (run_bands(pool, hpass_band, dst->rgb, in->rgb + (size_t)first * in->w * 3, cw,
                      in->w, last - first, &hw))
            goto fail;
        for (int i = 0; i < chh; i++) vw.first[i] -= first;
        src = tmp.rgb;
    }
    if (h != in->h) {
        if (w != in->w) {
            if (run_bands(pool, vpass_band, o.rgb, src, cw, cw, chh, &vw)) goto fail;
        } else {
            /* Vertical only: run on full rows of the input, keep the window. */
            if (sail_img_alloc("resize", w, chh, &full, err) ||
                run_bands(pool, vpass_band, full.rgb, in->rgb, w, w, chh, &vw))
                goto fail;
            for (int y = 0; y < chh; y++)
                memcpy(o.rgb + (size_t)y * cw * 3, full.rgb + ((size_t)y * w + left) * 3,
                       (size_t)cw * 3);
            sail_image_free(&full);
        }
    }
    sail_image_free(&tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    *out = o;
    return SAIL_OK;
fail:
    coeffs_free(&ch);
    coeffs_free(&cv);
    sail_image_free(&tmp);
    sail_image_free(&full);
nomem:
    sail_image_free(&o);
    return sail_set_error(err, SAIL_ERR_NOMEM, "resize: out of memory for %dx%d", w, h);
}

sail_status sail_image_resize(const sail_image *in, int w, int h, sail_resample resample,
                              sail_image *out, sail_error *err) {
    if (w <= 0 || h <= 0)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "resize: target %dx%d is empty", w, h);
    return sail_img_resize_window(in, w, h, 0, 0, w, h, resample, NULL, out, err);
}
