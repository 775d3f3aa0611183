// sources: src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/ftfy.c src/text/bpe.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lutf8proc -lz
/* fuzz_bpe.c: libFuzzer harness for CLIP's BPE tokenizer (ftfy subset,
 * html.unescape, pre-tokeniser, merges) on arbitrary bytes. Loads the real
 * merges from $SAIL_GOLDEN or ../shared/golden when present, else a tiny
 * merges file written to a temporary path. Checks stable counts across
 * buffer sizes and ids in range. */
#include "text/bpe.h"
#include "tok_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sail_bpe *bpe;

static void init(void) {
    const char *dir = getenv("SAIL_GOLDEN");
    char path[4096];
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir ? dir : "../shared/golden");
    bpe = sail_bpe_load(path, 0, NULL);
    if (bpe) return;
    char tmp[] = "/tmp/fuzz_bpe_XXXXXX";
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) abort();
    fputs("#version: 0.2\nt h\nth e</w>\na a\naa a</w>\n\xC4\xA0 a\n", f);
    fclose(f);
    bpe = sail_bpe_load(tmp, 0, NULL);
    unlink(tmp);
    if (!bpe) abort();
}

static sail_status encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap, size_t *n,
                          sail_error *e) {
    return sail_bpe_encode(t, s, len, ids, cap, n, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!bpe) init();
    size_t n;
    int32_t *ids = tok_check(encode, bpe, sail_bpe_vocab_size(bpe), 4, data, size, &n);
    if (!ids) return 0;
    int32_t ctx[77];
    int len;
    if (sail_bpe_context(ids, n, 1, 2, 0, 77, ctx, &len, NULL) != SAIL_OK || ctx[len - 1] != 2)
        abort();
    free(ids);
    return 0;
}
