/* npy.h: writing NumPy .npy files (format version 1.0), the array format
 * `sail preprocess` and `sail embed --format npy` hand to Python. */
#ifndef SAIL_NPY_H
#define SAIL_NPY_H

#include "common.h"

/* Write a C-order float32 array of ndim (1..8) dimensions to path as
 * '<f4' (little-endian whatever the host). Returns SAIL_OK, or an I/O or
 * argument error naming path. Thread-safe (touches only path). */
sail_status sail_npy_write_f32(const char *path, const float *data, int ndim,
                               const int64_t *shape, sail_error *err);

#endif
