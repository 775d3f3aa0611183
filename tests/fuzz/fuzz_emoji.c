// sources: src/data/emoji_parse.c
/* fuzz_emoji.c: libFuzzer harness for the emoji-test.txt line parser on
 * arbitrary bytes: it must never read or write out of bounds, and an
 * accepted line must hold 1..16 valid, non-zero scalar values and a name
 * that fits its buffer. */
#include "data/data.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *line = malloc(size + 1);
    if (!line) return 0;
    memcpy(line, data, size);
    line[size] = 0;
    uint32_t cp[SAIL_EMOJI_MAX_CPS];
    int n = -1;
    char name[24];
    int r = sail_emoji_test_parse(line, cp, &n, name, sizeof name);
    if (r == 1) {
        if (n < 1 || n > SAIL_EMOJI_MAX_CPS || strlen(name) >= sizeof name || !name[0]) abort();
        for (int i = 0; i < n; i++)
            if (!cp[i] || cp[i] > 0x10FFFF || (cp[i] >= 0xD800 && cp[i] <= 0xDFFF)) abort();
    } else if (r != 0 && r != -1) {
        abort();
    }
    free(line);
    return 0;
}
