/* fault.c: the counters behind fault.h. Counting runs only while a kind is
 * armed or being counted, so the unarmed cost stays one load. */
#include "fault.h"

#include <stdatomic.h>

typedef struct fault_point {
    atomic_int on;          /* counting (armed, or nth = LONG_MAX to count only) */
    atomic_long calls, fired;
    long nth;
    int persist;
} fault_point;

static fault_point points[SAIL_FAULT_KINDS];

void sail_fault_arm(sail_fault_kind k, long nth, int persist) {
    fault_point *p = &points[k];
    atomic_store(&p->on, 0);
    atomic_store(&p->calls, 0);
    atomic_store(&p->fired, 0);
    p->nth = nth;
    p->persist = persist;
    atomic_store(&p->on, nth > 0);
}

long sail_fault_calls(sail_fault_kind k) { return atomic_load(&points[k].calls); }
long sail_fault_fired(sail_fault_kind k) { return atomic_load(&points[k].fired); }

int sail_fault_hit(sail_fault_kind k) {
    fault_point *p = &points[k];
    if (!atomic_load_explicit(&p->on, memory_order_relaxed)) return 0;
    long c = atomic_fetch_add(&p->calls, 1) + 1;
    if (c == p->nth || (p->persist && c > p->nth)) {
        atomic_fetch_add(&p->fired, 1);
        return 1;
    }
    return 0;
}
