/* cmd_export.c: `sail export --format hf` writes a model imported from
 * Hugging Face (and possibly fine-tuned) back as a Hugging Face folder. */
#include "cli.h"
#include "convert/export.h"

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
    "architecture and are refused. See docs/IMPORT.md.\n\n"
    "  --format hf   the folder layout (hf, the only one; the default)\n"
    "  -o DIR        output folder (created if absent; the files are replaced)\n";

int cmd_export(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char *model = NULL, *out = NULL, *format = "hf";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (model) return cli_fail(2, "export", "more than one model given ('%s', '%s')\n%s", model, a, usage);
            model = a;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_fail(2, "export", "option %s needs a value\n%s", a, usage);
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--format")) format = v;
        else return cli_fail(2, "export", "unknown option '%s'\n%s", a, usage);
        i++;
    }
    if (!model || !out) return cli_fail(2, "export", "a model file and -o are required\n%s", usage);
    if (strcmp(format, "hf"))
        return cli_fail(2, "export", "--format %s: the format is hf (a Hugging Face folder)", format);
    sail_error err = {0};
    if (sail_export_hf(model, out, &err)) return cli_fail(1, "export", "%s", err.msg);
    fprintf(stderr, "sail export: wrote %s\n", out);
    return 0;
}
