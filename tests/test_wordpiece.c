/* test_wordpiece.c: the BERT WordPiece tokenizer against every line of
 * Chinese-CLIP's golden output, plus edge cases (word length limit, invalid
 * UTF-8, model-input helper, vocab loading quirks). */
#include "test.h"
#include "golden_jsonl.h"
#include "text/wordpiece.h"

static sail_wordpiece *load_golden_vocab(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/chinese_clip_vocab.txt", dir);
    char **tok;
    int n;
    sail_error err = {0};
    if (sail_vocab_read(path, &tok, &n, &err) != SAIL_OK) {
        printf("# %s\n", err.msg);
        return NULL;
    }
    CHECK(n == 21128, "vocab has 21128 lines (got %d)", n);
    CHECK(!strcmp(tok[343], "") && !strcmp(tok[13502], "##"),
          "U+2028 lines strip like Python (id 343 \"\", id 13502 \"##\")");
    sail_wordpiece *wp = sail_wordpiece_new((const char *const *)tok, n, &err);
    sail_vocab_free(tok, n);
    return wp;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    printf("#   %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("\n");
}

static void test_golden(const sail_wordpiece *wp, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bert_wordpiece_golden.jsonl", dir);
    golden_line *g = NULL;
    long n = golden_load(path, &g);
    CHECK(n == 476, "golden file has 476 lines (got %ld)", n);
    long match = 0;
    for (long i = 0; i < n; i++) {
        int32_t ids[4096];
        size_t n_ids = 0;
        sail_error err = {0};
        sail_status rc = sail_wordpiece_encode(wp, g[i].text, g[i].text_len, ids, 4096, &n_ids, &err);
        bool ok = rc == SAIL_OK && n_ids == g[i].n_ids &&
                  !memcmp(ids, g[i].ids, n_ids * sizeof *ids);
        if (ok) {
            match++;
        } else {
            printf("# line %ld differs: %.80s\n", i + 1, g[i].text);
            print_ids("want", g[i].ids, g[i].n_ids);
            print_ids("got ", ids, SAIL_MIN(n_ids, (size_t)4096));
        }
        golden_free(&g[i]);
    }
    free(g);
    CHECK(match == n, "wordpiece matches golden ids on %ld/%ld lines", match, n);
}

static size_t enc(const sail_wordpiece *wp, const char *s, size_t len, int32_t *ids, size_t cap) {
    size_t n = 0;
    sail_status rc = sail_wordpiece_encode(wp, s, len, ids, cap, &n, NULL);
    return rc == SAIL_OK ? n : (size_t)-1;
}

static void test_word_limit(const sail_wordpiece *wp) {
    char w[202];
    memset(w, 'a', sizeof w);
    int32_t ids[256];
    size_t n200 = enc(wp, w, 200, ids, 256);
    CHECK(n200 >= 1 && ids[0] != 100, "a 200-char word is split into pieces (%zu)", n200);
    size_t n201 = enc(wp, w, 201, ids, 256);
    CHECK(n201 == 1 && ids[0] == 100, "a 201-char word is [UNK]");
}

static void test_capacity(const sail_wordpiece *wp) {
    const char *s = "a photo of a cat";
    int32_t all[16], two[2] = {-7, -7};
    size_t n = enc(wp, s, strlen(s), all, 16);
    size_t m = enc(wp, s, strlen(s), two, 2);
    CHECK(n == 5 && m == 5 && two[0] == all[0] && two[1] == all[1],
          "a short buffer gets the first ids and the full count");
    CHECK(enc(wp, "", 0, NULL, 0) == 0, "empty text gives no ids");
}

/* Invalid UTF-8 decodes to U+FFFD, which _clean_text drops: so each case
 * must tokenize exactly like the text with the bad bytes removed. */
static void test_invalid_utf8(const sail_wordpiece *wp) {
    static const char *bad[] = {
        "ab\xC0\xAF" "cd", "ab\xE0\x80\xAF" "cd", "ab\xED\xA0\x80" "cd", "ab\xF4\x90\x80\x80" "cd",
        "ab\xF5\xFF" "cd", "ab\xE4\xB8" "cd", "ab\x80\xBF" "cd", "ab\xF0\x9F\x98" "cd",
        "ab\xC1\x81" "cd", "ab\xF8\x88\x80\x80\x80" "cd",
    };
    int32_t want[8], got[8];
    size_t nw = enc(wp, "abcd", 4, want, 8);
    int same = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t ng = enc(wp, bad[i], strlen(bad[i]), got, 8);
        same += ng == nw && !memcmp(got, want, nw * sizeof *got);
    }
    CHECK(same == (int)(sizeof bad / sizeof *bad), "invalid UTF-8 is dropped (%d/%zu)", same,
          sizeof bad / sizeof *bad);
    /* A truncated lead byte before an ideograph must not swallow it. */
    size_t n = enc(wp, "\xE4\xB8\xE4\xB8\xAD", 5, got, 8);
    CHECK(n == 1 && got[0] == sail_wordpiece_id(wp, "\xE4\xB8\xAD"),
          "a truncated sequence is replaced without eating the next character");
}

static void test_context(void) {
    int32_t ids[60], out[52];
    for (int i = 0; i < 60; i++) ids[i] = 1000 + i;
    int len = 0;
    CHECK(sail_wordpiece_context(ids, 3, 101, 102, 0, 52, out, &len, NULL) == SAIL_OK && len == 5 &&
              out[0] == 101 && out[1] == 1000 && out[3] == 1002 && out[4] == 102 && out[5] == 0 &&
              out[51] == 0,
          "context: [CLS] ids [SEP] then [PAD]");
    CHECK(sail_wordpiece_context(ids, 60, 101, 102, 0, 52, out, &len, NULL) == SAIL_OK && len == 52 &&
              out[50] == 1049 && out[51] == 102,
          "context: long input keeps the first 50 pieces and ends with [SEP]");
    CHECK(sail_wordpiece_context(ids, 1, 101, 102, 0, 1, out, &len, NULL) == SAIL_ERR_INVALID_ARG,
          "context: ctx < 2 is rejected");
}

static void test_small_vocab(void) {
    const char *v[] = {"[PAD]", "[UNK]", "un", "##aff", "##able", "a", "##b", "!"};
    sail_error err = {0};
    sail_wordpiece *wp = sail_wordpiece_new(v, 8, &err);
    int32_t ids[16];
    size_t n = enc(wp, "UnAffable ab! zz", 16, ids, 16);
    CHECK(n == 7 && ids[0] == 2 && ids[1] == 3 && ids[2] == 4 && ids[3] == 5 && ids[4] == 6 &&
              ids[5] == 7 && ids[6] == 1,
          "greedy longest match with ## and [UNK] for an unmatched word");
    sail_wordpiece_free(wp);
    const char *nounk[] = {"a"};
    CHECK(!sail_wordpiece_new(nounk, 1, &err) && err.status == SAIL_ERR_FORMAT,
          "a vocabulary without [UNK] is rejected: %s", err.msg);
    sail_wordpiece_free(NULL);
}

int main(void) {
    test_context();
    test_small_vocab();
    const char *dir = golden_dir();
    if (!dir) {
        SKIP("golden files not found (../shared/golden or $SAIL_GOLDEN): golden WordPiece tests");
        return test_done();
    }
    sail_wordpiece *wp = load_golden_vocab(dir);
    CHECK(wp != NULL, "Chinese-CLIP vocab loads");
    if (wp) {
        CHECK(sail_wordpiece_size(wp) == 21128 && sail_wordpiece_id(wp, "[CLS]") == 101 &&
                  !strcmp(sail_wordpiece_token(wp, 102), "[SEP]"),
              "id <-> token maps");
        test_golden(wp, dir);
        test_word_limit(wp);
        test_capacity(wp);
        test_invalid_utf8(wp);
    }
    sail_wordpiece_free(wp);
    return test_done();
}
