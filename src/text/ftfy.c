/* ftfy.c: ftfy.fix_text's deterministic fixers and Python's html.unescape,
 * reproduced on code point arrays. fix_encoding (mojibake detection) is left
 * out on purpose: it is a statistical heuristic; docs/TOKENIZERS.md lists
 * the golden lines that depend on it. */
#include "ftfy.h"

#include "pyunicode.h"

#include <stdlib.h>
#include <string.h>

#include "html_entities.inc"

#define N_HTML5 (sizeof html5_entities / sizeof *html5_entities)
#define N_UPPER (sizeof ftfy_upper_entities / sizeof *ftfy_upper_entities)

/* Passes of fix_and_explain's "until nothing changes" loop before giving up:
 * real text settles in two or three; the cap only bounds hostile input. */
#define FTFY_MAX_PASSES 16

/* Windows-1252 for 0x80..0x9F, undefined bytes mapped to themselves: both
 * ftfy's sloppy-windows-1252 (fix_c1_controls) and html's _invalid_charrefs. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160,
    0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};

static int entity_cmp(const void *key, const void *elem) {
    return strcmp(key, ((const html_entity *)elem)->name);
}

static const html_entity *find_entity(const html_entity *tab, size_t n, const uint32_t *s,
                                      size_t len) {
    char name[40];
    if (len == 0 || len >= sizeof name) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == 0 || s[i] >= 0x80) return NULL;  /* every entity name is ASCII */
        name[i] = (char)s[i];
    }
    name[len] = '\0';
    return bsearch(name, tab, n, sizeof *tab, entity_cmp);
}

static bool push_entity(sail_u32 *out, const html_entity *e) {
    for (int i = 0; i < 3 && e->cp[i]; i++)
        if (!sail_u32_push(out, e->cp[i])) return false;
    return true;
}

/* ------------------------------------------------------ html.unescape -- */

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_hex(uint32_t c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static uint32_t hex_val(uint32_t c) { return is_digit(c) ? c - '0' : (c | 32) - 'a' + 10; }

/* html._replace_charref for a numeric reference. */
static bool numeric_charref(uint32_t num, sail_u32 *out) {
    if (num == 0) return sail_u32_push(out, 0xFFFD);
    if (num == 0x0D) return sail_u32_push(out, '\r');
    if (num >= 0x80 && num <= 0x9F) return sail_u32_push(out, cp1252_c1[num - 0x80]);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return sail_u32_push(out, 0xFFFD);
    if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) ||
        (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
        (num & 0xFFFE) == 0xFFFE)
        return true;  /* _invalid_codepoints decode to nothing */
    return sail_u32_push(out, num);
}

/* One '&' at s[0]: returns how many characters the _charref pattern
 * consumed (0 = no match) after appending the replacement. */
static size_t charref(const uint32_t *s, size_t n, sail_u32 *out, bool *ok) {
    size_t i = 1;
    if (i < n && s[i] == '#') {
        bool hex = i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X');
        i += 1 + hex;
        size_t d0 = i;
        uint32_t num = 0;
        while (i < n && (hex ? is_hex(s[i]) : is_digit(s[i]))) {
            uint64_t v = (uint64_t)num * (hex ? 16 : 10) + (hex ? hex_val(s[i]) : s[i] - '0');
            num = v > 0x110000 ? 0x110000 : (uint32_t)v;  /* saturate: any larger is invalid */
            i++;
        }
        if (i == d0) return 0;
        if (i < n && s[i] == ';') i++;
        *ok = numeric_charref(num, out);
        return i;
    }
    while (i < n && i <= 32 && s[i] != '\t' && s[i] != '\n' && s[i] != '\f' && s[i] != ' ' &&
           s[i] != '<' && s[i] != '&' && s[i] != '#' && s[i] != ';')
        i++;
    if (i == 1) return 0;
    if (i < n && s[i] == ';') i++;
    const uint32_t *name = s + 1;
    size_t len = i - 1, used = len;
    const html_entity *e = find_entity(html5_entities, N_HTML5, name, len);
    /* Otherwise the longest prefix of at least 2 characters that is a name
     * (only the ';'-less legacy names can match a prefix). */
    for (size_t x = len - 1; !e && x >= 2; x--)
        if ((e = find_entity(html5_entities, N_HTML5, name, x))) used = x;
    *ok = e ? push_entity(out, e) && sail_u32_append(out, name + used, len - used)
            : sail_u32_append(out, s, i);
    return i;
}

bool sail_html_unescape(const uint32_t *in, size_t n, sail_u32 *out) {
    if (!sail_u32_reserve(out, n)) return false;
    for (size_t i = 0; i < n;) {
        bool ok = true;
        size_t used = in[i] == '&' ? charref(in + i, n - i, out, &ok) : 0;
        if (!ok) return false;
        if (used) {
            i += used;
        } else if (!sail_u32_push(out, in[i++])) {
            return false;
        }
    }
    return true;
}

/* -------------------------------------------------------- ftfy fixers -- */

static bool is_alnum_ascii(uint32_t c) {
    return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* fixes.unescape_html: only "&#?[0-9A-Za-z]{1,24};" is touched; names come
 * from HTML5 (with ';') plus the all-caps variants; numeric references go
 * through html.unescape and are kept only if it consumed the ';'. */
static bool ftfy_unescape(const uint32_t *in, size_t n, sail_u32 *out) {
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        bool num = j < n && in[j] == '#';
        j += num;
        size_t a = j;
        while (in[i] == '&' && j < n && j - a <= 24 && is_alnum_ascii(in[j])) j++;
        if (in[i] != '&' || j == a || j - a > 24 || j >= n || in[j] != ';') {
            if (!sail_u32_push(out, in[i++])) return false;
            continue;
        }
        size_t end = j + 1;
        const html_entity *e = NULL;
        if (!num) {
            e = find_entity(html5_entities, N_HTML5, in + a, end - a);
            if (!e) e = find_entity(ftfy_upper_entities, N_UPPER, in + a, end - a);
        }
        if (e) {
            if (!push_entity(out, e)) return false;
        } else if (num) {
            sail_u32 tmp = {0};
            bool ok = sail_html_unescape(in + i, end - i, &tmp);
            bool semi = false;
            for (size_t k = 0; ok && k < tmp.n; k++) semi |= tmp.v[k] == ';';
            ok = ok && (semi ? sail_u32_append(out, in + i, end - i)
                             : sail_u32_append(out, tmp.v, tmp.n));
            sail_u32_free(&tmp);
            if (!ok) return false;
        } else if (!sail_u32_append(out, in + i, end - i)) {
            return false;
        }
        i = end;
    }
    return true;
}

/* fixes.fix_latin_ligatures: ftfy's list; each expands as NFKC except ﬅ,
 * which ftfy maps to "ſt" (NFKC would fold the long s). Appends the
 * expansion (or c itself) to out. */
static bool ligature(uint32_t c, sail_u32 *out) {
    static const uint32_t lig[] = {0x132, 0x133, 0x149, 0x1F1, 0x1F2, 0x1F3, 0x1C4, 0x1C5,
                                   0x1C6, 0x1C7, 0x1C8, 0x1C9, 0x1CA, 0x1CB, 0x1CC, 0xFB00,
                                   0xFB01, 0xFB02, 0xFB03, 0xFB04, 0xFB06};
    if (c == 0xFB05) return sail_u32_push(out, 0x17F) && sail_u32_push(out, 't');
    for (size_t i = 0; c >= 0x132 && i < sizeof lig / sizeof *lig; i++)
        if (lig[i] == c) return sail_normalize(&c, 1, SAIL_NF_NFKC, out);
    return sail_u32_push(out, c);
}

/* One character through fix_c1_controls, fix_latin_ligatures,
 * fix_character_width and uncurl_quotes (each maps characters
 * independently, so they compose per character). tmp is scratch. */
static bool map_char(uint32_t c, sail_u32 *tmp, sail_u32 *out) {
    if (c >= 0x80 && c <= 0x9F) c = cp1252_c1[c - 0x80];
    tmp->n = 0;
    if (!ligature(c, tmp)) return false;
    for (size_t i = 0; i < tmp->n; i++) {
        uint32_t d = tmp->v[i];
        if (d >= 0xFF01 && d <= 0xFFEF) {  /* fix_character_width: NFKC */
            if (!sail_normalize(&d, 1, SAIL_NF_NFKC, out)) return false;
            continue;
        }
        if (d == 0x3000) d = ' ';
        else if (d == 0x2BC || (d >= 0x2018 && d <= 0x201B)) d = '\'';
        else if (d >= 0x201C && d <= 0x201F) d = '"';
        if (!sail_u32_push(out, d)) return false;
    }
    return true;
}

/* CONTROL_CHARS of ftfy.chardata (remove_control_chars). */
static bool is_ftfy_control(uint32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* ANSI_RE = "\033\[((?:\d|;)*)([a-zA-Z])" (\d is any Nd in a str pattern):
 * the length of the escape at s[0], or 0. */
static size_t ansi_escape(const uint32_t *s, size_t n) {
    if (n < 3 || s[0] != 0x1B || s[1] != '[') return 0;
    size_t i = 2;
    while (i < n && (s[i] == ';' || sail_uc_category(s[i]) == UTF8PROC_CATEGORY_ND)) i++;
    return i < n && (s[i] | 32) >= 'a' && (s[i] | 32) <= 'z' ? i + 1 : 0;
}

/* fix_line_breaks, fix_surrogates (a no-op: input holds no surrogates),
 * remove_terminal_escapes and remove_control_chars, in that order. The
 * escape removal sees ESC before the control removal deletes it. */
static bool fix_lines_and_controls(const sail_u32 *in, sail_u32 *out) {
    sail_u32 lb = {0};
    bool ok = sail_u32_reserve(&lb, in->n);
    for (size_t i = 0; ok && i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == '\r' && i + 1 < in->n && in->v[i + 1] == '\n') continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        lb.v[lb.n++] = c;
    }
    for (size_t i = 0; ok && i < lb.n;) {
        size_t esc = ansi_escape(lb.v + i, lb.n - i);
        if (esc) {
            i += esc;
            continue;
        }
        if (!is_ftfy_control(lb.v[i])) ok = sail_u32_push(out, lb.v[i]);
        i++;
    }
    sail_u32_free(&lb);
    return ok;
}

/* One pass of fix_and_explain's loop body. */
static bool ftfy_pass(const sail_u32 *in, bool html, sail_u32 *out) {
    sail_u32 a = {0}, b = {0}, tmp = {0};
    bool ok = true;
    const sail_u32 *cur = in;
    if (html) {
        ok = ftfy_unescape(in->v, in->n, &a);
        cur = &a;
    }
    for (size_t i = 0; ok && i < cur->n; i++) ok = map_char(cur->v[i], &tmp, &b);
    sail_u32_free(&tmp);
    a.n = 0;
    ok = ok && fix_lines_and_controls(&b, &a);
    ok = ok && sail_normalize(a.v, a.n, SAIL_NF_NFC, out);
    sail_u32_free(&a);
    sail_u32_free(&b);
    return ok;
}

static bool same(const sail_u32 *a, const sail_u32 *b) {
    return a->n == b->n && (a->n == 0 || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

/* fix_and_explain: repeat the fixers until the text stops changing. */
static bool fix_segment(const uint32_t *in, size_t n, bool html, sail_u32 *out) {
    sail_u32 cur = {0}, next = {0};
    bool ok = sail_u32_append(&cur, in, n);
    for (int pass = 0; ok && pass < FTFY_MAX_PASSES; pass++) {
        next.n = 0;
        ok = ftfy_pass(&cur, html, &next);
        if (!ok || same(&cur, &next)) break;
        sail_u32 t = cur;
        cur = next;
        next = t;
    }
    ok = ok && sail_u32_append(out, cur.v, cur.n);
    sail_u32_free(&cur);
    sail_u32_free(&next);
    return ok;
}

bool sail_ftfy_fix_text(const uint32_t *in, size_t n, sail_u32 *out) {
    bool html = true;  /* unescape_html="auto", switched off for good by a '<' */
    for (size_t pos = 0; pos < n;) {
        size_t end = pos;
        while (end < n && in[end] != '\n') end++;
        end += end < n;
        for (size_t i = pos; i < end; i++)
            if (in[i] == '<') html = false;
        if (!fix_segment(in + pos, end - pos, html, out)) return false;
        pos = end;
    }
    return true;
}

/* ------------------------------------------------ SimpleTokenizer glue -- */

bool sail_clip_clean(const uint32_t *in, size_t n, sail_u32 *out) {
    sail_u32 a = {0}, b = {0};
    /* basic_clean: ftfy.fix_text, html.unescape twice, strip() */
    bool ok = sail_ftfy_fix_text(in, n, &a) && sail_html_unescape(a.v, a.n, &b);
    a.n = 0;
    ok = ok && sail_html_unescape(b.v, b.n, &a);
    size_t s = 0, e = ok ? a.n : 0;
    while (s < e && sail_py_isspace(a.v[s])) s++;
    while (e > s && sail_py_isspace(a.v[e - 1])) e--;
    /* whitespace_clean: regex \s+ -> " ", strip() */
    b.n = 0;
    for (size_t i = s; ok && i < e;) {
        if (!sail_py_white_space(a.v[i])) {
            ok = sail_u32_push(&b, a.v[i++]);
            continue;
        }
        while (i < e && sail_py_white_space(a.v[i])) i++;
        ok = sail_u32_push(&b, ' ');
    }
    s = 0;
    e = b.n;
    while (s < e && sail_py_isspace(b.v[s])) s++;
    while (e > s && sail_py_isspace(b.v[e - 1])) e--;
    ok = ok && (e == s || sail_py_lower(b.v + s, e - s, out));
    sail_u32_free(&a);
    sail_u32_free(&b);
    return ok;
}
