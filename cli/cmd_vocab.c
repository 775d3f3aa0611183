/* cmd_vocab.c: `sail vocab train`: build a WordPiece vocabulary from a
 * UTF-8 corpus (algorithm in src/text/vocab_train.h). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sail vocab train --corpus FILE --size N -o VOCAB [--min-frequency K]\n\n"
    "Trains a WordPiece vocabulary (BERT pre-tokenisation, \"##\" continuations)\n"
    "from the lines of a UTF-8 corpus and writes it one token per line.\n"
    "Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK], then every character of the\n"
    "corpus, then merged pieces in the order they were learned.\n\n";

int cmd_vocab(int argc, char **argv) {
    const char *corpus = NULL, *out = NULL;
    long size = 0, minf = 2;
    const cli_opt table[] = {
        CLI_OPT_STR("--corpus", &corpus, "FILE", "training text, one document per line"),
        CLI_OPT_LONG("--size", &size, 1, 1L << 30, "N",
                     "vocabulary size (fewer entries when the corpus runs\nout of pairs seen K times)"),
        CLI_OPT_STR("-o", &out, "VOCAB", "output vocab.txt"),
        CLI_OPT_LONG("--min-frequency", &minf, 1, 1L << 30, "K", "least count of a pair to merge (default 2)"),
        CLI_OPT_END,
    };
    const cli_spec spec = {"vocab", usage, table, NULL};
    if (argc < 2) {
        cli_help(&spec, stderr);
        return 2;
    }
    if (!cli_wants_help(argc, argv) && strcmp(argv[1], "train"))
        return cli_fail(2, "vocab", "unknown action '%s' (only 'train'; see sail vocab --help)", argv[1]);
    int status = cli_parse(&spec, argc, argv, 2);
    if (status) return status == CLI_HELP ? 0 : status;
    if (!corpus || !out || !size)
        return cli_fail(2, "vocab", "--corpus, --size and -o are required (see sail vocab --help)");
    char **tokens;
    int n;
    sail_error err = {0};
    if (sail_vocab_train(corpus, (int)size, (int)minf, &tokens, &n, &err) != SAIL_OK)
        return cli_fail(1, "vocab", "%s", err.msg);
    sail_status rc = sail_vocab_write(out, tokens, n, &err);
    sail_vocab_free(tokens, n);
    if (rc != SAIL_OK) return cli_fail(1, "vocab", "%s", err.msg);
    if (n < size)
        fprintf(stderr, "sail vocab: the corpus ran out of pairs: %d entries instead of %ld\n", n, size);
    return 0;
}
