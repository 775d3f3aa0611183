/* cmd_cluster.c: `sail cluster` groups embeddings with k-means (k given or
 * chosen by silhouette) or DBSCAN, writes the assignments as JSON and can
 * draw the clusters over the 2-D PCA projection as a PNG. */
#include "sail_apps.h"
#include "apps_input.h"
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail cluster (--model M --data D.jsonl | --vectors V.npy) [-o assignments.json]\n"
    "                    [--method kmeans|dbscan] [--k K | --k auto [--k-min 2 --k-max 10]]\n"
    "                    [--eps E --min-points P] [--plot clusters.png] [--seed S]\n"
    "                    [--max-iter N] [--dim D] [--threads N]\n\n"
    "Groups vectors into clusters and writes each item's cluster as JSON.\n\n";

typedef struct opts {
    const char *model, *data, *vectors, *out, *plot, *method;
    int k, k_auto, k_min, k_max, min_points, max_iter, dim, threads;
    double eps;
    long seed;
    sail_pool *pool;
} opts;

static int on_k(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    long n;
    if (!strcmp(v, "auto")) {
        o->k_auto = 1;
        return 0;
    }
    if (cli_parse_int(v, opt->lo, opt->hi, &n)) return cli_fail(2, cmd, "--k needs 1..%ld or auto, not '%s'", opt->hi, v);
    o->k = (int)n;
    return 0;
}

static int parse(opts *o, int argc, char **argv) {
    const cli_opt table[] = {
        CLI_OPT_STR("--model", &o->model, "M", "sail model file (.gguf), to embed --data"),
        CLI_OPT_STR("--data", &o->data, "D.jsonl",
                    "items {\"text\": ..., \"image\": ..., \"id\": ...} embedded with --model\n"
                    "(image paths are relative to the JSONL file)"),
        CLI_OPT_STR("--vectors", &o->vectors, "V", "a float32/float64 .npy matrix (n x d) instead"),
        CLI_OPT_STR("--method", &o->method, "M", "kmeans (default; k-means++ seeding, Lloyd iterations) or dbscan"),
        {.name = "--k", .kind = CLI_CALL, .ptr = o, .call = on_k, .lo = 1, .hi = SAIL_APPS_MAX_K, .arg = "K|auto",
         .help = "number of clusters (default 8); auto picks the k in\n"
                 "[--k-min, --k-max] with the best silhouette (on <= 2000 sampled rows)"},
        CLI_OPT_INT("--k-min", &o->k_min, 2, 1000, "K", "smallest k tried by --k auto (default 2)"),
        CLI_OPT_INT("--k-max", &o->k_max, 2, 1000, "K", "largest k tried by --k auto (default 10)"),
        CLI_OPT_FLOAT("--eps", &o->eps, 1e-12, 1e12, "E",
                      "DBSCAN neighbourhood radius (Euclidean; for unit vectors\n"
                      "|a-b|^2 = 2 - 2 cos)  (default 0.5)"),
        CLI_OPT_INT("--min-points", &o->min_points, 1, 1 << 20, "P",
                    "DBSCAN: points within eps (itself included) that make a core (default 5)"),
        CLI_OPT_STR("--plot", &o->plot, "F.png", "scatter of the 2-D PCA projection coloured by cluster"),
        CLI_OPT_LONG("--seed", &o->seed, 0, 0x7fffffffL, "S", "seed of k-means++ and of the silhouette sample (default 1)"),
        CLI_OPT_INT("--max-iter", &o->max_iter, 1, 100000, "N", "Lloyd iterations at most (default 100)"),
        CLI_OPT_DIM(&o->dim, "Matryoshka prefix of the embeddings (with --model)"),
        CLI_OPT_THREADS(&o->threads, "threads for the model and the clustering (default: one per core)"),
        CLI_OPT_STR("-o|--output", &o->out, "FILE", "output JSON (default stdout)"),
        CLI_OPT_IMAGE,
        CLI_OPT_END,
    };
    const cli_spec spec = {"cluster", usage, table, NULL};
    int rc = cli_parse(&spec, argc, argv, 1);
    if (rc) return rc;
    if (!!o->data == !!o->vectors) return cli_fail(2, "cluster", "give exactly one of --data (with --model) or --vectors");
    if (o->data && !o->model) return cli_fail(2, "cluster", "--data needs --model to embed the items");
    if (strcmp(o->method, "kmeans") && strcmp(o->method, "dbscan"))
        return cli_fail(2, "cluster", "--method must be kmeans or dbscan, not '%s'", o->method);
    if (o->k_min > o->k_max) return cli_fail(2, "cluster", "--k-min %d is above --k-max %d", o->k_min, o->k_max);
    return 0;
}

/* Silhouette of labels over a sample of at most 2000 rows. */
static double sampled_silhouette(sail_pool *pool, const float *x, int n, int d, const int *label, int k, uint64_t seed) {
    int m = cli_min(n, 2000);
    if (m == n) return sail_silhouette(pool, x, n, d, label, k);
    int *idx = malloc(sizeof *idx * (size_t)n), *lab = malloc(sizeof *lab * (size_t)m);
    float *xs = malloc(sizeof *xs * (size_t)m * d);
    double s = NAN;
    if (idx && lab && xs) {
        sail_permutation(idx, n, m, seed ^ 0x5851f42d4c957f2dull);
        for (int i = 0; i < m; i++) {
            memcpy(xs + (size_t)i * d, x + (size_t)idx[i] * d, sizeof *xs * d);
            lab[i] = label[idx[i]];
        }
        s = sail_silhouette(pool, xs, m, d, lab, k);
    }
    free(idx); free(lab); free(xs);
    return s;
}

static int plot(const opts *o, const float *x, int n, int d, const int *label, const char *title) {
    sail_error err = {0};
    float *xy = malloc(sizeof *xy * 2 * (size_t)n);
    if (!xy) return cli_fail(1, "cluster", "out of memory");
    sail_pca p = {0};
    int rc = 0;
    if (d >= 2 && n >= 3) {
        if (sail_pca_fit(o->pool, x, n, d, 2, &p, &err)) rc = cli_fail(1, "cluster", "%s", err.msg);
        else sail_pca_apply(&p, x, n, xy);
    } else {
        for (int i = 0; i < n; i++) { xy[2 * i] = x[(size_t)i * d]; xy[2 * i + 1] = d > 1 ? x[(size_t)i * d + 1] : 0; }
    }
    char xl[64] = "PC1", yl[64] = "PC2";
    if (!rc && p.variance && p.total_variance > 0) {
        snprintf(xl, sizeof xl, "PC1 (%.1f%%)", 100 * p.variance[0] / p.total_variance);
        snprintf(yl, sizeof yl, "PC2 (%.1f%%)", 100 * p.variance[1] / p.total_variance);
    }
    if (!rc && sail_plot_png(o->plot, xy, label, n, title, xl, yl, 1000, 720, &err))
        rc = cli_fail(1, "cluster", "%s", err.msg);
    sail_pca_free(&p);
    free(xy);
    return rc;
}

static json_t *assignments(const int *label, int n, const app_item *items) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer(i));
        if (items && items[i].id) json_object_set_new(e, "id", json_string(items[i].id));
        if (items && items[i].text) json_object_set_new(e, "text", json_string(items[i].text));
        if (items && items[i].image) json_object_set_new(e, "image", json_string(items[i].image));
        json_object_set_new(e, "cluster", json_integer(label[i]));
        json_array_append_new(a, e);
    }
    return a;
}

static int run_kmeans(const opts *o, const float *x, int n, int d, json_t *root, int **label, char *title) {
    sail_error err = {0};
    int k = o->k;
    json_t *scores = NULL;
    if (o->k_auto) {
        scores = json_array();
        double best = -2;
        for (int kk = o->k_min; kk <= cli_min(o->k_max, n - 1); kk++) {
            sail_kmeans_result r;
            if (sail_kmeans(o->pool, x, n, d, kk, o->max_iter, o->seed, &r, &err)) {
                json_decref(scores);
                return cli_fail(1, "cluster", "%s", err.msg);
            }
            double s = sampled_silhouette(o->pool, x, n, d, r.assign, kk, o->seed);
            fprintf(stderr, "sail cluster: k=%d silhouette %.4f inertia %.4g\n", kk, s, r.inertia);
            json_t *e = json_object();
            json_object_set_new(e, "k", json_integer(kk));
            json_object_set_new(e, "silhouette", json_real(s));
            json_object_set_new(e, "inertia", json_real(r.inertia));
            json_array_append_new(scores, e);
            if (s > best) { best = s; k = kk; }
            sail_kmeans_free(&r);
        }
        if (best == -2) {
            json_decref(scores);
            return cli_fail(2, "cluster", "--k auto needs more than --k-min (%d) rows; there are %d", o->k_min, n);
        }
    }
    if (k > n) return cli_fail(2, "cluster", "--k %d is more than the %d items", k, n);
    sail_kmeans_result r;
    if (sail_kmeans(o->pool, x, n, d, k, o->max_iter, o->seed, &r, &err)) {
        json_decref(scores);
        return cli_fail(1, "cluster", "%s", err.msg);
    }
    double sil = k >= 2 ? sampled_silhouette(o->pool, x, n, d, r.assign, k, o->seed) : NAN;
    json_object_set_new(root, "method", json_string("kmeans"));
    json_object_set_new(root, "k", json_integer(k));
    json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(root, "iterations", json_integer(r.iters));
    json_object_set_new(root, "inertia", json_real(r.inertia));
    if (isfinite(sil)) json_object_set_new(root, "silhouette", json_real(sil));
    if (scores) json_object_set_new(root, "k_scores", scores);
    json_t *seeds = json_array(), *cents = json_array();
    for (int j = 0; j < k; j++) {
        json_array_append_new(seeds, json_integer(r.seeds[j]));
        json_t *c = json_array();
        for (int t = 0; t < d; t++) json_array_append_new(c, json_real(r.centroids[(size_t)j * d + t]));
        json_array_append_new(cents, c);
    }
    json_object_set_new(root, "init_rows", seeds);
    json_object_set_new(root, "centroids", cents);
    fprintf(stderr, "sail cluster: k-means k=%d, %d iterations, inertia %.6g%s", k, r.iters, r.inertia,
            isfinite(sil) ? "" : "\n");
    if (isfinite(sil)) fprintf(stderr, ", silhouette %.4f\n", sil);
    snprintf(title, 96, "k-means, k=%d, n=%d", k, n);
    *label = r.assign;
    r.assign = NULL;
    sail_kmeans_free(&r);
    return 0;
}

int cmd_cluster(int argc, char **argv) {
    opts o = {.method = "kmeans", .k = 8, .k_min = 2, .k_max = 10, .min_points = 5, .max_iter = 100,
              .eps = 0.5, .seed = 1};
    int rc = parse(&o, argc, argv), n = 0, d = 0, n_items = 0;
    float *x = NULL;
    app_item *items = NULL;
    int *label = NULL;
    sail_model *m = NULL;
    sail_error err = {0};
    char title[96];
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (o.vectors) {
        if (sail_npy_read(o.vectors, &x, &n, &d, &err)) rc = cli_fail(1, "cluster", "%s", err.msg);
    } else if (!(rc = app_read_jsonl("cluster", o.data, 0, &items, &n_items))) {
        if (!(m = app_load_model("cluster", o.model, o.threads))) rc = 1;
        else if (!(rc = cli_check_dim("cluster", m, o.dim))) {
            n = n_items;
            d = o.dim ? o.dim : sail_model_dim(m);
            if (!(x = sail_malloc(sizeof *x * (size_t)n * d))) rc = cli_fail(1, "cluster", "out of memory");
            else rc = app_embed_items("cluster", m, items, n, d, x);
        }
    }
    json_t *root = rc ? NULL : json_object();
    if (!rc) o.pool = sail_pool_new(o.threads); /* NULL (serial) if threads cannot start */
    if (!rc) {
        json_object_set_new(root, "n", json_integer(n));
        json_object_set_new(root, "dim", json_integer(d));
    }
    if (!rc && !strcmp(o.method, "kmeans")) rc = run_kmeans(&o, x, n, d, root, &label, title);
    else if (!rc) {
        int nc = 0, noise = 0;
        if (!(label = malloc(sizeof *label * (size_t)n))) rc = cli_fail(1, "cluster", "out of memory");
        else if (sail_dbscan(o.pool, x, n, d, (float)o.eps, o.min_points, label, &nc, &err)) rc = cli_fail(1, "cluster", "%s", err.msg);
        for (int i = 0; !rc && i < n; i++) noise += label[i] < 0;
        if (!rc) {
            json_object_set_new(root, "method", json_string("dbscan"));
            json_object_set_new(root, "eps", json_real(o.eps));
            json_object_set_new(root, "min_points", json_integer(o.min_points));
            json_object_set_new(root, "clusters", json_integer(nc));
            json_object_set_new(root, "noise", json_integer(noise));
            double sil = nc >= 2 ? sampled_silhouette(o.pool, x, n, d, label, nc, o.seed) : NAN;
            if (isfinite(sil)) json_object_set_new(root, "silhouette", json_real(sil));
            fprintf(stderr, "sail cluster: DBSCAN found %d clusters, %d noise points of %d\n", nc, noise, n);
            snprintf(title, sizeof title, "DBSCAN, eps=%g, %d clusters, n=%d", o.eps, nc, n);
        }
    }
    if (!rc) {
        json_object_set_new(root, "assignments", assignments(label, n, items));
        rc = app_write_json("cluster", root, o.out);
        root = NULL;
    }
    if (!rc && o.plot) rc = plot(&o, x, n, d, label, title);
    json_decref(root);
    free(label);
    sail_free(x);
    app_free_items(items, n_items);
    sail_model_free(m);
    sail_pool_free(o.pool);
    return rc;
}
