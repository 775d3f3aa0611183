// sources: src/core/error.c
/* seed_pickle.c: writes state-dict pickles as torch.save lays them out
 * (protocol 2: OrderedDict, _rebuild_tensor_v2, FloatStorage/HalfStorage
 * persistent ids, BUILD of _metadata; seed_pickle.h) into the corpus
 * folder argv[1]. */
#include "seed_pickle.h"
#include "seed_write.h"

static int seed(const char *dir, int i, const char *storage, int tensors) {
    static seed_pkl p;
    seed_state_dict(&p, storage, tensors, tensors);
    return seed_write(dir, (size_t)i, p.b, p.n);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return seed(argv[1], 0, "ctorch\nFloatStorage\n", 1) | seed(argv[1], 1, "ctorch\nHalfStorage\n", 2) |
           seed(argv[1], 2, "ctorch\nBFloat16Storage\n", 3);
}
