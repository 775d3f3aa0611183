/* cli_dim.c: --dim against the model it cuts (cli.h). */
#include "cli.h"

#include <stdio.h>

int cli_check_dim(const char *cmd, const sail_model *m, int dim) {
    int full = sail_model_dim(m);
    if (dim > full) return cli_fail(2, cmd, "--dim %d is larger than the model's %d dimensions", dim, full);
    int trained[8], n = sail_model_trained_dims(m, trained, 8);
    if (!dim || dim == full || !n) return 0;
    for (int i = 0; i < n; i++)
        if (trained[i] == dim) return 0;
    char list[64] = "";
    for (int i = 0, at = 0; i < n && at < (int)sizeof list; i++)
        at += snprintf(list + at, sizeof list - (size_t)at, "%s%d", i ? ", " : "", trained[i]);
    fprintf(stderr, "sail %s: note: --dim %d is not one of the prefixes this model was trained for (%s); "
            "its first %d dimensions work, but were never optimised on their own (docs/APPS.md)\n",
            cmd, dim, list, dim);
    return 0;
}
