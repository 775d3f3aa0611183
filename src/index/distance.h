/* distance.h: the vector-distance kernels of the index (f32 queries against
 * f32, f16 or int8 stored vectors) and the f16/int8 codecs.
 *
 * distance.c holds the plain C references; distance_avx2.c the AVX2+FMA+F16C
 * versions, distance_avx512.c the AVX-512 ones. sail_dist() picks one table
 * at start-up from sail_cpu() (the CPU, capped by SAIL_ISA), as every
 * dispatcher does.
 * Pointers may be unaligned; d >= 1. */
#ifndef SAIL_INDEX_DISTANCE_H
#define SAIL_INDEX_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/numfmt.h"

/* Shape of a scan tile: rows of the index x queries. */
#define SAIL_TILE_ROWS 6
#define SAIL_TILE_QUERIES 16

typedef struct sail_dist_table {
    const char *name;
    float (*dot_f32)(const float *q, const float *x, int d);
    float (*l2_f32)(const float *q, const float *x, int d);      /* squared */
    float (*dot_f16)(const float *q, const uint16_t *x, int d);
    float (*l2_f16)(const float *q, const uint16_t *x, int d);
    /* int8 codes x with scale s stand for s*x */
    float (*dot_i8)(const float *q, const int8_t *x, float s, int d);
    float (*l2_i8)(const float *q, const int8_t *x, float s, int d);
    void (*f16_to_f32)(float *out, const uint16_t *in, size_t n);
    void (*i8_to_f32)(float *out, const int8_t *in, float s, size_t n);
    /* One tile of a many-query exact scan: 6 stored rows against a panel of
     * 16 queries (see sail_pack_panel). For r < 6, j < 16:
     *   dist[16 r + j] = (qadd[j] + radd[r]) + mul * dot(rows[r], query j)
     * (IP: qadd = radd = 0, mul = -1; L2: squared norms and mul = -2).
     * Returns nonzero when some dist[16 r + j] <= bound[j], so a caller
     * whose heaps reject everything above bound skips the tile unread. */
    int (*scan_tile)(const float *const rows[SAIL_TILE_ROWS], const float *panel, int d,
                     const float *qadd, const float *radd, float mul, const float *bound, float *dist);
} sail_dist_table;

extern const sail_dist_table sail_dist_ref;
extern const sail_dist_table sail_dist_avx2;
extern const sail_dist_table sail_dist_avx512;

/* The table for this CPU (thread-safe). */
const sail_dist_table *sail_dist(void);
/* The AVX2 table when this CPU has AVX2+FMA+F16C, else NULL (for tests). */
const sail_dist_table *sail_dist_avx2_if_supported(void);
/* The AVX-512 table when this CPU has AVX-512 F/BW/DQ/VL (+F16C), else NULL. */
const sail_dist_table *sail_dist_avx512_if_supported(void);

/* Queries q (n <= 16 rows of d) as a scan panel: panel[16 k + j] =
 * q[j][k], zero for j >= n. panel holds 16 d floats. */
void sail_pack_panel(float *panel, const float *q, int n, int d);

/* Half floats: sail_f16_to_f32 / sail_f32_to_f16 from kernels/numfmt.h
 * (round to nearest even, bit-exact with F16C's vcvtph2ps / vcvtps2ph). */

/* Symmetric int8: scale = max|x| / 127, code = round(x / scale). Returns
 * the scale (0 for a zero vector, whose codes are all 0). */
float sail_quantize_i8(int8_t *code, const float *x, int d);

#endif
