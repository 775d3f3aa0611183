/* keys.h: reading a run of sail.* metadata keys, the first failure kept
 * (later reads do nothing), shared by config.c and swin_cfg.c. */
#ifndef SAIL_KEYS_H
#define SAIL_KEYS_H

#include "format/gguf.h"

#include <string.h>

typedef struct { const gguf_file *f; sail_error *err; sail_status s; } reader;

static inline int get_int(reader *r, const char *key, int *out) {
    int32_t v;
    if (r->s) return 0;
    r->s = gguf_get_i32(r->f, key, &v, r->err);
    if (!r->s) *out = v;
    return !r->s;
}

static inline void get_float(reader *r, const char *key, float *out) {
    if (!r->s) r->s = gguf_get_f32(r->f, key, out, r->err);
}

static inline void get_bool(reader *r, const char *key, int *out) {
    if (!r->s) r->s = gguf_get_bool(r->f, key, out, r->err);
}

static inline void get_enum(reader *r, const char *key, const char *const *names, int n, int *out) {
    char buf[32];
    if (r->s) return;
    if ((r->s = gguf_get_str(r->f, key, buf, sizeof buf, r->err))) return;
    for (int i = 0; i < n; i++)
        if (!strcmp(buf, names[i])) { *out = i; return; }
    r->s = sail_set_error(r->err, SAIL_ERR_FORMAT, "metadata %s has unknown value '%s'", key, buf);
}

#endif
