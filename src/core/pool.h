/* pool.h: a fixed thread pool with a blocking parallel-for.
 * The calling thread takes part in the work, so a pool of n threads starts
 * n-1 workers. sail_pool_run is not re-entrant: one run at a time per pool. */
#ifndef SAIL_POOL_H
#define SAIL_POOL_H

/* sail_pool, sail_pool_new and sail_pool_free are public: sail_apps.h. */
#include "sail_apps.h"

/* fn(ctx, task, thread): task in [0, n_tasks), thread in [0, pool size). */
typedef void (*sail_task_fn)(void *ctx, int task, int thread);

/* Number of threads (>= 1); a NULL pool counts as 1. */
int sail_pool_size(const sail_pool *p);
/* Runs every task once and returns when all are done. A NULL pool runs
 * them serially on the caller. Tasks are handed out dynamically. */
void sail_pool_run(sail_pool *p, sail_task_fn fn, void *ctx, int n_tasks);

#endif
