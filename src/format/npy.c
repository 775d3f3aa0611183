/* npy.c: the .npy writer (sail_npy_write_f32, declared in include/sail_apps.h
 * beside the reader). Layout (format 1.0):
 *   OFFSET SIZE
 *   0      6    magic "\x93NUMPY"
 *   6      2    version 1, 0
 *   8      2    header length H, little-endian
 *   10     H    Python dict literal (descr, fortran_order, shape), padded
 *               with spaces and ended by '\n' so the data starts on a
 *               64-byte boundary
 *   10+H        the data, C order */
#include "common.h"
#include "sail_apps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int host_is_little(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Header dict padded to a multiple of 64 with the 10 preamble bytes. */
static int npy_header(char *h, size_t cap, int ndim, const int64_t *shape, size_t *n) {
    int k = snprintf(h, cap, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        k += snprintf(h + k, cap - (size_t)k, "%lld,%s", (long long)shape[i],
                      i + 1 < ndim ? " " : "");
    if (ndim > 1) k--; /* "(3, 4)" but "(5,)" */
    k += snprintf(h + k, cap - (size_t)k, "), }");
    size_t total = ((size_t)k + 1 + 10 + 63) / 64 * 64 - 10;
    if (total >= cap) return -1;
    memset(h + k, ' ', total - (size_t)k);
    h[total - 1] = '\n';
    *n = total;
    return 0;
}

sail_status sail_npy_write_f32(const char *path, const float *data, int ndim,
                               const int64_t *shape, sail_error *err) {
    if (!path || ndim < 1 || ndim > 8 || !shape)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "npy: bad arguments");
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || !sail_mul_ok(count, (size_t)shape[i], &count))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: bad array shape", path);
    if (count && !data) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: no data", path);
    char h[512];
    size_t hn;
    if (npy_header(h, sizeof h, ndim, shape, &hn))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: array header too long", path);
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hn, (uint8_t)(hn >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, hn, f) == hn;
    if (host_is_little()) {
        ok = ok && fwrite(data, sizeof(float), count, f) == count;
    } else {
        for (size_t i = 0; ok && i < count; i++) {
            uint8_t b[4];
            memcpy(b, &data[i], 4);
            uint8_t r[4] = {b[3], b[2], b[1], b[0]};
            ok = fwrite(r, 1, 4, f) == 4;
        }
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        remove(path);
        return sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path,
                              strerror(e ? e : EIO));
    }
    return SAIL_OK;
}
