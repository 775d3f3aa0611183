/* apps_tool.c: test driver exposing the app algorithms to the Python
 * oracles (tests/test_apps.py). Matrices travel as .npy files.
 *
 *   apps_tool logreg X.npy Y.npy L2 EPOCHS CLF.bin GRAD.npy
 *       trains, saves the classifier, writes the gradient at the trained
 *       weights ((c, d + 1): [dW | db]) and prints "loss <value>"
 *   apps_tool align SIM.npy        prints "mono <total> f0 f1 ..." and
 *                                  "greedy <total> f0 f1 ..."
 *   apps_tool rq X.npy LEVELS K OUT_DIR
 *       writes codes.npy (float, n x levels) and codebooks.npy
 *       (levels * K x d), prints "mse <l1> <l2> ..."
 *   apps_tool softmax S.npy SCALE OUT.npy
 *   apps_tool index DIR X.npy      creates an exact cosine index in DIR
 *                                  holding the rows of X with ids 1..n
 */
#include "apps/apps.h"
#include "sail_apps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *load(const char *path, int *n, int *d) {
    float *x;
    sail_error err = {0};
    if (sail_npy_read(path, &x, n, d, &err)) {
        fprintf(stderr, "apps_tool: %s\n", err.msg);
        exit(1);
    }
    return x;
}

static void save(const char *path, const float *x, int n, int d) {
    int64_t shape[2] = {n, d};
    sail_error err = {0};
    if (sail_npy_write_f32(path, x, 2, shape, &err)) {
        fprintf(stderr, "apps_tool: %s\n", err.msg);
        exit(1);
    }
}

static int logreg(char **argv) {
    int n, d, ny, one;
    float *x = load(argv[2], &n, &d), *yf = load(argv[3], &one, &ny);
    if (ny != n) { fprintf(stderr, "apps_tool: %d labels for %d rows\n", ny, n); return 1; }
    int *y = malloc(sizeof *y * (size_t)n), c = 0;
    for (int i = 0; i < n; i++) {
        y[i] = (int)yf[i];
        if (y[i] + 1 > c) c = y[i] + 1;
    }
    sail_logreg m = {.d = d, .c = c};
    m.labels = calloc((size_t)c, sizeof *m.labels);
    for (int j = 0; j < c; j++) {
        m.labels[j] = malloc(24); /* "class" and any int */
        snprintf(m.labels[j], 24, "class%d", j);
    }
    sail_error err = {0};
    double l2 = atof(argv[4]);
    if (sail_logreg_train(NULL, &m, x, y, n, l2, atoi(argv[5]), &err) || sail_logreg_save(&m, argv[6], &err)) {
        fprintf(stderr, "apps_tool: %s\n", err.msg);
        return 1;
    }
    float *gw = malloc(sizeof *gw * (size_t)c * d), *gb = malloc(sizeof *gb * (size_t)c);
    float *g = malloc(sizeof *g * (size_t)c * (d + 1));
    double loss = sail_logreg_loss(NULL, &m, x, y, n, l2, gw, gb);
    for (int j = 0; j < c; j++) {
        memcpy(g + (size_t)j * (d + 1), gw + (size_t)j * d, sizeof *g * d);
        g[(size_t)j * (d + 1) + d] = gb[j];
    }
    save(argv[7], g, c, d + 1);
    printf("loss %.9g\n", loss);
    sail_logreg_free(&m);
    free(x); free(yf); free(y); free(gw); free(gb); free(g);
    return 0;
}

static int align(char **argv) {
    int L, F;
    float *s = load(argv[2], &L, &F);
    int *f = malloc(sizeof *f * (size_t)L);
    double total;
    sail_error err = {0};
    if (sail_align_monotonic(s, L, F, f, &total, &err)) { fprintf(stderr, "apps_tool: %s\n", err.msg); return 1; }
    printf("mono %.9g", total);
    for (int i = 0; i < L; i++) printf(" %d", f[i]);
    total = sail_align_greedy(s, L, F, f);
    printf("\ngreedy %.9g", total);
    for (int i = 0; i < L; i++) printf(" %d", f[i]);
    printf("\n");
    free(s); free(f);
    return 0;
}

static int rq(char **argv) {
    int n, d;
    float *x = load(argv[2], &n, &d);
    sail_rq r;
    sail_error err = {0};
    if (sail_rq_fit(NULL, x, n, d, atoi(argv[3]), atoi(argv[4]), 50, 1, &r, &err)) {
        fprintf(stderr, "apps_tool: %s\n", err.msg);
        return 1;
    }
    char path[4096];
    float *codes = malloc(sizeof *codes * (size_t)n * r.levels);
    for (size_t i = 0; i < (size_t)n * r.levels; i++) codes[i] = (float)r.codes[i];
    snprintf(path, sizeof path, "%s/codes.npy", argv[5]);
    save(path, codes, n, r.levels);
    snprintf(path, sizeof path, "%s/codebooks.npy", argv[5]);
    save(path, r.codebooks, r.levels * r.k, d);
    printf("mse");
    for (int l = 0; l < r.levels; l++) printf(" %.9g", r.mse[l]);
    printf("\n");
    sail_rq_free(&r);
    free(x); free(codes);
    return 0;
}

static int softmax(char **argv) {
    int n, d;
    float *s = load(argv[2], &n, &d), *p = malloc(sizeof *p * (size_t)n * d);
    for (int i = 0; i < n; i++) sail_softmax_scaled(s + (size_t)i * d, d, (float)atof(argv[3]), p + (size_t)i * d);
    save(argv[4], p, n, d);
    free(s); free(p);
    return 0;
}

static int make_index(char **argv) {
    int n, d;
    float *x = load(argv[3], &n, &d);
    free(x);
    sail_index_options o = {.dim = d, .metric = SAIL_METRIC_COSINE, .storage = SAIL_STORAGE_F32,
                            .kind = SAIL_INDEX_EXACT, .create = 1};
    sail_error err = {0};
    sail_index *ix = sail_index_open(argv[2], &o, &err);
    size_t added = 0;
    if (!ix || sail_index_import(ix, argv[3], 1, &added, &err) || sail_index_close(ix, &err)) {
        fprintf(stderr, "apps_tool: %s\n", err.msg);
        return 1;
    }
    printf("added %zu\n", added);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "index")) return make_index(argv);
    if (argc >= 8 && !strcmp(argv[1], "logreg")) return logreg(argv);
    if (argc >= 3 && !strcmp(argv[1], "align")) return align(argv);
    if (argc >= 6 && !strcmp(argv[1], "rq")) return rq(argv);
    if (argc >= 5 && !strcmp(argv[1], "softmax")) return softmax(argv);
    fprintf(stderr, "usage: apps_tool logreg|align|rq|softmax|index ... (see the file's header)\n");
    return 2;
}
