/* cmd_init.c: `sail init` creates a model with seeded random weights. */
#include "cli.h"

#include <stdio.h>

static const char usage[] =
    "usage: sail init --config tiny|base|large --vocab vocab.txt [--dim 256|512|768]\n"
    "                 [--seed N] -o model.gguf\n\n"
    "Creates a sail model with seeded random weights (the same seed gives the same\n"
    "file). The WordPiece vocabulary (one token per line, BERT format, with [PAD],\n"
    "[UNK], [CLS] and [SEP]) is stored in the model file.\n\n";

int cmd_init(int argc, char **argv) {
    sail_init_options o = {.config = NULL, .vocab_path = NULL, .dim = 0};
    const char *out = NULL;
    long seed = 1;
    const cli_opt table[] = {
        CLI_OPT_STR("--config", &o.config, "NAME", "architecture preset (see docs/ARCHITECTURE.md)"),
        CLI_OPT_STR("--vocab", &o.vocab_path, "FILE", "vocab.txt to store in the model"),
        CLI_OPT_DIM(&o.dim, "output dimension: 256, 512 or 768 (default 512)"),
        CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffL, "N", "random seed (default 1)"),
        CLI_OPT_STR("-o|--output", &out, "FILE", "output model file"),
        CLI_OPT_END,
    };
    int rc = cli_start("init", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    o.seed = (uint64_t)seed;
    if (!o.config || !o.vocab_path || !out)
        return cli_fail(2, "init", "--config, --vocab and -o are required (see sail init --help)");
    sail_error err = {0};
    if (sail_model_init(&o, out, &err)) return cli_fail(1, "init", "%s", err.msg);
    fprintf(stderr, "sail init: wrote %s (config %s, seed %llu, random weights)\n", out, o.config,
            (unsigned long long)o.seed);
    return 0;
}
