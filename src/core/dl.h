/* dl.h: shared libraries loaded when a feature is first used instead of
 * linked. FFmpeg (and the 130 libraries it pulls in) or the `sail data`
 * generators' librsvg, cairo, espeak-ng and sox made every process start
 * up to 90 ms late for work most runs never do.
 *
 * A user lists the functions it calls as an X-macro, keeps them in a struct
 * of pointers declared from the library's own prototypes (SAIL_DL_FIELD),
 * and gets a loader from SAIL_DL_LOADER to call before the first use:
 *
 *   #define SOX_FUNCS(X) X(sox_init) X(sox_quit)
 *   static struct { SOX_FUNCS(SAIL_DL_FIELD) } sx;
 *   SAIL_DL_LOADER(sx, SOX_FUNCS, "libsox.so.3")
 *   ...  const char *why = sx_load();   (NULL: sx.sox_init() may be called) */
#ifndef SAIL_DL_H
#define SAIL_DL_H

#include <pthread.h>
#include <stddef.h>

/* Opens each of the n_libs sonames (in dependency order) and fills table,
 * n function pointers in a row, with the functions names[0..n) from
 * whichever library has each. 0, or -1 with the reason in why (cap bytes).
 * The libraries stay loaded for the life of the process. */
int sail_dl_bind(const char *const *sonames, int n_libs, const char *const *names, void *table, int n,
                 char *why, size_t cap);

#define SAIL_DL_FIELD(f) __typeof__(f) *f;
#define SAIL_DL_NAME(f) #f,

/* static const char *t_load(void): binds table t (once per process) from
 * the sonames given; NULL, or why it could not. */
#define SAIL_DL_LOADER(t, FUNCS, ...)                                                                     \
    static char t##_why[320];                                                                           \
    static pthread_once_t t##_once = PTHREAD_ONCE_INIT;                                                 \
    static void t##_bind(void) {                                                                        \
        static const char *const libs[] = {__VA_ARGS__}, *const names[] = {FUNCS(SAIL_DL_NAME)};      \
        _Static_assert(sizeof t == sizeof names / sizeof *names * sizeof(void (*)(void)),               \
                       "the table holds its functions' pointers and nothing else");                     \
        sail_dl_bind(libs, (int)(sizeof libs / sizeof *libs), names, &t, (int)(sizeof names / sizeof *names), \
                     t##_why, sizeof t##_why);                                                          \
    }                                                                                                   \
    static const char *t##_load(void) {                                                                 \
        pthread_once(&t##_once, t##_bind);                                                              \
        return t##_why[0] ? t##_why : NULL;                                                             \
    }

#endif
