/* emoji_parse.c: one line of Unicode's emoji-test.txt, kept apart from the
 * font code so the fuzz harness needs no FreeType (tests/fuzz/fuzz_emoji.c).
 * The format: "code points ; status # emoji E<version> name". */
#include "data/data.h"

#include <ctype.h>
#include <string.h>

int sail_emoji_test_parse(const char *line, uint32_t cp[SAIL_EMOJI_MAX_CPS], int *n, char *name,
                          size_t name_size) {
    const char *semi = strchr(line, ';'), *hash = strchr(line, '#');
    if (line[0] == '#' || !semi || !hash || hash < semi) return 0;
    const char *st = semi + 1;
    while (*st == ' ') st++;
    if (strncmp(st, "fully-qualified", 15) || (st[15] != ' ' && st[15] != '#')) return 0;
    *n = 0;
    for (const char *p = line; p < semi;) {
        while (p < semi && *p == ' ') p++;
        if (p >= semi) break;
        uint32_t v = 0;
        int digits = 0;
        for (; p < semi && isxdigit((unsigned char)*p) && digits < 7; p++, digits++)
            v = v * 16 + (uint32_t)(isdigit((unsigned char)*p) ? *p - '0' : (*p | 32) - 'a' + 10);
        if (!digits || (p < semi && *p != ' ') || !v || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ||
            *n == SAIL_EMOJI_MAX_CPS)
            return -1;
        cp[(*n)++] = v;
    }
    /* after '#': the emoji, the version "E1.0", then the name */
    const char *p = hash + 1;
    for (int field = 0; field < 2; field++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    while (*p == ' ') p++;
    size_t len = strcspn(p, "\r\n");
    if (!*n || !len || len >= name_size) return -1;
    memcpy(name, p, len);
    name[len] = 0;
    return 1;
}
