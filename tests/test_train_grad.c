/* test_train_grad.c: the backward pass against central finite differences of
 * the loss, on micro models covering every operation (post-norm text with
 * padded texts, pre-norm ViT, quick-GELU, perceiver, mean / mean(tanh) / CLS
 * pooling, Matryoshka InfoNCE with a duplicated group, the logit scale);
 * attention with a key mask and a causal mask on its own; bit-identical
 * gradients from identical steps; gradient accumulation; seeded init equal
 * to sail_model_write_random; save / load round trips; argument checks.
 *
 * Finite differences: the loss is float, so each coordinate moves by
 * h = 1e-2 * max(|p|, 0.1); the derivative then carries ~1e-4 of rounding
 * and truncation noise. A coordinate agrees when
 * |fd - g| <= RTOL * max(|fd|, |g|) + ATOL (the absolute term covers
 * coordinates with tiny gradients). At most 1% of the 300 sampled
 * coordinates (every tensor in turn) may disagree per model; a 6% error in
 * quick-GELU's derivative already fails 4 to 20 of them.
 */
#include "fixtures.h"
#include "model/model.h"
#include "rng.h"
#include "test.h"
#include "train/tmodel.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define RTOL 1e-2
#define ATOL 1e-3

static const char *tokens[12] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b",
                                 "c",     "d",     "e",     "f",     "g", "h"};

/* fixtures.h's micro model with deeper, wider towers of both activations,
 * a 12-token vocabulary, 8-token context and 12-dim output. */
static sail_config grad_config(int latents, sail_pooling pool) {
    sail_config c = micro();
    c.text = (sail_tower){2, 16, 2, 32, 1e-12f, SAIL_ACT_GELU, 0};
    c.vision = (sail_tower){2, 12, 3, 24, 1e-6f, SAIL_ACT_QUICK_GELU, 1};
    c.fusion = (sail_tower){1, 16, 2, 32, 1e-6f, SAIL_ACT_GELU, 1};
    c.vocab_size = 12;
    c.max_positions = c.context = 8;
    c.perceiver_latents = latents;
    c.pooling = pool;
    c.dim = 12;
    return c;
}

enum { N = 4 };
static int32_t ids[N * 8];
static int lens[N] = {3, 7, 1, 5}, lens_b[N] = {6, 2, 8, 4};
static int32_t ids_b[N * 8];
static float pix[N * 3 * 16 * 16];
static const int group[N] = {0, 1, 0, 2};

static void fill_inputs(void) {
    sail_rng r = {7};
    for (int i = 0; i < N * 8; i++) {
        ids[i] = 4 + (int)(sail_rng_next(&r) % 8);
        ids_b[i] = 4 + (int)(sail_rng_next(&r) % 8);
    }
    for (size_t i = 0; i < sizeof pix / sizeof *pix; i++) pix[i] = sail_rng_normal(&r);
}

/* Weights far from init (0.02 would leave every layer nearly linear). */
static void perturb(sail_tmodel *tm, uint64_t seed) {
    sail_rng r = {seed};
    float *p = sail_tmodel_params(tm);
    for (int t = 0; t < sail_tmodel_n_tensors(tm) - 1; t++) {
        const sail_tparam *tp = sail_tmodel_tensor(tm, t);
        for (int64_t i = 0; i < tp->rows * tp->cols; i++) p[tp->offset + i] += 0.3f * sail_rng_normal(&r);
    }
}

static float loss_of(sail_tmodel *tm, const sail_tinput *a, const sail_tinput *b,
                     const sail_loss_opts *lo, int backward) {
    float loss = NAN;
    sail_error err = {0};
    if (sail_tmodel_step(tm, N, a, b, group, lo, backward, &loss, NULL, NULL, &err))
        printf("# step failed: %s\n", err.msg);
    return loss;
}

/* The central difference of the loss in parameter p[i], with a step of 1%
 * of its size (at least 1e-3); p[i] is left as it was. */
static double central_diff(sail_tmodel *tm, float *p, size_t i, const sail_tinput *a, const sail_tinput *b,
                           const sail_loss_opts *lo) {
    float keep = p[i], h = 1e-2f * fmaxf(fabsf(keep), 0.1f);
    p[i] = keep + h;
    float lp = loss_of(tm, a, b, lo, 0);
    p[i] = keep - h;
    float lm = loss_of(tm, a, b, lo, 0);
    p[i] = keep;
    return ((double)lp - lm) / (2.0 * h);
}

static void fd_check(const char *name, const sail_config *c, int text_text) {
    sail_error err = {0};
    sail_tmodel *tm = sail_tmodel_new(c, 42, 2, &err);
    CHECK(tm != NULL, "%s: model created (%s)", name, err.msg);
    if (!tm) return;
    perturb(tm, 5);
    sail_tinput a = {ids, lens, NULL, 0, 0, 0, NULL};
    sail_tinput b = text_text ? (sail_tinput){ids_b, lens_b, NULL, 0, 0, 0, NULL}
                              : (sail_tinput){NULL, NULL, pix, 16, 16, 0, NULL};
    sail_loss_opts lo = {2, {12, 6}, {1.0f, 0.5f}};
    size_t size = sail_tmodel_size(tm);
    float *p = sail_tmodel_params(tm), *g = sail_tmodel_grads(tm);
    memset(g, 0, size * sizeof(float));
    float l0 = loss_of(tm, &a, &b, &lo, 1);
    CHECK(isfinite(l0) && l0 > 0, "%s: loss %.5f is finite and positive", name, l0);
    sail_rng r = {99};
    int n_coords = 300, bad = 0, nonzero = 0, nt = sail_tmodel_n_tensors(tm);
    double worst = 0, worst_rel = 0;
    char worst_name[256] = "";
    for (int k = 0; k < n_coords; k++) {
        /* every tensor in turn, a random coordinate inside it */
        const sail_tparam *tp = sail_tmodel_tensor(tm, k % nt);
        size_t i = tp->offset + sail_rng_next(&r) % (size_t)(tp->rows * tp->cols);
        double fd = central_diff(tm, p, i, &a, &b, &lo), an = g[i];
        double excess = fabs(fd - an) - (RTOL * fmax(fabs(fd), fabs(an)) + ATOL);
        worst_rel = fmax(worst_rel, fabs(fd - an) / (fmax(fabs(fd), fabs(an)) + ATOL));
        nonzero += fabs(an) > 1e-3;
        if (excess > 0) {
            bad++;
            if (excess > worst) {
                worst = excess;
                snprintf(worst_name, sizeof worst_name, "%s[%zu] fd %.5g analytic %.5g", tp->name,
                         i - tp->offset, fd, an);
            }
        }
    }
    CHECK(bad * 100 <= n_coords,
          "%s: %d of %d coordinates agree with finite differences (%d with |g| > 1e-3; largest |fd - g| / (max(|fd|, |g|) + atol) %.2g)%s%s",
          name, n_coords - bad, n_coords, nonzero, worst_rel, bad ? "; worst " : "", worst_name);
    CHECK(nonzero * 3 >= n_coords, "%s: most sampled gradients are non-trivial (%d of %d)", name,
          nonzero, n_coords);

    /* determinism: the same step twice gives the same bits */
    float *g1 = malloc(size * sizeof(float));
    memcpy(g1, g, size * sizeof(float));
    memset(g, 0, size * sizeof(float));
    float l1 = loss_of(tm, &a, &b, &lo, 1);
    CHECK(l1 == l0 && !memcmp(g, g1, size * sizeof(float)),
          "%s: two identical steps give bit-identical loss and gradients", name);
    /* accumulation: a second step without zeroing doubles the gradients */
    loss_of(tm, &a, &b, &lo, 1);
    double maxerr = 0, scale = 0;
    for (size_t i = 0; i < size; i++) {
        maxerr = fmax(maxerr, fabs(g[i] - 2.0 * g1[i]));
        scale = fmax(scale, fabs(g1[i]));
    }
    CHECK(maxerr <= 1e-5 * scale, "%s: grads accumulate over steps (max err %.2g of %.2g)", name,
          maxerr, scale);
    free(g1);
    sail_tmodel_free(tm);
}

/* Attention alone with a padded key and the causal mask: sum(out * R)
 * against finite differences of q, k, v. */
static void attention_check(void) {
    enum { B = 2, T = 5, H = 2, HD = 4, D = H * HD };
    static float qkv[B * T * 3 * D], p[B * H * T * T], out[B * T * D], R[B * T * D],
        dqkv[B * T * 3 * D];
    static uint8_t mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 0, 1, 0};
    sail_rng r = {3};
    for (int i = 0; i < B * T * 3 * D; i++) qkv[i] = sail_rng_normal(&r);
    for (int i = 0; i < B * T * D; i++) R[i] = sail_rng_normal(&r);
    sail_arena arena = {0};
    sail_pool *pool = sail_pool_new(2);
    fwd c = {.keep = 1};
    fwd_start(&c, &arena, pool);
    fwd_attn a = {.B = B, .Tq = T, .Tk = T, .H = H, .hd = HD, .d = D, .q = qkv, .qs = 3 * D, .k = qkv + D,
                  .v = qkv + 2 * D, .kvs = 3 * D, .mask = mask, .causal = 1};
    attention_backward(&c, &a, p, R, dqkv, 3 * D, dqkv + D, dqkv + 2 * D, 3 * D); /* warm-up sizes */
    attention_forward(&c, &a, p, out);
    attention_backward(&c, &a, p, R, dqkv, 3 * D, dqkv + D, dqkv + 2 * D, 3 * D);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < B * T * 3 * D; i++) {
        float keep = qkv[i], h = 1e-2f;
        double l[2];
        for (int s = 0; s < 2; s++) {
            qkv[i] = keep + (s ? -h : h);
            attention_forward(&c, &a, p, out);
            l[s] = 0;
            for (int j = 0; j < B * T * D; j++) l[s] += (double)out[j] * R[j];
        }
        qkv[i] = keep;
        double fd = (l[0] - l[1]) / (2.0 * h), e = fabs(fd - dqkv[i]);
        worst = fmax(worst, e);
        bad += e > 2e-2 * fmax(fabs(fd), fabs(dqkv[i])) + 1e-3;
    }
    CHECK(!c.oom && bad == 0, "attention with key mask + causal: %d of %d q/k/v gradients off (worst %.2g)",
          bad, B * T * 3 * D, worst);
    /* a masked key gets no gradient, nor does a key in the future of every query */
    CHECK(dqkv[(size_t)(1 * T + 4) * 3 * D + D] == 0 && dqkv[(size_t)(1 * T + 4) * 3 * D + 2 * D] == 0,
          "attention: padded keys get exactly zero gradient");
    sail_arena_free(&arena);
    sail_pool_free(pool);
}

static int tensors_equal(const char *p1, const char *p2) {
    sail_error err = {0};
    sail_load_options o = {.n_threads = 1};
    sail_model *m1 = sail_model_load(p1, &o, &err), *m2 = sail_model_load(p2, &o, &err);
    int same = m1 && m2;
    for (uint64_t i = 0; same && i < m1->file->n_tensors; i++) {
        const gguf_tensor *t1 = &m1->file->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t1->name.len, t1->name.ptr);
        const gguf_tensor *t2 = gguf_find_tensor(m2->file, name);
        same = t2 && t1->nbytes == t2->nbytes && !memcmp(t1->data, t2->data, t1->nbytes);
    }
    same = same && m1->file->n_tensors == m2->file->n_tensors;
    sail_model_free(m1);
    sail_model_free(m2);
    return same;
}

/* LoRA on every part: adapters start as a no-op; their gradients agree with
 * finite differences; the adapted matrices get none; the saved, merged
 * model computes what the unmerged adapters compute. */
static void lora_check(void) {
    sail_config c = grad_config(0, SAIL_POOL_MEAN);
    sail_error err = {0};
    sail_tmodel *tm = sail_tmodel_new(&c, 7, 2, &err);
    if (!tm) return;
    perturb(tm, 8);
    float e0[N * 12], e1[N * 12], e2[N * 12];
    sail_tinput a = {ids, lens, NULL, 0, 0, 0, NULL}, b = {NULL, NULL, pix, 16, 16, 0, NULL};
    sail_batch bt = {N, NULL, NULL, pix, 16, 16, 0, NULL};
    int ok = !sail_tmodel_embed(tm, N, &b, e0, &err);
    int parts = 1 << SAIL_PART_TEXT | 1 << SAIL_PART_VISION | 1 << SAIL_PART_FUSION;
    ok = ok && !sail_tmodel_add_lora(tm, 2, 4.0f, parts, 3, &err);
    CHECK(ok, "LoRA rank 2 on text, vision and fusion (%s)", err.msg);
    if (!ok) {
        sail_tmodel_free(tm);
        return;
    }
    CHECK(!sail_tmodel_embed(tm, N, &b, e1, &err) && !memcmp(e0, e1, sizeof e0),
          "fresh adapters (B = 0) leave the model's outputs bit-identical");
    int nt = sail_tmodel_n_tensors(tm), n_ad = 0;
    float *p = sail_tmodel_params(tm), *g = sail_tmodel_grads(tm);
    sail_rng r = {21};
    for (int t = 0; t < nt; t++) { /* move the adapters off their start */
        const sail_tparam *tp = sail_tmodel_tensor(tm, t);
        if (!strstr(tp->name, ".lora_")) continue;
        n_ad++;
        for (int64_t i = 0; i < tp->rows * tp->cols; i++) p[tp->offset + i] += 0.2f * sail_rng_normal(&r);
    }
    CHECK(n_ad == 2 * 4 * (c.text.layers + c.vision.layers + c.fusion.layers),
          "an A and a B for each of the 4 matrices of every block (%d)", n_ad);
    sail_loss_opts lo = {1, {12}, {1.0f}};
    memset(g, 0, sail_tmodel_size(tm) * sizeof(float));
    loss_of(tm, &a, &b, &lo, 1);
    int bad = 0, base_grads = 0, n = 0;
    for (int t = 0; t < nt; t++) {
        const sail_tparam *tp = sail_tmodel_tensor(tm, t);
        int adapter = strstr(tp->name, ".lora_") != NULL;
        int matrix = strstr(tp->name, ".blk.") && strstr(tp->name, ".weight") && !strstr(tp->name, "norm");
        if (matrix)
            for (int64_t i = 0; i < tp->rows * tp->cols; i++) base_grads += g[tp->offset + i] != 0;
        if (!adapter) continue;
        for (int k = 0; k < 3; k++, n++) {
            size_t i = tp->offset + sail_rng_next(&r) % (size_t)(tp->rows * tp->cols);
            double fd = central_diff(tm, p, i, &a, &b, &lo), an = g[i];
            if (fabs(fd - an) > RTOL * fmax(fabs(fd), fabs(an)) + ATOL) {
                if (!bad) printf("#   %s[%zu]: fd %.5g analytic %.5g\n", tp->name, i - tp->offset, fd, an);
                bad++;
            }
        }
    }
    CHECK(bad * 100 <= n, "LoRA: %d of %d adapter coordinates agree with finite differences", n - bad, n);
    CHECK(base_grads == 0, "LoRA: the adapted matrices get no gradient (%d non-zero)", base_grads);
    char dir[] = "/tmp/sail_test_lora_XXXXXX", path[128];
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    sail_vocab_kv vocab = {.tokens = (char **)tokens, .n = 12};
    sail_load_options o = {.n_threads = 1};
    sail_model *m = NULL;
    ok = !sail_tmodel_save(tm, &vocab, path, &err) && (m = sail_model_load(path, &o, &err)) &&
         !sail_tmodel_embed(tm, N, &b, e1, &err) && !sail_forward(m, &bt, e2, &err);
    double md = 0, moved = 0;
    for (int i = 0; ok && i < N * 12; i++) {
        md = fmax(md, fabs(e1[i] - e2[i]));
        moved = fmax(moved, fabs(e1[i] - e0[i]));
    }
    CHECK(ok && md <= 1e-5 && moved > 1e-3,
          "LoRA merged at save: the saved model equals the unmerged adapters (max %.2g; the adapters moved "
          "the output by %.2g) %s", md, moved, ok ? "" : err.msg);
    sail_model_free(m);
    unlink(path);
    rmdir(dir);
    sail_tmodel_free(tm);
}

static void init_and_files(void) {
    char dir[] = "/tmp/sail_test_train_XXXXXX", p1[128], p2[128];
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary directory");
        return;
    }
    snprintf(p1, sizeof p1, "%s/new.gguf", dir);
    snprintf(p2, sizeof p2, "%s/random.gguf", dir);
    sail_config c = grad_config(3, SAIL_POOL_MEAN_TANH);
    sail_error err = {0};
    sail_tmodel *tm = sail_tmodel_new(&c, 1234, 1, &err);
    float *ls = sail_tmodel_params(tm) + sail_tmodel_tensor(tm, sail_tmodel_n_tensors(tm) - 1)->offset;
    CHECK(fabsf(*ls - logf(1 / 0.07f)) < 1e-6f, "new model's logit scale is log(1/0.07)");
    int aligned = ((uintptr_t)sail_tmodel_params(tm) & 63) == 0 && ((uintptr_t)sail_tmodel_grads(tm) & 63) == 0;
    for (int i = 0; i < sail_tmodel_n_tensors(tm); i++) aligned &= sail_tmodel_tensor(tm, i)->offset % 16 == 0;
    CHECK(aligned, "blocks 64-byte aligned, every tensor at a multiple of 16 floats");
    *ls = 2.5f;
    sail_vocab_kv vocab = {.tokens = (char **)tokens, .n = 12};
    CHECK(!sail_tmodel_save(tm, &vocab, p1, &err), "save (%s)", err.msg);
    CHECK(!sail_model_write_random(&c, tokens, 1234, p2, &err), "write_random (%s)", err.msg);
    CHECK(tensors_equal(p1, p2), "a new trainable model saved equals sail_model_write_random with the same seed");
    sail_tmodel *back = sail_tmodel_load(p1, 0, 1, &err);
    CHECK(back && sail_tmodel_size(back) == sail_tmodel_size(tm) &&
              !memcmp(sail_tmodel_params(back), sail_tmodel_params(tm), sail_tmodel_size(tm) * sizeof(float)),
          "load of the saved file restores every parameter and the logit scale (%s)", err.msg);
    /* the inference path reads the saved file; tmodel_embed agrees */
    sail_load_options o = {.n_threads = 1};
    sail_model *m = sail_model_load(p1, &o, &err);
    float e1[N * 12], e2[N * 12];
    sail_tinput in = {NULL, NULL, pix, 16, 16, 0, NULL};
    sail_batch bt = {N, NULL, NULL, pix, 16, 16, 0, NULL};
    int ok = m && !sail_tmodel_embed(tm, N, &in, e1, &err) && !sail_forward(m, &bt, e2, &err);
    double md = 0;
    for (int i = 0; ok && i < N * 12; i++) md = fmax(md, fabs(e1[i] - e2[i]));
    CHECK(ok && md <= 1e-5, "sail_tmodel_embed equals sail_forward on the saved file (max %.2g)", md);
    sail_model_free(m);

    /* argument checks */
    float loss;
    sail_tinput bad_img = {NULL, NULL, pix, 8, 8, 0, NULL}, good_txt = {ids, lens, NULL, 0, 0, 0, NULL};
    int32_t bad_ids[8] = {2, 99, 3};
    int bad_len[N] = {3, 3, 3, 3};
    sail_tinput bad_txt = {bad_ids, bad_len, NULL, 0, 0, 0, NULL};
    sail_loss_opts lo = {1, {13}, {1}};
    CHECK(sail_tmodel_step(tm, N, &good_txt, &bad_img, NULL, NULL, 1, &loss, NULL, NULL, &err) ==
              SAIL_ERR_INVALID_ARG && strstr(err.msg, "16x16"),
          "images of another size are refused: %s", err.msg);
    CHECK(sail_tmodel_step(tm, N, &bad_txt, &good_txt, NULL, NULL, 1, &loss, NULL, NULL, &err) ==
              SAIL_ERR_INVALID_ARG && strstr(err.msg, "99"),
          "a token outside the vocabulary is refused: %s", err.msg);
    CHECK(sail_tmodel_step(tm, N, &good_txt, &good_txt, NULL, &lo, 1, &loss, NULL, NULL, &err) ==
              SAIL_ERR_INVALID_ARG && strstr(err.msg, "13"),
          "a Matryoshka dim above the model's is refused: %s", err.msg);
    sail_tmodel_free(back);
    sail_tmodel_free(tm);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

int main(void) {
    fill_inputs();
    sail_config c = grad_config(0, SAIL_POOL_MEAN);
    fd_check("mean, text-image", &c, 0);
    fd_check("mean, text-text", &c, 1);
    c = grad_config(3, SAIL_POOL_MEAN_TANH);
    fd_check("perceiver, mean(tanh)", &c, 0);
    c = grad_config(0, SAIL_POOL_CLS);
    fd_check("cls", &c, 0);
    attention_check();
    lora_check();
    init_and_files();
    sail_kernels_release();
    return test_done();
}
