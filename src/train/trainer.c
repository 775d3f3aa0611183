/* trainer.c: the training loop (sail_train, include/sail_train.h). The run's whole state is
 * params, AdamW m and v, the step, the epoch, the position in the epoch's
 * plan and the RNG, which is exactly what a checkpoint holds; nothing else
 * carries from one step to the next, so a resumed run repeats a straight
 * one bit for bit (for the same compute thread count). */
#include "checkpoint.h"
#include "sail_train.h"

#include "dist.h"
#include "eval.h"
#include "loader.h"
#include "optim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct run {
    const sail_train_opts *o;
    sail_tmodel *tm;
    sail_vocab_kv vocab;    /* the model's tokenizer as stored */
    sail_text_tok tok;      /* and built */
    sail_loader *ld, *vld;
    float *m, *v;           /* (size) AdamW moments */
    sail_tparam *tp;        /* (nt) the model's tensor table */
    int nt;
    sail_hparams hp;
    sail_loss_opts lo;
    sail_rng rng;
    sail_plan plan;
    int epoch, batch;       /* position: batches of plan consumed */
    int64_t step, total, spe;   /* steps done, in all, per epoch */
    char ckpt_path[4096], model_path[4096];
    double t0;              /* wall clock at the start of this process's run */
    int64_t step0;
    double pairs;           /* pairs trained in this process (all ranks) */
    int rank, size;         /* data-parallel: this process among size (0, 1 alone) */
    sail_plan rplan;        /* data-parallel: this rank's batches of plan */
    sail_accum acc;         /* the step's gradient sum (dist.h) */
    int stop;               /* a stop was asked (on any rank) during the last step */
    /* wall seconds of this process's steps: waiting for batches, forward and
       backward, the gradient sum (the exchange between ranks), AdamW */
    double t_data, t_compute, t_sum, t_optim;
} run;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void note(run *r, const char *fmt, ...) SAIL_PRINTF(2, 3);
static void note(run *r, const char *fmt, ...) {
    if (!r->o->cb) return;
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sail_train_event ev = {.kind = SAIL_TRAIN_NOTE, .epoch = r->epoch, .epochs = r->hp.epochs,
                           .step = r->step, .total_steps = r->total, .msg = buf};
    r->o->cb(r->o->ud, &ev);
}

/* The tokenizer stored in a model file (fine-tuning keeps it): its keys
 * only; sail_tmodel_load reads and checks the weights. */
static sail_status model_vocab(const char *path, run *r, sail_error *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return err ? err->status : SAIL_ERR_IO;
    sail_config c;
    sail_status s = sail_config_read(&c, f, err);
    if (!s && (!c.towers.on || c.towers.has_text)) /* an image-only model has none */
        s = sail_vocab_kv_read(f, &c, &r->vocab, err);
    gguf_close(f);
    return s;
}

static int find_token(char **toks, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(toks[i], s)) return i;
    return -1;
}

/* A new model: preset, vocabulary, optional image size. */
static sail_status new_model(run *r, sail_error *err) {
    const sail_train_opts *o = r->o;
    sail_config c;
    sail_status s = sail_config_preset(&c, o->config, err);
    if (s) return s;
    if ((s = sail_vocab_read(o->vocab_path, &r->vocab.tokens, &r->vocab.n, err))) return s;
    const char *names[4] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    int *slots[4] = {&c.pad_id, &c.unk_id, &c.cls_id, &c.sep_id};
    for (int i = 0; i < 4; i++)
        if ((*slots[i] = find_token(r->vocab.tokens, r->vocab.n, names[i])) < 0)
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s has no %s token", o->vocab_path, names[i]);
    c.vocab_size = r->vocab.n;
    if (o->image_size) c.image_size = c.pre_size = c.pre_crop = o->image_size;
    if (o->patch_size) c.patch_size = o->patch_size;
    if ((s = sail_config_validate(&c, err))) return s;
    r->tm = sail_tmodel_new(&c, r->hp.seed, o->threads, err);
    return r->tm ? SAIL_OK : (err ? err->status : SAIL_ERR_NOMEM);
}

static sail_status add_lora(run *r, sail_error *err) {
    sail_hparams *h = &r->hp;
    if (!h->lora_rank) return SAIL_OK;
    if (!(h->lora_alpha > 0)) h->lora_alpha = (float)h->lora_rank; /* scale 1 */
    if (!h->lora_parts) h->lora_parts = 1 << SAIL_PART_TEXT | 1 << SAIL_PART_VISION | 1 << SAIL_PART_AUDIO;
    sail_status s = sail_tmodel_add_lora(r->tm, h->lora_rank, h->lora_alpha, h->lora_parts, h->seed, err);
    if (!s) note(r, "LoRA rank %d, alpha %g on the attention and MLP matrices (merged into model.gguf)", h->lora_rank,
                 h->lora_alpha);
    return s;
}

static sail_status alloc_moments(run *r, sail_error *err) {
    size_t n = sail_tmodel_size(r->tm);
    r->m = sail_alloc_aligned(n * sizeof(float));
    r->v = sail_alloc_aligned(n * sizeof(float));
    if (!r->m || !r->v) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the optimiser state (%zu floats)", n);
    memset(r->m, 0, n * sizeof(float));
    memset(r->v, 0, n * sizeof(float));
    return SAIL_OK;
}

static sail_status resume(run *r, sail_error *err) {
    char path[4096];
    struct stat st;
    const char *src = r->o->resume;
    if (stat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(path, sizeof path, "%s/%s", src, SAIL_CHECKPOINT_FILE);
        src = path;
    }
    sail_checkpoint ck;
    sail_status s = sail_checkpoint_open(src, &ck, err);
    if (s) return s;
    r->hp = ck.hp;
    r->lo = ck.lo;
    r->step = ck.step;
    r->epoch = ck.epoch;
    r->batch = ck.batch;
    r->rng.s = ck.rng;
    r->vocab = ck.vocab; /* taken over from the checkpoint */
    memset(&ck.vocab, 0, sizeof ck.vocab);
    if (!(r->tm = sail_tmodel_new(&ck.cfg, ck.hp.seed, r->o->threads, err))) s = err ? err->status : SAIL_ERR_NOMEM;
    if (!s) s = add_lora(r, err); /* the checkpoint's layout has the adapters */
    if (!s) s = alloc_moments(r, err);
    if (!s) s = sail_checkpoint_restore(&ck, r->tm, r->m, r->v, err);
    if (!s) s = sail_plan_set(r->o->train, ck.order, ck.n_order, ck.bounds, ck.n_batches, &r->plan, err);
    if (s) sail_error_prefix(err, "resuming from %s", src);
    sail_checkpoint_close(&ck);
    return s;
}

static sail_status check_setup(run *r, sail_error *err) {
    const sail_hparams *h = &r->hp;
    const sail_config *c = sail_tmodel_config(r->tm);
    if (h->batch_size < 2 || h->batch_size > 65536 || h->grad_accum < 1 || h->grad_accum > 65536 ||
        h->epochs < 1 || !(h->lr > 0) || h->warmup_steps < 0 || !(h->weight_decay >= 0) ||
        h->hard_negatives < 0 || (h->hard_negatives && h->hard_negatives >= h->batch_size))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "hyper-parameters out of range (batch size >= 2, "
                              "grad-accum >= 1, epochs >= 1, learning rate > 0, hard negatives < batch size)");
    if (r->lo.n_dims < 1 || r->lo.n_dims > 4)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the loss needs 1 to 4 Matryoshka dimensions");
    for (int i = 0; i < r->lo.n_dims; i++)
        if (r->lo.dims[i] < 1 || r->lo.dims[i] > c->dim)
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "Matryoshka dimension %d is outside 1..%d (the "
                                  "model's output dimension)", r->lo.dims[i], c->dim);
    if (c->vocab_size != r->vocab.n)
        return sail_set_error(err, SAIL_ERR_FORMAT, "the model has %d vocabulary entries but %d tokens",
                              c->vocab_size, r->vocab.n);
    return SAIL_OK;
}

/* Frozen parts and parts' own learning rates (hparams) onto the model. */
static sail_status apply_parts(run *r, sail_error *err) {
    float scale[SAIL_N_PARTS];
    for (int p = 0; p < SAIL_N_PARTS; p++)
        scale[p] = r->hp.frozen >> p & 1 ? 0.0f : r->hp.part_lr[p] > 0 ? (float)(r->hp.part_lr[p] / r->hp.lr) : 1.0f;
    sail_tmodel_set_parts(r->tm, scale);
    int n_trained = 0; /* tensors with weights that train (the temperature alone is not a model) */
    for (int i = 0; i < sail_tmodel_n_tensors(r->tm); i++)
        n_trained += sail_tmodel_tensor(r->tm, i)->lr_scale != 0 &&
                     sail_part_of(sail_tmodel_tensor(r->tm, i)->name) != SAIL_PART_TEMPERATURE;
    if (!n_trained)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "every part of this model that has weights is frozen; "
                              "nothing would train");
    for (int p = 0; p < SAIL_N_PARTS; p++)
        if (r->hp.frozen >> p & 1) note(r, "%s is frozen", sail_part_name((sail_part)p));
        else if (r->hp.part_lr[p] > 0) note(r, "%s trains at learning rate %g", sail_part_name((sail_part)p),
                                            r->hp.part_lr[p]);
    return SAIL_OK;
}

/* Batches per epoch: each kind's pairs cut into batches, a final one of a
 * single pair dropped (as sail_plan_shuffle and sail_plan_hard do). */
static int64_t batches_per_epoch(const sail_dataset *ds, int b) {
    int64_t n = 0;
    for (int k = 0; k < SAIL_PAIR_KINDS; k++) n += ds->n_kind[k] / b + (ds->n_kind[k] % b >= 2);
    return n;
}

/* The weights so far as a usable model file: written at the end and at every
 * stop, so an interrupted run leaves a model as well as a checkpoint. */
static sail_status save_model(run *r, sail_error *err) {
    if (r->rank) return SAIL_OK; /* rank 0 writes for all */
    sail_status s = sail_tmodel_save(r->tm, &r->vocab, r->model_path, err);
    if (!s) note(r, "model written to %s", r->model_path);
    int64_t n = r->step - r->step0;
    if (!s && n > 0) /* where a step's time goes: a slow input pipeline or exchange shows here */
        note(r, "per step (this process%s): data %.1f ms, forward and backward %.1f ms, gradient sum%s %.1f ms, "
             "optimizer %.1f ms", r->size > 1 ? ", rank 0" : "", 1e3 * r->t_data / n, 1e3 * r->t_compute / n,
             r->size > 1 ? " over ranks" : "", 1e3 * r->t_sum / n, 1e3 * r->t_optim / n);
    return s;
}

static sail_status save_checkpoint(run *r, sail_error *err) {
    if (r->rank) return SAIL_OK;
    sail_train_pos pos = {r->step, r->epoch, r->batch, r->rng.s, &r->plan};
    sail_status s = sail_checkpoint_save(r->ckpt_path, r->tm, &r->vocab, &r->hp, &r->lo,
                                         &pos, r->m, r->v, err);
    if (!s) note(r, "checkpoint at step %lld written to %s", (long long)r->step, r->ckpt_path);
    return s;
}

static void report_dropped(run *r, const sail_batch_data *b) {
    if (!b->n_dropped) return;
    note(r, "%d image%s could not be decoded and %s left out (manifest line %d%s): %s", b->n_dropped,
         b->n_dropped == 1 ? "" : "s", b->n_dropped == 1 ? "was" : "were", b->dropped_lines[0],
         b->n_dropped > 1 ? ", ..." : "", b->dropped_why);
}

/* Embed both sides of every pair of ds with the current weights (pairs
 * whose image failed stay zero). ea, eb: (ds->n, dim). With want_loss, runs
 * the loss instead (no gradients) and returns its pair-weighted mean. */
static sail_status embed_all(run *r, sail_loader *ld, const sail_dataset *ds, int want_loss, float *ea,
                             float *eb, uint8_t *ok, double *loss, sail_error *err) {
    int dim = sail_tmodel_config(r->tm)->dim;
    sail_plan p = {0};
    sail_status s = sail_plan_sequential(ds, r->hp.batch_size, &p, err);
    float *ta = NULL, *tb = NULL;
    if (!s) {
        ta = sail_malloc((size_t)r->hp.batch_size * dim * sizeof(float));
        tb = sail_malloc((size_t)r->hp.batch_size * dim * sizeof(float));
        if (!ta || !tb) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    }
    if (!s) s = sail_loader_begin(ld, &p, 0, err);
    double lsum = 0, lw = 0;
    memset(ok, 0, (size_t)ds->n);
    memset(ea, 0, (size_t)ds->n * dim * sizeof(float));
    memset(eb, 0, (size_t)ds->n * dim * sizeof(float));
    while (!s) {
        const sail_batch_data *b;
        if ((s = sail_loader_next(ld, &b, err)) || !b) break;
        report_dropped(r, b);
        if (!b->n) continue;
        if (want_loss && b->n >= 2) {
            float l;
            s = sail_tmodel_step(r->tm, b->n, &b->a, &b->b, b->group, &r->lo, 0, &l, ta, tb, err);
            lsum += (double)l * b->n;
            lw += b->n;
        } else {
            s = sail_tmodel_embed(r->tm, b->n, &b->a, ta, err);
            if (!s) s = sail_tmodel_embed(r->tm, b->n, &b->b, tb, err);
        }
        for (int i = 0; !s && i < b->n; i++) {
            memcpy(ea + (size_t)b->items[i] * dim, ta + (size_t)i * dim, (size_t)dim * sizeof(float));
            memcpy(eb + (size_t)b->items[i] * dim, tb + (size_t)i * dim, (size_t)dim * sizeof(float));
            ok[b->items[i]] = 1;
        }
    }
    sail_loader_end(ld);
    sail_plan_free(&p);
    sail_free(ta);
    sail_free(tb);
    if (loss) *loss = lw ? lsum / lw : 0;
    return s;
}

typedef struct relctx { const sail_dataset *ds; const int32_t *idx; } relctx;

static int rel_pair(void *ctx, int q, int c) {
    const relctx *x = ctx;
    return x->ds->items[x->idx[q]].group == x->ds->items[x->idx[c]].group;
}

/* Validation loss, and R@1 both ways over the pairs that decoded (each
 * kind among its own, averaged over all queries). */
static sail_status validate(run *r, sail_train_event *ev, sail_error *err) {
    const sail_dataset *ds = r->o->val;
    int dim = sail_tmodel_config(r->tm)->dim;
    size_t n = (size_t)ds->n;
    float *ea = sail_malloc(n * dim * sizeof(float)), *eb = sail_malloc(n * dim * sizeof(float));
    uint8_t *ok = sail_malloc(n);
    int32_t *idx = sail_malloc(n * sizeof *idx);
    sail_status s = ea && eb && ok && idx ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for validation");
    if (!s) s = embed_all(r, r->vld, ds, 1, ea, eb, ok, &ev->val_loss, err);
    if (!s) {
        /* each kind on its own: a text-image pair's text is never asked to
           find a text2 */
        float *ca = sail_malloc(n * dim * sizeof(float)), *cb = sail_malloc(n * dim * sizeof(float));
        if (!ca || !cb) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for validation");
        int m = 0, k1 = 1;
        double hab = 0, hba = 0, q = 0;
        for (int kind = 0; kind < SAIL_PAIR_KINDS && !s; kind++) {
            int start = m;
            for (int i = 0; i < ds->n; i++)
                if (ok[i] && ds->items[i].kind == kind) {
                    memcpy(ca + (size_t)m * dim, ea + (size_t)i * dim, (size_t)dim * sizeof(float));
                    memcpy(cb + (size_t)m * dim, eb + (size_t)i * dim, (size_t)dim * sizeof(float));
                    idx[m++] = i;
                }
            relctx x = {ds, idx + start};
            double rc;
            int c = sail_recall_at(ca + (size_t)start * dim, m - start, cb + (size_t)start * dim, m - start, dim,
                                   rel_pair, &x, &k1, 1, &rc);
            hab += rc * c;
            sail_recall_at(cb + (size_t)start * dim, m - start, ca + (size_t)start * dim, m - start, dim,
                           rel_pair, &x, &k1, 1, &rc);
            hba += rc * c;
            q += c;
        }
        ev->val_r1_ab = q ? hab / q : 0;
        ev->val_r1_ba = q ? hba / q : 0;
        sail_free(ca);
        sail_free(cb);
        ev->has_val = 1;
    }
    sail_free(ea);
    sail_free(eb);
    sail_free(ok);
    sail_free(idx);
    return s;
}

/* The plan of epoch r->epoch: shuffled, or around hard negatives from the
 * current weights after the first epoch. */
static sail_status plan_epoch(run *r, sail_error *err) {
    const sail_dataset *ds = r->o->train;
    sail_plan_free(&r->plan);
    if (!r->hp.hard_negatives || r->epoch == 0)
        return sail_plan_shuffle(ds, r->hp.batch_size, &r->rng, &r->plan, err);
    int dim = sail_tmodel_config(r->tm)->dim;
    size_t n = (size_t)ds->n;
    float *ea = sail_malloc(n * dim * sizeof(float)), *eb = sail_malloc(n * dim * sizeof(float));
    uint8_t *ok = sail_malloc(n);
    sail_status s = ea && eb && ok ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for hard negatives");
    if (!s) s = embed_all(r, r->ld, ds, 0, ea, eb, ok, NULL, err);
    if (!s) s = sail_plan_hard(ds, r->hp.batch_size, r->hp.hard_negatives, ea, eb, dim, &r->rng, &r->plan, err);
    if (!s) note(r, "epoch %d: batches built around %d hard negatives per pair", r->epoch + 1, r->hp.hard_negatives);
    sail_free(ea);
    sail_free(eb);
    sail_free(ok);
    return s;
}

/* One optimiser step: the plan's next K = grad_accum micro-batches (fewer
 * at the end of the epoch), K / size of them on each rank, their gradients
 * summed in micro-batch order (dist.h). *done = 1 when the epoch's plan is
 * exhausted. */
static sail_status train_step(run *r, double *loss_out, int *done, sail_error *err) {
    int count = SAIL_MIN(r->hp.grad_accum, r->plan.n_batches - r->batch);
    *done = count <= 0;
    if (*done) return SAIL_OK;
    sail_status s = SAIL_OK;
    sail_accum_begin(&r->acc);
    for (int j = 0; !s && j * r->size < count; j++) {
        const sail_batch_data *b = NULL;
        float l = 0;
        int has = 0;
        if (j * r->size + r->rank < count) { /* this rank's micro-batch of round j */
            double t = now();
            sail_tmodel_zero_grads(r->tm);
            if ((s = sail_loader_next(r->ld, &b, err))) break;
            if (!b) return sail_set_error(err, SAIL_ERR_FORMAT, "the loader ended before the epoch's plan");
            double t1 = now();
            r->t_data += t1 - t;
            report_dropped(r, b);
            has = b->n >= 2;
            if (has && (s = sail_tmodel_step(r->tm, b->n, &b->a, &b->b, b->group, &r->lo, 1, &l, NULL, NULL, err)))
                break;
            r->t_compute += now() - t1;
        }
        double t = now();
        s = sail_accum_round(&r->acc, sail_tmodel_grads(r->tm), has, l, has ? b->n : 0,
                             r->o->stop && *r->o->stop, err);
        r->t_sum += now() - t;
    }
    float *g;
    double t = now();
    if (!s) s = sail_accum_finish(&r->acc, &g, err);
    if (s) return s;
    double t_opt = now();
    r->t_sum += t_opt - t;
    r->batch += count;
    r->pairs += r->acc.pairs;
    r->stop = r->acc.stop;
    int used = r->acc.have;
    double lsum = r->acc.loss;
    double lr = r->hp.lr * sail_lr_factor(r->step, r->hp.warmup_steps, r->total, r->hp.min_lr_ratio);
    sail_adamw ad = {r->hp.beta1, r->hp.beta2, r->hp.eps, r->hp.weight_decay};
    double norm;
    sail_optim_step(&ad, r->tp, r->nt, sail_tmodel_params(r->tm), g, r->m, r->v, r->step + 1, lr,
                    1.0f / (float)(used ? used : 1), r->hp.max_grad_norm, &norm);
    r->t_optim += now() - t_opt;
    r->step++;
    *loss_out = used ? lsum / used : 0;
    if (r->o->cb) {
        double el = now() - r->t0;
        int64_t done_here = r->step - r->step0;
        sail_train_event ev = {.kind = SAIL_TRAIN_STEP, .epoch = r->epoch, .epochs = r->hp.epochs,
                               .step = r->step, .total_steps = r->total, .loss = *loss_out, .lr = lr,
                               .grad_norm = norm, .pairs_per_s = el > 0 ? r->pairs / el : 0,
                               .eta_s = done_here ? el / done_here * (double)(r->total - r->step) : 0};
        r->o->cb(r->o->ud, &ev);
    }
    return SAIL_OK;
}

static sail_status setup(run *r, sail_error *err) {
    const sail_train_opts *o = r->o;
    sail_status s;
    if (o->resume) {
        s = resume(r, err);
    } else {
        r->hp = o->hp;
        r->lo = o->lo;
        r->rng.s = o->hp.seed;
        if (o->init_model) {
            if (o->patch_size)
                return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--patch_size applies to new models only");
            s = model_vocab(o->init_model, r, err);
            if (!s && !(r->tm = sail_tmodel_load(o->init_model, o->image_size, o->threads, err))) s = err ? err->status : SAIL_ERR_IO;
        } else if (o->config && o->vocab_path) {
            s = new_model(r, err);
        } else {
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "training needs a checkpoint to resume, a model to "
                                  "fine-tune, or a config and a vocabulary");
        }
        if (!s) s = add_lora(r, err);
        if (!s) s = alloc_moments(r, err);
        if (!s && !r->lo.n_dims)
            r->lo = (sail_loss_opts){1, {sail_tmodel_config(r->tm)->dim}, {1.0f}};
        r->epoch = r->batch = 0;
    }
    if (!s && o->comm && !o->resume) {
        if (r->hp.grad_accum > 65536 / r->size)
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "grad-accum %d over %d ranks is more than 65536 "
                                  "micro-batches a step", r->hp.grad_accum, r->size);
        r->hp.grad_accum *= r->size; /* the step's micro-batches, all ranks together */
    }
    if (!s && r->hp.grad_accum % r->size)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the checkpoint's steps have %d micro-batches, which %d "
                              "ranks cannot share evenly: resume with a number of ranks that divides it",
                              r->hp.grad_accum, r->size);
    if (!s) s = check_setup(r, err);
    if (!s) s = sail_accum_init(&r->acc, o->comm, sail_tmodel_size(r->tm), err);
    if (s) return s;
    sail_tmodel_set_trained_dims(r->tm, &r->lo);
    if ((s = apply_parts(r, err))) return s;
    r->nt = sail_tmodel_n_tensors(r->tm);
    if (!(r->tp = sail_malloc((size_t)r->nt * sizeof *r->tp))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->nt; i++) r->tp[i] = *sail_tmodel_tensor(r->tm, i);
    int64_t nb = batches_per_epoch(o->train, r->hp.batch_size);
    if (nb < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the training data has no batch of at least 2 pairs of "
                              "one kind (text-image, text-text or text-joint item)");
    r->spe = (nb + r->hp.grad_accum - 1) / r->hp.grad_accum;
    r->total = r->spe * r->hp.epochs;
    const sail_config *c = sail_tmodel_config(r->tm);
    if ((s = sail_text_tok_init(&r->tok, &r->vocab, c, err))) return s;
    int workers = o->loader_workers > 0 ? o->loader_workers : 1;
    if (!(r->ld = sail_loader_new(o->train, c, &r->tok, r->hp.batch_size, workers, 2 * workers + r->hp.grad_accum, err)))
        return err ? err->status : SAIL_ERR_NOMEM;
    if (o->val && !(r->vld = sail_loader_new(o->val, c, &r->tok, r->hp.batch_size, workers, 2 * workers, err)))
        return err ? err->status : SAIL_ERR_NOMEM;
    if (mkdir(o->output_dir, 0777) && errno != EEXIST)
        return sail_set_error(err, SAIL_ERR_IO, "cannot create %s: %s", o->output_dir, strerror(errno));
    if ((size_t)snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/%s", o->output_dir, SAIL_CHECKPOINT_FILE) >= sizeof r->ckpt_path ||
        (size_t)snprintf(r->model_path, sizeof r->model_path, "%s/%s", o->output_dir, SAIL_MODEL_FILE) >= sizeof r->model_path)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "output path is too long");
    return SAIL_OK;
}

static sail_status loop(run *r, int *stopped, sail_error *err) {
    const sail_train_opts *o = r->o;
    sail_status s = SAIL_OK;
    int fresh_plan = r->plan.order == NULL;
    r->t0 = now();
    r->step0 = r->step;
    for (; r->epoch < r->hp.epochs; r->epoch++, r->batch = 0, fresh_plan = 1) {
        if (fresh_plan && (s = plan_epoch(r, err))) return s;
        if (r->batch >= r->plan.n_batches) continue;
        /* data-parallel: this rank's batches, from the first at or after the
           position (a step starts at a multiple of size) */
        if (r->size > 1 && (s = sail_plan_rank(&r->plan, r->rank, r->size, &r->rplan, err))) return s;
        if ((s = sail_loader_begin(r->ld, r->size > 1 ? &r->rplan : &r->plan,
                                   (r->batch + r->size - 1 - r->rank) / r->size, err)))
            return s;
        double esum = 0;
        int64_t esteps = 0;
        for (;;) {
            double loss = 0;
            int done = 0;
            if ((s = train_step(r, &loss, &done, err))) break;
            if (done) break;
            esum += loss;
            esteps++;
            int stop = r->stop || (o->max_steps && r->step >= o->max_steps);
            if (stop || (o->save_every && r->step % o->save_every == 0)) s = save_checkpoint(r, err);
            if (s) break;
            if (stop) {
                *stopped = 1;
                sail_loader_end(r->ld);
                return save_model(r, err);
            }
        }
        sail_loader_end(r->ld);
        if (s) return s;
        sail_train_event ev = {.kind = SAIL_TRAIN_EPOCH, .epoch = r->epoch, .epochs = r->hp.epochs,
                               .step = r->step, .total_steps = r->total, .loss = esteps ? esum / esteps : 0};
        if (o->val && !r->rank && (s = validate(r, &ev, err))) return s;
        if (o->cb) o->cb(o->ud, &ev);
        /* a stop requested during validation: the position is the end of
           this epoch, which a resume skips past (data-parallel: ranks agree
           on stops at the next step instead) */
        if (!o->comm && o->stop && *o->stop && r->epoch + 1 < r->hp.epochs) {
            *stopped = 1;
            s = save_checkpoint(r, err);
            return s ? s : save_model(r, err);
        }
    }
    r->epoch = r->hp.epochs;
    r->batch = r->plan.n_batches;
    if ((s = save_checkpoint(r, err))) return s;
    return save_model(r, err);
}

sail_status sail_train(const sail_train_opts *o, int *stopped, sail_error *err) {
    int dummy;
    if (!stopped) stopped = &dummy;
    *stopped = 0;
    if (!o || !o->train || !o->output_dir)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "training needs data and an output folder");
    if (o->comm && (o->comm->size < 1 || o->comm->rank < 0 || o->comm->rank >= o->comm->size ||
                    !o->comm->allgather || !o->comm->alltoall))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "data-parallel training needs a rank in 0..size-1 and "
                              "both transport calls");
    sail_train_opts mine = *o; /* only rank 0 reports */
    if (o->comm && o->comm->rank) mine.cb = NULL;
    run r = {.o = &mine, .rank = o->comm ? o->comm->rank : 0, .size = o->comm ? o->comm->size : 1};
    sail_status s = setup(&r, err);
    if (!s) s = loop(&r, stopped, err);
    sail_loader_free(r.ld);
    sail_loader_free(r.vld);
    sail_text_tok_free(&r.tok);
    sail_plan_free(&r.plan);
    sail_plan_free(&r.rplan);
    sail_accum_free(&r.acc);
    sail_tmodel_free(r.tm);
    sail_vocab_kv_free(&r.vocab);
    sail_free(r.tp);
    sail_free(r.m);
    sail_free(r.v);
    return s;
}
