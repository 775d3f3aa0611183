/* loader.c: worker threads fill a ring of `prefetch` batch slots. Batch b
 * goes to slot b % prefetch and may be started only once batch b - prefetch
 * has been handed back, so a slot is never written while the consumer reads
 * it. The consumer waits for exactly the batch it needs next. */
#include "loader.h"

#include "video/video.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* One side's buffers in a slot. */
typedef struct side_buf {
    int32_t *ids;           /* (max_batch * context) */
    int *lens;              /* (max_batch) */
    float *pixels;          /* (max_batch * the most images an item of this side has,
                               3, side, side), or NULL */
    float *spec;            /* (max_batch, mel bins, frames) when items of this side have a clip */
} side_buf;

typedef struct slot {
    sail_batch_data bd;
    side_buf sb[2];         /* side a, side b */
    int32_t *items;         /* (max_batch) */
    int *group;             /* (max_batch) */
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
    size_t spec_len;        /* floats of one spectrogram (the audio tower's input) */
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

/* Images per item of a side: its video's frames, its image, or none. */
static int side_frames(const sail_side *sd) {
    return sd->video ? SAIL_VIDEO_ITEM_FRAMES : sd->image ? 1 : 0;
}

/* The side's image or video frames into px (side_frames tensors). */
static sail_status side_pixels(const sail_loader *ld, const sail_side *sd, float *px, sail_error *e) {
    size_t per = (size_t)3 * ld->side * ld->side;
    sail_image img = {0};
    sail_status s;
    if (sd->image) {
        s = sail_image_load(sd->image, NULL, &img, e);
        if (!s) s = sail_image_preprocess(&img, &ld->pp, px, e);
        sail_image_free(&img);
        return s;
    }
    uint8_t *rgb = NULL;
    s = sail_video_sample(sd->video, SAIL_VIDEO_ITEM_FRAMES, &rgb, &img.w, &img.h, e);
    for (int k = 0; !s && k < SAIL_VIDEO_ITEM_FRAMES; k++) {
        img.rgb = rgb + (size_t)k * img.w * img.h * 3;
        s = sail_image_preprocess(&img, &ld->pp, px + k * per, e);
    }
    sail_free(rgb);
    return s;
}

/* The side's clip (an audio file, or a video's sound) into spec. */
static sail_status side_spec(const sail_loader *ld, const sail_side *sd, float *spec, sail_error *e) {
    sail_audio_options o = sail_config_audio_options(&ld->cfg);
    sail_audio a = {0};
    sail_status s = sail_audio_decode_file(sd->audio, &o, &a, e);
    if (!s) s = sail_audio_spectrogram(&ld->cfg, a.samples, a.n, spec, e);
    sail_audio_free(&a);
    return s;
}

/* A side's image, frames and clip for item n of the batch. */
static sail_status side_media(const sail_loader *ld, const sail_side *sd, side_buf *sb, int n, sail_error *e) {
    size_t per = (size_t)3 * ld->side * ld->side;
    int fr = side_frames(sd);
    sail_status s = fr ? side_pixels(ld, sd, sb->pixels + (size_t)n * fr * per, e) : SAIL_OK;
    if (!s && sd->audio) s = side_spec(ld, sd, sb->spec + (size_t)n * ld->spec_len, e);
    return s;
}

static void note_dropped(sail_batch_data *bd, int line, const char *msg) {
    if (bd->n_dropped < (int)(sizeof bd->dropped_lines / sizeof *bd->dropped_lines))
        bd->dropped_lines[bd->n_dropped] = line;
    if (!bd->n_dropped) snprintf(bd->dropped_why, sizeof bd->dropped_why, "%.190s", msg);
    bd->n_dropped++;
}

static void fill(sail_loader *ld, slot *sl, int b) {
    const sail_plan *p = ld->plan;
    sail_batch_data *bd = &sl->bd;
    size_t pos[2] = {0, 0};
    memset(bd, 0, sizeof *bd);
    bd->index = b;
    sl->status = SAIL_OK;
    bd->items = sl->items;
    bd->group = sl->group;
    const sail_pair *first = &ld->ds->items[p->order[p->bounds[b]]];
    bd->kind = first->kind;
    const sail_side *shape[2] = {&first->a, &first->b}; /* every pair of the batch has these shapes */
    for (int i = p->bounds[b]; i < p->bounds[b + 1] && !sl->status; i++) {
        const sail_pair *it = &ld->ds->items[p->order[i]];
        const sail_side *sd[2] = {&it->a, &it->b};
        int n = bd->n, drop = 0;
        for (int k = 0; k < 2 && !drop; k++) {
            sail_error e = {0};
            sail_status s = side_media(ld, sd[k], &sl->sb[k], n, &e);
            if (s == SAIL_ERR_NOMEM) sl->status = sail_set_error(&sl->err, s, "%s", e.msg);
            else if (s) note_dropped(bd, it->line, e.msg);
            drop = s != SAIL_OK;
        }
        if (drop) continue;
        for (int k = 0; k < 2 && !sl->status; k++) {
            if (!sd[k]->text) continue;
            side_buf *sb = &sl->sb[k];
            sl->status = sail_text_tok_encode(ld->tok, sd[k]->text, strlen(sd[k]->text), sb->ids + pos[k],
                                              &sb->lens[n], &sl->err);
            pos[k] += (size_t)sb->lens[n];
        }
        if (sl->status) {
            sail_error_prefix(&sl->err, "manifest line %d", it->line);
            break;
        }
        bd->items[n] = p->order[i];
        bd->group[n] = it->group;
        bd->n++;
    }
    sail_tinput *in[2] = {&bd->a, &bd->b};
    for (int k = 0; k < 2; k++) {
        const side_buf *sb = &sl->sb[k];
        int fr = side_frames(shape[k]);
        *in[k] = (sail_tinput){0};
        if (shape[k]->text) {
            in[k]->ids = sb->ids;
            in[k]->lens = sb->lens;
        }
        if (fr) {
            in[k]->pixels = sb->pixels;
            in[k]->h = in[k]->w = ld->side;
            in[k]->frames = fr;
        }
        if (shape[k]->audio) in[k]->spec = sb->spec;
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
    int frames[2] = {0, 0}, clips[2] = {0, 0};
    for (int i = 0; i < ds->n; i++) {
        frames[0] = SAIL_MAX(frames[0], side_frames(&ds->items[i].a));
        frames[1] = SAIL_MAX(frames[1], side_frames(&ds->items[i].b));
        clips[0] |= ds->items[i].a.audio != NULL;
        clips[1] |= ds->items[i].b.audio != NULL;
    }
    if ((clips[0] || clips[1]) && !sail_has_audio(c)) {
        sail_loader_free(ld);
        sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                       "the training data has audio items, but the model has no audio tower (it embeds %s); "
                       "compose one in with `sail compose --audio`", sail_config_embeds(c));
        return NULL;
    }
    if (sail_has_audio(c)) {
        sail_vit_geom g = sail_vit_audio(c);
        ld->spec_len = (size_t)g.h * g.w;
    }
    for (int i = 0; i < prefetch; i++) {
        slot *sl = &ld->slots[i];
        for (int k = 0; k < 2; k++) {
            side_buf *sb = &sl->sb[k];
            sb->ids = sail_malloc((size_t)max_batch * ctx * sizeof(int32_t));
            sb->lens = sail_malloc((size_t)max_batch * sizeof(int));
            sb->pixels = frames[k] ? sail_alloc_aligned((size_t)max_batch * frames[k] * per * sizeof(float)) : NULL;
            sb->spec = clips[k] ? sail_alloc_aligned((size_t)max_batch * ld->spec_len * sizeof(float)) : NULL;
            if (!sb->ids || !sb->lens || (frames[k] && !sb->pixels) || (clips[k] && !sb->spec)) goto oom;
        }
        sl->items = sail_malloc((size_t)max_batch * sizeof *sl->items);
        sl->group = sail_malloc((size_t)max_batch * sizeof *sl->group);
        if (!sl->items || !sl->group) goto oom;
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
            for (int k = 0; k < 2; k++) {
                sail_free(ld->slots[i].sb[k].ids);
                sail_free(ld->slots[i].sb[k].lens);
                sail_free(ld->slots[i].sb[k].pixels);
                sail_free(ld->slots[i].sb[k].spec);
            }
            sail_free(ld->slots[i].items);
            sail_free(ld->slots[i].group);
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
