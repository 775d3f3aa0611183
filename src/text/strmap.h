/* strmap.h: an open-addressing hash map from byte strings to int32 ids, for
 * vocabulary lookups (no linear scans). Keys are not copied: the caller keeps
 * them alive as long as the map. Lookups on a finished map are thread-safe. */
#ifndef SAIL_STRMAP_H
#define SAIL_STRMAP_H

#include "common.h"

typedef struct sail_strmap {
    struct sail_strmap_slot *slots;  /* (cap) */
    size_t cap;                      /* power of two */
    size_t n;                        /* keys stored */
} sail_strmap;

/* Prepare for about n keys. False on out of memory. */
bool sail_strmap_init(sail_strmap *m, size_t n);
void sail_strmap_free(sail_strmap *m);
/* Insert or overwrite (later puts win, like a Python dict). */
bool sail_strmap_put(sail_strmap *m, const char *key, size_t len, int32_t val);
/* The value of the concatenation pfx+key, or -1. pfx may be NULL. */
int32_t sail_strmap_get2(const sail_strmap *m, const char *pfx, size_t plen, const char *key,
                         size_t len);
static inline int32_t sail_strmap_get(const sail_strmap *m, const char *key, size_t len) {
    return sail_strmap_get2(m, NULL, 0, key, len);
}

#endif
