/* video.h: what the library's own layers use of the video reader beyond
 * the public sail_video_* calls. */
#ifndef SAIL_VIDEO_H
#define SAIL_VIDEO_H

#include "sail.h"

/* Change the sampling interval before the first sail_video_next (e.g. once
 * the duration is known), without opening the file again. */
void sail_video_set_every(sail_video *v, double every);

#endif
