/* dl.h: shared libraries loaded when a feature is first used instead of
 * linked. FFmpeg (and the 130 libraries it pulls in) or the `sail data`
 * generators' librsvg, cairo, espeak-ng and sox made every process start
 * up to 90 ms late for work most runs never do. A user keeps a table of
 * function pointers, declared from the library's own headers with
 * __typeof__, and binds it once (pthread_once) before the first call. */
#ifndef SAIL_DL_H
#define SAIL_DL_H

#include <stddef.h>

/* Opens each of the n_libs sonames (in dependency order) and points each
 * fns[i], the address of a function pointer, at the function names[i] of
 * whichever library has it. 0, or -1 with the reason in why (cap bytes).
 * The libraries stay loaded for the life of the process. */
int sail_dl_bind(const char *const *sonames, int n_libs, const char *const *names, void *const *fns, int n,
                 char *why, size_t cap);

/* X-macro pieces for a table: its fields (declared from the library's own
 * prototypes) and the list of names to bind. */
#define SAIL_DL_FIELD(f) __typeof__(f) *f;
#define SAIL_DL_NAME(f) #f,

#endif
