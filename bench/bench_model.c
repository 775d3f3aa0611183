/* bench_model.c: sail inference speed (ms per image, ms per text) of one
 * architecture's towers at batch 1 and 8, with f32 weights or each type of
 * --types. The model is written once with random weights (speed does not
 * depend on their values), so the figures compare with the same bare towers
 * run by bench/bench_torch.py. --arch:
 *
 *   base        sail-base's towers, fusion off: ViT-S/16 @224, BERT-base
 *               with 16 tokens
 *   clip-b32    OpenAI CLIP ViT-B/32 as `sail convert` makes it from a
 *               Hugging Face CLIPModel: the config comes from hf_clip_config
 *               given openai/clip-vit-base-patch32's config.json values;
 *               texts at the full 77-token context
 *   cnclip-b16  Chinese-CLIP ViT-B/16 likewise (OFA-Sys/chinese-clip-vit-
 *               base-patch16: CLIP ViT-B/16, RoBERTa-wwm-base-chinese text
 *               tower, 52 tokens)
 *
 * Only the tokenizer differs from a converted file (WordPiece over
 * placeholder tokens, not the real vocabulary): the bench feeds token ids.
 * For the CLIPs the tensors of the file are counted per tower and checked
 * against the published shapes before anything is timed.
 *
 *   bench_model [--arch base|clip-b32|cnclip-b16] [--threads N] [--reps R]
 *               [--only vit|bert] [--batch B] [--types f32,f16,bf16,q8_0]
 *               [--clock wall|cpu]
 *
 * --only (vit: the image tower, bert: the text tower) and --batch narrow the
 * run to one shape, so that a profiler's samples are not spread over the
 * others. --types also stores the model in those types (sail_model_quantize)
 * and times each, labelled sail-TYPE, with its peak RSS beside file +
 * activation arena. --clock cpu times in process CPU time (use it with
 * --threads 1 on a loaded machine).
 */
#include "convert/convert.h"
#include "model/model.h"
#include "rng.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall time, or with --clock cpu the process's CPU time: on a machine
 * shared with other work, CPU time at --threads 1 is the cost of a pass
 * without the time spent waiting for a core. */
static clockid_t g_clock = CLOCK_MONOTONIC;

/* Parameters of a transformer layer (q, k, v, out, two LayerNorms, MLP). */
#define LAYER_PARAMS(d, f) (4 * ((d) * (d) + (d)) + 4 * (d) + 2 * (d) * (f) + (f) + (d))

typedef struct arch {
    const char *name, *image, *text;    /* --arch; the towers' labels */
    const char *hf_config;              /* config.json for hf_clip_config; NULL: sail-base */
    int chinese, text_len, bos, eos;    /* texts: text_len ids, bos first, eos last */
    long long image_params, text_params; /* from the published shapes; 0: not checked */
} arch;

/* Each tower's parameters from the published shapes, tower plus projection
 * to 512: CLIP's ViT (patch conv without bias, class token, positions,
 * ln_pre, layers, ln_post), CLIP's text (token and 77 positions, layers,
 * final LayerNorm), BERT's (tokens, 512 positions, 2 token types, LayerNorm,
 * layers; no pooler). CLIP ViT-B/32's image + text + logit scale is OpenAI's
 * published 151,277,313, checked in main. */
#define CLIP_VIT(p, tokens) (3LL * (p) * (p) * 768 + 768 + (tokens) * 768LL + 4 * 768 + 12 * LAYER_PARAMS(768LL, 3072LL) + 768 * 512)
static const arch arches[] = {
    {"base", "vit_s16_224", "bert_base_16tok", NULL, 0, 16, 0, 0, 0, 0},
    {"clip-b32", "clip_b32_image", "clip_b32_text_77tok",
     "{\"projection_dim\": 512, \"logit_scale_init_value\": 2.6592,"
     " \"text_config\": {\"hidden_size\": 512, \"intermediate_size\": 2048, \"num_attention_heads\": 8,"
     " \"num_hidden_layers\": 12, \"max_position_embeddings\": 77, \"vocab_size\": 49408,"
     " \"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-5, \"eos_token_id\": 2},"
     " \"vision_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072, \"num_attention_heads\": 12,"
     " \"num_hidden_layers\": 12, \"image_size\": 224, \"patch_size\": 32, \"hidden_act\": \"quick_gelu\","
     " \"layer_norm_eps\": 1e-5}}",
     0, 77, 49406, 49407, CLIP_VIT(32, 50),
     49408LL * 512 + 77 * 512 + 12 * LAYER_PARAMS(512LL, 2048LL) + 2 * 512 + 512 * 512},
    {"cnclip-b16", "cnclip_b16_image", "cnclip_b16_text_52tok",
     "{\"projection_dim\": 512, \"logit_scale_init_value\": 2.6592,"
     " \"text_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072, \"num_attention_heads\": 12,"
     " \"num_hidden_layers\": 12, \"max_position_embeddings\": 512, \"vocab_size\": 21128,"
     " \"type_vocab_size\": 2, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12},"
     " \"vision_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072, \"num_attention_heads\": 12,"
     " \"num_hidden_layers\": 12, \"image_size\": 224, \"patch_size\": 16, \"hidden_act\": \"quick_gelu\","
     " \"layer_norm_eps\": 1e-5}}",
     1, 52, 101, 102, CLIP_VIT(16, 197),
     21128LL * 768 + 512 * 768 + 2 * 768 + 2 * 768 + 12 * LAYER_PARAMS(768LL, 3072LL) + 768 * 512},
};

static void die(const sail_error *err) {
    fprintf(stderr, "bench_model: %s\n", err->msg);
    exit(1);
}

/* The architecture's config; vocabulary size, special ids set. */
static sail_config arch_config(const arch *a) {
    sail_config c;
    sail_error err = {0};
    if (!a->hf_config) {
        sail_config_preset(&c, "base", NULL);
        c.fusion.layers = 0;
        c.vocab_size = 21128;
        c.pad_id = 0, c.unk_id = 100, c.cls_id = 101, c.sep_id = 102;
        return c;
    }
    json_error_t jerr;
    json_t *j = json_loads(a->hf_config, 0, &jerr);
    hf_model hm;
    if (!j) {
        fprintf(stderr, "bench_model: %s's config: %s\n", a->name, jerr.text);
        exit(1);
    }
    if (hf_clip_config(j, a->chinese, &hm, &err)) die(&err);
    json_decref(j);
    c = hm.cfg;
    /* what `sail convert` reads from the tokenizer and preprocessor_config.json
       (CLIP's mean and std, as the presets have them; pixels come normalised) */
    sail_config preset;
    sail_config_preset(&preset, "base", NULL);
    memcpy(c.mean, preset.mean, sizeof c.mean);
    memcpy(c.std, preset.std, sizeof c.std);
    if (a->chinese) c.pad_id = 0, c.unk_id = 100, c.cls_id = 101, c.sep_id = 102;
    else c.pad_id = c.unk_id = c.sep_id = a->eos, c.cls_id = a->bos;
    return c;
}

static const char *write_model(const arch *a) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sail_bench_%s.gguf", a->name);
    sail_config c = arch_config(a);
    char **toks = malloc(sizeof *toks * c.vocab_size);
    for (int i = 0; i < c.vocab_size; i++) {
        toks[i] = malloc(16);
        snprintf(toks[i], 16, "t%d", i);
    }
    const char *special[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int at[5] = {0, 100, 101, 102, 103};
    for (int i = 0; i < 5; i++) snprintf(toks[at[i]], 16, "%s", special[i]);
    sail_error err = {0};
    if (sail_model_write_random(&c, (const char *const *)toks, 1, path, &err)) die(&err);
    for (int i = 0; i < c.vocab_size; i++) free(toks[i]);
    free(toks);
    return path;
}

/* The file's parameters per tower (vis.* and text.* tensors) against the
 * published shapes; any other tensor is an error. */
static void check_params(const arch *a, const char *path) {
    sail_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    if (!f) die(&err);
    long long image = 0, text = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        long long n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) n *= (long long)t->ne[d];
        if (t->name.len > 4 && !strncmp(t->name.ptr, "vis.", 4)) image += n;
        else if (t->name.len > 5 && !strncmp(t->name.ptr, "text.", 5)) text += n;
        else {
            fprintf(stderr, "bench_model: %s has a tensor %.*s outside the towers\n", path, (int)t->name.len,
                    t->name.ptr);
            exit(1);
        }
    }
    gguf_close(f);
    int ok = image == a->image_params && text == a->text_params;
    printf("# %s parameters: image tower %lld, text tower %lld (each with its projection); published shapes: "
           "%lld, %lld: %s\n", a->name, image, text, a->image_params, a->text_params, ok ? "equal" : "DIFFERENT");
    if (!ok) exit(1);
}

/* Best-of-reps seconds per item for one batch shape. */
static double time_batch(sail_model *m, const sail_batch *b, int reps) {
    float *out = malloc((size_t)b->n * sail_model_dim(m) * sizeof(float));
    sail_error err = {0};
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) { /* first run warms the arena */
        double t0 = bench_seconds(g_clock);
        if (sail_forward(m, b, out, &err)) die(&err);
        double dt = bench_seconds(g_clock) - t0;
        if (r && dt < best) best = dt;
    }
    free(out);
    return best / b->n;
}

/* A /proc/self/status field in MB; -1 when unavailable. */
static double status_mb(const char *key) {
    long kb = sail_proc_status_kb(key);
    return kb < 0 ? -1 : (double)kb / 1024.0;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, only_batch = 0, repack = 1;
    const char *only = "", *types = NULL, *arch_name = "base";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) only_batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--types")) types = argv[i + 1];
        else if (!strcmp(argv[i], "--arch")) arch_name = argv[i + 1];
        else if (!strcmp(argv[i], "--repack")) repack = atoi(argv[i + 1]); /* 0: q8_0 read as stored */
        else if (!strcmp(argv[i], "--clock") && !strcmp(argv[i + 1], "cpu")) g_clock = CLOCK_PROCESS_CPUTIME_ID;
    }
    const arch *a = NULL;
    for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
        if (!strcmp(arches[i].name, arch_name)) a = &arches[i];
    if (!a) {
        fprintf(stderr, "bench_model: --arch is '%s'; choose base, clip-b32 or cnclip-b16\n", arch_name);
        return 1;
    }
    /* OpenAI's count for CLIP ViT-B/32 (image + text + logit scale) */
    if (!strcmp(a->name, "clip-b32") && a->image_params + a->text_params + 1 != 151277313LL) {
        fprintf(stderr, "bench_model: the published shapes of clip-b32 do not add up to 151,277,313\n");
        return 1;
    }
    const char *base = write_model(a);
    if (a->image_params) check_params(a, base);
    sail_rng rng = {5};
    int batches[2] = {1, 8}, T = a->text_len;
    float *pix = malloc(sizeof(float) * 8 * 3 * 224 * 224);
    for (size_t i = 0; i < (size_t)8 * 3 * 224 * 224; i++) pix[i] = sail_rng_normal(&rng);
    int32_t *ids = malloc(sizeof *ids * 8 * T);
    int lens[8];
    for (int i = 0; i < 8 * T; i++) ids[i] = 1000 + (int)(sail_rng_next(&rng) % 20000);
    for (int i = 0; i < 8; i++) {
        lens[i] = T;
        if (a->hf_config) ids[i * T] = a->bos, ids[i * T + T - 1] = a->eos;
    }
    char list[64];
    snprintf(list, sizeof list, "%s", types ? types : "f32");
    for (char *type = strtok(list, ","); type; type = strtok(NULL, ",")) {
        char path[128], label[32];
        sail_error err = {0};
        snprintf(path, sizeof path, "%s", base);
        snprintf(label, sizeof label, types ? "sail-%s" : "sail", type);
        if (strcmp(type, "f32")) {
            snprintf(path, sizeof path, "/tmp/sail_bench_%s-%s.gguf", a->name, type);
            if (sail_model_quantize(base, path, type, &err)) die(&err);
        }
        double rss0 = status_mb("VmRSS");
        sail_proc_reset_peak();
        sail_load_options lo = {.n_threads = threads, .no_repack = !repack};
        double l0 = bench_seconds(g_clock);
        sail_model *m = sail_model_load(path, &lo, &err);
        if (!m) die(&err);
        double load_ms = 1e3 * (bench_seconds(g_clock) - l0);
        for (int k = 0; k < 2; k++) {
            int B = batches[k];
            if (only_batch && B != only_batch) continue;
            sail_batch vb = {.n = B, .pixels = pix, .h = 224, .w = 224};
            sail_batch tb = {.n = B, .ids = ids, .lens = lens};
            if (strcmp(only, "bert"))
                printf("%s %s batch %d threads %d: %.2f ms/image\n", label, a->image, B, threads,
                       1e3 * time_batch(m, &vb, reps));
            if (strcmp(only, "vit"))
                printf("%s %s batch %d threads %d: %.2f ms/text\n", label, a->text, B, threads,
                       1e3 * time_batch(m, &tb, reps));
            fflush(stdout);
        }
        if (types) { /* memory: the model's share of the peak against its own account */
            sail_model_memory mem;
            sail_model_memory_usage(m, &mem);
            double file = mem.file_bytes / 1048576.0, arena = mem.arena_bytes / 1048576.0;
            double packed = mem.repacked_bytes / 1048576.0, own = status_mb("VmHWM") - rss0;
            printf("# %s (%s): load %.1f ms, peak RSS %.1f MB, model +%.1f MB = %.3fx (file %.1f + arena %.1f + "
                   "repacked %.1f MB)\n", label, sail_model_weight_type(m), load_ms, status_mb("VmHWM"), own,
                   own / (file + arena + packed), file, arena, packed);
        }
        sail_model_free(m);
        if (strcmp(type, "f32")) remove(path);
    }
    free(pix);
    free(ids);
    remove(base);
    return 0;
}
