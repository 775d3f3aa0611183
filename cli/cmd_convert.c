/* cmd_convert.c: `sail convert` imports a Hugging Face model folder. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sail convert DIR -o model.gguf [--from auto|hf-clip|hf-chinese-clip|hf-bert|hf-vit|hf-siglip|open-clip]\n"
    "                    [--type f32] [--pool cls|pooler|mean]\n"
    "       sail convert CLIPCPP.gguf --merges merges.txt -o model.gguf\n"
    "       sail convert OPENCLIP_DIR|CHECKPOINT [--arch ViT-B-32] [--tokenizer F] -o model.gguf\n\n"
    "Converts a Hugging Face model folder into a sail model file. DIR holds\n"
    "config.json, the weights (model.safetensors, sharded safetensors with\n"
    "model.safetensors.index.json, or pytorch_model.bin, read without running its\n"
    "pickle), the tokenizer (vocab.txt for BERT-style models; vocab.json and\n"
    "merges.txt for CLIP; spiece.model for SigLIP) and preprocessor_config.json for\n"
    "image models. Every tensor is checked against config.json. An OpenCLIP\n"
    "checkpoint converts too: a folder with open_clip_config.json and\n"
    "open_clip_model.safetensors or open_clip_pytorch_model.bin, or a\n"
    ".bin/.pt/.safetensors state dict. See docs/IMPORT.md.\n\n";

int cmd_convert(int argc, char **argv) {
    sail_convert_options o = {0};
    const char *dir = NULL, *out = NULL;
    const cli_opt table[] = {
        CLI_OPT_STR("DIR", &dir, NULL, NULL),
        CLI_OPT_STR("--from", &o.from, "NAME",
                    "architecture (default auto: config.json's architectures/model_type)\n"
                    "hf-clip          CLIPModel\n"
                    "hf-chinese-clip  ChineseCLIPModel\n"
                    "hf-bert          BertModel (text encoder)\n"
                    "hf-vit           ViTModel (image encoder)\n"
                    "hf-siglip        SiglipModel (sigmoid loss when fine-tuned)\n"
                    "clip-cpp         a clip.cpp GGUF CLIP file (the default for a .gguf file)\n"
                    "open-clip        an OpenCLIP ViT CLIP checkpoint (the default for other\n"
                    "                 files and folders with only open_clip_config.json)"),
        CLI_OPT_STR("--type", &o.type, "T",
                    "tensor type written: f32 (the only one). For f16, bf16 or q8_0,\n"
                    "quantize the result: sail quantize model.gguf --type q8_0 -o q8.gguf"),
        CLI_OPT_STR("--pool", &o.pool, "P", "hf-bert: cls (default), pooler or mean; hf-vit: cls (default) or pooler"),
        CLI_OPT_STR("--merges", &o.merges, "F", "clip-cpp: the model's merges.txt (clip.cpp files store no merges)"),
        CLI_OPT_STR("--arch", &o.arch, "NAME",
                    "open-clip without open_clip_config.json: ViT-B-32, ViT-B-16,\n"
                    "ViT-B-32-quickgelu or ViT-B-16-quickgelu"),
        CLI_OPT_STR("--tokenizer", &o.tokenizer, "F",
                    "open-clip: the BPE merges (open_clip's bpe_simple_vocab_16e6.txt.gz,\n"
                    "or merges.txt) when not beside the checkpoint"),
        CLI_OPT_STR("-o|--output", &out, "FILE", "output model file"),
        CLI_OPT_END,
    };
    int rc = cli_start("convert", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    if (!dir || !out) return cli_fail(2, "convert", "a folder (or file) and -o are required (see sail convert --help)");
    if (o.type && strcmp(o.type, "f32")) {
        if (strcmp(o.type, "f16") && strcmp(o.type, "bf16") && strcmp(o.type, "q8_0"))
            return cli_fail(2, "convert", "--type %s: the types are f32 (written here), f16, bf16 and q8_0 (sail quantize)", o.type);
        return cli_fail(2, "convert", "--type %s: convert writes f32; then run `sail quantize %s --type %s -o OUT.gguf`",
                        o.type, out, o.type);
    }
    fprintf(stderr, "sail convert: reading %s\n", dir);
    sail_error err = {0};
    if (sail_convert(dir, out, &o, &err)) return cli_fail(1, "convert", "%s", err.msg);
    fprintf(stderr, "sail convert: wrote %s\n", out);
    return 0;
}
