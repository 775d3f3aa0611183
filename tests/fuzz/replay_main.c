/* replay_main.c: a main() for a libFuzzer harness built without libFuzzer
 * (tests/test_fuzz_build.py): each argument is an input file fed to
 * LLVMFuzzerTestOneInput once; with none, a few fixed inputs are. So every
 * harness is compiled, linked and run by `make test`, and a harness whose
 * "// sources:" line falls behind the library fails there, not at the next
 * fuzzing campaign. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 1; }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 4096))) { fclose(f); return 1; }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            if (replay_file(argv[i])) return 1;
        return 0;
    }
    static const char *const fixed[] = {"", "x", "{}", "[1,2]", "GGUF\x03", "PK\x03\x04", "\x80\x02}q\x00."};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        LLVMFuzzerTestOneInput((const uint8_t *)fixed[i], strlen(fixed[i]));
    uint8_t noise[512];
    uint32_t x = 2463534242u; /* xorshift32: the same bytes every run */
    for (size_t i = 0; i < sizeof noise; i++) x ^= x << 13, x ^= x >> 17, x ^= x << 5, noise[i] = (uint8_t)x;
    LLVMFuzzerTestOneInput(noise, sizeof noise);
    return 0;
}
