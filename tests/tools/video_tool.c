/* video_tool.c: test driver for the video reader (tests/test_video.py).
 *
 *   video_tool dump VIDEO EVERY OUT.rgb
 *       streams the sampled frames: their pixels, concatenated, go to OUT.rgb;
 *       one line per frame on stdout: "index time width height"; then
 *       "duration D". On an error: "error STATUS MESSAGE" and exit 1.
 */
#include "sail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 5 || strcmp(argv[1], "dump")) {
        fprintf(stderr, "usage: video_tool dump VIDEO EVERY OUT.rgb\n");
        return 2;
    }
    sail_error err = {0};
    sail_video *v = NULL;
    FILE *out = fopen(argv[4], "wb");
    if (!out) return 2;
    int rc = 0, got = 1;
    if (sail_video_open(argv[2], atof(argv[3]), &v, &err)) rc = 1;
    while (!rc && got) {
        sail_video_frame f;
        if (sail_video_next(v, &f, &got, &err)) rc = 1;
        else if (got) {
            fwrite(f.rgb, 1, (size_t)f.width * f.height * 3, out);
            printf("%lld %.6f %d %d\n", (long long)f.index, f.time, f.width, f.height);
        }
    }
    if (!rc) printf("duration %.6f\n", sail_video_duration(v));
    else printf("error %s %s\n", sail_status_name(err.status), err.msg);
    sail_video_close(v);
    fclose(out);
    return rc;
}
