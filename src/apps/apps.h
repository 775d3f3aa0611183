/* apps.h: the helpers the apps (src/apps) share; their public API is
 * include/sail_apps.h. */
#ifndef SAIL_APPS_IMPL_H
#define SAIL_APPS_IMPL_H

#include "common.h"
#include "pool.h"
#include "sail_apps.h"

/* Squared Euclidean distances D(n, k) between rows of x (n x d) and c (k x d),
 * through the GEMM kernel; xn (n) and cn (k) are the rows' squared norms. */
void apps_sqdist(const float *x, const float *xn, int n, const float *c, const float *cn,
                 int k, int d, float *D);

/* Write len bytes to path atomically (temp file in the same folder, fsync,
 * rename). */
sail_status apps_write_file(const char *path, const void *buf, size_t len, sail_error *err);

/* The files the apps save (PCA, classifier) start with an 8-byte magic
 * and two u32 sizes. apps_header writes those at b and returns what
 * follows; apps_read_file reads path (at most 2 GiB) into *buf (the
 * caller frees it) and *len, and the sizes into dims: a file shorter than
 * min_len (at least 16) or with another magic is SAIL_ERR_FORMAT "PATH: not a WHAT". */
unsigned char *apps_header(unsigned char *b, const char magic[8], uint32_t d0, uint32_t d1);
sail_status apps_read_file(const char *path, const char magic[8], size_t min_len, const char *what,
                           unsigned char **buf, size_t *len, uint32_t dims[2], sail_error *err);

/* s[0, n) += r[0, n), in double (cluster sums, PCA's mean). */
void apps_add_f64(double *restrict s, const float *restrict r, int n);
/* Squared norm of each of n rows of d floats. */
void apps_row_sqnorms(const float *x, int n, int d, float *out);
/* Squared Euclidean distance of two d-float rows, summed in double (the
 * exact check behind the GEMM distances in k-means and DBSCAN). */
double apps_sqdist_exact(const float *a, const float *b, int d);

#endif
