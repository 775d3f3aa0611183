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

static const void *open_bpe(int *vocab) {
    const char *dir = getenv("SAIL_GOLDEN");
    char path[4096];
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir ? dir : "../shared/golden");
    sail_bpe *bpe = sail_bpe_load(path, 0, NULL);
    if (!bpe) {
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
    *vocab = sail_bpe_vocab_size(bpe);
    return bpe;
}

static sail_status encode(const void *t, const char *s, size_t len, int32_t *ids, size_t cap, size_t *n,
                          sail_error *e) {
    return sail_bpe_encode(t, s, len, ids, cap, n, e);
}

static tok_wrapped clip = {.open = open_bpe, .encode = encode, .context = sail_bpe_context, .small = 4,
                           .start = 1, .end = 2, .pad = 0, .ctx = 77};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return tok_fuzz_wrapped(&clip, data, size); }
