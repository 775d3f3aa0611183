/* cmd_info.c: `sail info` prints a model file's configuration, parameter
 * count, tensor types and file size. */
#include "cli.h"
#include "format/gguf.h"
#include "model/config.h"

#include <stdio.h>

static const char usage[] =
    "usage: sail info [--tensors] MODEL.gguf\n\n"
    "Prints the configuration, parameter count, tensor types and file size of a\n"
    "sail model.\n\n";

static void print_types(const gguf_file *f) {
    uint64_t count[32] = {0}, bytes[32] = {0};
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        uint32_t t = f->tensors[i].type < 32 ? f->tensors[i].type : 31;
        count[t]++;
        bytes[t] += f->tensors[i].nbytes;
    }
    for (int t = 0; t < 32; t++)
        if (count[t])
            printf("  %-6s %llu tensors, %.2f MiB\n", gguf_type_name((uint32_t)t),
                   (unsigned long long)count[t], bytes[t] / 1048576.0);
}

static void print_tensors(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        printf("  %-40.*s %-5s [", (int)t->name.len, t->name.ptr, gguf_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf("%s%llu", d ? ", " : "", (unsigned long long)t->ne[d]);
        printf("]\n");
    }
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int tensors = 0;
    const cli_opt table[] = {
        CLI_OPT_FLAG("--tensors", &tensors, "also list every tensor with its type and shape"),
        CLI_OPT_STR("MODEL.gguf", &path, NULL, NULL),
        CLI_OPT_END,
    };
    const cli_spec spec = {"info", usage, table, NULL};
    int rc = cli_parse(&spec, argc, argv, 1);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (!path) return cli_fail(2, "info", "no model file given (see sail info --help)");
    sail_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    if (!f) return cli_fail(1, "info", "%s", err.msg);
    sail_config c;
    if (sail_config_read(&c, f, &err)) {
        gguf_close(f);
        return cli_fail(1, "info", "%s: %s", path, err.msg);
    }
    char desc[1024];
    sail_config_describe(&c, desc, sizeof desc);
    unsigned long long params = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        unsigned long long n = 1;
        for (uint32_t d = 0; d < f->tensors[i].n_dims; d++) n *= f->tensors[i].ne[d];
        params += n;
    }
    printf("file:       %s (%.2f MiB, GGUF v%u)\n", path, f->size / 1048576.0, f->version);
    printf("model:      %s\n", c.name);
    printf("parameters: %llu (%.1f M)\n", params, params / 1e6);
    printf("output dim: %d\n", c.dim);
    printf("text:       %d layers, width %d, %d heads, ffn %d, %s-norm, vocab %d, context %d\n",
           c.text.layers, c.text.width, c.text.heads, c.text.ffn, c.text.prenorm ? "pre" : "post",
           c.vocab_size, c.context);
    if (c.vision.layers)
        printf("vision:     %d layers, width %d, %d heads, ffn %d, %dpx, patch %d\n", c.vision.layers,
               c.vision.width, c.vision.heads, c.vision.ffn, c.image_size, c.patch_size);
    else
        printf("vision:     none\n");
    if (c.swin.on) {
        const sail_swin_cfg *sw = &c.swin;
        const sail_logmel_params *m = &sw->mel;
        static const char *const pads[] = {"repeated then zero-padded", "repeated", "zero-padded"};
        char stages[96] = "";
        size_t k = 0;
        for (int i = 0; i < sw->stages && k < sizeof stages; i++)
            k += (size_t)snprintf(stages + k, sizeof stages - k, "%s%dx%d", i ? ", " : "", sw->depths[i], sw->heads[i]);
        int frames = 1 + sw->max_samples / m->hop;
        printf("audio:      HTSAT (CLAP), stages (blocks x heads) %s, width %d..%d, window %d, patch %d over a "
               "%dx%d image\n", stages, sw->embed, sw->embed << (sw->stages - 1), sw->window, sw->patch, sw->spec,
               sw->spec);
        printf("audio in:   %d Hz mono, log-mel %d bins (FFT %d, hop %d, %g..%g Hz, %s, dB), %.2f s (%d frames): "
               "shorter clips %s, longer ones %s\n", m->sample_rate, m->n_mels, m->n_fft, m->hop, m->fmin, m->fmax,
               m->htk_mel ? "HTK" : "Slaney", (double)sw->max_samples / m->sample_rate, frames, pads[sw->pad],
               sw->fusion ? "as three crops and the whole shrunk, fused (enable_fusion)" : "cut to their start");
    } else if (c.audio.tower.layers) {
        const sail_fbank_params *fb = &c.audio.fbank;
        const sail_tower *t = &c.audio.tower;
        printf("audio:      %d layers, width %d, %d heads, ffn %d, patch %d, stride %dx%d (mel x frames), "
               "%s tokens\n", t->layers, t->width, t->heads, t->ffn, c.audio.patch, c.audio.stride_f,
               c.audio.stride_t, c.audio.dist ? "class + distillation" : "class");
        printf("audio in:   %d Hz mono, Kaldi fbank %d mel bins, %g ms %s windows every %g ms, %g..%g Hz, "
               "pre-emphasis %g; padded or cut to %d frames (%.2f s); ",
               fb->sample_rate, fb->num_mel_bins, fb->frame_length_ms, sail_window_name(fb->window), fb->frame_shift_ms,
               fb->low_freq, fb->high_freq > 0 ? fb->high_freq : fb->sample_rate / 2.0 + fb->high_freq,
               fb->preemphasis, fb->max_length, fb->max_length * fb->frame_shift_ms / 1000.0);
        if (fb->norm_std > 0) printf("(x - mean) / (2 std), mean %.8g, std %.8g\n", fb->norm_mean, fb->norm_std);
        else printf("not normalised\n");
    }
    printf("fusion:     %d layers, width %d, %d heads, perceiver latents %d\n", c.fusion.layers,
           c.fusion.width, c.fusion.heads, c.perceiver_latents);
    printf("config:     %s\n", desc);
    printf("tensors:    %llu\n", (unsigned long long)f->n_tensors);
    print_types(f);
    if (tensors) print_tensors(f);
    gguf_close(f);
    return 0;
}
