/* sound.c: the audio side of the speech generator, through libsox: spoken
 * samples run through an effects chain (optional reverb, mono, resampling
 * to 16 kHz) into a float buffer (the WAV writer both generators use is
 * libsail's, src/audio/wav.c). Built into the sail program only (with speech.c and
 * stamps.c), not into libsail: docs/DATA.md says why; libsox itself is loaded
 * by the first sail_sound_init. */
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sox.h>

#include "dl.h"

/* libsox, loaded by the first sail_sound_init (dl.h) */
#define SOX_FUNCS(X)                                                                                       \
    X(sox_get_globals) X(sox_init) X(sox_quit) X(sox_create_effects_chain) X(sox_delete_effects_chain)  \
    X(sox_create_effect) X(sox_find_effect) X(sox_effect_options) X(sox_add_effect) X(sox_flow_effects) \
    X(sox_init_encodinginfo)
static struct { SOX_FUNCS(SAIL_DL_FIELD) } sx;
SAIL_DL_LOADER(sx, SOX_FUNCS, "libsox.so.3")

static int sox_ready;

sail_status sail_sound_init(sail_error *err) {
    if (sox_ready) return SAIL_OK;
    const char *why = sx_load();
    if (why)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "the speech generator needs libsox (%s); on Debian: "
                              "apt-get install libsox3 libsox-fmt-base", why);
    /* The library never prints: libsox's messages are turned off; failures
     * come back as statuses. */
    sx.sox_get_globals()->verbosity = 0;
    if (sx.sox_init() != SOX_SUCCESS) return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "libsox failed to initialise");
    sox_ready = 1;
    return SAIL_OK;
}

void sail_sound_quit(void) {
    if (sox_ready) sx.sox_quit();
    sox_ready = 0;
}

void sail_clip_free(sail_clip *c) {
    sail_free(c->x);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------- the chain's two ends -- */

typedef struct mem_in {
    const int16_t *x;
    size_t n, pos;
} mem_in;

typedef struct collect {
    sail_clip *clip;
    int nomem;
} collect;

static int mem_drain(sox_effect_t *e, sox_sample_t *obuf, size_t *osamp) {
    mem_in *m = *(mem_in **)e->priv;
    size_t k = SAIL_MIN(*osamp, m->n - m->pos);
    for (size_t i = 0; i < k; i++) obuf[i] = (sox_sample_t)m->x[m->pos + i] * 65536;
    m->pos += k;
    *osamp = k;
    return k ? SOX_SUCCESS : SOX_EOF;
}

static int collect_flow(sox_effect_t *e, const sox_sample_t *ibuf, sox_sample_t *obuf, size_t *isamp,
                        size_t *osamp) {
    collect *c = *(collect **)e->priv;
    sail_clip *clip = c->clip;
    size_t k = *isamp;
    if (clip->n + k > clip->cap) {
        size_t cap = SAIL_MAX(clip->cap * 2, clip->n + k + 16000);
        float *x = sail_realloc(clip->x, cap * sizeof *x);
        if (!x) {
            c->nomem = 1;
            return SOX_EOF;
        }
        clip->x = x, clip->cap = cap;
    }
    for (size_t i = 0; i < k; i++) clip->x[clip->n + i] = (float)(ibuf[i] * (1.0 / 2147483648.0));
    clip->n += k;
    *osamp = 0;
    return SOX_SUCCESS;
}

static const sox_effect_handler_t mem_in_handler = {"sail_in", NULL, SOX_EFF_MCHAN, NULL, NULL, NULL,
                                                    mem_drain, NULL, NULL, sizeof(mem_in *)};
static const sox_effect_handler_t collect_handler = {"sail_out", NULL, SOX_EFF_MCHAN, NULL, NULL, collect_flow,
                                                     NULL, NULL, NULL, sizeof(collect *)};

/* Add one effect; its private area holds ctx when given (our two ends). */
static int add(sox_effects_chain_t *ch, sox_signalinfo_t *sig, const sox_signalinfo_t *out,
               const sox_effect_handler_t *h, void *ctx, int argc, char **argv) {
    sox_effect_t *e = h ? sx.sox_create_effect(h) : NULL;
    if (!e) return -1;
    if (ctx) *(void **)e->priv = ctx;
    int bad = sx.sox_effect_options(e, argc, argv) != SOX_SUCCESS || sx.sox_add_effect(ch, e, sig, out) != SOX_SUCCESS;
    free(e);
    return bad ? -1 : 0;
}

/* The chain from the first effect `first` to the collector: reverb when
 * reverb > 0, mono, 16 kHz. The clip is replaced. */
static sail_status run(const sox_effect_handler_t *first, void *first_ctx, sox_signalinfo_t in,
                       const sox_encodinginfo_t *enc, int reverb, const char *what, sail_clip *out,
                       sail_error *err) {
    out->n = 0;
    sox_signalinfo_t sig = in, mono = in;
    mono.channels = 1;
    sox_signalinfo_t final = mono;
    final.rate = SAIL_SOUND_RATE;
    sox_encodinginfo_t out_enc = *enc;
    sox_effects_chain_t *ch = sx.sox_create_effects_chain(enc, &out_enc);
    if (!ch) return sail_set_error(err, SAIL_ERR_NOMEM, "%s: libsox cannot create an effects chain", what);
    collect c = {out, 0};
    char rev[16], *rev_argv[] = {rev, "50", "100"}; /* reverberance %, HF damping %, room scale % */
    snprintf(rev, sizeof rev, "%d", reverb);
    int bad = add(ch, &sig, &in, first, first_ctx, 0, NULL);
    if (!bad && reverb > 0) bad = add(ch, &sig, &mono, sx.sox_find_effect("reverb"), NULL, 3, rev_argv);
    /* reverb makes stereo of mono (its stereo depth): mixed back */
    if (!bad && sig.channels != 1) bad = add(ch, &sig, &mono, sx.sox_find_effect("channels"), NULL, 0, NULL);
    if (!bad && in.rate != SAIL_SOUND_RATE) bad = add(ch, &sig, &final, sx.sox_find_effect("rate"), NULL, 0, NULL);
    if (!bad) bad = add(ch, &sig, &final, &collect_handler, &c, 0, NULL);
    if (!bad) sx.sox_flow_effects(ch, NULL, NULL);
    sx.sox_delete_effects_chain(ch);
    if (bad) return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: libsox rejected the effects chain", what);
    if (c.nomem) return sail_set_error(err, SAIL_ERR_NOMEM, "%s: out of memory for the audio", what);
    if (sig.channels != 1 || sig.rate != SAIL_SOUND_RATE)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "%s: libsox made %u channels at %g Hz", what, sig.channels,
                              sig.rate);
    return SAIL_OK;
}

sail_status sail_sound_from_pcm(const int16_t *x, size_t n, double rate, int reverb, sail_clip *out,
                                sail_error *err) {
    mem_in m = {x, n, 0};
    sox_signalinfo_t in = {rate, 1, 16, n, NULL};
    sox_encodinginfo_t enc;
    sx.sox_init_encodinginfo(&enc);
    enc.encoding = SOX_ENCODING_SIGN2, enc.bits_per_sample = 16;
    return run(&mem_in_handler, &m, in, &enc, reverb, "speech", out, err);
}
