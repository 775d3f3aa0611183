/* train_dump.c: test driver for the PyTorch gradient oracle
 * (tests/test_train_grad.py). Loads a model file as a trainable model, runs
 * one forward + backward step on n pairs and writes raw float32 files to
 * OUTDIR: loss, emb_a, emb_b, grads (the whole gradient block) with
 * index.txt ("name offset rows cols" per tensor); and, for the inference
 * check, embed_a / embed_b (sail_tmodel_embed) and infer_a / infer_b
 * (sail_forward on the same file).
 *
 *   train_dump MODEL OUTDIR N A B [--group G.i32] [--loss D:W,...] [--freeze PART,...]
 *              [--lora RANK:ALPHA:PART+PART...:SEED]
 *   --lora adds adapters (sail_tmodel_add_lora) and moves every A and B off
 *   its start by seeded uniform noise (so both have gradients); params.f32
 *   then holds the whole parameter block, adapters included.
 *   A, B: tokens:IDS.i32:LENS.i32 | images:PIX.f32[:F] (N*F, 3, S, S at model
 *         size) | joint:IDS.i32:LENS.i32:PIX.f32[:F] (item i = text i + images
 *         i*F .. i*F+F-1: a video's F frames; F defaults to 1)
 *         | audio:SPEC.f32 (N, mel bins, frames: spectrograms at the audio tower's size);
 *         any of the first three followed by @SPEC.f32: each item also has
 *         that clip (a fused model's joint text / image + audio items)
 */
#include "model/model.h"
#include "../scratch.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dump(const char *dir, const char *name, const float *x, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof(float), n, f) != n) { fprintf(stderr, "train_dump: cannot write %s\n", path); exit(1); }
    fclose(f);
}

/* "tokens:IDS:LENS", "images:PIX[:F]" or "joint:IDS:LENS:PIX[:F]"; F frames
 * per item (PIX then holds n * F images); "...@SPEC" adds a clip to each */
static void parse_input(char *spec, sail_tinput *in, const sail_config *c) {
    int side_px = c->image_size;
    size_t n;
    memset(in, 0, sizeof *in);
    char *clip = strchr(spec, '@');
    if (clip) {
        *clip = 0;
        in->spec = slurp_or_exit(clip + 1, &n);
    }
    char *kind = strtok(spec, ":"), *f1 = strtok(NULL, ":"), *f2 = strtok(NULL, ":"), *f3 = strtok(NULL, ":");
    char *f4 = strtok(NULL, ":");
    if (kind && f1 && f2 && (!strcmp(kind, "tokens") || (f3 && !strcmp(kind, "joint")))) {
        in->ids = slurp_or_exit(f1, &n);
        in->lens = slurp_or_exit(f2, &n);
        if (f3) {
            in->pixels = slurp_or_exit(f3, &n);
            in->h = in->w = side_px;
            in->frames = f4 ? atoi(f4) : 0;
        }
    } else if (kind && f1 && !strcmp(kind, "audio")) {
        in->spec = slurp_or_exit(f1, &n);
    } else if (kind && f1 && !strcmp(kind, "images")) {
        in->pixels = slurp_or_exit(f1, &n);
        in->h = in->w = side_px;
        in->frames = f2 ? atoi(f2) : 0;
    } else {
        fprintf(stderr, "train_dump: bad input spec\n");
        exit(2);
    }
}

static void infer(const char *path, int n, const sail_tinput *in, float *out) {
    sail_error err = {0};
    sail_load_options lo = {.n_threads = 0};
    sail_model *m = sail_model_load(path, &lo, &err);
    if (!m) { fprintf(stderr, "train_dump: %s\n", err.msg); exit(1); }
    sail_batch b = {n, in->ids, in->lens, in->pixels, in->h, in->w, in->frames, in->spec};
    pthread_mutex_lock(&m->lock);
    sail_status s = sail_forward(m, &b, out, &err);
    pthread_mutex_unlock(&m->lock);
    if (s) { fprintf(stderr, "train_dump: forward: %s\n", err.msg); exit(1); }
    sail_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: train_dump MODEL OUTDIR N A B [--group G.i32] [--loss D:W,...]\n");
        return 2;
    }
    sail_error err = {0};
    const char *dir = argv[2];
    int n = atoi(argv[3]);
    int threads = getenv("SAIL_THREADS") ? atoi(getenv("SAIL_THREADS")) : 0;
    sail_tmodel *tm = sail_tmodel_load(argv[1], 0, threads, &err);
    if (!tm) { fprintf(stderr, "train_dump: %s\n", err.msg); return 1; }
    const sail_config *c = sail_tmodel_config(tm);
    sail_tinput a, b;
    parse_input(argv[4], &a, c);
    parse_input(argv[5], &b, c);
    int *group = NULL, lora = 0;
    sail_loss_opts lo = {1, {c->dim}, {1.0f}};
    for (int i = 6; i + 1 < argc; i += 2) {
        size_t sz;
        if (!strcmp(argv[i], "--group")) group = slurp_or_exit(argv[i + 1], &sz);
        else if (!strcmp(argv[i], "--freeze")) { /* parts, comma-separated */
            float scale[SAIL_N_PARTS];
            for (int p = 0; p < SAIL_N_PARTS; p++) scale[p] = 1;
            for (char *t = strtok(argv[i + 1], ","); t; t = strtok(NULL, ",")) {
                int p = sail_part_parse(t, strlen(t));
                if (p < 0) { fprintf(stderr, "train_dump: no part '%s'\n", t); return 2; }
                scale[p] = 0;
            }
            sail_tmodel_set_parts(tm, scale);
        } else if (!strcmp(argv[i], "--lora")) { /* RANK:ALPHA:PARTS:SEED, parts joined by '+' */
            int rank = atoi(strtok(argv[i + 1], ":")), mask = 0;
            float alpha = (float)atof(strtok(NULL, ":"));
            char *parts = strtok(NULL, ":"), *seed = strtok(NULL, ":");
            if (!parts || !seed) { fprintf(stderr, "train_dump: --lora RANK:ALPHA:PARTS:SEED\n"); return 2; }
            for (char *t = parts, *e; *t; t = *e ? e + 1 : e) {
                e = strchr(t, '+');
                if (!e) e = t + strlen(t);
                int p = sail_part_parse(t, (size_t)(e - t));
                if (p < 0) { fprintf(stderr, "train_dump: no part '%.*s'\n", (int)(e - t), t); return 2; }
                mask |= 1 << p;
            }
            if (sail_tmodel_add_lora(tm, rank, alpha, mask, 5, &err)) {
                fprintf(stderr, "train_dump: lora: %s\n", err.msg);
                return 1;
            }
            uint64_t x = strtoull(seed, NULL, 10) * 2654435761u + 1; /* xorshift64 */
            float *p = sail_tmodel_params(tm);
            for (int k = 0; k < sail_tmodel_n_tensors(tm); k++) {
                const sail_tparam *t = sail_tmodel_tensor(tm, k);
                size_t len = strlen(t->name);
                if (len < 7 || strncmp(t->name + len - 7, ".lora_", 6)) continue;
                for (int64_t j = 0; j < t->rows * t->cols; j++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    p[t->offset + j] += 0.3f * (float)((double)(x >> 11) / 9007199254740992.0 * 2 - 1);
                }
            }
            lora = 1;
        } else if (!strcmp(argv[i], "--loss")) {
            lo.n_dims = 0;
            for (char *t = strtok(argv[i + 1], ","); t && lo.n_dims < 4; t = strtok(NULL, ",")) {
                lo.dims[lo.n_dims] = atoi(t);
                lo.weights[lo.n_dims++] = strchr(t, ':') ? (float)atof(strchr(t, ':') + 1) : 1.0f;
            }
        }
    }
    size_t dim = (size_t)c->dim;
    float loss, *ea = malloc(n * dim * 4), *eb = malloc(n * dim * 4), *x = malloc(n * dim * 4);
    memset(sail_tmodel_grads(tm), 0, sail_tmodel_size(tm) * sizeof(float));
    if (sail_tmodel_step(tm, n, &a, &b, group, &lo, 1, &loss, ea, eb, &err)) {
        fprintf(stderr, "train_dump: step: %s\n", err.msg);
        return 1;
    }
    dump(dir, "loss", &loss, 1);
    dump(dir, "emb_a", ea, n * dim);
    dump(dir, "emb_b", eb, n * dim);
    dump(dir, "grads", sail_tmodel_grads(tm), sail_tmodel_size(tm));
    if (lora) dump(dir, "params", sail_tmodel_params(tm), sail_tmodel_size(tm));
    char path[4096];
    snprintf(path, sizeof path, "%s/index.txt", dir);
    FILE *idx = fopen(path, "w");
    if (!idx) return 1;
    for (int i = 0; i < sail_tmodel_n_tensors(tm); i++) {
        const sail_tparam *t = sail_tmodel_tensor(tm, i);
        fprintf(idx, "%s %zu %lld %lld\n", t->name, t->offset, (long long)t->rows, (long long)t->cols);
    }
    fclose(idx);
    const sail_tinput *sides[2] = {&a, &b};
    const char *names[2][2] = {{"embed_a", "infer_a"}, {"embed_b", "infer_b"}};
    for (int s = 0; s < 2; s++) {
        if (sail_tmodel_embed(tm, n, sides[s], x, &err)) {
            fprintf(stderr, "train_dump: embed: %s\n", err.msg);
            return 1;
        }
        dump(dir, names[s][0], x, n * dim);
        infer(argv[1], n, sides[s], x);
        dump(dir, names[s][1], x, n * dim);
    }
    sail_tmodel_free(tm);
    free(ea);
    free(eb);
    free(x);
    sail_free(group);
    sail_free((void *)a.ids), sail_free((void *)a.lens), sail_free((void *)a.pixels), sail_free((void *)a.spec);
    sail_free((void *)b.ids), sail_free((void *)b.lens), sail_free((void *)b.pixels), sail_free((void *)b.spec);
    sail_kernels_release();
    return 0;
}
