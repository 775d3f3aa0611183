/* cmd_reduce.c: `sail reduce fit|apply`: PCA projections of embeddings to
 * fewer dimensions, saved in a small validated file (docs/APPS.md). */
#include "sail_apps.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail reduce fit --vectors V.npy --dim D -o pca.bin [--threads N]\n"
    "       sail reduce apply --pca pca.bin --vectors V.npy -o out.npy [--normalize]\n\n"
    "fit    learns a PCA projection (covariance + LAPACK symmetric eigensolver) to D\n"
    "       dimensions and reports the variance it retains.\n"
    "apply  projects vectors with a saved PCA: (x - mean) . components.\n\n";

static const char more[] =
    "\nPCA needs no retraining but is fitted to one data set; a model trained with\n"
    "Matryoshka prefixes can instead embed with --dim (see docs/APPS.md).\n";

int cmd_reduce(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "", *vectors = NULL, *pca_path = NULL, *out = NULL;
    int dim = 0, normalize = 0, threads = 0;
    const cli_opt table[] = {
        CLI_OPT_STR("--vectors", &vectors, "V", "float32/float64 .npy matrix (n x d)"),
        CLI_OPT_DIM(&dim, "output dimensions (1..d)"),
        CLI_OPT_STR("--pca", &pca_path, "F", "a file written by `sail reduce fit`"),
        CLI_OPT_FLAG("--normalize", &normalize, "(apply) L2-normalise the projected rows, for cosine search"),
        CLI_OPT_THREADS(&threads, "(fit) threads for the covariance (default: one per core)"),
        CLI_OPT_STR("-o|--output", &out, "FILE", "output: the PCA file (fit) or a float32 .npy (apply)"),
        CLI_OPT_END,
    };
    const cli_spec spec = {"reduce", usage, table, more};
    if (argc < 2) {
        cli_help(&spec, stderr);
        return 2;
    }
    if (!cli_wants_help(argc, argv) && strcmp(mode, "fit") && strcmp(mode, "apply"))
        return cli_fail(2, "reduce", "unknown mode '%s': use fit or apply", mode);
    int rc = cli_parse(&spec, argc, argv, 2);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (!vectors || !out) return cli_fail(2, "reduce", "--vectors and -o are required");
    if (!strcmp(mode, "fit") && !dim) return cli_fail(2, "reduce", "fit needs --dim");
    if (!strcmp(mode, "apply") && !pca_path) return cli_fail(2, "reduce", "apply needs --pca");
    sail_error err = {0};
    float *x = NULL, *y = NULL;
    int n, d;
    sail_pca p = {0};
    if (sail_npy_read(vectors, &x, &n, &d, &err)) return cli_fail(1, "reduce", "%s", err.msg);
    if (!strcmp(mode, "fit")) {
        sail_pool *pool = sail_pool_new(threads); /* NULL (serial) if threads cannot start */
        /* The fit opens LAPACK (OpenBLAS on Debian), whose threads start as
         * it loads and spin for their first 70 ms: --threads holds them too,
         * unless the environment already says (--threads 1: 176 -> 115 ms
         * of CPU). */
        if (threads > 0) {
            char nt[16];
            snprintf(nt, sizeof nt, "%d", threads);
            setenv("OPENBLAS_NUM_THREADS", nt, 0);
        }
        if (dim > d) rc = cli_fail(2, "reduce", "--dim %d is more than the %d columns of %s", dim, d, vectors);
        else if (sail_pca_fit(pool, x, n, d, dim, &p, &err) || sail_pca_save(&p, out, &err))
            rc = cli_fail(1, "reduce", "%s", err.msg);
        sail_pool_free(pool);
        if (!rc) {
            double kept = 0;
            for (int j = 0; j < dim; j++) kept += p.variance[j];
            printf("PCA %d -> %d dimensions over %d vectors: %.2f%% of the variance retained\n", d, dim, n,
                   p.total_variance > 0 ? 100 * kept / p.total_variance : 100.0);
            int marks[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
            double cum = 0;
            for (int j = 0, t = 0; j < dim; j++) {
                cum += p.variance[j];
                if ((t < 13 && j + 1 == marks[t]) || j + 1 == dim) {
                    printf("  %5d components: %6.2f%%\n", j + 1, p.total_variance > 0 ? 100 * cum / p.total_variance : 100.0);
                    while (t < 13 && marks[t] <= j + 1) t++;
                }
            }
        }
    } else {
        if (sail_pca_load(&p, pca_path, &err)) rc = cli_fail(1, "reduce", "%s", err.msg);
        else if (p.d_in != d)
            rc = cli_fail(1, "reduce", "%s was fitted on %d columns but %s has %d", pca_path, p.d_in, vectors, d);
        else if (!(y = sail_malloc(sizeof *y * (size_t)n * p.d_out))) rc = cli_fail(1, "reduce", "out of memory");
        if (!rc) {
            sail_pca_apply(&p, x, n, y);
            for (int i = 0; normalize && i < n; i++) {
                float *r = y + (size_t)i * p.d_out;
                double s = 0;
                for (int j = 0; j < p.d_out; j++) s += (double)r[j] * r[j];
                s = s > 0 ? 1 / sqrt(s) : 0;
                for (int j = 0; j < p.d_out; j++) r[j] = (float)(r[j] * s);
            }
            int64_t shape[2] = {n, p.d_out};
            if (sail_npy_write_f32(out, y, 2, shape, &err)) rc = cli_fail(1, "reduce", "%s", err.msg);
        }
    }
    sail_pca_free(&p);
    sail_free(x);
    sail_free(y);
    return rc;
}
