/* checkpoint.c: training state in and out of GGUF. Keys are under train.*;
 * the three float blocks are 1-D F32 tensors. */
#include "checkpoint.h"

#include <stddef.h>
#include <string.h>

#define CKPT_VERSION 1

/* FNV-1a over 64-bit words: cheap enough for hundreds of MB, and any
 * flipped bit changes it. */
static uint64_t hash_block(uint64_t h, const float *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t bytes = n * sizeof(float), i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    if (i < bytes) {
        uint32_t w;
        memcpy(&w, b + i, 4);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}

static uint64_t checksum(const float *p, const float *m, const float *v, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_block(h, p, n);
    h = hash_block(h, m, n);
    return hash_block(h, v, n);
}

/* The hyper-parameters stored as train.hparams_i and train.hparams_f, in
 * their order there: the one list that saving and loading both walk. */
static const size_t hp_ints[] = {
    offsetof(sail_hparams, epochs), offsetof(sail_hparams, batch_size), offsetof(sail_hparams, warmup_steps),
    offsetof(sail_hparams, grad_accum), offsetof(sail_hparams, hard_negatives)};
static const size_t hp_dbls[] = {
    offsetof(sail_hparams, lr), offsetof(sail_hparams, weight_decay), offsetof(sail_hparams, max_grad_norm),
    offsetof(sail_hparams, min_lr_ratio), offsetof(sail_hparams, beta1), offsetof(sail_hparams, beta2),
    offsetof(sail_hparams, eps)};
#define N_HP_INTS (sizeof hp_ints / sizeof *hp_ints)
#define N_HP_DBLS (sizeof hp_dbls / sizeof *hp_dbls)

sail_status sail_checkpoint_save(const char *path, sail_tmodel *tm, const sail_vocab_kv *vocab,
                                 const sail_hparams *hp, const sail_loss_opts *lo,
                                 const sail_train_pos *pos, const float *m, const float *v,
                                 sail_error *err) {
    const sail_config *c = sail_tmodel_config(tm);
    size_t n = sail_tmodel_size(tm);
    const float *params = sail_tmodel_params(tm);
    int nt = sail_tmodel_n_tensors(tm);
    const char **names = sail_malloc((size_t)nt * sizeof *names);
    uint64_t *offs = sail_malloc((size_t)nt * 3 * sizeof *offs);
    gguf_writer *w = gguf_writer_new();
    if (!names || !offs || !w) {
        sail_free(names);
        sail_free(offs);
        gguf_writer_free(w);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory writing a checkpoint");
    }
    for (int i = 0; i < nt; i++) {
        const sail_tparam *t = sail_tmodel_tensor(tm, i);
        names[i] = t->name;
        offs[3 * i] = t->offset;
        offs[3 * i + 1] = (uint64_t)t->rows;
        offs[3 * i + 2] = (uint64_t)t->cols;
    }
    uint64_t step = (uint64_t)pos->step, rng = pos->rng, nf = n, seed = hp->seed;
    uint64_t sum = checksum(params, m, v, n);
    int32_t dims[4] = {0}, ints[N_HP_INTS];
    double dbl[N_HP_DBLS];
    for (size_t i = 0; i < N_HP_INTS; i++) memcpy(&ints[i], (const char *)hp + hp_ints[i], sizeof(int));
    for (size_t i = 0; i < N_HP_DBLS; i++) memcpy(&dbl[i], (const char *)hp + hp_dbls[i], sizeof(double));
    for (int i = 0; i < lo->n_dims; i++) dims[i] = lo->dims[i];
    uint64_t ne = n;
    sail_config_write(c, w);
    gguf_set_str(w, "general.architecture", "sail");
    gguf_set_str(w, "general.type", "sail.checkpoint");
    gguf_set_u32(w, "train.version", CKPT_VERSION);
    sail_vocab_kv_write(vocab, w);
    gguf_set_scalar(w, "train.step", GGUF_VT_U64, &step);
    gguf_set_i32(w, "train.epoch", pos->epoch);
    gguf_set_i32(w, "train.batch", pos->batch);
    gguf_set_scalar(w, "train.rng", GGUF_VT_U64, &rng);
    gguf_set_scalar(w, "train.seed", GGUF_VT_U64, &seed);
    gguf_set_array(w, "train.hparams_i", GGUF_VT_I32, ints, N_HP_INTS);
    gguf_set_array(w, "train.hparams_f", GGUF_VT_F64, dbl, N_HP_DBLS);
    gguf_set_f32_array(w, "train.part_lr", hp->part_lr, SAIL_N_PARTS);
    gguf_set_i32(w, "train.frozen", hp->frozen);
    int32_t lora[2] = {hp->lora_rank, hp->lora_parts};
    gguf_set_array(w, "train.lora", GGUF_VT_I32, lora, 2);
    gguf_set_f32(w, "train.lora_alpha", hp->lora_alpha);
    gguf_set_array(w, "train.loss_dims", GGUF_VT_I32, dims, (uint64_t)lo->n_dims);
    gguf_set_f32_array(w, "train.loss_weights", lo->weights, (uint64_t)lo->n_dims);
    gguf_set_array(w, "train.order", GGUF_VT_I32, pos->plan->order, (uint64_t)pos->plan->n);
    gguf_set_array(w, "train.bounds", GGUF_VT_I32, pos->plan->bounds, (uint64_t)pos->plan->n_batches + 1);
    gguf_set_str_array(w, "train.tensor_names", names, (uint64_t)nt);
    gguf_set_array(w, "train.tensor_layout", GGUF_VT_U64, offs, (uint64_t)nt * 3);
    gguf_set_scalar(w, "train.n_floats", GGUF_VT_U64, &nf);
    gguf_set_scalar(w, "train.checksum", GGUF_VT_U64, &sum);
    gguf_add_tensor(w, "train.params", GGUF_T_F32, 1, &ne, params);
    gguf_add_tensor(w, "train.adam_m", GGUF_T_F32, 1, &ne, m);
    gguf_add_tensor(w, "train.adam_v", GGUF_T_F32, 1, &ne, v);
    sail_status s = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    sail_free(names);
    sail_free(offs);
    return s;
}

/* ----------------------------------------------------------- reading -- */

static const gguf_kv *need(const gguf_file *f, const char *key, uint32_t type, sail_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != type) {
        sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: key %s is missing or not a %s", key, gguf_vtype_name(type));
        return NULL;
    }
    return kv;
}

static const void *need_array(const gguf_file *f, const char *key, uint32_t et, uint64_t lo,
                              uint64_t hi, uint64_t *n, sail_error *err) {
    const gguf_kv *kv = need(f, key, GGUF_VT_ARRAY, err);
    if (!kv) return NULL;
    if (kv->v.arr.type != et || kv->v.arr.n < lo || kv->v.arr.n > hi) {
        sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: %s is not an array of %llu..%llu %s", key,
                       (unsigned long long)lo, (unsigned long long)hi, gguf_vtype_name(et));
        return NULL;
    }
    *n = kv->v.arr.n;
    return et == GGUF_VT_STRING ? (const void *)kv->v.arr.strs : (const void *)kv->v.arr.data;
}

static const float *need_block(const gguf_file *f, const char *name, size_t n, sail_error *err) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t || t->type != GGUF_T_F32 || t->n_dims != 1 || t->ne[0] != n) {
        sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: tensor %s is missing or not %zu f32 values", name, n);
        return NULL;
    }
    return t->data;
}

static sail_status read_all(sail_checkpoint *ck, sail_error *err) {
    const gguf_file *f = ck->file;
    const gguf_kv *kv;
    uint64_t n;
    sail_status s = sail_config_read(&ck->cfg, f, err);
    if (s) return s;
    if ((s = sail_config_validate(&ck->cfg, err))) return s;
    if (!(kv = need(f, "train.version", GGUF_VT_U32, err))) return SAIL_ERR_FORMAT;
    if (kv->v.u64 != CKPT_VERSION)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "checkpoint version %llu; this build reads %d",
                              (unsigned long long)kv->v.u64, CKPT_VERSION);
    if ((s = sail_vocab_kv_read(f, &ck->cfg, &ck->vocab, err))) return s;
    const gguf_kv *k_step = need(f, "train.step", GGUF_VT_U64, err);
    const gguf_kv *k_rng = k_step ? need(f, "train.rng", GGUF_VT_U64, err) : NULL;
    const gguf_kv *k_seed = k_rng ? need(f, "train.seed", GGUF_VT_U64, err) : NULL;
    const gguf_kv *k_ep = k_seed ? need(f, "train.epoch", GGUF_VT_I32, err) : NULL;
    const gguf_kv *k_b = k_ep ? need(f, "train.batch", GGUF_VT_I32, err) : NULL;
    const gguf_kv *k_nf = k_b ? need(f, "train.n_floats", GGUF_VT_U64, err) : NULL;
    const gguf_kv *k_sum = k_nf ? need(f, "train.checksum", GGUF_VT_U64, err) : NULL;
    if (!k_sum) return SAIL_ERR_FORMAT;
    if (k_step->v.u64 > INT64_MAX / 2 || k_ep->v.i64 < 0 || k_b->v.i64 < 0 || k_nf->v.u64 > SIZE_MAX / 4)
        return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: step, epoch, batch or size out of range");
    ck->step = (int64_t)k_step->v.u64;
    ck->rng = k_rng->v.u64;
    ck->hp.seed = k_seed->v.u64;
    ck->epoch = (int)k_ep->v.i64;
    ck->batch = (int)k_b->v.i64;
    ck->n_floats = (size_t)k_nf->v.u64;
    const int32_t *hi = need_array(f, "train.hparams_i", GGUF_VT_I32, N_HP_INTS, N_HP_INTS, &n, err);
    const double *hf = hi ? need_array(f, "train.hparams_f", GGUF_VT_F64, N_HP_DBLS, N_HP_DBLS, &n, err) : NULL;
    if (!hf) return SAIL_ERR_FORMAT;
    /* memcpy: the mapped arrays are not aligned for their type */
    char *hp = (char *)&ck->hp;
    for (size_t i = 0; i < N_HP_INTS; i++) memcpy(hp + hp_ints[i], (const char *)hi + 4 * i, 4);
    for (size_t i = 0; i < N_HP_DBLS; i++) memcpy(hp + hp_dbls[i], (const char *)hf + 8 * i, 8);
    if (ck->hp.epochs < 1 || ck->hp.batch_size < 2 || ck->hp.grad_accum < 1 || ck->hp.warmup_steps < 0)
        return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: hyper-parameters out of range");
    if (gguf_find_kv(f, "train.part_lr")) { /* absent before parts could be frozen: none were */
        /* SAIL_PART_AUDIO came last: a checkpoint without it had no audio tower */
        const float *pl = need_array(f, "train.part_lr", GGUF_VT_F32, SAIL_PART_AUDIO, SAIL_N_PARTS, &n, err);
        const gguf_kv *fr = pl ? need(f, "train.frozen", GGUF_VT_I32, err) : NULL;
        if (!fr) return SAIL_ERR_FORMAT;
        memset(ck->hp.part_lr, 0, sizeof ck->hp.part_lr);
        memcpy(ck->hp.part_lr, pl, (size_t)n * sizeof *pl);
        ck->hp.frozen = (int)fr->v.i64;
        for (int p = 0; p < SAIL_N_PARTS; p++)
            if (!(ck->hp.part_lr[p] >= 0 && ck->hp.part_lr[p] <= 10))
                return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: part learning rate out of range");
        const int32_t *lora = need_array(f, "train.lora", GGUF_VT_I32, 2, 2, &n, err);
        const gguf_kv *la = lora ? need(f, "train.lora_alpha", GGUF_VT_F32, err) : NULL;
        if (!la) return SAIL_ERR_FORMAT;
        int32_t lv[2];
        memcpy(lv, lora, sizeof lv);
        ck->hp.lora_rank = lv[0], ck->hp.lora_parts = lv[1];
        ck->hp.lora_alpha = (float)la->v.f64;
        if (lv[0] < 0 || lv[0] > 1024 || (lv[0] && !(ck->hp.lora_alpha > 0)))
            return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: LoRA rank or alpha out of range");
    }
    uint64_t nd, nw;
    const int32_t *dims = need_array(f, "train.loss_dims", GGUF_VT_I32, 1, 4, &nd, err);
    const float *lw = dims ? need_array(f, "train.loss_weights", GGUF_VT_F32, nd, nd, &nw, err) : NULL;
    if (!lw) return SAIL_ERR_FORMAT;
    ck->lo.n_dims = (int)nd;
    memcpy(ck->lo.dims, dims, nd * sizeof *dims);
    memcpy(ck->lo.weights, lw, nd * sizeof *lw);
    for (int i = 0; i < ck->lo.n_dims; i++)
        if (ck->lo.dims[i] < 1 || ck->lo.dims[i] > ck->cfg.dim)
            return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: loss dimension %d is out of range", ck->lo.dims[i]);
    uint64_t no, nb;
    /* copied out: array values in the file need not be 4-byte aligned */
    const void *order = need_array(f, "train.order", GGUF_VT_I32, 0, INT32_MAX, &no, err);
    const void *bounds = order || !no ? need_array(f, "train.bounds", GGUF_VT_I32, 1, INT32_MAX, &nb, err) : NULL;
    if (!bounds) return SAIL_ERR_FORMAT;
    ck->order = sail_malloc((size_t)(no ? no : 1) * sizeof(int32_t));
    ck->bounds = sail_malloc((size_t)nb * sizeof(int32_t));
    if (!ck->order || !ck->bounds) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (no) memcpy(ck->order, order, (size_t)no * sizeof(int32_t));
    memcpy(ck->bounds, bounds, (size_t)nb * sizeof(int32_t));
    ck->n_order = (int)no;
    ck->n_batches = (int)nb - 1;
    if (ck->batch > ck->n_batches)
        return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: position %d is past the epoch's %d batches",
                              ck->batch, ck->n_batches);
    if (!(ck->params = need_block(f, "train.params", ck->n_floats, err)) ||
        !(ck->m = need_block(f, "train.adam_m", ck->n_floats, err)) ||
        !(ck->v = need_block(f, "train.adam_v", ck->n_floats, err)))
        return SAIL_ERR_FORMAT;
    if (checksum(ck->params, ck->m, ck->v, ck->n_floats) != k_sum->v.u64)
        return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint: the checksum of the weights and optimiser "
                              "state does not match; the file is damaged");
    return SAIL_OK;
}

sail_status sail_checkpoint_open(const char *path, sail_checkpoint *ck, sail_error *err) {
    memset(ck, 0, sizeof *ck);
    ck->file = gguf_open(path, err);
    if (!ck->file) return err ? err->status : SAIL_ERR_IO;
    sail_status s = read_all(ck, err);
    if (s) {
        sail_error_prefix(err, "%s", path);
        sail_checkpoint_close(ck);
    }
    return s;
}

void sail_checkpoint_close(sail_checkpoint *ck) {
    if (!ck) return;
    sail_vocab_kv_free(&ck->vocab);
    sail_free(ck->order);
    sail_free(ck->bounds);
    gguf_close(ck->file);
    memset(ck, 0, sizeof *ck);
}

sail_status sail_checkpoint_restore(const sail_checkpoint *ck, sail_tmodel *tm, float *m, float *v,
                                    sail_error *err) {
    const gguf_file *f = ck->file;
    uint64_t nn, nl;
    int nt = sail_tmodel_n_tensors(tm);
    const gguf_str *names = need_array(f, "train.tensor_names", GGUF_VT_STRING, 1, 1 << 20, &nn, err);
    const unsigned char *lay = names ? need_array(f, "train.tensor_layout", GGUF_VT_U64, 3, 3 << 20, &nl, err) : NULL;
    if (!lay) return SAIL_ERR_FORMAT;
    if (sail_tmodel_size(tm) != ck->n_floats || nn != (uint64_t)nt || nl != nn * 3)
        return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint holds %zu parameters in %llu tensors; this model "
                              "has %zu in %d", ck->n_floats, (unsigned long long)nn, sail_tmodel_size(tm), nt);
    for (int i = 0; i < nt; i++) {
        const sail_tparam *t = sail_tmodel_tensor(tm, i);
        uint64_t l[3];
        memcpy(l, lay + sizeof l * (size_t)i, sizeof l);
        if (names[i].len != strlen(t->name) || memcmp(names[i].ptr, t->name, names[i].len) ||
            l[0] != t->offset || l[1] != (uint64_t)t->rows || l[2] != (uint64_t)t->cols)
            return sail_set_error(err, SAIL_ERR_FORMAT, "checkpoint tensor %d does not match the model's %s",
                                  i, t->name);
    }
    memcpy(sail_tmodel_params(tm), ck->params, ck->n_floats * sizeof(float));
    memcpy(m, ck->m, ck->n_floats * sizeof(float));
    memcpy(v, ck->v, ck->n_floats * sizeof(float));
    return SAIL_OK;
}
