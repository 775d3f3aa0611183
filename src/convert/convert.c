/* convert.c: `sail convert`: a Hugging Face model folder (config.json,
 * weights, tokenizer files, preprocessor_config.json), a clip.cpp file or an
 * OpenCLIP checkpoint becomes a sail model file: this file picks the
 * importer; emit.c writes the file. */
#include "convert.h"

#include "sail.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const families[] = {"hf-clip", "hf-chinese-clip", "hf-bert", "hf-vit", "hf-siglip", "hf-ast",
                                      "hf-clap"};
enum { N_FAMILIES = 7, FAM_SIGLIP = 4, FAM_AST = 5, FAM_CLAP = 6 };

/* config.json's architectures[0] or model_type, as a family index. */
static int detect(const json_t *cfg) {
    const json_t *a = json_array_get(json_object_get(cfg, "architectures"), 0);
    const char *arch = json_string_value(a), *mt = json_string_value(json_object_get(cfg, "model_type"));
    static const char *const archs[] = {"CLIPModel", "ChineseCLIPModel", "BertModel", "ViTModel", "SiglipModel",
                                        "ASTModel", "ClapModel"};
    static const char *const types[] = {"clip", "chinese_clip", "bert", "vit", "siglip",
                                        "audio-spectrogram-transformer", "clap"};
    for (int i = 0; i < N_FAMILIES; i++)
        if ((arch && !strcmp(arch, archs[i])) || (mt && !strcmp(mt, types[i]))) return i;
    if ((arch && !strcmp(arch, "ClapAudioModelWithProjection")) || (mt && !strcmp(mt, "clap_audio_model")))
        return FAM_CLAP;
    return -1;
}

static sail_status convert(const char *dir, const char *out, const sail_convert_options *o,
                           sail_error *err) {
    json_t *cfg = hf_json(dir, "config.json", 1, err);
    if (!cfg) return err ? err->status : SAIL_ERR_IO;
    int fam = -1;
    sail_status s = SAIL_OK;
    if (o->from && strcmp(o->from, "auto")) {
        for (int i = 0; i < N_FAMILIES; i++)
            if (!strcmp(o->from, families[i])) fam = i;
        if (fam < 0) s = sail_set_error(err, SAIL_ERR_INVALID_ARG,
                                        "--from '%s': choose auto, hf-clip, hf-chinese-clip, hf-bert, hf-vit, hf-siglip, hf-ast, hf-clap, clip-cpp or open-clip", o->from);
    } else if ((fam = detect(cfg)) < 0)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                           "config.json names no architecture sail imports (CLIPModel, ChineseCLIPModel, BertModel, ViTModel, SiglipModel, "
                           "ASTModel / ASTForAudioClassification, ClapModel / ClapAudioModelWithProjection); "
                           "pass --from to choose one");
    hf_model hm;
    hf_options ho = {o->pool};
    if (!s && o->pool && (fam < 2 || fam >= FAM_SIGLIP))
        s = sail_set_error(err, SAIL_ERR_INVALID_ARG,
                           "--pool applies to hf-bert and hf-vit; CLIP, SigLIP, AST and CLAP models pool as the original");
    if (!s) s = fam < 2 ? hf_clip_config(cfg, fam == 1, &hm, err)
              : fam == 2 ? hf_bert_config(cfg, &ho, &hm, err)
              : fam == 3 ? hf_vit_config(cfg, &ho, &hm, err)
              : fam == FAM_AST ? hf_ast_config(cfg, &hm, err) : fam == FAM_CLAP ? hf_clap_config(cfg, &hm, err)
              : hf_siglip_config(cfg, &hm, err);
    json_decref(cfg);
    if (s) return s;
    if (hm.cfg.towers.has_vision && (s = hf_preprocessor(dir, fam != 0, &hm.cfg, err))) return s;
    if (sail_has_audio(&hm.cfg) &&
        (s = hm.cfg.swin.on ? hf_clap_preprocessor(dir, &hm.cfg, err) : hf_ast_preprocessor(dir, &hm.cfg, err)))
        return s;
    hf_source src;
    if ((s = hf_source_open(&src, dir, err))) return s;
    /* SigLIP: spiece.model, or a WordPiece vocab.txt when the folder has one instead */
    int spm = fam == FAM_SIGLIP && (hf_exists(dir, "spiece.model") || !hf_exists(dir, "vocab.txt"));
    if (fam == FAM_SIGLIP && !spm) hm.bert_tokenizer = 1;
    hf_folder_tok ft = {dir, hm.bert_tokenizer, spm, hm.cfg.towers.bpe == 2};
    s = hf_emit(&hm, &src, hf_folder_tokenizer, &ft, families[fam], out, err);
    hf_source_close(&src);
    return s;
}

sail_status sail_convert(const char *dir, const char *out, const sail_convert_options *opts,
                         sail_error *err) {
    sail_convert_options o = opts ? *opts : (sail_convert_options){0};
    if (!dir || !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "convert needs a folder and an output path");
    if (o.type && strcmp(o.type, "f32"))
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "--type %s: convert writes f32; make f16, bf16 or q8_0 from it with `sail quantize`", o.type);
    struct stat st;
    int file = stat(dir, &st) == 0 && S_ISREG(st.st_mode), is_auto = !o.from || !strcmp(o.from, "auto");
    size_t len = strlen(dir);
    int gguf = len >= 5 && !strcmp(dir + len - 5, ".gguf");
    /* auto: a .gguf file is clip.cpp's; any other file, or a folder with
     * open_clip_config.json and no config.json, is an OpenCLIP checkpoint */
    int openclip = (o.from && !strcmp(o.from, "open-clip")) ||
                   (is_auto && (o.arch || (file && !gguf) ||
                                (!file && hf_exists(dir, "open_clip_config.json") && !hf_exists(dir, "config.json"))));
    if (!openclip && (o.arch || o.tokenizer))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--arch and --tokenizer apply to OpenCLIP checkpoints (--from open-clip)");
    sail_status s = openclip ? hf_openclip_convert(dir, out, &o, err)
                  : (o.from && !strcmp(o.from, "clip-cpp")) || (is_auto && file) ? hf_clipcpp_convert(dir, out, &o, err)
                  : convert(dir, out, &o, err);
    if (s && err && !strstr(err->msg, dir)) sail_error_prefix(err, "%s", dir);
    return s;
}
