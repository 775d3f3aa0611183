/* golden_jsonl.h: a tiny reader for the golden tokenizer files: one JSON
 * object per '\n'-terminated line with a "text" string and an "ids" array.
 * Handles raw UTF-8 and \uXXXX escapes including surrogate pairs; other
 * fields are skipped. Also finds ../shared/golden (or $SAIL_GOLDEN). */
#ifndef SAIL_GOLDEN_JSONL_H
#define SAIL_GOLDEN_JSONL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct golden_line {
    char *text;      /* UTF-8, may contain NUL: use text_len */
    size_t text_len;
    int32_t *ids;
    size_t n_ids;
} golden_line;

/* Directory holding the golden files, or NULL when absent. */
static inline const char *golden_dir(void) {
    const char *d = getenv("SAIL_GOLDEN");
    if (!d) d = "../shared/golden";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/README.md", d);
    FILE *f = fopen(probe, "rb");
    if (!f) return NULL;
    fclose(f);
    return d;
}

static inline char *golden_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    if (b && len) *len = (size_t)n;
    return b;
}

static inline void gj_ws(const char **p) {
    while (**p == ' ' || **p == '\t' || **p == '\r') (*p)++;
}

static inline int gj_hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

static inline size_t gj_put_utf8(char *o, unsigned c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | c >> 6); o[1] = (char)(0x80 | (c & 63)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12); o[1] = (char)(0x80 | ((c >> 6) & 63));
        o[2] = (char)(0x80 | (c & 63)); return 3;
    }
    o[0] = (char)(0xF0 | c >> 18); o[1] = (char)(0x80 | ((c >> 12) & 63));
    o[2] = (char)(0x80 | ((c >> 6) & 63)); o[3] = (char)(0x80 | (c & 63)); return 4;
}

/* Parse a JSON string at *p (on the opening quote) into a malloc-ed buffer. */
static inline char *gj_string(const char **p, size_t *len) {
    const char *s = *p;
    if (*s != '"') return NULL;
    s++;
    char *out = malloc(strlen(s) + 1), *o = out;
    while (out && *s && *s != '"') {
        if (*s != '\\') { *o++ = *s++; continue; }
        s++;
        char e = *s++;
        unsigned c;
        switch (e) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u':
            if (gj_hex4(s, &c)) { free(out); return NULL; }
            s += 4;
            if (c >= 0xD800 && c <= 0xDBFF && s[0] == '\\' && s[1] == 'u') {
                unsigned lo;
                if (!gj_hex4(s + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
            }
            o += gj_put_utf8(o, c);
            break;
        default: *o++ = e; break;  /* \" \\ \/ */
        }
    }
    if (!out || *s != '"') { free(out); return NULL; }
    *p = s + 1;
    *len = (size_t)(o - out);
    *o = 0;
    return out;
}

/* Skip any JSON value (strings, arrays of scalars/strings, numbers). */
static inline int gj_skip(const char **p) {
    gj_ws(p);
    if (**p == '"') {
        size_t l;
        char *s = gj_string(p, &l);
        if (!s) return -1;
        free(s);
        return 0;
    }
    if (**p == '[') {
        (*p)++;
        gj_ws(p);
        if (**p == ']') { (*p)++; return 0; }
        for (;;) {
            if (gj_skip(p)) return -1;
            gj_ws(p);
            if (**p == ',') { (*p)++; continue; }
            if (**p == ']') { (*p)++; return 0; }
            return -1;
        }
    }
    while (**p && **p != ',' && **p != '}' && **p != ']') (*p)++;
    return 0;
}

static inline int gj_ids(const char **p, golden_line *g) {
    gj_ws(p);
    if (**p != '[') return -1;
    (*p)++;
    size_t cap = 16;
    g->ids = malloc(cap * sizeof *g->ids);
    for (;;) {
        gj_ws(p);
        if (**p == ']') { (*p)++; return 0; }
        char *end;
        long v = strtol(*p, &end, 10);
        if (end == *p) return -1;
        *p = end;
        if (g->n_ids == cap) g->ids = realloc(g->ids, (cap *= 2) * sizeof *g->ids);
        g->ids[g->n_ids++] = (int32_t)v;
        gj_ws(p);
        if (**p == ',') (*p)++;
    }
}

/* Parse one line; 0 on success. */
static inline int golden_parse(const char *line, golden_line *g) {
    memset(g, 0, sizeof *g);
    const char *p = line;
    gj_ws(&p);
    if (*p++ != '{') return -1;
    for (;;) {
        gj_ws(&p);
        if (*p == '}') return g->text && g->ids ? 0 : -1;
        size_t kl;
        char *key = gj_string(&p, &kl);
        if (!key) return -1;
        gj_ws(&p);
        if (*p++ != ':') { free(key); return -1; }
        gj_ws(&p);
        int rc = !strcmp(key, "text") ? ((g->text = gj_string(&p, &g->text_len)) ? 0 : -1)
               : !strcmp(key, "ids") ? gj_ids(&p, g) : gj_skip(&p);
        free(key);
        if (rc) return -1;
        gj_ws(&p);
        if (*p == ',') p++;
    }
}

static inline void golden_free(golden_line *g) {
    free(g->text);
    free(g->ids);
}

/* Load every line of a JSONL file. Returns the count, or -1. */
static inline long golden_load(const char *path, golden_line **out) {
    char *buf = golden_slurp(path, NULL);
    if (!buf) return -1;
    long n = 0, cap = 512;
    golden_line *v = malloc((size_t)cap * sizeof *v);
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');  /* split on '\n' only */
        if (nl) *nl = 0;
        if (*line) {
            if (n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (golden_parse(line, &v[n])) { fprintf(stderr, "bad golden line %ld\n", n + 1); n = -1; break; }
            n++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(buf);
    if (n < 0) { free(v); return -1; }
    *out = v;
    return n;
}

#endif
