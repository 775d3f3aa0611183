/* wordpiece.c: BERT FullTokenizer(do_lower_case=True) as shipped with
 * Chinese-CLIP (bert_tokenizer.py): BasicTokenizer then greedy
 * longest-match-first WordPiece with the "##" continuation prefix. Each step
 * below names the Python function it reproduces. */
#include "wordpiece.h"

#include "pyunicode.h"
#include "strmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct sail_wordpiece {
    char **tokens;    /* (n) id -> token, owned */
    int n;
    sail_strmap map;  /* token -> id */
    int32_t unk;      /* id of "[UNK]" */
    size_t max_cp;    /* longest token in code points: bounds the greedy search */
};

/* ------------------------------------------------------------ vocabulary -- */

static size_t count_cp(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((uint8_t)s[i] & 0xC0) != 0x80;
    return n;
}

sail_wordpiece *sail_wordpiece_new(const char *const *tokens, int n_tokens, sail_error *err) {
    if (!tokens || n_tokens <= 0) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "wordpiece: empty vocabulary");
        return NULL;
    }
    sail_wordpiece *wp = sail_calloc(1, sizeof *wp);
    if (!wp || !(wp->tokens = sail_calloc((size_t)n_tokens, sizeof *wp->tokens)) ||
        !sail_strmap_init(&wp->map, (size_t)n_tokens))
        goto nomem;
    for (int i = 0; i < n_tokens; i++) {
        if (!(wp->tokens[i] = sail_strdup(tokens[i]))) goto nomem;
        wp->n = i + 1;
        size_t len = strlen(tokens[i]);
        /* Later duplicates win, as in load_vocab's dict. */
        if (!sail_strmap_put(&wp->map, wp->tokens[i], len, i)) goto nomem;
        wp->max_cp = SAIL_MAX(wp->max_cp, count_cp(tokens[i], len));
    }
    wp->unk = sail_strmap_get(&wp->map, "[UNK]", 5);
    if (wp->unk < 0) {
        sail_wordpiece_free(wp);
        sail_set_error(err, SAIL_ERR_FORMAT, "wordpiece: the vocabulary has no [UNK] token");
        return NULL;
    }
    return wp;
nomem:
    sail_wordpiece_free(wp);
    sail_set_error(err, SAIL_ERR_NOMEM, "wordpiece: out of memory building the vocabulary");
    return NULL;
}

void sail_wordpiece_free(sail_wordpiece *wp) {
    if (!wp) return;
    if (wp->tokens)
        for (int i = 0; i < wp->n; i++) sail_free(wp->tokens[i]);
    sail_free(wp->tokens);
    sail_strmap_free(&wp->map);
    sail_free(wp);
}

int sail_wordpiece_size(const sail_wordpiece *wp) { return wp ? wp->n : 0; }

int sail_wordpiece_id(const sail_wordpiece *wp, const char *tok) {
    return wp && tok ? sail_strmap_get(&wp->map, tok, strlen(tok)) : -1;
}

const char *sail_wordpiece_token(const sail_wordpiece *wp, int id) {
    return wp && id >= 0 && id < wp->n ? wp->tokens[id] : NULL;
}

/* Python str.strip() of one vocab line, on its decoded characters. */
static char *strip_line(const char *s, size_t len) {
    sail_u32 cp = {0};
    if (!sail_utf8_decode(s, len, &cp)) return NULL;
    size_t a = 0, b = cp.n;
    while (a < b && sail_py_isspace(cp.v[a])) a++;
    while (b > a && sail_py_isspace(cp.v[b - 1])) b--;
    char *out = sail_malloc((b - a) * 4 + 1);
    if (out) {
        size_t k = 0;
        for (size_t i = a; i < b; i++) k += sail_utf8_encode1(cp.v[i], out + k);
        out[k] = '\0';
    }
    sail_u32_free(&cp);
    return out;
}

static char *read_file(const char *path, size_t *len, sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = sail_malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap <= SIZE_MAX / 2 ? sail_realloc(buf, cap * 2) : NULL;
        if (!nb) {
            sail_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        sail_free(buf);
        sail_set_error(err, buf ? SAIL_ERR_IO : SAIL_ERR_NOMEM, "%s: %s", path,
                       buf ? "read error" : "out of memory");
        return NULL;
    }
    *len = n;
    return buf;
}

sail_status sail_vocab_read(const char *path, char ***tokens, int *n, sail_error *err) {
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) return err ? err->status : SAIL_ERR_IO;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    lines += len && buf[len - 1] != '\n';  /* readline returns a last unterminated line */
    if (lines == 0 || lines > INT32_MAX) {
        sail_free(buf);
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: %s", path,
                              lines ? "too many lines" : "empty vocabulary");
    }
    char **t = sail_calloc(lines, sizeof *t);
    size_t k = 0, start = 0;
    for (size_t i = 0; t && i <= len && k < lines; i++) {
        if (i < len && buf[i] != '\n') continue;
        if (!(t[k] = strip_line(buf + start, i - start))) break;
        k++;
        start = i + 1;
    }
    sail_free(buf);
    if (!t || k != lines) {
        sail_vocab_free(t, (int)k);
        return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    }
    *tokens = t;
    *n = (int)lines;
    return SAIL_OK;
}

void sail_vocab_free(char **tokens, int n) {
    if (!tokens) return;
    for (int i = 0; i < n; i++) sail_free(tokens[i]);
    sail_free(tokens);
}

/* ------------------------------------------------------ basic tokenizer -- */

/* _is_chinese_char: Chinese-CLIP's ranges (2B820-2CEAF is its addition). */
static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* _is_punctuation: every non-alphanumeric ASCII character plus category P*. */
static bool is_bert_punct(uint32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return true;
    return sail_uc_is_punct(c);
}

/* _clean_text and _tokenize_chinese_chars in one pass. */
static bool clean_text(const sail_u32 *in, sail_u32 *out) {
    if (!sail_u32_reserve(out, in->n)) return false;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == 0 || c == 0xFFFD) continue;
        if (c == '\t' || c == '\n' || c == '\r') {
            c = ' ';
        } else {
            utf8proc_category_t k = sail_uc_category(c);
            if (k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF) continue;
            if (k == UTF8PROC_CATEGORY_ZS) c = ' ';
        }
        if (is_cjk(c)) {
            if (!sail_u32_push(out, ' ') || !sail_u32_push(out, c) || !sail_u32_push(out, ' '))
                return false;
        } else if (!sail_u32_push(out, c)) {
            return false;
        }
    }
    return true;
}

typedef bool (*piece_fn)(const uint32_t *cp, size_t n, void *user);

typedef struct basic_state {
    sail_u32 text, clean, low, nfd;
} basic_state;

static void basic_free(basic_state *s) {
    sail_u32_free(&s->text);
    sail_u32_free(&s->clean);
    sail_u32_free(&s->low);
    sail_u32_free(&s->nfd);
}

/* One whitespace-separated token: lower(), _run_strip_accents (NFD, drop
 * Mn), then _run_split_on_punc. */
static bool basic_word(basic_state *s, const uint32_t *w, size_t n, piece_fn fn, void *user) {
    s->low.n = s->nfd.n = 0;
    if (!sail_py_lower(w, n, &s->low) || !sail_normalize(s->low.v, s->low.n, SAIL_NF_NFD, &s->nfd))
        return false;
    size_t m = 0;
    for (size_t i = 0; i < s->nfd.n; i++)
        if (sail_uc_category(s->nfd.v[i]) != UTF8PROC_CATEGORY_MN) s->nfd.v[m++] = s->nfd.v[i];
    size_t start = 0;
    for (size_t i = 0; i < m; i++) {
        if (!is_bert_punct(s->nfd.v[i])) continue;
        if (i > start && !fn(s->nfd.v + start, i - start, user)) return false;
        if (!fn(s->nfd.v + i, 1, user)) return false;
        start = i + 1;
    }
    return m <= start || fn(s->nfd.v + start, m - start, user);
}

/* BasicTokenizer.tokenize; fn returning false aborts with *stopped set when
 * the stop came from fn rather than from memory. */
static sail_status basic_tokenize(const char *text, size_t len, piece_fn fn, void *user,
                                  sail_error *err) {
    basic_state s = {0};
    bool ok = sail_utf8_decode(text, len, &s.text) && clean_text(&s.text, &s.clean);
    size_t i = 0, n = s.clean.n;
    while (ok && i < n) {
        while (i < n && sail_py_isspace(s.clean.v[i])) i++;
        size_t a = i;
        while (i < n && !sail_py_isspace(s.clean.v[i])) i++;
        if (i > a) ok = basic_word(&s, s.clean.v + a, i - a, fn, user);
    }
    basic_free(&s);
    return ok ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "tokenizer: out of memory");
}

/* ------------------------------------------------------------ WordPiece -- */

typedef struct wp_state {
    const sail_wordpiece *wp;
    char *utf8;        /* (cap) the piece as UTF-8 */
    uint32_t *off;     /* (SAIL_WORDPIECE_MAX_WORD + 1) byte offset of each character */
    int32_t *pending;  /* (SAIL_WORDPIECE_MAX_WORD) sub-token ids of the current word */
    int32_t *ids;
    size_t cap, n;     /* caller's buffer capacity, ids produced so far */
} wp_state;

static void emit(wp_state *st, int32_t id) {
    if (st->n < st->cap) st->ids[st->n] = id;
    st->n++;
}

/* WordpieceTokenizer.tokenize for one word: greedy longest match; if any
 * position has no match the whole word is [UNK]. */
static bool wordpiece_word(const uint32_t *cp, size_t n, void *user) {
    wp_state *st = user;
    const sail_wordpiece *wp = st->wp;
    if (n > SAIL_WORDPIECE_MAX_WORD) {
        emit(st, wp->unk);
        return true;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        st->off[i] = (uint32_t)k;
        k += sail_utf8_encode1(cp[i], st->utf8 + k);
    }
    st->off[n] = (uint32_t)k;
    size_t np = 0, start = 0;
    while (start < n) {
        size_t end = SAIL_MIN(n, start + wp->max_cp);
        int32_t id = -1;
        for (; end > start; end--) {
            const char *s = st->utf8 + st->off[start];
            size_t len = st->off[end] - st->off[start];
            id = sail_strmap_get2(&wp->map, start ? "##" : NULL, start ? 2 : 0, s, len);
            if (id >= 0) break;
        }
        if (id < 0) {
            emit(st, wp->unk);
            return true;
        }
        st->pending[np++] = id;
        start = end;
    }
    for (size_t i = 0; i < np; i++) emit(st, st->pending[i]);
    return true;
}

sail_status sail_wordpiece_encode(const sail_wordpiece *wp, const char *text, size_t len,
                                  int32_t *ids, size_t cap, size_t *n_ids, sail_error *err) {
    if (!wp || (!text && len) || (!ids && cap) || !n_ids)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "wordpiece_encode: NULL argument");
    wp_state st = {.wp = wp, .ids = ids, .cap = cap};
    st.utf8 = sail_malloc(SAIL_WORDPIECE_MAX_WORD * 4);
    st.off = sail_malloc((SAIL_WORDPIECE_MAX_WORD + 1) * sizeof *st.off);
    st.pending = sail_malloc(SAIL_WORDPIECE_MAX_WORD * sizeof *st.pending);
    sail_status rc = SAIL_ERR_NOMEM;
    if (st.utf8 && st.off && st.pending)
        rc = basic_tokenize(text ? text : "", len, wordpiece_word, &st, err);
    else
        sail_set_error(err, rc, "wordpiece_encode: out of memory");
    sail_free(st.utf8);
    sail_free(st.off);
    sail_free(st.pending);
    if (rc == SAIL_OK) *n_ids = st.n;
    return rc;
}

/* ------------------------------------------------------- pre-tokenizer -- */

typedef struct pre_state {
    sail_word_fn fn;
    void *user;
    char *buf;
    size_t cap;
    bool stopped;
} pre_state;

static bool pre_word(const uint32_t *cp, size_t n, void *user) {
    pre_state *st = user;
    if (n > st->cap) {
        size_t cap = SAIL_MAX(n, st->cap * 2);
        char *b = cap <= SIZE_MAX / 4 ? sail_realloc(st->buf, cap * 4) : NULL;
        if (!b) return false;
        st->buf = b;
        st->cap = cap;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += sail_utf8_encode1(cp[i], st->buf + k);
    if (st->fn(st->buf, k, st->user)) {
        st->stopped = true;
        return false;
    }
    return true;
}

sail_status sail_bert_pretokenize(const char *text, size_t len, sail_word_fn fn, void *user,
                                  sail_error *err) {
    if ((!text && len) || !fn)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "pretokenize: NULL argument");
    pre_state st = {.fn = fn, .user = user};
    sail_status rc = basic_tokenize(text ? text : "", len, pre_word, &st, err);
    sail_free(st.buf);
    if (st.stopped) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "pretokenize: stopped");
    return rc;
}

/* -------------------------------------------------------- model input -- */

sail_status sail_wordpiece_context(const int32_t *ids, size_t n, int32_t cls, int32_t sep,
                                   int32_t pad, int ctx, int32_t *out, int *len,
                                   sail_error *err) {
    if (ctx < 2 || !out || (!ids && n))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "wordpiece_context: context %d is below 2 or a buffer is NULL", ctx);
    size_t keep = SAIL_MIN(n, (size_t)ctx - 2);  /* silent truncation, as cn_clip does */
    out[0] = cls;
    if (keep) memmove(out + 1, ids, keep * sizeof *ids); /* ids may already sit at out + 1 */
    out[keep + 1] = sep;
    for (size_t i = keep + 2; i < (size_t)ctx; i++) out[i] = pad;
    if (len) *len = (int)keep + 2;
    return SAIL_OK;
}
