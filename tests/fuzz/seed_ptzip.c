// sources:
// libs: -lz
/* seed_ptzip.c: writes torch.save-style zips into the corpus folder argv[1]:
 * stored (uncompressed) entries ARCHIVE/data.pkl (a protocol 2 state dict,
 * as seed_pickle.c), ARCHIVE/byteorder ("little") and one storage
 * ARCHIVE/data/<key> per key, with the central directory libzip checks. */
#include "seed_pickle.h"
#include "seed_write.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

static seed_pkl pkl;
static uint8_t zip[8192];
static size_t nz;

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }

typedef struct entry { const char *name; const void *data; uint32_t size, crc, off; } entry;

/* A stored zip of n entries: local headers and data, central directory, end record. */
static void build(entry *e, int n) {
    nz = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *h = zip + nz;
        uint32_t nl = (uint32_t)strlen(e[i].name);
        e[i].crc = (uint32_t)crc32(0, e[i].data, e[i].size);
        e[i].off = (uint32_t)nz;
        memset(h, 0, 30);
        put32(h, 0x04034b50), put16(h + 4, 20), put32(h + 14, e[i].crc);
        put32(h + 18, e[i].size), put32(h + 22, e[i].size), put16(h + 26, nl);
        memcpy(h + 30, e[i].name, nl);
        memcpy(h + 30 + nl, e[i].data, e[i].size);
        nz += 30 + nl + e[i].size;
    }
    uint32_t cd = (uint32_t)nz;
    for (int i = 0; i < n; i++) {
        uint8_t *h = zip + nz;
        uint32_t nl = (uint32_t)strlen(e[i].name);
        memset(h, 0, 46);
        put32(h, 0x02014b50), put16(h + 4, 20), put16(h + 6, 20), put32(h + 16, e[i].crc);
        put32(h + 20, e[i].size), put32(h + 24, e[i].size), put16(h + 28, nl), put32(h + 42, e[i].off);
        memcpy(h + 46, e[i].name, nl);
        nz += 46 + nl;
    }
    uint8_t *h = zip + nz;
    memset(h, 0, 22);
    put32(h, 0x06054b50), put16(h + 8, (uint32_t)n), put16(h + 10, (uint32_t)n);
    put32(h + 12, (uint32_t)nz - cd), put32(h + 16, cd);
    nz += 22;
}

static int save(const char *dir, int i) { return seed_write(dir, (size_t)i, zip, nz); }

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    float s0[6] = {0, 1, 2, 3, 4, 5}, s1[6] = {6, 7, 8, 9, 10, 11};
    uint16_t h0[6] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};
    int rc = 0;
    seed_state_dict(&pkl, "ctorch\nFloatStorage\n", 1, 1);
    entry a[] = {{"archive/data.pkl", pkl.b, (uint32_t)pkl.n, 0, 0}, {"archive/byteorder", "little", 6, 0, 0},
                 {"archive/data/0", s0, sizeof s0, 0, 0}, {"archive/version", "3\n", 2, 0, 0}};
    build(a, 4), rc |= save(argv[1], 0);
    seed_state_dict(&pkl, "ctorch\nFloatStorage\n", 3, 2); /* three tensors sharing two storages */
    entry b[] = {{"model/data.pkl", pkl.b, (uint32_t)pkl.n, 0, 0}, {"model/data/0", s0, sizeof s0, 0, 0},
                 {"model/data/1", s1, sizeof s1, 0, 0}};
    build(b, 3), rc |= save(argv[1], 1);
    seed_state_dict(&pkl, "ctorch\nHalfStorage\n", 1, 1);
    entry c[] = {{"a/data.pkl", pkl.b, (uint32_t)pkl.n, 0, 0}, {"a/byteorder", "little", 6, 0, 0},
                 {"a/data/0", h0, sizeof h0, 0, 0}};
    build(c, 3), rc |= save(argv[1], 2);
    return rc;
}
