/* test_utf8.c: UTF-8 decoding with CPython's replacement rules and the
 * Python str helpers (isspace, lower, normalize). Expected values were
 * produced by /usr/bin/python3; tests/test_utf8_python.py re-checks the
 * decoder and the helpers against Python exhaustively through the --decode
 * and --props modes of this program. */
#include "test.h"
#include "text/pyunicode.h"

#include <string.h>

static bool decodes_to(const char *s, size_t len, const uint32_t *want, size_t n) {
    sail_u32 out = {0};
    bool ok = sail_utf8_decode(s, len, &out) && out.n == n &&
              (n == 0 || !memcmp(out.v, want, n * sizeof *want));
    sail_u32_free(&out);
    return ok;
}

#define R 0xFFFD
static void test_decode(void) {
    static const struct {
        const char *s;
        uint32_t want[8];
        size_t n;
        const char *what;
    } cases[] = {
        {"a\xC3\xA9", {'a', 0xE9}, 2, "two-byte"},
        {"\xF0\x9F\x98\x80", {0x1F600}, 1, "four-byte"},
        {"\xC0\xAF", {R, R}, 2, "overlong C0 AF: one U+FFFD per byte"},
        {"\xE0\x80\xAF", {R, R, R}, 3, "overlong E0 80 AF"},
        {"\xED\xA0\x80", {R, R, R}, 3, "surrogate ED A0 80"},
        {"\xF4\x90\x80\x80", {R, R, R, R}, 4, "beyond U+10FFFF"},
        {"\xE4\xB8", {R}, 1, "truncated three-byte: one U+FFFD"},
        {"\xF0\x9F\x98", {R}, 1, "truncated four-byte: one U+FFFD"},
        {"\xE4\xB8" "a", {R, 'a'}, 2, "truncated then ASCII"},
        {"\xF5\xFF\xFE", {R, R, R}, 3, "F5..FF"},
        {"\x80\xBF", {R, R}, 2, "lone continuation bytes"},
        {"\xF8\x88\x80\x80\x80", {R, R, R, R, R}, 5, "five-byte form"},
        {"\xEF\xBF\xBD", {R}, 1, "a real U+FFFD"},
        {"\xF4\x8F\xBF\xBF", {0x10FFFF}, 1, "U+10FFFF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(decodes_to(cases[i].s, strlen(cases[i].s), cases[i].want, cases[i].n), "decode: %s",
              cases[i].what);
    const uint32_t nul[] = {'a', 0, 'b'};
    CHECK(decodes_to("a\0b", 3, nul, 3), "decode: NUL is a character");
}

static void test_encode(void) {
    char b[4];
    CHECK(sail_utf8_encode1(0x1F600, b) == 4 && !memcmp(b, "\xF0\x9F\x98\x80", 4), "encode U+1F600");
    CHECK(sail_utf8_encode1(0xD800, b) == 3 && !memcmp(b, "\xEF\xBF\xBD", 3),
          "encode: a surrogate becomes U+FFFD");
}

static bool lower_is(const uint32_t *in, size_t n, const uint32_t *want, size_t nw) {
    sail_u32 out = {0};
    bool ok = sail_py_lower(in, n, &out) && out.n == nw && !memcmp(out.v, want, nw * 4);
    sail_u32_free(&out);
    return ok;
}

static void test_lower(void) {
    const uint32_t dot_i[] = {0x130}, dot_i_low[] = {'i', 0x307};
    CHECK(lower_is(dot_i, 1, dot_i_low, 2), "lower: U+0130 -> i + U+0307");
    const uint32_t os[] = {0x39F, 0x3A3}, os_low[] = {0x3BF, 0x3C2};
    CHECK(lower_is(os, 2, os_low, 2), "lower: final sigma at the end of a word");
    const uint32_t so[] = {0x3A3, 0x39F}, so_low[] = {0x3C3, 0x3BF};
    CHECK(lower_is(so, 2, so_low, 2), "lower: initial sigma stays medial");
    const uint32_t lone[] = {0x3A3}, lone_low[] = {0x3C3};
    CHECK(lower_is(lone, 1, lone_low, 1), "lower: a lone sigma is not final");
    const uint32_t q[] = {0x39F, 0x3A3, '\'', 0x39F}, q_low[] = {0x3BF, 0x3C3, '\'', 0x3BF};
    CHECK(lower_is(q, 4, q_low, 4), "lower: sigma before apostrophe + letter is not final");
}

static void test_space_and_nf(void) {
    CHECK(sail_py_isspace(0x1C) && sail_py_isspace(0x85) && sail_py_isspace(0x2028) &&
              sail_py_isspace(0x3000) && !sail_py_isspace(0x200B) && !sail_py_isspace(0xFEFF),
          "isspace matches Python on its edge cases");
    CHECK(!sail_py_white_space(0x1C) && sail_py_white_space(0x85), "White_Space excludes 0x1C");
    /* CHECK evaluates its condition twice: compute appending calls first. */
    const uint32_t e[] = {'e', 0x301};
    sail_u32 out = {0};
    bool ok = sail_normalize(e, 2, SAIL_NF_NFC, &out) && out.n == 1 && out.v[0] == 0xE9;
    CHECK(ok, "NFC composes");
    out.n = 0;
    const uint32_t hangul[] = {0xD55C};
    ok = sail_normalize(hangul, 1, SAIL_NF_NFD, &out) && out.n == 3 && out.v[0] == 0x1112;
    CHECK(ok, "NFD decomposes hangul syllables");
    out.n = 0;
    const uint32_t fw[] = {0xFF21};
    ok = sail_normalize(fw, 1, SAIL_NF_NFKC, &out) && out.n == 1 && out.v[0] == 'A';
    CHECK(ok, "NFKC folds width");
    sail_u32_free(&out);
}

/* --decode: stdin bytes -> decoded code points, one hex value per line. */
static int mode_decode(void) {
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, stdin);
    sail_u32 out = {0};
    if (!sail_utf8_decode(buf, n, &out)) return 1;
    for (size_t i = 0; i < out.n; i++) printf("%X\n", out.v[i]);
    sail_u32_free(&out);
    return 0;
}

/* --props: for every code point, "isspace White_Space lower..." as hex. */
static int mode_props(void) {
    sail_u32 out = {0};
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        out.n = 0;
        if (!sail_py_lower(&c, 1, &out)) return 1;
        printf("%X %d", c, sail_py_isspace(c));
        for (size_t i = 0; i < out.n; i++) printf(" %X", out.v[i]);
        putchar('\n');
    }
    sail_u32_free(&out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--decode")) return mode_decode();
    if (argc > 1 && !strcmp(argv[1], "--props")) return mode_props();
    test_decode();
    test_encode();
    test_lower();
    test_space_and_nf();
    return test_done();
}
