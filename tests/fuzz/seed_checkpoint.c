// sources: src/train/checkpoint.c src/model/config.c src/model/inputs.c src/model/swin_cfg.c src/audio/fbank.c src/audio/logmel.c src/audio/fft.c src/kernels/spectral.c src/kernels/spectral_avx2.c src/kernels/spectral_avx512.c src/core/cpu.c src/text/spm.c src/text/spm_shim.cc src/format/gguf.c src/format/gguf_write.c src/text/bpe.c src/text/wordpiece.c src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/ftfy.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -lutf8proc -lz -lsentencepiece -lstdc++ -lfftw3
/* seed_checkpoint.c: writes training checkpoints with sail's own writer
 * (sail_checkpoint_save) for the stand-in model of fuzz_tmodel.h into the
 * corpus folder argv[1]: mid-epoch with a plan, at an epoch's start with an
 * empty one, and with per-part learning rates. */
#include "fuzz_tmodel.h"

#include "train/checkpoint.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    static sail_tmodel tm;
    fz_config(&tm.cfg);
    float m[32], v[32];
    for (int i = 0; i < 32; i++) tm.params[i] = 0.25f * i - 3, m[i] = 0.01f * i, v[i] = 0.001f * i;
    const char *toks[10] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d", "e", "f"};
    sail_vocab_kv vocab = {.tokens = (char **)toks, .n = 10};
    int32_t order[6] = {5, 2, 0, 1, 4, 3}, bounds[4] = {0, 2, 4, 6};
    sail_plan plan = {order, 6, bounds, 3}, empty = {NULL, 0, (int32_t[]){0}, 0};
    sail_hparams hp = {3e-4, 0.05, 2.5, 0.1, 0.9, 0.98, 1e-6, 7, 2, 11, 3, 1, 99, {0}, 0};
    sail_loss_opts lo = {2, {64, 16}, {1.0f, 0.5f}};
    sail_train_pos pos = {12345, 5, 2, 0xfeedfacecafebeefull, &plan}, start = {0, 0, 0, 1, &empty};
    sail_error err = {0};
    char path[512];
    int rc = 0;
    snprintf(path, sizeof path, "%s/seed0", argv[1]);
    rc |= sail_checkpoint_save(path, &tm, &vocab, &hp, &lo, &pos, m, v, &err) != SAIL_OK;
    snprintf(path, sizeof path, "%s/seed1", argv[1]);
    rc |= sail_checkpoint_save(path, &tm, &vocab, &hp, &lo, &start, m, v, &err) != SAIL_OK;
    hp.part_lr[0] = 1e-5f, hp.frozen = 2;
    snprintf(path, sizeof path, "%s/seed2", argv[1]);
    rc |= sail_checkpoint_save(path, &tm, &vocab, &hp, &lo, &pos, m, v, &err) != SAIL_OK;
    if (rc) fprintf(stderr, "seed_checkpoint: %s\n", err.msg);
    return rc;
}
