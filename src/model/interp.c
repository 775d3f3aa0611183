/* interp.c: bicubic resampling of the vision position-embedding grid (and
 * of HTSAT's spectrogram along time, with its transpose for training), the
 * way torchvision's interpolate_embeddings calls
 * F.interpolate(mode="bicubic", align_corners=True): source coordinate
 * = dst * (in - 1) / (out - 1), Keys cubic with A = -0.75, edge clamping. */
#include "model.h"

#include <math.h>
#include <string.h>

static void cubic_weights(float t, float wt[4]) {
    const float A = -0.75f;
    float x1 = t + 1, x2 = t, x3 = 1 - t, x4 = 2 - t;
    wt[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
    wt[1] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
    wt[2] = ((A + 2) * x3 - (A + 3)) * x3 * x3 + 1;
    wt[3] = ((A * x4 - 5 * A) * x4 + 8 * A) * x4 - 4 * A;
}

/* Source index and weights for output coordinate o of n_out from n_in. */
static void taps(int o, int n_out, int n_in, int idx[4], float wt[4]) {
    float scale = n_out > 1 ? (float)(n_in - 1) / (float)(n_out - 1) : 0.0f;
    float real = scale * (float)o;
    int i0 = (int)floorf(real);
    cubic_weights(real - (float)i0, wt);
    for (int k = 0; k < 4; k++) idx[k] = SAIL_MIN(SAIL_MAX(i0 - 1 + k, 0), n_in - 1);
}

void sail_interp_bicubic(float *dst, int gh, int gw, const float *src, int gi, int d) {
    for (int y = 0; y < gh; y++) {
        int iy[4], ix[4];
        float wy[4], wx[4];
        taps(y, gh, gi, iy, wy);
        for (int x = 0; x < gw; x++) {
            taps(x, gw, gi, ix, wx);
            float *o = dst + ((size_t)y * gw + x) * d;
            memset(o, 0, (size_t)d * sizeof(float));
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) {
                    const float *s = src + ((size_t)iy[a] * gi + ix[b]) * d;
                    float wgt = wy[a] * wx[b];
                    for (int j = 0; j < d; j++) o[j] += wgt * s[j];
                }
        }
    }
}

void sail_interp_cubic_rows(float *dst, int n_out, const float *src, int n_in, int rows) {
    for (int o = 0; o < n_out; o++) {
        int ix[4];
        float wx[4];
        taps(o, n_out, n_in, ix, wx);
        for (int r = 0; r < rows; r++) {
            const float *s = src + (size_t)r * n_in;
            dst[(size_t)r * n_out + o] = wx[0] * s[ix[0]] + wx[1] * s[ix[1]] + wx[2] * s[ix[2]] + wx[3] * s[ix[3]];
        }
    }
}

void sail_interp_cubic_rows_backward(float *dsrc, int n_in, const float *ddst, int n_out, int rows) {
    memset(dsrc, 0, (size_t)rows * n_in * sizeof *dsrc);
    for (int o = 0; o < n_out; o++) {
        int ix[4];
        float wx[4];
        taps(o, n_out, n_in, ix, wx);
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < 4; k++) dsrc[(size_t)r * n_in + ix[k]] += wx[k] * ddst[(size_t)r * n_out + o];
    }
}
