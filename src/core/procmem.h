/* procmem.h: this process's memory as Linux reports it, for `sail bench`,
 * the benchmarks and the memory tests. */
#ifndef SAIL_PROCMEM_H
#define SAIL_PROCMEM_H

/* A /proc/self/status field in KiB ("VmRSS", "VmHWM", "RssFile", ...,
 * without the colon); -1 when unavailable. */
long sail_proc_status_kb(const char *key);

/* Restart the peak RSS (VmHWM) at the current RSS; 0 when the kernel
 * allowed it (/proc/self/clear_refs). */
int sail_proc_reset_peak(void);

#endif
