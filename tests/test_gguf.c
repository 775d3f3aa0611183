/* test_gguf.c: the GGUF container. Round-trips every value type and every
 * tensor type through the writer and reader, cross-checks the written bytes
 * with an independent Python reader, then attacks the reader with hostile
 * files: every truncation, random byte flips and one crafted file per
 * validation rule, checking that each error names the problem. */
#include "format/gguf.h"
#include "scratch.h"
#include "test.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reader must refuse buf with a message containing word. */
static void expect_fail(const void *buf, size_t n, const char *word, const char *label) {
    sail_error err = {0};
    gguf_file *f = gguf_open_mem(buf, n, &err);
    int ok = !f && err.status != SAIL_OK && strstr(err.msg, word);
    CHECK(ok, "%s: refused, message mentions '%s' (%s)", label, word, err.msg);
    gguf_close(f);
}

/* ------------------------------------------------------ round trip -- */

static const char *const strs[] = {"alpha", "", "naïve 日本語 ☃", "x y\tz"};
static float f32s[5] = {1.5f, -2.25f, 0.0f, 1e-30f, 3.0e38f};
static float t_f32[5] = {1, 2, 3, 4, 5};
static uint16_t t_f16[6] = {0x3C00, 0x4000, 0xC000, 0, 0x7BFF, 0x0001};
static uint8_t t_q8[2 * 2 * 34];         /* ne = 64 x 2 x 1: 4 blocks */
static uint16_t t_bf16[2 * 3 * 1 * 2] = {0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0,
                                        0xBF80, 0xC000, 0xC040, 0xC080, 0xC0A0, 0xC0C0};

static const struct { const char *name; uint32_t type, n_dims; uint64_t ne[4]; const void *data; }
    tensors[] = {
        {"t.f32", GGUF_T_F32, 1, {5}, t_f32},
        {"t.f16", GGUF_T_F16, 2, {3, 2}, t_f16},
        {"t.q8_0", GGUF_T_Q8_0, 3, {64, 2, 1}, t_q8},
        {"t.bf16", GGUF_T_BF16, 4, {2, 3, 1, 2}, t_bf16},
    };

static void set_all_values(gguf_writer *w) {
    uint8_t u8 = 200, b = 1; int8_t i8 = -5; uint16_t u16 = 60000; int16_t i16 = -30000;
    uint64_t u64 = 0x8000000000000005ull; int64_t i64 = -((int64_t)1 << 40);
    double f64 = 0.125, big = 3.25e100;
    int16_t i16s[3] = {-1, 2, -32768}; uint64_t u64s[2] = {1, UINT64_MAX}; double f64s[2] = {0.5, -4};
    uint8_t bools[3] = {1, 0, 1}; uint8_t u8s[5] = {1, 2, 3, 4, 255};
    gguf_set_scalar(w, "v.u8", GGUF_VT_U8, &u8);
    gguf_set_scalar(w, "v.i8", GGUF_VT_I8, &i8);
    gguf_set_scalar(w, "v.u16", GGUF_VT_U16, &u16);
    gguf_set_scalar(w, "v.i16", GGUF_VT_I16, &i16);
    gguf_set_u32(w, "v.u32", 4000000000u);
    gguf_set_i32(w, "v.i32", -7);
    gguf_set_f32(w, "v.f32", 0.75f);
    gguf_set_bool(w, "v.bool", 1);
    gguf_set_scalar(w, "v.bool2", GGUF_VT_BOOL, &b);
    gguf_set_str(w, "v.str", "hello 世界");
    gguf_set_str(w, "v.empty", "");
    gguf_set_scalar(w, "v.u64", GGUF_VT_U64, &u64);
    gguf_set_scalar(w, "v.i64", GGUF_VT_I64, &i64);
    gguf_set_scalar(w, "v.f64", GGUF_VT_F64, &f64);
    gguf_set_scalar(w, "v.f64big", GGUF_VT_F64, &big);
    gguf_set_str_array(w, "a.str", strs, 4);
    gguf_set_str_array(w, "a.str0", strs, 0);
    gguf_set_f32_array(w, "a.f32", f32s, 5);
    gguf_set_array(w, "a.i16", GGUF_VT_I16, i16s, 3);
    gguf_set_array(w, "a.u64", GGUF_VT_U64, u64s, 2);
    gguf_set_array(w, "a.f64", GGUF_VT_F64, f64s, 2);
    gguf_set_array(w, "a.bool", GGUF_VT_BOOL, bools, 3);
    gguf_set_array(w, "a.u8", GGUF_VT_U8, u8s, 5);
    gguf_set_u32(w, "v.last", 1);
    gguf_set_u32(w, "v.last", 2);             /* the last set wins */
    gguf_set_u32(w, "general.alignment", 64);
}

static sail_status write_full(const char *path, sail_error *err) {
    gguf_writer *w = gguf_writer_new();
    for (int i = 0; i < 2 * 2 * 34; i++) t_q8[i] = (uint8_t)(i * 7);
    set_all_values(w);
    for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++)
        gguf_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims, tensors[i].ne,
                        tensors[i].data);
    sail_status st = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return st;
}

static void check_scalars(const gguf_file *f) {
    const gguf_kv *kv;
    uint32_t u; int32_t i; float x; int b; char s[64];
    sail_error err = {0};
    CHECK(!gguf_get_u32(f, "v.u8", &u, NULL) && u == 200, "u8 read as u32");
    CHECK(!gguf_get_i32(f, "v.i8", &i, NULL) && i == -5, "i8 read as i32");
    CHECK(!gguf_get_u32(f, "v.u16", &u, NULL) && u == 60000, "u16");
    CHECK(!gguf_get_i32(f, "v.i16", &i, NULL) && i == -30000, "i16");
    CHECK(!gguf_get_u32(f, "v.u32", &u, NULL) && u == 4000000000u, "u32");
    CHECK(!gguf_get_i32(f, "v.i32", &i, NULL) && i == -7, "i32");
    CHECK(!gguf_get_f32(f, "v.f32", &x, NULL) && x == 0.75f, "f32");
    CHECK(!gguf_get_f32(f, "v.f64", &x, NULL) && x == 0.125f, "f64 read as f32");
    CHECK(!gguf_get_bool(f, "v.bool", &b, NULL) && b == 1, "bool");
    CHECK(!gguf_get_str(f, "v.str", s, sizeof s, NULL) && !strcmp(s, "hello 世界"), "string");
    CHECK(!gguf_get_str(f, "v.empty", s, 1, NULL) && s[0] == 0, "empty string");
    CHECK(!gguf_get_u32(f, "v.last", &u, NULL) && u == 2, "last set of a key wins");
    kv = gguf_find_kv(f, "v.u64");
    CHECK(kv && kv->type == GGUF_VT_U64 && kv->v.u64 == 0x8000000000000005ull, "u64");
    kv = gguf_find_kv(f, "v.i64");
    CHECK(kv && kv->type == GGUF_VT_I64 && kv->v.i64 == -((int64_t)1 << 40), "i64");
    kv = gguf_find_kv(f, "v.f64big");
    CHECK(kv && kv->type == GGUF_VT_F64 && kv->v.f64 == 3.25e100, "f64");
    CHECK(gguf_get_u32(f, "v.i8", &u, &err) && strstr(err.msg, "does not fit") &&
          strstr(err.msg, "v.i8"), "negative i8 refused as u32 (%s)", err.msg);
    CHECK(gguf_get_i32(f, "v.u32", &i, &err) && strstr(err.msg, "does not fit"), "u32 4e9 refused as i32");
    CHECK(gguf_get_i32(f, "v.u64", &i, &err) && strstr(err.msg, "u64"), "u64 refused as i32 (%s)", err.msg);
    CHECK(gguf_get_u32(f, "v.str", &u, &err) && strstr(err.msg, "string"), "string refused as u32 (%s)", err.msg);
    CHECK(gguf_get_u32(f, "v.bool", &u, &err) && strstr(err.msg, "integer"), "bool refused as u32");
    CHECK(gguf_get_f32(f, "v.f64big", &x, &err) && strstr(err.msg, "does not fit"), "3e100 refused as f32");
    CHECK(gguf_get_f32(f, "v.i32", &x, &err) && strstr(err.msg, "f32"), "i32 refused as f32");
    CHECK(gguf_get_bool(f, "v.u8", &b, &err) && strstr(err.msg, "bool"), "u8 refused as bool");
    CHECK(gguf_get_u32(f, "nope", &u, &err) && strstr(err.msg, "'nope' is missing"), "missing key (%s)", err.msg);
    strcpy(s, "keep");
    CHECK(gguf_get_str(f, "v.str", s, 5, &err) == SAIL_ERR_LIMIT && !strcmp(s, "keep") &&
          strstr(err.msg, "v.str"), "string longer than the buffer refused, output unchanged (%s)", err.msg);
    CHECK(gguf_find_kv(f, "v.bool2")->v.u64 == 1, "bool via gguf_set_scalar");
}

static void check_arrays(const gguf_file *f) {
    const gguf_kv *kv = gguf_find_kv(f, "a.str");
    float v[5];
    sail_error err = {0};
    int ok = kv && kv->type == GGUF_VT_ARRAY && kv->v.arr.type == GGUF_VT_STRING && kv->v.arr.n == 4;
    for (int i = 0; ok && i < 4; i++)
        ok = kv->v.arr.strs[i].len == strlen(strs[i]) &&
             !memcmp(kv->v.arr.strs[i].ptr, strs[i], strlen(strs[i]));
    CHECK(ok, "string array incl. empty and non-ASCII strings");
    kv = gguf_find_kv(f, "a.str0");
    CHECK(kv && kv->v.arr.type == GGUF_VT_STRING && kv->v.arr.n == 0, "empty string array");
    CHECK(!gguf_get_f32_array(f, "a.f32", v, 5, NULL) && !memcmp(v, f32s, sizeof v), "f32 array");
    CHECK(!gguf_get_f32_array(f, "a.i16", v, 3, NULL) && v[0] == -1 && v[2] == -32768, "i16 array as f32");
    CHECK(!gguf_get_f32_array(f, "a.f64", v, 2, NULL) && v[0] == 0.5f && v[1] == -4, "f64 array as f32");
    CHECK(!gguf_get_f32_array(f, "a.u8", v, 5, NULL) && v[4] == 255, "u8 array as f32");
    kv = gguf_find_kv(f, "a.u64");
    CHECK(kv && kv->v.arr.n == 2 && kv->v.arr.data[8] == 0xFF && kv->v.arr.data[15] == 0xFF, "u64 array bytes");
    kv = gguf_find_kv(f, "a.bool");
    CHECK(kv && kv->v.arr.type == GGUF_VT_BOOL && !memcmp(kv->v.arr.data, "\1\0\1", 3), "bool array");
    CHECK(gguf_get_f32_array(f, "a.f32", v, 4, &err) && strstr(err.msg, "5 elements"), "wrong length refused (%s)", err.msg);
    CHECK(gguf_get_f32_array(f, "a.str", v, 4, &err) && strstr(err.msg, "array of string"), "string array refused as f32 (%s)", err.msg);
    CHECK(gguf_get_f32_array(f, "v.f32", v, 1, &err) && strstr(err.msg, "numeric array"), "scalar refused as array");
}

static void check_tensors(const gguf_file *f) {
    CHECK(f->n_tensors == 4 && f->alignment == 64 && f->data_offset % 64 == 0, "4 tensors, alignment 64");
    for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, tensors[i].name);
        uint64_t n = 1;
        for (uint32_t d = 0; d < tensors[i].n_dims; d++) n *= tensors[i].ne[d];
        int ok = t && t->type == tensors[i].type && t->n_dims == tensors[i].n_dims &&
                 !memcmp(t->ne, tensors[i].ne, t->n_dims * 8) && t->offset % 64 == 0 &&
                 t->nbytes == gguf_type_nbytes(t->type, n) &&
                 !memcmp(t->data, tensors[i].data, t->nbytes);
        CHECK(ok, "tensor %s (%s, %u dims) round-trips", tensors[i].name,
              gguf_type_name(tensors[i].type), tensors[i].n_dims);
    }
    CHECK(gguf_find_tensor(f, "t.q8_0")->nbytes == 4 * 34, "Q8_0 size: 34 bytes per 32 elements");
    CHECK(gguf_find_tensor(f, "t.f32")->ne[3] == 1, "unused dims read as 1");
    CHECK(!gguf_find_tensor(f, "t.none") && !gguf_find_kv(f, "t.f32"), "absent lookups give NULL");
}

/* An independent reader (gguf-py layout) must agree with ours. */
static const char *py_reader =
    "import struct, sys, numpy as np\n"
    "b = open(sys.argv[1], 'rb').read(); o = 0\n"
    "def rd(fmt):\n"
    "    global o; v = struct.unpack_from('<' + fmt, b, o); o += struct.calcsize('<' + fmt); return v[0]\n"
    "def rs():\n"
    "    global o; n = rd('Q'); s = b[o:o+n].decode('utf-8'); o += n; return s\n"
    "F = {0:'B',1:'b',2:'H',3:'h',4:'I',5:'i',6:'f',7:'?',10:'Q',11:'q',12:'d'}\n"
    "def val(t):\n"
    "    if t == 8: return rs()\n"
    "    if t == 9:\n"
    "        et = rd('I'); n = rd('Q'); return [val(et) for _ in range(n)]\n"
    "    return rd(F[t])\n"
    "assert b[:4] == b'GGUF' and rd('4s') and rd('I') == 3\n"
    "nt = rd('Q'); nkv = rd('Q'); kv = {}\n"
    "for _ in range(nkv):\n"
    "    k = rs(); kv[k] = val(rd('I'))\n"
    "al = kv.get('general.alignment', 32); ti = []\n"
    "for _ in range(nt):\n"
    "    name = rs(); nd = rd('I'); ne = [rd('Q') for _ in range(nd)]; ti.append((name, ne, rd('I'), rd('Q')))\n"
    "base = (o + al - 1) // al * al\n"
    "assert kv['v.u8'] == 200 and kv['v.i16'] == -30000 and kv['v.u64'] == 0x8000000000000005\n"
    "assert kv['v.str'] == 'hello 世界' and kv['a.str'] == ['alpha', '', 'naïve 日本語 ☃', 'x y\\tz']\n"
    "assert kv['v.bool'] is True and kv['a.u64'] == [1, 2**64 - 1] and kv['v.last'] == 2 and al == 64\n"
    "assert np.allclose(kv['a.f32'], [1.5, -2.25, 0, 1e-30, 3e38], rtol=1e-6)\n"
    "d = {n: (ne, t, off) for n, ne, t, off in ti}\n"
    "ne, t, off = d['t.f32']; x = np.frombuffer(b, np.float32, 5, base + off)\n"
    "assert t == 0 and list(x) == [1, 2, 3, 4, 5]\n"
    "ne, t, off = d['t.f16']; x = np.frombuffer(b, np.float16, 6, base + off)\n"
    "assert ne == [3, 2] and list(x[:3]) == [1, 2, -2]\n"
    "ne, t, off = d['t.bf16']; x = np.frombuffer(b, np.uint16, 12, base + off).astype(np.uint32) << 16\n"
    "assert ne == [2, 3, 1, 2] and list(x.view(np.float32)[:3]) == [1, 2, 3]\n"
    "ne, t, off = d['t.q8_0']; assert t == 8 and ne == [64, 2, 1] and off % 64 == 0\n"
    "assert b[base + off + 5] == 35\n"
    "print('python reader OK')\n";

static void check_python(const char *gguf_path) {
    const char *script = scratch_path("reader.py");
    char cmd[1024];
    FILE *fp;
    if (access("/usr/bin/python3", X_OK) || system("/usr/bin/python3 -c 'import numpy' 2>/dev/null")) {
        SKIP("independent Python reader: /usr/bin/python3 with numpy is missing");
        return;
    }
    fp = fopen(script, "w");
    if (fp) { fputs(py_reader, fp); fclose(fp); }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s >/dev/null", script, gguf_path);
    int ok = fp && system(cmd) == 0;
    CHECK(ok, "an independent Python reader (gguf-py layout) agrees");
}

static void test_roundtrip(void) {
    const char *path = scratch_path("full.gguf");
    sail_error err = {0};
    sail_status st = write_full(path, &err);
    CHECK(st == SAIL_OK, "writer writes every value and tensor type (%s)", err.msg);
    CHECK(access(scratch_path("full.gguf.tmp"), F_OK) != 0, "no temporary file left behind");
    gguf_file *f = gguf_open(path, &err);
    CHECK(f != NULL, "reader opens the written file (%s)", f ? "" : err.msg);
    if (!f) return;
    CHECK(f->version == 3 && f->n_kv == 25 && f->mapped, "version 3, 25 keys, mapped");
    check_scalars(f);
    check_arrays(f);
    check_tensors(f);
    gguf_close(f);
    check_python(path);
}

/* ------------------------------------------------------ writer errors -- */

static void test_writer_errors(void) {
    sail_error err = {0};
    uint64_t ne5[5] = {1, 1, 1, 1, 1}, ne33 = 33;
    float x[33] = {0};
    gguf_writer *w = gguf_writer_new();
    sail_status st = gguf_add_tensor(w, "bad", GGUF_T_F32, 5, ne5, x);
    CHECK(st == SAIL_ERR_INVALID_ARG, "writer refuses n_dims 5");
    st = gguf_writer_write(w, scratch_path("bad.gguf"), &err);
    CHECK(st && strstr(err.msg, "n_dims") && access(scratch_path("bad.gguf"), F_OK) != 0,
          "write reports the earlier failure, writes nothing (%s)", err.msg);
    gguf_writer_free(w);

    w = gguf_writer_new();
    int ok = gguf_add_tensor(w, "q", GGUF_T_Q8_0, 1, &ne33, x) && gguf_add_tensor(w, "u", 2, 1, &ne33, x) &&
             gguf_set_u32(w, "general.alignment", 48) && gguf_set_u32(w, "", 1) &&
             gguf_set_i32(w, "general.alignment", 32) && gguf_set_u32(w, "bad\xff", 1);
    CHECK(ok, "writer refuses Q8_0 ne0=33, type 2, alignment 48 and i32, an empty or non-UTF-8 key");
    ok = !gguf_add_tensor(w, "a", GGUF_T_F32, 1, &ne33, x) && gguf_add_tensor(w, "a", GGUF_T_F32, 1, &ne33, x);
    CHECK(ok, "writer refuses a duplicate tensor name");
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_add_tensor(w, "a", GGUF_T_F32, 1, &ne33, x);
    st = gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err);
    CHECK(st == SAIL_ERR_IO && strstr(err.msg, "/nonexistent-dir/x.gguf.tmp") && strstr(err.msg, "No such file"),
          "unwritable path gives a clear I/O error (%s)", err.msg);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

/* ---------------------------------------------------- hostile files -- */

/* The small victim: a few keys incl. a string array, 3 tensors. */
static uint8_t *write_small(size_t *n) {
    static const char *const vocab[] = {"[PAD]", "", "中"};
    static float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static uint16_t h[3] = {1, 2, 3};
    static uint8_t q[34 * 2];
    uint64_t ne_a[2] = {4, 2}, ne_h = 3, ne_q[2] = {32, 2};
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.name", "tiny");
    gguf_set_u32(w, "tiny.dim", 8);
    gguf_set_str_array(w, "tokenizer.vocab", vocab, 3);
    gguf_set_bool(w, "tiny.flag", 1);
    gguf_add_tensor(w, "a", GGUF_T_F32, 2, ne_a, a);
    gguf_add_tensor(w, "h", GGUF_T_F16, 1, &ne_h, h);
    gguf_add_tensor(w, "q", GGUF_T_Q8_0, 2, ne_q, q);
    sail_status st = gguf_writer_write(w, scratch_path("small.gguf"), NULL);
    gguf_writer_free(w);
    return st ? NULL : slurp(scratch_path("small.gguf"), n);
}

static void test_truncation(const uint8_t *file, size_t size) {
    size_t bad = SIZE_MAX;
    char msg[512] = "";
    for (size_t n = 0; n < size && bad == SIZE_MAX; n++) {
        /* an exact-size copy, so ASan sees any read past the end */
        uint8_t *cut = malloc(n ? n : 1);
        sail_error err = {0};
        memcpy(cut, file, n);
        gguf_file *f = gguf_open_mem(cut, n, &err);
        if (f || !strstr(err.msg, "truncated")) {
            bad = n;
            snprintf(msg, sizeof msg, "%s", f ? "parsed" : err.msg);
        }
        gguf_close(f);
        free(cut);
    }
    if (bad == SIZE_MAX) snprintf(msg, sizeof msg, "none");
    CHECK(bad == SIZE_MAX, "every truncation 0..%zu is refused as truncated (first failure: %zu bytes: %s)",
          size - 1, bad == SIZE_MAX ? 0 : bad, msg);
    sail_error err = {0};
    FILE *fp = fopen(scratch_path("cut.gguf"), "wb");
    if (fp) { fwrite(file, 1, size - 3, fp); fclose(fp); }
    gguf_file *f = gguf_open(scratch_path("cut.gguf"), &err);
    CHECK(!f && strstr(err.msg, "cut.gguf") && strstr(err.msg, "truncated"),
          "a truncated file on disk: message names the file (%s)", err.msg);
    gguf_close(f);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A parsed file must be self-consistent: everything it points at lies in
 * the buffer. */
static int consistent(const gguf_file *f, const uint8_t *buf, size_t n) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const uint8_t *p = t->data;
        if (p < buf + f->data_offset || t->nbytes > n || p + t->nbytes > buf + n) return 0;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if ((const uint8_t *)kv->key.ptr < buf || (const uint8_t *)kv->key.ptr + kv->key.len > buf + n) return 0;
        if (kv->type == GGUF_VT_ARRAY && kv->v.arr.type == GGUF_VT_STRING)
            for (uint64_t j = 0; j < kv->v.arr.n; j++)
                if ((const uint8_t *)kv->v.arr.strs[j].ptr + kv->v.arr.strs[j].len > buf + n) return 0;
    }
    return 1;
}

static void test_flips(const uint8_t *file, size_t size) {
    int parsed = 0, refused = 0, bad = -1;
    uint8_t *buf = malloc(size);
    for (int it = 0; it < 1000; it++) {
        memcpy(buf, file, size);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) buf[rng() % size] ^= (uint8_t)(1 + rng() % 255);
        sail_error err = {0};
        gguf_file *f = gguf_open_mem(buf, size, &err);
        if (f) {
            parsed++;
            if (!consistent(f, buf, size) && bad < 0) bad = it;
        } else if (err.msg[0] && err.status != SAIL_OK) {
            refused++;
        } else if (bad < 0) {
            bad = it;
        }
        gguf_close(f);
    }
    free(buf);
    CHECK(bad < 0, "1000 random byte flips: %d parsed consistently, %d refused with a message "
          "(first bad iteration: %d)", parsed, refused, bad);
}

/* Patch a copy of the victim at off with a little-endian value. */
static void expect_patch(const uint8_t *file, size_t size, size_t off, uint64_t v, unsigned width,
                         const char *word, const char *label) {
    uint8_t *buf = malloc(size);
    memcpy(buf, file, size);
    for (unsigned i = 0; i < width; i++) buf[off + i] = (uint8_t)(v >> (8 * i));
    expect_fail(buf, size, word, label);
    free(buf);
}

/* A hand-made file for the rules the writer would never break. */
typedef struct raw { uint8_t b[8192]; size_t n; } raw;
static void r_le(raw *r, uint64_t v, unsigned w) { for (unsigned i = 0; i < w; i++) r->b[r->n++] = (uint8_t)(v >> 8 * i); }
static void r_str(raw *r, const char *s) { r_le(r, strlen(s), 8); memcpy(r->b + r->n, s, strlen(s)); r->n += strlen(s); }
static void r_header(raw *r, uint64_t n_t, uint64_t n_kv) { r->n = 0; memcpy(r->b, "GGUF", 4); r->n = 4; r_le(r, 3, 4); r_le(r, n_t, 8); r_le(r, n_kv, 8); }
static void r_pad(raw *r, size_t a, size_t extra) { while (r->n % a) r->b[r->n++] = 0; memset(r->b + r->n, 0, extra); r->n += extra; }

typedef struct tspec { const char *name; uint32_t n_dims; uint64_t ne[5]; uint32_t type; uint64_t offset; } tspec;

/* Header, keys (u32 value 1 each; alignment as given unless < 0), tensor
 * infos, padding and data_bytes of zeros. */
static void craft(raw *r, const char *const *keys, int n_keys, int64_t align, const tspec *t, int nt,
                  size_t data_bytes) {
    r_header(r, (uint64_t)nt, (uint64_t)(n_keys + (align >= 0)));
    for (int i = 0; i < n_keys; i++) { r_str(r, keys[i]); r_le(r, GGUF_VT_U32, 4); r_le(r, 1, 4); }
    if (align >= 0) { r_str(r, "general.alignment"); r_le(r, GGUF_VT_U32, 4); r_le(r, (uint64_t)align, 4); }
    for (int i = 0; i < nt; i++) {
        r_str(r, t[i].name);
        r_le(r, t[i].n_dims, 4);
        for (uint32_t d = 0; d < t[i].n_dims && d < 5; d++) r_le(r, t[i].ne[d], 8);
        r_le(r, t[i].type, 4);
        r_le(r, t[i].offset, 8);
    }
    r_pad(r, align > 0 && align <= 4096 && !(align & (align - 1)) ? (size_t)align : 32, data_bytes);
}

static void test_crafted(void) {
    static raw r;
    const char *k1[] = {"a", "b"}, *kdup[] = {"a", "b", "a"};
    tspec one = {"w", 1, {16}, GGUF_T_F32, 0};
    craft(&r, k1, 2, -1, &one, 1, 64);
    { sail_error err = {0}; gguf_file *f = gguf_open_mem(r.b, r.n, &err);
      CHECK(f && f->n_tensors == 1 && f->alignment == 32, "the crafted baseline parses (%s)", err.msg); gguf_close(f); }
    tspec nd0 = {"w", 0, {16}, GGUF_T_F32, 0}, nd5 = {"w", 5, {1, 1, 1, 1, 1}, GGUF_T_F32, 0};
    craft(&r, k1, 2, -1, &nd0, 1, 64); expect_fail(r.b, r.n, "n_dims = 0", "n_dims 0");
    craft(&r, k1, 2, -1, &nd5, 1, 64); expect_fail(r.b, r.n, "n_dims = 5", "n_dims 5");
    tspec ne0 = {"w", 2, {16, 0}, GGUF_T_F32, 0};
    craft(&r, k1, 2, -1, &ne0, 1, 64); expect_fail(r.b, r.n, "ne[1] = 0", "a zero dimension");
    tspec huge = {"w", 4, {1ull << 32, 1ull << 32, 2, 1}, GGUF_T_F32, 0};
    craft(&r, k1, 2, -1, &huge, 1, 64); expect_fail(r.b, r.n, "overflow", "element count overflow");
    craft(&r, k1, 2, -1, &one, 1, 32); expect_fail(r.b, r.n, "past the end", "tensor data past the end");
    tspec far = {"w", 1, {16}, GGUF_T_F32, 1ull << 62};
    craft(&r, k1, 2, -1, &far, 1, 64); expect_fail(r.b, r.n, "past the end", "offset 2^62");
    tspec ov[2] = {{"w", 1, {16}, GGUF_T_F32, 0}, {"v", 1, {16}, GGUF_T_F32, 32}};
    craft(&r, k1, 2, -1, ov, 2, 128); expect_fail(r.b, r.n, "overlap", "overlapping tensors");
    tspec mis = {"w", 1, {16}, GGUF_T_F32, 4};
    craft(&r, k1, 2, -1, &mis, 1, 128); expect_fail(r.b, r.n, "not a multiple of the alignment", "misaligned offset");
    tspec unk = {"w", 1, {16}, 2, 0};
    craft(&r, k1, 2, -1, &unk, 1, 64); expect_fail(r.b, r.n, "unknown tensor type 2", "unknown tensor type");
    tspec q33 = {"w", 1, {33}, GGUF_T_Q8_0, 0};
    craft(&r, k1, 2, -1, &q33, 1, 64); expect_fail(r.b, r.n, "multiple of the block size 32", "Q8_0 ne[0] = 33");
    craft(&r, kdup, 3, -1, &one, 1, 64); expect_fail(r.b, r.n, "duplicate key 'a'", "duplicate key");
    tspec dup[2] = {{"w", 1, {16}, GGUF_T_F32, 0}, {"w", 1, {16}, GGUF_T_F32, 64}};
    craft(&r, k1, 2, -1, dup, 2, 128); expect_fail(r.b, r.n, "duplicate tensor name 'w'", "duplicate tensor name");
    craft(&r, k1, 2, 3, &one, 1, 64); expect_fail(r.b, r.n, "alignment is 3", "alignment 3");
    craft(&r, k1, 2, 0, &one, 1, 64); expect_fail(r.b, r.n, "alignment is 0", "alignment 0");
    craft(&r, k1, 2, 1 << 21, &one, 1, 64); expect_fail(r.b, r.n, "power of two", "alignment 2 MiB");
    craft(&r, k1, 2, 1, &one, 1, 64);
    { gguf_file *f = gguf_open_mem(r.b, r.n, NULL); CHECK(f && f->alignment == 1, "alignment 1 is valid"); gguf_close(f); }
    const char *bad_utf8[] = {"a", "\xC0\xAF"};
    craft(&r, bad_utf8, 2, -1, &one, 1, 64); expect_fail(r.b, r.n, "UTF-8", "overlong UTF-8 key");
    tspec empty_name = {"", 1, {16}, GGUF_T_F32, 0};
    craft(&r, k1, 2, -1, &empty_name, 1, 64); expect_fail(r.b, r.n, "is empty", "empty tensor name");

    /* value-level rules, one key each, no tensors */
    r_header(&r, 0, 1); r_str(&r, "b"); r_le(&r, GGUF_VT_BOOL, 4); r_le(&r, 2, 1); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "not 0 or 1", "bool value 2");
    r_header(&r, 0, 1); r_str(&r, "b"); r_le(&r, GGUF_VT_ARRAY, 4); r_le(&r, GGUF_VT_BOOL, 4); r_le(&r, 2, 8); r_le(&r, 0x0301, 2); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "not 0 or 1", "bool array element 3");
    r_header(&r, 0, 1); r_str(&r, "n"); r_le(&r, GGUF_VT_ARRAY, 4); r_le(&r, GGUF_VT_ARRAY, 4); r_le(&r, 0, 8); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "nested array", "nested array");
    r_header(&r, 0, 1); r_str(&r, "t"); r_le(&r, 13, 4); r_le(&r, 0, 8); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "unknown value type 13", "unknown value type");
    r_header(&r, 0, 1); r_str(&r, "s"); r_le(&r, GGUF_VT_ARRAY, 4); r_le(&r, GGUF_VT_STRING, 4); r_le(&r, 1ull << 60, 8); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "truncated", "string array of 2^60 elements");
    r_header(&r, 0, 1); r_str(&r, "s"); r_le(&r, GGUF_VT_ARRAY, 4); r_le(&r, GGUF_VT_U64, 4); r_le(&r, 1ull << 61, 8); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "truncated", "u64 array whose byte size overflows");
    r_header(&r, 0, 1); r_str(&r, "general.alignment"); r_le(&r, GGUF_VT_U64, 4); r_le(&r, 64, 8); r_pad(&r, 32, 0);
    expect_fail(r.b, r.n, "must be u32", "general.alignment of type u64");
    r_header(&r, 0, 0);
    expect_fail(r.b, r.n, "truncated", "no tensors, data section padding missing");
}

/* A key longer than 64 KiB that is really there: over the limit, not truncated. */
static void test_long_key(void) {
    size_t n = 24 + 8 + 70000 + 64;
    uint8_t *buf = calloc(1, n);
    memcpy(buf, "GGUF\3\0\0\0", 8);
    buf[16] = 1;                                   /* n_kv */
    buf[24] = 70000 & 0xFF;
    buf[25] = 70000 >> 8 & 0xFF;
    buf[26] = 70000 >> 16;
    memset(buf + 32, 'k', 70000);
    expect_fail(buf, n, "the limit is 65536", "a 70000-byte key");
    free(buf);
}

static void test_hostile(void) {
    size_t size = 0;
    uint8_t *file = write_small(&size);
    CHECK(file != NULL, "the small victim file is written (%zu bytes)", size);
    if (!file) return;
    { gguf_file *f = gguf_open_mem(file, size, NULL);
      CHECK(f && f->n_tensors == 3 && f->n_kv == 4, "the victim parses"); gguf_close(f); }
    test_truncation(file, size);
    test_flips(file, size);
    expect_patch(file, size, 0, 'G' | 'G' << 8 | 'U' << 16 | (uint64_t)'X' << 24, 4, "magic", "wrong magic");
    expect_patch(file, size, 4, 2, 4, "version 2 is not supported", "version 2");
    expect_patch(file, size, 4, 1, 4, "version 1", "version 1");
    expect_patch(file, size, 4, 0x03000000, 4, "big-endian", "big-endian file");
    expect_patch(file, size, 4, 4, 4, "version 4", "version 4");
    expect_patch(file, size, 8, 1ull << 63, 8, "9223372036854775808 tensors", "n_tensors 2^63");
    expect_patch(file, size, 16, 1ull << 63, 8, "key/value pairs", "n_kv 2^63");
    expect_patch(file, size, 24, 1ull << 62, 8, "truncated", "key length 2^62");
    expect_patch(file, size, 24, UINT64_MAX, 8, "truncated", "key length 2^64-1");
    expect_patch(file, size, 24, 0, 8, "empty", "empty key");
    expect_fail(NULL, 0, "truncated", "empty buffer");
    sail_error err = {0};
    gguf_file *f = gguf_open(scratch_path("missing.gguf"), &err);
    CHECK(!f && strstr(err.msg, "missing.gguf") && strstr(err.msg, "No such file"),
          "a missing file is named (%s)", err.msg);
    f = gguf_open(scratch_dir(), &err);
    CHECK(!f && strstr(err.msg, "not a regular file"), "a directory is refused");
    test_long_key();
    sail_free(file);
    test_crafted();
}

int main(void) {
    if (!scratch_make("sail-test-gguf")) return 1;
    test_roundtrip();
    test_writer_errors();
    test_hostile();
    scratch_remove();
    return test_done();
}
