/* pool.c: persistent pthread workers with a blocking parallel-for.
 *
 * A run publishes (fn, ctx, n_tasks) and bumps a generation counter; workers
 * and the caller then take task indices from one atomic counter until they
 * run out. Workers spin briefly before sleeping on a condition variable,
 * because model code issues many short runs back to back (one per layer op)
 * and a futex wake-up per run would cost more than small GEMMs themselves. */
#include "pool.h"
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* About 20-50 us of pause instructions before a thread blocks. */
#define SPIN_ITERS 4000

struct sail_pool {
    int n;                     /* threads including the caller */
    pthread_t *threads;        /* (n - 1) workers */
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* signalled when gen changes or on stop */
    pthread_cond_t done;       /* signalled when the last worker finishes */
    atomic_uint gen;           /* run counter; a change means new work */
    atomic_int stop;
    sail_task_fn fn;           /* the current run, valid while it lasts */
    void *ctx;
    int n_tasks;
    atomic_int next;           /* next task index to hand out */
    atomic_int busy;           /* workers not yet finished with this run */
};

typedef struct worker_arg {
    sail_pool *p;
    int id;
} worker_arg;

static void take_tasks(sail_pool *p, int thread) {
    sail_task_fn fn = p->fn;
    void *ctx = p->ctx;
    int n = p->n_tasks, t;
    while ((t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < n)
        fn(ctx, t, thread);
}

/* Waits for a generation other than seen; returns it, or seen on stop. */
static unsigned wait_for_run(sail_pool *p, unsigned seen) {
    for (int i = 0; i < SPIN_ITERS; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load(&p->stop)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg) {
    sail_pool *p = ((worker_arg *)arg)->p;
    int id = ((worker_arg *)arg)->id;
    sail_free(arg);
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_run(p, seen);
        if (atomic_load(&p->stop)) break;
        take_tasks(p, id);
        if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
            /* Under the mutex so the caller cannot miss the signal between
             * its check of busy and its wait. */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static void stop_workers(sail_pool *p, int started) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++) pthread_join(p->threads[i], NULL);
}

sail_pool *sail_pool_new(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)SAIL_MIN(c, 1024) : 1;
    }
    sail_pool *p = sail_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    p->threads = sail_calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { sail_free(p); return NULL; }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < n_threads - 1; i++) {
        worker_arg *a = sail_malloc(sizeof *a);
        if (a) *a = (worker_arg){p, i + 1};
        if (!a || pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
            sail_free(a);
            p->n = i + 1;
            sail_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void sail_pool_free(sail_pool *p) {
    if (!p) return;
    stop_workers(p, p->n - 1);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    sail_free(p->threads);
    sail_free(p);
}

int sail_pool_size(const sail_pool *p) { return p ? p->n : 1; }

void sail_pool_run(sail_pool *p, sail_task_fn fn, void *ctx, int n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->busy, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    take_tasks(p, 0);
    for (int i = 0; i < SPIN_ITERS; i++) {
        if (atomic_load_explicit(&p->busy, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->busy, memory_order_acquire) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
