/* data_tool.c: draw one shape with sail's rasteriser for test_data.py:
 *   data_tool SHAPE CX CY R ANGLE R G B BG_R BG_G BG_B SIDE OUT.png
 * A plain background of SIDE x SIDE, the shape blended over it, written
 * with sail's PNG writer. Exit 1 on error, 2 on bad arguments. */
#include "data/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 14) {
        fprintf(stderr, "usage: data_tool SHAPE CX CY R ANGLE R G B BG_R BG_G BG_B SIDE OUT.png\n");
        return 2;
    }
    int shape = -1, side = atoi(argv[12]);
    for (int i = 0; i < SAIL_SHAPE_COUNT; i++)
        if (!strcmp(argv[1], sail_shape_names[i])) shape = i;
    if (shape < 0 || side < 1 || side > 4096) return 2;
    uint8_t rgb[3], bg[3];
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)atoi(argv[6 + k]), bg[k] = (uint8_t)atoi(argv[9 + k]);
    sail_image img = {side, side, malloc((size_t)side * side * 3)};
    if (!img.rgb) return 1;
    for (size_t i = 0; i < (size_t)side * side; i++) memcpy(img.rgb + 3 * i, bg, 3);
    sail_render_shape(&img, shape, strtof(argv[2], NULL), strtof(argv[3], NULL), strtof(argv[4], NULL),
                      strtof(argv[5], NULL), rgb);
    sail_error err = {0};
    int rc = sail_png_write(argv[13], &img, &err) == SAIL_OK ? 0 : 1;
    if (rc) fprintf(stderr, "data_tool: %s\n", err.msg);
    free(img.rgb);
    return rc;
}
