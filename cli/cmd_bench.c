/* cmd_bench.c: `sail bench` measures models' embedding throughput through
 * the public API and their memory: the process's peak RSS while a model is
 * loaded, the part of it the model added (peak minus the RSS before
 * loading), and what the model accounts for (its mapped file + activation
 * arena). Several --model files (e.g. one model stored as f32, f16, bf16 and
 * q8_0) are measured one after the other in one run; the peak is reset
 * between them (/proc/self/clear_refs) so each gets its own. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char usage[] =
    "usage: sail bench --model M [--model M2 ...] [--batch 1,8] [--threads N]\n"
    "                  [--kind text,image] [--seconds S]\n\n"
    "Embeds synthetic inputs (a 16-token sentence; random 8-bit images at the\n"
    "model's image size, resized and normalised as in real use) in batches and\n"
    "prints, per model, kind and batch size: ms per input, inputs per second,\n"
    "CPU ms per input (all threads; with --threads 1 the cost on an idle core\n"
    "even when the machine is busy), the process's peak RSS, the model's share\n"
    "of it (peak minus the RSS before loading) and that share over file +\n"
    "activation arena (the model's own account of its memory; weights are used\n"
    "in place from the mapped file).\n\n";

enum { MAX_MODELS = 8 };

typedef struct opts {
    const char *models[MAX_MODELS], *kinds;
    int n_models, batches[16], nb, threads, secs;
} opts;

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
    int image, batch, side;
    double base_mb;   /* RSS before the model was loaded */
    const char **texts;
    uint8_t *rgb;
    float *out;
} job;

static sail_status run_batch(job *j, sail_error *err) {
    if (j->image) return sail_embed_images_rgb(j->m, j->rgb, j->batch, j->side, j->side, 0, j->out, err);
    return sail_embed_texts(j->m, j->texts, j->batch, 0, j->out, err);
}

static int measure(job *j, double seconds) {
    sail_error err = {0};
    if (run_batch(j, &err)) return cli_fail(1, "bench", "%s", err.msg);
    long iters = 0;
    double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID), t;
    do {
        if (run_batch(j, &err)) return cli_fail(1, "bench", "%s", err.msg);
        iters++;
    } while ((t = now(CLOCK_MONOTONIC) - t0) < seconds);
    double per = 1e3 * t / (double)(iters * j->batch);
    double cpu = 1e3 * (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)(iters * j->batch);
    sail_model_memory mem;
    sail_model_memory_usage(j->m, &mem);
    double file = (double)mem.file_bytes / 1048576.0, arena = (double)mem.arena_bytes / 1048576.0;
    double acct = file + arena + (double)mem.widened_bytes / 1048576.0;
    double peak = peak_rss_mb(), own = peak - j->base_mb;
    printf("%-5s batch %-3d %9.2f ms/input %9.1f inputs/s (CPU %.2f ms/input)   peak RSS %.1f MB, "
           "model +%.1f MB = %.2fx (file %.1f + arena %.1f MB)\n",
           j->image ? "image" : "text", j->batch, per, 1e3 / per, cpu, peak, own, own / acct, file,
           arena);
    fflush(stdout);
    return 0;
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

static int bench(job *j, const int *batches, int nb, int text, int image, double secs) {
    int maxb = 0;
    for (int i = 0; i < nb; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    int side = j->side = sail_model_image_size(j->m);
    j->texts = malloc((size_t)maxb * sizeof *j->texts);
    j->rgb = malloc((size_t)maxb * side * side * 3);
    j->out = malloc((size_t)maxb * sail_model_dim(j->m) * sizeof(float));
    int rc = !j->texts || !j->rgb || !j->out ? cli_fail(1, "bench", "out of memory") : 0;
    for (int i = 0; !rc && i < maxb; i++) j->texts[i] = "a small red circle on the left of a large blue star 红色圆形";
    srand(1);
    for (size_t i = 0; !rc && i < (size_t)maxb * side * side * 3; i++) j->rgb[i] = (uint8_t)(rand() >> 7);
    for (int k = 0; k < 2 && !rc; k++) {
        if (!(k ? image : text)) continue;
        j->image = k;
        for (int i = 0; i < nb && !rc; i++) {
            j->batch = batches[i];
            rc = measure(j, secs);
        }
    }
    free(j->texts);
    free(j->rgb);
    free(j->out);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    opts o = {.kinds = "text,image", .batches = {1, 8}, .nb = 2, .secs = 3};
    const cli_opt table[] = {
        CLI_OPT_CALL("--model", on_model, &o, "M", "model file; repeat to compare files in one run (up to 8)"),
        CLI_OPT_CALL("--batch", on_batch, &o, "LIST", "batch sizes, comma-separated (default 1,8)"),
        CLI_OPT_THREADS(&o.threads, CLI_THREADS_HELP),
        CLI_OPT_STR("--kind", &o.kinds, "LIST", "text, image or both (default text,image)"),
        CLI_OPT_INT("--seconds", &o.secs, 1, 3600, "S", "time per measurement after one warm-up batch (default 3)"),
        CLI_OPT_END,
    };
    const cli_spec spec = {"bench", usage, table, NULL};
    int rc = cli_parse(&spec, argc, argv, 1);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    const char **models = o.models;
    int text = strstr(o.kinds, "text") != NULL, image = strstr(o.kinds, "image") != NULL;
    if (!o.n_models) return cli_fail(2, "bench", "--model is required (see sail bench --help)");
    if (!text && !image) return cli_fail(2, "bench", "--kind needs text, image or both, not '%s'", o.kinds);
    for (int i = 0; i < o.n_models && !rc; i++) {
        job j = {0};
        j.base_mb = status_mb("VmRSS");
        if (sail_proc_reset_peak() && i > 0)
            fprintf(stderr, "sail bench: cannot reset the peak RSS (/proc/self/clear_refs); "
                            "the peaks of later models include earlier ones\n");
        sail_error err = {0};
        j.m = sail_model_load(models[i], &(sail_load_options){.n_threads = o.threads}, &err);
        if (!j.m) return cli_fail(1, "bench", "%s", err.msg);
        printf("# %s (%s)\n# %s\n", models[i], sail_model_weight_type(j.m), sail_model_describe(j.m));
        rc = bench(&j, o.batches, o.nb, text, image, (double)o.secs);
        sail_model_free(j.m);
    }
    return rc;
}
