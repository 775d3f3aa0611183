/* payload.c: item payloads (JSON objects kept as compact text) and the
 * "field=value,..." filters searches apply to them. */
#include "index_impl.h"

#include <jansson.h>
#include <string.h>

sail_status ix_payload_canon(const char *in, char **out, sail_error *err) {
    if (!in || !*in) {
        *out = sail_strdup("{}");
        return *out ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a payload");
    }
    size_t len = strlen(in);
    if (len > SAIL_INDEX_MAX_PAYLOAD)
        return sail_set_error(err, SAIL_ERR_LIMIT, "payload is %zu bytes; the limit is %u", len,
                              SAIL_INDEX_MAX_PAYLOAD);
    json_error_t je;
    json_t *j = json_loadb(in, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "payload is not valid JSON: %s", je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "payload must be a JSON object");
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory encoding a payload");
    *out = sail_strdup(s);
    free(s);
    return *out ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a payload");
}

struct ix_filter {
    int n;
    char **key, **val;
};

void ix_filter_free(ix_filter *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) { sail_free(f->key[i]); sail_free(f->val[i]); }
    sail_free(f->key); sail_free(f->val);
    sail_free(f);
}

sail_status ix_filter_parse(const char *s, ix_filter **out, sail_error *err) {
    if (strlen(s) > 65536) return sail_set_error(err, SAIL_ERR_LIMIT, "filter is longer than 65536 bytes");
    ix_filter *f = sail_calloc(1, sizeof *f);
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    if (f) { f->key = sail_calloc((size_t)cap, sizeof(char *)); f->val = sail_calloc((size_t)cap, sizeof(char *)); }
    if (!f || !f->key || !f->val) {
        ix_filter_free(f);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory parsing a filter");
    }
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ','), *eq = strchr(p, '=');
        if (!end) end = p + strlen(p);
        if (!eq || eq >= end || eq == p) {
            ix_filter_free(f);
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "filter '%s': each term must be field=value", s);
        }
        f->key[f->n] = strndup(p, (size_t)(eq - p));
        f->val[f->n] = strndup(eq + 1, (size_t)(end - eq - 1));
        if (!f->key[f->n] || !f->val[f->n]) {
            f->n++;
            ix_filter_free(f);
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory parsing a filter");
        }
        f->n++;
        if (!*end) break;
        p = end + 1;
    }
    *out = f;
    return SAIL_OK;
}

static int value_equals(json_t *v, const char *want) {
    if (!v) return 0;
    if (json_is_string(v)) return !strcmp(json_string_value(v), want);
    if (json_is_object(v) || json_is_array(v)) return 0;
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    int eq = s && !strcmp(s, want);
    free(s);
    return eq;
}

int ix_filter_match(const ix_filter *f, const char *payload) {
    if (!f) return 1;
    if (!payload) return 0;
    /* Cheap rejection: every key must appear in the text. */
    for (int i = 0; i < f->n; i++)
        if (!strstr(payload, f->key[i])) return 0;
    json_t *j = json_loads(payload, 0, NULL);
    int ok = j != NULL;
    for (int i = 0; ok && i < f->n; i++) ok = value_equals(json_object_get(j, f->key[i]), f->val[i]);
    json_decref(j);
    return ok;
}
