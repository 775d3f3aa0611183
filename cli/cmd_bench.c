/* cmd_bench.c: `sail bench` measures models' embedding throughput through
 * the public API and their memory: the process's peak RSS while a model is
 * loaded, the part of it the model added (peak minus the RSS before
 * loading), and what the model accounts for (its mapped file + activation
 * arena). Several --model files (e.g. one model stored as f32, f16, bf16 and
 * q8_0) are measured one after the other in one run; the peak is reset
 * between them (/proc/self/clear_refs) so each gets its own.
 *
 * --kind audio (models with an audio tower) embeds one clip (--audio F, or
 * a generated 10 s WAV) held in memory, as the server receives clips, and
 * splits its CPU time: decoding, the model's Kaldi fbank features
 * (sail_model_fbank_params), and the tower (the end-to-end time less those two; CPU time adds up over
 * threads, so the difference is the tower's share). bench/bench_ast.py
 * runs it beside torchaudio and PyTorch. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: sail bench --model M [--model M2 ...] [--batch 1,8] [--threads N]\n"
    "                  [--kind text,image,audio] [--audio F] [--seconds S] [--reps R]\n\n"
    "Embeds synthetic inputs (a 16-token sentence; random 8-bit images at the\n"
    "model's image size, resized and normalised as in real use) in batches and\n"
    "prints, per model, kind and batch size: ms per input, inputs per second,\n"
    "CPU ms per input (all threads; with --threads 1 the cost on an idle core\n"
    "even when the machine is busy), the process's peak RSS, the model's share\n"
    "of it (peak minus the RSS before loading) and that share over file +\n"
    "activation arena (the model's own account of its memory; weights are used\n"
    "in place from the mapped file). CPU times are medians over the timed batches.\n\n"
    "--kind audio (a model with an audio tower) embeds a clip (--audio F; by\n"
    "default a generated 10 s 16 kHz WAV) from memory and adds, per clip, the\n"
    "CPU ms of decoding, of the Kaldi fbank features and of the tower (the rest).\n\n";

enum { MAX_MODELS = 8 };

typedef struct opts {
    const char *models[MAX_MODELS], *kinds, *audio;
    int n_models, batches[16], nb, threads, secs, reps;
} opts;

/* What one timed call runs: a batch of one kind, or one clip's decoding or fbank. */
enum { KIND_TEXT, KIND_IMAGE, KIND_AUDIO, STAGE_DECODE, STAGE_FBANK };
enum { MAX_REPS = 4096 };
static const char *const kind_names[] = {"text", "image", "audio"};

static double now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A /proc/self/status field in MB; -1 when unavailable. */
static double status_mb(const char *key) {
    long kb = sail_proc_status_kb(key);
    return kb < 0 ? -1 : (double)kb / 1024.0;
}

/* Peak RSS in MB since the last sail_proc_reset_peak (Linux reports KiB). */
static double peak_rss_mb(void) {
    double hwm = status_mb("VmHWM");
    if (hwm >= 0) return hwm;
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_maxrss / 1024.0;
}

typedef struct job {
    sail_model *m;
    int kind, batch, side, reps;
    double seconds, base_mb; /* time per measurement; RSS before the model was loaded */
    const char **texts;
    uint8_t *rgb;
    const void **clips;      /* (batch) the same encoded clip, as a server receives it */
    size_t *clip_sizes;      /* (batch) */
    sail_audio wave;         /* the clip decoded at the front end's rate */
    sail_fbank_params fb;
    float *feats;            /* (frames, mel bins) */
    float *out;
    double cpu[MAX_REPS];    /* CPU seconds of each timed call */
} job;

/* One call of the stage being timed. */
static sail_status run_once(job *j, int stage, sail_error *err) {
    if (stage == STAGE_DECODE) {
        sail_audio a = {0};
        sail_audio_options o = {.sample_rate = j->fb.sample_rate};
        sail_status s = sail_audio_decode_bytes(j->clips[0], j->clip_sizes[0], &o, &a, err);
        sail_audio_free(&a);
        return s;
    }
    if (stage == STAGE_FBANK) return sail_fbank(&j->fb, j->wave.samples, j->wave.n, j->feats, err);
    if (stage == KIND_IMAGE) return sail_embed_images_rgb(j->m, j->rgb, j->batch, j->side, j->side, 0, j->out, err);
    if (stage == KIND_AUDIO) return sail_embed_audio_bytes(j->m, j->clips, j->clip_sizes, j->batch, 0, j->out, err);
    return sail_embed_texts(j->m, j->texts, j->batch, 0, j->out, err);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times one stage after a warm-up call for --seconds and at least --reps
 * calls: *wall_s is the mean wall time per call, the result the median CPU
 * seconds per call; -1 after printing why a call failed. */
static double time_stage(job *j, int stage, double *wall_s) {
    sail_error err = {0};
    if (run_once(j, stage, &err)) return cli_fail(1, "bench", "%s", err.msg), -1;
    int iters = 0;
    double t0 = now(CLOCK_MONOTONIC), t;
    do {
        double c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (run_once(j, stage, &err)) return cli_fail(1, "bench", "%s", err.msg), -1;
        j->cpu[iters++] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    } while (iters < MAX_REPS && ((t = now(CLOCK_MONOTONIC) - t0) < j->seconds || iters < j->reps));
    if (wall_s) *wall_s = (now(CLOCK_MONOTONIC) - t0) / iters;
    qsort(j->cpu, (size_t)iters, sizeof *j->cpu, cmp_double);
    return iters % 2 ? j->cpu[iters / 2] : 0.5 * (j->cpu[iters / 2 - 1] + j->cpu[iters / 2]);
}

static int measure(job *j) {
    double wall, cpu_s = time_stage(j, j->kind, &wall);
    if (cpu_s < 0) return 1;
    double per = 1e3 * wall / j->batch, cpu = 1e3 * cpu_s / j->batch;
    sail_model_memory mem;
    sail_model_memory_usage(j->m, &mem);
    double file = (double)mem.file_bytes / 1048576.0, arena = (double)mem.arena_bytes / 1048576.0;
    double packed = (double)mem.repacked_bytes / 1048576.0;
    double acct = file + arena + packed + (double)mem.widened_bytes / 1048576.0;
    double peak = peak_rss_mb(), own = peak - j->base_mb;
    printf("%-5s batch %-3d %9.2f ms/input %9.1f inputs/s (CPU %.2f ms/input)   peak RSS %.1f MB, "
           "model +%.1f MB = %.2fx (file %.1f + arena %.1f + repacked %.1f MB)\n",
           kind_names[j->kind], j->batch, per, 1e3 / per, cpu, peak, own, own / acct, file, arena, packed);
    if (j->kind == KIND_AUDIO) { /* the front end's share, timed per clip; the tower has the rest */
        double dec = time_stage(j, STAGE_DECODE, NULL), fb = time_stage(j, STAGE_FBANK, NULL);
        if (dec < 0 || fb < 0) return 1;
        printf("audio batch %-3d CPU ms/clip: decode %.3f fbank %.3f tower %.2f (%.2f s clip, %lld fbank frames)\n",
               j->batch, 1e3 * dec, 1e3 * fb, cpu - 1e3 * (dec + fb), (double)j->wave.n / j->wave.sample_rate,
               (long long)sail_fbank_frames(&j->fb, j->wave.n));
    }
    fflush(stdout);
    return 0;
}

/* A generated 10 s WAV in memory (a chord over noise; speed does not
 * depend on what it says). */
static sail_status chord_wav(unsigned char **bytes, size_t *len, sail_error *err) {
    enum { N = 10 * SAIL_SOUND_RATE };
    float *x = malloc(N * sizeof *x);
    if (!x) {
        *err = (sail_error){SAIL_ERR_NOMEM, "out of memory for the generated clip"};
        return err->status;
    }
    srand(2);
    for (int i = 0; i < N; i++)
        x[i] = 0.2f * sinf(2 * 3.14159265f * 440 * i / SAIL_SOUND_RATE) +
               0.1f * sinf(2 * 3.14159265f * 660 * i / SAIL_SOUND_RATE) + 0.05f * ((float)rand() / RAND_MAX - 0.5f);
    sail_status s = sail_wav_encode(x, N, bytes, len, err);
    free(x);
    return s;
}

/* The clip --kind audio embeds: --audio's bytes, or the generated WAV,
 * decoded once for the fbank stage. */
static int load_clip(const char *path, int rate, unsigned char **bytes, size_t *len, sail_audio *wave) {
    sail_error err = {0};
    sail_audio_options o = {.sample_rate = rate};
    sail_status s = path ? sail_read_file(path, SAIL_AUDIO_MAX_BYTES, bytes, len, &err) : chord_wav(bytes, len, &err);
    if (!s) s = sail_audio_decode_bytes(*bytes, *len, &o, wave, &err);
    return s ? cli_fail(1, "bench", "%s", err.msg) : 0;
}

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long v;
        if (n == cap || cli_parse_int(tok, 1, 4096, &v)) return -1;
        out[n++] = (int)v;
    }
    return n;
}

static int on_model(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    if (o->n_models == MAX_MODELS) return cli_fail(2, cmd, "at most %d --model files", MAX_MODELS);
    o->models[o->n_models++] = v;
    return 0;
}

static int on_batch(const char *cmd, const cli_opt *opt, const char *v) {
    opts *o = opt->ptr;
    if ((o->nb = parse_list(v, o->batches, 16)) < 1)
        return cli_fail(2, cmd, "--batch needs sizes like 1,8 (1..4096), not '%s'", v);
    return 0;
}

static int bench(job *j, const opts *o, const int kinds[3]) {
    int maxb = 0, rc = 0;
    for (int i = 0; i < o->nb; i++) maxb = o->batches[i] > maxb ? o->batches[i] : maxb;
    int side = j->side = sail_model_image_size(j->m);
    unsigned char *clip = NULL;
    size_t clip_len = 0;
    j->texts = malloc((size_t)maxb * sizeof *j->texts);
    j->rgb = malloc((size_t)maxb * side * side * 3);
    j->clips = malloc((size_t)maxb * sizeof *j->clips);
    j->clip_sizes = malloc((size_t)maxb * sizeof *j->clip_sizes);
    j->out = malloc((size_t)maxb * sail_model_dim(j->m) * sizeof(float));
    if (!j->texts || !j->rgb || !j->clips || !j->clip_sizes || !j->out) rc = cli_fail(1, "bench", "out of memory");
    if (!rc && kinds[KIND_AUDIO]) {
        sail_error err = {0};
        rc = sail_model_fbank_params(j->m, &j->fb, &err) ? cli_fail(1, "bench", "--kind audio: %s", err.msg)
                                                         : load_clip(o->audio, j->fb.sample_rate, &clip, &clip_len, &j->wave);
        j->feats = rc ? NULL : malloc((size_t)sail_fbank_frames(&j->fb, j->wave.n) * j->fb.num_mel_bins * sizeof(float));
        if (!rc && !j->feats) rc = cli_fail(1, "bench", "out of memory");
    }
    for (int i = 0; !rc && i < maxb; i++) {
        j->texts[i] = "a small red circle on the left of a large blue star 红色圆形";
        j->clips[i] = clip;
        j->clip_sizes[i] = clip_len;
    }
    srand(1);
    for (size_t i = 0; !rc && i < (size_t)maxb * side * side * 3; i++) j->rgb[i] = (uint8_t)(rand() >> 7);
    for (int k = 0; k < 3 && !rc; k++) {
        if (!kinds[k]) continue;
        j->kind = k;
        for (int i = 0; i < o->nb && !rc; i++) {
            j->batch = o->batches[i];
            rc = measure(j);
        }
    }
    free(j->texts);
    free(j->rgb);
    free(j->clips);
    free(j->clip_sizes);
    free(j->out);
    free(j->feats);
    sail_free(clip);
    sail_audio_free(&j->wave);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    opts o = {.kinds = "text,image", .batches = {1, 8}, .nb = 2, .secs = 3, .reps = 1};
    const cli_opt table[] = {
        CLI_OPT_CALL("--model", on_model, &o, "M", "model file; repeat to compare files in one run (up to 8)"),
        CLI_OPT_CALL("--batch", on_batch, &o, "LIST", "batch sizes, comma-separated (default 1,8)"),
        CLI_OPT_THREADS(&o.threads, CLI_THREADS_HELP),
        CLI_OPT_STR("--kind", &o.kinds, "LIST", "text, image and/or audio (default text,image)"),
        CLI_OPT_STR("--audio", &o.audio, "F", "the clip --kind audio embeds (default: a generated 10 s WAV)"),
        CLI_OPT_INT("--seconds", &o.secs, 1, 3600, "S", "time per measurement after one warm-up batch (default 3)"),
        CLI_OPT_INT("--reps", &o.reps, 1, MAX_REPS, "R", "at least R timed batches per measurement (default 1)"),
        CLI_OPT_END,
    };
    int rc = cli_start("bench", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    rc = 0;
    const char **models = o.models;
    int kinds[3];
    for (int k = 0; k < 3; k++) kinds[k] = strstr(o.kinds, kind_names[k]) != NULL;
    if (!o.n_models) return cli_fail(2, "bench", "--model is required (see sail bench --help)");
    if (!kinds[0] && !kinds[1] && !kinds[2])
        return cli_fail(2, "bench", "--kind needs text, image and/or audio, not '%s'", o.kinds);
    for (int i = 0; i < o.n_models && !rc; i++) {
        job j = {.reps = o.reps, .seconds = o.secs};
        j.base_mb = status_mb("VmRSS");
        if (sail_proc_reset_peak() && i > 0)
            fprintf(stderr, "sail bench: cannot reset the peak RSS (/proc/self/clear_refs); "
                            "the peaks of later models include earlier ones\n");
        sail_error err = {0};
        j.m = sail_model_load(models[i], &(sail_load_options){.n_threads = o.threads}, &err);
        if (!j.m) return cli_fail(1, "bench", "%s", err.msg);
        printf("# %s (%s)\n# %s\n", models[i], sail_model_weight_type(j.m), sail_model_describe(j.m));
        rc = bench(&j, &o, kinds);
        sail_model_free(j.m);
    }
    return rc;
}
