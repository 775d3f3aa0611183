/* cmd_data.c: `sail data shapes|emoji`: write sail's own training data
 * (generators in src/data/, format in docs/DATA.md). */
#include "cli.h"

#include "data/data.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage_shapes[] =
    "usage: sail data shapes -n N -o DIR [--seed S] [--size PX] [--lang en,zh] [--threads N]\n"
    "       sail data emoji -o DIR [--size PX] [--limit N] [--font F] [--emoji-test F]\n"
    "                       [--cldr DIR]\n\n"
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

static const char more[] =
    "\nEach manifest line: {\"text\", \"image\", \"lang\", \"group\"}; every image of\n"
    "a group answers every caption of that group.\n";

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

int cmd_data(int argc, char **argv) {
    const char *out = NULL, *font = NULL, *emoji_test = NULL, *cldr = NULL;
    long n = 0, seed = 1, size = 128, limit = 0;
    int threads = 0, lang[2] = {1, 1};
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
    const cli_spec shapes_spec = {"data", usage_shapes, shapes_opts, NULL};
    const cli_spec emoji_spec = {"data", usage_emoji, emoji_opts, more};
    if (cli_wants_help(argc, argv) || argc < 2) {
        cli_help(&shapes_spec, argc < 2 ? stderr : stdout);
        cli_help(&emoji_spec, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int shapes = !strcmp(argv[1], "shapes");
    if (!shapes && strcmp(argv[1], "emoji"))
        return cli_fail(2, "data", "unknown generator '%s' (shapes or emoji; see sail data --help)", argv[1]);
    int status = cli_parse(shapes ? &shapes_spec : &emoji_spec, argc, argv, 2);
    if (status) return status;
    if (!out) return cli_fail(2, "data", "-o DIR is required (see sail data --help)");
    if (shapes && !n) return cli_fail(2, "data", "-n N is required (see sail data --help)");
    double t0 = now();
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
