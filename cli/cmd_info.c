/* cmd_info.c: `sail info` prints a model file's configuration, parameter
 * count, tensor types and file size (sail_model_file_info). */
#include "cli.h"

#include <stdio.h>

static const char usage[] =
    "usage: sail info [--tensors] MODEL.gguf\n\n"
    "Prints the configuration, parameter count, tensor types and file size of a\n"
    "sail model.\n\n";

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int tensors = 0;
    const cli_opt table[] = {
        CLI_OPT_FLAG("--tensors", &tensors, "also list every tensor with its type and shape"),
        CLI_OPT_STR("MODEL.gguf", &path, NULL, NULL),
        CLI_OPT_END,
    };
    int rc = cli_start("info", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    if (!path) return cli_fail(2, "info", "no model file given (see sail info --help)");
    sail_error err = {0};
    char *text = NULL;
    if (sail_model_file_info(path, tensors, &text, &err)) return cli_fail(1, "info", "%s", err.msg);
    fputs(text, stdout);
    sail_free(text);
    return 0;
}
