// sources: src/convert/hf_config.c src/convert/hf_clip.c src/convert/hf_bert.c src/text/wordpiece.c src/text/bpe.c src/text/utf8.c src/text/pyunicode.c src/text/strmap.c src/text/ftfy.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -ljansson -lutf8proc -lz
/* fuzz_hfconfig.c: libFuzzer harness for the Hugging Face files `sail
 * convert` reads before any weight: config.json (CLIP, Chinese-CLIP, BERT
 * and ViT families), preprocessor_config.json, a WordPiece vocab.txt and a
 * CLIP BPE merges file. The first byte picks the file (% 4, in that order;
 * bit 2 picks Chinese-CLIP / squash), the rest is its text, written into a
 * model folder. What an accepted file configures is checked against the
 * ranges the readers promise, and a tokenizer built from an accepted
 * vocabulary encodes a text to ids in range. (tokenizer_config.json and
 * vocab.json are read by static code of convert.c, reachable only through a
 * whole sail_convert: not fuzzed here.) */
#include "fuzz_file.h"

#include <math.h>

#include "convert/convert.h"
#include "text/bpe.h"
#include "text/wordpiece.h"
#include "tok_check.h"

static void check_tower(const sail_tower *t) {
    if (t->layers && (t->layers < 1 || t->layers > 256 || t->width < 1 || t->heads < 1 || t->width % t->heads ||
                      !isfinite(t->eps)))
        abort();
}

static void config(const char *dir, int chinese) {
    sail_error err;
    json_t *cfg = hf_json(dir, "config.json", 1, &err);
    if (!cfg) return;
    hf_model m;
    if (hf_clip_config(cfg, chinese, &m, &err) == SAIL_OK) {
        check_tower(&m.cfg.text);
        check_tower(&m.cfg.vision);
    }
    if (hf_bert_config(cfg, NULL, &m, &err) == SAIL_OK) check_tower(&m.cfg.text);
    if (hf_vit_config(cfg, NULL, &m, &err) == SAIL_OK) check_tower(&m.cfg.vision);
    json_decref(cfg);
}

static void preprocessor(const char *dir, int squash) {
    sail_config c;
    memset(&c, 0, sizeof c);
    c.image_size = 224;
    c.resample = 3;
    sail_error err;
    if (hf_preprocessor(dir, squash, &c, &err) != SAIL_OK) return;
    if (c.pre_size < 1 || c.pre_size > 4096 || c.pre_crop < 0 || c.pre_crop > c.pre_size ||
        (c.resample != 2 && c.resample != 3))
        abort();
}

static const char text[] = "Hello, WORLD! caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 a photo of 2 cats";

static void vocab(const char *path) {
    char **toks = NULL;
    int n = 0;
    sail_error err;
    if (sail_vocab_read(path, &toks, &n, &err) != SAIL_OK) return;
    sail_wordpiece *wp = sail_wordpiece_new((const char *const *)toks, n, &err);
    if (wp) {
        int32_t ids[64];
        size_t k = 0;
        if (sail_wordpiece_encode(wp, text, sizeof text - 1, ids, 64, &k, &err) == SAIL_OK)
            tok_ids_in_range(ids, k < 64 ? k : 64, sail_wordpiece_size(wp));
        sail_wordpiece_free(wp);
    }
    sail_vocab_free(toks, n);
}

static void merges(const char *path) {
    sail_error err;
    sail_bpe *b = sail_bpe_load(path, 0, &err);
    if (!b) return;
    int32_t ids[64];
    size_t k = 0;
    if (sail_bpe_encode(b, text, sizeof text - 1, ids, 64, &k, &err) == SAIL_OK)
        tok_ids_in_range(ids, k < 64 ? k : 64, sail_bpe_vocab_size(b));
    sail_bpe_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 4, flag = data[0] >> 2 & 1;
    static const char *const names[4] = {"config.json", "preprocessor_config.json", "vocab.txt", "merges.txt"};
    const char *path = fuzz_file(names[mode], data + 1, size - 1);
    if (mode == 0) config(fuzz_dir(), flag);
    else if (mode == 1) preprocessor(fuzz_dir(), flag);
    else if (mode == 2) vocab(path);
    else merges(path);
    return 0;
}
