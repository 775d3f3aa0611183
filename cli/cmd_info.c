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
    const cli_spec spec = {"info", usage, table, NULL};
    int rc = cli_parse(&spec, argc, argv, 1);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (!path) return cli_fail(2, "info", "no model file given (see sail info --help)");
    sail_error err = {0};
    char *text = NULL;
    if (sail_model_file_info(path, tensors, &text, &err)) return cli_fail(1, "info", "%s", err.msg);
    fputs(text, stdout);
    sail_free(text);
    return 0;
}
