/* test_train_ckpt.c: a checkpoint written and read back restores every
 * field and float exactly; a flipped bit, a truncated file, another model's
 * layout and a plan that does not fit the data are refused. */
#include "test.h"
#include "train/checkpoint.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sail_config small_config(void) {
    sail_config c;
    sail_error err = {0};
    sail_config_preset(&c, "tiny", &err);
    c.text = (sail_tower){1, 32, 2, 64, 1e-12f, SAIL_ACT_GELU, 0};
    c.vision = (sail_tower){1, 32, 2, 64, 1e-6f, SAIL_ACT_GELU, 1};
    c.fusion = (sail_tower){1, 32, 2, 64, 1e-6f, SAIL_ACT_GELU, 1};
    c.image_size = c.pre_size = c.pre_crop = 32;
    c.dim = 64;
    c.vocab_size = 10;
    c.pad_id = 0, c.unk_id = 1, c.cls_id = 2, c.sep_id = 3;
    return c;
}

/* Field by field: the struct has padding, which memcmp would read. */
static int hp_equal(const sail_hparams *a, const sail_hparams *b) {
    return a->lr == b->lr && a->weight_decay == b->weight_decay &&
           a->max_grad_norm == b->max_grad_norm && a->min_lr_ratio == b->min_lr_ratio &&
           a->beta1 == b->beta1 && a->beta2 == b->beta2 && a->eps == b->eps &&
           a->epochs == b->epochs && a->batch_size == b->batch_size &&
           a->warmup_steps == b->warmup_steps && a->grad_accum == b->grad_accum &&
           a->hard_negatives == b->hard_negatives && a->seed == b->seed && a->frozen == b->frozen &&
           !memcmp(a->part_lr, b->part_lr, sizeof a->part_lr) && a->lora_rank == b->lora_rank &&
           a->lora_parts == b->lora_parts && a->lora_alpha == b->lora_alpha;
}

int main(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/sail_test_ckpt_%d.gguf", (int)getpid());
    const char *toks[10] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d", "e", "f"};
    sail_config c = small_config();
    sail_error err = {0};
    sail_tmodel *tm = sail_tmodel_new(&c, 11, 1, &err);
    CHECK(tm != NULL, "a small trainable model (%s)", err.msg);
    if (!tm) return test_done();
    size_t n = sail_tmodel_size(tm);
    float *m = calloc(n, 4), *v = calloc(n, 4), *m2 = calloc(n, 4), *v2 = calloc(n, 4);
    sail_rng r = {4};
    for (size_t i = 0; i < n; i++) m[i] = sail_rng_normal(&r), v[i] = (float)sail_rng_uniform(&r);
    sail_pair items[6] = {0};
    sail_dataset ds = {.items = items, .n = 6};
    int32_t order[6] = {5, 2, 0, 1, 4, 3}, bounds[4] = {0, 2, 4, 6};
    sail_plan plan = {order, 6, bounds, 3};
    sail_hparams hp = {3e-4, 0.05, 2.5, 0.1, 0.9, 0.98, 1e-6, 7, 2, 11, 3, 1, 99, {2e-5f, 0, 1e-4f, 0, 0}, 1 << 1, 4, 3, 8.0f};
    sail_loss_opts lo = {2, {64, 16}, {1.0f, 0.5f}};
    sail_train_pos pos = {1234567890123ll, 5, 2, 0xfeedfacecafebeefull, &plan};
    sail_vocab_kv vocab = {.tokens = (char **)toks, .n = 10};
    sail_status s = sail_checkpoint_save(path, tm, &vocab, &hp, &lo, &pos, m, v, &err);
    CHECK(s == SAIL_OK, "checkpoint written (%s)", err.msg);
    sail_checkpoint ck;
    s = sail_checkpoint_open(path, &ck, &err);
    CHECK(s == SAIL_OK, "checkpoint opened (%s)", err.msg);
    if (s) return test_done();
    CHECK(ck.step == pos.step && ck.epoch == 5 && ck.batch == 2 && ck.rng == pos.rng && ck.hp.seed == 99,
          "step, epoch, position, RNG state and seed round-trip");
    CHECK(hp_equal(&ck.hp, &hp), "hyper-parameters (frozen parts, parts' learning rates, LoRA too) round-trip exactly");
    CHECK(ck.lo.n_dims == 2 && ck.lo.dims[1] == 16 && ck.lo.weights[1] == 0.5f, "loss options round-trip");
    CHECK(ck.n_order == 6 && ck.n_batches == 3 && !memcmp(ck.order, order, sizeof order) &&
          !memcmp(ck.bounds, bounds, sizeof bounds), "the epoch's plan round-trips");
    CHECK(ck.cfg.dim == 64 && ck.cfg.image_size == 32 && ck.cfg.pre_crop == 32 && ck.cfg.vocab_size == 10 &&
          ck.cfg.text.width == 32 && ck.cfg.vision.layers == 1 && ck.cfg.sep_id == 3 && ck.cfg.mean[2] == c.mean[2],
          "the configuration round-trips");
    int tok_ok = 1;
    for (int i = 0; i < 10; i++) tok_ok &= !strcmp(ck.vocab.tokens[i], toks[i]);
    CHECK(tok_ok, "the vocabulary round-trips");
    sail_tmodel *tm2 = sail_tmodel_new(&c, 12, 1, &err);
    s = sail_checkpoint_restore(&ck, tm2, m2, v2, &err);
    CHECK(s == SAIL_OK && !memcmp(sail_tmodel_params(tm2), sail_tmodel_params(tm), n * 4) &&
          !memcmp(m2, m, n * 4) && !memcmp(v2, v, n * 4),
          "params, AdamW m and v restored bit-exactly (%zu floats each)", n);
    sail_plan p2 = {0};
    ds.n = 5;
    s = sail_plan_set(&ds, ck.order, ck.n_order, ck.bounds, ck.n_batches, &p2, &err);
    CHECK(s == SAIL_ERR_FORMAT, "a plan larger than the data is refused: %s", err.msg);
    sail_checkpoint_close(&ck);

    sail_config c2 = c;
    c2.dim = 32;
    sail_tmodel *tm3 = sail_tmodel_new(&c2, 12, 1, &err);
    s = sail_checkpoint_open(path, &ck, &err);
    if (!s) s = sail_checkpoint_restore(&ck, tm3, m2, v2, &err);
    CHECK(s == SAIL_ERR_FORMAT, "restoring into a model of another shape is refused: %s", err.msg);
    sail_checkpoint_close(&ck);

    FILE *f = fopen(path, "r+b");
    fseek(f, -4 * (long)(n / 2), SEEK_END);
    int ch = fgetc(f);
    fseek(f, -4 * (long)(n / 2), SEEK_END);
    fputc(ch ^ 1, f);
    fclose(f);
    s = sail_checkpoint_open(path, &ck, &err);
    CHECK(s == SAIL_ERR_FORMAT && strstr(err.msg, "checksum"), "one flipped bit in adam v is caught: %s", err.msg);
    if (truncate(path, 4000) == 0) {
        s = sail_checkpoint_open(path, &ck, &err);
        CHECK(s != SAIL_OK, "a truncated checkpoint is refused: %s", err.msg);
    }
    unlink(path);
    sail_tmodel_free(tm);
    sail_tmodel_free(tm2);
    sail_tmodel_free(tm3);
    free(m); free(v); free(m2); free(v2);
    return test_done();
}
