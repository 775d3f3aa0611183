/* quant_dump.c: test driver for tests/test_quant.py. Reads N float32 values
 * from IN, encodes them as TYPE (f16|bf16|q8_0), writes the encoded bytes to
 * OUT.enc and the decoded float32 values to OUT.dec.
 *
 *   quant_dump TYPE IN OUT
 */
#include "format/gguf.h"
#include "kernels/numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *path, const char *ext, const void *p, size_t n) {
    char name[4096];
    snprintf(name, sizeof name, "%s.%s", path, ext);
    FILE *f = fopen(name, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f) fclose(f);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: quant_dump f16|bf16|q8_0 IN OUT\n");
        return 2;
    }
    uint32_t type = !strcmp(argv[1], "f16") ? GGUF_T_F16 : !strcmp(argv[1], "bf16") ? GGUF_T_BF16 : GGUF_T_Q8_0;
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f) / sizeof(float);
    fseek(f, 0, SEEK_SET);
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    size_t nb = gguf_type_nbytes(type, n);
    void *enc = malloc(nb ? nb : 1);
    if (!x || !y || !enc || fread(x, sizeof(float), n, f) != n || !nb) return 1;
    fclose(f);
    sail_quantize_row(type, enc, x, n);
    sail_dequantize_row(type, y, enc, n);
    int rc = write_file(argv[3], "enc", enc, nb) || write_file(argv[3], "dec", y, n * sizeof(float));
    free(x);
    free(y);
    free(enc);
    return rc;
}
