/* pool.c: persistent pthread workers with a blocking parallel-for.
 *
 * A run publishes (fn, ctx, n_tasks), then one 64-bit word: its generation
 * in the high half, the next task index in the low half. Workers and the
 * caller claim tasks by compare-and-swap on that word, so a task is only
 * ever taken by a thread that saw the run it belongs to, and the run ends
 * when its tasks are done, not when every worker has looked in: a worker
 * that wakes late (asleep, or without a free core on a loaded machine)
 * finds the run over and costs the caller nothing. Workers spin briefly
 * before sleeping on a condition variable, because model code issues many
 * short runs back to back (one per layer op) and a futex wake-up per run
 * would cost more than small GEMMs themselves. */
#include "pool.h"
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
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
    pthread_cond_t wake;       /* signalled when a run starts or on stop */
    pthread_cond_t done;       /* signalled when the last task of a run ends */
    atomic_int stop;
    _Atomic uint64_t work;     /* generation << 32 | next task index */
    /* The current run: written before its generation is published and not
     * again until all its tasks are done (atomic only so that a late reader,
     * whose claim then fails, does not race). */
    _Atomic(sail_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_int n_tasks;
    atomic_int finished;       /* tasks of the current run done */
};

typedef struct worker_arg {
    sail_pool *p;
    int id;
} worker_arg;

static uint32_t gen_of(uint64_t w) { return (uint32_t)(w >> 32); }
/* Task index of a word that admits no claim. */
#define CLOSED UINT32_MAX

/* Claims and runs tasks of generation gen until none are left. A claim
 * succeeds only while the word still holds (gen, i), so the run cannot
 * have ended (task i is not done) and fn, ctx, n read after seeing it are
 * that run's. */
static void take_tasks(sail_pool *p, uint32_t gen, int thread) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
        if (gen_of(w) != gen) return;
        uint32_t i = (uint32_t)w; /* CLOSED while a new run is being set up */
        int n = atomic_load_explicit(&p->n_tasks, memory_order_acquire);
        if (i >= (uint32_t)n) return;
        sail_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, w + 1, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        fn(ctx, (int)i, thread);
        if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == n) {
            /* Under the mutex so the caller cannot miss the signal between
             * its check of finished and its wait. */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* Waits for a generation other than seen; returns it (seen on stop). */
static uint32_t wait_for_run(sail_pool *p, uint32_t seen) {
    for (int i = 0; i < SPIN_ITERS; i++) {
        uint32_t g = gen_of(atomic_load_explicit(&p->work, memory_order_acquire));
        if (g != seen || atomic_load(&p->stop)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    uint32_t g;
    while ((g = gen_of(atomic_load(&p->work))) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg) {
    sail_pool *p = ((worker_arg *)arg)->p;
    int id = ((worker_arg *)arg)->id;
    sail_free(arg);
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_run(p, seen);
        if (atomic_load(&p->stop)) break;
        take_tasks(p, seen, id);
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
    /* First close the last run's word: a thread still in take_tasks with
     * its (gen, i) may read the new n below, and its claim must then fail;
     * it does, as the release store of n orders this store before it. */
    uint32_t gen = gen_of(atomic_load_explicit(&p->work, memory_order_relaxed));
    atomic_store_explicit(&p->work, (uint64_t)gen << 32 | CLOSED, memory_order_relaxed);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&p->n_tasks, n_tasks, memory_order_release);
    gen++;
    atomic_store_explicit(&p->work, (uint64_t)gen << 32, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    take_tasks(p, gen, 0);
    for (int i = 0; i < SPIN_ITERS; i++) {
        if (atomic_load_explicit(&p->finished, memory_order_acquire) == n_tasks) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->finished, memory_order_acquire) != n_tasks)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
