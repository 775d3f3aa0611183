/* loader.c: worker threads fill a ring of `prefetch` batch slots. Batch b
 * goes to slot b % prefetch and may be started only once batch b - prefetch
 * has been handed back, so a slot is never written while the consumer reads
 * it. The consumer waits for exactly the batch it needs next. */
#include "loader.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct slot {
    sail_batch_data bd;
    int32_t *ids_a, *ids_b; /* (max_batch * context) */
    int *lens_a, *lens_b;   /* (max_batch) */
    float *pixels;          /* (max_batch, 3, side, side) */
    int ready, index;
    sail_status status;
    sail_error err;
} slot;

struct sail_loader {
    const sail_dataset *ds;
    sail_config cfg;
    const sail_text_tok *tok;
    sail_preprocess pp;
    int side, max_batch, n_workers, prefetch;
    slot *slots;            /* (prefetch) */
    pthread_t *threads;     /* (n_workers) */
    int n_running;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    const sail_plan *plan;
    int claim;              /* next batch a worker will start */
    int take;               /* next batch the consumer receives */
    int released;           /* batches < released are handed back */
    int held, stop;
};

static sail_status tokenize(const sail_loader *ld, const char *text, int32_t *ids, int *len,
                            sail_error *err) {
    return sail_text_tok_encode(ld->tok, text, strlen(text), ids, len, err);
}

static void fill(sail_loader *ld, slot *sl, int b) {
    const sail_plan *p = ld->plan;
    sail_batch_data *bd = &sl->bd;
    size_t per = (size_t)3 * ld->side * ld->side;
    size_t pa = 0, pb = 0;
    memset(bd, 0, sizeof *bd);
    bd->index = b;
    sl->status = SAIL_OK;
    bd->kind = ld->ds->items[p->order[p->bounds[b]]].kind;
    bd->items = (int32_t *)(sl->lens_b + ld->max_batch);
    bd->group = (int *)(bd->items + ld->max_batch);
    for (int i = p->bounds[b]; i < p->bounds[b + 1] && !sl->status; i++) {
        const sail_pair *it = &ld->ds->items[p->order[i]];
        int n = bd->n;
        int has_image = bd->kind != SAIL_PAIR_TEXT, has_text2 = bd->kind != SAIL_PAIR_IMAGE;
        if (has_image) {
            sail_image img = {0};
            sail_error e = {0};
            sail_status s = sail_image_load(it->image, NULL, &img, &e);
            if (!s) s = sail_image_preprocess(&img, &ld->pp, sl->pixels + (size_t)n * per, &e);
            sail_image_free(&img);
            if (s == SAIL_ERR_NOMEM) {
                sl->status = sail_set_error(&sl->err, s, "%s", e.msg);
                break;
            }
            if (s) {
                if (bd->n_dropped < (int)(sizeof bd->dropped_lines / sizeof *bd->dropped_lines))
                    bd->dropped_lines[bd->n_dropped] = it->line;
                if (!bd->n_dropped) snprintf(bd->dropped_why, sizeof bd->dropped_why, "%.190s", e.msg);
                bd->n_dropped++;
                continue;
            }
        }
        sl->status = tokenize(ld, it->text, sl->ids_a + pa, &sl->lens_a[n], &sl->err);
        if (!sl->status && has_text2)
            sl->status = tokenize(ld, it->text2, sl->ids_b + pb, &sl->lens_b[n], &sl->err);
        if (sl->status) {
            sail_error_prefix(&sl->err, "manifest line %d", it->line);
            break;
        }
        pa += (size_t)sl->lens_a[n];
        if (has_text2) pb += (size_t)sl->lens_b[n];
        bd->items[n] = p->order[i];
        bd->group[n] = it->group;
        bd->n++;
    }
    bd->a = (sail_tinput){.ids = sl->ids_a, .lens = sl->lens_a};
    /* side b: an image, a text, or both (one joint item each) */
    bd->b = (sail_tinput){0};
    if (bd->kind != SAIL_PAIR_TEXT) bd->b = (sail_tinput){.pixels = sl->pixels, .h = ld->side, .w = ld->side};
    if (bd->kind != SAIL_PAIR_IMAGE) {
        bd->b.ids = sl->ids_b;
        bd->b.lens = sl->lens_b;
    }
}

static void *worker(void *arg) {
    sail_loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->stop && ld->claim < ld->plan->n_batches && ld->claim >= ld->released + ld->prefetch)
            pthread_cond_wait(&ld->cv_work, &ld->mu);
        if (ld->stop || ld->claim >= ld->plan->n_batches) break;
        int b = ld->claim++;
        slot *sl = &ld->slots[b % ld->prefetch];
        pthread_mutex_unlock(&ld->mu);
        fill(ld, sl, b);
        pthread_mutex_lock(&ld->mu);
        sl->index = b;
        sl->ready = 1;
        pthread_cond_broadcast(&ld->cv_ready);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

sail_loader *sail_loader_new(const sail_dataset *ds, const sail_config *c,
                             const sail_text_tok *tok, int max_batch, int n_workers,
                             int prefetch, sail_error *err) {
    if (!ds || !c || !tok || max_batch < 1 || max_batch > 65536 || n_workers < 1 || n_workers > 256 ||
        prefetch < 1 || prefetch > 256) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "loader: bad arguments (batch %d, workers %d, prefetch %d)",
                       max_batch, n_workers, prefetch);
        return NULL;
    }
    sail_loader *ld = sail_calloc(1, sizeof *ld);
    if (!ld) goto oom;
    ld->ds = ds;
    ld->cfg = *c;
    ld->tok = tok;
    ld->pp = sail_config_preprocess(c);
    ld->side = sail_preprocess_side(&ld->pp);
    ld->max_batch = max_batch;
    ld->n_workers = n_workers;
    ld->prefetch = prefetch;
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv_work, NULL);
    pthread_cond_init(&ld->cv_ready, NULL);
    ld->slots = sail_calloc((size_t)prefetch, sizeof *ld->slots);
    ld->threads = sail_calloc((size_t)n_workers, sizeof *ld->threads);
    if (!ld->slots || !ld->threads) goto oom;
    size_t ctx = (size_t)c->context, per = (size_t)3 * ld->side * ld->side;
    for (int i = 0; i < prefetch; i++) {
        slot *sl = &ld->slots[i];
        sl->ids_a = sail_malloc((size_t)max_batch * ctx * sizeof(int32_t));
        sl->ids_b = sail_malloc((size_t)max_batch * ctx * sizeof(int32_t));
        /* lens_a, lens_b, items, group: one block of 4 * max_batch ints */
        sl->lens_a = sail_malloc((size_t)max_batch * 4 * sizeof(int));
        int images = ds->n_kind[SAIL_PAIR_IMAGE] + ds->n_kind[SAIL_PAIR_JOINT];
        sl->pixels = images ? sail_alloc_aligned((size_t)max_batch * per * sizeof(float)) : NULL;
        if (!sl->ids_a || !sl->ids_b || !sl->lens_a || (images && !sl->pixels)) goto oom;
        sl->lens_b = sl->lens_a + max_batch;
    }
    return ld;
oom:
    sail_loader_free(ld);
    sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d prefetched batches of %d pairs", prefetch, max_batch);
    return NULL;
}

void sail_loader_end(sail_loader *ld) {
    if (!ld) return;
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->cv_work);
    pthread_mutex_unlock(&ld->mu);
    for (int i = 0; i < ld->n_running; i++) pthread_join(ld->threads[i], NULL);
    ld->n_running = 0;
    ld->plan = NULL;
}

void sail_loader_free(sail_loader *ld) {
    if (!ld) return;
    sail_loader_end(ld);
    if (ld->slots)
        for (int i = 0; i < ld->prefetch; i++) {
            sail_free(ld->slots[i].ids_a);
            sail_free(ld->slots[i].ids_b);
            sail_free(ld->slots[i].lens_a);
            sail_free(ld->slots[i].pixels);
        }
    sail_free(ld->slots);
    sail_free(ld->threads);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->cv_work);
    pthread_cond_destroy(&ld->cv_ready);
    sail_free(ld);
}

sail_status sail_loader_begin(sail_loader *ld, const sail_plan *p, int first, sail_error *err) {
    sail_loader_end(ld);
    if (!p || first < 0 || first > p->n_batches)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loader: batch %d is outside the plan", first);
    for (int b = 0; b < p->n_batches; b++)
        if (p->bounds[b + 1] - p->bounds[b] > ld->max_batch)
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loader: batch %d has %d pairs; the limit is %d",
                                  b, p->bounds[b + 1] - p->bounds[b], ld->max_batch);
    for (int i = 0; i < ld->prefetch; i++) ld->slots[i].ready = 0;
    ld->plan = p;
    ld->claim = ld->take = ld->released = first;
    ld->held = ld->stop = 0;
    for (int i = 0; i < ld->n_workers; i++) {
        if (pthread_create(&ld->threads[i], NULL, worker, ld)) {
            sail_loader_end(ld);
            return sail_set_error(err, SAIL_ERR_NOMEM, "loader: cannot start a worker thread");
        }
        ld->n_running++;
    }
    return SAIL_OK;
}

sail_status sail_loader_next(sail_loader *ld, const sail_batch_data **out, sail_error *err) {
    *out = NULL;
    if (!ld->plan) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "loader: no pass in progress");
    pthread_mutex_lock(&ld->mu);
    if (ld->held) {
        ld->slots[(ld->take - 1) % ld->prefetch].ready = 0;
        ld->released = ld->take;
        ld->held = 0;
        pthread_cond_broadcast(&ld->cv_work);
    }
    if (ld->take >= ld->plan->n_batches) {
        pthread_mutex_unlock(&ld->mu);
        return SAIL_OK;
    }
    slot *sl = &ld->slots[ld->take % ld->prefetch];
    while (!(sl->ready && sl->index == ld->take)) pthread_cond_wait(&ld->cv_ready, &ld->mu);
    ld->take++;
    ld->held = 1;
    pthread_mutex_unlock(&ld->mu);
    if (sl->status) {
        if (err) *err = sl->err;
        return sl->status;
    }
    *out = &sl->bd;
    return SAIL_OK;
}
