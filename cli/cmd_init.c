/* cmd_init.c: `sail init` creates a model with seeded random weights. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sail init --config tiny|base|large --vocab vocab.txt [--dim 256|512|768]\n"
    "                 [--seed N] -o model.gguf\n\n"
    "Creates a sail model with seeded random weights (the same seed gives the same\n"
    "file). The WordPiece vocabulary (one token per line, BERT format, with [PAD],\n"
    "[UNK], [CLS] and [SEP]) is stored in the model file.\n\n"
    "  --config NAME  architecture preset (see docs/ARCHITECTURE.md)\n"
    "  --vocab FILE   vocab.txt to store in the model\n"
    "  --dim D        output dimension (default 512)\n"
    "  --seed N       random seed (default 1)\n"
    "  -o FILE        output model file\n";

int cmd_init(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    sail_init_options o = {.config = NULL, .vocab_path = NULL, .dim = 0, .seed = 1};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!v) return cli_fail(2, "init", "option %s needs a value\n%s", a, usage);
        if (!strcmp(a, "--config")) o.config = v;
        else if (!strcmp(a, "--vocab")) o.vocab_path = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--dim")) {
            if (cli_parse_int(v, 1, 8192, &n)) return cli_fail(2, "init", "--dim needs 256, 512 or 768, not '%s'", v);
            o.dim = (int)n;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_int(v, 0, 0x7fffffffL, &n)) return cli_fail(2, "init", "--seed needs a non-negative integer, not '%s'", v);
            o.seed = (uint64_t)n;
        } else
            return cli_fail(2, "init", "unknown option '%s'\n%s", a, usage);
        i++;
    }
    if (!o.config || !o.vocab_path || !out)
        return cli_fail(2, "init", "--config, --vocab and -o are required\n%s", usage);
    sail_error err = {0};
    if (sail_model_init(&o, out, &err)) return cli_fail(1, "init", "%s", err.msg);
    fprintf(stderr, "sail init: wrote %s (config %s, seed %llu, random weights)\n", out, o.config,
            (unsigned long long)o.seed);
    return 0;
}
