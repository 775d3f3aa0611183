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
 */
#include "text/spm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap && !(b = realloc(b, cap = cap * 2 + 4096))) break;
        got = fread(b + n, 1, cap - n, f);
        n += got;
    } while (got);
    fclose(f);
    *len = n;
    return b;
}

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

int main(int argc, char **argv) {
    if (argc != 3 && argc != 7) {
        fprintf(stderr, "usage: spm_tool MODEL CTX [LOWER EOS UNK PAD] < RECORDS\n");
        return 2;
    }
    size_t len;
    char *proto = read_all(argv[1], &len);
    if (!proto) return 2;
    sail_spm_config cfg = {0};
    if (argc == 7) cfg = (sail_spm_config){atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6])};
    sail_error err = {0};
    sail_spm *s = sail_spm_new(proto, len, argc == 7 ? &cfg : NULL, &err);
    free(proto);
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
