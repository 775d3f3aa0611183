/* cmd_classify.c: `sail classify`: zero-shot classification (label prompts
 * embedded as texts, softmax over scale x cosine) and a supervised
 * multinomial logistic regression trained on embeddings (train / predict). */
#include "sail_apps.h"
#include "apps_input.h"
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail classify --zero-shot --model M --labels \"cat,dog,...\" (--text T | --image F | --audio A)...\n"
    "                     [--template \"a photo of a {}\"] [--scale 100] [--top N]\n"
    "       sail classify train --model M --data D.jsonl -o clf.bin [--holdout 0.2]\n"
    "                     [--epochs 300] [--l2 0.001] [--seed S]\n"
    "       sail classify predict --model M --classifier clf.bin\n"
    "                     (--text T | --image F | --audio A | --data D.jsonl)... [--top N]\n\n"
    "Zero-shot: each label becomes a prompt (--template with {} replaced by the\n"
    "label; default \"a photo of a {}\", or \"一张{}的照片\" for a label with non-ASCII\n"
    "characters), embedded as text; each input gets softmax(scale * cosine) over\n"
    "the labels. A model trained with the sigmoid loss (SigLIP) scores each label\n"
    "on its own, sigmoid(scale * cosine + bias), with its own learned scale and\n"
    "bias (--scale overrides the scale). Labels are separated by ',' or '，'.\n\n"
    "An --audio clip needs a model with an audio tower (\"the sound of a {}\" suits\n"
    "it as a template).\n\n"
    "train: D.jsonl lines {\"text\"|\"image\"|\"audio\": ..., \"label\": ...}; a multinomial logistic\n"
    "regression on the (standardised) embeddings; --holdout keeps a seeded random\n"
    "fraction out of training and reports accuracy on it. The classifier file records\n"
    "its labels and dimension (a --dim prefix is used again at predict time).\n"
    "predict: with --data whose lines carry labels, also reports accuracy.\n\n";

typedef struct opts {
    const char *model, *labels, *tmpl, *data, *out, *clf;
    double scale, holdout, l2;
    int zero_shot, top, epochs, dim, threads;
    long seed;
    app_item *in; /* --text / --image inputs */
    int n_in;
} opts;

static int on_input(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    (void)cmd;
    if (!strcmp(opt->name, "--text")) o->in[o->n_in++].text = (char *)v;
    else if (!strcmp(opt->name, "--audio")) o->in[o->n_in++].audio = (char *)v;
    else o->in[o->n_in++].image = (char *)v;
    return 0;
}

static int parse(opts *o, int argc, char **argv, int first) {
    const cli_opt table[] = {
        CLI_OPT_FLAG("--zero-shot", &o->zero_shot, "classify against --labels, without training"),
        CLI_OPT_STR("--model", &o->model, "M", "sail model file (.gguf)"),
        CLI_OPT_STR("--labels", &o->labels, "L", "zero-shot labels, separated by ',' or '，'"),
        CLI_OPT_STR("--template", &o->tmpl, "T", "zero-shot prompt, {} replaced by the label"),
        CLI_OPT_FLOAT("--scale", &o->scale, 0, 1e4, "S",
                      "zero-shot scale (default 100; a SigLIP model's own learned scale)"),
        CLI_OPT_CALL("--text", on_input, o, "T", "a text to classify"),
        CLI_OPT_CALL("--image", on_input, o, "F", "an image file to classify"),
        CLI_OPT_CALL("--audio", on_input, o, "A", "an audio file to classify (models with an audio tower)"),
        CLI_OPT_STR("--data", &o->data, "D.jsonl", "items (train: with labels; predict: labels give accuracy)"),
        CLI_OPT_STR("--classifier", &o->clf, "F", "predict: a classifier written by train"),
        CLI_OPT_FLOAT("--holdout", &o->holdout, 0, 0.9, "F", "train: fraction kept out for accuracy (default 0.2)"),
        CLI_OPT_INT("--epochs", &o->epochs, 1, 100000, "N", "train: epochs (default 300)"),
        CLI_OPT_FLOAT("--l2", &o->l2, 0, 1e3, "X", "train: L2 regularisation (default 0.001)"),
        CLI_OPT_SEED(&o->seed),
        CLI_OPT_DIM(&o->dim, "Matryoshka prefix for train (default: the model's full dimension)"),
        CLI_OPT_INT("--top", &o->top, 1, 1000, "N", "labels shown per input (default 3)"),
        CLI_OPT_STR("-o|--output", &o->out, "FILE", "output (JSON for zero-shot/predict; classifier for train)"),
        CLI_OPT_THREADS(&o->threads, "threads for the model and the training (default: one per core)"),
        CLI_OPT_IMAGE,
        CLI_OPT_END,
    };
    const cli_spec spec = {"classify", usage, table, NULL};
    o->in = calloc((size_t)argc, sizeof *o->in);
    if (!o->in) return cli_fail(1, "classify", "out of memory");
    int rc = cli_parse(&spec, argc, argv, first);
    if (rc) return rc;
    if (!o->model) return cli_fail(2, "classify", "--model is required");
    return 0;
}

/* Splits labels on ',' and the full-width '，', trimming spaces. */
static int split_labels(const char *s, char ***out, int *n_out) {
    size_t len = strlen(s);
    char **l = calloc(len + 1, sizeof *l);
    int n = 0;
    if (!l) return cli_fail(1, "classify", "out of memory");
    const char *p = s;
    while (1) {
        const char *e = p;
        while (*e && *e != ',' && strncmp(e, "，", 3)) e++;
        const char *a = p, *b = e;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        if (b > a) {
            l[n] = malloc((size_t)(b - a) + 1);
            if (!l[n]) { app_free_lines(l, n); return cli_fail(1, "classify", "out of memory"); }
            memcpy(l[n], a, (size_t)(b - a));
            l[n++][b - a] = 0;
        }
        if (!*e) break;
        p = e + (*e == ',' ? 1 : 3);
    }
    if (n < 2) { app_free_lines(l, n); return cli_fail(2, "classify", "--labels needs at least two labels, comma-separated"); }
    *out = l;
    *n_out = n;
    return 0;
}

static char *prompt(const char *tmpl, const char *label) {
    if (!tmpl) {
        int ascii = 1;
        for (const char *p = label; *p; p++) ascii &= (unsigned char)*p < 0x80;
        tmpl = ascii ? "a photo of a {}" : "一张{}的照片";
    }
    const char *at = strstr(tmpl, "{}");
    size_t tl = strlen(tmpl), ll = strlen(label);
    char *r = malloc(tl + ll + 1);
    if (!r) return NULL;
    if (!at) { memcpy(r, tmpl, tl + 1); return r; }
    size_t pre = (size_t)(at - tmpl);
    memcpy(r, tmpl, pre);
    memcpy(r + pre, label, ll);
    memcpy(r + pre + ll, at + 2, tl - pre - 1);
    return r;
}

static json_t *input_json(const app_item *it) {
    json_t *e = json_object();
    if (it->id) json_object_set_new(e, "id", json_string(it->id));
    if (it->text) json_object_set_new(e, "text", json_string(it->text));
    if (it->image) json_object_set_new(e, "image", json_string(it->image));
    if (it->audio) json_object_set_new(e, "audio", json_string(it->audio));
    return e;
}

/* The top labels of one row of probabilities (and cosines when given). */
static json_t *top_json(const float *p, const float *cos, char **labels, int c, int top) {
    json_t *a = json_array();
    char *used = calloc((size_t)c, 1);
    for (int t = 0; used && t < cli_min(top, c); t++) {
        int arg = -1;
        for (int j = 0; j < c; j++)
            if (!used[j] && (arg < 0 || p[j] > p[arg])) arg = j;
        used[arg] = 1;
        json_t *e = json_object();
        json_object_set_new(e, "label", json_string(labels[arg]));
        json_object_set_new(e, "probability", json_real(p[arg]));
        if (cos) json_object_set_new(e, "cosine", json_real(cos[arg]));
        json_array_append_new(a, e);
    }
    free(used);
    return a;
}

/* --scale, else 100 (CLIP's zero-shot scale) or a sigmoid model's own. */
static float zs_scale(const sail_model *m, double scale) {
    if (scale >= 0) return (float)scale;
    return sail_model_logit_bias(m, NULL) ? sail_model_logit_scale(m) : 100.0f;
}

/* Probabilities of c labels from their cosines: softmax over the labels, or
 * for a sigmoid-loss model (SigLIP) each label's own sigmoid. */
static void score(const sail_model *m, double scale, const float *cos, int c, float *p) {
    float s = zs_scale(m, scale), bias;
    if (!sail_model_logit_bias(m, &bias)) {
        sail_softmax_scaled(cos, c, s, p);
        return;
    }
    for (int j = 0; j < c; j++) p[j] = 1.0f / (1.0f + expf(-(s * cos[j] + bias)));
}

static int zero_shot(opts *o, sail_model *m) {
    char **labels = NULL;
    int c = 0, rc = split_labels(o->labels, &labels, &c), d = o->dim ? o->dim : sail_model_dim(m);
    if (rc) return rc;
    app_item *prompts = calloc((size_t)c, sizeof *prompts);
    float *lv = malloc(sizeof *lv * (size_t)c * d), *iv = malloc(sizeof *iv * (size_t)o->n_in * d);
    float *cos = malloc(sizeof *cos * (size_t)c), *p = malloc(sizeof *p * (size_t)c);
    if (!prompts || !lv || !iv || !cos || !p) rc = cli_fail(1, "classify", "out of memory");
    for (int j = 0; !rc && j < c; j++)
        if (!(prompts[j].text = prompt(o->tmpl, labels[j]))) rc = cli_fail(1, "classify", "out of memory");
    if (!rc) rc = app_embed_items("classify", m, prompts, c, d, lv);
    if (!rc) rc = app_embed_items("classify", m, o->in, o->n_in, d, iv);
    json_t *root = NULL;
    if (!rc) {
        root = json_object();
        json_t *lj = json_array(), *res = json_array();
        for (int j = 0; j < c; j++) {
            json_t *e = json_object();
            json_object_set_new(e, "label", json_string(labels[j]));
            json_object_set_new(e, "prompt", json_string(prompts[j].text));
            json_array_append_new(lj, e);
        }
        for (int i = 0; i < o->n_in; i++) {
            for (int j = 0; j < c; j++) cos[j] = sail_cosine(iv + (size_t)i * d, lv + (size_t)j * d, d);
            score(m, o->scale, cos, c, p);
            json_t *e = input_json(&o->in[i]);
            json_object_set_new(e, "top", top_json(p, cos, labels, c, o->top));
            json_array_append_new(res, e);
        }
        float bias;
        int sigmoid = sail_model_logit_bias(m, &bias);
        json_object_set_new(root, "mode", json_string("zero-shot"));
        json_object_set_new(root, "scale", json_real(zs_scale(m, o->scale)));
        json_object_set_new(root, "probability", json_string(sigmoid ? "sigmoid" : "softmax"));
        if (sigmoid) json_object_set_new(root, "bias", json_real(bias));
        json_object_set_new(root, "labels", lj);
        json_object_set_new(root, "results", res);
        rc = app_write_json("classify", root, o->out);
    }
    for (int j = 0; prompts && j < c; j++) free(prompts[j].text);
    free(prompts); free(lv); free(iv); free(cos); free(p);
    app_free_lines(labels, c);
    return rc;
}

/* Class index of each item's label; the distinct labels in first-seen order. */
static int index_labels(const app_item *it, int n, int *y, char ***labels, int *c_out) {
    char **l = calloc((size_t)n, sizeof *l);
    int c = 0;
    if (!l) return cli_fail(1, "classify", "out of memory");
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < c && strcmp(l[j], it[i].label)) j++;
        if (j == c) l[c++] = it[i].label;
        y[i] = j;
    }
    *labels = l;
    *c_out = c;
    return 0;
}

static double accuracy(const sail_logreg *clf, const float *x, const int *y, int n) {
    float *p = malloc(sizeof *p * (size_t)n * clf->c);
    if (!p || !n) { free(p); return NAN; }
    sail_logreg_predict(clf, x, n, p);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int arg = 0;
        for (int j = 1; j < clf->c; j++)
            if (p[(size_t)i * clf->c + j] > p[(size_t)i * clf->c + arg]) arg = j;
        ok += arg == y[i];
    }
    free(p);
    return (double)ok / n;
}

static int train(opts *o, sail_model *m) {
    if (!o->data || !o->out) return cli_fail(2, "classify", "train needs --data D.jsonl and -o clf.bin");
    app_item *it = NULL;
    int n = 0, rc = app_read_jsonl("classify", o->data, 1, &it, &n), c = 0;
    int d = o->dim ? o->dim : sail_model_dim(m);
    float *x = NULL, *xs = NULL;
    int *y = NULL, *ys = NULL, *perm = NULL;
    char **labels = NULL;
    sail_logreg clf = {0};
    sail_pool *pool = NULL;
    sail_error err = {0};
    if (rc) return rc;
    x = malloc(sizeof *x * (size_t)n * d);
    xs = malloc(sizeof *xs * (size_t)n * d);
    y = malloc(sizeof *y * (size_t)n);
    ys = malloc(sizeof *ys * (size_t)n);
    perm = malloc(sizeof *perm * (size_t)n);
    if (!x || !xs || !y || !ys || !perm) rc = cli_fail(1, "classify", "out of memory");
    if (!rc) rc = index_labels(it, n, y, &labels, &c);
    if (!rc && c < 2) rc = cli_fail(1, "classify", "%s has one label only; a classifier needs two or more", o->data);
    if (!rc) rc = app_embed_items("classify", m, it, n, d, x);
    /* Seeded shuffle; the last n_test rows of it are held out. */
    int n_test = (int)(n * o->holdout), n_train = n - n_test;
    if (!rc && n_train < 2) rc = cli_fail(1, "classify", "only %d training items after --holdout %g", n_train, o->holdout);
    if (!rc) {
        sail_permutation(perm, n, n, (uint64_t)o->seed);
        for (int i = 0; i < n; i++) {
            memcpy(xs + (size_t)i * d, x + (size_t)perm[i] * d, sizeof *x * d);
            ys[i] = y[perm[i]];
        }
        clf.d = d;
        clf.c = c;
        fprintf(stderr, "sail classify: training on %d items, %d classes, %d dimensions\n", n_train, c, d);
        pool = sail_pool_new(o->threads); /* NULL (serial) if threads cannot start */
        if (sail_logreg_train(pool, &clf, xs, ys, n_train, o->l2, o->epochs, &err)) rc = cli_fail(1, "classify", "%s", err.msg);
    }
    if (!rc) {
        clf.labels = labels; /* borrowed for saving; owned by the items */
        double loss = sail_logreg_loss(pool, &clf, xs, ys, n_train, o->l2, NULL, NULL);
        printf("train: %d items, loss %.4f, accuracy %.2f%%\n", n_train, loss, 100 * accuracy(&clf, xs, ys, n_train));
        if (n_test)
            printf("held-out: %d items, accuracy %.2f%%\n", n_test,
                   100 * accuracy(&clf, xs + (size_t)n_train * d, ys + n_train, n_test));
        if (sail_logreg_save(&clf, o->out, &err)) rc = cli_fail(1, "classify", "%s", err.msg);
        clf.labels = NULL;
        clf.c = 0;
    }
    sail_logreg_free(&clf);
    sail_pool_free(pool);
    free(labels); free(x); free(xs); free(y); free(ys); free(perm);
    app_free_items(it, n);
    return rc;
}

static int predict(opts *o, sail_model *m) {
    if (!o->clf) return cli_fail(2, "classify", "predict needs --classifier clf.bin");
    sail_logreg clf = {0};
    sail_error err = {0};
    app_item *it = o->in;
    int n = o->n_in, rc = 0, labelled = 0;
    if (sail_logreg_load(&clf, o->clf, &err)) return cli_fail(1, "classify", "%s", err.msg);
    if (clf.d > sail_model_dim(m))
        rc = cli_fail(1, "classify", "%s expects %d dimensions; %s gives %d", o->clf, clf.d, o->model, sail_model_dim(m));
    if (!rc && o->data) {
        if (n) rc = cli_fail(2, "classify", "give --data or --text/--image, not both");
        else rc = app_read_jsonl("classify", o->data, 0, &it, &n);
        labelled = !rc;
        for (int i = 0; !rc && i < n; i++) labelled &= it[i].label != NULL;
    }
    if (!rc && !n) rc = cli_fail(2, "classify", "nothing to classify: give --text, --image or --data");
    float *x = rc ? NULL : malloc(sizeof *x * (size_t)n * clf.d), *p = rc ? NULL : malloc(sizeof *p * (size_t)n * clf.c);
    if (!rc && (!x || !p)) rc = cli_fail(1, "classify", "out of memory");
    if (!rc) rc = app_embed_items("classify", m, it, n, clf.d, x);
    if (!rc) {
        sail_logreg_predict(&clf, x, n, p);
        json_t *root = json_object(), *res = json_array();
        int ok = 0;
        for (int i = 0; i < n; i++) {
            json_t *e = input_json(&it[i]);
            json_object_set_new(e, "top", top_json(p + (size_t)i * clf.c, NULL, clf.labels, clf.c, o->top));
            int arg = 0;
            for (int j = 1; j < clf.c; j++)
                if (p[(size_t)i * clf.c + j] > p[(size_t)i * clf.c + arg]) arg = j;
            if (labelled) {
                json_object_set_new(e, "label", json_string(it[i].label));
                ok += !strcmp(it[i].label, clf.labels[arg]);
            }
            json_array_append_new(res, e);
        }
        json_object_set_new(root, "mode", json_string("predict"));
        if (labelled) {
            json_object_set_new(root, "accuracy", json_real((double)ok / n));
            fprintf(stderr, "sail classify: accuracy %.2f%% on %d labelled items\n", 100.0 * ok / n, n);
        }
        json_object_set_new(root, "results", res);
        rc = app_write_json("classify", root, o->out);
    }
    free(x); free(p);
    if (it != o->in) app_free_items(it, n);
    sail_logreg_free(&clf);
    return rc;
}

int cmd_classify(int argc, char **argv) {
    int mode = argc > 1 && !strcmp(argv[1], "train") ? 1 : argc > 1 && !strcmp(argv[1], "predict") ? 2 : 0;
    opts o = {.scale = -1, .holdout = 0.2, .l2 = 1e-3, .top = 3, .epochs = 300, .seed = 1};
    int rc = parse(&o, argc, argv, mode ? 2 : 1);
    if (rc == CLI_HELP) {
        free(o.in);
        return 0;
    }
    if (!rc && !mode && !o.zero_shot)
        rc = cli_fail(2, "classify", "choose --zero-shot, train or predict (see sail classify --help)");
    if (!rc && !mode && (!o.labels || !o.n_in))
        rc = cli_fail(2, "classify", "--zero-shot needs --labels and at least one --text or --image");
    if (!rc && mode == 1 && o.n_in) rc = cli_fail(2, "classify", "train reads its items from --data only");
    sail_model *m = NULL;
    if (!rc && !(m = app_load_model("classify", o.model, o.threads))) rc = 1;
    if (!rc) rc = cli_check_dim("classify", m, o.dim);
    if (!rc) rc = mode == 1 ? train(&o, m) : mode == 2 ? predict(&o, m) : zero_shot(&o, m);
    free(o.in);
    sail_model_free(m);
    return rc;
}
