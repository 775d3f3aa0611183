/* main.c: `sail` entry point; dispatches to one file per subcommand. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"bench", cmd_bench, "measure embedding throughput and memory of a model"},
    {"convert", cmd_convert, "import a Hugging Face CLIP, Chinese-CLIP, BERT or ViT folder"},
    {"export", cmd_export, "write an imported (or fine-tuned) model back as a Hugging Face folder"},
    {"embed", cmd_embed, "embed texts, images, audio, video or joint inputs into vectors"},
    {"info", cmd_info, "show a model file's configuration, parameters and tensors"},
    {"init", cmd_init, "create a model with seeded random weights"},
    {"tokenize", cmd_tokenize, "turn text lines into token ids (WordPiece or CLIP BPE)"},
    {"vocab", cmd_vocab, "train a WordPiece vocabulary from a text corpus"},
    {"preprocess", cmd_preprocess, "write an image as the float tensor a model receives (.npy)"},
    {"train", cmd_train, "train a new model on text-image / text-text pairs (JSONL)"},
    {"finetune", cmd_finetune, "continue training a model file on new pairs"},
    {"compose", cmd_compose, "build a fused model from pretrained text and vision towers"},
    {"eval", cmd_eval, "retrieval recall R@1/5/10 of a model on pairs (JSONL)"},
    {"quantize", cmd_quantize, "store a model's weights as f16, bf16 or q8_0"},
    {"data", cmd_data, "generate training data: shapes scenes or Noto emoji, with en/zh captions"},
    {"index", cmd_index, "build a vector index: add folders/JSONL/stdin, info, compact, export"},
    {"search", cmd_search, "search an index with a text, an image or an audio clip (--json, --html)"},
    {"serve", cmd_serve, "serve embeddings, search, metrics and a demo page over HTTP"},
    {"classify", cmd_classify, "zero-shot or trained (logistic regression) classification"},
    {"cluster", cmd_cluster, "k-means or DBSCAN clusters of embeddings, with a PNG plot"},
    {"align", cmd_align, "bind subtitle lines to video frames (optionally monotonic)"},
    {"reduce", cmd_reduce, "PCA: fit a projection to fewer dimensions and apply it"},
    {"recommend", cmd_recommend, "rank unseen index items for a user's liked items"},
};

int cli_fail(int status, const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "sail %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

int cli_parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "sail %s: omni-modal embeddings (text, images, video, audio) in one vector space\n\n"
               "usage: sail <command> [options]   (sail <command> --help for details)\n\n",
            sail_version());
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sail %s (kernels: %s)\n", sail_version(), sail_kernel_level());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sail: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
