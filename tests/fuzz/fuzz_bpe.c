// sources: src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/ftfy.c src/text/bpe.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lutf8proc -lz
/* fuzz_bpe.c: libFuzzer harness for CLIP's BPE tokenizer (ftfy subset,
 * html.unescape, pre-tokeniser, merges) on arbitrary bytes. Loads the real
 * merges from $SAIL_GOLDEN or ../shared/golden when present, else a tiny
 * merges file written to a temporary path. Checks stable counts across
 * buffer sizes and ids in range. */
#include "text/bpe.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!bpe) init();
    int32_t small[4];
    size_t n = 0, n2 = 0;
    if (sail_bpe_encode(bpe, (const char *)data, size, small, 4, &n, NULL) != SAIL_OK) abort();
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return 0;
    if (sail_bpe_encode(bpe, (const char *)data, size, ids, n, &n2, NULL) != SAIL_OK || n2 != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= sail_bpe_vocab_size(bpe)) abort();
    if (n && memcmp(small, ids, (n < 4 ? n : 4) * sizeof *ids)) abort();
    int32_t ctx[77];
    int len;
    if (sail_bpe_context(ids, n, 1, 2, 0, 77, ctx, &len, NULL) != SAIL_OK || ctx[len - 1] != 2)
        abort();
    free(ids);
    return 0;
}
