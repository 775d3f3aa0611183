/* cmd_tokenize.c: `sail tokenize`: one JSON array of token ids per input
 * line, without special tokens, from a WordPiece vocab.txt, CLIP's BPE
 * merges file or SigLIP's spiece.model; or, with --model, exactly the
 * padded ids the model receives. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail tokenize --vocab FILE [--type wordpiece|bpe|spm]\n"
    "       sail tokenize --model MODEL.gguf\n\n"
    "Reads UTF-8 text from stdin, one text per line (lines end at '\\n' only;\n"
    "'\\r' and other separators stay in the text), and writes one JSON array of\n"
    "token ids per line, without [CLS]/[SEP] or start/end tokens.\n\n";

/* One of the two: a tokenizer file or a model's own tokenizer. */
typedef struct tokenizer {
    sail_tokenizer *file;
    sail_model *model;
} tokenizer;

static sail_status encode(const tokenizer *t, const char *s, size_t len, int32_t *ids, size_t cap,
                          size_t *n, sail_error *err) {
    if (t->model) {
        *n = (size_t)sail_model_text_context(t->model);
        return *n > cap ? SAIL_OK : sail_tokenize(t->model, s, len, ids, NULL, err);
    }
    return sail_tokenizer_encode(t->file, s, len, ids, cap, n, err);
}

static int run(const tokenizer *t) {
    char *line = NULL;
    size_t lcap = 0, cap = 1024, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    ssize_t got;
    sail_error err = {0};
    int rc = ids ? 0 : cli_fail(1, "tokenize", "out of memory");
    while (rc == 0 && (got = getline(&line, &lcap, stdin)) >= 0) {
        size_t len = (size_t)got - (got > 0 && line[got - 1] == '\n');
        if (encode(t, line, len, ids, cap, &n, &err) != SAIL_OK) {
            rc = cli_fail(1, "tokenize", "%s", err.msg);
            break;
        }
        if (n > cap) {  /* the first call told us the full count */
            int32_t *bigger = realloc(ids, n * sizeof *ids);
            if (!bigger) {
                rc = cli_fail(1, "tokenize", "out of memory");
                break;
            }
            ids = bigger;
            cap = n;
            encode(t, line, len, ids, cap, &n, &err);
        }
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        fputs("]\n", stdout);
    }
    if (rc == 0 && ferror(stdin)) rc = cli_fail(1, "tokenize", "error reading stdin");
    if (fflush(stdout) != 0 && rc == 0) rc = cli_fail(1, "tokenize", "error writing stdout");
    free(line);
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *type = NULL, *model = NULL;
    const cli_opt table[] = {
        CLI_OPT_STR("--vocab", &vocab, "FILE",
                    "wordpiece: a BERT vocab.txt; bpe: CLIP's merges\n"
                    "(bpe_simple_vocab_16e6.txt.gz); spm: SigLIP's spiece.model"),
        CLI_OPT_STR("--type", &type, "T",
                    "wordpiece (Chinese-CLIP's BERT tokenizer), bpe (OpenAI\n"
                    "CLIP's) or spm (SigLIP's SentencePiece, with SiglipTokenizer's\n"
                    "defaults: lower-case, </s> and <unk>, no eos); default: bpe\n"
                    "when FILE ends in .gz, spm when it ends in .model, else wordpiece"),
        CLI_OPT_STR("--model", &model, "M",
                    "use the model's own tokenizer and write what the model\n"
                    "receives: [CLS] ids [SEP], truncated to its context and\n"
                    "right-padded with [PAD] (special ids from the model file)"),
        CLI_OPT_END,
    };
    int status = cli_start("tokenize", usage, table, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (model && (vocab || type)) return cli_fail(2, "tokenize", "--model replaces --vocab and --type");
    if (!model && !vocab)
        return cli_fail(2, "tokenize", "--vocab FILE or --model M is required (see sail tokenize --help)");
    if (type && strcmp(type, "bpe") && strcmp(type, "wordpiece") && strcmp(type, "spm"))
        return cli_fail(2, "tokenize", "--type must be wordpiece, bpe or spm, not '%s'", type);
    sail_error err = {0};
    tokenizer t = {0};
    if (model) t.model = sail_model_load(model, NULL, &err);
    else t.file = sail_tokenizer_load(vocab, type, &err);
    if (!t.model && !t.file) return cli_fail(1, "tokenize", "%s", err.msg);
    int rc = run(&t);
    sail_model_free(t.model);
    sail_tokenizer_free(t.file);
    return rc;
}
