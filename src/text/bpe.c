/* bpe.c: CLIP's SimpleTokenizer and GPT-2's Encoder. CLIP's text goes
 * through sail_clip_clean (ftfy subset, html.unescape, whitespace, lower);
 * then each family's pre-tokenisation regex (hand-written below),
 * bytes_to_unicode and rank-ordered BPE merges.
 *
 * Symbols are vocabulary ids throughout; a merge is (left id, right id) ->
 * (rank, merged id), which is exact because the vocabulary maps each symbol
 * string to one id. The merge loop uses a heap but applies every occurrence
 * of the lowest-ranked pair before looking at new pairs, which is precisely
 * SimpleTokenizer.bpe's order, in O(n log n) instead of O(n^2). */
#include "bpe.h"

#include "ftfy.h"
#include "pyunicode.h"
#include "strmap.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define CACHE_SLOTS 4096  /* words remembered; a power of two */
#define CACHE_KEY 47      /* longest cached word in bytes */
#define CACHE_IDS 16      /* most ids of a cached word */
#define MAX_LINE 1024     /* longest merges-file line */

typedef struct merge {
    uint64_t key;    /* (left << 32 | right) + 1; 0 = empty slot */
    int32_t rank;
    int32_t result;
} merge;

typedef struct cache_slot {
    uint64_t hash;
    uint8_t klen, nids;
    char key[CACHE_KEY];
    int32_t ids[CACHE_IDS];
} cache_slot;

struct sail_bpe {
    char *arena;          /* vocabulary strings, NUL-separated */
    sail_strmap vocab;    /* symbol string -> id (later entries win, like the dict) */
    int n_vocab;
    merge *merges;        /* (merge_cap) open addressing on key */
    size_t merge_cap;
    int32_t byte_id[256];      /* symbol of a byte inside a word */
    int32_t byte_end_id[256];  /* symbol of a byte ending a word ("</w>") */
    sail_bpe_style style;
    int32_t sot, eot;         /* CLIP only */
    const char *sot_s, *eot_s; /* their strings, which the text may spell:
                                  OpenAI's <|startoftext|> or OpenCLIP's <start_of_text> */
    cache_slot *cache;    /* (CACHE_SLOTS) */
    pthread_mutex_t lock; /* guards cache */
};

/* ------------------------------------------------------------ loading -- */

static bool printable_byte(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

/* bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to
 * U+0100.. in byte order. order[] is the dict's insertion order, which is
 * the id order of the first 256 symbols. */
static void bytes_to_unicode(uint32_t map[256], uint8_t order[256]) {
    int k = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if (printable_byte(b)) {
            map[b] = (uint32_t)b;
            order[k++] = (uint8_t)b;
        }
    for (int b = 0; b < 256; b++)
        if (!printable_byte(b)) {
            map[b] = 256 + (uint32_t)extra++;
            order[k++] = (uint8_t)b;
        }
}

static size_t merge_slot(const sail_bpe *bpe, uint64_t key) {
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    size_t j = (size_t)(h >> 20) & (bpe->merge_cap - 1);
    while (bpe->merges[j].key && bpe->merges[j].key != key) j = (j + 1) & (bpe->merge_cap - 1);
    return j;
}

static uint64_t pair_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static const merge *find_merge(const sail_bpe *bpe, int32_t a, int32_t b) {
    const merge *m = &bpe->merges[merge_slot(bpe, pair_key(a, b))];
    return m->key ? m : NULL;
}

typedef struct loader {
    gzFile gz;
    char line[MAX_LINE];
    char *text;    /* (used) the merge lines as "a\0b\0" pairs */
    size_t used, cap;
    size_t *first; /* (n) offset of each line's first part in text */
    int n;
} loader;

static bool keep_line(loader *L, const char *a, size_t la, const char *b, size_t lb) {
    if (L->cap - L->used < la + lb + 2) {
        size_t cap = SAIL_MAX(L->cap * 2, (size_t)1 << 20);
        char *t = sail_realloc(L->text, cap);
        if (!t) return false;
        L->text = t;
        L->cap = cap;
    }
    L->first[L->n++] = L->used;
    memcpy(L->text + L->used, a, la);
    L->text[L->used + la] = 0;
    memcpy(L->text + L->used + la + 1, b, lb);
    L->text[L->used + la + 1 + lb] = 0;
    L->used += la + lb + 2;
    return true;
}

static const char *part(const loader *L, int i, int which) {
    const char *a = L->text + L->first[i];
    return which ? a + strlen(a) + 1 : a;
}

/* Read up to want merge lines after the header. */
static sail_status read_merges(loader *L, const char *path, int want, sail_error *err) {
    if (!gzgets(L->gz, L->line, sizeof L->line))
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: empty merges file", path);
    L->first = sail_malloc((size_t)want * sizeof *L->first);
    if (!L->first) return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    while (L->n < want && gzgets(L->gz, L->line, sizeof L->line)) {
        size_t len = strlen(L->line);
        if (len == sizeof L->line - 1 && L->line[len - 1] != '\n')
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s: merge line %d is too long", path, L->n + 2);
        while (len && (L->line[len - 1] == '\n' || L->line[len - 1] == '\r')) L->line[--len] = 0;
        if (!len) continue;  /* the file's trailing newline */
        char *sp = strchr(L->line, ' ');
        if (!sp || sp == L->line || !sp[1] || strchr(sp + 1, ' '))
            return sail_set_error(err, SAIL_ERR_FORMAT, "%s: line %d is not \"a b\"", path, L->n + 2);
        if (!keep_line(L, L->line, (size_t)(sp - L->line), sp + 1, strlen(sp + 1)))
            return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    }
    int zerr;
    const char *msg = gzerror(L->gz, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END)
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: %s", path, msg);
    return SAIL_OK;
}

/* Append a NUL-terminated string to the arena; returns its offset. */
static size_t arena_add(char *arena, size_t *used, const char *a, const char *b) {
    size_t off = *used, la = strlen(a), lb = strlen(b);
    memcpy(arena + off, a, la);
    memcpy(arena + off + la, b, lb);
    arena[off + la + lb] = 0;
    *used += la + lb + 1;
    return off;
}

/* The vocabulary ids of each byte's symbol, plain and with </w>, and of the
 * two specials (-1 where absent). */
static void lookup_ids(sail_bpe *bpe, const uint32_t map[256]) {
    for (int b = 0; b < 256; b++) {
        char ch[9] = {0};
        size_t k = sail_utf8_encode1(map[b], ch);
        bpe->byte_id[b] = sail_strmap_get(&bpe->vocab, ch, k);
        memcpy(ch + k, "</w>", 4);
        bpe->byte_end_id[b] = sail_strmap_get(&bpe->vocab, ch, k + 4);
    }
    bpe->sot_s = "<|startoftext|>", bpe->eot_s = "<|endoftext|>";
    bpe->sot = sail_strmap_get(&bpe->vocab, bpe->sot_s, 15);
    bpe->eot = sail_strmap_get(&bpe->vocab, bpe->eot_s, 13);
    if (bpe->sot < 0 && bpe->eot < 0) { /* open_clip's SimpleTokenizer names them so */
        bpe->sot_s = "<start_of_text>", bpe->eot_s = "<end_of_text>";
        bpe->sot = sail_strmap_get(&bpe->vocab, bpe->sot_s, 15);
        bpe->eot = sail_strmap_get(&bpe->vocab, bpe->eot_s, 13);
    }
}

static sail_status build_vocab(sail_bpe *bpe, const loader *L, sail_error *err) {
    uint32_t map[256];
    uint8_t order[256];
    bytes_to_unicode(map, order);
    size_t bytes = 256 * (2 * 3 + 4 + 2) + 32;  /* byte symbols, their </w> forms, specials */
    bytes += L->used;
    bpe->n_vocab = 512 + L->n + 2;
    bpe->arena = sail_malloc(bytes);
    size_t *off = sail_malloc((size_t)bpe->n_vocab * sizeof *off);
    bool ok = bpe->arena && off && sail_strmap_init(&bpe->vocab, (size_t)bpe->n_vocab);
    size_t used = 0;
    int id = 0;
    for (int pass = 0; ok && pass < 2; pass++) {
        for (int i = 0; i < 256; i++, id++) {
            char ch[5] = {0};
            ch[sail_utf8_encode1(map[order[i]], ch)] = 0;
            off[id] = arena_add(bpe->arena, &used, ch, pass ? "</w>" : "");
        }
    }
    for (int i = 0; ok && i < L->n; i++, id++)
        off[id] = arena_add(bpe->arena, &used, part(L, i, 0), part(L, i, 1));
    if (ok) {
        off[id++] = arena_add(bpe->arena, &used, "<|startoftext|>", "");
        off[id++] = arena_add(bpe->arena, &used, "<|endoftext|>", "");
    }
    for (int i = 0; ok && i < bpe->n_vocab; i++)
        ok = sail_strmap_put(&bpe->vocab, bpe->arena + off[i], strlen(bpe->arena + off[i]), i);
    sail_free(off);
    if (!ok) return sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory building the vocabulary");
    lookup_ids(bpe, map);
    return SAIL_OK;
}

static sail_status build_merges(sail_bpe *bpe, const loader *L, sail_error *err) {
    bpe->merge_cap = 16;
    while (bpe->merge_cap < (size_t)L->n * 2) bpe->merge_cap *= 2;
    bpe->merges = sail_calloc(bpe->merge_cap, sizeof *bpe->merges);
    if (!bpe->merges) return sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory");
    char joined[2 * MAX_LINE];
    for (int r = 0; r < L->n; r++) {
        const char *a = part(L, r, 0), *b = part(L, r, 1);
        int32_t ia = sail_strmap_get(&bpe->vocab, a, strlen(a));
        int32_t ib = sail_strmap_get(&bpe->vocab, b, strlen(b));
        if (ia < 0 || ib < 0) continue;  /* a pair of unknown symbols can never occur */
        snprintf(joined, sizeof joined, "%s%s", a, b);
        merge *m = &bpe->merges[merge_slot(bpe, pair_key(ia, ib))];
        m->key = pair_key(ia, ib);
        m->rank = r;  /* a repeated pair takes its later rank, like dict(zip(...)) */
        m->result = sail_strmap_get(&bpe->vocab, joined, strlen(joined));
    }
    return SAIL_OK;
}

sail_bpe *sail_bpe_load(const char *path, int n_merges, sail_error *err) {
    if (n_merges <= 0) n_merges = SAIL_BPE_CLIP_MERGES;
    loader L = {0};
    sail_bpe *bpe = NULL;
    L.gz = gzopen(path, "rb");
    if (!L.gz) {
        sail_set_error(err, SAIL_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    sail_status rc = read_merges(&L, path, n_merges, err);
    if (rc == SAIL_OK) {
        bpe = sail_calloc(1, sizeof *bpe);
        if (!bpe || !(bpe->cache = sail_calloc(CACHE_SLOTS, sizeof *bpe->cache)))
            rc = sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory");
        else
            pthread_mutex_init(&bpe->lock, NULL);
    }
    if (rc == SAIL_OK) rc = build_vocab(bpe, &L, err);
    if (rc == SAIL_OK) rc = build_merges(bpe, &L, err);
    gzclose(L.gz);
    sail_free(L.text);
    sail_free(L.first);
    if (rc != SAIL_OK) {
        sail_bpe_free(bpe);
        return NULL;
    }
    return bpe;
}

/* The vocabulary as given: tokens in id order into the arena and the map. */
static sail_status vocab_from_tokens(sail_bpe *bpe, const char *const *tokens, int n,
                                     sail_error *err) {
    size_t bytes = 1;
    for (int i = 0; i < n; i++)
        if (!tokens[i] || !sail_add_ok(bytes, strlen(tokens[i]) + 1, &bytes))
            return sail_set_error(err, SAIL_ERR_INVALID_ARG, "bpe: token %d is NULL or too long", i);
    bpe->n_vocab = n;
    bpe->arena = sail_malloc(bytes);
    if (!bpe->arena || !sail_strmap_init(&bpe->vocab, (size_t)n))
        return sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory building the vocabulary");
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        size_t off = arena_add(bpe->arena, &used, tokens[i], "");
        if (!sail_strmap_put(&bpe->vocab, bpe->arena + off, strlen(tokens[i]), i))
            return sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory building the vocabulary");
    }
    uint32_t map[256];
    uint8_t order[256];
    bytes_to_unicode(map, order);
    lookup_ids(bpe, map);
    int gpt2 = bpe->style == SAIL_BPE_GPT2;
    for (int b = 0; b < 256; b++) {
        if (gpt2) bpe->byte_end_id[b] = bpe->byte_id[b]; /* no end-of-word symbols */
        if (bpe->byte_id[b] < 0 || bpe->byte_end_id[b] < 0)
            return sail_set_error(err, SAIL_ERR_FORMAT,
                                  "bpe: the vocabulary lacks the symbol of byte 0x%02x%s", b, gpt2 ? "" : " (or its </w> form)");
    }
    if (!gpt2 && (bpe->sot < 0 || bpe->eot < 0))
        return sail_set_error(err, SAIL_ERR_FORMAT,
                              "bpe: the vocabulary lacks <|startoftext|> and <|endoftext|> (or OpenCLIP's "
                              "<start_of_text> and <end_of_text>)");
    return SAIL_OK;
}

sail_bpe *sail_bpe_new(const char *const *tokens, int n_tokens, const char *const *merges,
                       int n_merges, sail_bpe_style style, sail_error *err) {
    if (!tokens || n_tokens < 1 || n_merges < 0 || (!merges && n_merges)) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "bpe: empty vocabulary or NULL merges");
        return NULL;
    }
    loader L = {0};
    sail_bpe *bpe = sail_calloc(1, sizeof *bpe);
    sail_status rc = SAIL_OK;
    if (!bpe || !(bpe->cache = sail_calloc(CACHE_SLOTS, sizeof *bpe->cache)) ||
        !(L.first = sail_malloc((size_t)(n_merges ? n_merges : 1) * sizeof *L.first)))
        rc = sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory");
    else {
        pthread_mutex_init(&bpe->lock, NULL);
        bpe->style = style;
    }
    for (int i = 0; !rc && i < n_merges; i++) {
        const char *m = merges[i], *sp = m ? strchr(m, ' ') : NULL;
        if (!sp || sp == m || !sp[1] || strchr(sp + 1, ' ') || strlen(m) >= MAX_LINE)
            rc = sail_set_error(err, SAIL_ERR_FORMAT, "bpe: merge %d is not \"a b\"", i);
        else if (!keep_line(&L, m, (size_t)(sp - m), sp + 1, strlen(sp + 1)))
            rc = sail_set_error(err, SAIL_ERR_NOMEM, "bpe: out of memory");
    }
    if (!rc) rc = vocab_from_tokens(bpe, tokens, n_tokens, err);
    if (!rc) rc = build_merges(bpe, &L, err);
    for (size_t i = 0; !rc && i < bpe->merge_cap; i++)
        if (bpe->merges[i].key && bpe->merges[i].result < 0)
            rc = sail_set_error(err, SAIL_ERR_FORMAT, "bpe: merge rank %d yields a symbol that is not in the vocabulary",
                                bpe->merges[i].rank);
    sail_free(L.text);
    sail_free(L.first);
    if (rc) {
        sail_bpe_free(bpe);
        return NULL;
    }
    return bpe;
}

void sail_bpe_free(sail_bpe *bpe) {
    if (!bpe) return;
    if (bpe->cache) pthread_mutex_destroy(&bpe->lock);
    sail_free(bpe->cache);
    sail_free(bpe->arena);
    sail_free(bpe->merges);
    sail_strmap_free(&bpe->vocab);
    sail_free(bpe);
}

int sail_bpe_vocab_size(const sail_bpe *bpe) { return bpe ? bpe->n_vocab : 0; }
int32_t sail_bpe_sot(const sail_bpe *bpe) { return bpe ? bpe->sot : -1; }
int32_t sail_bpe_eot(const sail_bpe *bpe) { return bpe ? bpe->eot : -1; }

/* ------------------------------------------------------------- merging -- */

typedef struct heap_ent {
    int32_t rank, pos;  /* ordered by rank, then position: left to right */
    int32_t a, b;       /* the pair as it was when pushed (stale if changed) */
} heap_ent;

typedef struct work {
    sail_u32 text, clean;
    char *bytes;              /* (bcap) current word as UTF-8 */
    size_t bcap;
    int32_t *sym, *prev, *next;  /* (scap) symbol list of the current word; sym -1 = merged away */
    size_t scap;
    heap_ent *heap, *batch;   /* (scap) each */
    size_t hn;
    int32_t *ids;             /* caller's output */
    size_t cap, n;
} work;

static void work_free(work *w) {
    sail_u32_free(&w->text);
    sail_u32_free(&w->clean);
    sail_free(w->bytes);
    sail_free(w->sym);
    sail_free(w->prev);
    sail_free(w->next);
    sail_free(w->heap);
    sail_free(w->batch);
}

static bool work_reserve(work *w, size_t n) {
    if (n <= w->scap) return true;
    size_t cap = SAIL_MAX(n, w->scap * 2), b4, bh;
    if (!sail_mul_ok(cap, sizeof(int32_t), &b4) || !sail_mul_ok(cap, sizeof(heap_ent), &bh))
        return false;
    int32_t *s = sail_realloc(w->sym, b4), *p = s ? sail_realloc(w->prev, b4) : NULL;
    if (s) w->sym = s;
    if (p) w->prev = p;
    int32_t *x = p ? sail_realloc(w->next, b4) : NULL;
    if (x) w->next = x;
    heap_ent *h = x ? sail_realloc(w->heap, bh) : NULL;
    if (h) w->heap = h;
    heap_ent *t = h ? sail_realloc(w->batch, bh) : NULL;
    if (t) w->batch = t;
    if (!t) return false;
    w->scap = cap;
    return true;
}

static bool heap_less(const heap_ent *x, const heap_ent *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(work *w, heap_ent e) {
    size_t i = w->hn++;
    while (i > 0 && heap_less(&e, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = e;
}

static heap_ent heap_pop(work *w) {
    heap_ent top = w->heap[0], last = w->heap[--w->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->hn) break;
        if (c + 1 < w->hn && heap_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!heap_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->hn) w->heap[i] = last;
    return top;
}

/* Each live pair is in the heap at most once per (pos, pair) it ever held,
 * and a word of n symbols has at most n-1 merges, so pushes stay below
 * 3n: the heap arrays get 3n entries. */
static void push_pair(const sail_bpe *bpe, work *w, int32_t i) {
    if (i < 0 || w->next[i] < 0) return;
    int32_t j = w->next[i];
    const merge *m = find_merge(bpe, w->sym[i], w->sym[j]);
    if (m) heap_push(w, (heap_ent){m->rank, i, w->sym[i], w->sym[j]});
}

static void apply_batch(const sail_bpe *bpe, work *w, size_t nb) {
    for (size_t k = 0; k < nb; k++) {
        const heap_ent *e = &w->batch[k];
        int32_t i = e->pos, j = w->next[i];
        if (w->sym[i] != e->a || j < 0 || w->sym[j] != e->b) continue;  /* stale */
        w->sym[i] = find_merge(bpe, e->a, e->b)->result;
        w->sym[j] = -1;
        w->next[i] = w->next[j];
        if (w->next[j] >= 0) w->prev[w->next[j]] = i;
        push_pair(bpe, w, w->prev[i]);
        push_pair(bpe, w, i);
    }
}

static void emit(work *w, int32_t id) {
    if (w->n < w->cap) w->ids[w->n] = id;
    w->n++;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    return h;
}

static bool cache_get(const sail_bpe *bpe, work *w, const char *s, size_t n, uint64_t h) {
    sail_bpe *mut = (sail_bpe *)bpe;  /* the cache is the one mutable part */
    const cache_slot *c = &bpe->cache[h & (CACHE_SLOTS - 1)];
    bool hit = false;
    pthread_mutex_lock(&mut->lock);
    if (c->hash == h && c->klen == n && c->nids && !memcmp(c->key, s, n)) {
        hit = true;
        for (int i = 0; i < c->nids; i++) emit(w, c->ids[i]);
    }
    pthread_mutex_unlock(&mut->lock);
    return hit;
}

static void cache_put(const sail_bpe *bpe, const char *s, size_t n, uint64_t h,
                      const int32_t *ids, size_t nids) {
    sail_bpe *mut = (sail_bpe *)bpe;
    cache_slot *c = &mut->cache[h & (CACHE_SLOTS - 1)];
    pthread_mutex_lock(&mut->lock);
    c->hash = h;
    c->klen = (uint8_t)n;
    c->nids = (uint8_t)nids;
    memcpy(c->key, s, n);
    memcpy(c->ids, ids, nids * sizeof *ids);
    pthread_mutex_unlock(&mut->lock);
}

/* SimpleTokenizer.bpe on one pre-token's UTF-8 bytes, emitting its ids. */
static bool bpe_word(const sail_bpe *bpe, work *w, const char *s, size_t n) {
    bool cacheable = n <= CACHE_KEY;
    uint64_t h = cacheable ? hash_bytes(s, n) : 0;
    if (cacheable && cache_get(bpe, w, s, n, h)) return true;
    size_t slots;
    if (n > INT32_MAX / 4 || !sail_mul_ok(n, 3, &slots) || !work_reserve(w, slots)) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        w->sym[i] = i + 1 == n ? bpe->byte_end_id[b] : bpe->byte_id[b];
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 == n ? -1 : (int32_t)i + 1;
    }
    w->hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(bpe, w, (int32_t)i);
    while (w->hn) {
        /* All occurrences of the lowest-ranked pair, left to right. */
        size_t nb = 0;
        int32_t rank = w->heap[0].rank;
        while (w->hn && w->heap[0].rank == rank) w->batch[nb++] = heap_pop(w);
        apply_batch(bpe, w, nb);
    }
    size_t first = w->n, count = 0;
    for (int32_t i = 0; i >= 0; i = w->next[i], count++) emit(w, w->sym[i]);
    if (cacheable && count <= CACHE_IDS && w->n <= w->cap)
        cache_put(bpe, s, n, h, w->ids + first, count);
    return true;
}

/* ---------------------------------------------------- pre-tokenisation -- */

/* The pattern runs with IGNORECASE: a character matches \p{L} or \p{N}
 * when any of its case variants does. */
static bool letter_ci(uint32_t c) {
    return sail_uc_is_letter(c) || sail_uc_is_letter((uint32_t)utf8proc_toupper((int32_t)c)) ||
           sail_uc_is_letter((uint32_t)utf8proc_tolower((int32_t)c));
}

static bool number_ci(uint32_t c) {
    return sail_uc_is_number(c) || sail_uc_is_number((uint32_t)utf8proc_toupper((int32_t)c)) ||
           sail_uc_is_number((uint32_t)utf8proc_tolower((int32_t)c));
}

/* Length of the case-insensitive match of lit at t[0..n), or 0. */
static size_t match_ci(const uint32_t *t, size_t n, const char *lit) {
    size_t k = 0;
    for (; lit[k]; k++)
        if (k >= n || sail_uc_fold(t[k]) != sail_uc_fold((uint8_t)lit[k])) return 0;
    return k;
}

static bool match_exact(const uint32_t *t, const char *lit, size_t len) {
    for (size_t k = 0; k < len; k++)
        if (t[k] != (uint8_t)lit[k]) return false;
    return true;
}

/* Length of the token the CLIP pattern finds at t[0] (0: t[0] is
 * whitespace, which no alternative matches). Alternatives are tried in the
 * pattern's order; the first that matches wins. */
static size_t next_token(const sail_bpe *bpe, const uint32_t *t, size_t n) {
    const char *const lits[] = {bpe->sot_s, bpe->eot_s, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
        size_t m = match_ci(t, n, lits[i]);
        if (m) return m;
    }
    size_t i = 0;
    if (letter_ci(t[0])) {
        while (i < n && letter_ci(t[i])) i++;
        return i;
    }
    if (number_ci(t[0])) return 1;
    while (i < n && !sail_py_white_space(t[i]) && !letter_ci(t[i]) && !number_ci(t[i])) i++;
    return i;
}

/* GPT-2's pattern at t[0] (case-sensitive): a contraction, else an
 * optional space and a run of letters, of numbers or of other non-space
 * characters, else whitespace: all of a run that ends the text, else all
 * but its last character (which joins the next token), at least one. */
static size_t next_token_gpt2(const uint32_t *t, size_t n) {
    static const char *const lits[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
        size_t len = strlen(lits[i]);
        if (len <= n && match_exact(t, lits[i], len)) return len;
    }
    size_t i = t[0] == ' ' && n > 1 && !sail_py_white_space(t[1]) ? 1 : 0;
    if (sail_uc_is_letter(t[i]) || sail_uc_is_number(t[i])) {
        bool (*same)(uint32_t) = sail_uc_is_letter(t[i]) ? sail_uc_is_letter : sail_uc_is_number;
        while (i < n && same(t[i])) i++;
        return i;
    }
    if (!sail_py_white_space(t[i])) {
        while (i < n && !sail_py_white_space(t[i]) && !sail_uc_is_letter(t[i]) && !sail_uc_is_number(t[i])) i++;
        return i;
    }
    size_t k = 0;
    while (k < n && sail_py_white_space(t[k])) k++;
    return k == n || k == 1 ? k : k - 1;
}

static bool encode_token(const sail_bpe *bpe, work *w, const uint32_t *t, size_t m) {
    /* CLIP: only the exact strings hit SimpleTokenizer's pre-seeded cache */
    int clip = bpe->style == SAIL_BPE_CLIP;
    if (clip && m == 15 && match_exact(t, bpe->sot_s, 15)) {
        emit(w, bpe->sot);
        return true;
    }
    if (clip && m == 13 && match_exact(t, bpe->eot_s, 13)) {
        emit(w, bpe->eot);
        return true;
    }
    size_t need;
    if (!sail_mul_ok(m, 4, &need)) return false;
    if (need > w->bcap) {
        char *b = sail_realloc(w->bytes, need);
        if (!b) return false;
        w->bytes = b;
        w->bcap = need;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) k += sail_utf8_encode1(t[i], w->bytes + k);
    return bpe_word(bpe, w, w->bytes, k);
}

sail_status sail_bpe_encode(const sail_bpe *bpe, const char *text, size_t len, int32_t *ids,
                            size_t cap, size_t *n_ids, sail_error *err) {
    if (!bpe || (!text && len) || (!ids && cap) || !n_ids)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "bpe_encode: NULL argument");
    work w = {.ids = ids, .cap = cap};
    int gpt2 = bpe->style == SAIL_BPE_GPT2;
    bool ok = sail_utf8_decode(text ? text : "", len, &w.text) &&
              (gpt2 || sail_clip_clean(w.text.v, w.text.n, &w.clean));
    const uint32_t *t = gpt2 ? w.text.v : w.clean.v;
    for (size_t i = 0, n = gpt2 ? w.text.n : w.clean.n; ok && i < n;) {
        size_t m = gpt2 ? next_token_gpt2(t + i, n - i) : next_token(bpe, t + i, n - i);
        if (!m) {
            i++;
            continue;
        }
        ok = encode_token(bpe, &w, t + i, m);
        i += m;
    }
    work_free(&w);
    if (!ok) return sail_set_error(err, SAIL_ERR_NOMEM, "bpe_encode: out of memory");
    *n_ids = w.n;
    return SAIL_OK;
}

sail_status sail_bpe_context(const int32_t *ids, size_t n, int32_t sot, int32_t eot, int32_t pad,
                             int ctx, int32_t *out, int *len, sail_error *err) {
    if (ctx < 2 || !out || (!ids && n))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "bpe_context: context %d is below 2 or a buffer is NULL", ctx);
    size_t keep = SAIL_MIN(n, (size_t)ctx - 2);
    if (n > keep) keep = (size_t)ctx - 2;  /* tokens[:ctx] then tokens[-1] = eot */
    out[0] = sot;
    if (keep) memmove(out + 1, ids, keep * sizeof *ids); /* ids may sit at out + 1 */
    out[keep + 1] = eot;
    for (size_t i = keep + 2; i < (size_t)ctx; i++) out[i] = pad;
    if (len) *len = (int)keep + 2;
    return SAIL_OK;
}
