/* apps_input.h: what the app commands (classify, cluster, align, reduce,
 * recommend, semantic-ids) share: JSONL item lists, line files, embedding
 * many items in batches with progress, and JSON output. */
#ifndef SAIL_CLI_APPS_INPUT_H
#define SAIL_CLI_APPS_INPUT_H

#include "sail.h"

#include <jansson.h>
#include <stdio.h>

typedef struct app_item {
    char *text;  /* NULL when the item has none */
    char *image; /* path, resolved against the JSONL file's folder; or NULL */
    char *audio; /* path of a clip (models with an audio tower), resolved the same way; or NULL */
    char *label; /* "label" field or NULL */
    char *id;    /* "id" field (string or number) or NULL */
} app_item;

/* Read a JSONL file of objects with "text", "image" and/or "audio" (and optional
 * "label", "id"); blank lines are skipped. need_label: every line must have
 * a "label". Errors are printed as "sail CMD: ..."; returns 0, 1 or 2. */
int app_read_jsonl(const char *cmd, const char *path, int need_label, app_item **items, int *n);
void app_free_items(app_item *items, int n);

/* Non-empty lines of a UTF-8 text file (trailing \r removed). */
int app_read_lines(const char *cmd, const char *path, char ***lines, int *n);
void app_free_lines(char **lines, int n);

/* Embed n items (text, image, clip, or several fused) into out (n x dim), in batches
 * of 32 with a progress line on stderr when n is large. Returns 0 or 1. */
int app_embed_items(const char *cmd, sail_model *m, const app_item *items, int n, int dim, float *out);

/* Load a model (prints the error). */
sail_model *app_load_model(const char *cmd, const char *path, int threads);

/* Write a JSON document to path (or stdout when path is NULL), indented;
 * steals root. Returns 0 or 1. */
int app_write_json(const char *cmd, json_t *root, const char *path);

/* Strict float parse of s; 0 on success. */
int app_parse_float(const char *s, double lo, double hi, double *out);

#endif
