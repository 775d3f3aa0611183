// sources: src/train/checkpoint.c src/train/dataset.c src/model/config.c src/model/inputs.c src/model/swin_cfg.c src/audio/fbank.c src/audio/logmel.c src/audio/fft.c src/kernels/spectral.c src/kernels/spectral_avx2.c src/kernels/spectral_avx512.c src/core/cpu.c src/text/spm.c src/text/spm_shim.cc src/format/gguf.c src/format/gguf_write.c src/text/bpe.c src/text/wordpiece.c src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/ftfy.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -ljansson -lutf8proc -lz -lsentencepiece -lstdc++ -lfftw3
/* fuzz_checkpoint.c: libFuzzer harness for training checkpoints
 * (sail_checkpoint_open on a file: GGUF, the model configuration and
 * vocabulary, the train.* keys, the batch plan, the three float blocks and
 * their checksum). An accepted checkpoint is then restored into a stand-in
 * model of the seed's layout (fuzz_tmodel.h) and its plan handed to
 * sail_plan_set over a dataset of 8 pairs, as a resumed run does; checks:
 * the plan's recorded position is inside it, and what restore copies stays
 * in the blocks. seed_checkpoint.c writes real checkpoints (sail's writer)
 * of that layout. */
#include "fuzz_file.h"
#include "fuzz_tmodel.h"

#include "kernels/kernels.h"
#include "train/checkpoint.h"

/* dataset.c's plans use the kernels only for hard negatives (not here). */
const sail_kernel_table *sail_kernels(void) { abort(); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("ckpt.gguf", data, size);
    sail_checkpoint ck;
    sail_error err;
    if (sail_checkpoint_open(path, &ck, &err) != SAIL_OK) return 0;
    if (ck.batch < 0 || ck.batch > ck.n_batches || ck.n_order < 0 || ck.epoch < 0 || ck.lo.n_dims < 1 ||
        ck.lo.n_dims > 4)
        abort();
    static sail_tmodel tm;
    float m[32], v[32];
    tm.cfg = ck.cfg;
    sail_checkpoint_restore(&ck, &tm, m, v, &err);
    sail_pair items[8];
    memset(items, 0, sizeof items);
    sail_dataset ds = {.items = items, .n = 8};
    sail_plan plan = {0};
    if (sail_plan_set(&ds, ck.order, ck.n_order, ck.bounds, ck.n_batches, &plan, &err) == SAIL_OK) {
        for (int i = 0; i < plan.n; i++)
            if (plan.order[i] < 0 || plan.order[i] >= ds.n) abort();
        sail_plan_free(&plan);
    }
    sail_checkpoint_close(&ck);
    return 0;
}
