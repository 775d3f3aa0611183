// sources: src/data/stamps_txt.c
/* fuzz_stamp_txt.c: libFuzzer harness for the Tux Paint description parser
 * on arbitrary bytes: it must never read or write out of bounds; an English
 * text is returned exactly when the result is 0, and both texts point into
 * the buffer, non-empty, without a newline. */
#include "data/data.h"

#include <stdlib.h>
#include <string.h>

static int inside(const char *p, const char *buf, size_t size) {
    return p >= buf && p + strlen(p) <= buf + size && *p && !strchr(p, '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *en = (const char *)1, *zh = (const char *)1;
    int r = sail_stamp_txt_parse(buf, &en, &zh);
    if ((r == 0) != (en != NULL) || (r != 0 && r != -1)) abort();
    if (en && !inside(en, buf, size)) abort();
    if (zh && !inside(zh, buf, size)) abort();
    free(buf);
    return 0;
}
