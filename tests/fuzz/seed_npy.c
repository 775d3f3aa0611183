// sources:
/* seed_npy.c: writes fuzz_npy seeds into the corpus folder argv[1]: a
 * mode byte (see fuzz_npy.c; all for dimension 4) and then a float32 and a
 * float64 .npy (2-D, as np.save writes them), an .fvecs file, and 1-D and
 * 2-D .npy files for sail_npy_read. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint8_t b[4096];
static size_t n;

static void raw(const void *s, size_t k) { memcpy(b + n, s, k), n += k; }

/* np.save's layout, version 1.0: magic, header padded to 64 with '\n'. */
static void npy(const char *descr, const char *shape, int count, int f8) {
    char h[256];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    int total = (k + 1 + 10 + 63) / 64 * 64 - 10;
    memset(h + k, ' ', (size_t)(total - k));
    h[total - 1] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)total, 0};
    raw(pre, 10);
    raw(h, (size_t)total);
    for (int i = 0; i < count; i++) {
        if (f8) {
            double x = i * 0.25 - 1;
            raw(&x, 8);
        } else {
            float x = (float)(i * 0.25 - 1);
            raw(&x, 4);
        }
    }
}

static int save(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    fwrite(b, 1, n, f);
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int rc = 0;
    n = 0, raw("\x0c", 1), npy("<f4", "(3, 4)", 12, 0), rc |= save(argv[1], "import_f4");
    n = 0, raw("\x0c", 1), npy("<f8", "(2, 4)", 8, 1), rc |= save(argv[1], "import_f8");
    n = 0, raw("\x0d", 1);
    for (int r = 0; r < 3; r++) {
        uint32_t d = 4;
        float v[4] = {1, (float)r, 0.5f, -2};
        raw(&d, 4), raw(v, sizeof v);
    }
    rc |= save(argv[1], "import_fvecs");
    n = 0, raw("\x0e", 1), npy("<f4", "(5,)", 5, 0), rc |= save(argv[1], "apps_1d");
    n = 0, raw("\x0e", 1), npy("<f8", "(2, 3)", 6, 1), rc |= save(argv[1], "apps_2d");
    return rc;
}
