/* test_image.c: hostile and odd image inputs: each must give an error that
 * names the file and says what is wrong, or decode correctly, and never
 * crash or leak (run under `make asan` too). Fixtures are made here with
 * libpng/libjpeg writers or by hand; exactness against PIL is in
 * test_image_pil.py. */
#include "sail_apps.h"
#include "image/image.h"
#include "image/resize_impl.h"
#include "image_enc.h"
#include "scratch.h"
#include "test.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char *tmpdir; /* scratch_make's */

/* ------------------------------------------------------------ writers -- */

static void put32be(uint8_t *p, uint32_t v) {
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (uint8_t)v;
}

/* A PNG that is only a signature and an IHDR claiming w x h. */
static buf png_header_only(uint32_t w, uint32_t h) {
    uint8_t ihdr[25] = {0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    put32be(ihdr + 8, w);
    put32be(ihdr + 12, h);
    ihdr[16] = 8, ihdr[17] = 2;
    put32be(ihdr + 21, (uint32_t)crc32(0, ihdr + 4, 17));
    buf b = {0};
    buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    buf_put(&b, ihdr, sizeof ihdr);
    return b;
}

static void noise(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* Decode from memory; returns the status, err filled. */
static sail_status dec(const buf *b, const char *name, sail_image *img, sail_error *err) {
    memset(img, 0, sizeof *img);
    return sail_image_decode(b->p, b->n, name, NULL, img, err);
}

#define HAS(err, s) (strstr((err).msg, (s)) != NULL)

/* --------------------------------------------------------------- cases -- */

static void test_not_images(void) {
    sail_error err = {0};
    sail_image img = {0};
    const char *p = scratch_write("empty.jpg", "", 0);
    CHECK(sail_image_load(p, NULL, &img, &err) == SAIL_ERR_FORMAT && HAS(err, "empty.jpg: file is empty"),
          "empty file: %s", err.msg);
    p = scratch_write("x.jpg", "hello, world\n", 13);
    CHECK(sail_image_load(p, NULL, &img, &err) == SAIL_ERR_FORMAT &&
              HAS(err, "x.jpg: not a JPEG, PNG, WebP or PPM file (starts with 'hell')"),
          "text named .jpg: %s", err.msg);
    CHECK(sail_image_decode((const uint8_t *)"\x00\x01\xfe", 3, "bin", NULL, &img, &err) &&
              HAS(err, "starts with '\\x00\\x01\\xfe'"),
          "binary junk is shown escaped: %s", err.msg);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.png", tmpdir);
    CHECK(sail_image_load(missing, NULL, &img, &err) == SAIL_ERR_IO && HAS(err, "nope.png: No such file"),
          "missing file: %s", err.msg);
    CHECK(sail_image_load(tmpdir, NULL, &img, &err) == SAIL_ERR_IO && HAS(err, tmpdir),
          "directory: %s", err.msg);
    CHECK(img.rgb == NULL, "failed calls leave the output empty");
}

static void test_jpeg(void) {
    enum { W = 24, H = 16 };
    uint8_t px[W * H * 4];
    noise(px, sizeof px, 1);
    sail_error err = {0};
    sail_image img;

    buf j = jpeg_encode(W, H, 3, JCS_RGB, px, 0);
    CHECK(dec(&j, "ok.jpg", &img, &err) == SAIL_OK && img.w == W && img.h == H, "baseline JPEG decodes");
    sail_image_free(&img);
    int bad = 0, passed_early = 0;
    for (size_t cut = 0; cut < j.n; cut++) {
        buf t = {j.p, cut, cut};
        sail_status st = dec(&t, "t.jpg", &img, &err);
        if (st == SAIL_OK) {
            passed_early += cut + 2 < j.n ? 1 : 0; /* only a lost EOI may pass */
            sail_image_free(&img);
        } else if (strncmp(err.msg, "t.jpg: ", 7) || img.rgb) {
            bad++;
        }
    }
    CHECK(bad == 0 && passed_early == 0, "every truncation of a %zu-byte JPEG is an error naming the file", j.n);
    buf t = {j.p, j.n / 2, j.n};
    CHECK(dec(&t, "t.jpg", &img, &err) && HAS(err, "t.jpg: truncated JPEG data"), "half a JPEG: %s", err.msg);

    /* SOF0 patched to claim 65500x65500 (the most libjpeg reads): refused
     * at the header. */
    for (size_t i = 2; i + 9 < j.n; i++)
        if (j.p[i] == 0xff && j.p[i + 1] == 0xc0) {
            j.p[i + 5] = j.p[i + 7] = 65500 >> 8;
            j.p[i + 6] = j.p[i + 8] = 65500 & 255;
            break;
        }
    CHECK(dec(&j, "big.jpg", &img, &err) == SAIL_ERR_LIMIT &&
              HAS(err, "big.jpg: image is 65500x65500 (4290250000 pixels); the limit is 67108864 "
                       "pixels (--max-image-pixels)"),
          "JPEG bomb: %s", err.msg);
    free(j.p);

    j = jpeg_encode(W, H, 1, JCS_GRAYSCALE, px, 1);
    int gray = dec(&j, "g.jpg", &img, &err) == SAIL_OK;
    for (int i = 0; gray && i < W * H; i++)
        gray = img.rgb[3 * i] == img.rgb[3 * i + 1] && img.rgb[3 * i] == img.rgb[3 * i + 2];
    CHECK(gray, "progressive grayscale JPEG decodes to R = G = B");
    sail_image_free(&img);
    free(j.p);

    /* Adobe CMYK stores inverted values: 255,255,255,255 is no ink (white),
     * 0,255,255,255 is full cyan. */
    uint8_t cmyk[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        uint8_t c = i < W * H / 2 ? 255 : 0;
        cmyk[4 * i] = c, cmyk[4 * i + 1] = cmyk[4 * i + 2] = cmyk[4 * i + 3] = 255;
    }
    j = jpeg_encode(W, H, 4, JCS_CMYK, cmyk, 0);
    int ok = dec(&j, "cmyk.jpg", &img, &err) == SAIL_OK;
    const uint8_t *w = img.rgb, *cy = ok ? img.rgb + (size_t)(H - 1) * W * 3 : NULL;
    CHECK(ok && w[0] > 250 && w[1] > 250 && w[2] > 250 && cy[0] < 5 && cy[1] > 250 && cy[2] > 250,
          "CMYK JPEG: no ink is white, cyan is cyan");
    sail_image_free(&img);
    free(j.p);
}

static void test_png(void) {
    enum { W = 9, H = 7 };
    uint8_t px[W * H * 8];
    noise(px, sizeof px, 2);
    sail_error err = {0};
    sail_image a, b;

    buf p = png_encode(W, H, PNG_COLOR_TYPE_RGB, 8, 0, px);
    buf q = png_encode(W, H, PNG_COLOR_TYPE_RGB, 8, 1, px);
    CHECK(dec(&p, "a.png", &a, &err) == SAIL_OK && dec(&q, "i.png", &b, &err) == SAIL_OK &&
              !memcmp(a.rgb, px, W * H * 3) && !memcmp(b.rgb, px, W * H * 3),
          "interlaced and plain PNG give the written pixels");
    sail_image_free(&a);
    sail_image_free(&b);
    free(q.p);

    p.p[29] ^= 1; /* the IHDR CRC */
    CHECK(dec(&p, "bad.png", &a, &err) == SAIL_ERR_FORMAT && HAS(err, "bad.png: PNG CRC error"),
          "IHDR CRC: %s", err.msg);
    p.p[29] ^= 1;
    p.p[p.n - 14] ^= 0x40; /* the IDAT CRC */
    CHECK(dec(&p, "bad.png", &a, &err) == SAIL_ERR_FORMAT && HAS(err, "bad.png: PNG CRC error"),
          "IDAT CRC: %s", err.msg);
    p.p[p.n - 14] ^= 0x40;
    int bad = 0;
    for (size_t cut = 8; cut < p.n - 12; cut++) {
        buf t = {p.p, cut, cut};
        if (dec(&t, "t.png", &a, &err) == SAIL_OK || strncmp(err.msg, "t.png: ", 7)) bad++;
        sail_image_free(&a);
    }
    CHECK(bad == 0, "every truncation of a PNG before IEND is an error naming the file");
    free(p.p);

    buf bomb = png_header_only(100000, 100000);
    CHECK(dec(&bomb, "big.png", &a, &err) == SAIL_ERR_LIMIT &&
              !strcmp(err.msg, "big.png: image is 100000x100000 (10000000000 pixels); the limit is "
                               "67108864 pixels (--max-image-pixels)"),
          "PNG decompression bomb refused before allocation: %s", err.msg);
    free(bomb.p);
    bomb = png_header_only(40000, 2);
    CHECK(dec(&bomb, "long.png", &a, &err) == SAIL_ERR_LIMIT &&
              !strcmp(err.msg, "long.png: image is 40000x2; the limit is 32768x32768"),
          "PNG over the side limit: %s", err.msg);
    free(bomb.p);
    bomb = png_header_only(0x7fffffff, 1);
    CHECK(dec(&bomb, "wide.png", &a, &err) == SAIL_ERR_LIMIT, "PNG 2^31-1 wide: %s", err.msg);
    free(bomb.p);

    uint8_t one[3] = {10, 20, 30};
    p = png_encode(1, 1, PNG_COLOR_TYPE_RGB, 8, 0, one);
    CHECK(dec(&p, "1.png", &a, &err) == SAIL_OK && a.w == 1 && a.h == 1 && !memcmp(a.rgb, one, 3),
          "1x1 PNG");
    CHECK(sail_image_resize(&a, 224, 224, SAIL_RESAMPLE_BICUBIC, &b, &err) == SAIL_OK &&
              b.rgb[0] == 10 && b.rgb[224 * 224 * 3 - 1] == 30,
          "1x1 resized to 224x224 is flat");
    sail_image_free(&a);
    sail_image_free(&b);
    free(p.p);

    p = png_encode(W, H, PNG_COLOR_TYPE_RGB, 16, 0, px);
    int ok = dec(&p, "16.png", &a, &err) == SAIL_OK;
    for (int i = 0; ok && i < W * H * 3; i++) ok = a.rgb[i] == px[2 * i];
    CHECK(ok, "16-bit RGB PNG keeps the high byte (as PIL)");
    sail_image_free(&a);
    free(p.p);
}

static void test_webp_ppm(void) {
    sail_error err = {0};
    sail_image img;
    /* RIFF/WEBP with a VP8X chunk whose animation flag is set, 16x16. */
    uint8_t anim[30] = {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X',
                        10, 0, 0, 0, 0x02, 0, 0, 0, 15, 0, 0, 15, 0, 0};
    buf b = {anim, sizeof anim, sizeof anim};
    CHECK(dec(&b, "a.webp", &img, &err) == SAIL_ERR_UNSUPPORTED && HAS(err, "a.webp: animated WebP"),
          "animated WebP: %s", err.msg);
    uint8_t big[30];
    memcpy(big, anim, sizeof big);
    big[20] = 0, big[24] = 0x2f, big[25] = 0x75, big[27] = 0x2f, big[28] = 0x75; /* 30000 */
    b.p = big;
    CHECK(dec(&b, "big.webp", &img, &err) && HAS(err, "big.webp: "), "WebP claiming 30000x30000: %s", err.msg);
    b.n = 16;
    CHECK(dec(&b, "t.webp", &img, &err) == SAIL_ERR_FORMAT && HAS(err, "t.webp: "), "truncated WebP: %s", err.msg);

    static const struct {
        const char *data, *want;
    } ppm[] = {
        {"P6\nabc\n", "invalid PPM/PGM header"},
        {"P6 2 2 0\n", "maxval 0 is not in 1..65535"},
        {"P6 2 2 70000\n", "maxval 70000"},
        {"P6 2 2 255\nabc", "truncated PPM/PGM data"},
        {"P5 0 2 255\n", "zero width or height"},
        {"P6 100000 100000 255\n", "image is 100000x100000 (10000000000 pixels); the limit is"},
        {"P6 9999999999 9999999999 255\n", "image is 9999999999x9999999999; too large"},
        {"P6 99999999999 1 255\n", "invalid PPM/PGM header"},
        {"P3 1 1 255\n1 2 3\n", "P1-P4) are not supported"},
    };
    for (size_t i = 0; i < sizeof ppm / sizeof *ppm; i++) {
        buf t = {(uint8_t *)ppm[i].data, strlen(ppm[i].data), 0};
        CHECK(dec(&t, "x.ppm", &img, &err) != SAIL_OK && HAS(err, "x.ppm: ") && HAS(err, ppm[i].want),
              "bad PPM #%zu: %s", i, err.msg);
    }
    buf g = {(uint8_t *)"P5\n# c\n2 1\n255\n\x07\xf0", 17, 0};
    CHECK(dec(&g, "g.pgm", &img, &err) == SAIL_OK && img.w == 2 && img.rgb[0] == 7 &&
              img.rgb[2] == 7 && img.rgb[5] == 0xf0,
          "PGM with a comment decodes to gray RGB");
    sail_image_free(&img);
}

static void test_limits_and_args(void) {
    sail_error err = {0};
    sail_image img, out;
    uint8_t px[5 * 5 * 3] = {0};
    buf p = png_encode(5, 5, PNG_COLOR_TYPE_RGB, 8, 0, px);
    sail_image_limits lim = {4, 0, 1, 0};
    CHECK(sail_image_decode(p.p, p.n, "five.png", &lim, &img, &err) == SAIL_ERR_LIMIT &&
              HAS(err, "five.png: image is 5x5; the limit is 4x4"),
          "custom max_side: %s", err.msg);
    lim.max_side = 0, lim.max_pixels = 24;
    CHECK(sail_image_decode(p.p, p.n, "five.png", &lim, &img, &err) == SAIL_ERR_LIMIT &&
              HAS(err, "(25 pixels); the limit is 24 pixels"),
          "custom max_pixels: %s", err.msg);
    CHECK(sail_image_decode(p.p, p.n, NULL, NULL, &img, &err) == SAIL_OK, "NULL name and limits");
    CHECK(sail_image_resize(&img, 0, 3, SAIL_RESAMPLE_BICUBIC, &out, &err) == SAIL_ERR_INVALID_ARG,
          "resize to 0 wide is refused: %s", err.msg);
    CHECK(sail_image_resize(&img, 3, 3, (sail_resample)1, &out, &err) == SAIL_ERR_INVALID_ARG,
          "unknown filter refused: %s", err.msg);
    float chw[3 * 8 * 8];
    sail_preprocess pp = {4, 8, SAIL_RESAMPLE_BICUBIC, {0, 0, 0}, {1, 1, 1}, 0};
    CHECK(sail_image_preprocess(&img, &pp, chw, &err) == SAIL_ERR_INVALID_ARG, "crop > size: %s", err.msg);
    pp.crop = 4, pp.std[1] = 0;
    CHECK(sail_image_preprocess(&img, &pp, chw, &err) == SAIL_ERR_INVALID_ARG, "std 0: %s", err.msg);
    pp.std[1] = 1;
    CHECK(sail_image_preprocess(&img, &pp, chw, &err) == SAIL_OK && chw[0] == 0.0f,
          "preprocess of a black image with mean 0 std 1 gives zeros");
    sail_image_free(&img);
    free(p.p);
}

/* ------------------------------------------------ resampling kernels -- */

/* Random taps for n outputs over an axis of in_size: up to ksize taps, some
 * pinned to the far edge (the SIMD tails), weights of both signs with
 * sum |k| <= 2^23 so no sum overflows int32 (PIL's headroom). */
static sail_rs_coeffs random_coeffs(int n, int in_size, int ksize, uint32_t seed) {
    sail_rs_coeffs c = {ksize, malloc(sizeof(int) * n), malloc(sizeof(int) * n),
                        calloc((size_t)n * ksize, sizeof(int32_t))};
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        int len = 1 + (int)(seed >> 8) % SAIL_MIN(ksize, in_size);
        c.len[i] = len;
        c.first[i] = i % 3 == 0 ? in_size - len : (int)(seed >> 4) % (in_size - len + 1);
        for (int x = 0; x < len; x++) {
            seed = seed * 1664525u + 1013904223u;
            c.k[(size_t)i * ksize + x] = (int32_t)(seed % ((2u << 23) / len)) - (1 << 23) / len;
        }
    }
    return c;
}

static void free_coeffs(sail_rs_coeffs *c) {
    free(c->first);
    free(c->len);
    free(c->k);
}

/* The AVX2 passes against the portable ones, byte for byte. */
static void test_resize_kernels(void) {
#if defined(__x86_64__) && !defined(SAIL_FORCE_REF)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) {
        SKIP("no AVX2: resampling kernels");
        return;
    }
    static const int sizes[][3] = {{1, 7, 3}, {2, 5, 5}, {17, 9, 4}, {512, 224, 11},
                                   {2048, 298, 29}, {40, 300, 5}, {300, 1, 300}};
    int bad_h = 0, bad_v = 0;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int in = sizes[t][0], out = sizes[t][1], ks = sizes[t][2], rows = 5;
        sail_rs_coeffs c = random_coeffs(out, in, ks, 7u + (uint32_t)t);
        size_t src_n = (size_t)in * rows * 3, dst_n = (size_t)out * rows * 3;
        uint8_t *src = malloc(src_n), *a = malloc(dst_n), *b = malloc(dst_n);
        noise(src, src_n, 11u + (uint32_t)t);
        sail_rs_hpass_ref(a, out, src, in, rows, &c);
        sail_rs_hpass_avx2(b, out, src, in, rows, &c);
        bad_h += memcmp(a, b, dst_n) != 0;
        /* Vertical: the same taps over `in` rows of 37 pixels (three
         * 32-byte blocks and a tail). */
        size_t vn = (size_t)out * 37 * 3;
        uint8_t *vs = malloc((size_t)in * 37 * 3), *va = malloc(vn), *vb = malloc(vn);
        int32_t *acc = malloc(sizeof(int32_t) * 37 * 3);
        noise(vs, (size_t)in * 37 * 3, 13u + (uint32_t)t);
        sail_rs_vpass_ref(va, out, vs, 37, &c, acc);
        sail_rs_vpass_avx2(vb, out, vs, 37, &c, acc);
        bad_v += memcmp(va, vb, vn) != 0;
        free(src), free(a), free(b), free(vs), free(va), free(vb), free(acc);
        free_coeffs(&c);
    }
    CHECK(bad_h == 0, "AVX2 horizontal pass equals the portable one on random taps");
    CHECK(bad_v == 0, "AVX2 vertical pass equals the portable one on random taps");
#else
    SKIP("portable build: resampling kernels");
#endif
}

/* Row bands over a pool give the same tensor as the caller alone, also
 * when there are fewer rows than threads. */
static void test_preprocess_pool(void) {
    static const int dims[][2] = {{300, 200}, {2, 3}, {1, 1}, {640, 480}};
    sail_pool *pool = sail_pool_new(2);
    sail_preprocess modes[2] = {{224, 224, SAIL_RESAMPLE_BICUBIC, {0.5f, 0.4f, 0.3f}, {0.2f, 0.3f, 0.4f}, 0},
                                {224, 0, SAIL_RESAMPLE_BILINEAR, {0.5f, 0.4f, 0.3f}, {0.2f, 0.3f, 0.4f}, 0}};
    static float a[3 * 224 * 224], b[3 * 224 * 224];
    int same = 1;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int m = 0; m < 2; m++) {
            sail_image img = {dims[d][0], dims[d][1], malloc((size_t)dims[d][0] * dims[d][1] * 3)};
            noise(img.rgb, (size_t)img.w * img.h * 3, 17u + (uint32_t)d);
            sail_error err = {0};
            same &= sail_image_preprocess(&img, &modes[m], a, &err) == SAIL_OK &&
                    sail_image_preprocess_mt(&img, &modes[m], b, pool, &err) == SAIL_OK &&
                    !memcmp(a, b, sizeof a);
            free(img.rgb);
        }
    CHECK(pool && same, "preprocess over a 2-thread pool equals the single-threaded result");
    sail_pool_free(pool);
}

static void test_npy(void) {
    sail_error err = {0};
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    char path[300];
    snprintf(path, sizeof path, "%s/a.npy", tmpdir);
    CHECK(sail_npy_write_f32(path, v, 2, shape, &err) == SAIL_OK, "npy write");
    uint8_t h[256];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(h, 1, sizeof h, f) : 0;
    if (f) fclose(f);
    size_t hl = h[8] | h[9] << 8;
    CHECK(n == 10 + hl + 24 && !memcmp(h, "\x93NUMPY\x01\x00", 8) && (10 + hl) % 64 == 0 &&
              !memcmp(h + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 59) &&
              h[10 + hl - 1] == '\n' && !memcmp(h + 10 + hl, v, 24),
          "npy layout: magic, padded header, data");
    CHECK(sail_npy_write_f32("/nonexistent/dir/x.npy", v, 2, shape, &err) == SAIL_ERR_IO &&
              HAS(err, "/nonexistent/dir/x.npy"),
          "npy to an unwritable path: %s", err.msg);
    unlink(path);
}

int main(void) {
    if (!(tmpdir = scratch_make("sail_test_image"))) return 1;
    test_not_images();
    test_jpeg();
    test_png();
    test_webp_ppm();
    test_limits_and_args();
    test_npy();
    test_resize_kernels();
    test_preprocess_pool();
    scratch_remove();
    return test_done();
}
