// sources: src/image/decode.c src/image/pixels.c src/image/decode_jpeg.c src/image/decode_png.c src/image/decode_webp.c src/image/resize.c src/core/cpu.c src/image/resize_avx2.c src/image/preprocess.c src/core/alloc.c src/core/fault.c src/core/error.c src/core/pool.c
// libs: -ljpeg -lpng -lwebp -lz -lm
/* fuzz_image.c: libFuzzer harness over sail_image_decode (every format,
 * sniffed from the bytes) and, when a decode succeeds, a resize, so the
 * dimensions a hostile header produces also reach the resampler. The side
 * limit is lowered to keep each run fast; the checks are the same. */
#include "image/image.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sail_image_limits lim = {512, 512 * 512, 1, 8}; /* 8: DCT-scaled JPEG decoding too */
    sail_image img = {0, 0, NULL}, out = {0, 0, NULL};
    sail_error err;
    if (sail_image_decode(data, size, "fuzz", &lim, &img, &err) == SAIL_OK) {
        if (sail_image_resize(&img, 7, 5, SAIL_RESAMPLE_BICUBIC, &out, &err) == SAIL_OK)
            sail_image_free(&out);
        sail_image_free(&img);
    }
    return 0;
}
