/* test_dl.c: tables of functions bound from libraries opened at first use
 * (src/core/dl.h): a bound table calls the library's own functions, a
 * missing library and a missing function come back as reasons naming
 * them, and a loader binds once however many threads ask. */
#include "test.h"
#include "dl.h"

#include <math.h>
#include <string.h>
#include <zlib.h>

#define Z_FUNCS(X) X(crc32) X(adler32) X(zlibVersion)
static struct { Z_FUNCS(SAIL_DL_FIELD) } zt;
SAIL_DL_LOADER(zt, Z_FUNCS, "libz.so.1")

static void *ask(void *arg) {
    *(const char **)arg = zt_load();
    return NULL;
}

int main(void) {
    pthread_t th[4];
    const char *why[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, ask, &why[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    int none = 1;
    for (int i = 0; i < 4; i++) none &= why[i] == NULL;
    CHECK(none, "four threads load the zlib table at once: all see it bound");
    const unsigned char s[] = "sail";
    CHECK(zt.crc32 && zt.crc32(0, s, 4) == crc32(0, s, 4) && zt.adler32(1, s, 4) == adler32(1, s, 4),
          "the bound crc32 and adler32 are zlib's: %lx", zt.crc32 ? zt.crc32(0, s, 4) : 0ul);
    CHECK(zt.zlibVersion && !strcmp(zt.zlibVersion(), zlibVersion()), "zlibVersion through the table: %s",
          zt.zlibVersion ? zt.zlibVersion() : "?");

    char msg[320] = "";
    double (*fn[1])(double) = {NULL};
    const char *lib[] = {"libsail-no-such-library.so.9"}, *names[] = {"cos"};
    CHECK(sail_dl_bind(lib, 1, names, fn, 1, msg, sizeof msg) == -1 && strstr(msg, "libsail-no-such-library.so.9"),
          "a missing library: -1, and the reason names it (%s)", msg);
    const char *libm[] = {"libm.so.6"}, *absent[] = {"cos", "sail_no_such_function"};
    double (*two[2])(double) = {NULL, NULL};
    msg[0] = 0;
    CHECK(sail_dl_bind(libm, 1, absent, two, 2, msg, sizeof msg) == -1 && strstr(msg, "sail_no_such_function") &&
              strstr(msg, "libm.so.6"),
          "a missing function: -1, naming it and the library (%s)", msg);
    CHECK(two[0] && two[0](0.0) == 1.0, "the functions found before it are bound: cos(0) = %g",
          two[0] ? two[0](0.0) : -1.0);
    return test_done();
}
