/* cli.h: the `sail` command-line tool. One file per subcommand, each
 * exporting cmd_<name>(argc, argv) with argv[0] the subcommand's name. They
 * return the process exit status: 0 on success, 1 on a runtime error, 2 on a
 * usage error. Errors go to stderr, results to stdout or -o. */
#ifndef SAIL_CLI_H
#define SAIL_CLI_H

#include "opts.h"
#include "sail.h"

int cmd_bench(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_compose(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_align(int argc, char **argv);
int cmd_reduce(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
/* `sail index semantic-ids` (dispatched by cmd_index; argv[0] "semantic-ids"). */
int cmd_semantic_ids(int argc, char **argv);

/* --dim D (0 = all) for model m: 2 (reported) when D is larger than the
 * model's dimension; a note on stderr when the model records the Matryoshka
 * prefixes it was trained for and D is not one of them; else 0. */
int cli_check_dim(const char *cmd, const sail_model *m, int dim);

/* "sail CMD: message\n" on stderr; returns status (for `return cli_fail(...)`). */
int cli_fail(int status, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Strict integer parse of s into [lo, hi]; 0 on success, -1 on error. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
/* True when argv[1..] has -h or --help. */
int cli_wants_help(int argc, char **argv);

static inline int cli_min(int a, int b) { return a < b ? a : b; }

#endif
