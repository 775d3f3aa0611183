/* resize_impl.h: the two convolution passes of the PIL-exact resampler,
 * shared by the portable kernels (resize.c) and the AVX2 ones
 * (resize_avx2.c). Internal to src/image. */
#ifndef SAIL_RESIZE_IMPL_H
#define SAIL_RESIZE_IMPL_H

#include <stdint.h>

/* PIL's fixed point: 8 bits of result, 2 bits of headroom for the negative
 * lobes, the rest fraction. */
#define SAIL_RS_PRECISION_BITS (32 - 8 - 2)

/* Filter taps for one axis: output position i reads `len[i]` inputs from
 * `first[i]` with weights k[i*ksize ...] (fixed point, PIL's rounding). */
typedef struct sail_rs_coeffs {
    int ksize;
    int *first;     /* (out) */
    int *len;       /* (out) */
    int32_t *k;     /* (out, ksize) */
} sail_rs_coeffs;

/* Horizontal pass: rows x src_w RGB -> rows x dst_w RGB; -1 when out of
 * memory for its scratch. */
typedef int (*sail_rs_hpass_fn)(uint8_t *dst, int dst_w, const uint8_t *src, int src_w,
                                 int rows, const sail_rs_coeffs *c);
/* Vertical pass: src (w RGB pixels per row) -> dst_h rows; acc holds w*3
 * int32 scratch. */
typedef void (*sail_rs_vpass_fn)(uint8_t *dst, int dst_h, const uint8_t *src, int w,
                                 const sail_rs_coeffs *c, int32_t *acc);

/* The portable passes (the reference tests/test_image.c holds the SIMD
 * ones to) and the AVX2 ones. */
int sail_rs_hpass_ref(uint8_t *dst, int dst_w, const uint8_t *src, int src_w, int rows,
                      const sail_rs_coeffs *c);
void sail_rs_vpass_ref(uint8_t *dst, int dst_h, const uint8_t *src, int w,
                       const sail_rs_coeffs *c, int32_t *acc);
int sail_rs_hpass_avx2(uint8_t *dst, int dst_w, const uint8_t *src, int src_w, int rows,
                       const sail_rs_coeffs *c);
void sail_rs_vpass_avx2(uint8_t *dst, int dst_h, const uint8_t *src, int w,
                        const sail_rs_coeffs *c, int32_t *acc);

/* PIL's clip8: the integer part of a fixed-point sum, clamped to 0..255. */
static inline uint8_t sail_rs_clip8(int32_t v) {
    v >>= SAIL_RS_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

#endif
