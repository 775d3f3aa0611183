/* tokenizer.c: a tokenizer read from its own file, without a model
 * (sail_tokenizer in sail.h; `sail tokenize --vocab`): a BERT vocab.txt
 * (WordPiece), CLIP's BPE merges or a SentencePiece model, one handle. */
#include "common.h"
#include "text/bpe.h"
#include "text/spm.h"
#include "text/wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct sail_tokenizer {
    sail_wordpiece *wp; /* exactly one of the three is set */
    sail_bpe *bpe;
    sail_spm *spm;
};

/* A spiece.model read whole (a few MB). */
static sail_spm *load_spm(const char *path, sail_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sail_set_error(err, SAIL_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    int oom = 0;
    do {
        char *bigger = n == cap ? sail_realloc(buf, cap = cap * 2 + 65536) : buf;
        if ((oom = !bigger)) break;
        buf = bigger;
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got);
    int bad = ferror(f);
    fclose(f);
    sail_spm *spm = NULL;
    sail_error e = {0};
    if (oom) sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory", path);
    else if (bad) sail_set_error(err, SAIL_ERR_IO, "%s: read failed", path);
    else if (!(spm = sail_spm_new(buf, n, NULL, &e)))
        sail_set_error(err, e.status ? e.status : SAIL_ERR_FORMAT, "%s: %s", path, e.msg);
    sail_free(buf);
    return spm;
}

static sail_wordpiece *load_wordpiece(const char *path, sail_error *err) {
    char **tok;
    int n;
    if (sail_vocab_read(path, &tok, &n, err)) return NULL;
    sail_error e = {0};
    sail_wordpiece *wp = sail_wordpiece_new((const char *const *)tok, n, &e);
    sail_vocab_free(tok, n);
    if (!wp) sail_set_error(err, e.status ? e.status : SAIL_ERR_FORMAT, "%s: %s", path, e.msg);
    return wp;
}

static int ends_with(const char *s, const char *tail) {
    size_t l = strlen(s), t = strlen(tail);
    return l > t && !strcmp(s + l - t, tail);
}

sail_tokenizer *sail_tokenizer_load(const char *path, const char *type, sail_error *err) {
    if (!path) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "tokenizer: no file given");
        return NULL;
    }
    if (!type) type = ends_with(path, ".gz") ? "bpe" : ends_with(path, ".model") ? "spm" : "wordpiece";
    int spm = !strcmp(type, "spm"), bpe = !strcmp(type, "bpe");
    if (!spm && !bpe && strcmp(type, "wordpiece")) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "tokenizer type '%s': the types are wordpiece, bpe and spm", type);
        return NULL;
    }
    sail_tokenizer *t = sail_calloc(1, sizeof *t);
    if (!t) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (spm) t->spm = load_spm(path, err);
    else if (bpe) t->bpe = sail_bpe_load(path, 0, err);
    else t->wp = load_wordpiece(path, err);
    if (!t->spm && !t->bpe && !t->wp) {
        sail_free(t);
        return NULL;
    }
    return t;
}

sail_status sail_tokenizer_encode(const sail_tokenizer *t, const char *text, size_t len, int32_t *ids, size_t cap,
                                  size_t *n, sail_error *err) {
    if (t->spm) return sail_spm_encode(t->spm, text, len, ids, cap, n, err);
    if (t->bpe) return sail_bpe_encode(t->bpe, text, len, ids, cap, n, err);
    return sail_wordpiece_encode(t->wp, text, len, ids, cap, n, err);
}

void sail_tokenizer_free(sail_tokenizer *t) {
    if (!t) return;
    sail_wordpiece_free(t->wp);
    sail_bpe_free(t->bpe);
    sail_spm_free(t->spm);
    sail_free(t);
}
