/* cmd_eval.c: `sail eval` measures retrieval recall of a model on a JSONL
 * manifest of pairs: text->image and image->text R@1/5/10 over distinct
 * images, and text->text R@1/5/10 for text pairs. A hit is the paired item
 * or any item of the same group (sail_evaluate, include/sail_train.h). */
#include "cli.h"
#include "sail_train.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail eval --model M.gguf --data D.jsonl [--lang en|zh] [--dim D] [--json]\n"
    "                 [--threads N]\n\n"
    "Embeds every text and every distinct image (by path) of the manifest and reports\n"
    "retrieval recall at 1, 5 and 10: text->image and image->text for text-image\n"
    "pairs, text->text (text -> text2) for text pairs, and query->item for every\n"
    "other kind of pair (joint items such as {\"query\", \"item\": {\"text\", \"image\"}}, image or\n"
    "joint queries, videos: one vector per side, each kind among its own, a row per\n"
    "kind when there are several). A retrieved item counts as a\n"
    "hit when it belongs to the query's pair or to any pair of the same \"group\".\n"
    "Ties in score are resolved in favour of a hit. Manifest format: docs/TRAINING.md.\n\n";

static void on_note(void *ud, const char *msg) {
    (void)ud;
    fprintf(stderr, "sail eval: %s\n", msg);
}

static json_t *recall_json(const double *r) {
    json_t *o = json_object();
    json_object_set_new(o, "R@1", json_real(r[0]));
    json_object_set_new(o, "R@5", json_real(r[1]));
    json_object_set_new(o, "R@10", json_real(r[2]));
    return o;
}

static int print_json(const sail_eval_result *r) {
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(r->n));
    if (r->n_text_image) {
        json_object_set_new(o, "text_to_image", recall_json(r->text_to_image));
        json_object_set_new(o, "image_to_text", recall_json(r->image_to_text));
    }
    if (r->n_text_text) json_object_set_new(o, "text_to_text", recall_json(r->text_to_text));
    if (r->n_query_item) {
        json_object_set_new(o, "query_to_item", recall_json(r->query_to_item));
        json_t *by = json_object();
        for (int c = 0; c < r->n_kinds; c++) {
            json_t *k = recall_json(r->kinds[c].r);
            json_object_set_new(k, "n", json_integer(r->kinds[c].n));
            json_object_set_new(by, r->kinds[c].label, k);
        }
        json_object_set_new(o, "query_to_item_by_kind", by);
    }
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!s) return cli_fail(1, "eval", "out of memory");
    puts(s);
    free(s);
    return 0;
}

static void print_table(const sail_eval_result *r) {
    printf("%d pairs (%d text-image with %d distinct images, %d text-text, %d query-item), dim %d\n", r->n,
           r->n_text_image, r->n_images, r->n_text_text, r->n_query_item, r->dim);
    printf("%-15s %7s %7s %7s\n", "direction", "R@1", "R@5", "R@10");
    const double *t2i = r->text_to_image, *i2t = r->image_to_text, *t2t = r->text_to_text, *q2i = r->query_to_item;
    if (r->n_text_image) {
        printf("%-15s %7.4f %7.4f %7.4f\n", "text->image", t2i[0], t2i[1], t2i[2]);
        printf("%-15s %7.4f %7.4f %7.4f\n", "image->text", i2t[0], i2t[1], i2t[2]);
    }
    if (r->n_text_text) printf("%-15s %7.4f %7.4f %7.4f\n", "text->text", t2t[0], t2t[1], t2t[2]);
    if (r->n_query_item) printf("%-15s %7.4f %7.4f %7.4f\n", "query->item", q2i[0], q2i[1], q2i[2]);
    for (int c = 0; c < r->n_kinds && r->n_kinds > 1; c++) {
        const sail_eval_kind *k = &r->kinds[c];
        printf("  %-21s %7.4f %7.4f %7.4f  (%d)\n", k->label, k->r[0], k->r[1], k->r[2], k->n);
    }
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *lang = NULL;
    int dim = 0, as_json = 0, threads = 0;
    const cli_opt table[] = {
        CLI_OPT_STR("--model", &model, "M", "sail model file"),
        CLI_OPT_STR("--data", &data, "D", "JSONL manifest ({\"text\", \"image\"} or {\"text\", \"text2\"} per line)"),
        CLI_OPT_STR("--lang", &lang, "L", "only pairs whose \"lang\" is L"),
        CLI_OPT_DIM(&dim, "Matryoshka prefix of the vectors (default: the model's dim)"),
        CLI_OPT_FLAG("--json", &as_json, "one JSON object on stdout instead of a table"),
        CLI_OPT_THREADS(&threads, CLI_THREADS_HELP),
        CLI_OPT_END,
    };
    int status = cli_start("eval", usage, table, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (!model || !data) return cli_fail(2, "eval", "--model and --data are required (see sail eval --help)");
    sail_error err = {0};
    sail_load_options lo = {.n_threads = threads};
    sail_model *m = sail_model_load(model, &lo, &err);
    if (!m) return cli_fail(1, "eval", "%s", err.msg);
    int bad = cli_check_dim("eval", m, dim);
    if (bad) {
        sail_model_free(m);
        return bad;
    }
    if (!dim) dim = sail_model_dim(m);
    sail_dataset ds;
    if (sail_dataset_load(data, &ds, &err)) {
        sail_model_free(m);
        return cli_fail(1, "eval", "%s", err.msg);
    }
    if (ds.n_skipped) {
        fprintf(stderr, "sail eval: %s: skipped %d line%s", data, ds.n_skipped, ds.n_skipped == 1 ? "" : "s");
        for (int i = 0; i < cli_min(ds.n_skipped, SAIL_DATASET_MAX_REPORTS); i++)
            fprintf(stderr, "%s line %d: %s", i ? ";" : " (", ds.skipped_lines[i], ds.skipped_why[i]);
        fprintf(stderr, "%s)\n", ds.n_skipped > SAIL_DATASET_MAX_REPORTS ? "; ..." : "");
    }
    sail_eval_options eo = {.path = data, .lang = lang, .dim = dim, .note = on_note};
    sail_eval_result r;
    int rc = 0;
    if (sail_evaluate(m, &ds, &eo, &r, &err)) rc = cli_fail(1, "eval", "%s", err.msg);
    else if (as_json) rc = print_json(&r);
    else print_table(&r);
    sail_dataset_free(&ds);
    sail_model_free(m);
    return rc;
}
