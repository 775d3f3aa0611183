/* align.c: binding subtitle lines to video frames from a similarity matrix
 * sim (L lines x F frames, row-major). The monotonic version is a dynamic
 * programme: best[i][f] = sim[i][f] + max over g <= f of best[i-1][g], kept
 * as a running prefix maximum so the whole table costs O(L * F). */
#include "apps/apps.h"

#include <string.h>

double sail_align_greedy(const float *sim, int L, int F, int *frame) {
    double total = 0;
    for (int i = 0; i < L; i++) {
        const float *r = sim + (size_t)i * F;
        int arg = 0;
        for (int f = 1; f < F; f++)
            if (r[f] > r[arg]) arg = f;
        frame[i] = arg;
        total += r[arg];
    }
    return total;
}

sail_status sail_align_monotonic(const float *sim, int L, int F, int *frame, double *total,
                                 sail_error *err) {
    if (L < 1 || F < 1 || (size_t)L * F > ((size_t)1 << 30))
        return sail_set_error(err, SAIL_ERR_LIMIT, "alignment of %d lines to %d frames: need 1..2^30 cells", L, F);
    double *prev = sail_malloc((size_t)F * sizeof *prev), *cur = sail_malloc((size_t)F * sizeof *cur);
    /* back[i * F + f]: the frame of line i-1 on the best path ending at (i, f). */
    int *back = sail_malloc((size_t)L * F * sizeof *back);
    if (!prev || !cur || !back) {
        sail_free(prev); sail_free(cur); sail_free(back);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory aligning %d lines to %d frames", L, F);
    }
    for (int f = 0; f < F; f++) prev[f] = sim[f];
    for (int i = 1; i < L; i++) {
        const float *r = sim + (size_t)i * F;
        int arg = 0;
        for (int f = 0; f < F; f++) {
            if (prev[f] > prev[arg]) arg = f;
            cur[f] = prev[arg] + r[f];
            back[(size_t)i * F + f] = arg;
        }
        memcpy(prev, cur, (size_t)F * sizeof *prev);
    }
    int end = 0;
    for (int f = 1; f < F; f++)
        if (prev[f] > prev[end]) end = f;
    *total = prev[end];
    for (int i = L - 1; i >= 0; i--) {
        frame[i] = end;
        if (i) end = back[(size_t)i * F + end];
    }
    sail_free(prev); sail_free(cur); sail_free(back);
    return SAIL_OK;
}
