/* video.h: what the library's own layers use of the video reader beyond
 * the public sail_video_* calls. */
#ifndef SAIL_VIDEO_H
#define SAIL_VIDEO_H

#include "sail.h"

/* Change the sampling interval before the first sail_video_next (e.g. once
 * the duration is known), without opening the file again. */
void sail_video_set_every(sail_video *v, double every);

/* n frames of path spread evenly over its duration (what a video item of
 * training and sail_embed_video_item sees): *rgb receives n * *h * *w * 3
 * bytes (free with sail_free). */
sail_status sail_video_sample(const char *path, int n, uint8_t **rgb, int *w, int *h, sail_error *err);

#endif
