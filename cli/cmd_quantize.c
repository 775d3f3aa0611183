/* cmd_quantize.c: `sail quantize` stores a model's weights as f16/bf16/q8_0. */
#include "cli.h"

#include <stdio.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: sail quantize IN.gguf --type f16|bf16|q8_0|f32 -o OUT.gguf\n\n"
    "Rewrites a model with its weight matrices stored in a smaller type:\n"
    "  f16, bf16  2 bytes a weight (about 50% of f32)\n"
    "  q8_0       blocks of 32 int8 weights with one f16 scale (about 27%)\n"
    "Norms and biases stay f32. sail uses the weights in place in their stored\n"
    "type (no copy at load), so this saves disk, download size and memory; f16\n"
    "and bf16 compute in f32, q8_0 in int8 with activations quantised on the fly.\n\n";

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long long)st.st_size;
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    const cli_opt table[] = {
        CLI_OPT_STR("--type", &type, "T", "f16, bf16, q8_0 or f32"),
        CLI_OPT_STR("-o|--output", &out, "OUT", "the quantized model file"),
        CLI_OPT_STR("IN.gguf", &in, NULL, NULL),
        CLI_OPT_END,
    };
    int rc = cli_start("quantize", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    if (!in || !out || !type) return cli_fail(2, "quantize", "IN, --type and -o are required (see sail quantize --help)");
    sail_error err = {0};
    if (sail_model_quantize(in, out, type, &err)) return cli_fail(1, "quantize", "%s", err.msg);
    long long a = file_size(in), b = file_size(out);
    fprintf(stderr, "sail quantize: wrote %s (%s): %lld bytes, %.1f%% of %s\n", out, type, b,
            a > 0 ? 100.0 * (double)b / (double)a : 0.0, in);
    return 0;
}
