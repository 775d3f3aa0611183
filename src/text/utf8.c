/* utf8.c: CPython-compatible UTF-8 decoding with U+FFFD replacement. */
#include "utf8.h"

#include <string.h>

bool sail_u32_reserve(sail_u32 *b, size_t extra) {
    size_t need;
    if (!sail_add_ok(b->n, extra, &need)) return false;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return false;
        cap *= 2;
    }
    size_t bytes;
    if (!sail_mul_ok(cap, sizeof(uint32_t), &bytes)) return false;
    uint32_t *v = sail_realloc(b->v, bytes);
    if (!v) return false;
    b->v = v;
    b->cap = cap;
    return true;
}

bool sail_u32_append(sail_u32 *b, const uint32_t *c, size_t n) {
    if (!sail_u32_reserve(b, n)) return false;
    if (n) memcpy(b->v + b->n, c, n * sizeof *c);
    b->n += n;
    return true;
}

void sail_u32_free(sail_u32 *b) {
    sail_free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

/* The second byte's valid range depends on the lead byte: that is what
 * excludes overlongs (E0, F0), surrogates (ED) and values > U+10FFFF (F4). */
static bool second_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
    }
}

size_t sail_utf8_decode1(const uint8_t *s, size_t len, uint32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        v = c & 0x07;
    } else {
        *cp = 0xFFFD;  /* 80..BF, C0, C1, F5..FF: never a valid lead */
        return 1;
    }
    size_t i = 1;
    for (; i < need; i++) {
        if (i >= len) break;
        uint8_t b = s[i];
        if (i == 1 ? !second_ok(c, b) : (b & 0xC0) != 0x80) break;
        v = (v << 6) | (b & 0x3F);
    }
    if (i < need) {
        *cp = 0xFFFD;  /* the maximal subpart s[0..i) becomes one U+FFFD */
        return i;
    }
    *cp = v;
    return need;
}

bool sail_utf8_decode(const char *s, size_t len, sail_u32 *out) {
    const uint8_t *p = (const uint8_t *)s;
    /* Every character takes at least one byte, so len bounds the output. */
    if (!sail_u32_reserve(out, len)) return false;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        if (p[i] < 0x80) {
            out->v[out->n++] = p[i++];
            continue;
        }
        i += sail_utf8_decode1(p + i, len - i, &c);
        out->v[out->n++] = c;
    }
    return true;
}

size_t sail_utf8_encode1(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
