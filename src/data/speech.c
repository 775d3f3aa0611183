/* speech.c: spoken captions. Each line of a generated data set's manifests
 * is spoken by espeak-ng (its C library, synchronous mode: the synth
 * callback collects 16-bit samples at espeak's 22,050 Hz; each clip in a
 * forked child, see speak()) in `variants`
 * voices: a seeded speed and pitch each, up to `threads` children at once.
 * Then, in the parent and in order, unless clean: libsox reverb
 * on a seeded share of the clips, resampling to 16 kHz (sound.c), and white
 * Gaussian noise at a seeded SNR, mixed here (a sum and a scale; libsox's
 * noise generator is not seedable). Each clip's draws depend only on (seed,
 * split, line, variant), so --limit writes a prefix of the full run's files
 * and the splits of the source data (its held-out items) carry over. */
#include "data/data.h"
#include "rng.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <espeak-ng/espeak_ng.h>
#include <jansson.h>

#include "dl.h"

/* libespeak-ng, loaded by the first espeak_open (dl.h), before any fork */
#define ESPEAK_FUNCS(X)                                                                                     \
    X(espeak_SetSynthCallback) X(espeak_ng_ClearErrorContext) X(espeak_ng_GetSampleRate)                  \
    X(espeak_ng_GetStatusCodeMessage) X(espeak_ng_Initialize) X(espeak_ng_InitializeOutput)               \
    X(espeak_ng_InitializePath) X(espeak_ng_SetParameter) X(espeak_ng_SetVoiceByName) X(espeak_ng_Synthesize) \
    X(espeak_ng_Terminate)
static struct { ESPEAK_FUNCS(SAIL_DL_FIELD) } es;
SAIL_DL_LOADER(es, ESPEAK_FUNCS, "libespeak-ng.so.1")

static const char *const split_names[4] = {"train", "val", "test", "test_novel"};

typedef struct pcm {
    int16_t *x;
    size_t n, cap;
    int nomem;
} pcm;

static int on_samples(short *wav, int n, espeak_EVENT *ev) {
    pcm *p = ev ? ev->user_data : NULL;
    if (!p || !wav || n <= 0) return 0;
    if (p->n + (size_t)n > p->cap) {
        size_t cap = SAIL_MAX(p->cap * 2, p->n + (size_t)n + 22050);
        int16_t *x = sail_realloc(p->x, cap * sizeof *x);
        if (!x) {
            p->nomem = 1;
            return 1; /* abort the synthesis */
        }
        p->x = x, p->cap = cap;
    }
    memcpy(p->x + p->n, wav, (size_t)n * sizeof *wav);
    p->n += (size_t)n;
    return 0;
}

static sail_status espeak_fail(espeak_ng_STATUS s, const char *what, sail_error *err) {
    char msg[256];
    es.espeak_ng_GetStatusCodeMessage(s, msg, sizeof msg);
    return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "espeak-ng: %s: %s (is espeak-ng-data installed?)", what, msg);
}

/* The espeak-ng instance (one per process). Returns its sample rate. */
static sail_status espeak_open(int *rate, sail_error *err) {
    const char *why = es_load();
    if (why)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "the speech generator needs libespeak-ng (%s); on "
                              "Debian: apt-get install libespeak-ng1 espeak-ng-data", why);
    es.espeak_ng_InitializePath(NULL);
    espeak_ng_ERROR_CONTEXT ctx = NULL;
    espeak_ng_STATUS s = es.espeak_ng_Initialize(&ctx);
    es.espeak_ng_ClearErrorContext(&ctx);
    if (s != ENS_OK) return espeak_fail(s, "initialisation", err);
    if ((s = es.espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL)) != ENS_OK)
        return espeak_fail(s, "output set-up", err);
    es.espeak_SetSynthCallback(on_samples);
    *rate = es.espeak_ng_GetSampleRate();
    return SAIL_OK;
}

/* The child's side of speak(): synthesise, then send the status, the
 * sample count and the samples. */
static void speak_child(int fd, const char *text, const char *voice, int wpm, int pitch) {
    pcm p = {0};
    espeak_ng_STATUS s = es.espeak_ng_SetVoiceByName(voice);
    if (s == ENS_OK) s = es.espeak_ng_SetParameter(espeakRATE, wpm, 0);
    if (s == ENS_OK) s = es.espeak_ng_SetParameter(espeakPITCH, pitch, 0);
    /* ENDPAUSE: the sentence-final pause, as the espeak-ng program makes it */
    if (s == ENS_OK)
        s = es.espeak_ng_Synthesize(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakENDPAUSE,
                                 NULL, &p);
    if (p.nomem) s = ENOMEM;
    int32_t st = (int32_t)s;
    uint64_t n = s == ENS_OK ? p.n : 0;
    int bad = write(fd, &st, sizeof st) != sizeof st || write(fd, &n, sizeof n) != sizeof n;
    for (size_t off = 0; !bad && off < n * 2;) {
        ssize_t k = write(fd, (const char *)p.x + off, n * 2 - off);
        bad = k <= 0;
        off += k > 0 ? (size_t)k : 0;
    }
    _exit(bad);
}

static int read_all(int fd, void *buf, size_t n) {
    for (size_t off = 0; off < n;) {
        ssize_t k = read(fd, (char *)buf + off, n - off);
        if (k <= 0) return -1;
        off += (size_t)k;
    }
    return 0;
}

/* One caption spoken into a pipe. espeak-ng carries state from one
 * synthesis to the next (a clip differs by a few samples with what was
 * spoken before it), so each clip is spoken in a forked child of the
 * freshly initialised process: a clip depends only on its text, voice,
 * rate and pitch, and equals the espeak-ng program's output for them, however
 * many children run at once. speak_collect() reads it into p (replaced). */
static sail_status speak_start(const char *text, const char *voice, int wpm, int pitch, pid_t *pid, int *fd_out,
                               sail_error *err) {
    int fd[2];
    if (pipe(fd)) return sail_set_error(err, SAIL_ERR_IO, "pipe: %s", strerror(errno));
    fflush(NULL); /* the child leaves through _exit, but not twice-written buffers */
    *pid = fork();
    if (*pid < 0) {
        close(fd[0]), close(fd[1]);
        return sail_set_error(err, SAIL_ERR_IO, "fork: %s", strerror(errno));
    }
    if (!*pid) {
        close(fd[0]);
        speak_child(fd[1], text, voice, wpm, pitch);
    }
    close(fd[1]);
    *fd_out = fd[0];
    return SAIL_OK;
}

static sail_status speak_collect(pid_t pid, int fd, const char *text, const char *voice, int wpm, int pitch, pcm *p,
                                 sail_error *err) {
    int32_t st = -1;
    uint64_t n = 0;
    int bad = read_all(fd, &st, sizeof st) || read_all(fd, &n, sizeof n) || n > (uint64_t)INT32_MAX;
    if (!bad && n > p->cap) {
        int16_t *x = sail_realloc(p->x, (size_t)n * sizeof *x);
        if (!x) p->nomem = 1, bad = 1;
        else p->x = x, p->cap = (size_t)n;
    }
    if (!bad) bad = read_all(fd, p->x, (size_t)n * 2);
    close(fd);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    p->n = bad ? 0 : (size_t)n;
    if (p->nomem) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for speech");
    if (st == ENOMEM) return sail_set_error(err, SAIL_ERR_NOMEM, "espeak-ng ran out of memory");
    if (st != ENS_OK && st != -1) {
        char what[64];
        snprintf(what, sizeof what, "voice %s, rate %d, pitch %d", voice, wpm, pitch);
        return espeak_fail((espeak_ng_STATUS)st, what, err);
    }
    if (bad || !WIFEXITED(ws) || WEXITSTATUS(ws))
        return sail_set_error(err, SAIL_ERR_IO, "the espeak-ng child process failed for \"%s\"", text);
    if (!p->n) return sail_set_error(err, SAIL_ERR_FORMAT, "espeak-ng made no sound for \"%s\"", text);
    return SAIL_OK;
}

/* White Gaussian noise at snr dB below the clip's mean power. */
static void add_noise(sail_clip *c, int snr, sail_rng *r) {
    double power = 0;
    for (size_t i = 0; i < c->n; i++) power += (double)c->x[i] * c->x[i];
    float sigma = (float)sqrt(power / (double)(c->n ? c->n : 1) / pow(10.0, snr / 10.0));
    for (size_t i = 0; i < c->n; i++) c->x[i] += sigma * sail_rng_normal(r);
}

static int draw(sail_rng *r, int lo, int hi) { return lo + (int)(sail_rng_next(r) % (uint64_t)(hi - lo + 1)); }

/* A clip whose speech a child is making. */
typedef struct clip_job {
    json_t *line;           /* its manifest line (a reference) */
    int k, v;               /* split, variant */
    long no;                /* 0-based line of the split's manifest */
    int wpm, pitch, snr, reverb;
    uint64_t snr_seed;      /* the noise's stream: the draws' stream after them */
    pid_t pid;
    int fd;
} clip_job;

typedef struct job {
    const sail_speech_options *o;
    int rate;               /* espeak's sample rate */
    pcm speech;
    sail_clip clip;
    char *path;             /* scratch, plen bytes */
    size_t plen;
    FILE *out[4];           /* speech_<split>.jsonl */
    long *clips;            /* [4] clips written per split */
    clip_job *q;            /* the children running, oldest at head */
    int depth, head, count;
} job;

static const char *voice_of(json_t *line) {
    return strcmp(json_string_value(json_object_get(line, "lang")), "zh") ? "en" : "cmn";
}

/* The oldest running clip: its speech collected, augmented, written. */
static sail_status finish_clip(job *j, sail_error *err) {
    const sail_speech_options *o = j->o;
    clip_job *c = &j->q[j->head];
    j->head = (j->head + 1) % j->depth, j->count--;
    const char *text = json_string_value(json_object_get(c->line, "text"));
    const char *voice = voice_of(c->line);
    sail_status rc = speak_collect(c->pid, c->fd, text, voice, c->wpm, c->pitch, &j->speech, err);
    if (rc == SAIL_OK) rc = sail_sound_from_pcm(j->speech.x, j->speech.n, j->rate, c->reverb, &j->clip, err);
    if (rc == SAIL_OK && !o->clean) {
        sail_rng r = {c->snr_seed};
        add_noise(&j->clip, c->snr, &r);
    }
    char audio[64];
    snprintf(audio, sizeof audio, "audio/%s/%06ld-%d.wav", split_names[c->k], c->no, c->v);
    snprintf(j->path, j->plen, "%s/%s", o->data, audio);
    if (rc == SAIL_OK) rc = sail_wav_write(j->path, j->clip.x, j->clip.n, err);
    /* The draws go into the line, so a clip can be remade outside sail. */
    const char *group = json_string_value(json_object_get(c->line, "group"));
    if (rc == SAIL_OK)
        rc = sail_data_write_json(j->out[c->k],
                                  json_pack("{s:s, s:s, s:s*, s:s, s:s, s:s, s:i, s:i, s:i, s:o*}", "text", text,
                                            "audio", audio, "image",
                                            json_string_value(json_object_get(c->line, "image")), "lang",
                                            json_string_value(json_object_get(c->line, "lang")), "group", group,
                                            "voice", voice, "rate", c->wpm, "pitch", c->pitch, "reverb", c->reverb,
                                            "snr_db", o->clean ? NULL : json_integer(c->snr)),
                                  group, err);
    j->clips[c->k]++;
    json_decref(c->line);
    return rc;
}

/* After an error: the children still running are stopped and reaped. */
static void drop_clips(job *j) {
    for (; j->count; j->head = (j->head + 1) % j->depth, j->count--) {
        clip_job *c = &j->q[j->head];
        kill(c->pid, SIGKILL);
        close(c->fd);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {}
        json_decref(c->line);
    }
}

/* The clips of manifest line `no` (0-based) of split k, started in children;
 * the oldest are finished first when `depth` are running. */
static sail_status speak_line(job *j, int k, long no, json_t *line, sail_error *err) {
    const sail_speech_options *o = j->o;
    sail_status rc = SAIL_OK;
    int zh = !strcmp(json_string_value(json_object_get(line, "lang")), "zh");
    for (int v = 0; v < o->variants && rc == SAIL_OK; v++) {
        if (j->count == j->depth && (rc = finish_clip(j, err))) break;
        sail_rng r = {sail_data_stream(o->seed, ((uint64_t)k << 40) + (uint64_t)no * 16 + (uint64_t)v, 11)};
        clip_job *c = &j->q[(j->head + j->count) % j->depth];
        /* espeak's cmn counts a syllable as a word: at the English rates a Chinese caption took
         * 2 syllables a second, and 42% of them outran a tiny audio tower's 5.12 s window. */
        *c = (clip_job){.line = line, .k = k, .v = v, .no = no, .fd = -1};
        c->wpm = zh ? draw(&r, 230, 330) : draw(&r, 130, 210);
        c->pitch = draw(&r, 30, 70);
        c->snr = draw(&r, o->snr_min, o->snr_max);
        c->reverb = draw(&r, 0, 99) < o->reverb ? draw(&r, 20, 80) : 0;
        if (o->clean) c->reverb = 0;
        c->snr_seed = r.s;
        rc = speak_start(json_string_value(json_object_get(line, "text")), voice_of(line), c->wpm, c->pitch, &c->pid,
                         &c->fd, err);
        if (rc == SAIL_OK) json_incref(line), j->count++;
    }
    return rc;
}

/* Lines of f (rewound after counting), at most limit when limit > 0. */
static long count_lines(FILE *f, long limit) {
    long n = 0;
    int c, last = '\n';
    while ((c = getc(f)) != EOF) n += (last = c) == '\n';
    n += last != '\n';
    rewind(f);
    return limit > 0 && n > limit ? limit : n;
}

/* One source manifest, split k: every line spoken into j->out[k]. */
static sail_status speak_manifest(job *j, int k, FILE *in, const char *name, sail_data_stats *st,
                                  long *done, long total, sail_data_progress progress, void *ctx,
                                  sail_error *err) {
    sail_status rc = SAIL_OK;
    char *line = NULL;
    size_t cap = 0;
    long no = 0;
    for (ssize_t len; rc == SAIL_OK && (!j->o->limit || no < j->o->limit) && (len = getline(&line, &cap, in)) > 0;
         no++) {
        ++*done;
        if (strspn(line, " \t\r\n") == (size_t)len) continue; /* blank, as the loader allows */
        json_error_t je;
        json_t *v = json_loadb(line, (size_t)len, 0, &je);
        const char *text = json_string_value(json_object_get(v, "text"));
        const char *lang = json_string_value(json_object_get(v, "lang"));
        const char *group = json_string_value(json_object_get(v, "group"));
        if (!text || !lang || !group)
            rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s line %ld: not a sail data line (text, lang and group "
                                "strings): %s", name, no + 1, v ? "a key is missing" : je.text);
        else if (strcmp(lang, "en") && strcmp(lang, "zh"))
            st->skipped[0]++;
        else
            rc = speak_line(j, k, no, v, err);
        json_decref(v);
        if (progress && (*done % 20 == 0 || *done == total)) progress(ctx, *done, total);
    }
    free(line);
    return rc;
}

sail_status sail_data_speech(const sail_speech_options *o, sail_data_progress progress, void *ctx,
                             sail_data_stats *stats, sail_error *err) {
    if (o->variants < 1 || o->variants > 16)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--variants must be 1..16, not %d", o->variants);
    if (o->snr_min > o->snr_max || o->snr_min < -10 || o->snr_max > 60)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the SNR range must lie in -10..60 dB with min <= max, "
                              "not %d..%d", o->snr_min, o->snr_max);
    if (o->reverb < 0 || o->reverb > 100)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--reverb must be 0..100 (percent), not %d", o->reverb);
    if (o->limit < 0) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--limit must be positive");
    if (o->threads < 0 || o->threads > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--threads must be 0..1024, not %d", o->threads);
    sail_data_stats st = {0};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    job j = {.o = o, .plen = strlen(o->data) + 96, .clips = st.lines,
             .depth = o->threads ? o->threads : cores > 0 ? (int)SAIL_MIN(cores, 1024) : 1};
    FILE *in[4] = {0};
    long total = 0, done = 0;
    j.path = sail_malloc(j.plen);
    j.q = sail_calloc((size_t)j.depth, sizeof *j.q);
    sail_status rc = j.path && j.q ? SAIL_OK : sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 4 && rc == SAIL_OK; k++) {
        snprintf(j.path, j.plen, "%s/%s.jsonl", o->data, split_names[k]);
        if ((in[k] = fopen(j.path, "r"))) total += count_lines(in[k], o->limit);
        else if (errno != ENOENT)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: cannot read: %s", j.path, strerror(errno));
    }
    if (rc == SAIL_OK && !in[0] && !in[1] && !in[2] && !in[3])
        rc = sail_set_error(err, SAIL_ERR_IO, "%s holds no train/val/test/test_novel.jsonl: make it with "
                            "sail data shapes, emoji or stamps first", o->data);
    for (int k = 0; k < 4 && rc == SAIL_OK; k++) {
        if (!in[k]) continue;
        snprintf(j.path, j.plen, "%s/audio/%s", o->data, split_names[k]);
        rc = sail_data_mkdir(j.path, err);
        snprintf(j.path, j.plen, "%s/speech_%s.jsonl", o->data, split_names[k]);
        if (rc == SAIL_OK && !(j.out[k] = fopen(j.path, "w")))
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", j.path, strerror(errno));
    }
    if (rc == SAIL_OK) rc = sail_sound_init(err);
    if (rc == SAIL_OK) rc = espeak_open(&j.rate, err);
    for (int k = 0; k < 4 && rc == SAIL_OK; k++) {
        if (!in[k]) continue;
        char name[32];
        snprintf(name, sizeof name, "%s.jsonl", split_names[k]);
        rc = speak_manifest(&j, k, in[k], name, &st, &done, total, progress, ctx, err);
    }
    while (rc == SAIL_OK && j.count) rc = finish_clip(&j, err);
    if (j.q) drop_clips(&j);
    for (int k = 0; k < 4; k++) {
        if (in[k]) fclose(in[k]);
        if (j.out[k] && fclose(j.out[k]) && rc == SAIL_OK)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s/speech_%s.jsonl: write failed: %s", o->data, split_names[k],
                                strerror(errno));
    }
    if (j.rate) es.espeak_ng_Terminate();
    sail_sound_quit();
    sail_free(j.speech.x);
    sail_clip_free(&j.clip);
    sail_free(j.path);
    sail_free(j.q);
    if (stats) *stats = st;
    return rc;
}
