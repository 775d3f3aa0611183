/* cmd_search.c: `sail search` embeds a text or an image query with the
 * model and prints the index's nearest items as a table, JSON, or a
 * self-contained HTML page with inline base64 JPEG thumbnails. The index
 * is a directory, or redis://host:port/name (sail_index_open takes both). */
#include "cli.h"

#include <jansson.h>
#include <jpeglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail search --index DIR|redis://HOST:PORT/NAME --model M (\"QUERY TEXT\" | --image Q.jpg | --audio Q.wav) [-k 10]\n"
    "                   [--filter field=value[,field=value]] [--json] [--html OUT.html]\n"
    "                   [--ef N] [--exact] [--threads N] [--max-image-pixels N] [--exact-decode]\n\n"
    "Embeds the query with model M (text, image or audio clip: text->image,\n"
    "image->text, image->image and text->text all share one space) and prints the k nearest\n"
    "items of the index with their scores and payloads. A redis:// index is the Redis\n"
    "module's key NAME, or its shards {NAME:0}, {NAME:1}, ... over a Redis Cluster\n"
    "(docs/REDIS.md), searched together.\n\n";

typedef struct opts {
    const char *index, *model, *text, *image, *audio, *filter, *html;
    int k, json, ef, exact, threads;
} opts;

static int on_query(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    if (o->text) return cli_fail(2, cmd, "one query only (quote a text with spaces)");
    o->text = v;
    return 0;
}

static int parse(opts *o, int argc, char **argv) {
    const cli_opt table[] = {
        CLI_OPT_STR("--index", &o->index, "DIR", "the index directory, or redis://host:port/name"),
        CLI_OPT_STR("--model", &o->model, "M", "sail model file (.gguf) that embeds the query"),
        CLI_OPT_CALL("QUERY", on_query, o, NULL, NULL),
        CLI_OPT_STR("--image", &o->image, "Q", "an image file as the query"),
        CLI_OPT_STR("--audio", &o->audio, "Q", "an audio clip as the query (models with an audio encoder)"),
        CLI_OPT_INT("-k", &o->k, 1, 100000, "N", "number of results (default 10)"),
        CLI_OPT_STR("--filter", &o->filter, "F",
                    "only items whose payload fields equal the values,\n"
                    "e.g. modality=image or modality=text,lang=zh"),
        CLI_OPT_FLAG("--json", &o->json, "results as one JSON document on stdout"),
        CLI_OPT_STR("--html", &o->html, "OUT", "also write a self-contained HTML page (thumbnails inline)"),
        CLI_OPT_INT("--ef", &o->ef, 1, 100000, "N", "HNSW search beam (default: the index's ef_search)"),
        CLI_OPT_FLAG("--exact", &o->exact, "brute-force search even on an HNSW index"),
        CLI_OPT_THREADS(&o->threads, CLI_THREADS_HELP),
        CLI_OPT_IMAGE,
        CLI_OPT_END,
    };
    const cli_spec spec = {"search", usage, table, NULL};
    o->k = 10;
    int rc = cli_parse(&spec, argc, argv, 1);
    if (rc) return rc;
    if (!o->index || !o->model) return cli_fail(2, "search", "--index and --model are required (see sail search --help)");
    if (!!o->text + !!o->image + !!o->audio != 1)
        return cli_fail(2, "search", "give a query text, --image FILE or --audio FILE (one of them)");
    return 0;
}

/* -------------------------------------------------------------- html -- */

static void html_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void base64(FILE *f, const unsigned char *p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(t[v >> 18], f);
        fputc(t[(v >> 12) & 63], f);
        fputc(i + 1 < n ? t[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < n ? t[v & 63] : '=', f);
    }
}

enum { THUMB = 160 }; /* longest side of a result thumbnail */

/* An <img> with a JPEG thumbnail (longest side THUMB) of path (a video's
 * first frame), or nothing when the file cannot be decoded. */
static void thumbnail(FILE *f, const char *path) {
    uint8_t *rgb;
    int w, h;
    if (!path || sail_thumbnail_rgb(path, THUMB, &rgb, &w, &h, NULL)) return;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = rgb + (size_t)c.next_scanline * w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fputs("<img src=\"data:image/jpeg;base64,", f);
    base64(f, buf, len);
    fputs("\">", f);
    free(buf);
    sail_free(rgb);
}

static int write_html(const opts *o, const sail_index_results *r) {
    FILE *f = fopen(o->html, "w");
    if (!f) return cli_fail(1, "search", "cannot write %s", o->html);
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sail search</title><style>"
          "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td{border-bottom:1px solid #ddd;padding:6px 12px;vertical-align:middle}"
          "img{max-width:160px;max-height:160px}.s{font-family:monospace}</style></head><body>\n<h2>Query (", f);
    fputs(o->text ? "text): " : o->audio ? "audio): " : "image): ", f);
    if (o->text) html_text(f, o->text);
    else if (o->audio) html_text(f, o->audio);
    else { html_text(f, o->image); fputs("<br>", f); thumbnail(f, o->image); }
    fputs("</h2>\n<p>index ", f);
    html_text(f, o->index);
    if (o->filter) { fputs(", filter ", f); html_text(f, o->filter); }
    fputs("</p>\n<table><tr><th>#</th><th>score</th><th>id</th><th></th><th>item</th><th>modality</th></tr>\n", f);
    for (int j = 0; j < r->counts[0]; j++) {
        const sail_index_hit *h = &r->hits[j];
        json_t *p = json_loads(h->payload, 0, NULL);
        const char *src = json_string_value(json_object_get(p, "source"));
        fprintf(f, "<tr><td>%d</td><td class=\"s\">%.4f</td><td class=\"s\">%llu</td><td>", j + 1, h->score,
                (unsigned long long)h->id);
        thumbnail(f, src);
        fputs("</td><td>", f);
        /* what the item says: its embedded text, then captions kept beside it */
        static const char *const said[] = {"text", "caption", "caption_zh", "title"};
        for (size_t i = 0; i < sizeof said / sizeof *said; i++) {
            const char *v = json_string_value(json_object_get(p, said[i]));
            if (v) { fputs(i ? "<i>" : "<b>", f); html_text(f, v); fputs(i ? "</i><br>" : "</b><br>", f); }
        }
        if (src) { fputs("<small>", f); html_text(f, src); fputs("</small>", f); }
        const char *modality = json_string_value(json_object_get(p, "modality"));
        fputs("</td><td class=\"s\">", f);
        html_text(f, modality ? modality : "?");
        fputs("</td></tr>\n", f);
        json_decref(p);
    }
    fputs("</table></body></html>\n", f);
    int bad = ferror(f);
    if (fclose(f) || bad) return cli_fail(1, "search", "write error on %s", o->html);
    return 0;
}

/* ------------------------------------------------------------ output -- */

static void print_table(const sail_index_results *r) {
    printf("%4s  %8s  %20s  %-10s  %s\n", "rank", "score", "id", "modality", "source / text");
    for (int j = 0; j < r->counts[0]; j++) {
        const sail_index_hit *h = &r->hits[j];
        json_t *p = json_loads(h->payload, 0, NULL);
        const char *mod = json_string_value(json_object_get(p, "modality"));
        const char *src = json_string_value(json_object_get(p, "source"));
        const char *text = json_string_value(json_object_get(p, "text"));
        printf("%4d  %8.4f  %20llu  %-10s  %s%s%s\n", j + 1, h->score, (unsigned long long)h->id, mod ? mod : "-",
               src ? src : "", src && text ? "  " : "", text ? text : (src ? "" : h->payload));
        json_decref(p);
    }
}

static int print_json(const opts *o, const sail_index_results *r) {
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "query", o->text    ? json_pack("{ss}", "text", o->text)
                                       : o->audio ? json_pack("{ss}", "audio", o->audio)
                                                  : json_pack("{ss}", "image", o->image));
    json_object_set_new(root, "k", json_integer(o->k));
    for (int j = 0; j < r->counts[0]; j++) {
        const sail_index_hit *h = &r->hits[j];
        json_t *p = json_loads(h->payload, 0, NULL);
        json_array_append_new(arr, json_pack("{si,sI,sf,so}", "rank", j + 1, "id", (json_int_t)h->id, "score",
                                             (double)h->score, "payload", p ? p : json_object()));
    }
    json_object_set_new(root, "results", arr);
    int rc = json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(7));
    putchar('\n');
    json_decref(root);
    return rc ? cli_fail(1, "search", "write error") : 0;
}

/* The query's vector (dim floats, *q to free) from the model. */
static int embed_query(const opts *o, sail_model *m, int dim, float **q) {
    sail_error e = {0};
    if (dim > sail_model_dim(m))
        return cli_fail(2, "search", "the index holds %d-dimensional vectors; the model gives only %d", dim, sail_model_dim(m));
    if (!(*q = malloc((size_t)dim * sizeof **q))) return cli_fail(1, "search", "out of memory");
    if (o->text    ? sail_embed_texts(m, &o->text, 1, dim, *q, &e)
        : o->audio ? sail_embed_audio_files(m, &o->audio, 1, dim, *q, &e)
                   : sail_embed_image_files(m, &o->image, 1, dim, *q, &e))
        return cli_fail(1, "search", "%s", e.msg);
    return 0;
}

static int print(const opts *o, const sail_index_results *r) {
    int rc = o->json ? print_json(o, r) : (print_table(r), 0);
    if (!rc && o->html) rc = write_html(o, r);
    return rc;
}

int cmd_search(int argc, char **argv) {
    opts o = {0};
    int rc = parse(&o, argc, argv);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    sail_error e = {0};
    sail_index_options io = {.n_threads = o.threads};
    sail_index *ix = sail_index_open(o.index, &io, &e);
    if (!ix) return cli_fail(1, "search", "%s", e.msg);
    sail_index_info info;
    sail_index_get_info(ix, &info);
    sail_load_options lo = {.n_threads = o.threads};
    sail_model *m = sail_model_load(o.model, &lo, &e);
    float *q = NULL;
    sail_index_results *r = NULL;
    if (!m) rc = cli_fail(1, "search", "%s", e.msg);
    else rc = embed_query(&o, m, info.dim, &q);
    if (!rc) {
        sail_search_options so = {.filter = o.filter, .ef_search = o.ef, .exact = o.exact};
        if (sail_index_search(ix, q, 1, o.k, &so, &r, &e)) rc = cli_fail(o.filter && e.status == SAIL_ERR_INVALID_ARG ? 2 : 1, "search", "%s", e.msg);
    }
    if (!rc) rc = print(&o, r);
    sail_index_results_free(r);
    free(q);
    sail_model_free(m);
    sail_index_close(ix, NULL);
    return rc;
}
