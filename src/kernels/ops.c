/* ops.c: the plain C reference kernels (also the portable fallback), the
 * reference kernel table, and the small helpers sail_mean_pool and
 * sail_l2_normalize. Written for clarity: the SIMD versions in ops_simd.h are
 * tested against these. */
#include "kernels_impl.h"
#include "common.h"

#include <math.h>
#include <string.h>

/* Accumulates in double so the reference is the accuracy yardstick. */
static void layernorm_ref(float *y, const float *x, const float *w, const float *b,
                          int rows, int n, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n; // (n)
        float *yr = y + (size_t)r * n;       // (n)
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += xr[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (xr[i] - mean) * (xr[i] - mean);
        double rstd = 1.0 / sqrt(var / n + eps);
        for (int i = 0; i < n; i++) {
            double v = (xr[i] - mean) * rstd;
            yr[i] = (float)(v * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f));
        }
    }
}

/* In double, as layernorm_ref. */
static void layernorm_grad_ref(float *dx, float *dw, float *db, const float *x, const float *dy,
                               const float *w, int rows, int n, float eps, float beta) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n, *g = dy + (size_t)r * n; // (n)
        float *dr = dx + (size_t)r * n;                                // (n)
        double mean = 0, var = 0, sg = 0, sgx = 0;
        for (int i = 0; i < n; i++) mean += xr[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (xr[i] - mean) * (xr[i] - mean);
        double rstd = 1.0 / sqrt(var / n + eps);
        for (int i = 0; i < n; i++) {
            double xh = (xr[i] - mean) * rstd, gy = (double)g[i] * w[i];
            sg += gy;
            sgx += gy * xh;
            dw[i] += (float)(g[i] * xh);
            db[i] += g[i];
        }
        sg /= n;
        sgx /= n;
        for (int i = 0; i < n; i++) {
            double xh = (xr[i] - mean) * rstd, gy = (double)g[i] * w[i];
            float v = (float)(rstd * (gy - sg - xh * sgx));
            dr[i] = beta != 0.0f ? dr[i] + v : v;
        }
    }
}

static void gelu_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

static void quick_gelu_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

static void tanh_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

static void gelu_tanh_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

/* gelu'(u) = Phi(u) + u phi(u) */
static void gelu_grad_ref(float *dx, const float *dy, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = u[i];
        dx[i] = dy[i] * (0.5f * (1.0f + erff(v * (float)M_SQRT1_2)) +
                         v * expf(-0.5f * v * v) * 0.3989422804014327f);
    }
}

/* quick_gelu'(u) = s + 1.702 u s (1 - s), s = sigmoid(1.702 u) */
static void quick_gelu_grad_ref(float *dx, const float *dy, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = u[i], s = 1.0f / (1.0f + expf(-1.702f * v));
        dx[i] = dy[i] * (s + 1.702f * v * s * (1.0f - s));
    }
}

/* gelu_tanh'(u) = (1 + t) / 2 + u (1 - t^2) k (1 + 3 a u^2) / 2,
 * t = tanh(k (u + a u^3)), k = sqrt(2 / pi), a = 0.044715 */
static void gelu_tanh_grad_ref(float *dx, const float *dy, const float *u, size_t n) {
    const float k = 0.7978845608028654f, a = 0.044715f;
    for (size_t i = 0; i < n; i++) {
        float v = u[i], t = tanhf(k * (v + a * v * v * v));
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * k * (1.0f + 3.0f * a * v * v));
    }
}

static void softmax_ref(float *x, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * n; // (n)
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        if (mx == -INFINITY) { /* nothing may be attended: all zeros */
            memset(xr, 0, (size_t)n * sizeof(float));
            continue;
        }
        float sum = 0;
        for (int i = 0; i < n; i++) sum += xr[i] = expf(xr[i] - mx);
        for (int i = 0; i < n; i++) xr[i] /= sum;
    }
}

static void add_ref(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void transpose_ref(const float *src, size_t lds, float *dst, size_t ldd, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

static float dot_ref(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_ref(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void attn_block_ref(const sail_attn_args *a, int b, int h, int t0, int t1,
                           float *scratch) {
    static const sail_attn_prims prims = {dot_ref, axpy_ref, softmax_ref};
    sail_attn_block_with(&prims, a, b, h, t0, t1, scratch);
}

const sail_kernel_table sail_table_ref = {
    .name = "ref",
    .gemm = sail_gemm_ref,
    .layernorm = layernorm_ref,
    .layernorm_grad = layernorm_grad_ref,
    .gelu = gelu_ref,
    .quick_gelu = quick_gelu_ref,
    .tanh = tanh_ref,
    .gelu_tanh = gelu_tanh_ref,
    .gelu_grad = gelu_grad_ref,
    .quick_gelu_grad = quick_gelu_grad_ref,
    .gelu_tanh_grad = gelu_tanh_grad_ref,
    .softmax = softmax_ref,
    .add = add_ref,
    .transpose = transpose_ref,
    .dot = dot_ref,
    .attn_block = attn_block_ref,
    .gemm_f16 = sail_gemm_f16_ref,
    .gemm_bf16 = sail_gemm_bf16_ref,
    .gemm_q8_0 = sail_gemm_q8_0_ref,
    .quantize_q8a = sail_quantize_q8a_ref,
    .round_bf16 = sail_round_bf16_ref,
};

void sail_mean_pool(float *out, const float *x, const uint8_t *mask, int rows, int n) {
    int count = 0;
    memset(out, 0, (size_t)n * sizeof(float));
    for (int r = 0; r < rows; r++) {
        if (mask && !mask[r]) continue;
        const float *xr = x + (size_t)r * n; // (n)
        for (int i = 0; i < n; i++) out[i] += xr[i];
        count++;
    }
    if (count == 0) return;
    float inv = 1.0f / (float)count;
    for (int i = 0; i < n; i++) out[i] *= inv;
}

void sail_l2_normalize(float *x, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    if (ss == 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < n; i++) x[i] *= inv;
}
