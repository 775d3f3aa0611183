/* bench_tokenize.c: tokenizer throughput (MB/s of UTF-8 input, tokens/s)
 * for WordPiece and CLIP BPE over the lines of the public golden corpus,
 * single thread. Usage: bench_tokenize [golden_dir] (default ../shared/golden
 * or $SAIL_GOLDEN). */
#include "text/bpe.h"
#include "text/wordpiece.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct corpus {
    char **line;
    size_t *len;
    size_t n, bytes;
} corpus;

static int load_corpus(const char *path, corpus *c) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        c->line = realloc(c->line, (c->n + 1) * sizeof *c->line);
        c->len = realloc(c->len, (c->n + 1) * sizeof *c->len);
        c->len[c->n] = (size_t)got - (got && line[got - 1] == '\n');
        c->line[c->n] = malloc(c->len[c->n] + 1);
        memcpy(c->line[c->n], line, c->len[c->n]);
        c->bytes += c->len[c->n];
        c->n++;
    }
    free(line);
    fclose(f);
    return 0;
}

typedef sail_status (*encode_fn)(const void *tok, const char *s, size_t len, int32_t *ids,
                                 size_t cap, size_t *n, sail_error *err);

static sail_status wp_encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap,
                             size_t *n, sail_error *err) {
    return sail_wordpiece_encode(t, s, len, ids, cap, n, err);
}

static sail_status bpe_encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap,
                              size_t *n, sail_error *err) {
    return sail_bpe_encode(t, s, len, ids, cap, n, err);
}

static void bench(const char *name, encode_fn fn, const void *tok, const corpus *c) {
    static int32_t ids[1 << 16];
    size_t tokens = 0, bytes = 0, reps = 0;
    double t0 = bench_now(), t;
    do {
        for (size_t i = 0; i < c->n; i++) {
            size_t n = 0;
            fn(tok, c->line[i], c->len[i], ids, sizeof ids / sizeof *ids, &n, NULL);
            tokens += n;
        }
        bytes += c->bytes;
        reps++;
    } while ((t = bench_now() - t0) < 1.0);
    printf("%-10s %7.2f MB/s %10.0f tokens/s  (%zu passes over %zu lines, %zu bytes)\n", name,
           (double)bytes / t / 1e6, (double)tokens / t, reps, c->n, c->bytes);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("SAIL_GOLDEN");
    if (!dir) dir = "../shared/golden";
    char path[4096];
    corpus c = {0};
    snprintf(path, sizeof path, "%s/corpus_public.txt", dir);
    if (load_corpus(path, &c)) {
        fprintf(stderr, "bench_tokenize: %s not found; skipped\n", path);
        return 0;
    }
    snprintf(path, sizeof path, "%s/chinese_clip_vocab.txt", dir);
    char **tok;
    int n;
    sail_error err = {0};
    if (sail_vocab_read(path, &tok, &n, &err) == SAIL_OK) {
        sail_wordpiece *wp = sail_wordpiece_new((const char *const *)tok, n, &err);
        sail_vocab_free(tok, n);
        if (wp) bench("wordpiece", wp_encode, wp, &c);
        sail_wordpiece_free(wp);
    }
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    double t0 = bench_now();
    sail_bpe *bpe = sail_bpe_load(path, 0, &err);
    if (bpe) {
        printf("bpe load   %7.1f ms\n", (bench_now() - t0) * 1e3);
        bench("bpe", bpe_encode, bpe, &c);
    }
    sail_bpe_free(bpe);
    for (size_t i = 0; i < c.n; i++) free(c.line[i]);
    free(c.line);
    free(c.len);
    return 0;
}
