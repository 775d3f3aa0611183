/* opts.h: the one option parser of the `sail` commands. Each command
 * declares its options once, in a table (name, kind, range, where the value
 * goes, help line); cli_parse reads argv against it and cli_help prints the
 * option list from it, so the ranges, the messages and the help agree.
 *
 * Rules every command gets (docs/CLI.md):
 *  - after the leading dashes '_' and '-' are the same letter: --output_dir
 *    and --output-dir name one option; the help shows the declared spelling;
 *  - "--name=value" is the same as "--name value";
 *  - a value is the next argument whatever it looks like ("--now -5");
 *  - an argument that is not an option ("-" included) is positional, as is
 *    everything after "--";
 *  - -h or --help anywhere prints the help on stdout (exit 0);
 *  - a usage error (exit 2) says what was wrong with which option: an
 *    unknown one with the closest declared name, a missing value, a number
 *    out of its range with the range. */
#ifndef SAIL_CLI_OPTS_H
#define SAIL_CLI_OPTS_H

#include "sail.h"

#include <stdio.h>

typedef enum cli_kind {
    CLI_END,   /* ends a table */
    CLI_FLAG,  /* no value; *(int *)ptr = 1 */
    CLI_STR,   /* *(const char **)ptr = the value (argv's own string) */
    CLI_INT,   /* *(int *)ptr = an integer in [lo, hi] */
    CLI_LONG,  /* *(long *)ptr = an integer in [lo, hi] */
    CLI_FLOAT, /* *(double *)ptr = a finite number in [flo, fhi] */
    CLI_CALL,  /* call(cmd, opt, value) in argv order; value NULL when arg is NULL */
} cli_kind;

typedef struct cli_opt cli_opt;

/* Handles one occurrence of a CLI_CALL option (or one positional argument).
 * Returns 0, or an exit status after printing why (cli_fail). */
typedef int (*cli_call_fn)(const char *cmd, const cli_opt *opt, const char *value);

struct cli_opt {
    const char *name;  /* "--model"; aliases after '|' ("-o|--output"); a name
                        * without a leading '-' ("QUERY") takes positionals */
    cli_kind kind;
    void *ptr;         /* where the value goes (see cli_kind); CLI_CALL: its data */
    long lo, hi;       /* CLI_INT, CLI_LONG: inclusive range */
    double flo, fhi;   /* CLI_FLOAT: inclusive range */
    cli_call_fn call;  /* CLI_CALL */
    const char *arg;   /* the value's name in the help ("M"); NULL for a flag */
    const char *help;  /* help text, '\n' continues it indented; NULL: not listed */
};

/* A value pointer of exactly type T (a mismatch is a compile error). */
#define CLI_PTR_(T, p) (1 ? (p) : (T *)0)

#define CLI_OPT_FLAG(n, p, h) {.name = n, .kind = CLI_FLAG, .ptr = CLI_PTR_(int, p), .help = h}
#define CLI_OPT_STR(n, p, a, h) \
    {.name = n, .kind = CLI_STR, .ptr = CLI_PTR_(const char *, p), .arg = a, .help = h}
#define CLI_OPT_INT(n, p, l, u, a, h) \
    {.name = n, .kind = CLI_INT, .ptr = CLI_PTR_(int, p), .lo = l, .hi = u, .arg = a, .help = h}
#define CLI_OPT_LONG(n, p, l, u, a, h) \
    {.name = n, .kind = CLI_LONG, .ptr = CLI_PTR_(long, p), .lo = l, .hi = u, .arg = a, .help = h}
#define CLI_OPT_FLOAT(n, p, l, u, a, h) \
    {.name = n, .kind = CLI_FLOAT, .ptr = CLI_PTR_(double, p), .flo = l, .fhi = u, .arg = a, .help = h}
#define CLI_OPT_CALL(n, fn, data, a, h) \
    {.name = n, .kind = CLI_CALL, .ptr = data, .call = fn, .arg = a, .help = h}
#define CLI_OPT_END {.kind = CLI_END}

/* The options that mean the same in every command, with one range each:
 * --threads 1..1024 (leaving it out means one thread per core) and --dim
 * 1..65536 (a Matryoshka prefix or a vector dimension). */
#define CLI_THREADS_MAX 1024
#define CLI_DIM_MAX 65536
#define CLI_OPT_THREADS(p, h) CLI_OPT_INT("--threads", p, 1, CLI_THREADS_MAX, "N", h)
#define CLI_OPT_DIM(p, h) CLI_OPT_INT("--dim", p, 1, CLI_DIM_MAX, "D", h)
#define CLI_OPT_SEED(p) CLI_OPT_LONG("--seed", p, 0, 0x7fffffffL, "S", "random seed")
#define CLI_THREADS_HELP "compute threads (default: one per core)"

/* --max-image-pixels N and --exact-decode, for every command that reads
 * image files (cli_image.c): applied process-wide as they are parsed, so
 * every decode the command makes, through any API call, sees them. */
int cli_image_opt(const char *cmd, const cli_opt *opt, const char *value);
#define CLI_OPT_IMAGE                                                                           \
    {.name = "--max-image-pixels", .kind = CLI_CALL, .call = cli_image_opt, .lo = 1,            \
     .hi = (long)SAIL_IMAGE_MAX_SIDE * SAIL_IMAGE_MAX_SIDE, .arg = "N",                         \
     .help = "refuse images of more than N pixels, from the header\n"                           \
             "(default 67108864 = 64 Mpx; sides up to 32768)"},                                 \
    {.name = "--exact-decode", .kind = CLI_CALL, .call = cli_image_opt,                         \
     .help = "always decode JPEGs at full size, as PIL does (slower); by\n"                     \
             "default one 4x larger than the model input decodes at 1/2,\n"                    \
             "1/4 or 1/8 scale first (docs/INPUTS.md)"}

typedef struct cli_spec {
    const char *cmd;      /* the name in messages: "embed", "index semantic-ids" */
    const char *usage;    /* synopsis and description, printed before the options */
    const cli_opt *opts;  /* ended by CLI_OPT_END */
    const char *more;     /* printed after the option list, or NULL */
} cli_spec;

/* cli_parse's answer when it printed the help: the command exits 0. */
#define CLI_HELP (-1)

/* Reads argv[first..argc) against s->opts. Returns 0, CLI_HELP, or 2 after
 * printing a usage error as "sail CMD: ...". Not thread-safe (the image
 * options are process-wide). */
int cli_parse(const cli_spec *s, int argc, char **argv, int first);

/* The start of most commands: cli_parse of argv[1..] against {cmd, usage,
 * opts, NULL}. Returns CLI_GO_ON when the command goes on, else the status
 * it exits with at once (0 after printing the help, 2 after a usage error). */
#define CLI_GO_ON (-1)
int cli_start(const char *cmd, const char *usage, const cli_opt *opts, int argc, char **argv);

/* Prints s->usage, the listed options and s->more to f. */
void cli_help(const cli_spec *s, FILE *f);

/* For CLI_CALL handlers: value as an integer in [opt->lo, opt->hi], or the
 * standard range message (returns 2). */
int cli_opt_long(const char *cmd, const cli_opt *opt, const char *value, long *out);

#endif
