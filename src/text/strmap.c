/* strmap.c: linear-probing hash map, FNV-1a over (prefix, key) so that
 * "##" + piece is looked up without building the string. */
#include "strmap.h"

#include <string.h>

struct sail_strmap_slot {
    const char *key;  /* NULL = empty */
    uint32_t len;
    int32_t val;
    uint64_t hash;
};

static uint64_t fnv(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t hash2(const char *pfx, size_t plen, const char *key, size_t len) {
    return fnv(fnv(0xcbf29ce484222325ULL, pfx, plen), key, len);
}

bool sail_strmap_init(sail_strmap *m, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) {
        if (cap > SIZE_MAX / 4) return false;
        cap *= 2;
    }
    m->slots = sail_calloc(cap, sizeof *m->slots);
    m->cap = m->slots ? cap : 0;
    m->n = 0;
    return m->slots != NULL;
}

void sail_strmap_free(sail_strmap *m) {
    sail_free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static bool grow(sail_strmap *m) {
    sail_strmap old = *m;
    if (!sail_strmap_init(m, old.cap)) {
        *m = old;
        return false;
    }
    for (size_t i = 0; i < old.cap; i++) {
        struct sail_strmap_slot *s = &old.slots[i];
        if (!s->key) continue;
        size_t j = s->hash & (m->cap - 1);
        while (m->slots[j].key) j = (j + 1) & (m->cap - 1);
        m->slots[j] = *s;
        m->n++;
    }
    sail_free(old.slots);
    return true;
}

bool sail_strmap_put(sail_strmap *m, const char *key, size_t len, int32_t val) {
    if (len > UINT32_MAX) return false;
    if ((m->n + 1) * 2 > m->cap && !grow(m)) return false;
    uint64_t h = hash2(NULL, 0, key, len);
    size_t j = h & (m->cap - 1);
    for (;; j = (j + 1) & (m->cap - 1)) {
        struct sail_strmap_slot *s = &m->slots[j];
        if (!s->key) {
            *s = (struct sail_strmap_slot){key, (uint32_t)len, val, h};
            m->n++;
            return true;
        }
        if (s->hash == h && s->len == len && (!len || !memcmp(s->key, key, len))) {
            s->val = val;
            return true;
        }
    }
}

int32_t sail_strmap_get2(const sail_strmap *m, const char *pfx, size_t plen, const char *key,
                         size_t len) {
    if (!m->cap) return -1;
    uint64_t h = hash2(pfx, plen, key, len);
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        const struct sail_strmap_slot *s = &m->slots[j];
        if (!s->key) return -1;
        if (s->hash == h && s->len == plen + len && (!plen || !memcmp(s->key, pfx, plen)) &&
            (!len || !memcmp(s->key + plen, key, len)))
            return s->val;
    }
}
