/* numfmt.h: the element types weights and vectors are stored in (F32, F16,
 * BF16, Q8_0) and the conversions between them and f32. Plain C,
 * bit-exact with the references the tests compare against: IEEE half with
 * round-to-nearest-even (numpy's float16), bf16 with round-to-nearest-even
 * (PyTorch's bfloat16), and ggml's q8_0 block (f16 scale amax/127, then 32
 * int8 values round(x / scale)). */
#ifndef SAIL_NUMFMT_H
#define SAIL_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Storage types, numbered as ggml numbers them, so a GGUF tensor's type is
 * one of these as it stands in the file. */
typedef enum sail_wtype {
    SAIL_WT_F32 = 0, SAIL_WT_F16 = 1, SAIL_WT_Q8_0 = 8, SAIL_WT_BF16 = 30
} sail_wtype;

/* A Q8_0 block in a file: 34 bytes, an f16 scale d then 32 int8 q; value i
 * is d * q[i]. Blocks are unaligned (read them bytewise). */
enum { SAIL_Q8_0_BLOCK = 32 };

uint16_t sail_f32_to_f16(float f);
float sail_f16_to_f32(uint16_t h);
uint16_t sail_f32_to_bf16(float f);
float sail_bf16_to_f32(uint16_t h);

/* n must be a multiple of SAIL_Q8_0_BLOCK for q8_0. dst holds the encoded
 * bytes (gguf_type_nbytes(type, n) in format/gguf.h); neither pointer needs alignment. */
void sail_quantize_row(uint32_t type, void *dst, const float *src, size_t n);
/* Decode n values of element type `type` (sail_wtype) into f32. */
void sail_dequantize_row(uint32_t type, float *dst, const void *src, size_t n);

#endif
