/* test_embed_bytes.c: the in-memory input calls (src/api/embed_bytes.c)
 * against their file-based twins on a micro model: token counts before
 * truncation, image bytes -> tensor equal to the file's, image bytes and
 * joint tensors equal to sail_embed_image_files / sail_embed_pairs, the pixel
 * limit, and hostile arguments. */
#include "model/model.h"
#include "fixtures.h"
#include "test.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static const char *dir; /* scratch_make's */

/* A w x h binary PPM with a seeded pattern; returns its size. */
static size_t make_ppm(unsigned char *buf, int w, int h, int seed) {
    int k = sprintf((char *)buf, "P6\n%d %d\n255\n", w, h);
    for (int i = 0; i < w * h * 3; i++) buf[k + i] = (unsigned char)((i * 37 + seed * 101) ^ (i >> 3));
    return (size_t)k + (size_t)w * h * 3;
}

int main(void) {
    if (!(dir = scratch_make("sail_test_embed_bytes"))) return 1;
    char path[512], img1[512], img2[512];
    snprintf(path, sizeof path, "%s/micro.gguf", dir);
    snprintf(img1, sizeof img1, "%s/a.ppm", dir);
    snprintf(img2, sizeof img2, "%s/b.ppm", dir);
    sail_error err = {0};
    sail_model *m = micro_model(path, 7);
    if (!m) return test_done();

    int n = 0;
    CHECK(!sail_count_tokens(m, "a b c", 5, &n, &err) && n == 5, "count_tokens('a b c') = 5 with [CLS]/[SEP] (%d)", n);
    char long_text[200];
    for (int i = 0; i < 100; i++) long_text[2 * i] = 'a', long_text[2 * i + 1] = ' ';
    CHECK(!sail_count_tokens(m, long_text, 200, &n, &err) && n == 102,
          "count_tokens counts past the context (102 > 16): %d", n);
    CHECK(!sail_count_tokens(m, NULL, 0, &n, &err) && n == 2, "an empty text is [CLS][SEP]");
    CHECK(sail_count_tokens(m, NULL, 3, &n, &err) == SAIL_ERR_INVALID_ARG, "NULL text with a length is refused");

    static unsigned char b1[64 * 48 * 3 + 32], b2[30 * 70 * 3 + 32];
    size_t n1 = make_ppm(b1, 64, 48, 1), n2 = make_ppm(b2, 30, 70, 2);
    spit(img1, b1, n1);
    spit(img2, b2, n2);
    int s = sail_model_image_size(m);
    size_t per = (size_t)3 * s * s;
    float *t_mem = malloc(2 * per * sizeof(float)), *t_file = malloc(per * sizeof(float));
    CHECK(!sail_image_bytes_tensor(m, b1, n1, 0, t_mem, &err) && !sail_image_file_tensor(m, img1, t_file, &err) &&
              !memcmp(t_mem, t_file, per * sizeof(float)),
          "image bytes -> the same tensor as the file");
    CHECK(sail_image_bytes_tensor(m, b1, n1, 64 * 48 - 1, t_file, &err) == SAIL_ERR_LIMIT && strstr(err.msg, "limit"),
          "max_pixels below the image's is SAIL_ERR_LIMIT: %s", err.msg);
    CHECK(sail_image_bytes_tensor(m, b1, n1, 64 * 48, t_file, &err) == SAIL_OK, "max_pixels equal to it is fine");
    CHECK(sail_image_bytes_tensor(m, "GIF89a", 6, 0, t_file, &err) == SAIL_ERR_FORMAT, "GIF bytes: %s", err.msg);
    CHECK(sail_image_bytes_tensor(m, b1, 40, 0, t_file, &err) != SAIL_OK, "a truncated PPM: %s", err.msg);
    CHECK(sail_image_bytes_tensor(m, b1, n1, -1, t_file, &err) == SAIL_ERR_INVALID_ARG, "negative max_pixels");

    float v_bytes[2 * 8], v_files[2 * 8];
    const void *data[2] = {b1, b2};
    size_t sizes[2] = {n1, n2};
    const char *paths[2] = {img1, img2};
    CHECK(!sail_embed_image_bytes(m, data, sizes, 2, 0, v_bytes, &err) &&
              !sail_embed_image_files(m, paths, 2, 0, v_files, &err) && !memcmp(v_bytes, v_files, sizeof v_bytes),
          "embed_image_bytes == embed_image_files");
    sizes[1] = 10;
    CHECK(sail_embed_image_bytes(m, data, sizes, 2, 0, v_bytes, &err) != SAIL_OK && strstr(err.msg, "image 1"),
          "a bad second image is named: %s", err.msg);

    const char *texts[2] = {"a b c", "d e f g h"};
    float v_pairs[2 * 8], v_joint[2 * 8], v4[2 * 4];
    int32_t ids[2 * 16];
    int lens[2];
    CHECK(!sail_tokenize(m, texts[0], 5, ids, &lens[0], &err) &&
              !sail_tokenize(m, texts[1], 9, ids + lens[0], &lens[1], &err),
          "tokenize the two texts into one id array");
    CHECK(!sail_image_bytes_tensor(m, b2, n2, 0, t_mem + per, &err), "second tensor");
    CHECK(!sail_embed_pairs(m, texts, paths, 2, 0, v_pairs, &err) &&
              !sail_embed_joint_tensors(m, ids, lens, t_mem, 2, 0, v_joint, &err) &&
              !memcmp(v_pairs, v_joint, sizeof v_pairs),
          "embed_joint_tensors == embed_pairs");
    double worst = 0;
    CHECK(!sail_embed_joint_tensors(m, ids, lens, t_mem, 2, 4, v4, &err), "joint with dim 4");
    for (int i = 0; i < 2; i++) {
        double nrm = 0;
        for (int k = 0; k < 4; k++) nrm += (double)v_joint[i * 8 + k] * v_joint[i * 8 + k];
        for (int k = 0; k < 4; k++) worst = fmax(worst, fabs(v4[i * 4 + k] - v_joint[i * 8 + k] / sqrt(nrm)));
    }
    CHECK(worst < 1e-6, "dim 4 is the re-normalised prefix (max err %.2g)", worst);
    CHECK(sail_embed_joint_tensors(m, ids, lens, t_mem, 2, 9, v4, &err) == SAIL_ERR_INVALID_ARG,
          "dim over the model's: %s", err.msg);
    CHECK(sail_embed_joint_tensors(m, NULL, lens, t_mem, 2, 0, v4, &err) == SAIL_ERR_INVALID_ARG &&
              sail_embed_joint_tensors(m, ids, lens, t_mem, -1, 0, v4, &err) == SAIL_ERR_INVALID_ARG &&
              sail_embed_joint_tensors(m, ids, lens, t_mem, 0, 0, NULL, &err) == SAIL_OK,
          "NULL arrays and negative counts are refused; n = 0 is a no-op");

    free(t_mem);
    free(t_file);
    sail_model_free(m);
    scratch_remove();
    return test_done();
}
