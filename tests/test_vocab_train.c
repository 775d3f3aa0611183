/* test_vocab_train.c: WordPiece vocabulary training on the public corpus
 * (or a generated one when the golden files are absent): exact size,
 * specials first, determinism, and a tokenizer built from the result
 * covers the corpus with few [UNK]. */
#include "test.h"
#include "golden_jsonl.h"
#include "text/vocab_train.h"
#include "text/wordpiece.h"

#include <unistd.h>

static const char *corpus_path(char *buf, size_t cap, char *tmp) {
    const char *dir = golden_dir();
    if (dir) {
        snprintf(buf, cap, "%s/corpus_public.txt", dir);
        return buf;
    }
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return NULL;
    for (int i = 0; i < 300; i++)
        fprintf(f, "a photo of %d cats and dogs, playing together number %d \xE4\xB8\xAD\xE6\x96\x87\n", i, i * 7);
    fclose(f);
    return tmp;
}

static long count_unk(const sail_wordpiece *wp, const char *path, long *total) {
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long unk = 0;
    *total = 0;
    int32_t unk_id = sail_wordpiece_id(wp, "[UNK]");
    while ((got = getline(&line, &cap, f)) >= 0) {
        int32_t ids[4096];
        size_t n = 0;
        sail_wordpiece_encode(wp, line, (size_t)got, ids, 4096, &n, NULL);
        for (size_t i = 0; i < n && i < 4096; i++) unk += ids[i] == unk_id;
        *total += (long)n;
    }
    free(line);
    fclose(f);
    return unk;
}

int main(void) {
    char buf[4096], tmp[] = "/tmp/sail_corpus_XXXXXX";
    const char *path = corpus_path(buf, sizeof buf, tmp);
    if (!path) {
        CHECK(0, "cannot create a corpus");
        return test_done();
    }
    /* The generated corpus is small: it supports fewer merges. */
    const int size = path == tmp ? 150 : 2000;
    char **v = NULL, **v2 = NULL;
    int n = 0, n2 = 0;
    sail_error err = {0};
    sail_status rc = sail_vocab_train(path, size, 2, &v, &n, &err);
    CHECK(rc == SAIL_OK, "training succeeds (%s)", rc ? err.msg : "ok");
    if (rc != SAIL_OK) return test_done();
    CHECK(n == size, "the vocabulary has exactly %d entries (%d)", size, n);
    CHECK(!strcmp(v[0], "[PAD]") && !strcmp(v[1], "[UNK]") && !strcmp(v[2], "[CLS]") &&
              !strcmp(v[3], "[SEP]") && !strcmp(v[4], "[MASK]"),
          "special tokens take ids 0-4");
    rc = sail_vocab_train(path, size, 2, &v2, &n2, &err);
    bool same = rc == SAIL_OK && n2 == n;
    for (int i = 0; same && i < n; i++) same = !strcmp(v[i], v2[i]);
    CHECK(same, "training is deterministic");
    sail_vocab_free(v2, n2);

    char out[] = "/tmp/sail_vocab_XXXXXX";
    int fd = mkstemp(out);
    close(fd);
    char **back = NULL;
    int nb = 0;
    bool round = sail_vocab_write(out, v, n, &err) == SAIL_OK &&
                 sail_vocab_read(out, &back, &nb, &err) == SAIL_OK && nb == n;
    CHECK(round, "written vocabulary reads back");
    sail_wordpiece *wp = back ? sail_wordpiece_new((const char *const *)back, nb, &err) : NULL;
    if (wp) {
        long total, unk = count_unk(wp, path, &total);
        printf("# %ld [UNK] of %ld tokens on the training corpus\n", unk, total);
        CHECK(total > 0 && unk * 200 < total, "the trained vocabulary covers its corpus (< 0.5%% [UNK])");
    } else {
        CHECK(0, "tokenizer from the trained vocabulary: %s", err.msg);
    }
    sail_wordpiece_free(wp);
    sail_vocab_free(back, nb);
    unlink(out);

    char **big = NULL;
    int nbig = 0;
    rc = sail_vocab_train(path, 1000000, 2, &big, &nbig, &err);
    CHECK(rc == SAIL_OK && nbig < 1000000 && nbig > size,
          "an exhausted corpus stops early (%d entries)", nbig);
    sail_vocab_free(big, nbig);
    rc = sail_vocab_train(path, 10, 2, &big, &nbig, &err);
    CHECK(rc == SAIL_ERR_LIMIT, "a size below the alphabet is refused: %s", err.msg);
    rc = sail_vocab_train("/nonexistent", 100, 2, &big, &nbig, &err);
    CHECK(rc == SAIL_ERR_IO, "a missing corpus is an I/O error");
    sail_vocab_free(v, n);
    if (path == tmp) unlink(tmp);
    return test_done();
}
