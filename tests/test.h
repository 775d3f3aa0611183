/* test.h: the minimal harness every C test uses. Each check prints one TAP
 * line ("ok N - name" / "not ok N - name"); tests/run.sh counts them. A
 * failing check also prints where it failed. test_done() returns the exit
 * status (non-zero when anything failed). */
#ifndef SAIL_TEST_H
#define SAIL_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int test_n_ok, test_n_fail, test_n_skip;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        int test_ok_ = !!(cond);                                            \
        if (test_ok_) {                                                     \
            test_n_ok++;                                                    \
            printf("ok %d - ", test_n_ok + test_n_fail);                    \
        } else {                                                            \
            test_n_fail++;                                                  \
            printf("not ok %d - ", test_n_ok + test_n_fail);                \
        }                                                                   \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        if (!test_ok_) printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        fflush(stdout);                                                     \
    } while (0)

#define SKIP(...)                                                           \
    do {                                                                    \
        test_n_skip++;                                                      \
        printf("skip - ");                                                  \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
    } while (0)

static inline int test_done(void) {
    printf("# %d passed, %d failed, %d skipped\n", test_n_ok, test_n_fail, test_n_skip);
    return test_n_fail ? 1 : 0;
}

#endif
