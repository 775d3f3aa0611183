/* test_safetensors.c: the safetensors reader on well-formed and hostile
 * buffers (bad header length, bad JSON, offsets past the data, sizes that
 * disagree with dtype x shape, overlapping tensors, overflowing shapes), and
 * the F16/BF16 to f32 conversion against exact values. */
#include "format/safetensors.h"
#include "test.h"

#include <math.h>
#include <string.h>

/* A file: u64 header length, header, data. */
static size_t build(uint8_t *buf, const char *header, const void *data, size_t n) {
    uint64_t hl = strlen(header);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n) memcpy(buf + 8 + hl, data, n);
    return 8 + hl + n;
}

static int refused(const char *header, const void *data, size_t n, const char *needle) {
    static uint8_t buf[4096];
    size_t len = build(buf, header, data, n);
    sail_error err = {0};
    sail_st_file *f = sail_st_open_mem(buf, len, &err);
    if (f) {
        sail_st_close(f);
        return 0;
    }
    if (!strstr(err.msg, needle)) printf("#   message: %s\n", err.msg);
    return strstr(err.msg, needle) != NULL;
}

/* Headers the reader must refuse (over the first n bytes of main's data),
 * each with a word its message must contain. */
static const struct {
    const char *header;
    size_t n;
    const char *needle, *what;
} bad_headers[] = {
    {"{\"a\":", 0, "not valid JSON", "truncated JSON is refused"},
    {"[1,2]", 0, "not a JSON object", "a non-object header is refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, "JSON", "duplicate names are refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
     8, "outside", "offsets past the data are refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}",
     16, "needs 12", "a span that disagrees with dtype x shape is refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
     16, "outside", "reversed offsets are refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     16, "overlap", "overlapping tensors are refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}",
     16, "fits in memory", "a shape whose byte size overflows is refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,16]}}",
     16, "shape entry", "a negative dimension is refused"},
    {"{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
     16, "C64", "an unknown dtype is refused, named"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}",
     16, "expected", "an entry with extra fields is refused"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
     16, "dimensions", "more than 8 dimensions are refused"},
};

int main(void) {
    static uint8_t buf[4096];
    float vals[4] = {1.5f, -2.0f, 0.25f, 3.0f};
    uint16_t half[3] = {0x3c00, 0xc000, 0x0001};   /* 1, -2, 2^-24 */
    uint16_t bf[2] = {0x3fc0, 0xc080};             /* 1.5, -4 */
    uint8_t data[16 + 6 + 4];
    memcpy(data, vals, 16);
    memcpy(data + 16, half, 6);
    memcpy(data + 22, bf, 4);
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[22,26]},"
                    "\"__metadata__\":{\"format\":\"pt\"}}";
    size_t len = build(buf, h, data, sizeof data);
    sail_error err = {0};
    sail_st_file *f = sail_st_open_mem(buf, len, &err);
    CHECK(f && f->n == 3, "a well-formed file parses (3 tensors, metadata skipped) %s", f ? "" : err.msg);
    if (f) {
        const sail_st_tensor *a = sail_st_find(f, "a"), *hh = sail_st_find(f, "h"), *b = sail_st_find(f, "b");
        float out[4] = {0};
        CHECK(a && a->n_dims == 2 && a->shape[0] == 2 && a->shape[1] == 2 && sail_st_numel(a) == 4,
              "shape and element count");
        CHECK(a && !sail_st_to_f32(a, 0, 4, out, &err) && !memcmp(out, vals, 16), "F32 data read exactly");
        CHECK(hh && !sail_st_to_f32(hh, 0, 3, out, &err) && out[0] == 1.0f && out[1] == -2.0f &&
                  out[2] == ldexpf(1, -24),
              "F16 to f32 is exact, subnormals included");
        CHECK(b && !sail_st_to_f32(b, 0, 2, out, &err) && out[0] == 1.5f && out[1] == -4.0f, "BF16 to f32 is exact");
        CHECK(a && sail_st_to_f32(a, 3, 2, out, &err) == SAIL_ERR_INVALID_ARG, "a range past the end is refused");
        CHECK(!sail_st_find(f, "__metadata__") && !sail_st_find(f, "zz"), "absent names are not found");
        sail_st_close(f);
    }
    CHECK(!sail_st_open_mem(buf, 7, &err) && strstr(err.msg, "too short"), "a file under 8 bytes is refused");
    memcpy(buf, "\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
    CHECK(!sail_st_open_mem(buf, 64, &err) && strstr(err.msg, "header length"), "a header length past the file is refused");
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++)
        CHECK(refused(bad_headers[i].header, data, bad_headers[i].n, bad_headers[i].needle), "%s",
              bad_headers[i].what);
    {   /* an I64 tensor parses but does not convert to f32 */
        int64_t ids[2] = {1, 2};
        size_t n = build(buf, "{\"p\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", ids, 16);
        sail_st_file *g = sail_st_open_mem(buf, n, &err);
        float out[2];
        CHECK(g && sail_st_to_f32(&g->t[0], 0, 2, out, &err) == SAIL_ERR_UNSUPPORTED && strstr(err.msg, "I64"),
              "an integer tensor is read but refused as weights");
        sail_st_close(g);
    }
    CHECK(!sail_st_open("/nonexistent/model.safetensors", &err) && err.status == SAIL_ERR_IO, "a missing file is an I/O error");
    return test_done();
}
