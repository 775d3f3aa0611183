/* numfmt.c: f32 <-> f16 / bf16 / q8_0 conversions (see numfmt.h). They run
 * when a file is written and to decode embedding rows as tokens look them
 * up; the GEMM kernels read stored weights themselves (src/kernels). */
#include "numfmt.h"

#include <math.h>
#include <string.h>

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t sail_f32_to_f16(float f) {
    uint32_t u = bits_of(f), sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a > 0x7f800000) return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff)); /* NaN stays NaN */
    if (a >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  /* rounds past 65504: inf */
    if (a < 0x38800000) {
        /* Subnormal half: scale so the integer part is the 10-bit mantissa,
         * and let the FPU's round-to-nearest-even do the rounding. */
        float r = float_of(a) * 16777216.0f; /* 2^24 */
        return (uint16_t)(sign | (uint32_t)nearbyintf(r));
    }
    uint32_t mant_odd = (a >> 13) & 1;
    a += 0xc8000fff + mant_odd;     /* rebias exponent (-112 << 23) and round */
    return (uint16_t)(sign | (a >> 13));
}

float sail_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {
        float v = (float)m * (1.0f / 16777216.0f);
        return float_of(bits_of(v) | sign);
    }
    if (e == 31) return float_of(sign | 0x7f800000 | (m << 13));
    return float_of(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t sail_f32_to_bf16(float f) {
    uint32_t u = bits_of(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

float sail_bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

/* 16-bit values go through memcpy: tensors in a file need no alignment. */
static void put16(void *dst, size_t i, uint16_t v) { memcpy((char *)dst + 2 * i, &v, 2); }

static uint16_t get16(const void *src, size_t i) {
    uint16_t v;
    memcpy(&v, (const char *)src + 2 * i, 2);
    return v;
}

static void quantize_q8_0(uint8_t *dst, const float *src, size_t n) {
    for (size_t b = 0; b < n / SAIL_Q8_0_BLOCK; b++, dst += 34) {
        const float *x = src + b * SAIL_Q8_0_BLOCK;
        float amax = 0;
        for (int j = 0; j < SAIL_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        put16(dst, 0, sail_f32_to_f16(d));
        for (int j = 0; j < SAIL_Q8_0_BLOCK; j++) dst[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

void sail_quantize_row(uint32_t type, void *dst, const float *src, size_t n) {
    switch (type) {
    case SAIL_WT_F32: memcpy(dst, src, n * sizeof(float)); break;
    case SAIL_WT_F16: for (size_t i = 0; i < n; i++) put16(dst, i, sail_f32_to_f16(src[i])); break;
    case SAIL_WT_BF16: for (size_t i = 0; i < n; i++) put16(dst, i, sail_f32_to_bf16(src[i])); break;
    case SAIL_WT_Q8_0: quantize_q8_0(dst, src, n); break;
    }
}

void sail_dequantize_row(uint32_t type, float *dst, const void *src, size_t n) {
    switch (type) {
    case SAIL_WT_F32: memcpy(dst, src, n * sizeof(float)); break;
    case SAIL_WT_F16: for (size_t i = 0; i < n; i++) dst[i] = sail_f16_to_f32(get16(src, i)); break;
    case SAIL_WT_BF16: for (size_t i = 0; i < n; i++) dst[i] = sail_bf16_to_f32(get16(src, i)); break;
    case SAIL_WT_Q8_0: {
        /* The file's blocks are 34 bytes with no padding: read them bytewise. */
        const uint8_t *p = src;
        for (size_t b = 0; b < n / SAIL_Q8_0_BLOCK; b++, p += 34) {
            float d = sail_f16_to_f32(get16(p, 0));
            for (int j = 0; j < SAIL_Q8_0_BLOCK; j++) dst[b * SAIL_Q8_0_BLOCK + j] = d * (int8_t)p[2 + j];
        }
        break;
    }
    }
}
