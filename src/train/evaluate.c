/* evaluate.c: sail_evaluate, the retrieval recall `sail eval` reports:
 * text->image and image->text R@1/5/10 over distinct images, text->text
 * for text pairs, and query->item for every other kind of pair. A hit is
 * the paired item or any item of the same group. Embeddings come from the
 * public embed calls, as a user of the model gets them. */
#include "common.h"
#include "eval.h"
#include "sail_train.h"
#include "text/strmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int KS[3] = {1, 5, 10};

typedef struct ctx {
    const sail_dataset *ds;
    const int32_t *ti;      /* text-image queries: dataset indices */
    const int *img_of;      /* (ds->n) distinct image of an item, or -1 */
    const int *ug_start, *ug; /* CSR: groups of distinct image u */
    const int32_t *tt;      /* text-text items: dataset indices */
} ctx;

static void note(const sail_eval_options *o, const char *fmt, ...) SAIL_PRINTF(2, 3);
static void note(const sail_eval_options *o, const char *fmt, ...) {
    if (!o->note) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->note(o->ud, msg);
}

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
static int embed_images(sail_model *m, const sail_eval_options *o, const char **paths, int n, int dim,
                        float *out, unsigned char *ok, sail_error *first_err) {
    sail_error err = {0};
    for (int i = 0; i < n; i += 64) {
        int b = SAIL_MIN(64, n - i);
        if (!sail_embed_image_files(m, paths + i, b, dim, out + (size_t)i * dim, &err)) {
            memset(ok + i, 1, (size_t)b);
            continue;
        }
        for (int j = i; j < i + b; j++) {
            ok[j] = !sail_embed_image_files(m, paths + j, 1, dim, out + (size_t)j * dim, &err);
            if (!ok[j]) note(o, "skipping an image: %s", err.msg);
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

/* One side's vector through the public API, as a user of the model gets it. */
static sail_status embed_side(sail_model *m, const sail_side *sd, int dim, float *out, sail_error *err) {
    sail_item it = {.text = sd->text, .image = sd->image, .video = sd->video, .audio = sd->audio};
    return sail_embed_item(m, &it, dim, out, err);
}

/* Query -> item recall per kind of pair beyond text->image and text->text
 * (joint items, image or joint queries, videos): each kind's queries
 * against that kind's items, into r->kinds and r->query_to_item. A pair
 * whose side cannot be embedded (an unreadable image or video) is reported
 * and left out. */
static sail_status item_recalls(sail_model *m, const sail_dataset *ds, const sail_eval_options *o, int dim,
                                sail_eval_result *r, sail_error *err) {
    size_t N = (size_t)ds->n;
    int32_t *jj = malloc(N * sizeof *jj);
    float *eq = malloc(N * dim * sizeof(float)), *ei = malloc(N * dim * sizeof(float));
    sail_status s = SAIL_OK;
    if (!jj || !eq || !ei) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int kind = 0; kind < SAIL_PAIR_KINDS; kind++) {
        if (kind == SAIL_PAIR_IMAGE || kind == SAIL_PAIR_TEXT) continue;
        int k = 0;
        for (int i = 0; i < ds->n; i++) {
            const sail_pair *p = &ds->items[i];
            if (p->kind != kind || (o->lang && strcmp(p->lang, o->lang))) continue;
            sail_error e = {0};
            if (embed_side(m, &p->a, dim, eq + (size_t)k * dim, &e) ||
                embed_side(m, &p->b, dim, ei + (size_t)k * dim, &e)) {
                if (e.status == SAIL_ERR_NOMEM || e.status == SAIL_ERR_UNSUPPORTED) {
                    if (err) *err = e;
                    s = e.status;
                    goto done;
                }
                note(o, "skipping a pair (line %d): %s", p->line, e.msg);
                continue;
            }
            jj[k++] = i;
        }
        if (!k) continue;
        ctx x = {.ds = ds, .tt = jj}; /* same group = a hit, as text->text */
        sail_eval_kind *ek = &r->kinds[r->n_kinds++];
        kind_label(ds, kind, ek->label, sizeof ek->label);
        ek->n = sail_recall_at(eq, k, ei, k, dim, rel_t2t, &x, KS, 3, ek->r);
        for (int j = 0; j < 3; j++) r->query_to_item[j] += ek->r[j] * ek->n;
        r->n_query_item += ek->n;
    }
    for (int j = 0; j < 3 && r->n_query_item; j++) r->query_to_item[j] /= r->n_query_item;
done:
    free(jj); free(eq); free(ei);
    return s;
}

sail_status sail_evaluate(sail_model *m, const sail_dataset *ds, const sail_eval_options *opts,
                          sail_eval_result *out, sail_error *err) {
    static const sail_eval_options defaults = {0};
    const sail_eval_options *o = opts ? opts : &defaults;
    const char *path = o->path ? o->path : "the manifest", *lang = o->lang;
    if (!m || !ds || !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model, dataset or result is NULL");
    int dim = o->dim ? o->dim : sail_model_dim(m);
    if (dim < 1 || dim > sail_model_dim(m))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "dim %d is outside 1..%d", dim, sail_model_dim(m));
    sail_eval_result *r = calloc(1, sizeof *r);
    int n = 0, nti = 0, ntt = 0, nu = 0;
    size_t N = (size_t)ds->n;
    int32_t *ti = malloc(N * sizeof *ti), *tt = malloc(N * sizeof *tt);
    int *img_of = malloc(N * sizeof *img_of), *ug_start = calloc(N + 1, sizeof *ug_start), *ug = malloc(N * sizeof *ug);
    int *ucount = calloc(N + 1, sizeof *ucount);
    const char **upaths = malloc(N * sizeof *upaths), **texts = malloc(N * sizeof *texts), **texts2 = malloc(N * sizeof *texts2);
    float *et = malloc(N * dim * sizeof(float)), *eu = malloc(N * dim * sizeof(float)), *e2 = malloc(N * dim * sizeof(float));
    unsigned char *uok = malloc(N + 1);
    sail_strmap paths = {0};
    sail_status s = SAIL_OK;
    if (!r || !ti || !tt || !img_of || !ug_start || !ug || !ucount || !upaths || !texts || !texts2 || !et || !eu ||
        !e2 || !uok || !sail_strmap_init(&paths, N)) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        goto done;
    }
    r->dim = dim;
    for (int i = 0; i < ds->n; i++) {
        const sail_pair *p = &ds->items[i];
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
                s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        img_of[i] = u;
        ti[nti++] = i;
    }
    if (!n) {
        s = sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s has no pair%s%s", path, lang ? " with lang " : "",
                           lang ? lang : "");
        goto done;
    }
    note(o, "embedding %d texts, %d distinct images, %d text pairs, %d query-item pairs", nti, nu, ntt,
         n - nti - ntt);
    sail_error img_err = {0};
    if (embed_images(m, o, upaths, nu, dim, eu, uok, &img_err)) {
        s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory embedding images");
        goto done;
    }
    /* queries whose image failed are dropped; then the groups of each image */
    int k = 0;
    for (int q = 0; q < nti; q++)
        if (uok[img_of[ti[q]]]) ti[k++] = ti[q];
    if ((s = item_recalls(m, ds, o, dim, r, err))) goto done;
    int nj = r->n_query_item;
    if (!k && !ntt && !nj) { /* an empty table would read as recall 0 */
        s = sail_set_error(err, SAIL_ERR_FORMAT,
                           "no usable pair in %s: none of the %d distinct images of its %d text-image pairs "
                           "could be read (the first: %s)", path, nu, nti, img_err.msg);
        goto done;
    }
    nti = k;
    for (int q = 0; q < nti; q++) ucount[img_of[ti[q]] + 1]++;
    for (int u = 0; u < nu; u++) ug_start[u + 1] = ug_start[u] + ucount[u + 1];
    memset(ucount, 0, (N + 1) * sizeof *ucount);
    for (int q = 0; q < nti; q++) {
        int u = img_of[ti[q]];
        ug[ug_start[u] + ucount[u]++] = ds->items[ti[q]].group;
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
    for (int q = 0; q < nti; q++) texts[q] = ds->items[ti[q]].a.text;
    for (int q = 0; q < ntt; q++) {
        texts2[q] = ds->items[tt[q]].b.text;
        texts[nti + q] = ds->items[tt[q]].a.text;
    }
    if ((s = sail_embed_texts(m, texts, nti + ntt, dim, et, err)) ||
        (s = sail_embed_texts(m, texts2, ntt, dim, e2, err)))
        goto done;
    ctx x = {ds, ti, img_of, ug_start, ug, tt};
    if (nti) {
        sail_recall_at(et, nti, eu, nuk, dim, rel_t2i, &x, KS, 3, r->text_to_image);
        sail_recall_at(eu, nuk, et, nti, dim, rel_i2t, &x, KS, 3, r->image_to_text);
    }
    if (ntt) sail_recall_at(et + (size_t)nti * dim, ntt, e2, ntt, dim, rel_t2t, &x, KS, 3, r->text_to_text);
    r->n = nti + ntt + nj;
    r->n_text_image = nti;
    r->n_images = nuk;
    r->n_text_text = ntt;
    *out = *r;
done:
    sail_strmap_free(&paths);
    free(ti); free(tt); free(img_of); free(ug_start); free(ug); free(ucount);
    free(upaths); free(texts); free(texts2); free(et); free(eu); free(e2); free(uok);
    free(r);
    return s;
}
