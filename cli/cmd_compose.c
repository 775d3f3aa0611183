/* cmd_compose.c: `sail compose`, a fused model from pretrained towers. */
#include "cli.h"
#include "train/compose.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sail compose --text T.gguf --vision V.gguf -o OUT.gguf\n"
    "                    [--fusion-layers N] [--fusion-width W] [--perceiver L]\n"
    "                    [--dim D] [--seed S] [--scratch]\n\n"
    "Builds a sail model from pretrained towers, as the SAIL-Embedding report\n"
    "starts: the text tower (and tokenizer) of T, the vision tower (and image\n"
    "preprocessing) of V, and fresh fusion layers, pooling and projection. T and V\n"
    "may be the same file, a sail model, or a converted BERT, Chinese-CLIP (text)\n"
    "or ViT; CLIP's towers are refused for now. Then train the new parts with the\n"
    "towers frozen, and later all at a low rate (docs/TRAINING.md):\n"
    "  sail finetune --model_name_or_path OUT.gguf --freeze text,vision ...\n\n"
    "  --text T          model whose text tower is taken\n"
    "  --vision V        model whose vision tower is taken\n"
    "  -o OUT            the composed model file\n"
    "  --fusion-layers N fresh fusion layers (default 2; 0: pool the projected tokens)\n"
    "  --fusion-width W  their width (default: the wider tower's)\n"
    "  --perceiver L     L learned queries compress the image tokens (default 0: none)\n"
    "  --dim D           output dimension (default 512)\n"
    "  --seed S          initialisation of the fresh parts (default 42)\n"
    "  --scratch         every weight fresh: the same architecture untrained (a baseline)\n";

int cmd_compose(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    sail_compose_opts o = {.fusion_layers = 2, .dim = 512, .seed = 42};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "--scratch")) { o.scratch = 1; continue; }
        if (!v) return cli_fail(2, "compose", "option %s needs a value (see sail compose --help)", a);
        int bad = 0;
        if (!strcmp(a, "--text")) o.text = v;
        else if (!strcmp(a, "--vision")) o.vision = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--fusion-layers") || !strcmp(a, "--fusion_layers")) { bad = cli_parse_int(v, 0, 64, &n); o.fusion_layers = (int)n; }
        else if (!strcmp(a, "--fusion-width") || !strcmp(a, "--fusion_width")) { bad = cli_parse_int(v, 8, 16384, &n); o.fusion_width = (int)n; }
        else if (!strcmp(a, "--perceiver")) { bad = cli_parse_int(v, 0, 1024, &n); o.perceiver_latents = (int)n; }
        else if (!strcmp(a, "--dim")) { bad = cli_parse_int(v, 1, 8192, &n); o.dim = (int)n; }
        else if (!strcmp(a, "--seed")) { bad = cli_parse_int(v, 0, 0x7fffffffL, &n); o.seed = (uint64_t)n; }
        else return cli_fail(2, "compose", "unknown option '%s' (see sail compose --help)", a);
        if (bad) return cli_fail(2, "compose", "bad value '%s' for %s (see sail compose --help)", v, a);
        i++;
    }
    if (!o.text || !o.vision || !out)
        return cli_fail(2, "compose", "--text, --vision and -o are required (see sail compose --help)");
    sail_error err = {0};
    if (sail_compose(&o, out, &err)) return cli_fail(1, "compose", "%s", err.msg);
    fprintf(stderr, "sail compose: wrote %s (%s)\n", out, o.scratch ? "every weight fresh" :
            "towers pretrained; fusion, head and temperature fresh");
    return 0;
}
