/* spm_tool.c: test driver for the SentencePiece tokenizer (tests/test_spm.py).
 *
 *   spm_tool MODEL CTX [LOWER EOS UNK PAD] < RECORDS
 *       MODEL a spiece.model; without the four numbers SiglipTokenizer's
 *       defaults. RECORDS: texts, each as "LENGTH\n" then LENGTH bytes.
 *       Per text two lines: "e ID..." (sail_spm_encode) and
 *       "c N_REAL ID..." (sail_spm_context with CTX). Each text is also
 *       encoded into buffers of every size below its count: a different
 *       count or prefix prints "capacity mismatch". On an error:
 *       "error STATUS MESSAGE" and exit 1.
 *
 *   spm_tool hf DIR VOCAB MAXPOS A.gguf B.gguf < RECORDS
 *       the converter's hf_spm_write on a Hugging Face folder (config.json's
 *       vocab_size VOCAB, max_position_embeddings MAXPOS) into A.gguf, read
 *       back through sail_vocab_kv_read, written again by
 *       sail_vocab_kv_write into B.gguf (the checkpoint path; B must equal
 *       A byte for byte), read back again into the model's tokenizer
 *       (sail_text_tok). Prints "config CONTEXT PAD UNK EOS LOWER", then per
 *       text "c N_REAL ID..." (sail_text_tok_encode) and "n COUNT"
 *       (sail_text_tok_count).
 *
 *   spm_tool threads MODEL < RECORDS
 *       every text encoded once, then by 4 threads at the same time on the
 *       one tokenizer, each from a different starting text: "threads ok N"
 *       when all agree, else "threads mismatch".
 */
#include "convert/convert.h"
#include "model/inputs.h"
#include "text/spm.h"
#include "../scratch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Encode into every smaller buffer: same count, same prefix. */
static int capacity_ok(const sail_spm *s, const char *t, size_t len, const int32_t *ids, size_t n) {
    int32_t *small = malloc((n + 1) * sizeof *small);
    int ok = small != NULL;
    for (size_t cap = 0; ok && cap < n; cap += 1 + cap / 4) {
        size_t m = 0;
        sail_error err = {0};
        ok = !sail_spm_encode(s, t, len, cap ? small : NULL, cap, &m, &err) && m == n &&
             !memcmp(small, ids, cap * sizeof *ids);
    }
    free(small);
    return ok;
}

static int one(const sail_spm *s, const char *t, size_t len, int ctx) {
    sail_error err = {0};
    sail_spm_config c = sail_spm_get_config(s);
    size_t n = 0;
    if (sail_spm_encode(s, t, len, NULL, 0, &n, &err)) goto fail;
    int32_t *ids = malloc((n + (size_t)ctx + 1) * sizeof *ids), *out = ids + n;
    if (!ids) return 1;
    int real = 0;
    if (sail_spm_encode(s, t, len, ids, n, &n, &err) || sail_spm_context(ids, n, c.eos, c.pad, ctx, out, &real, &err)) {
        free(ids);
        goto fail;
    }
    printf("e");
    for (size_t i = 0; i < n; i++) printf(" %d", (int)ids[i]);
    printf("\nc %d", real);
    for (int i = 0; i < ctx; i++) printf(" %d", (int)out[i]);
    printf("\n");
    if (!capacity_ok(s, t, len, ids, n)) printf("capacity mismatch\n");
    free(ids);
    return 0;
fail:
    printf("error %s %s\n", sail_status_name(err.status), err.msg);
    return 1;
}

/* A.gguf -> the vocabulary -> B.gguf -> the vocabulary again. */
static sail_status reread(const char *path, const sail_config *c, sail_vocab_kv *v, sail_error *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return err->status;
    sail_status s = sail_vocab_kv_read(f, c, v, err);
    gguf_close(f);
    return s;
}

static sail_status write_vocab(const sail_vocab_kv *v, const char *path, sail_error *err) {
    gguf_writer *w = gguf_writer_new();
    sail_status s = w ? sail_vocab_kv_write(v, w) : SAIL_ERR_NOMEM;
    if (!s) s = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return s;
}

static int texts_through(const sail_text_tok *t, const sail_config *c) {
    size_t n;
    int32_t *ids = malloc((size_t)c->context * sizeof *ids);
    while (ids && scanf("%zu", &n) == 1 && getchar() == '\n') {
        char *text = malloc(n + 1);
        sail_error err = {0};
        int real = 0, count = 0;
        if (!text || fread(text, 1, n, stdin) != n) return 2;
        if (sail_text_tok_encode(t, text, n, ids, &real, &err) || sail_text_tok_count(t, text, n, &count, &err)) {
            printf("error %s %s\n", sail_status_name(err.status), err.msg);
            return 1;
        }
        printf("c %d", real);
        for (int i = 0; i < c->context; i++) printf(" %d", (int)ids[i]);
        printf("\nn %d\n", count);
        free(text);
    }
    free(ids);
    return 0;
}

static int hf_mode(char **argv) {
    sail_config c = {0};
    c.vocab_size = atoi(argv[3]);
    c.max_positions = atoi(argv[4]);
    c.towers.on = c.towers.has_text = 1;
    sail_error err = {0};
    sail_vocab_kv a = {0}, b = {0};
    sail_text_tok t = {0};
    gguf_writer *w = gguf_writer_new();
    sail_status s = w ? hf_spm_write(argv[2], &c, w, &err) : SAIL_ERR_NOMEM;
    if (!s) s = gguf_writer_write(w, argv[5], &err);
    gguf_writer_free(w);
    if (!s) s = reread(argv[5], &c, &a, &err);
    if (!s) s = write_vocab(&a, argv[6], &err);
    if (!s) s = reread(argv[6], &c, &b, &err);
    if (!s) s = sail_text_tok_init(&t, &b, &c, &err);
    int rc = s ? 1 : 0;
    if (s) printf("error %s %s\n", sail_status_name(err.status), err.msg);
    else {
        printf("config %d %d %d %d %d\n", c.context, c.pad_id, c.unk_id, c.sep_id, b.spm_lowercase);
        rc = texts_through(&t, &c);
    }
    sail_text_tok_free(&t);
    sail_vocab_kv_free(&a);
    sail_vocab_kv_free(&b);
    return rc;
}

/* The texts and their single-threaded ids. */
typedef struct corpus {
    const sail_spm *s;
    char **text;
    size_t *len, *n, count;
    int32_t **ids;
    int start, bad;
} corpus;

static int same_ids(const corpus *c, size_t i) {
    size_t n = 0;
    int32_t *ids = malloc((c->n[i] + 1) * sizeof *ids);
    int ok = ids && !sail_spm_encode(c->s, c->text[i], c->len[i], ids, c->n[i], &n, NULL) && n == c->n[i] &&
             !memcmp(ids, c->ids[i], n * sizeof *ids);
    free(ids);
    return ok;
}

static void *worker(void *arg) {
    corpus *c = arg;
    for (size_t k = 0; k < c->count; k++)
        if (!same_ids(c, (k + (size_t)c->start * c->count / 4) % c->count)) c->bad = 1;
    return NULL;
}

static int threads_mode(const char *path) {
    size_t len;
    char *proto = slurp(path, &len);
    sail_spm *s = proto ? sail_spm_new(proto, len, NULL, NULL) : NULL;
    sail_free(proto);
    corpus c = {.s = s};
    size_t n, cap = 0;
    while (s && scanf("%zu", &n) == 1 && getchar() == '\n') {
        if (c.count == cap) {
            cap = cap * 2 + 64;
            c.text = realloc(c.text, cap * sizeof *c.text), c.len = realloc(c.len, cap * sizeof *c.len);
            c.n = realloc(c.n, cap * sizeof *c.n), c.ids = realloc(c.ids, cap * sizeof *c.ids);
            if (!c.text || !c.len || !c.n || !c.ids) return 2;
        }
        char *t = malloc(n + 1);
        if (!t || fread(t, 1, n, stdin) != n) return 2;
        size_t k = 0;
        if (sail_spm_encode(s, t, n, NULL, 0, &k, NULL) || !(c.ids[c.count] = malloc((k + 1) * sizeof **c.ids)) ||
            sail_spm_encode(s, t, n, c.ids[c.count], k, &k, NULL))
            return 2;
        c.text[c.count] = t, c.len[c.count] = n, c.n[c.count++] = k;
    }
    if (!s) return 2;
    corpus w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = c;
        w[i].start = i;
        if (pthread_create(&th[i], NULL, worker, &w[i])) return 2;
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad |= w[i].bad;
    }
    if (bad) printf("threads mismatch\n");
    else printf("threads ok %zu\n", c.count);
    for (size_t i = 0; i < c.count; i++) free(c.text[i]), free(c.ids[i]);
    free(c.text), free(c.len), free(c.n), free(c.ids);
    sail_spm_free(s);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 7 && !strcmp(argv[1], "hf")) return hf_mode(argv);
    if (argc == 3 && !strcmp(argv[1], "threads")) return threads_mode(argv[2]);
    if (argc != 3 && argc != 7) {
        fprintf(stderr, "usage: spm_tool MODEL CTX [LOWER EOS UNK PAD] < RECORDS\n");
        return 2;
    }
    size_t len;
    char *proto = slurp(argv[1], &len);
    if (!proto) return 2;
    sail_spm_config cfg = {0};
    if (argc == 7) cfg = (sail_spm_config){atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6])};
    sail_error err = {0};
    sail_spm *s = sail_spm_new(proto, len, argc == 7 ? &cfg : NULL, &err);
    sail_free(proto);
    if (!s) {
        printf("error %s %s\n", sail_status_name(err.status), err.msg);
        return 1;
    }
    int ctx = atoi(argv[2]), rc = 0;
    size_t n;
    while (!rc && scanf("%zu", &n) == 1 && getchar() == '\n') {
        char *t = malloc(n + 1);
        if (!t || fread(t, 1, n, stdin) != n) return 2;
        rc = one(s, t, n, ctx);
        free(t);
    }
    sail_spm_free(s);
    return rc;
}
