/* ids.h: paging through a local index's live ids by slot position
 * (index.c), for the Redis module's SAIL.IDS, which otherwise uses only
 * the public API. Not part of the public API. */
#ifndef SAIL_INDEX_IDS_H
#define SAIL_INDEX_IDS_H

#include "sail.h"

/* Up to cap ids of the live items from slot position cursor on (0: the
 * first), in insertion order, into ids; returns how many. *next gets the
 * position to continue from, 0 when the last slot was read. Slots only
 * grow (a delete leaves its slot dead; re-adding an id appends a new
 * slot), so an item live for a whole walk is listed exactly once, one
 * deleted before its slot is read is not, and one added meanwhile is; an
 * id re-added during the walk may come twice. Not for a redis:// handle.
 * Thread-safe (takes the index's read lock). */
size_t ix_ids_page(sail_index *ix, uint64_t cursor, uint64_t *ids, size_t cap, uint64_t *next);

#endif
