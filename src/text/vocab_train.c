/* vocab_train.c: WordPiece vocabulary training by repeated pair merges over
 * the unique words of a corpus, weighted by word frequency. Each round
 * recounts pairs over the unique words: O(rounds x unique symbols), which is
 * seconds for corpora of a few MB. */
#include "vocab_train.h"

#include "strmap.h"
#include "wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sail_vocab_specials[SAIL_VOCAB_N_SPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                               "[MASK]"};

typedef struct word {
    int32_t *sym;   /* (n) symbol ids */
    int n;
    int64_t count;  /* occurrences in the corpus */
} word;

typedef struct trainer {
    sail_strmap word_ix;   /* word text -> index in words */
    char **word_text;      /* (n_words) owned keys of word_ix */
    word *words;
    size_t n_words, cap_words, cap_text;
    sail_strmap sym_ix;    /* symbol text -> symbol id */
    char **sym;            /* (n_sym) owned */
    size_t n_sym, cap_sym;
    bool oom;
} trainer;

static bool grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 1024, bytes;
    if (!sail_mul_ok(c, elem, &bytes)) return false;
    void *q = sail_realloc(*p, bytes);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static int32_t symbol(trainer *t, const char *s, size_t len) {
    int32_t id = sail_strmap_get(&t->sym_ix, s, len);
    if (id >= 0) return id;
    char *copy = sail_malloc(len + 1);
    if (!copy || !grow((void **)&t->sym, &t->cap_sym, t->n_sym, sizeof *t->sym)) {
        sail_free(copy);
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = 0;
    id = (int32_t)t->n_sym;
    t->sym[t->n_sym++] = copy;
    return sail_strmap_put(&t->sym_ix, copy, len, id) ? id : -1;
}

/* A new word: its characters, "##" before all but the first. */
static bool add_word(trainer *t, const char *s, size_t len) {
    char *copy = sail_malloc(len + 1);
    word w = {.count = 1, .sym = sail_malloc(len * sizeof(int32_t))};
    bool ok = copy && w.sym &&
              grow((void **)&t->words, &t->cap_words, t->n_words, sizeof *t->words) &&
              grow((void **)&t->word_text, &t->cap_text, t->n_words, sizeof *t->word_text);
    char buf[8] = "##";
    for (size_t i = 0; ok && i < len;) {
        size_t k = 1;
        while (i + k < len && ((uint8_t)s[i + k] & 0xC0) == 0x80) k++;
        memcpy(buf + 2, s + i, k);
        int32_t id = i ? symbol(t, buf, k + 2) : symbol(t, s, k);
        ok = id >= 0;
        if (ok) w.sym[w.n++] = id;
        i += k;
    }
    if (ok) {
        memcpy(copy, s, len);
        copy[len] = 0;
        ok = sail_strmap_put(&t->word_ix, copy, len, (int32_t)t->n_words);
    }
    if (!ok) {
        sail_free(copy);
        sail_free(w.sym);
        return false;
    }
    t->word_text[t->n_words] = copy;
    t->words[t->n_words++] = w;
    return true;
}

static int count_word(const char *s, size_t len, void *user) {
    trainer *t = user;
    int32_t ix = sail_strmap_get(&t->word_ix, s, len);
    if (ix >= 0) t->words[ix].count++;
    else if (t->n_words >= INT32_MAX || !add_word(t, s, len)) t->oom = true;
    return t->oom;
}

static sail_status read_corpus(trainer *t, const char *path, sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    sail_status rc = SAIL_OK;
    while (rc == SAIL_OK && (got = getline(&line, &cap, f)) >= 0)
        rc = sail_bert_pretokenize(line, (size_t)got, count_word, t, err);
    if (rc == SAIL_OK && ferror(f)) rc = sail_set_error(err, SAIL_ERR_IO, "%s: read error", path);
    if (t->oom) rc = sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    free(line);  /* getline allocates with malloc */
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------ merging -- */

typedef struct pair_count {
    uint64_t key;  /* (a << 32 | b) + 1; 0 = empty */
    int64_t count;
} pair_count;

typedef struct pair_table {
    pair_count *slot;
    size_t cap;
} pair_table;

static pair_count *pair_slot(pair_table *p, uint64_t key) {
    size_t j = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 17) & (p->cap - 1);
    while (p->slot[j].key && p->slot[j].key != key) j = (j + 1) & (p->cap - 1);
    return &p->slot[j];
}

static int cmp_pair(const trainer *t, uint64_t x, uint64_t y) {
    int c = strcmp(t->sym[(x - 1) >> 32], t->sym[(y - 1) >> 32]);
    return c ? c : strcmp(t->sym[(uint32_t)(x - 1)], t->sym[(uint32_t)(y - 1)]);
}

/* Count every adjacent pair; return the best one's key (0 if none). */
static uint64_t best_pair(const trainer *t, pair_table *p, int64_t *best_count) {
    memset(p->slot, 0, p->cap * sizeof *p->slot);
    uint64_t best = 0;
    *best_count = 0;
    for (size_t w = 0; w < t->n_words; w++) {
        const word *wd = &t->words[w];
        for (int i = 0; i + 1 < wd->n; i++) {
            uint64_t key = (((uint64_t)(uint32_t)wd->sym[i] << 32) | (uint32_t)wd->sym[i + 1]) + 1;
            pair_count *s = pair_slot(p, key);
            s->key = key;
            s->count += wd->count;
            if (s->count > *best_count || (s->count == *best_count && best && cmp_pair(t, key, best) < 0)) {
                *best_count = s->count;
                best = key;
            }
        }
    }
    return best;
}

static void apply_merge(trainer *t, int32_t a, int32_t b, int32_t ab) {
    for (size_t w = 0; w < t->n_words; w++) {
        word *wd = &t->words[w];
        int k = 0;
        for (int i = 0; i < wd->n; i++) {
            if (i + 1 < wd->n && wd->sym[i] == a && wd->sym[i + 1] == b) {
                wd->sym[k++] = ab;
                i++;
            } else {
                wd->sym[k++] = wd->sym[i];
            }
        }
        wd->n = k;
    }
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Vocabulary: specials, sorted alphabet, then merges. vocab_ix maps a
 * symbol string to "already in the vocabulary". */
static sail_status train(trainer *t, int size, int min_frequency, char ***out, int *n_out,
                         sail_error *err) {
    size_t n_alpha = t->n_sym;
    if ((size_t)size < SAIL_VOCAB_N_SPECIAL + n_alpha)
        return sail_set_error(err, SAIL_ERR_LIMIT,
                              "vocabulary size %d cannot hold the 5 special tokens and the %zu "
                              "characters of the corpus (at least %zu)",
                              size, n_alpha, SAIL_VOCAB_N_SPECIAL + n_alpha);
    char **v = sail_calloc((size_t)size, sizeof *v);
    size_t total = 0;
    for (size_t w = 0; w < t->n_words; w++) total += (size_t)t->words[w].n;
    pair_table p = {.cap = 16};
    while (p.cap < total * 2) p.cap *= 2;
    p.slot = sail_malloc(p.cap * sizeof *p.slot);
    sail_strmap in_vocab = {0};
    bool ok = v && p.slot && sail_strmap_init(&in_vocab, (size_t)size);
    int n = 0;
    for (int i = 0; ok && i < SAIL_VOCAB_N_SPECIAL; i++)
        ok = (v[n++] = sail_strdup(sail_vocab_specials[i])) != NULL;
    char **alpha = ok ? sail_malloc((n_alpha ? n_alpha : 1) * sizeof *alpha) : NULL;
    ok = ok && alpha;
    if (ok) {
        memcpy(alpha, t->sym, n_alpha * sizeof *alpha);
        qsort(alpha, n_alpha, sizeof *alpha, cmp_str);
    }
    for (size_t i = 0; ok && i < n_alpha; i++)
        ok = (v[n++] = sail_strdup(alpha[i])) != NULL &&
             sail_strmap_put(&in_vocab, v[n - 1], strlen(v[n - 1]), 1);
    sail_free(alpha);
    while (ok && n < size) {
        int64_t count;
        uint64_t key = best_pair(t, &p, &count);
        if (!key || count < min_frequency) break;
        int32_t a = (int32_t)((key - 1) >> 32), b = (int32_t)(uint32_t)(key - 1);
        const char *sa = t->sym[a], *sb = t->sym[b];
        size_t la = strlen(sa), lb = strlen(sb) - 2;  /* b always carries "##" */
        char *joined = sail_malloc(la + lb + 1);
        ok = joined != NULL;
        if (!ok) break;
        memcpy(joined, sa, la);
        memcpy(joined + la, sb + 2, lb + 1);
        int32_t ab = symbol(t, joined, la + lb);
        ok = ab >= 0;
        if (ok) apply_merge(t, a, b, ab);
        /* A merge can rebuild a symbol another path already made. */
        if (ok && sail_strmap_get(&in_vocab, joined, la + lb) < 0) {
            v[n++] = joined;
            ok = sail_strmap_put(&in_vocab, joined, la + lb, 1);
        } else {
            sail_free(joined);
        }
    }
    sail_free(p.slot);
    sail_strmap_free(&in_vocab);
    if (!ok) {
        sail_vocab_free(v, n);
        return sail_set_error(err, SAIL_ERR_NOMEM, "vocab train: out of memory");
    }
    *out = v;
    *n_out = n;
    return SAIL_OK;
}

static void trainer_free(trainer *t) {
    for (size_t i = 0; i < t->n_words; i++) {
        sail_free(t->words[i].sym);
        sail_free(t->word_text[i]);
    }
    for (size_t i = 0; i < t->n_sym; i++) sail_free(t->sym[i]);
    sail_free(t->words);
    sail_free(t->word_text);
    sail_free(t->sym);
    sail_strmap_free(&t->word_ix);
    sail_strmap_free(&t->sym_ix);
}

sail_status sail_vocab_train(const char *corpus_path, int size, int min_frequency, char ***tokens,
                             int *n, sail_error *err) {
    if (!corpus_path || !tokens || !n || size < 1 || min_frequency < 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "vocab train: size and min_frequency must be >= 1");
    trainer t = {0};
    sail_status rc = SAIL_OK;
    if (!sail_strmap_init(&t.word_ix, 1024) || !sail_strmap_init(&t.sym_ix, 1024))
        rc = sail_set_error(err, SAIL_ERR_NOMEM, "vocab train: out of memory");
    if (rc == SAIL_OK) rc = read_corpus(&t, corpus_path, err);
    if (rc == SAIL_OK) rc = train(&t, size, min_frequency, tokens, n, err);
    trainer_free(&t);
    return rc;
}

sail_status sail_vocab_write(const char *path, char *const *tokens, int n, sail_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", tokens[i]);
    bool bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    return bad ? sail_set_error(err, SAIL_ERR_IO, "%s: write failed", path) : SAIL_OK;
}
