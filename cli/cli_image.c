/* cli_image.c: the image options every command that reads image files
 * takes (--max-image-pixels, --exact-decode; CLI_OPT_IMAGE in opts.h),
 * applied process-wide through sail_set_image_options so that every decode
 * the command makes, through any API call, sees them. */
#include "cli.h"

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
