// sources: src/core/error.c
/* seed_safetensors.c: writes a few valid safetensors files (F32, F16, BF16,
 * metadata, several tensors) into the corpus folder given as argv[1]. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int put(const char *dir, int i, const char *header, size_t data) {
    char path[512];
    snprintf(path, sizeof path, "%s/seed%d", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    uint64_t n = strlen(header);
    uint8_t len[8], zero[64] = {0};
    for (int k = 0; k < 8; k++) len[k] = (uint8_t)(n >> (8 * k));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, n, f);
    fwrite(zero, 1, data, f);
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int bad = 0;
    bad |= put(argv[1], 0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
    bad |= put(argv[1], 1, "{\"__metadata__\":{\"format\":\"pt\"},\"h\":{\"dtype\":\"F16\",\"shape\":[3],"
                           "\"data_offsets\":[0,6]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[6,10]}}", 10);
    bad |= put(argv[1], 2, "{\"p\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[0,16]},"
                           "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]}}", 16);
    return bad;
}
