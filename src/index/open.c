/* open.c: sail_index_open, whose location is a directory (index.c) or
 * redis://host[:port]/name (remote.c). Apart from index.c so that a
 * program that never opens a location, the Redis module, does not link
 * the Redis client. */
#include "index_impl.h"

#include <string.h>

sail_index *sail_index_open(const char *location, const sail_index_options *opts, sail_error *err) {
    if (location && !strncmp(location, "redis://", 8)) return ix_remote_open(location, opts, err);
    return ix_open_dir(location, opts, err);
}
