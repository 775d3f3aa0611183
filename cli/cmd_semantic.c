/* cmd_semantic.c: `sail index semantic-ids`: residual k-means quantisation
 * of every item of an index into a short discrete code, one k-means level
 * at a time on the residuals of the previous levels (see docs/APPS.md). */
#include "sail_apps.h"
#include "apps_input.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail index semantic-ids --index I [--levels 3] [--codebook 256]\n"
    "                               [--max-iter 50] [--seed S] [--threads N] [-o codes.json]\n\n"
    "Gives every item of the index a code of --levels integers in [0, codebook):\n"
    "level 1 is k-means over the vectors, each next level k-means over what the\n"
    "previous levels left (residual quantisation). Prints the mean squared\n"
    "reconstruction error after each level and writes {\"id\", \"code\"} per item.\n\n";

int cmd_semantic_ids(int argc, char **argv) {
    const char *index = NULL, *out = NULL;
    int levels = 3, codebook = 256, max_iter = 50, threads = 0;
    long seed = 1;
    const cli_opt table[] = {
        CLI_OPT_STR("--index", &index, "I", "the index directory, or redis://HOST:PORT/NAME"),
        CLI_OPT_INT("--levels", &levels, 1, 16, "L", "code length, 1..16 (default 3)"),
        CLI_OPT_INT("--codebook", &codebook, 1, SAIL_APPS_MAX_K, "K", "codes per level, 1..65536 (default 256; at most the item count)"),
        CLI_OPT_INT("--max-iter", &max_iter, 1, 10000, "N", "Lloyd iterations per level (default 50)"),
        CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffL, "S", "k-means++ seed (default 1)"),
        CLI_OPT_THREADS(&threads, "k-means threads (default: one per core; the codes do not depend on it)"),
        CLI_OPT_STR("-o|--output", &out, "FILE", "output JSON (default stdout)"),
        CLI_OPT_END,
    };
    int status = cli_start("index semantic-ids", usage, table, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (!index) return cli_fail(2, "index semantic-ids", "--index is required");
    sail_error err = {0};
    sail_index *ix = sail_index_open(index, NULL, &err);
    if (!ix) return cli_fail(1, "index semantic-ids", "%s", err.msg);
    sail_index_info info;
    sail_index_get_info(ix, &info);
    int rc = 0, d = info.dim;
    size_t count = 0;
    uint64_t *ids = NULL;
    float *x = NULL;
    sail_rq rq = {0};
    if (sail_index_list_ids(ix, &ids, &count, &err)) rc = cli_fail(1, "index semantic-ids", "%s", err.msg);
    else if (!count) rc = cli_fail(1, "index semantic-ids", "%s holds no items", index);
    else if (count > SAIL_APPS_MAX_ROWS) rc = cli_fail(1, "index semantic-ids", "%zu items: the limit is %d", count, SAIL_APPS_MAX_ROWS);
    if (!rc && !(x = sail_malloc(sizeof *x * count * (size_t)d)))
        rc = cli_fail(1, "index semantic-ids", "out of memory for %zu x %d", count, d);
    for (size_t i = 0; !rc && i < count; i++)
        if (sail_index_get(ix, ids[i], x + i * (size_t)d, NULL, &err)) rc = cli_fail(1, "index semantic-ids", "%s", err.msg);
    int n = (int)count;
    if (!rc) {
        fprintf(stderr, "sail index semantic-ids: %d items, %d levels of %d codes\n", n, levels, cli_min(codebook, n));
        sail_pool *pool = sail_pool_new(threads); /* NULL (serial) if threads cannot start */
        if (sail_rq_fit(pool, x, n, d, levels, codebook, max_iter, seed, &rq, &err))
            rc = cli_fail(1, "index semantic-ids", "%s", err.msg);
        sail_pool_free(pool);
    }
    if (!rc) {
        double base = 0;
        for (size_t e = 0; e < (size_t)n * d; e++) base += (double)x[e] * x[e];
        base /= n;
        FILE *log = out ? stdout : stderr;
        fprintf(log, "mean squared norm of the vectors: %.6f\n", base);
        json_t *root = json_object(), *mse = json_array(), *items = json_array();
        for (int l = 0; l < levels; l++) {
            fprintf(log, "level %d: reconstruction error %.6f (%.2f%% of the squared norm)\n", l + 1, rq.mse[l],
                    base > 0 ? 100 * rq.mse[l] / base : 0.0);
            json_array_append_new(mse, json_real(rq.mse[l]));
        }
        for (int i = 0; i < n; i++) {
            json_t *o = json_object(), *code = json_array();
            char b[32];
            if (ids[i] <= (uint64_t)INT64_MAX) json_object_set_new(o, "id", json_integer((json_int_t)ids[i]));
            else {
                snprintf(b, sizeof b, "%llu", (unsigned long long)ids[i]);
                json_object_set_new(o, "id", json_string(b));
            }
            for (int l = 0; l < levels; l++) json_array_append_new(code, json_integer(rq.codes[(size_t)i * levels + l]));
            json_object_set_new(o, "code", code);
            json_array_append_new(items, o);
        }
        json_object_set_new(root, "levels", json_integer(levels));
        json_object_set_new(root, "codebook", json_integer(rq.k));
        json_object_set_new(root, "mean_squared_norm", json_real(base));
        json_object_set_new(root, "reconstruction_mse", mse);
        json_object_set_new(root, "items", items);
        rc = app_write_json("index semantic-ids", root, out);
    }
    sail_rq_free(&rq);
    sail_free(ids);
    sail_free(x);
    if (sail_index_close(ix, &err) && !rc) rc = cli_fail(1, "index semantic-ids", "%s", err.msg);
    return rc;
}
