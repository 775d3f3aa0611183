/* cmd_eval.c: `sail eval` measures retrieval recall of a model on a JSONL
 * manifest of pairs: text->image and image->text R@1/5/10 over distinct
 * images, and text->text R@1/5/10 for text pairs. A hit is the paired item
 * or any item of the same group. Embeddings come from the public API. */
#include "cli.h"
#include "text/strmap.h"
#include "train/dataset.h"
#include "train/eval.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail eval --model M.gguf --data D.jsonl [--lang en|zh] [--dim D] [--json]\n"
    "                 [--threads N]\n\n"
    "Embeds every text and every distinct image (by path) of the manifest and reports\n"
    "retrieval recall at 1, 5 and 10: text->image and image->text for text-image\n"
    "pairs, text->text (text -> text2) for text pairs, query->item for joint items\n"
    "({\"query\", \"item\": {\"text\", \"image\"}}: one vector per item). A retrieved item counts as a\n"
    "hit when it belongs to the query's pair or to any pair of the same \"group\".\n"
    "Ties in score are resolved in favour of a hit. Manifest format: docs/TRAINING.md.\n\n";

static const int KS[3] = {1, 5, 10};

typedef struct ctx {
    const sail_dataset *ds;
    const int32_t *ti;      /* text-image queries: dataset indices */
    const int *img_of;      /* (ds->n) distinct image of an item, or -1 */
    const int *ug_start, *ug; /* CSR: groups of distinct image u */
    const int32_t *tt;      /* text-text items: dataset indices */
} ctx;

static int has_group(const ctx *x, int u, int g) {
    for (int k = x->ug_start[u]; k < x->ug_start[u + 1]; k++)
        if (x->ug[k] == g) return 1;
    return 0;
}
static int rel_t2i(void *p, int q, int c) {
    const ctx *x = p;
    return has_group(x, c, x->ds->items[x->ti[q]].group);
}
static int rel_i2t(void *p, int q, int c) {
    const ctx *x = p;
    return has_group(x, q, x->ds->items[x->ti[c]].group);
}
static int rel_t2t(void *p, int q, int c) {
    const ctx *x = p;
    return x->ds->items[x->tt[q]].group == x->ds->items[x->tt[c]].group;
}

/* Embed image files; one that fails is reported and marked (ok[i] = 0);
 * first_err keeps the first failure's message. */
static int embed_images(sail_model *m, const char **paths, int n, int dim, float *out, unsigned char *ok,
                        sail_error *first_err) {
    sail_error err = {0};
    for (int i = 0; i < n; i += 64) {
        int b = SAIL_MIN(64, n - i);
        if (!sail_embed_image_files(m, paths + i, b, dim, out + (size_t)i * dim, &err)) {
            memset(ok + i, 1, (size_t)b);
            continue;
        }
        for (int j = i; j < i + b; j++) {
            ok[j] = !sail_embed_image_files(m, paths + j, 1, dim, out + (size_t)j * dim, &err);
            if (!ok[j]) fprintf(stderr, "sail eval: skipping an image: %s\n", err.msg);
            if (!ok[j] && !first_err->msg[0]) *first_err = err;
        }
        if (err.status == SAIL_ERR_NOMEM) return -1;
    }
    return 0;
}

/* Query -> joint item (text2 + image, one vector each) over the joint pairs
 * of ds (of language lang when set); an item whose image cannot be read is
 * reported and left out. r[3] receives R@1/5/10; returns the queries counted,
 * or -1 after reporting an error. */
static int joint_recall(sail_model *m, const sail_dataset *ds, const char *lang, int dim, double *r) {
    size_t N = (size_t)ds->n;
    int32_t *jj = malloc(N * sizeof *jj);
    const char **q = malloc(N * sizeof *q);
    float *eq = malloc(N * dim * sizeof(float)), *ei = malloc(N * dim * sizeof(float));
    int n = 0, rc = -1;
    if (!jj || !q || !eq || !ei) {
        cli_fail(1, "eval", "out of memory");
        goto done;
    }
    for (int i = 0; i < ds->n; i++)
        if (ds->items[i].kind == SAIL_PAIR_JOINT && (!lang || !strcmp(ds->items[i].lang, lang))) jj[n++] = i;
    int k = 0;
    for (int i = 0; i < n; i++) { /* one at a time: a bad image costs only its own item */
        const sail_pair *p = &ds->items[jj[i]];
        sail_error err = {0};
        const char *text = p->text2, *path = p->image;
        if (sail_embed_pairs(m, &text, &path, 1, dim, ei + (size_t)k * dim, &err)) {
            fprintf(stderr, "sail eval: skipping a joint item (line %d): %s\n", p->line, err.msg);
            continue;
        }
        q[k] = p->text;
        jj[k++] = jj[i];
    }
    sail_error err = {0};
    if (k && sail_embed_texts(m, q, k, dim, eq, &err)) {
        cli_fail(1, "eval", "%s", err.msg);
        goto done;
    }
    ctx x = {.ds = ds, .tt = jj}; /* same group = a hit, as text->text */
    rc = k ? sail_recall_at(eq, k, ei, k, dim, rel_t2t, &x, KS, 3, r) : 0;
done:
    free(jj); free(q); free(eq); free(ei);
    return rc;
}

static json_t *recall_json(const double *r) {
    json_t *o = json_object();
    json_object_set_new(o, "R@1", json_real(r[0]));
    json_object_set_new(o, "R@5", json_real(r[1]));
    json_object_set_new(o, "R@10", json_real(r[2]));
    return o;
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
    const cli_spec spec = {"eval", usage, table, NULL};
    int status = cli_parse(&spec, argc, argv, 1);
    if (status) return status == CLI_HELP ? 0 : status;
    if (!model || !data) return cli_fail(2, "eval", "--model and --data are required (see sail eval --help)");
    sail_error err = {0};
    sail_load_options lo = {threads};
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
        for (int i = 0; i < SAIL_MIN(ds.n_skipped, SAIL_DATASET_MAX_REPORTS); i++)
            fprintf(stderr, "%s line %d: %s", i ? ";" : " (", ds.skipped_lines[i], ds.skipped_why[i]);
        fprintf(stderr, "%s)\n", ds.n_skipped > SAIL_DATASET_MAX_REPORTS ? "; ..." : "");
    }
    int rc = 1, n = 0, nti = 0, ntt = 0, nu = 0;
    size_t N = (size_t)ds.n;
    int32_t *ti = malloc(N * sizeof *ti), *tt = malloc(N * sizeof *tt);
    int *img_of = malloc(N * sizeof *img_of), *ug_start = calloc(N + 1, sizeof *ug_start), *ug = malloc(N * sizeof *ug);
    int *ucount = calloc(N + 1, sizeof *ucount);
    const char **upaths = malloc(N * sizeof *upaths), **texts = malloc(N * sizeof *texts), **texts2 = malloc(N * sizeof *texts2);
    float *et = malloc(N * dim * sizeof(float)), *eu = malloc(N * dim * sizeof(float)), *e2 = malloc(N * dim * sizeof(float));
    unsigned char *uok = malloc(N + 1);
    sail_strmap paths = {0};
    if (!ti || !tt || !img_of || !ug_start || !ug || !ucount || !upaths || !texts || !texts2 || !et || !eu || !e2 ||
        !uok || !sail_strmap_init(&paths, N)) {
        cli_fail(1, "eval", "out of memory");
        goto done;
    }
    for (int i = 0; i < ds.n; i++) {
        const sail_pair *p = &ds.items[i];
        img_of[i] = -1;
        if (lang && strcmp(p->lang, lang)) continue;
        n++;
        if (p->kind == SAIL_PAIR_JOINT) continue; /* joint_recall */
        if (p->kind == SAIL_PAIR_TEXT) {
            tt[ntt++] = i;
            continue;
        }
        int u = sail_strmap_get(&paths, p->image, strlen(p->image));
        if (u < 0) {
            u = nu;
            upaths[nu++] = p->image;
            if (!sail_strmap_put(&paths, p->image, strlen(p->image), u)) {
                cli_fail(1, "eval", "out of memory");
                goto done;
            }
        }
        img_of[i] = u;
        ti[nti++] = i;
    }
    if (!n) {
        cli_fail(1, "eval", "%s has no pair%s%s", data, lang ? " with lang " : "", lang ? lang : "");
        goto done;
    }
    fprintf(stderr, "sail eval: embedding %d texts, %d distinct images, %d text pairs\n", nti, nu, ntt);
    sail_error img_err = {0};
    if (embed_images(m, upaths, nu, dim, eu, uok, &img_err)) {
        cli_fail(1, "eval", "out of memory embedding images");
        goto done;
    }
    /* queries whose image failed are dropped; then the groups of each image */
    int k = 0;
    for (int q = 0; q < nti; q++)
        if (uok[img_of[ti[q]]]) ti[k++] = ti[q];
    double q2j[3] = {0};
    int nj = joint_recall(m, &ds, lang, dim, q2j);
    if (nj < 0) goto done;
    if (!k && !ntt && !nj) { /* an empty table would read as recall 0 */
        cli_fail(1, "eval", "no usable pair in %s: none of the %d distinct images of its %d text-image pairs "
                 "could be read (the first: %s)", data, nu, nti, img_err.msg);
        goto done;
    }
    nti = k;
    for (int q = 0; q < nti; q++) ucount[img_of[ti[q]] + 1]++;
    for (int u = 0; u < nu; u++) ug_start[u + 1] = ug_start[u] + ucount[u + 1];
    memset(ucount, 0, (N + 1) * sizeof *ucount);
    for (int q = 0; q < nti; q++) {
        int u = img_of[ti[q]];
        ug[ug_start[u] + ucount[u]++] = ds.items[ti[q]].group;
    }
    /* drop images that failed from the candidates: compact eu and renumber */
    int *newid = ucount;
    int nuk = 0;
    for (int u = 0; u < nu; u++) {
        newid[u] = uok[u] ? nuk : -1;
        if (uok[u]) {
            memmove(eu + (size_t)nuk * dim, eu + (size_t)u * dim, (size_t)dim * sizeof(float));
            ug_start[nuk] = ug_start[u];
            ug_start[nuk + 1] = ug_start[u + 1];
            nuk++;
        }
    }
    for (int q = 0; q < nti; q++) img_of[ti[q]] = newid[img_of[ti[q]]];
    for (int q = 0; q < nti; q++) texts[q] = ds.items[ti[q]].text;
    for (int q = 0; q < ntt; q++) {
        texts2[q] = ds.items[tt[q]].text2;
        texts[nti + q] = ds.items[tt[q]].text;
    }
    if (sail_embed_texts(m, texts, nti + ntt, dim, et, &err) || sail_embed_texts(m, texts2, ntt, dim, e2, &err)) {
        cli_fail(1, "eval", "%s", err.msg);
        goto done;
    }
    ctx x = {&ds, ti, img_of, ug_start, ug, tt};
    double t2i[3] = {0}, i2t[3] = {0}, t2t[3] = {0};
    if (nti) {
        sail_recall_at(et, nti, eu, nuk, dim, rel_t2i, &x, KS, 3, t2i);
        sail_recall_at(eu, nuk, et, nti, dim, rel_i2t, &x, KS, 3, i2t);
    }
    if (ntt) sail_recall_at(et + (size_t)nti * dim, ntt, e2, ntt, dim, rel_t2t, &x, KS, 3, t2t);
    int n_eval = nti + ntt + nj;
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "n", json_integer(n_eval));
        if (nti) {
            json_object_set_new(o, "text_to_image", recall_json(t2i));
            json_object_set_new(o, "image_to_text", recall_json(i2t));
        }
        if (ntt) json_object_set_new(o, "text_to_text", recall_json(t2t));
        if (nj) json_object_set_new(o, "query_to_item", recall_json(q2j));
        char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        json_decref(o);
        if (!s) {
            cli_fail(1, "eval", "out of memory");
            goto done;
        }
        puts(s);
        free(s);
    } else {
        printf("%d pairs (%d text-image with %d distinct images, %d text-text, %d query-item), dim %d\n", n_eval,
               nti, nuk, ntt, nj, dim);
        printf("%-15s %7s %7s %7s\n", "direction", "R@1", "R@5", "R@10");
        if (nti) {
            printf("%-15s %7.4f %7.4f %7.4f\n", "text->image", t2i[0], t2i[1], t2i[2]);
            printf("%-15s %7.4f %7.4f %7.4f\n", "image->text", i2t[0], i2t[1], i2t[2]);
        }
        if (ntt) printf("%-15s %7.4f %7.4f %7.4f\n", "text->text", t2t[0], t2t[1], t2t[2]);
        if (nj) printf("%-15s %7.4f %7.4f %7.4f\n", "query->item", q2j[0], q2j[1], q2j[2]);
    }
    rc = 0;
done:
    sail_strmap_free(&paths);
    free(ti); free(tt); free(img_of); free(ug_start); free(ug); free(ucount);
    free(upaths); free(texts); free(texts2); free(et); free(eu); free(e2); free(uok);
    sail_dataset_free(&ds);
    sail_model_free(m);
    return rc;
}
