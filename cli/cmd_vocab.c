/* cmd_vocab.c: `sail vocab train`: build a WordPiece vocabulary from a
 * UTF-8 corpus (algorithm in src/text/vocab_train.h). */
#include "cli.h"

#include "text/vocab_train.h"
#include "text/wordpiece.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: sail vocab train --corpus FILE --size N -o VOCAB [--min-frequency K]\n\n"
            "Trains a WordPiece vocabulary (BERT pre-tokenisation, \"##\" continuations)\n"
            "from the lines of a UTF-8 corpus and writes it one token per line.\n"
            "Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK], then every character of the\n"
            "corpus, then merged pieces in the order they were learned.\n\n"
            "  --corpus FILE        training text, one document per line\n"
            "  --size N             vocabulary size (fewer entries when the corpus runs\n"
            "                       out of pairs seen K times)\n"
            "  -o VOCAB             output vocab.txt\n"
            "  --min-frequency K    least count of a pair to merge (default 2)\n");
}

int cmd_vocab(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || argc < 2) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "train"))
        return cli_fail(2, "vocab", "unknown action '%s' (only 'train'; see sail vocab --help)", argv[1]);
    const char *corpus = NULL, *out = NULL;
    long size = 0, minf = 2;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_fail(2, "vocab", "%s needs a value (see sail vocab --help)", a);
        i++;
        if (!strcmp(a, "--corpus")) corpus = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--size")) {
            if (cli_parse_int(v, 1, 1L << 30, &size))
                return cli_fail(2, "vocab", "--size must be an integer from 1 to %ld, not '%s'", 1L << 30, v);
        } else if (!strcmp(a, "--min-frequency")) {
            if (cli_parse_int(v, 1, 1L << 30, &minf))
                return cli_fail(2, "vocab", "--min-frequency must be a positive integer, not '%s'", v);
        } else {
            return cli_fail(2, "vocab", "unexpected argument '%s' (see sail vocab --help)", a);
        }
    }
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
