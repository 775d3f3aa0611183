/* spm.c: SiglipTokenizer's steps around libsentencepiece (spm.h). For one
 * text, in the order transformers runs them:
 *   tokenize:      "\u2581" + text with every "\u2581" made a space
 *   lower-casing:  str.lower() of each character (its regex takes one
 *                  character at a time, so no Final_Sigma), special tokens
 *                  untouched
 *   splitting:     at the special tokens; the text beside each loses its
 *                  whitespace on that side (AddedToken lstrip / rstrip)
 *   _tokenize:     per piece of text: canonicalize_text, then the pieces of
 *                  unk + text without the first unk_len pieces
 *   tokenize:      a leading lone "\u2581" before a special token dropped
 * and the ids of the pieces. */
#include "spm.h"

#include "pyunicode.h"
#include "spm_shim.h"

#include <string.h>

/* A special token's text (code points) and id. */
typedef struct special {
    sail_u32 text;
    int32_t id;
} special;

struct sail_spm {
    sail_spmp *p;
    sail_spm_config cfg;
    special sp[3];          /* eos, unk, pad without repeats */
    int n_sp;
    size_t unk_len;         /* pieces of the unk token's own text */
    char *unk_text;         /* (unk_text_len) the prefix of every encoding */
    size_t unk_text_len;
};

/* ---------------------------------------------------------- loading -- */

static int count_sink(void *ctx, int32_t id, int underline) {
    (*(size_t *)ctx)++;
    return 0;
}

static sail_status add_special(sail_spm *s, int32_t id, sail_error *err) {
    for (int i = 0; i < s->n_sp; i++)
        if (s->sp[i].id == id) return SAIL_OK;
    const char *piece = sail_spmp_id_piece(s->p, id);
    special *t = &s->sp[s->n_sp++];
    t->id = id;
    if (!sail_utf8_decode(piece, strlen(piece), &t->text))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    return SAIL_OK;
}

/* The defaults of SiglipTokenizer.__init__, found by piece. */
static sail_status default_config(const sail_spmp *p, sail_spm_config *c, sail_error *err) {
    int eos = sail_spmp_piece_id(p, "</s>", 4), unk = sail_spmp_piece_id(p, "<unk>", 5);
    if (eos < 0 || unk < 0)
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "the SentencePiece model has no %s piece; give the special ids explicitly",
                              eos < 0 ? "\"</s>\"" : "\"<unk>\"");
    *c = (sail_spm_config){.lowercase = 1, .eos = eos, .unk = unk, .pad = eos};
    return SAIL_OK;
}

static sail_status check_config(const sail_spm *s, sail_error *err) {
    int n = sail_spmp_size(s->p);
    const int32_t ids[3] = {s->cfg.eos, s->cfg.unk, s->cfg.pad};
    static const char *const names[3] = {"eos", "unk", "pad"};
    for (int i = 0; i < 3; i++)
        if (ids[i] < 0 || ids[i] >= n)
            return sail_set_error(err, SAIL_ERR_FORMAT, "the %s id %d is outside the SentencePiece model's %d pieces",
                                  names[i], (int)ids[i], n);
    return SAIL_OK;
}

/* The specials, the unk prefix and its piece count (unk_token_length). */
static sail_status prepare(sail_spm *s, sail_error *err) {
    sail_status st = check_config(s, err);
    if (!st) st = add_special(s, s->cfg.eos, err);
    if (!st) st = add_special(s, s->cfg.unk, err);
    if (!st) st = add_special(s, s->cfg.pad, err);
    if (st) return st;
    const char *unk = sail_spmp_id_piece(s->p, s->cfg.unk);
    s->unk_text_len = strlen(unk);
    if (!(s->unk_text = sail_strdup(unk))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    char msg[256];
    int rc = sail_spmp_encode(s->p, unk, s->unk_text_len, 0, count_sink, &s->unk_len, msg, sizeof msg);
    if (rc) return sail_set_error(err, rc == SAIL_SPMP_NOMEM ? SAIL_ERR_NOMEM : SAIL_ERR_FORMAT, "%s", msg);
    return SAIL_OK;
}

/* A varint of b[*i..n); false when it runs off the end or past 64 bits. */
static bool varint(const uint8_t *b, size_t n, size_t *i, uint64_t *v) {
    *v = 0;
    for (int shift = 0; *i < n && shift < 64; shift += 7) {
        uint8_t c = b[(*i)++];
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (c < 0x80) return true;
    }
    return false;
}

/* The top level of a protobuf message ends exactly at n. The shim appends
 * bytes to the model, and a truncated last field must not swallow them. */
static bool framed(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n;) {
        uint64_t key, v;
        if (!varint(b, n, &i, &key)) return false;
        switch (key & 7) {
        case 0: if (!varint(b, n, &i, &v)) return false; break;
        case 1: if (n - i < 8) return false; i += 8; break;
        case 5: if (n - i < 4) return false; i += 4; break;
        case 2: if (!varint(b, n, &i, &v) || v > n - i) return false; i += (size_t)v; break;
        default: return false;
        }
    }
    return true;
}

sail_spm *sail_spm_new(const void *model_proto, size_t len, const sail_spm_config *cfg,
                       sail_error *err) {
    if (!model_proto || !len) {
        sail_set_error(err, SAIL_ERR_FORMAT, "the SentencePiece model is empty (expected the spiece.model of the checkpoint)");
        return NULL;
    }
    if (!framed(model_proto, len)) {
        sail_set_error(err, SAIL_ERR_FORMAT,
                       "not a SentencePiece model: its %zu bytes are not a complete protobuf message (truncated, "
                       "or another kind of file); expected the spiece.model of the checkpoint", len);
        return NULL;
    }
    sail_spm *s = sail_calloc(1, sizeof *s);
    if (!s) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char msg[256];
    s->p = sail_spmp_load(model_proto, len, msg, sizeof msg);
    sail_status st = s->p ? SAIL_OK
                          : sail_set_error(err, strncmp(msg, "out of memory", 13) ? SAIL_ERR_FORMAT : SAIL_ERR_NOMEM,
                                           "%s (%zu bytes; expected the spiece.model of the checkpoint)", msg, len);
    if (!st && cfg) s->cfg = *cfg;
    else if (!st) st = default_config(s->p, &s->cfg, err);
    if (!st) st = prepare(s, err);
    if (st) {
        sail_spm_free(s);
        return NULL;
    }
    return s;
}

void sail_spm_free(sail_spm *s) {
    if (!s) return;
    for (int i = 0; i < s->n_sp; i++) sail_u32_free(&s->sp[i].text);
    sail_free(s->unk_text);
    if (s->p) sail_spmp_free(s->p);
    sail_free(s);
}

int sail_spm_size(const sail_spm *s) {
    return sail_spmp_size(s->p);
}

int sail_spm_piece_id(const sail_spm *s, const char *piece) {
    return piece ? sail_spmp_piece_id(s->p, piece, strlen(piece)) : -1;
}

const char *sail_spm_id_piece(const sail_spm *s, int id) {
    return id >= 0 && id < sail_spmp_size(s->p) ? sail_spmp_id_piece(s->p, id) : NULL;
}

sail_spm_config sail_spm_get_config(const sail_spm *s) {
    return s->cfg;
}

/* --------------------------------------------------------- the text -- */

/* The special token whose text starts at t[i], longest first (the added
 * tokens trie); NULL when none. */
static const special *special_at(const sail_spm *s, const uint32_t *t, size_t n, size_t i) {
    const special *best = NULL;
    for (int k = 0; k < s->n_sp; k++) {
        const sail_u32 *x = &s->sp[k].text;
        if (x->n && x->n <= n - i && !memcmp(t + i, x->v, x->n * sizeof *t) && (!best || x->n > best->text.n))
            best = &s->sp[k];
    }
    return best;
}

/* "\u2581" + text (each "\u2581" a space), lower-cased outside the specials. */
static bool prepare_text(const sail_spm *s, const char *text, size_t len, sail_u32 *out) {
    sail_u32 raw = {0};
    bool ok = sail_u32_push(&raw, 0x2581) && sail_utf8_decode(text, len, &raw);
    for (size_t i = 1; ok && i < raw.n; i++)
        if (raw.v[i] == 0x2581) raw.v[i] = ' ';
    for (size_t i = 0; ok && i < raw.n;) {
        const special *sp = s->cfg.lowercase ? special_at(s, raw.v, raw.n, i) : NULL;
        if (sp) {
            ok = sail_u32_append(out, raw.v + i, sp->text.n);
            i += sp->text.n;
        } else {
            ok = s->cfg.lowercase ? sail_py_lower(raw.v + i, 1, out) : sail_u32_push(out, raw.v[i]);
            i++;
        }
    }
    sail_u32_free(&raw);
    return ok;
}

/* string.punctuation: ASCII 33-47, 58-64, 91-96, 123-126. */
static bool ascii_punct(uint32_t c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/* canonicalize_text of t[0..n) as UTF-8 after the unk prefix: punctuation
 * removed, then re.sub(r"\s+", " ") and strip() (\s is str.isspace). */
static char *canonical_utf8(const sail_spm *s, const uint32_t *t, size_t n, size_t *len) {
    size_t cap;
    if (!sail_mul_ok(n, 4, &cap) || !sail_add_ok(cap, s->unk_text_len + 1, &cap)) return NULL;
    char *out = sail_malloc(cap);
    if (!out) return NULL;
    memcpy(out, s->unk_text, s->unk_text_len);
    size_t k = s->unk_text_len;
    bool space = false, any = false;
    for (size_t i = 0; i < n; i++) {
        if (ascii_punct(t[i])) continue;
        if (sail_py_isspace(t[i])) {
            space = true;
            continue;
        }
        if (space && any) out[k++] = ' ';
        space = false;
        any = true;
        k += sail_utf8_encode1(t[i], out + k);
    }
    *len = k;
    return out;
}

/* ------------------------------------------------------- the output -- */

/* The ids as they come. The first is held back until the second says
 * whether it is the lone "\u2581" that tokenize drops. */
typedef struct out_ids {
    int32_t *ids;           /* (cap) */
    size_t cap, n, seen;
    int32_t first;
    int first_underline;
} out_ids;

static void emit(out_ids *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

static void push(out_ids *o, int32_t id, int underline, int is_special) {
    if (o->seen == 0) {
        o->first = id;
        o->first_underline = underline;
    } else {
        if (o->seen == 1 && !(o->first_underline && is_special)) emit(o, o->first);
        emit(o, id);
    }
    o->seen++;
}

static int piece_sink(void *ctx, int32_t id, int underline) {
    push(ctx, id, underline, 0);
    return 0;
}

/* _tokenize of one piece of text between special tokens. */
static sail_status tokenize_part(const sail_spm *s, const uint32_t *t, size_t n, out_ids *o, sail_error *err) {
    size_t len;
    char *u = canonical_utf8(s, t, n, &len);
    if (!u) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory (a text of %zu characters)", n);
    char msg[256];
    int rc = sail_spmp_encode(s->p, u, len, s->unk_len, piece_sink, o, msg, sizeof msg);
    sail_free(u);
    if (rc) return sail_set_error(err, rc == SAIL_SPMP_NOMEM ? SAIL_ERR_NOMEM : SAIL_ERR_FORMAT, "%s", msg);
    return SAIL_OK;
}

/* The end of the text part starting at i: the next special token or n. */
static size_t part_end(const sail_spm *s, const uint32_t *t, size_t n, size_t i) {
    while (i < n && !special_at(s, t, n, i)) i++;
    return i;
}

/* Split at the special tokens; text beside one loses that side's
 * whitespace; empty parts vanish. */
static sail_status tokenize_all(const sail_spm *s, const sail_u32 *t, out_ids *o, sail_error *err) {
    sail_status st = SAIL_OK;
    size_t i = 0;
    while (!st && i < t->n) {
        const special *sp = special_at(s, t->v, t->n, i);
        if (sp) {
            push(o, sp->id, 0, 1);
            i += sp->text.n;
            continue;
        }
        size_t end = part_end(s, t->v, t->n, i), a = i, b = end;
        if (a > 0)
            while (a < b && sail_py_isspace(t->v[a])) a++;
        if (b < t->n)
            while (b > a && sail_py_isspace(t->v[b - 1])) b--;
        if (b > a) st = tokenize_part(s, t->v + a, b - a, o, err);
        i = end;
    }
    if (!st && o->seen == 1) emit(o, o->first);
    return st;
}

sail_status sail_spm_encode(const sail_spm *s, const char *text, size_t len, int32_t *ids,
                            size_t cap, size_t *n, sail_error *err) {
    if (!s || (!text && len) || (!ids && cap) || !n)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_spm_encode: a NULL argument");
    sail_u32 t = {0};
    out_ids o = {.ids = ids, .cap = cap};
    sail_status st = prepare_text(s, text ? text : "", len, &t)
                         ? tokenize_all(s, &t, &o, err)
                         : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory (a text of %zu bytes)", len);
    sail_u32_free(&t);
    if (!st) *n = o.n;
    return st;
}

sail_status sail_spm_context(const int32_t *ids, size_t n, int32_t eos, int32_t pad, int ctx,
                             int32_t *out, int *len, sail_error *err) {
    if (ctx < 1 || !out || (!ids && n))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "sail_spm_context: ctx %d < 1 or a NULL buffer", ctx);
    /* truncation keeps ctx - 1 (room for the one special token) */
    size_t keep = SAIL_MIN(n, (size_t)ctx - 1);
    if (keep) memmove(out, ids, keep * sizeof *out);
    int k = (int)keep;
    if (!keep || out[keep - 1] != eos) out[k++] = eos;
    if (len) *len = k;
    for (int i = k; i < ctx; i++) out[i] = pad;
    return SAIL_OK;
}
