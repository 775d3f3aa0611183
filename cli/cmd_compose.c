/* cmd_compose.c: `sail compose`, a fused model from pretrained towers. */
#include "cli.h"

#include <stdio.h>

static const char usage[] =
    "usage: sail compose --text T.gguf --vision V.gguf [--audio A.gguf | --audio-config tiny]\n"
    "                    [--fusion F.gguf] -o OUT.gguf\n"
    "                    [--fusion-layers N] [--fusion-width W] [--perceiver L]\n"
    "                    [--dim D] [--seed S] [--scratch] [--name NAME]\n\n"
    "Builds a sail model from pretrained towers, as the SAIL-Embedding report\n"
    "starts: the text tower (and tokenizer) of T, the vision tower (and image\n"
    "preprocessing) of V, optionally the audio tower (and its front end) of A, and\n"
    "fresh fusion layers, pooling and projection. T, V and A may be the same file,\n"
    "a sail model, or a converted CLIP, Chinese-CLIP, SigLIP, CLAP, BERT, ViT or AST.\n"
    "Then train the new parts with the towers frozen, and later all at a low rate\n"
    "(docs/TRAINING.md):\n"
    "  sail finetune --model_name_or_path OUT.gguf --freeze text,vision,audio ...\n"
    "To give a trained model ears, keep everything and add a fresh audio tower:\n"
    "  sail compose --text M --vision M --fusion M --audio-config tiny -o OUT.gguf\n"
    "  sail finetune --model_name_or_path OUT.gguf --freeze text,vision,fusion,head,temperature ...\n\n";

int cmd_compose(int argc, char **argv) {
    sail_compose_opts o = {.fusion_layers = 2, .dim = 512};
    const char *out = NULL;
    long seed = 42;
    const cli_opt table[] = {
        CLI_OPT_STR("--text", &o.text, "T", "model whose text tower is taken"),
        CLI_OPT_STR("--vision", &o.vision, "V", "model whose vision tower is taken"),
        CLI_OPT_STR("--audio", &o.audio, "A", "model whose audio tower is taken (a converted AST or\n"
                    "CLAP's HTSAT; default: none)"),
        CLI_OPT_STR("--audio-config", &o.audio_config, "NAME",
                    "without --audio: a fresh audio tower, tiny (4 x 256 over\n"
                    "64 mel bins x 5.12 s) or base (AST's shape)"),
        CLI_OPT_STR("--fusion", &o.fusion, "F",
                    "keep the fusion layers, head and temperature of sail model F\n"
                    "(e.g. add an audio tower to a trained model); default: fresh"),
        CLI_OPT_STR("-o|--output", &out, "OUT", "the composed model file"),
        CLI_OPT_INT("--fusion-layers", &o.fusion_layers, 0, 64, "N",
                    "fresh fusion layers (default 2; 0: pool the projected tokens)"),
        CLI_OPT_INT("--fusion-width", &o.fusion_width, 8, 16384, "W", "their width (default: the wider tower's)"),
        CLI_OPT_INT("--perceiver", &o.perceiver_latents, 0, 1024, "L",
                    "L learned queries compress the image tokens (default 0: none)"),
        CLI_OPT_DIM(&o.dim, "output dimension (default 512; a composed model allows up to 8192)"),
        CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffL, "S", "initialisation of the fresh parts (default 42)"),
        CLI_OPT_FLAG("--scratch", &o.scratch, "every weight fresh: the same architecture untrained (a baseline)"),
        CLI_OPT_STR("--name", &o.name, "NAME", "the model's name, as `sail info` shows it (default sail-composed)"),
        CLI_OPT_END,
    };
    int rc = cli_start("compose", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    o.seed = (uint64_t)seed;
    if (!o.text || !o.vision || !out)
        return cli_fail(2, "compose", "--text, --vision and -o are required (see sail compose --help)");
    if (o.audio && o.audio_config)
        return cli_fail(2, "compose", "give --audio (a pretrained tower) or --audio-config (a fresh one), not both");
    sail_error err = {0};
    if (sail_compose(&o, out, &err)) return cli_fail(1, "compose", "%s", err.msg);
    fprintf(stderr, "sail compose: wrote %s (%s%s)\n", out,
            o.scratch ? "every weight fresh" : o.fusion ? "towers, fusion, head and temperature pretrained"
                                                        : "towers pretrained; fusion, head and temperature fresh",
            o.audio_config && !o.scratch ? "; the audio tower fresh" : "");
    return 0;
}
