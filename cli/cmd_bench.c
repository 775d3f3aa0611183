/* cmd_bench.c: `sail bench` measures a model's embedding throughput through
 * the public API and its memory: peak RSS beside what the model accounts
 * for (file + widened weights + activation arena). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char usage[] =
    "usage: sail bench --model M [--batch 1,8] [--threads N] [--kind text,image]\n"
    "                  [--seconds S]\n\n"
    "Embeds synthetic inputs (a 16-token sentence; random 8-bit images at the\n"
    "model's image size, resized and normalised as in real use) in batches and\n"
    "prints, per kind and batch size: ms per input, inputs per second, and the\n"
    "process's peak RSS beside file + widened weights + activation arena.\n\n"
    "  --model M     model file\n"
    "  --batch LIST  batch sizes, comma-separated (default 1,8)\n"
    "  --threads N   compute threads (default: one per core)\n"
    "  --kind LIST   text, image or both (default text,image)\n"
    "  --seconds S   time per measurement after one warm-up batch (default 3)\n";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double peak_rss_mb(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_maxrss / 1024.0; /* Linux reports KiB */
}

typedef struct job {
    sail_model *m;
    int image, batch, side;
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
    double t0 = now(), t;
    do {
        if (run_batch(j, &err)) return cli_fail(1, "bench", "%s", err.msg);
        iters++;
    } while ((t = now() - t0) < seconds);
    double per = 1e3 * t / (double)(iters * j->batch);
    sail_model_memory mem;
    sail_model_memory_usage(j->m, &mem);
    double acct = (double)(mem.file_bytes + mem.widened_bytes + mem.arena_bytes) / 1048576.0;
    printf("%-5s batch %-3d %9.2f ms/input %9.1f inputs/s   peak RSS %7.1f MB  (file %.1f + widened %.1f + arena %.1f = %.1f MB)\n",
           j->image ? "image" : "text", j->batch, per, 1e3 / per, peak_rss_mb(),
           (double)mem.file_bytes / 1048576.0, (double)mem.widened_bytes / 1048576.0,
           (double)mem.arena_bytes / 1048576.0, acct);
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

static int bench(sail_model *m, const int *batches, int nb, int text, int image, double secs) {
    int maxb = 0;
    for (int i = 0; i < nb; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    int side = sail_model_image_size(m);
    job j = {.m = m, .side = side};
    j.texts = malloc((size_t)maxb * sizeof *j.texts);
    j.rgb = malloc((size_t)maxb * side * side * 3);
    j.out = malloc((size_t)maxb * sail_model_dim(m) * sizeof(float));
    int rc = !j.texts || !j.rgb || !j.out ? cli_fail(1, "bench", "out of memory") : 0;
    for (int i = 0; !rc && i < maxb; i++) j.texts[i] = "a small red circle on the left of a large blue star 红色圆形";
    srand(1);
    for (size_t i = 0; !rc && i < (size_t)maxb * side * side * 3; i++) j.rgb[i] = (uint8_t)(rand() >> 7);
    for (int k = 0; k < 2 && !rc; k++) {
        if (!(k ? image : text)) continue;
        j.image = k;
        for (int i = 0; i < nb && !rc; i++) {
            j.batch = batches[i];
            rc = measure(&j, secs);
        }
    }
    free(j.texts);
    free(j.rgb);
    free(j.out);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char *model = NULL, *kinds = "text,image";
    int batches[16] = {1, 8}, nb = 2;
    long threads = 0, secs = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_fail(2, "bench", "option %s needs a value\n%s", a, usage);
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--kind")) kinds = v;
        else if (!strcmp(a, "--batch")) {
            if ((nb = parse_list(v, batches, 16)) < 1)
                return cli_fail(2, "bench", "--batch needs sizes like 1,8 (1..4096), not '%s'", v);
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_int(v, 1, 1024, &threads)) return cli_fail(2, "bench", "--threads needs 1..1024, not '%s'", v);
        } else if (!strcmp(a, "--seconds")) {
            if (cli_parse_int(v, 1, 3600, &secs)) return cli_fail(2, "bench", "--seconds needs 1..3600, not '%s'", v);
        } else
            return cli_fail(2, "bench", "unknown option '%s'\n%s", a, usage);
        i++;
    }
    int text = strstr(kinds, "text") != NULL, image = strstr(kinds, "image") != NULL;
    if (!model) return cli_fail(2, "bench", "--model is required\n%s", usage);
    if (!text && !image) return cli_fail(2, "bench", "--kind needs text, image or both, not '%s'", kinds);
    sail_error err = {0};
    sail_model *m = sail_model_load(model, &(sail_load_options){.n_threads = (int)threads}, &err);
    if (!m) return cli_fail(1, "bench", "%s", err.msg);
    printf("# %s\n# %s\n", model, sail_model_describe(m));
    int rc = bench(m, batches, nb, text, image, (double)secs);
    sail_model_free(m);
    return rc;
}
