/* cmd_data.c: `sail data shapes|emoji|stamps|speech`: write sail's own
 * training data (sail_data_* in include/sail_train.h, format in docs/DATA.md). */
#include "cli.h"
#include "sail_train.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage_shapes[] =
    "usage: sail data shapes -n N -o DIR [--seed S] [--size PX] [--lang en,zh] [--threads N]\n"
    "       sail data emoji -o DIR [--size PX] [--limit N] [--font F] [--emoji-test F]\n"
    "                       [--cldr DIR]\n"
    "       sail data stamps -o DIR [--stamps DIR] [--seed S] [--size PX] [--limit N]\n"
    "       sail data speech --data DIR [--seed S] [--variants K] [--limit N] [--threads N]\n"
    "                        [--snr-min DB] [--snr-max DB] [--reverb PCT] [--clean]\n\n"
    "shapes: anti-aliased scenes of 1-3 objects (8 shapes, 12 colours, 2 sizes,\n"
    "  5 positions, counts 1-3, plain/gradient/noise backgrounds) with English and\n"
    "  Chinese captions. Writes DIR/images/NNNNNN.png and DIR/train.jsonl,\n"
    "  val.jsonl, test.jsonl, test_novel.jsonl (held-out shape+colour pairs).\n"
    "  The same options give the same bytes.\n";

static const char usage_emoji[] =
    "\nemoji: every emoji of Noto Color Emoji (Debian fonts-noto-color-emoji), named\n"
    "  from Unicode emoji-test.txt (unicode-data) and CLDR annotations\n"
    "  (unicode-cldr-core). Writes DIR/images/<codepoints>.png, DIR/train.jsonl\n"
    "  and DIR/test.jsonl (about 10% of the emoji, fixed by a hash).\n";

static const char usage_stamps[] =
    "\nstamps: the Tux Paint stamps (Debian tuxpaint-stamps-default): each picture\n"
    "  (PNG, else SVG rendered with librsvg) over white at PX x PX, with its English\n"
    "  description and the zh_CN translation; its sound effect and spoken English\n"
    "  description as 16 kHz mono WAV. Writes DIR/images/<stamp>.png,\n"
    "  DIR/audio/<stamp>[_desc].wav, DIR/{train,val,test}.jsonl (80/10/10 by a\n"
    "  seeded hash of the stamp's group: held-out stamps never in train) and\n"
    "  DIR/sounds_{train,val,test}.jsonl.\n";

static const char usage_speech[] =
    "\nspeech: the captions of a folder made by shapes, emoji or stamps, spoken by\n"
    "  espeak-ng (voice en, or cmn for Chinese), K times each at seeded speeds and\n"
    "  pitches, with libsox reverb on a seeded share of the clips and white noise at\n"
    "  a seeded SNR; 16 kHz mono WAV. Writes DIR/audio/<split>/<line>-<k>.wav and\n"
    "  DIR/speech_<split>.jsonl for each of DIR's train/val/test/test_novel.jsonl.\n";

static const char more[] =
    "\nEach manifest line: {\"text\", \"image\", \"lang\", \"group\"} (sound lines add\n"
    "\"audio\"); every image of a group answers every caption of that group.\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(void *ctx, long done, long total) {
    fprintf(stderr, "\rsail data: %ld/%ld (%.1f s)", done, total, now() - *(const double *)ctx);
}

static int parse_lang(const char *v, int *en, int *zh) {
    *en = *zh = 0;
    char buf[64];
    if (strlen(v) >= sizeof buf) return -1;
    strcpy(buf, v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "en")) *en = 1;
        else if (!strcmp(t, "zh")) *zh = 1;
        else return -1;
    }
    return *en || *zh ? 0 : -1;
}

/* --lang: *(int[2])ptr = {en, zh}. */
static int on_lang(const char *cmd, const cli_opt *opt, const char *v) {
    int *lang = opt->ptr;
    if (parse_lang(v, &lang[0], &lang[1])) return cli_fail(2, cmd, "--lang takes en, zh or en,zh, not '%s'", v);
    return 0;
}

static int run_stamps(const char *out, const sail_stamps_options *o, double t0) {
    sail_error err = {0};
    sail_stamps_stats st;
    sail_status rc = sail_data_stamps(out, o, progress, &t0, &st, &err);
    fputc('\n', stderr);
    if (rc != SAIL_OK) return cli_fail(1, "data", "%s", err.msg);
    fprintf(stderr, "sail data stamps: %ld stamps in %.1f s (%ld from SVG): train %ld, val %ld, test %ld; "
                    "lines: train %ld, val %ld, test %ld; %ld sounds, sound lines: train %ld, val %ld, test %ld; "
                    "skipped: %ld pictures without a description, %ld descriptions without a picture, "
                    "%ld Chinese texts shared by several groups\n",
            st.stamps[0] + st.stamps[1] + st.stamps[2], now() - t0, st.svg, st.stamps[0], st.stamps[1],
            st.stamps[2], st.lines[0], st.lines[1], st.lines[2], st.sounds, st.sound_lines[0],
            st.sound_lines[1], st.sound_lines[2], st.no_txt, st.no_image, st.zh_shared);
    return 0;
}

static int run_speech(const sail_speech_options *o, double t0) {
    sail_error err = {0};
    sail_data_stats st;
    sail_status rc = sail_data_speech(o, progress, &t0, &st, &err);
    fputc('\n', stderr);
    if (rc != SAIL_OK) return cli_fail(1, "data", "%s", err.msg);
    fprintf(stderr, "sail data speech: %ld clips in %.1f s: train %ld, val %ld, test %ld, test_novel %ld; "
                    "%ld lines of another language skipped\n",
            st.lines[0] + st.lines[1] + st.lines[2] + st.lines[3], now() - t0, st.lines[0], st.lines[1],
            st.lines[2], st.lines[3], st.skipped[0]);
    return 0;
}

int cmd_data(int argc, char **argv) {
    const char *out = NULL, *font = NULL, *emoji_test = NULL, *cldr = NULL, *stamps = NULL, *data = NULL;
    long n = 0, seed = 1, size = 128, limit = 0;
    int threads = 0, lang[2] = {1, 1}, variants = 2, snr_min = 10, snr_max = 30, reverb = 50, clean = 0;
    const cli_opt shapes_opts[] = {
        CLI_OPT_LONG("-n", &n, 1, 100000000, "N", "number of images"),
        CLI_OPT_STR("-o", &out, "DIR", "output folder"),
        CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffffffffffL, "S", "random seed (default 1)"),
        CLI_OPT_LONG("--size", &size, 32, 1024, "PX", "image side, 32..1024 (default 128)"),
        CLI_OPT_CALL("--lang", on_lang, lang, "L", "caption languages, comma-separated: en, zh (default en,zh)"),
        CLI_OPT_THREADS(&threads, "render threads (default: one per core; output identical)"),
        CLI_OPT_END,
    };
    const cli_opt emoji_opts[] = {
        CLI_OPT_STR("-o", &out, "DIR", "output folder"),
        CLI_OPT_LONG("--size", &size, 16, 1024, "PX", "image side, 16..1024 (default 128)"),
        CLI_OPT_LONG("--limit", &limit, 1, 100000000, "N", "stop after N emoji (default: all)"),
        CLI_OPT_STR("--font", &font, "F",
                    "colour emoji font (default\n/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf)"),
        CLI_OPT_STR("--emoji-test", &emoji_test, "F", "emoji list (default /usr/share/unicode/emoji/emoji-test.txt)"),
        CLI_OPT_STR("--cldr", &cldr, "DIR",
                    "CLDR common/ folder with annotations/{en,zh}.xml (default\n/usr/share/unicode/cldr/common)"),
        CLI_OPT_END,
    };
    const cli_opt stamps_opts[] = {
        CLI_OPT_STR("-o", &out, "DIR", "output folder"),
        CLI_OPT_STR("--stamps", &stamps, "DIR", "stamps folder (default /usr/share/tuxpaint/stamps)"),
        CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffffffffffL, "S", "seed of the split (default 1)"),
        CLI_OPT_LONG("--size", &size, 16, 1024, "PX", "image side, 16..1024 (default 128)"),
        CLI_OPT_LONG("--limit", &limit, 1, 100000000, "N",
                     "the first N stamps in path order (default: all; groups\nand splits as in the full set)"),
        CLI_OPT_END,
    };
    const cli_opt speech_opts[] = {
        CLI_OPT_STR("--data", &data, "DIR", "a folder made by sail data shapes, emoji or stamps;\nthe speech is written into it"),
        CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffffffffffL, "S", "random seed (default 1)"),
        CLI_OPT_INT("--variants", &variants, 1, 16, "K", "clips per caption (default 2)"),
        CLI_OPT_LONG("--limit", &limit, 1, 100000000, "N", "the first N lines of each manifest (default: all)"),
        CLI_OPT_INT("--snr-min", &snr_min, -10, 60, "DB", "lowest noise SNR in dB (default 10)"),
        CLI_OPT_INT("--snr-max", &snr_max, -10, 60, "DB", "highest noise SNR in dB (default 30)"),
        CLI_OPT_INT("--reverb", &reverb, 0, 100, "PCT", "percent of clips with reverb (default 50)"),
        CLI_OPT_FLAG("--clean", &clean, "no noise and no reverb"),
        CLI_OPT_THREADS(&threads, "espeak-ng processes at once (default: one per core;\noutput identical)"),
        CLI_OPT_END,
    };
    const cli_spec shapes_spec = {"data", usage_shapes, shapes_opts, NULL};
    const cli_spec emoji_spec = {"data", usage_emoji, emoji_opts, NULL};
    const cli_spec stamps_spec = {"data", usage_stamps, stamps_opts, NULL};
    const cli_spec speech_spec = {"data", usage_speech, speech_opts, more};
    const cli_spec *specs[4] = {&shapes_spec, &emoji_spec, &stamps_spec, &speech_spec};
    static const char *const names[4] = {"shapes", "emoji", "stamps", "speech"};
    if (cli_wants_help(argc, argv) || argc < 2) {
        for (int i = 0; i < 4; i++) cli_help(specs[i], argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int g = 0;
    while (g < 4 && strcmp(argv[1], names[g])) g++;
    if (g == 4)
        return cli_fail(2, "data", "unknown generator '%s' (shapes, emoji, stamps or speech; see sail data --help)",
                        argv[1]);
    int status = cli_parse(specs[g], argc, argv, 2);
    if (status) return status;
    double t0 = now();
    if (g == 3) {
        if (!data) return cli_fail(2, "data", "--data DIR is required (see sail data --help)");
        if (snr_min > snr_max) return cli_fail(2, "data", "--snr-min %d is above --snr-max %d", snr_min, snr_max);
        sail_speech_options o = {data, (uint64_t)seed, variants, limit, snr_min, snr_max, reverb, clean, threads};
        return run_speech(&o, t0);
    }
    if (!out) return cli_fail(2, "data", "-o DIR is required (see sail data --help)");
    if (g == 2) {
        sail_stamps_options o = {stamps, (uint64_t)seed, (int)size, limit};
        return run_stamps(out, &o, t0);
    }
    int shapes = g == 0;
    if (shapes && !n) return cli_fail(2, "data", "-n N is required (see sail data --help)");
    sail_error err = {0};
    sail_data_stats st;
    sail_status rc;
    if (shapes) {
        sail_shapes_options o = {n, (uint64_t)seed, (int)size, lang[0], lang[1], threads};
        rc = sail_data_shapes(out, &o, progress, &t0, &st, &err);
    } else {
        sail_emoji_options o = {(int)size, limit, font, emoji_test, cldr};
        rc = sail_data_emoji(out, &o, progress, &t0, &st, &err);
    }
    fputc('\n', stderr);
    if (rc != SAIL_OK) return cli_fail(1, "data", "%s", err.msg);
    if (shapes)
        fprintf(stderr, "sail data shapes: %ld images in %.1f s; lines: train %ld, val %ld, test %ld, "
                        "test_novel %ld\n",
                st.images, now() - t0, st.lines[0], st.lines[1], st.lines[2], st.lines[3]);
    else
        fprintf(stderr, "sail data emoji: %ld images in %.1f s; lines: train %ld, test %ld; skipped: %ld "
                        "without a glyph, %ld without a Chinese name; %ld keyword lines shared by several "
                        "emoji dropped\n",
                st.images, now() - t0, st.lines[0], st.lines[1], st.skipped[0], st.skipped[1], st.skipped[2]);
    return 0;
}
