/* dist.h: the gradients of one optimiser step summed over its micro-batches
 * in a fixed order, in one process or over the ranks of a data-parallel run
 * (sail_train_comm, include/sail_train.h).
 *
 * A step of K micro-batches over N ranks runs in rounds: in round j, rank r
 * computes micro-batch j * N + r of the step, from zeroed gradients. The
 * step's gradient is ((g_0 + g_1) + g_2) + ... over the micro-batches that
 * had pairs, in micro-batch order, whatever N is: one process adds each
 * micro-batch's gradient to a running sum; N ranks each own a 1/N slice of
 * the parameters, receive every rank's slice of each round (an all-to-all:
 * bytes only) and add them in rank order, then gather the slices at the end
 * of the step. So N ranks with K micro-batches per rank compute exactly
 * what one process computes with K * N (for the same compute thread count),
 * bit for bit. Losses and pair counts are summed the same way. */
#ifndef SAIL_DIST_H
#define SAIL_DIST_H

#include "dataset.h"
#include "sail_train.h"

typedef struct sail_accum {
    const sail_train_comm *comm;    /* NULL: one process */
    int rank, size;
    size_t n;               /* floats in the gradient block */
    size_t chunk;           /* floats of each rank's slice (n rounded up to size slices) */
    float *sum;             /* (size * chunk) one process: the running sum;
                               ranks: own slice at rank * chunk, all after finish */
    float *send, *recv;     /* (size * chunk) ranks only: one round's exchange */
    int have;               /* micro-batches in sum so far */
    double loss, pairs;     /* summed over the step's micro-batches with pairs */
    int stop;               /* some rank asked to stop */
} sail_accum;

/* Buffers for a gradient block of n floats. comm may be NULL. */
sail_status sail_accum_init(sail_accum *a, const sail_train_comm *comm, size_t n, sail_error *err);
void sail_accum_free(sail_accum *a);

/* Start a step. */
void sail_accum_begin(sail_accum *a);

/* One round: this rank's micro-batch gradient g (n floats; ignored when
 * has is 0: no micro-batch, or one of fewer than 2 pairs), its loss and
 * pair count, and whether this process wants to stop. Collective. */
sail_status sail_accum_round(sail_accum *a, const float *g, int has, double loss, int pairs, int stop,
                             sail_error *err);

/* End the step: *g = the summed gradient (n floats, valid until the next
 * begin; the caller may scale it in place); a->have, loss, pairs and stop
 * hold the step's totals. Collective. */
sail_status sail_accum_finish(sail_accum *a, float **g, sail_error *err);

/* The batches of plan p that rank `rank` of `size` computes (p's batches
 * rank, rank + size, ...), as a plan of their own. */
sail_status sail_plan_rank(const sail_plan *p, int rank, int size, sail_plan *out, sail_error *err);

#endif
