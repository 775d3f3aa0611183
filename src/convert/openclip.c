/* openclip.c: OpenCLIP checkpoints (mlfoundations/open_clip's CLIP class
 * with its own ViT and text transformer): open_clip_config.json or a preset,
 * the state dict under open_clip's names, and its SimpleTokenizer built from
 * the BPE merges file.
 *
 * The architecture is CLIPModel's under other names, so every tensor is
 * checked here under its open_clip name and shape (the error names the
 * open_clip key), then handed to the CLIP conversion under its Hugging Face
 * name: the packed attn.in_proj_* split into q, k and v (views, no copy) and
 * the `x @ proj` matrices (visual.proj, text_projection) transposed into
 * Linear weights. What open_clip does differently from CLIPModel is recorded
 * in the file: its special tokens are <start_of_text> / <end_of_text> (the
 * strings a text may spell), it pads with id 0, and torchvision's
 * CenterCrop rounds the offset (sail.image.crop_floor stays off). */
#include "convert.h"

#include "format/ptzip.h"
#include "text/bpe.h"
#include "text/wordpiece.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* open_clip's model_configs, for a checkpoint that came without its
 * open_clip_config.json. */
static const struct preset { const char *name; int patch, quick; } presets[] = {
    {"ViT-B-32", 32, 0}, {"ViT-B-16", 16, 0}, {"ViT-B-32-quickgelu", 32, 1}, {"ViT-B-16-quickgelu", 16, 1}};
#define N_PRESETS (int)(sizeof presets / sizeof *presets)

static json_t *preset_cfg(const char *arch, sail_error *err) {
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(arch, presets[i].name)) {
            json_t *j = json_pack("{s:i, s:b, s:{s:i, s:i, s:i, s:i}, s:{s:i, s:i, s:i, s:i, s:i}}",
                                  "embed_dim", 512, "quick_gelu", presets[i].quick,
                                  "vision_cfg", "image_size", 224, "layers", 12, "width", 768, "patch_size", presets[i].patch,
                                  "text_cfg", "context_length", 77, "vocab_size", 49408, "width", 512, "heads", 8, "layers", 12);
            if (!j) sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
            return j;
        }
    char known[256] = "";
    for (int i = 0; i < N_PRESETS; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", presets[i].name);
    sail_set_error(err, SAIL_ERR_INVALID_ARG, "--arch '%.60s' is not a preset sail knows; the presets are %s "
                   "(or give the checkpoint's open_clip_config.json)", arch, known);
    return NULL;
}

/* ------------------------------------------------------------ config -- */

/* A key whose value asks for something sail does not compute: present and
 * neither null, false, 0 nor allowed (a string value that is the default). */
static sail_status refuse(const json_t *obj, const char *where, const char *key, const char *allowed,
                          sail_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v) || json_is_false(v) || (json_is_number(v) && json_number_value(v) == 0)) return SAIL_OK;
    if (allowed && json_is_string(v) && !strcmp(json_string_value(v), allowed)) return SAIL_OK;
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                          "%s.%s is set; sail imports open_clip's plain ViT CLIP (%s%s)", where, key,
                          allowed ? "only " : "without it", allowed ? allowed : "");
}

static const char *const vision_refused[] = {"timm_model_name", "ls_init_value", "attentional_pool", "no_ln_pre",
                                             "final_ln_after_pool", "global_average_pool", "input_patchnorm",
                                             "act_kwargs", "norm_kwargs"};
static const char *const text_refused[] = {"hf_model_name", "ls_init_value", "embed_cls", "no_causal_mask",
                                           "proj_bias", "act_kwargs", "norm_kwargs"};

static sail_status refused(const json_t *vc, const json_t *tc, const json_t *mc, sail_error *err) {
    sail_status s = SAIL_OK;
    for (size_t i = 0; !s && i < sizeof vision_refused / sizeof *vision_refused; i++)
        s = refuse(vc, "vision_cfg", vision_refused[i], NULL, err);
    for (size_t i = 0; !s && i < sizeof text_refused / sizeof *text_refused; i++)
        s = refuse(tc, "text_cfg", text_refused[i], NULL, err);
    if (!s) s = refuse(vc, "vision_cfg", "pool_type", "tok", err);
    if (!s) s = refuse(vc, "vision_cfg", "pos_embed_type", "learnable", err);
    if (!s) s = refuse(tc, "text_cfg", "pool_type", "argmax", err);
    if (!s) s = refuse(tc, "text_cfg", "proj_type", "linear", err);
    if (!s) s = refuse(mc, "model_cfg", "init_logit_bias", NULL, err);
    return s;
}

static sail_status ratio(const json_t *obj, const char *where, int width, int *ffn, sail_error *err) {
    float r = 4.0f;
    sail_status s = hf_float(obj, "mlp_ratio", 4.0, &r, err);
    double f = (double)width * r;
    if (!s && (f < 1 || f > 65536))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s.mlp_ratio %g gives an MLP of %g units", where, (double)r, f);
    if (!s) *ffn = (int)f; /* open_clip: int(width * mlp_ratio) */
    return s;
}

/* image_size: an int or a square [h, w]. */
static sail_status square(const json_t *obj, const char *where, const char *key, int def, int *out, sail_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (json_is_array(v) && json_array_size(v) == 2 &&
        json_equal(json_array_get(v, 0), json_array_get(v, 1)))
        v = json_array_get(v, 0);
    else if (json_is_array(v))
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s.%s is not one size or a square [h, w]", where, key);
    json_t *tmp = json_pack("{s:O?}", key, v);
    if (!tmp) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_status s = hf_int(tmp, key, def, 1, 4096, out, err);
    json_decref(tmp);
    return s;
}

/* model_cfg as the CLIPModel config.json that describes the same network,
 * read by hf_clip_config: so the file's architecture is hf-clip's. */
static sail_status model_cfg(const json_t *mc, hf_model *hm, sail_error *err) {
    const json_t *vc = json_object_get(mc, "vision_cfg"), *tc = json_object_get(mc, "text_cfg");
    if (!json_is_object(vc) || !json_is_object(tc))
        return sail_set_error(err, SAIL_ERR_FORMAT, "the model config has no vision_cfg / text_cfg object");
    sail_status s = refused(vc, tc, mc, err);
    int dim = 0, quick = json_is_true(json_object_get(mc, "quick_gelu"));
    int vl, vw, vhw, vffn, img, patch, tl, tw, th, tffn, ctx, vocab;
    if (!s) s = hf_int(mc, "embed_dim", 512, 1, 16384, &dim, err);
    if (!s) s = hf_int(vc, "layers", 12, 1, 256, &vl, err);
    if (!s) s = hf_int(vc, "width", 768, 1, 16384, &vw, err);
    if (!s) s = hf_int(vc, "head_width", 64, 1, 16384, &vhw, err);
    if (!s) s = ratio(vc, "vision_cfg", vw, &vffn, err);
    if (!s) s = square(vc, "vision_cfg", "image_size", 224, &img, err);
    if (!s) s = hf_int(vc, "patch_size", 16, 1, 64, &patch, err);
    if (!s) s = hf_int(tc, "layers", 12, 1, 256, &tl, err);
    if (!s) s = hf_int(tc, "width", 512, 1, 16384, &tw, err);
    if (!s) s = hf_int(tc, "heads", 8, 1, 1024, &th, err);
    if (!s) s = ratio(tc, "text_cfg", tw, &tffn, err);
    if (!s) s = hf_int(tc, "context_length", 77, 3, 8192, &ctx, err);
    if (!s) s = hf_int(tc, "vocab_size", 49408, 8, 1 << 24, &vocab, err);
    if (!s && vw % vhw)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "vision_cfg.width %d is not a multiple of head_width %d", vw, vhw);
    if (s) return s;
    const char *act = quick ? "quick_gelu" : "gelu";  /* nn.GELU is erf GELU */
    json_t *cj = json_pack("{s:i, s:f, s:{s:i, s:i, s:i, s:i, s:f, s:s, s:i, s:i, s:i},"
                           " s:{s:i, s:i, s:i, s:i, s:f, s:s, s:i, s:i}}",
                           "projection_dim", dim, "logit_scale_init_value", log(1 / 0.07),
                           "text_config", "hidden_size", tw, "num_hidden_layers", tl, "num_attention_heads", th,
                           "intermediate_size", tffn, "layer_norm_eps", 1e-5, "hidden_act", act,
                           "vocab_size", vocab, "max_position_embeddings", ctx,
                           "eos_token_id", 2, /* pooling at the argmax of the ids */
                           "vision_config", "hidden_size", vw, "num_hidden_layers", vl, "num_attention_heads", vw / vhw,
                           "intermediate_size", vffn, "layer_norm_eps", 1e-5, "hidden_act", act,
                           "image_size", img, "patch_size", patch);
    if (!cj) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    s = hf_clip_config(cj, 0, hm, err);
    json_decref(cj);
    if (s) return s;
    snprintf(hm->cfg.name, sizeof hm->cfg.name, "open-clip");
    return SAIL_OK;
}

/* preprocess_cfg: torchvision's Resize (shortest side, or squash) then
 * CenterCrop, whose offset rounds; OpenAI's mean and std by default. */
static sail_status preprocess_cfg(const json_t *pc, sail_config *c, sail_error *err) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(c->mean, mean, sizeof mean);
    memcpy(c->std, std, sizeof std);
    c->pre_size = c->pre_crop = c->image_size;
    c->resample = 3;
    c->crop_floor = 0;
    if (!pc) return SAIL_OK;
    const char *keys[2] = {"mean", "std"};
    float *dst[2] = {c->mean, c->std};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(pc, keys[k]);
        if (!v) continue;
        if (!json_is_array(v) || json_array_size(v) != 3)
            return sail_set_error(err, SAIL_ERR_FORMAT, "preprocess_cfg.%s is not 3 numbers", keys[k]);
        for (int i = 0; i < 3; i++) {
            const json_t *x = json_array_get(v, (size_t)i);
            if (!json_is_number(x)) return sail_set_error(err, SAIL_ERR_FORMAT, "preprocess_cfg.%s is not 3 numbers", keys[k]);
            dst[k][i] = (float)json_number_value(x);
        }
    }
    sail_status s = square(pc, "preprocess_cfg", "size", c->image_size, &c->pre_size, err);
    const char *interp = json_string_value(json_object_get(pc, "interpolation"));
    const char *mode = json_string_value(json_object_get(pc, "resize_mode"));
    /* open_clip's eval transform: bilinear when asked, bicubic otherwise */
    if (!s && interp && strcmp(interp, "bicubic") && strcmp(interp, "bilinear") && strcmp(interp, "random"))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocess_cfg.interpolation '%.40s': sail resizes bicubic or bilinear", interp);
    if (!s && interp && !strcmp(interp, "bilinear")) c->resample = 2;
    if (!s && mode && strcmp(mode, "shortest") && strcmp(mode, "squash"))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                           "preprocess_cfg.resize_mode '%.40s': sail resizes 'shortest' (then crops) or 'squash'", mode);
    c->pre_crop = mode && !strcmp(mode, "squash") ? 0 : c->pre_size;
    return s;
}

/* --------------------------------------------------------- tokenizer -- */

/* bytes_to_unicode's values in its dict order: printable Latin-1 bytes as
 * themselves, then the others as U+0100.. in byte order. */
static void byte_symbols(char sym[256][4]) {
    int n = 0, extra = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++) {
            int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            if (printable != !pass) continue;
            unsigned cp = printable ? (unsigned)b : 256u + (unsigned)extra++;
            if (cp < 0x80) sym[n][0] = (char)cp, sym[n][1] = 0;
            else sym[n][0] = (char)(0xC0 | cp >> 6), sym[n][1] = (char)(0x80 | (cp & 0x3F)), sym[n][2] = 0;
            n++;
        }
}

typedef struct oc_tok {
    const char *path;           /* merges file: gzip or plain, a header line then "a b" lines */
} oc_tok;

/* The file's lines 1 .. 48894 as open_clip slices them (fewer when the file
 * is shorter; a final line break ends the file rather than adding a line). */
static sail_status read_merges(const char *path, char ***out, int *n_out, sail_error *err) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot open the BPE merges", path);
    char **v = sail_calloc(SAIL_BPE_CLIP_MERGES, sizeof *v), line[1024];
    int n = 0, lineno = 0;
    sail_status s = v ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    while (!s && n < SAIL_BPE_CLIP_MERGES && gzgets(gz, line, sizeof line)) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n')
            s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: line %d is longer than %zu bytes", path, lineno + 1, sizeof line - 2);
        if (s || lineno++ == 0) continue;
        char a[512], b[512], extra[2];
        int k = sscanf(line, "%511s %511s %1s", a, b, extra);
        if (k != 2)
            s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: line %d is not a merge \"a b\"", path, lineno);
        else if (!(v[n] = sail_malloc(strlen(a) + strlen(b) + 2)))
            s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        else
            sprintf(v[n++], "%s %s", a, b);
    }
    int zerr;
    const char *msg = gzerror(gz, &zerr);
    if (!s && zerr != Z_OK && zerr != Z_STREAM_END) s = sail_set_error(err, SAIL_ERR_FORMAT, "%s: %s", path, msg);
    gzclose(gz);
    if (s && v) sail_vocab_free(v, n);
    if (s) return s;
    *out = v;
    *n_out = n;
    return SAIL_OK;
}

/* SimpleTokenizer's vocabulary: the byte symbols, the same with "</w>", one
 * token per merge, then <start_of_text> and <end_of_text>. */
static sail_status build_vocab(char **merges, int nm, char ***out, int *n_out, sail_error *err) {
    char sym[256][4];
    byte_symbols(sym);
    int n = 512 + nm + 2;
    char **t = sail_calloc((size_t)n, sizeof *t);
    if (!t) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    int ok = 1;
    for (int i = 0; i < 512 && ok; i++) {
        ok = (t[i] = sail_malloc(9)) != NULL;
        if (ok) snprintf(t[i], 9, "%s%s", sym[i % 256], i < 256 ? "" : "</w>");
    }
    for (int i = 0; i < nm && ok; i++) {
        const char *sp = strchr(merges[i], ' ');
        size_t la = (size_t)(sp - merges[i]);
        ok = (t[512 + i] = sail_malloc(strlen(merges[i]))) != NULL;
        if (ok) memcpy(t[512 + i], merges[i], la), strcpy(t[512 + i] + la, sp + 1);
    }
    if (ok) ok = (t[n - 2] = sail_strdup("<start_of_text>")) && (t[n - 1] = sail_strdup("<end_of_text>"));
    if (!ok) {
        sail_vocab_free(t, n);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    }
    *out = t;
    *n_out = n;
    return SAIL_OK;
}

static sail_status tokenizer(void *ctx, sail_config *c, gguf_writer *w, sail_error *err) {
    const oc_tok *ot = ctx;
    char **merges = NULL, **toks = NULL;
    int nm = 0, n = 0;
    sail_status s = read_merges(ot->path, &merges, &nm, err);
    if (!s) s = build_vocab(merges, nm, &toks, &n, err);
    if (!s && n != c->vocab_size)
        s = sail_set_error(err, SAIL_ERR_FORMAT,
                           "the tokenizer %s gives %d tokens (512 byte symbols, %d merges, 2 specials) "
                           "but text_cfg.vocab_size is %d", ot->path, n, nm, c->vocab_size);
    if (!s) {   /* the tokenizer must build, or the model would not load */
        sail_bpe *b = sail_bpe_new((const char *const *)toks, n, (const char *const *)merges, nm, SAIL_BPE_CLIP, err);
        if (!b) s = err ? err->status : SAIL_ERR_FORMAT;
        sail_bpe_free(b);
    }
    c->cls_id = n - 2;
    c->sep_id = c->unk_id = n - 1;
    c->pad_id = 0;  /* open_clip's tokenize() pads with zeros */
    if (!s) s = gguf_set_str(w, "tokenizer.ggml.model", "clip");
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n);
    if (!s) s = gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)nm);
    if (merges) sail_vocab_free(merges, nm);
    if (toks) sail_vocab_free(toks, n);
    return s;
}

/* ----------------------------------------------------------- tensors -- */

typedef struct oc_src {
    hf_source v;                /* the tensors under Hugging Face names; owns the file */
    const sail_st_tensor **raw; /* (n_raw) the checkpoint's */
    uint8_t *raw_used;
    int n_raw, cap;
    const char *pre;            /* "module." when every name has it (DataParallel / DDP) */
    const char *what;           /* where the shapes come from, for messages */
    float **bufs;               /* (n_bufs) transposed copies */
    int n_bufs;
    sail_status s;
    sail_error *err;
} oc_src;

static sail_status open_raw(oc_src *b, const char *path, sail_error *err) {
    size_t len = strlen(path);
    int st = len >= 12 && !strcmp(path + len - 12, ".safetensors");
    if (st) {
        if (!(b->v.st = sail_calloc(1, sizeof *b->v.st))) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        if (!(b->v.st[0] = sail_st_open(path, err))) return err ? err->status : SAIL_ERR_FORMAT;
        b->v.n_st = 1;
    } else if (!(b->v.pt = sail_pt_open(path, err)))
        return err ? err->status : SAIL_ERR_FORMAT;
    b->n_raw = st ? b->v.st[0]->n : b->v.pt->n;
    b->cap = 3 * b->n_raw + 1;
    b->raw = sail_calloc((size_t)b->n_raw + 1, sizeof *b->raw);
    b->raw_used = sail_calloc((size_t)b->n_raw + 1, 1);
    b->v.gt = sail_calloc((size_t)b->cap, sizeof *b->v.gt);
    b->v.t = sail_calloc((size_t)b->cap, sizeof *b->v.t);
    b->v.used = sail_calloc((size_t)b->cap, 1);
    b->bufs = sail_calloc((size_t)b->cap, sizeof *b->bufs);
    if (!b->raw || !b->raw_used || !b->v.gt || !b->v.t || !b->v.used || !b->bufs)
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    int prefixed = b->n_raw > 0;
    for (int i = 0; i < b->n_raw; i++) {
        b->raw[i] = st ? &b->v.st[0]->t[i] : &b->v.pt->t[i];
        prefixed &= !strncmp(b->raw[i]->name, "module.", 7);
    }
    b->pre = prefixed ? "module." : "";
    return SAIL_OK;
}

static void oc_close(oc_src *b) {
    for (int i = 0; i < b->n_bufs; i++) sail_free(b->bufs[i]);
    sail_free(b->bufs);
    sail_free(b->raw);
    sail_free(b->raw_used);
    hf_source_close(&b->v);
}

/* Checkpoint tensor `name` (after the prefix), which must have shape
 * (nd, shape); NULL with b->s set otherwise. */
static const sail_st_tensor *take(oc_src *b, const char *name, int nd, const int64_t *shape) {
    if (b->s) return NULL;
    char full[320];
    snprintf(full, sizeof full, "%s%s", b->pre, name);
    int i = 0;
    while (i < b->n_raw && strcmp(b->raw[i]->name, full)) i++;
    if (i == b->n_raw) {
        b->s = sail_set_error(b->err, SAIL_ERR_FORMAT, "the checkpoint has no tensor '%s', which %s implies", full, b->what);
        return NULL;
    }
    const sail_st_tensor *t = b->raw[i];
    int ok = t->n_dims == nd || (nd == 0 && sail_st_numel(t) == 1); /* a scalar may be saved as (1,) */
    for (int d = 0; ok && d < nd; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        char have[96] = "[", want[96] = "[";
        for (int d = 0; d < t->n_dims && d < 4; d++)
            snprintf(have + strlen(have), 24, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        for (int d = 0; d < nd; d++) snprintf(want + strlen(want), 24, "%s%lld", d ? ", " : "", (long long)shape[d]);
        b->s = sail_set_error(b->err, SAIL_ERR_FORMAT, "tensor '%s' has shape %s]; %s implies %s]", full, have,
                              b->what, want);
        return NULL;
    }
    b->raw_used[i] = 1;
    return t;
}

/* A tensor of the Hugging Face layout: elements [first, first + numel) of
 * t with the given shape, in t's dtype (a view into the checkpoint). */
static void view(oc_src *b, const char *hf, const sail_st_tensor *t, int nd, const int64_t *shape, uint64_t first) {
    if (b->s) return;
    sail_st_tensor *g = &b->v.gt[b->v.n];
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++) numel *= (uint64_t)shape[d];
    size_t es = sail_st_dtype_size(t->dtype);
    if (!(g->name = sail_strdup(hf))) {
        b->s = sail_set_error(b->err, SAIL_ERR_NOMEM, "out of memory");
        return;
    }
    g->dtype = t->dtype;
    g->n_dims = nd;
    memcpy(g->shape, shape, (size_t)nd * sizeof *shape);
    g->data = (const uint8_t *)t->data + first * es;
    g->nbytes = numel * es;
    b->v.t[b->v.n++] = g;
}

static void plain(oc_src *b, const char *oc, const char *hf, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    const int64_t shape[4] = {d0, d1, d2, d3};
    const sail_st_tensor *t = take(b, oc, nd, shape);
    if (t) view(b, hf, t, nd, shape, 0);
}

/* nn.MultiheadAttention's packed in_proj (3w, w) / (3w) as q, k, v. */
static void split_qkv(oc_src *b, const char *oc, const char *hf_pre, int weight, int64_t w) {
    const int64_t shape[2] = {3 * w, w};
    const sail_st_tensor *t = take(b, oc, weight ? 2 : 1, shape);
    static const char *const part[3] = {"q_proj", "k_proj", "v_proj"};
    const int64_t one[2] = {w, w};
    for (int k = 0; t && k < 3; k++) {
        char hf[256];
        snprintf(hf, sizeof hf, "%sself_attn.%s.%s", hf_pre, part[k], weight ? "weight" : "bias");
        view(b, hf, t, weight ? 2 : 1, one, (uint64_t)k * (uint64_t)w * (weight ? (uint64_t)w : 1));
    }
}

/* A (rows, cols) matrix applied as x @ P, stored as the Linear weight P^T. */
static void transposed(oc_src *b, const char *oc, const char *hf, int64_t rows, int64_t cols) {
    const int64_t shape[2] = {rows, cols};
    const sail_st_tensor *t = take(b, oc, 2, shape);
    if (!t) return;
    size_t n = (size_t)rows * (size_t)cols;
    float *src = sail_malloc(n * sizeof *src), *dst = sail_alloc_aligned(n * sizeof *dst);
    if (!src || !dst) b->s = sail_set_error(b->err, SAIL_ERR_NOMEM, "out of memory transposing '%s'", oc);
    if (!b->s) b->s = sail_st_to_f32(t, 0, n, src, b->err);
    if (!b->s) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
        b->bufs[b->n_bufs++] = dst;
        sail_st_tensor f = {.dtype = SAIL_ST_F32, .data = dst};
        const int64_t tshape[2] = {cols, rows};
        view(b, hf, &f, 2, tshape, 0);
    } else
        sail_free(dst);
    sail_free(src);
}

/* One ResidualAttentionBlock (ln_1, attn, ln_2, mlp.c_fc, mlp.c_proj). */
static void block(oc_src *b, const char *oc_pre, const char *hf_pre, int64_t w, int64_t ffn) {
    static const char *const norms[2][2] = {{"ln_1", "layer_norm1"}, {"ln_2", "layer_norm2"}};
    char oc[256], hf[256];
    for (int k = 0; k < 2; k++)
        for (int bias = 0; bias < 2; bias++) {
            snprintf(oc, sizeof oc, "%s%s.%s", oc_pre, norms[k][0], bias ? "bias" : "weight");
            snprintf(hf, sizeof hf, "%s%s.%s", hf_pre, norms[k][1], bias ? "bias" : "weight");
            plain(b, oc, hf, 1, w, 0, 0, 0);
        }
    snprintf(oc, sizeof oc, "%sattn.in_proj_weight", oc_pre);
    split_qkv(b, oc, hf_pre, 1, w);
    snprintf(oc, sizeof oc, "%sattn.in_proj_bias", oc_pre);
    split_qkv(b, oc, hf_pre, 0, w);
    /* (open_clip, Hugging Face, rows, cols): bias of size rows */
    const struct { const char *oc, *hf; int64_t r, c; } lin[3] = {
        {"attn.out_proj", "self_attn.out_proj", w, w}, {"mlp.c_fc", "mlp.fc1", ffn, w}, {"mlp.c_proj", "mlp.fc2", w, ffn}};
    for (int k = 0; k < 3; k++) {
        snprintf(oc, sizeof oc, "%s%s.weight", oc_pre, lin[k].oc);
        snprintf(hf, sizeof hf, "%s%s.weight", hf_pre, lin[k].hf);
        plain(b, oc, hf, 2, lin[k].r, lin[k].c, 0, 0);
        snprintf(oc, sizeof oc, "%s%s.bias", oc_pre, lin[k].oc);
        snprintf(hf, sizeof hf, "%s%s.bias", hf_pre, lin[k].hf);
        plain(b, oc, hf, 1, lin[k].r, 0, 0, 0);
    }
}

static void norm(oc_src *b, const char *oc, const char *hf, int64_t w) {
    char o[256], h[256];
    for (int bias = 0; bias < 2; bias++) {
        snprintf(o, sizeof o, "%s.%s", oc, bias ? "bias" : "weight");
        snprintf(h, sizeof h, "%s.%s", hf, bias ? "bias" : "weight");
        plain(b, o, h, 1, w, 0, 0, 0);
    }
}

/* Every tensor config c implies, under open_clip's names; tp is the text
 * tower's prefix ("text." for a CustomTextCLIP). */
static void walk(oc_src *b, const sail_config *c, const char *tp) {
    int64_t vw = c->vision.width, tw = c->text.width, p = c->patch_size, g = c->image_size / c->patch_size;
    char oc[256], hf[256];
    plain(b, "visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", 4, vw, 3, p, p);
    plain(b, "visual.class_embedding", "vision_model.embeddings.class_embedding", 1, vw, 0, 0, 0);
    plain(b, "visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", 2, g * g + 1, vw, 0, 0);
    norm(b, "visual.ln_pre", "vision_model.pre_layrnorm", vw);
    for (int l = 0; l < c->vision.layers; l++) {
        snprintf(oc, sizeof oc, "visual.transformer.resblocks.%d.", l);
        snprintf(hf, sizeof hf, "vision_model.encoder.layers.%d.", l);
        block(b, oc, hf, vw, c->vision.ffn);
    }
    norm(b, "visual.ln_post", "vision_model.post_layernorm", vw);
    transposed(b, "visual.proj", "visual_projection.weight", vw, c->dim);
    snprintf(oc, sizeof oc, "%stoken_embedding.weight", tp);
    plain(b, oc, "text_model.embeddings.token_embedding.weight", 2, c->vocab_size, tw, 0, 0);
    snprintf(oc, sizeof oc, "%spositional_embedding", tp);
    plain(b, oc, "text_model.embeddings.position_embedding.weight", 2, c->max_positions, tw, 0, 0);
    for (int l = 0; l < c->text.layers; l++) {
        snprintf(oc, sizeof oc, "%stransformer.resblocks.%d.", tp, l);
        snprintf(hf, sizeof hf, "text_model.encoder.layers.%d.", l);
        block(b, oc, hf, tw, c->text.ffn);
    }
    snprintf(oc, sizeof oc, "%sln_final", tp);
    norm(b, oc, "text_model.final_layer_norm", tw);
    snprintf(oc, sizeof oc, "%stext_projection", tp);
    transposed(b, oc, "text_projection.weight", tw, c->dim);
    plain(b, "logit_scale", "logit_scale", 0, 0, 0, 0, 0);
}

/* What is left must be the causal-mask buffer (older open_clip saved it). */
static void leftovers(oc_src *b) {
    for (int i = 0; !b->s && i < b->n_raw; i++) {
        const char *n = b->raw[i]->name + strlen(b->pre);
        size_t len = strlen(n);
        if (b->raw_used[i] || (len >= 9 && !strcmp(n + len - 9, "attn_mask"))) continue;
        b->s = sail_set_error(b->err, SAIL_ERR_FORMAT,
                              "unexpected tensor '%.200s': open_clip's ViT CLIP as %s has no such parameter",
                              b->raw[i]->name, b->what);
    }
}

/* ------------------------------------------------------------ driver -- */

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* path = dir/name when that file exists. */
static int beside(char *path, size_t cap, const char *dir, const char *name) {
    return snprintf(path, cap, "%s/%s", dir, name) < (int)cap && is_file(path);
}

/* The files of a conversion: the checkpoint, its config and the merges. */
typedef struct oc_files {
    char dir[4096], weights[4096], merges[4096];
    json_t *cfg;                /* open_clip_config.json, or NULL */
} oc_files;

static sail_status find_files(const char *in, const sail_convert_options *o, oc_files *f, sail_error *err) {
    memset(f, 0, sizeof *f);
    if (is_file(in)) {
        snprintf(f->weights, sizeof f->weights, "%s", in);
        const char *slash = strrchr(in, '/');
        snprintf(f->dir, sizeof f->dir, "%.*s", slash ? (int)(slash - in) : 1, slash ? in : ".");
    } else {
        snprintf(f->dir, sizeof f->dir, "%s", in);
        if (!beside(f->weights, sizeof f->weights, in, "open_clip_model.safetensors") &&
            !beside(f->weights, sizeof f->weights, in, "open_clip_pytorch_model.bin"))
            return sail_set_error(err, SAIL_ERR_IO, "%s has no open_clip_model.safetensors or open_clip_pytorch_model.bin "
                                  "(or pass the checkpoint file itself)", in);
    }
    char p[4096];
    if (beside(p, sizeof p, f->dir, "open_clip_config.json") &&
        !(f->cfg = hf_json(f->dir, "open_clip_config.json", 1, err)))
        return err ? err->status : SAIL_ERR_FORMAT;
    if (!f->cfg && !o->arch)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "%s has no open_clip_config.json beside it: pass --arch (ViT-B-32, ViT-B-16, "
                              "ViT-B-32-quickgelu, ViT-B-16-quickgelu)", in);
    if (o->tokenizer) snprintf(f->merges, sizeof f->merges, "%s", o->tokenizer);
    else if (!beside(f->merges, sizeof f->merges, f->dir, "bpe_simple_vocab_16e6.txt.gz") &&
             !beside(f->merges, sizeof f->merges, f->dir, "merges.txt"))
        return sail_set_error(err, SAIL_ERR_IO, "no tokenizer beside %s (bpe_simple_vocab_16e6.txt.gz or merges.txt): "
                              "pass --tokenizer with open_clip's bpe_simple_vocab_16e6.txt.gz", in);
    return SAIL_OK;
}

sail_status hf_openclip_convert(const char *in, const char *out, const sail_convert_options *o, sail_error *err) {
    if (o->pool) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--pool does not apply to CLIP models");
    oc_files f;
    sail_status s = find_files(in, o, &f, err);
    json_t *mc = NULL;
    const json_t *pc = NULL;
    char what[96];
    if (!s && o->arch) {
        mc = preset_cfg(o->arch, err);
        s = mc ? SAIL_OK : (err ? err->status : SAIL_ERR_INVALID_ARG);
        snprintf(what, sizeof what, "--arch %.60s", o->arch);
    } else if (!s) {
        /* {"model_cfg", "preprocess_cfg"}, or a bare model config */
        const json_t *m = json_object_get(f.cfg, "model_cfg");
        mc = json_incref((json_t *)(m ? m : f.cfg));
        snprintf(what, sizeof what, "open_clip_config.json");
    }
    if (f.cfg) pc = json_object_get(f.cfg, "preprocess_cfg");
    hf_model hm;
    if (!s) s = model_cfg(mc, &hm, err);
    if (!s) s = preprocess_cfg(pc, &hm.cfg, err);
    const char *tp = json_is_true(json_object_get(mc, "custom_text")) ? "text." : "";
    oc_src b = {.what = what, .err = err};
    if (!s) s = open_raw(&b, f.weights, err);
    if (!s) {
        walk(&b, &hm.cfg, tp);
        leftovers(&b);
        s = b.s;
    }
    oc_tok ot = {f.merges};
    if (!s) s = hf_emit(&hm, &b.v, tokenizer, &ot, "open-clip", out, err);
    oc_close(&b);
    json_decref(mc);
    json_decref(f.cfg);
    return s;
}
