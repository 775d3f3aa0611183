/* test_pool.c: the thread pool runs every task exactly once, over many runs,
 * for pools of 1 to 4 threads (and the automatic size) and the NULL pool. */
#include "test.h"
#include "pool.h"

#include <stdatomic.h>
#include <string.h>

#define MAX_TASKS 1000

typedef struct count_ctx {
    atomic_int hits[MAX_TASKS];
    atomic_int bad_thread;
    int n_threads;
} count_ctx;

static void count_task(void *ctx, int task, int thread) {
    count_ctx *c = ctx;
    atomic_fetch_add(&c->hits[task], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_store(&c->bad_thread, 1);
}

/* runs runs of 0..MAX_TASKS tasks; true when each ran exactly once. */
static int exercise(sail_pool *p, int runs) {
    static count_ctx c;
    c.n_threads = sail_pool_size(p);
    for (int r = 0; r < runs; r++) {
        int n = (r * 37) % (MAX_TASKS + 1);
        for (int i = 0; i < MAX_TASKS; i++) atomic_store(&c.hits[i], 0);
        atomic_store(&c.bad_thread, 0);
        sail_pool_run(p, count_task, &c, n);
        for (int i = 0; i < MAX_TASKS; i++)
            if (atomic_load(&c.hits[i]) != (i < n)) {
                printf("#   run %d: task %d of %d ran %d times\n", r, i, n, atomic_load(&c.hits[i]));
                return 0;
            }
        if (atomic_load(&c.bad_thread)) return 0;
    }
    return 1;
}

static void sum_task(void *ctx, int task, int thread) {
    (void)thread;
    atomic_fetch_add((atomic_long *)ctx, task);
}

int main(void) {
    CHECK(sail_pool_size(NULL) == 1, "NULL pool has size 1");
    CHECK(exercise(NULL, 50), "NULL pool runs each task once on the caller");
    for (int n = 1; n <= 4; n++) {
        sail_pool *p = sail_pool_new(n);
        CHECK(p && sail_pool_size(p) == n, "pool of %d threads created", n);
        CHECK(exercise(p, 2000), "pool of %d: 2000 runs, each task exactly once", n);
        sail_pool_free(p);
    }
    sail_pool *p = sail_pool_new(0);
    CHECK(p && sail_pool_size(p) >= 1, "pool_new(0) uses the online cores (%d)", sail_pool_size(p));
    atomic_long sum = 0;
    for (int r = 0; r < 10000; r++) sail_pool_run(p, sum_task, &sum, 4);
    CHECK(atomic_load(&sum) == 60000, "10000 tiny back-to-back runs");
    sail_pool_free(p);
    sail_pool_free(NULL);
    /* A pool freed right after creation, and one freed while idle-sleeping. */
    sail_pool_free(sail_pool_new(3));
    return test_done();
}
