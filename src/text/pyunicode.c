/* pyunicode.c: Python str semantics on top of utf8proc. */
#include "pyunicode.h"

#include <string.h>

bool sail_py_isspace(uint32_t c) {
    /* CPython: ASCII \t\n\v\f\r, \x1c-\x1f and space; beyond ASCII, category
     * Zs or bidirectional class WS, B or S. */
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

bool sail_py_white_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    if (c == 0x85) return true;
    utf8proc_category_t cat = sail_uc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

bool sail_uc_is_letter(uint32_t c) {
    utf8proc_category_t k = sail_uc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

bool sail_uc_is_number(uint32_t c) {
    utf8proc_category_t k = sail_uc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

bool sail_uc_is_punct(uint32_t c) {
    utf8proc_category_t k = sail_uc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

uint32_t sail_uc_fold(uint32_t c) {
    /* lower(upper(c)) sends both ſ and K (Kelvin) to their ASCII folds. */
    return (uint32_t)utf8proc_tolower(utf8proc_toupper((utf8proc_int32_t)c));
}

/* Unicode "Cased": Lu, Ll, Lt, or Other_Lowercase/Other_Uppercase, which
 * utf8proc exposes through its islower/isupper. */
static bool is_cased(uint32_t c) {
    utf8proc_category_t k = sail_uc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return true;
    return utf8proc_islower((utf8proc_int32_t)c) || utf8proc_isupper((utf8proc_int32_t)c);
}

/* Unicode "Case_Ignorable": Mn, Me, Cf, Lm, Sk, plus Word_Break MidLetter,
 * MidNumLet and Single_Quote (the short explicit list). */
static bool is_case_ignorable(uint32_t c) {
    static const uint32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,
                                   0x5F4,  0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                   0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    utf8proc_category_t k = sail_uc_category(c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
        k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return true;
    for (size_t i = 0; i < sizeof mid / sizeof *mid; i++)
        if (mid[i] == c) return true;
    return false;
}

/* CPython's handle_capital_sigma: Σ is final when preceded by a cased
 * letter and not followed by one (case-ignorables skipped both ways). */
static bool final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1])) j--;
    if (j == 0 || !is_cased(s[j - 1])) return false;
    for (j = i + 1; j < n && is_case_ignorable(s[j]); j++) {}
    return j == n || !is_cased(s[j]);
}

bool sail_py_lower(const uint32_t *in, size_t n, sail_u32 *out) {
    if (!sail_u32_reserve(out, n)) return false;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c == 0x130) {  /* the one unconditional SpecialCasing lowercase */
            if (!sail_u32_push(out, 'i') || !sail_u32_push(out, 0x307)) return false;
            continue;
        }
        if (c == 0x3A3) c = final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
        else if (c >= 'A' && c <= 'Z') c += 32;
        else if (c >= 0x80) c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        if (!sail_u32_push(out, c)) return false;
    }
    return true;
}

/* utf8proc's decomposer reads UTF-8, so stage the code points as UTF-8. */
static char *to_utf8(const uint32_t *in, size_t n, size_t *len) {
    size_t cap;
    if (!sail_mul_ok(n, 4, &cap)) return NULL;
    char *s = sail_malloc(cap + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += sail_utf8_encode1(in[i], s + k);
    *len = k;
    return s;
}

static bool all_ascii(const uint32_t *in, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (in[i] >= 0x80) return false;
    return true;
}

bool sail_normalize(const uint32_t *in, size_t n, sail_nf form, sail_u32 *out) {
    if (all_ascii(in, n)) return sail_u32_append(out, in, n);  /* every form is identity */
    int opt = UTF8PROC_DECOMPOSE;
    if (form == SAIL_NF_NFKC) opt |= UTF8PROC_COMPAT;
    size_t len;
    char *s = to_utf8(in, n, &len);
    if (!s) return false;
    /* Decomposition grows text by at most 18x per character (the Unicode
     * stability bound); ask utf8proc for the exact size first. */
    utf8proc_ssize_t need = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                               NULL, 0, (utf8proc_option_t)opt);
    bool ok = need >= 0 && sail_u32_reserve(out, (size_t)need + 1);
    if (ok) {
        utf8proc_int32_t *dst = (utf8proc_int32_t *)(out->v + out->n);
        utf8proc_ssize_t got = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                                  dst, need, (utf8proc_option_t)opt);
        ok = got == need;
        if (ok && form != SAIL_NF_NFD)
            got = utf8proc_normalize_utf32(dst, got, (utf8proc_option_t)(opt | UTF8PROC_COMPOSE));
        ok = ok && got >= 0;
        if (ok) out->n += (size_t)got;
    }
    sail_free(s);
    return ok;
}
