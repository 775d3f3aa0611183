/* export.h: `sail export --format hf`, the inverse of sail_convert: a sail
 * model file imported from Hugging Face (CLIP, Chinese-CLIP, BERT, ViT, SigLIP)
 * written back as a Hugging Face model folder. docs/IMPORT.md describes it. */
#ifndef SAIL_EXPORT_H
#define SAIL_EXPORT_H

#include "sail.h"

/* Write model_path as the folder dir (created if absent; the files below
 * are replaced atomically): config.json, model.safetensors (Hugging Face's
 * names and shapes; F32, or F16 / BF16 as stored; q8_0 widened to F32),
 * the tokenizer files (vocab.json + merges.txt, or vocab.txt) with
 * tokenizer_config.json, and preprocessor_config.json for image models.
 * Native sail models (fusion layers) are refused with
 * SAIL_ERR_UNSUPPORTED: Hugging Face has no architecture for them. dir
 * NULL only checks that the model would export (nothing is written).
 * Thread-safe. */
sail_status sail_export_hf(const char *model_path, const char *dir, sail_error *err);

#endif
