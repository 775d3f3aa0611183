// sources: src/core/error.c
/* seed_pickle.c: writes state-dict pickles as torch.save lays them out
 * (protocol 2: OrderedDict, _rebuild_tensor_v2, FloatStorage/HalfStorage
 * persistent ids, BUILD of _metadata) into the corpus folder argv[1]. */
#include "seed_write.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint8_t b[1024];
static size_t n;

static void raw(const void *s, size_t k) { memcpy(b + n, s, k), n += k; }
static void lit(const char *s) { raw(s, strlen(s)); }
static void str(const char *s) {
    uint32_t k = (uint32_t)strlen(s);
    raw("X", 1), raw(&k, 4), raw(s, k);
}

static int seed(const char *dir, int i, const char *storage, int tensors) {
    n = 0;
    lit("\x80\x02" "ccollections\nOrderedDict\nq\x01)Rq\x02(");
    for (int t = 0; t < tensors; t++) {
        char name[16], key[8];
        snprintf(name, sizeof name, "layer.%d.weight", t);
        snprintf(key, sizeof key, "%d", t);
        str(name);
        lit("ctorch._utils\n_rebuild_tensor_v2\nq\x03((");
        str("storage");
        lit(storage);
        str(key);
        str("cpu");
        lit("K\x06tQK\x02K\x02K\x02\x86K\x02K\x01\x86\x89" "ccollections\nOrderedDict\n)RtR");
    }
    lit("u}q\x09" "b.");
    return seed_write(dir, (size_t)i, b, n);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return seed(argv[1], 0, "ctorch\nFloatStorage\n", 1) | seed(argv[1], 1, "ctorch\nHalfStorage\n", 2) |
           seed(argv[1], 2, "ctorch\nBFloat16Storage\n", 3);
}
