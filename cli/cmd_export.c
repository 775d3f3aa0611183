/* cmd_export.c: `sail export --format hf` writes a model imported from
 * Hugging Face (and possibly fine-tuned) back as a Hugging Face folder. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sail export --format hf MODEL.gguf -o DIR\n\n"
    "Writes a model converted from a Hugging Face CLIP, Chinese-CLIP, BERT or ViT\n"
    "folder (sail convert), fine-tuned or not, back as a Hugging Face folder that\n"
    "transformers loads unchanged: config.json, model.safetensors (Hugging Face's\n"
    "tensor names and shapes; f32, or f16 / bf16 as stored; q8_0 widened to f32),\n"
    "the tokenizer (vocab.json + merges.txt for CLIP, vocab.txt for WordPiece, with\n"
    "tokenizer_config.json) and preprocessor_config.json. `sail convert DIR` gives\n"
    "the model back. Native sail models (fusion layers) have no Hugging Face\n"
    "architecture and are refused. See docs/IMPORT.md.\n\n";

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *format = "hf";
    const cli_opt table[] = {
        CLI_OPT_STR("MODEL", &model, NULL, NULL),
        CLI_OPT_STR("--format", &format, "hf", "the folder layout (hf, the only one; the default)"),
        CLI_OPT_STR("-o|--output", &out, "DIR", "output folder (created if absent; the files are replaced)"),
        CLI_OPT_END,
    };
    int rc = cli_start("export", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    if (!model || !out) return cli_fail(2, "export", "a model file and -o are required (see sail export --help)");
    if (strcmp(format, "hf"))
        return cli_fail(2, "export", "--format %s: the format is hf (a Hugging Face folder)", format);
    sail_error err = {0};
    if (sail_export_hf(model, out, &err)) return cli_fail(1, "export", "%s", err.msg);
    fprintf(stderr, "sail export: wrote %s\n", out);
    return 0;
}
