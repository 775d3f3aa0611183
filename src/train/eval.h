/* eval.h: retrieval recall at K from embeddings. */
#ifndef SAIL_EVAL_H
#define SAIL_EVAL_H

#include "common.h"

/* Whether candidate c is a correct answer for query q. */
typedef int (*sail_relevant_fn)(void *ctx, int q, int c);

/* q (nq, dim) and c (nc, dim) are L2-normalised; scores are dot products
 * summed in double. Query q is a hit at K when a relevant candidate is among
 * its K best; ties are broken in favour of relevant candidates, so the rank
 * of q is the number of irrelevant candidates scoring strictly above its best
 * relevant one. out[k] = hits at ks[k] / (queries with any relevant
 * candidate), nk <= 8. Returns that query count. Single-threaded and
 * deterministic. */
int sail_recall_at(const float *q, int nq, const float *c, int nc, int dim, sail_relevant_fn rel,
                   void *ctx, const int *ks, int nk, double *out);

#endif
