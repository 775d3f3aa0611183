/* test_photos.c: phone-photo sizes through the public C API: the pixel
 * bound of sail_set_image_options (a 12-Mpx JPEG decodes by default;
 * 100000x100000 headers are refused before any allocation, checked under an
 * address-space cap that makes any large allocation fail), the JPEG scale
 * libjpeg-turbo's DCT scaling picks, that the embedding path uses it (less
 * memory, a tensor close to the exact one) and that exact_decode turns it
 * off. Parity against PIL is in test_photos.py. */
#include "fixtures.h"
#include "image_enc.h"
#include "image/image.h"
#include "test.h"

#include <jpeglib.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static const char *dir; /* scratch_make's */

/* A photo-like pattern: smooth gradients, a disc, edges and seeded grain. */
typedef struct photo { int w, h; uint32_t seed; } photo;
static void photo_row(void *ctx, int y, uint8_t *row) {
    photo *ph = ctx;
    int w = ph->w, h = ph->h;
    for (int x = 0; x < w; x++) {
        ph->seed = ph->seed * 1664525u + 1013904223u;
        int grain = (int)(ph->seed >> 28) - 8, disc = (x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) <
                                                      (h / 4) * (h / 4);
        int v[3] = {x * 255 / w, y * 255 / h, disc ? 230 : (x / 64 + y / 64) % 2 * 90 + 40};
        for (int k = 0; k < 3; k++) {
            int t = v[k] + grain;
            row[3 * x + k] = (unsigned char)(t < 0 ? 0 : t > 255 ? 255 : t);
        }
    }
}

/* A w x h JPEG (quality 90) of the pattern. Caller frees *out with free(). */
static int photo_jpeg(int w, int h, unsigned char **out, unsigned long *size) {
    photo ph = {w, h, 7};
    *out = jpeg_encode_rows(w, h, 3, JCS_RGB, 0, photo_row, &ph, size);
    return *out ? 0 : -1;
}

static void put32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Signature + IHDR of a w x h RGB PNG, nothing after: 33 bytes. */
static size_t png_header(uint8_t *b, uint32_t w, uint32_t h) {
    memcpy(b, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    put32be(b + 16, w);
    put32be(b + 20, h);
    b[24] = 8, b[25] = 2, b[26] = b[27] = b[28] = 0;
    put32be(b + 29, (uint32_t)crc32(0, b + 12, 17));
    return 33;
}

/* The soft address-space limit, raised back by restore. */
static struct rlimit as_saved;

static long vm_bytes(void) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld", &pages) != 1) pages = 0;
    if (f) fclose(f);
    return pages * sysconf(_SC_PAGESIZE);
}

/* Cap the address space at what is mapped now plus 64 MiB: any pixel buffer
 * for a bomb (gigabytes) would then fail to allocate, and the decode would
 * report SAIL_ERR_NOMEM instead of SAIL_ERR_LIMIT. */
static inline int cap_address_space(void) {
    if (getrlimit(RLIMIT_AS, &as_saved)) return -1;
    struct rlimit r = as_saved;
    r.rlim_cur = (rlim_t)vm_bytes() + ((rlim_t)64 << 20);
    return setrlimit(RLIMIT_AS, &r);
}

static void restore_address_space(void) { setrlimit(RLIMIT_AS, &as_saved); }

static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

/* Peak RSS (KiB) of a child that turns path into m's input tensor, with
 * exact decoding on or off. */
static long child_peak_kib(sail_model *m, const char *path, int exact, size_t per) {
    pid_t pid = fork();
    if (pid == 0) {
        sail_image_options o = {0, exact};
        float *chw = malloc(per * sizeof(float));
        int bad = sail_set_image_options(&o, NULL) || !chw || sail_image_file_tensor(m, path, chw, NULL);
        _exit(bad);
    }
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    return ru.ru_maxrss;
}

static void test_options(void) {
    sail_error err = {0};
    sail_image_options o = {-1, 0};
    CHECK(sail_set_image_options(&o, &err) == SAIL_ERR_INVALID_ARG && strstr(err.msg, "max_pixels -1"),
          "negative max_pixels refused: %s", err.msg);
    o.max_pixels = ((int64_t)1 << 30) + 1;
    CHECK(sail_set_image_options(&o, &err) == SAIL_ERR_INVALID_ARG, "max_pixels over 32768^2 refused: %s", err.msg);
    sail_image_limits l = sail_image_default_limits();
    CHECK(l.max_pixels == SAIL_IMAGE_MAX_PIXELS && l.max_pixels >= 50000000 && l.max_side == SAIL_IMAGE_MAX_SIDE &&
              l.max_side >= 16384 && l.reduce_floor == 0,
          "defaults: %lld pixels (>= 50 Mpx), %d per side, full-size decode", (long long)l.max_pixels, l.max_side);
    o.max_pixels = 1000;
    CHECK(!sail_set_image_options(&o, &err) && sail_image_default_limits().max_pixels == 1000,
          "sail_set_image_options sets the process-wide bound");
    sail_preprocess p = {224, 224, SAIL_RESAMPLE_BICUBIC, {0, 0, 0}, {1, 1, 1}, 0};
    CHECK(sail_image_limits_for(&p).reduce_floor == 448, "limits for a 224 preprocess: reduce while >= 448");
    o.exact_decode = 1;
    CHECK(!sail_set_image_options(&o, &err) && sail_image_limits_for(&p).reduce_floor == 0,
          "exact_decode: no reduction");
    CHECK(!sail_set_image_options(NULL, &err) && sail_image_default_limits().max_pixels == SAIL_IMAGE_MAX_PIXELS &&
              sail_image_limits_for(&p).reduce_floor == 448,
          "NULL restores the defaults");
}

/* The scale picked for a w x h JPEG at a reduction floor: w' x h'. */
static void check_scale(const uint8_t *jpg, size_t n, int floor, int want_w, int want_h, const char *why) {
    sail_image_limits l = sail_image_default_limits();
    l.reduce_floor = floor;
    sail_image img = {0};
    sail_error err = {0};
    sail_status st = sail_image_decode(jpg, n, "p.jpg", &l, &img, &err);
    CHECK(!st && img.w == want_w && img.h == want_h, "floor %d: decoded %dx%d, want %dx%d (%s) %s", floor, img.w,
          img.h, want_w, want_h, why, err.msg);
    sail_image_free(&img);
}

static void test_bombs(sail_model *m, size_t per) {
    uint8_t png[33];
    size_t npng = png_header(png, 100000, 100000);
    const char *ppm = "P6 100000 100000 255\n";
    unsigned char *jpg = NULL;
    unsigned long njpg = 0;
    photo_jpeg(16, 16, &jpg, &njpg);
    for (unsigned long i = 2; jpg && i + 9 < njpg; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) { /* SOF0: the most libjpeg reads */
            jpg[i + 5] = jpg[i + 7] = 65500 >> 8;
            jpg[i + 6] = jpg[i + 8] = 65500 & 255;
            break;
        }
    char bomb_path[600];
    snprintf(bomb_path, sizeof bomb_path, "%s/bomb.png", dir);
    spit(bomb_path, png, npng);
    float *chw = malloc(per * sizeof(float));
    /* Under AddressSanitizer a capped address space makes its allocator
     * abort instead of returning NULL; there an allocation from a bomb's
     * claim would abort the test anyway, which is the same proof. */
#ifdef __SANITIZE_ADDRESS__
    int capped = 0;
    SKIP("address-space cap: not under AddressSanitizer (its allocator aborts on a failed allocation)");
#else
    void *probe = NULL;
    int capped = cap_address_space() == 0;
    if (capped) probe = malloc((size_t)256 << 20);
    CHECK(capped && !probe, "address space capped: a 256 MiB allocation now fails");
    free(probe);
#endif

    sail_error err = {0};
    sail_image img = {0};
    const char *want = "image is 100000x100000 (10000000000 pixels); the limit is 67108864 pixels "
                       "(--max-image-pixels)";
    CHECK(sail_image_decode(png, npng, "bomb.png", NULL, &img, &err) == SAIL_ERR_LIMIT && strstr(err.msg, want) &&
              !img.rgb,
          "100000x100000 PNG header: %s", err.msg);
    CHECK(sail_image_decode((const uint8_t *)ppm, strlen(ppm), "bomb.ppm", NULL, &img, &err) == SAIL_ERR_LIMIT &&
              strstr(err.msg, want),
          "100000x100000 PPM header: %s", err.msg);
    CHECK(jpg && sail_image_decode(jpg, njpg, "bomb.jpg", NULL, &img, &err) == SAIL_ERR_LIMIT &&
              strstr(err.msg, "65500x65500 (4290250000 pixels); the limit is 67108864 pixels (--max-image-pixels)"),
          "65500x65500 JPEG header (JPEG sides are 16-bit): %s", err.msg);
    CHECK(chw && sail_image_bytes_tensor(m, png, npng, 0, chw, &err) == SAIL_ERR_LIMIT && strstr(err.msg, want),
          "public API, bytes: %s", err.msg);
    CHECK(chw && sail_image_file_tensor(m, bomb_path, chw, &err) == SAIL_ERR_LIMIT && strstr(err.msg, want),
          "public API, file: %s", err.msg);
    CHECK(chw && sail_image_bytes_tensor(m, png, npng, (int64_t)1 << 30, chw, &err) == SAIL_ERR_LIMIT &&
              strstr(err.msg, "the limit is 1073741824 pixels"),
          "the largest max_pixels still refuses it: %s", err.msg);
    npng = png_header(png, 40000, 100);
    CHECK(chw && sail_image_bytes_tensor(m, png, npng, (int64_t)1 << 30, chw, &err) == SAIL_ERR_LIMIT &&
              strstr(err.msg, "image is 40000x100; the limit is 32768x32768"),
          "a side over SAIL_IMAGE_MAX_SIDE: %s", err.msg);
    if (capped) restore_address_space();
    free(chw);
    free(jpg);
}

int main(void) {
    if (!(dir = scratch_make("sail_test_photos"))) return 1;
    char model[600], photo[600];
    snprintf(model, sizeof model, "%s/micro.gguf", dir);
    snprintf(photo, sizeof photo, "%s/photo.jpg", dir);
    sail_error err = {0};
    sail_model *m = micro_model(model, 7);
    if (!m) return test_done();
    int s = sail_model_image_size(m);
    size_t per = (size_t)3 * s * s;

    test_options();
    test_bombs(m, per);

    unsigned char *jpg = NULL;
    unsigned long n = 0;
    CHECK(!photo_jpeg(4032, 3024, &jpg, &n) && jpg, "a 4032x3024 JPEG (%lu bytes)", n);
    if (!jpg) return test_done();
    spit(photo, jpg, n);
    sail_image img = {0};
    CHECK(!sail_image_decode(jpg, n, "photo.jpg", NULL, &img, &err) && img.w == 4032 && img.h == 3024,
          "12 Mpx decodes with the default limits %s", err.msg);
    sail_image_free(&img);
    check_scale(jpg, n, 32, 504, 378, "1/8: 378 >= 32");
    check_scale(jpg, n, 700, 1008, 756, "1/4: 378 < 700 <= 756");
    check_scale(jpg, n, 1512, 2016, 1512, "1/2");
    check_scale(jpg, n, 1513, 4032, 3024, "full: half is too small");
    free(jpg);
    CHECK(!photo_jpeg(4030, 3022, &jpg, &n) && jpg, "a 4030x3022 JPEG");
    if (jpg) check_scale(jpg, n, 32, 2015, 1511, "only 2 divides both sides");
    free(jpg);

    /* The model's own path (micro: 16 px input, reduce while >= 32). */
    float *t_fast = malloc(per * sizeof(float)), *t_exact = malloc(per * sizeof(float));
    sail_image_options exact = {0, 1};
    int ok = t_fast && t_exact && !sail_image_file_tensor(m, photo, t_fast, &err) &&
             !sail_set_image_options(&exact, &err) && !sail_image_file_tensor(m, photo, t_exact, &err);
    sail_set_image_options(NULL, NULL);
    double cs = ok ? cosine(t_fast, t_exact, per) : 0;
    CHECK(ok && memcmp(t_fast, t_exact, per * sizeof(float)) && cs > 0.999,
          "sail_image_file_tensor of the photo: DCT-scaled differs from exact, cosine %.6f > 0.999 %s", cs, err.msg);
    float v[8];
    const char *paths[1] = {photo};
    ok = !sail_embed_image_files(m, paths, 1, 0, v, &err);
    for (int i = 0; ok && i < 8; i++) ok = isfinite(v[i]);
    CHECK(ok, "sail_embed_image_files embeds the 12 Mpx photo %s", err.msg);
    long fast = child_peak_kib(m, photo, 0, per), full = child_peak_kib(m, photo, 1, per);
    CHECK(fast > 0 && full > 0 && full - fast > 20 * 1024,
          "peak RSS: DCT-scaled %ld KiB, exact %ld KiB (the 36 MB full-size buffer is never made)", fast, full);
    free(t_fast);
    free(t_exact);
    sail_model_free(m);
    scratch_remove();
    return test_done();
}
