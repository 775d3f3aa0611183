/* cli_image.c: the image options every command that reads image files
 * takes (--max-image-pixels, --exact-decode; CLI_OPT_IMAGE in opts.h),
 * applied process-wide through sail_set_image_options so that every decode
 * the command makes, through any API call, sees them. */
#include "cli.h"

#include <string.h>

int cli_image_opt(const char *cmd, const cli_opt *opt, const char *value) {
    static sail_image_options io; /* zero: the defaults */
    long n;
    if (!value) {
        io.exact_decode = 1;
    } else {
        if (cli_opt_long(cmd, opt, value, &n)) return 2;
        io.max_pixels = n;
    }
    sail_set_image_options(&io, NULL); /* in range: cannot fail */
    return 0;
}
int cli_image_option(const char *cmd, int argc, char **argv, int *i) {
    static sail_image_options opt; /* zero: the defaults */
    const char *a = argv[*i];
    if (!strcmp(a, "--exact-decode")) {
        opt.exact_decode = 1;
    } else if (!strcmp(a, "--max-image-pixels")) {
        const int64_t cap = (int64_t)SAIL_IMAGE_MAX_SIDE * SAIL_IMAGE_MAX_SIDE;
        long n;
        if (*i + 1 >= argc || cli_parse_int(argv[*i + 1], 1, (long)cap, &n)) {
            cli_fail(2, cmd, "--max-image-pixels needs an integer in 1..%lld, not '%s'",
                     (long long)cap, *i + 1 < argc ? argv[*i + 1] : "");
            return -1;
        }
        opt.max_pixels = n;
        ++*i;
    } else {
        return 0;
    }
    sail_set_image_options(&opt, NULL); /* in range: cannot fail */
    return 1;
}
