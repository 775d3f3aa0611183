/* opts.c: the table-driven option parser of every `sail` command (opts.h):
 * matching with '_' = '-', values, ranges, positionals, did-you-mean, and
 * the option list of the help printed from the same table. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

static size_t dashes(const char *s) {
    size_t n = 0;
    while (s[n] == '-') n++;
    return n;
}

/* '_' and '-' are one letter in option names. */
static char fold(char c) { return c == '_' ? '-' : c; }

/* A name's spellings are separated by '|': the length of the one at sp, and
 * the next one (NULL after the last). */
static size_t spelling_len(const char *sp) { return strcspn(sp, "|"); }
static const char *next_spelling(const char *sp) {
    sp += spelling_len(sp);
    return *sp ? sp + 1 : NULL;
}

/* The spelling sp[0..sn) against the typed a[0..an): the same dashes, then
 * the same letters up to '_' = '-'. */
static int spelling_eq(const char *sp, size_t sn, const char *a, size_t an) {
    if (sn != an || dashes(sp) != dashes(a)) return 0;
    for (size_t i = 0; i < an; i++)
        if (fold(sp[i]) != fold(a[i])) return 0;
    return 1;
}

static const cli_opt *find(const cli_opt *t, const char *a, size_t an) {
    for (; t->kind != CLI_END; t++)
        for (const char *sp = t->name; sp; sp = next_spelling(sp))
            if (*sp == '-' && spelling_eq(sp, spelling_len(sp), a, an)) return t;
    return NULL;
}

static const cli_opt *positional(const cli_opt *t) {
    for (; t->kind != CLI_END; t++)
        if (t->name[0] != '-') return t;
    return NULL;
}

/* Edit distance with adjacent transpositions (optimal string alignment)
 * over folded letters; names longer than 63 letters are never close. */
static int distance(const char *a, size_t n, const char *b, size_t m) {
    int d[64][64];
    if (n > 63 || m > 63) return 1 << 20;
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int best = d[i - 1][j - 1] + (fold(a[i - 1]) != fold(b[j - 1]));
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1]) &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* How far the typed name (without its dashes) is from a declared one, when
 * it is close enough to be a likely slip: at most one edit per four letters
 * (at least one), or the declared name cut short after 3 letters or more
 * (counted as 1). Otherwise -1. */
static int closeness(const char *a, size_t an, const char *b, size_t bn) {
    if (an >= 3 && an < bn && distance(a, an, b, an) == 0) return 1;
    size_t longer = an > bn ? an : bn;
    int d = distance(a, an, b, bn), limit = longer >= 8 ? (int)(longer / 4) : 1;
    return d <= limit ? d : -1;
}

/* The declared spelling closest to the typed a[0..an), or "" (in out). */
static void suggest(const cli_opt *t, const char *a, size_t an, char *out, size_t cap) {
    size_t ad = dashes(a);
    int best = -1;
    *out = 0;
    for (; t->kind != CLI_END; t++)
        for (const char *sp = t->name; sp && *sp == '-'; sp = next_spelling(sp)) {
            size_t sn = spelling_len(sp), sd = dashes(sp);
            int d = closeness(a + ad, an - ad, sp + sd, sn - sd);
            if (d >= 0 && (best < 0 || d < best)) {
                best = d;
                snprintf(out, cap, "%.*s", (int)sn, sp);
            }
        }
}

/* ---- values ---- */

static int bad_int(const char *cmd, const cli_opt *o, const char *v) {
    return cli_fail(2, cmd, "%.*s needs an integer in %ld..%ld, not '%s'", (int)spelling_len(o->name), o->name,
                    o->lo, o->hi, v);
}

int cli_opt_long(const char *cmd, const cli_opt *o, const char *v, long *out) {
    return cli_parse_int(v, o->lo, o->hi, out) ? bad_int(cmd, o, v) : 0;
}

static int set_float(const char *cmd, const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < o->flo || x > o->fhi)
        return cli_fail(2, cmd, "%.*s needs a number in [%g, %g], not '%s'", (int)spelling_len(o->name), o->name,
                        o->flo, o->fhi, v);
    *(double *)o->ptr = x;
    return 0;
}

/* Stores (or hands over) one value of option o; v is NULL for a flag. */
static int apply(const char *cmd, const cli_opt *o, const char *v) {
    long n;
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->ptr = 1; return 0;
    case CLI_STR: *(const char **)o->ptr = v; return 0;
    case CLI_INT:
        if (cli_opt_long(cmd, o, v, &n)) return 2;
        *(int *)o->ptr = (int)n;
        return 0;
    case CLI_LONG: return cli_opt_long(cmd, o, v, (long *)o->ptr);
    case CLI_FLOAT: return set_float(cmd, o, v);
    case CLI_CALL: return o->call(cmd, o, v);
    case CLI_END: break;
    }
    return 0;
}

/* ---- argv ---- */

static int takes_value(const cli_opt *o) { return o->kind != CLI_FLAG && (o->kind != CLI_CALL || o->arg); }

static int unknown(const cli_spec *s, const char *a, size_t an) {
    char near[64];
    suggest(s->opts, a, an, near, sizeof near);
    if (*near) return cli_fail(2, s->cmd, "unknown option %.*s (did you mean %s?)", (int)an, a, near);
    return cli_fail(2, s->cmd, "unknown option %.*s (see sail %s --help)", (int)an, a, s->cmd);
}

static int add_positional(const cli_spec *s, const char *a) {
    const cli_opt *p = positional(s->opts);
    if (!p) return cli_fail(2, s->cmd, "unexpected argument '%s' (see sail %s --help)", a, s->cmd);
    if (p->kind == CLI_STR && *(const char **)p->ptr)
        return cli_fail(2, s->cmd, "one %s only: '%s' is one too many", p->name, a);
    return apply(s->cmd, p, a);
}

int cli_parse(const cli_spec *s, int argc, char **argv, int first) {
    if (cli_wants_help(argc, argv)) {
        cli_help(s, stdout);
        return CLI_HELP;
    }
    int rc = 0;
    for (int i = first; !rc && i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (!rc && ++i < argc) rc = add_positional(s, argv[i]);
            break;
        }
        if (a[0] != '-' || !a[1]) {
            rc = add_positional(s, a);
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t an = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = find(s->opts, a, an);
        if (!o) return unknown(s, a, an);
        const char *v = eq ? eq + 1 : NULL;
        if (takes_value(o) && !v) {
            if (i + 1 >= argc)
                return cli_fail(2, s->cmd, "option %.*s needs a value (see sail %s --help)", (int)an, a, s->cmd);
            v = argv[++i];
        } else if (!takes_value(o) && v) {
            return cli_fail(2, s->cmd, "option %.*s takes no value", (int)an, a);
        }
        rc = apply(s->cmd, o, v);
    }
    return rc;
}

int cli_start(const char *cmd, const char *usage, const cli_opt *opts, int argc, char **argv) {
    const cli_spec spec = {cmd, usage, opts, NULL};
    int rc = cli_parse(&spec, argc, argv, 1);
    return rc == CLI_HELP ? 0 : rc ? rc : CLI_GO_ON;
}

/* ---- help ---- */

/* The column the help texts start in: after the longest name and value,
 * at most 24; a longer one has its help on the next line. */
static int help_width(const cli_opt *o) {
    int w = 12;
    for (; o->kind != CLI_END; o++) {
        int n = (int)spelling_len(o->name) + (o->arg ? 1 + (int)strlen(o->arg) : 0);
        if (o->help && n > w && n <= 24) w = n;
    }
    return w;
}

void cli_help(const cli_spec *s, FILE *f) {
    int w = help_width(s->opts);
    fputs(s->usage, f);
    for (const cli_opt *o = s->opts; o->kind != CLI_END; o++) {
        if (!o->help) continue;
        char head[64];
        int n = snprintf(head, sizeof head, "%.*s%s%s", (int)spelling_len(o->name), o->name, o->arg ? " " : "",
                         o->arg ? o->arg : "");
        if (n > w) fprintf(f, "  %s\n%*s", head, w + 3, "");
        else fprintf(f, "  %-*s ", w, head);
        for (const char *h = o->help; *h;) {
            size_t len = strcspn(h, "\n");
            fprintf(f, "%.*s\n", (int)len, h);
            h += len;
            if (*h && *++h) fprintf(f, "%*s", w + 3, "");
        }
    }
    if (s->more) fputs(s->more, f);
}
