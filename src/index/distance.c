/* distance.c: plain C reference distance kernels, the half-float and int8
 * codecs, and the choice of kernel table. Accumulation is in float in the
 * same order as a straight loop; the SIMD versions differ only by
 * reassociation (tests/test_index_kernels.c bounds the difference). */
#include "distance.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "cpu.h"

float sail_quantize_i8(int8_t *code, const float *x, int d) {
    float m = 0;
    for (int i = 0; i < d; i++) m = fmaxf(m, fabsf(x[i]));
    if (!(m > 0) || !isfinite(m)) {
        memset(code, 0, (size_t)d);
        return 0;
    }
    float s = m / 127.0f, inv = 127.0f / m;
    for (int i = 0; i < d; i++) {
        long v = lrintf(x[i] * inv);
        code[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return s;
}

static float dot_f32_ref(const float *q, const float *x, int d) {
    float s = 0;
    for (int i = 0; i < d; i++) s += q[i] * x[i];
    return s;
}

static float l2_f32_ref(const float *q, const float *x, int d) {
    float s = 0;
    for (int i = 0; i < d; i++) {
        float t = q[i] - x[i];
        s += t * t;
    }
    return s;
}

static float dot_f16_ref(const float *q, const uint16_t *x, int d) {
    float s = 0;
    for (int i = 0; i < d; i++) s += q[i] * sail_f16_to_f32(x[i]);
    return s;
}

static float l2_f16_ref(const float *q, const uint16_t *x, int d) {
    float s = 0;
    for (int i = 0; i < d; i++) {
        float t = q[i] - sail_f16_to_f32(x[i]);
        s += t * t;
    }
    return s;
}

static float dot_i8_ref(const float *q, const int8_t *x, float sc, int d) {
    float s = 0;
    for (int i = 0; i < d; i++) s += q[i] * (float)x[i];
    return s * sc;
}

static float l2_i8_ref(const float *q, const int8_t *x, float sc, int d) {
    float s = 0;
    for (int i = 0; i < d; i++) {
        float t = q[i] - sc * (float)x[i];
        s += t * t;
    }
    return s;
}

static void f16_to_f32_ref(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = sail_f16_to_f32(in[i]);
}

static void i8_to_f32_ref(float *out, const int8_t *in, float s, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = s * (float)in[i];
}

void sail_pack_panel(float *panel, const float *q, int n, int d) {
    for (int k = 0; k < d; k++)
        for (int j = 0; j < SAIL_TILE_QUERIES; j++) panel[(size_t)k * SAIL_TILE_QUERIES + j] = j < n ? q[(size_t)j * d + k] : 0.0f;
}

static int scan_tile_ref(const float *const rows[SAIL_TILE_ROWS], const float *panel, int d, const float *qadd,
                         const float *radd, float mul, const float *bound, float *dist) {
    int any = 0;
    for (int r = 0; r < SAIL_TILE_ROWS; r++)
        for (int j = 0; j < SAIL_TILE_QUERIES; j++) {
            float s = 0;
            for (int k = 0; k < d; k++) s += rows[r][k] * panel[(size_t)k * SAIL_TILE_QUERIES + j];
            float v = (qadd[j] + radd[r]) + mul * s;
            dist[r * SAIL_TILE_QUERIES + j] = v;
            any |= v <= bound[j];
        }
    return any;
}

const sail_dist_table sail_dist_ref = {
    "ref", dot_f32_ref, l2_f32_ref, dot_f16_ref, l2_f16_ref,
    dot_i8_ref, l2_i8_ref, f16_to_f32_ref, i8_to_f32_ref, scan_tile_ref,
};

const sail_dist_table *sail_dist_avx2_if_supported(void) {
    const sail_cpu_features *c = sail_cpu();
    return c->avx2 && c->fma && c->f16c ? &sail_dist_avx2 : NULL;
}

const sail_dist_table *sail_dist_avx512_if_supported(void) {
    const sail_cpu_features *c = sail_cpu();
    return c->avx512f && c->avx512bw && c->avx512dq && c->avx512vl && c->fma && c->f16c ? &sail_dist_avx512 : NULL;
}

static const sail_dist_table *g_dist;
static pthread_once_t g_dist_once = PTHREAD_ONCE_INIT;

/* sail_cpu() applies the one dispatch rule (the CPU, SAIL_ISA,
 * SAIL_FORCE_REF): the best table it allows. */
static void dist_choose(void) {
    const sail_dist_table *avx512 = sail_dist_avx512_if_supported(), *avx2 = sail_dist_avx2_if_supported();
    g_dist = avx512 ? avx512 : avx2 ? avx2 : &sail_dist_ref;
}

const sail_dist_table *sail_dist(void) {
    pthread_once(&g_dist_once, dist_choose);
    return g_dist;
}
