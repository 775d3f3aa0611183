/* dl.c: bind a table of functions from libraries opened at first use (dl.h). */
#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

enum { MAX_LIBS = 8 };

int sail_dl_bind(const char *const *sonames, int n_libs, const char *const *names, void *table, int n,
                 char *why, size_t cap) {
    void *h[MAX_LIBS];
    if (n_libs > MAX_LIBS) {
        snprintf(why, cap, "more than %d libraries in one table", MAX_LIBS);
        return -1;
    }
    for (int i = 0; i < n_libs; i++)
        if (!(h[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL))) {
            snprintf(why, cap, "%s", dlerror());
            return -1;
        }
    for (int k = 0; k < n; k++) {
        void *p = NULL;
        for (int i = 0; i < n_libs && !p; i++) p = dlsym(h[i], names[k]);
        if (!p) {
            snprintf(why, cap, "%s lacks %s", n_libs == 1 ? sonames[0] : "the libraries found", names[k]);
            return -1;
        }
        /* a data pointer into a function pointer, as POSIX allows */
        memcpy((char *)table + (size_t)k * sizeof(void (*)(void)), &p, sizeof p);
    }
    return 0;
}
