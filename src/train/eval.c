/* eval.c: recall at K by brute force over all candidates. */
#include "eval.h"

int sail_recall_at(const float *q, int nq, const float *c, int nc, int dim, sail_relevant_fn rel,
                   void *ctx, const int *ks, int nk, double *out) {
    int counted = 0;
    long hits[8] = {0};
    if (nk > 8) nk = 8;
    for (int i = 0; i < nq; i++) {
        const float *qi = q + (size_t)i * dim;
        double best = -1e300;
        int any = 0;
        for (int j = 0; j < nc; j++) {
            if (!rel(ctx, i, j)) continue;
            double s = 0;
            for (int d = 0; d < dim; d++) s += (double)qi[d] * c[(size_t)j * dim + d];
            if (!any || s > best) best = s;
            any = 1;
        }
        if (!any) continue;
        counted++;
        long rank = 0;
        for (int j = 0; j < nc; j++) {
            if (rel(ctx, i, j)) continue;
            double s = 0;
            for (int d = 0; d < dim; d++) s += (double)qi[d] * c[(size_t)j * dim + d];
            rank += s > best;
        }
        for (int k = 0; k < nk; k++) hits[k] += rank < ks[k];
    }
    for (int k = 0; k < nk; k++) out[k] = counted ? (double)hits[k] / counted : 0.0;
    return counted;
}
