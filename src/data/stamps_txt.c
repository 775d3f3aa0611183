/* stamps_txt.c: a Tux Paint stamp's description file (NAME.txt): the first
 * plain line is English, "<locale>.utf8=<text>" lines are translations.
 * Apart from stamps.c (which needs cairo and librsvg) so that libsail, its
 * tests and the fuzz harness have the parser. */
#include "data/data.h"

#include <string.h>

/* Trim spaces and tabs at both ends and a trailing CR; returns s. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* A translation line: a locale of letters, '_' and '@', then ".utf8=". */
static const char *translation(const char *line, char *locale, size_t n) {
    const char *p = line;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '@') p++;
    if (p == line || strncmp(p, ".utf8=", 6) || (size_t)(p - line) >= n) return NULL;
    memcpy(locale, line, (size_t)(p - line));
    locale[p - line] = 0;
    return p + 6;
}

int sail_stamp_txt_parse(char *buf, const char **en, const char **zh) {
    *en = *zh = NULL;
    if (!strncmp(buf, "\xef\xbb\xbf", 3)) buf += 3; /* a UTF-8 byte-order mark */
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char locale[32];
        const char *t = translation(line, locale, sizeof locale);
        if (!t) {
            if (!*en && *(line = trim(line))) *en = line;
        } else if (!strcmp(locale, "zh_CN") && !*zh) {
            char *z = trim(line + (t - line));
            if (*z) *zh = z;
        }
    }
    return *en ? 0 : -1;
}
