/* info.c: the report `sail info` prints about a model file
 * (sail_model_file_info): configuration, parameter count, tensor types and
 * sizes, read from the GGUF header and sail.* keys without loading the
 * weights. */
#include "format/gguf.h"
#include "model/config.h"

#include <stdio.h>
#include <string.h>

static void print_types(FILE *o, const gguf_file *f) {
    uint64_t count[32] = {0}, bytes[32] = {0};
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        uint32_t t = f->tensors[i].type < 32 ? f->tensors[i].type : 31;
        count[t]++;
        bytes[t] += f->tensors[i].nbytes;
    }
    for (int t = 0; t < 32; t++)
        if (count[t])
            fprintf(o, "  %-6s %llu tensors, %.2f MiB\n", gguf_type_name((uint32_t)t),
                       (unsigned long long)count[t], bytes[t] / 1048576.0);
}

static void print_tensors(FILE *o, const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        fprintf(o, "  %-40.*s %-5s [", (int)t->name.len, t->name.ptr, gguf_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            fprintf(o, "%s%llu", d ? ", " : "", (unsigned long long)t->ne[d]);
        fprintf(o, "]\n");
    }
}

sail_status sail_model_file_info(const char *path, int with_tensors, char **text, sail_error *err) {
    if (!path || !text) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "path or output is NULL");
    sail_error e = {0};
    gguf_file *f = gguf_open(path, &e);
    sail_config c;
    if (f && sail_config_read(&c, f, &e)) {
        gguf_close(f);
        f = NULL;
        sail_error_prefix(&e, "%s", path);
    }
    if (!f) {
        if (err) *err = e;
        return e.status;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o) {
        gguf_close(f);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the report on %s", path);
    }
    char desc[1024];
    sail_config_describe(&c, desc, sizeof desc);
    unsigned long long params = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        unsigned long long n = 1;
        for (uint32_t d = 0; d < f->tensors[i].n_dims; d++) n *= f->tensors[i].ne[d];
        params += n;
    }
    fprintf(o, "file:       %s (%.2f MiB, GGUF v%u)\n", path, f->size / 1048576.0, f->version);
    fprintf(o, "model:      %s\n", c.name);
    fprintf(o, "parameters: %llu (%.1f M)\n", params, params / 1e6);
    fprintf(o, "output dim: %d\n", c.dim);
    fprintf(o, "text:       %d layers, width %d, %d heads, ffn %d, %s-norm, vocab %d, context %d\n",
               c.text.layers, c.text.width, c.text.heads, c.text.ffn, c.text.prenorm ? "pre" : "post",
               c.vocab_size, c.context);
    if (c.vision.layers)
        fprintf(o, "vision:     %d layers, width %d, %d heads, ffn %d, %dpx, patch %d\n", c.vision.layers,
                   c.vision.width, c.vision.heads, c.vision.ffn, c.image_size, c.patch_size);
    else
        fprintf(o, "vision:     none\n");
    if (c.swin.on) {
        const sail_swin_cfg *sw = &c.swin;
        const sail_logmel_params *m = &sw->mel;
        static const char *const pads[] = {"repeated then zero-padded", "repeated", "zero-padded"};
        char stages[96] = "";
        size_t k = 0;
        for (int i = 0; i < sw->stages && k < sizeof stages; i++)
            k += (size_t)snprintf(stages + k, sizeof stages - k, "%s%dx%d", i ? ", " : "", sw->depths[i], sw->heads[i]);
        int frames = 1 + sw->max_samples / m->hop;
        fprintf(o, "audio:      HTSAT (CLAP), stages (blocks x heads) %s, width %d..%d, window %d, patch %d over a "
                   "%dx%d image\n", stages, sw->embed, sw->embed << (sw->stages - 1), sw->window, sw->patch, sw->spec,
                   sw->spec);
        fprintf(o, "audio in:   %d Hz mono, log-mel %d bins (FFT %d, hop %d, %g..%g Hz, %s, dB), %.2f s (%d frames): "
                   "shorter clips %s, longer ones %s\n", m->sample_rate, m->n_mels, m->n_fft, m->hop, m->fmin, m->fmax,
                   m->htk_mel ? "HTK" : "Slaney", (double)sw->max_samples / m->sample_rate, frames, pads[sw->pad],
                   sw->fusion ? "as three crops and the whole shrunk, fused (enable_fusion)" : "cut to their start");
    } else if (c.audio.tower.layers) {
        const sail_fbank_params *fb = &c.audio.fbank;
        const sail_tower *t = &c.audio.tower;
        fprintf(o, "audio:      %d layers, width %d, %d heads, ffn %d, patch %d, stride %dx%d (mel x frames), "
                   "%s tokens\n", t->layers, t->width, t->heads, t->ffn, c.audio.patch, c.audio.stride_f,
                   c.audio.stride_t, c.audio.dist ? "class + distillation" : "class");
        fprintf(o, "audio in:   %d Hz mono, Kaldi fbank %d mel bins, %g ms %s windows every %g ms, %g..%g Hz, "
                   "pre-emphasis %g; padded or cut to %d frames (%.2f s); ",
                   fb->sample_rate, fb->num_mel_bins, fb->frame_length_ms, sail_window_name(fb->window), fb->frame_shift_ms,
                   fb->low_freq, fb->high_freq > 0 ? fb->high_freq : fb->sample_rate / 2.0 + fb->high_freq,
                   fb->preemphasis, fb->max_length, fb->max_length * fb->frame_shift_ms / 1000.0);
        if (fb->norm_std > 0) fprintf(o, "(x - mean) / (2 std), mean %.8g, std %.8g\n", fb->norm_mean, fb->norm_std);
        else fprintf(o, "not normalised\n");
    }
    fprintf(o, "fusion:     %d layers, width %d, %d heads, perceiver latents %d\n", c.fusion.layers,
               c.fusion.width, c.fusion.heads, c.perceiver_latents);
    fprintf(o, "config:     %s\n", desc);
    fprintf(o, "tensors:    %llu\n", (unsigned long long)f->n_tensors);
    print_types(o, f);
    if (with_tensors) print_tensors(o, f);
    gguf_close(f);
    if (fclose(o)) {
        sail_free(buf);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the report on %s", path);
    }
    *text = buf;
    return SAIL_OK;
}
