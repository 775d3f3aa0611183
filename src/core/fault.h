/* fault.h: fault injection in the SQLite manner, for the tests. Arming a
 * kind makes its N-th call from now fail (and, when persistent, every call
 * after it); the library's allocator (core/alloc.c) and the index's writes
 * and syncs (index/fileio.c) ask here before they act. Unarmed, a fault
 * point costs one relaxed atomic load. */
#ifndef SAIL_FAULT_H
#define SAIL_FAULT_H

typedef enum sail_fault_kind {
    SAIL_FAULT_ALLOC = 0,   /* sail_malloc, sail_calloc, sail_realloc, sail_alloc_aligned */
    SAIL_FAULT_IO = 1,      /* index file writes, fsync, fdatasync, rename */
    SAIL_FAULT_KINDS
} sail_fault_kind;

/* Fail the nth call of kind k from now (nth >= 1), and every later one too
 * when persist is set; nth = 0 disarms. Resets the counters. */
void sail_fault_arm(sail_fault_kind k, long nth, int persist);
/* Calls of kind k seen since it was last armed (armed or not). */
long sail_fault_calls(sail_fault_kind k);
/* Calls of kind k made to fail since it was last armed. */
long sail_fault_fired(sail_fault_kind k);
/* The fault point: 1 when this call must fail. */
int sail_fault_hit(sail_fault_kind k);

#endif
