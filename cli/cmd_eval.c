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
    "pairs, text->text (text -> text2) for text pairs, and query->item for every\n"
    "other kind of pair (joint items such as {\"query\", \"item\": {\"text\", \"image\"}}, image or\n"
    "joint queries, videos: one vector per side, each kind among its own, a row per\n"
    "kind when there are several). A retrieved item counts as a\n"
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

/* "text", "image", "text+video+audio", ... */
static const char *shape_name(int shape, char *buf, size_t cap) {
    static const char *part[4] = {"text", "image", "video", "audio"};
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < 4; k++)
        if (shape >> k & 1) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "+" : "", part[k]);
    return buf;
}

/* One side's vector through the public API, as a user of the model gets it. */
static sail_status embed_side(sail_model *m, const sail_side *sd, int dim, float *out, sail_error *err) {
    sail_item it = {.text = sd->text, .image = sd->image, .video = sd->video, .audio = sd->audio};
    return sail_embed_item(m, &it, dim, out, err);
}

/* Query -> item recall per kind of pair beyond text->image and text->text
 * (joint items, image or joint queries, videos): each kind's queries
 * against that kind's items. */
typedef struct item_recall {
    int n_kinds, kinds[SAIL_PAIR_KINDS], counts[SAIL_PAIR_KINDS];
    double r[SAIL_PAIR_KINDS][3];
    double all[3];          /* over every query */
    int n;                  /* queries counted */
} item_recall;

/* Fill ir over the pairs of ds (of language lang when set); a pair whose
 * side cannot be embedded (an unreadable image or video) is reported and
 * left out. Returns 0, or -1 after reporting an error. */
static int item_recalls(sail_model *m, const sail_dataset *ds, const char *lang, int dim, item_recall *ir) {
    size_t N = (size_t)ds->n;
    int32_t *jj = malloc(N * sizeof *jj);
    float *eq = malloc(N * dim * sizeof(float)), *ei = malloc(N * dim * sizeof(float));
    int rc = -1;
    memset(ir, 0, sizeof *ir);
    if (!jj || !eq || !ei) {
        cli_fail(1, "eval", "out of memory");
        goto done;
    }
    for (int kind = 0; kind < SAIL_PAIR_KINDS; kind++) {
        if (kind == SAIL_PAIR_IMAGE || kind == SAIL_PAIR_TEXT) continue;
        int k = 0;
        for (int i = 0; i < ds->n; i++) {
            const sail_pair *p = &ds->items[i];
            if (p->kind != kind || (lang && strcmp(p->lang, lang))) continue;
            sail_error err = {0};
            if (embed_side(m, &p->a, dim, eq + (size_t)k * dim, &err) ||
                embed_side(m, &p->b, dim, ei + (size_t)k * dim, &err)) {
                if (err.status == SAIL_ERR_NOMEM || err.status == SAIL_ERR_UNSUPPORTED) {
                    cli_fail(1, "eval", "%s", err.msg);
                    goto done;
                }
                fprintf(stderr, "sail eval: skipping a pair (line %d): %s\n", p->line, err.msg);
                continue;
            }
            jj[k++] = i;
        }
        if (!k) continue;
        ctx x = {.ds = ds, .tt = jj}; /* same group = a hit, as text->text */
        int c = ir->n_kinds++;
        ir->kinds[c] = kind;
        ir->counts[c] = sail_recall_at(eq, k, ei, k, dim, rel_t2t, &x, KS, 3, ir->r[c]);
        for (int j = 0; j < 3; j++) ir->all[j] += ir->r[c][j] * ir->counts[c];
        ir->n += ir->counts[c];
    }
    for (int j = 0; j < 3 && ir->n; j++) ir->all[j] /= ir->n;
    rc = 0;
done:
    free(jj); free(eq); free(ei);
    return rc;
}

/* "query->item" label of one kind, e.g. "text->text+video". */
static void kind_label(const sail_dataset *ds, int kind, char *buf, size_t cap) {
    for (int i = 0; i < ds->n; i++)
        if (ds->items[i].kind == kind) {
            char qa[32], qb[32];
            snprintf(buf, cap, "%s->%s", shape_name(sail_side_shape(&ds->items[i].a), qa, sizeof qa),
                     shape_name(sail_side_shape(&ds->items[i].b), qb, sizeof qb));
            return;
        }
    snprintf(buf, cap, "?");
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
        if (p->kind != SAIL_PAIR_IMAGE && p->kind != SAIL_PAIR_TEXT) continue; /* item_recalls */
        if (p->kind == SAIL_PAIR_TEXT) {
            tt[ntt++] = i;
            continue;
        }
        const char *image = p->b.image;
        int u = sail_strmap_get(&paths, image, strlen(image));
        if (u < 0) {
            u = nu;
            upaths[nu++] = image;
            if (!sail_strmap_put(&paths, image, strlen(image), u)) {
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
    item_recall ir;
    if (item_recalls(m, &ds, lang, dim, &ir)) goto done;
    int nj = ir.n;
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
    for (int q = 0; q < nti; q++) texts[q] = ds.items[ti[q]].a.text;
    for (int q = 0; q < ntt; q++) {
        texts2[q] = ds.items[tt[q]].b.text;
        texts[nti + q] = ds.items[tt[q]].a.text;
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
        if (nj) {
            json_object_set_new(o, "query_to_item", recall_json(ir.all));
            json_t *by = json_object();
            for (int c = 0; c < ir.n_kinds; c++) {
                char label[64];
                kind_label(&ds, ir.kinds[c], label, sizeof label);
                json_t *r = recall_json(ir.r[c]);
                json_object_set_new(r, "n", json_integer(ir.counts[c]));
                json_object_set_new(by, label, r);
            }
            json_object_set_new(o, "query_to_item_by_kind", by);
        }
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
        if (nj) printf("%-15s %7.4f %7.4f %7.4f\n", "query->item", ir.all[0], ir.all[1], ir.all[2]);
        for (int c = 0; c < ir.n_kinds && ir.n_kinds > 1; c++) {
            char label[64];
            kind_label(&ds, ir.kinds[c], label, sizeof label);
            printf("  %-21s %7.4f %7.4f %7.4f  (%d)\n", label, ir.r[c][0], ir.r[c][1], ir.r[c][2], ir.counts[c]);
        }
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
