/* test_attn_bf16.c: attention with bf16 products (sail_attn_args.bf16):
 * the plain C reference sail_attn_block_bf16_ref, the avx512bf16 and amx
 * levels' attn_pack_kv + attn_block_bf16 (skipped with "no avx512_bf16",
 * "no amx_int8" where the CPU lacks them) and sail_attention on 1-3 threads, at awkward shapes (odd
 * head widths and key counts, masks, causal, rows with no key, blocks of 7
 * rows, and an AST-sized 1214 keys).
 *
 * The oracle, in double: qr = bf16(q * scale) (the same f32 product and
 * rounding), k and v rounded, s = qr . k, e = exp(s - max s), each e
 * rounded to bf16 (r), out = sum r v / sum r. The kernels compute s and e
 * in f32, so an e within 1e-5 of a rounding boundary may round either way:
 * both are allowed (out lies in [lo, hi] over those choices, for the sum
 * and the divisor apart). Past that, only the order of f32 sums differs:
 * |err| <= 1e-5 (sum |r v| / sum r + 1e-2). Unrounded f32 attention
 * is about 1e-3 away and must fail this (checked), as must kernels whose
 * packed k and v have one value changed. On a level without bf16 products,
 * sail_attention with bf16 set is the f32 attention (checked against it). */
#include "test.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

static unsigned long long g_rng = 0x2545F4914F6CDD1Dull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

typedef struct acase {
    sail_attn_args a;
    float *q, *k, *v, *out;
    uint8_t *mask;
} acase;

/* Batch 1's keys are all masked when masked (its rows must come out zero).
 * q and k are uniform in +-mag: at 25 the scores of a row span hundreds,
 * so its exponentials reach underflow. */
static void case_init(acase *c, int B, int Tq, int Tk, int H, int hd, int causal, int masked, float mag) {
    int w = H * hd;
    sail_attn_args a = {.B = B, .Tq = Tq, .Tk = Tk, .H = H, .hd = hd, .q_stride = w + 3, .k_stride = w + 5,
                        .v_stride = w + 1, .out_stride = w + 2, .causal = causal,
                        .scale = 1.0f / sqrtf((float)hd), .bf16 = 1};
    size_t nq = (size_t)B * Tq * a.q_stride, nk = (size_t)B * Tk * a.k_stride;
    size_t nv = (size_t)B * Tk * a.v_stride, no = (size_t)B * Tq * a.out_stride;
    c->q = malloc(nq * 4); c->k = malloc(nk * 4); c->v = malloc(nv * 4); c->out = malloc(no * 4);
    for (size_t i = 0; i < nq; i++) c->q[i] = mag * frand();
    for (size_t i = 0; i < nk; i++) c->k[i] = mag * frand();
    for (size_t i = 0; i < nv; i++) c->v[i] = frand();
    c->mask = NULL;
    if (masked) {
        c->mask = malloc((size_t)B * Tk);
        for (int i = 0; i < B * Tk; i++) c->mask[i] = i >= Tk ? 0 : frand() > -0.4f;
    }
    a.q = c->q; a.k = c->k; a.v = c->v; a.out = c->out; a.key_mask = c->mask;
    c->a = a;
}

static void case_free(acase *c) { free(c->q); free(c->k); free(c->v); free(c->out); free(c->mask); }

typedef struct cmp { double max_err; int n_bad, quiet; } cmp;

static void cmp_one(cmp *cm, const char *ctx, int t, int i, double got, double lo, double hi, double tol) {
    double e = got < lo ? lo - got : got > hi ? got - hi : 0.0;
    if (isnan(got)) e = INFINITY;
    if (e > cm->max_err) cm->max_err = e;
    if (e > tol && cm->n_bad++ < 3 && !cm->quiet)
        printf("#   %s: row %d dim %d got %.9g want [%.9g, %.9g]\n", ctx, t, i, got, lo, hi);
}

/* out against the double oracle with rounded operands (bf16 = 1) or the
 * plain f32 one (bf16 = 0, |err| <= 1e-5 as test_kernels.c asks). */
static void compare(cmp *cm, const acase *c, int bf16, const char *ctx) {
    const sail_attn_args *a = &c->a;
    double *s = malloc((size_t)a->Tk * sizeof(double)), *qr = malloc((size_t)a->hd * sizeof(double));
    double *plo = malloc((size_t)a->Tk * sizeof(double)), *phi = malloc((size_t)a->Tk * sizeof(double));
#define R(x) (bf16 ? (double)sail_bf16_dp_value(x) : (double)(x))
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int t = 0; t < a->Tq; t++) {
                const float *q = a->q + ((size_t)b * a->Tq + t) * a->q_stride + h * a->hd;
                for (int i = 0; i < a->hd; i++) qr[i] = bf16 ? R(q[i] * a->scale) : q[i];
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < a->Tk; j++) {
                    int ok = (!a->key_mask || a->key_mask[b * a->Tk + j]) && (!a->causal || j <= t);
                    const float *k = a->k + ((size_t)b * a->Tk + j) * a->k_stride + h * a->hd;
                    double d = 0;
                    for (int i = 0; i < a->hd; i++) d += qr[i] * R(k[i]);
                    s[j] = ok ? (bf16 ? d : d * a->scale) : -INFINITY;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < a->Tk; j++) sum += s[j] = mx == -INFINITY ? 0 : exp(s[j] - mx);
                /* bf16: each e rounded either way within 1e-5 of its boundary, the
                 * rounded ones summed (dlo, dhi over the choices) */
                double dlo = 0, dhi = 0;
                for (int j = 0; j < a->Tk; j++) {
                    double p = bf16 ? s[j] : sum ? s[j] / sum : 0;
                    plo[j] = bf16 ? R((float)(p * (1 - 1e-5))) : p;
                    phi[j] = bf16 ? R((float)(p * (1 + 1e-5))) : p;
                    dlo += plo[j];
                    dhi += phi[j];
                }
                if (!bf16 || dlo == 0) dlo = dhi = 1; /* f32: p normalised; no key: zeros */
                const float *o = a->out + ((size_t)b * a->Tq + t) * a->out_stride + h * a->hd;
                for (int i = 0; i < a->hd; i++) {
                    double lo = 0, hi = 0, mag = 0;
                    for (int j = 0; j < a->Tk; j++) {
                        double v = R(a->v[((size_t)b * a->Tk + j) * a->v_stride + h * a->hd + i]);
                        lo += fmin(plo[j] * v, phi[j] * v);
                        hi += fmax(plo[j] * v, phi[j] * v);
                        mag += fabs(phi[j] * v);
                    }
                    /* out = sum / the rounded ones' sum: the extremes over both ranges */
                    cmp_one(cm, ctx, t, i, o[i], fmin(lo / dlo, lo / dhi), fmax(hi / dlo, hi / dhi),
                            bf16 ? 1e-5 * (mag / dlo + 1e-2) : 1e-5);
                }
            }
#undef R
    free(s); free(qr); free(plo); free(phi);
}

static const int CASES[][8] = { /* B, Tq, Tk, H, hd, causal, masked, 10 max |q|, |k| */
    {2, 37, 37, 3, 17, 0, 1, 25}, {2, 37, 37, 3, 17, 1, 1, 25}, {1, 5, 33, 2, 64, 0, 0, 25},
    {3, 1, 1, 1, 1, 0, 0, 25},    {2, 16, 16, 2, 64, 1, 0, 25}, {1, 65, 65, 1, 33, 0, 1, 25},
    {2, 197, 197, 2, 64, 0, 0, 25}, {1, 15, 400, 1, 16, 0, 1, 25}, {2, 127, 127, 1, 7, 1, 1, 25},
    {1, 77, 77, 2, 64, 1, 1, 25}, {1, 31, 63, 2, 3, 0, 1, 25}, {1, 50, 1214, 1, 64, 0, 0, 25},
    {2, 41, 97, 2, 64, 0, 1, 250}};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static float *scratch_for(const sail_attn_args *a, int n) {
    return malloc(sail_attention_scratch(n, a) * sizeof(float));
}

/* The reference, or a table's pack + block, head by head in blocks of 7
 * rows; corrupt: change one packed value of V first. */
static void run_blocks(const sail_kernel_table *t, const acase *c, int corrupt) {
    const sail_attn_args *a = &c->a;
    float *scratch = scratch_for(a, 1); /* sized for the active level's blocks, its kv unused */
    size_t kvb = sail_attn_kv_bytes(a->Tk, a->hd);
    uint8_t *kv = malloc(kvb);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            if (t) {
                t->attn_pack_kv(a, b, h, kv);
                if (corrupt) kv[kvb - 64 * sail_attn_pairs(a->Tk) + 1] ^= 0x40; /* a V value, first key pair */
            }
            if (t) t->attn_block_bf16(a, b, h, 0, a->Tq, 7, kv, scratch); /* in blocks of 7 */
            else
                for (int t0 = 0; t0 < a->Tq; t0 += 7)
                    sail_attn_block_bf16_ref(a, b, h, t0, t0 + 7 < a->Tq ? t0 + 7 : a->Tq, scratch);
        }
    free(kv);
    free(scratch);
}

static void test_ref(void) {
    cmp cm = {0};
    for (int i = 0; i < N_CASES; i++) {
        const int *s = CASES[i];
        if (s[2] > 500) continue; /* the reference rounds every k per query: slow at 1214 keys */
        acase c;
        case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] / 10.0f);
        run_blocks(NULL, &c, 0);
        char ctx[48];
        snprintf(ctx, sizeof ctx, "ref case %d", i);
        compare(&cm, &c, 1, ctx);
        case_free(&c);
    }
    CHECK(!cm.n_bad, "sail_attn_block_bf16_ref vs the rounded double oracle (max err %.2g)", cm.max_err);
}

static void test_level(const sail_kernel_table *t) {
    cmp cm = {0}, broken = {.quiet = 1};
    for (int i = 0; i < N_CASES; i++) {
        const int *s = CASES[i];
        acase c;
        case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] / 10.0f);
        run_blocks(t, &c, 0);
        char ctx[48];
        snprintf(ctx, sizeof ctx, "%s case %d", t->name, i);
        compare(&cm, &c, 1, ctx);
        if (i == 6) { /* ViT-S's shape: a changed V value and unrounded products must both fail */
            run_blocks(t, &c, 1);
            compare(&broken, &c, 1, ctx);
            CHECK(broken.n_bad > 0, "the oracle catches one changed value in the packed V (%d mismatches)",
                  broken.n_bad);
            broken.n_bad = 0;
            sail_attn_args f32 = c.a;
            f32.bf16 = 0;
            float *scratch = scratch_for(&f32, 1);
            for (int b = 0; b < f32.B; b++)
                for (int h = 0; h < f32.H; h++)
                    for (int t0 = 0; t0 < f32.Tq; t0 += 7)
                        t->attn_block(&f32, b, h, t0, t0 + 7 < f32.Tq ? t0 + 7 : f32.Tq, scratch);
            free(scratch);
            compare(&broken, &c, 1, ctx);
            CHECK(broken.n_bad > 0, "the oracle catches f32 products where bf16 ones were asked for (%d "
                  "mismatches)", broken.n_bad);
        }
        case_free(&c);
    }
    CHECK(!cm.n_bad, "attn_pack_kv + attn_block_bf16 (%s) vs the rounded double oracle, blocks of 7 rows "
          "(max err %.2g)", t->name, cm.max_err);
}

/* sail_attention with bf16 set, on the active level: bf16 products where
 * it has them, else the f32 attention. */
static void test_pool(int n) {
    const sail_kernel_table *t = sail_kernels();
    int bf16 = t->attn_pack_kv != NULL;
    sail_pool *pool = sail_pool_new(n);
    cmp cm = {0};
    for (int i = 0; i < N_CASES; i++) {
        const int *s = CASES[i];
        if (!bf16 && s[7] > 25) continue; /* scores in the hundreds: f32 sums round past the f32 check's 1e-5 */
        acase c;
        case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] / 10.0f);
        float *scratch = scratch_for(&c.a, n);
        sail_attention(pool, &c.a, scratch);
        free(scratch);
        char ctx[48];
        snprintf(ctx, sizeof ctx, "pool case %d", i);
        compare(&cm, &c, bf16, ctx);
        case_free(&c);
    }
    CHECK(!cm.n_bad, "sail_attention, bf16 asked, %d threads (%s): %s (max err %.2g)", n, t->name,
          bf16 ? "bf16 products" : "the f32 attention, this level has no bf16 products", cm.max_err);
    sail_pool_free(pool);
}

/* n values of x rounded to bf16 (the active level's round_bf16). */
static uint16_t *rounded(const float *x, size_t n) {
    uint16_t *b = malloc(n * sizeof(uint16_t));
    sail_kernels()->round_bf16(b, x, n);
    return b;
}

/* sail_attention from and to bf16 rows (qb, kb, vb, out_b) gives the bits
 * of the same call on floats (then the output rounded), on 1-3 threads;
 * bf16 inputs are taken only where the scale is a power of two (head
 * widths 1, 16, 64 here), the output at every width. */
static void test_bf16_io(int n) {
    sail_attn_args probe = {.B = 1, .Tq = 1, .Tk = 1, .H = 1, .hd = 1, .scale = 1.0f, .bf16 = 1};
    if (!sail_attention_bf16_ok(&probe, 0)) {
        SKIP("sail_attention in bf16: level %s has no bf16 products", sail_kernels()->name);
        return;
    }
    sail_pool *pool = sail_pool_new(n);
    int same = 1, ins = 0, ok_rule = 1;
    for (int i = 0; i < N_CASES; i++) {
        const int *s = CASES[i];
        acase c;
        case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] / 10.0f);
        sail_attn_args *a = &c.a;
        int in = sail_attention_bf16_ok(a, 1), hd = a->hd;
        ok_rule &= in == (hd == 1 || hd == 16 || hd == 64);
        float *scratch = scratch_for(a, n);
        sail_attention(pool, a, scratch);
        free(scratch);
        size_t nq = (size_t)a->B * a->Tq * a->q_stride, nk = (size_t)a->B * a->Tk * a->k_stride;
        size_t nv = (size_t)a->B * a->Tk * a->v_stride, no = (size_t)a->B * a->Tq * a->out_stride;
        uint16_t *want = rounded(c.out, no), *got = malloc(no * sizeof(uint16_t));
        uint16_t *qb = rounded(c.q, nq), *kb = rounded(c.k, nk), *vb = rounded(c.v, nv);
        memset(got, 0x5a, no * sizeof(uint16_t));
        sail_attn_args b = *a;
        b.out = NULL, b.out_b = got;
        if (in) b.q = b.k = b.v = NULL, b.qb = qb, b.kb = kb, b.vb = vb, ins++;
        scratch = scratch_for(&b, n);
        sail_attention(pool, &b, scratch);
        free(scratch);
        for (size_t r = 0; r < no / a->out_stride; r++)
            for (int col = 0; col < a->out_stride; col++) {
                size_t e = r * a->out_stride + col;
                uint16_t expect = col < a->H * hd ? want[e] : 0x5a5a; /* past the heads: untouched */
                if (got[e] != expect && same) {
                    printf("#   case %d (%d threads, inputs %s): row %zu col %d got %04x want %04x\n", i, n,
                           in ? "bf16" : "f32", r, col, got[e], expect);
                    same = 0;
                }
            }
        free(want); free(got); free(qb); free(kb); free(vb);
        case_free(&c);
    }
    CHECK(same && ok_rule && ins >= 5, "sail_attention from bf16 q, k, v (%d cases) and to a bf16 output: the "
          "bits of the float call, %d threads (%s), inputs taken only at power-of-two scales", ins, n,
          sail_kernels()->name);
    sail_pool_free(pool);
}

/* sail_attention into quantised rows (out_q) gives the blocks that the
 * level's quantize_q8a makes of the float call's output, on 1-3 threads,
 * where sail_attention_q8a_ok says (head widths a multiple of 32); the
 * blocks past the heads are untouched. */
static void test_q8a_out(int n) {
    sail_attn_args probe = {.B = 1, .Tq = 1, .Tk = 1, .H = 1, .hd = 32, .out_stride = 32, .scale = 1.0f, .bf16 = 1};
    if (!sail_attention_q8a_ok(&probe)) {
        SKIP("sail_attention to q8a blocks: level %s has no bf16 products", sail_kernels()->name);
        return;
    }
    sail_pool *pool = sail_pool_new(n);
    int same = 1, cases = 0, ok_rule = 1;
    for (int i = 0; i < N_CASES; i++) {
        const int *s = CASES[i];
        acase c;
        case_init(&c, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] / 10.0f);
        sail_attn_args a = c.a;
        int w = a.H * a.hd;
        a.out_stride = (w + 31) / 32 * 32 + 32;
        int ok = sail_attention_q8a_ok(&a);
        ok_rule &= ok == (a.hd % 32 == 0);
        if (!ok) {
            case_free(&c);
            continue;
        }
        size_t rows = (size_t)a.B * a.Tq, nb = (size_t)a.out_stride / 32, bytes = rows * nb * sizeof(sail_q8a);
        float *of = malloc(rows * a.out_stride * sizeof(float));
        sail_q8a *want = malloc(bytes), *got = malloc(bytes);
        a.out = of;
        float *scratch = scratch_for(&a, n);
        sail_attention(pool, &a, scratch);
        free(scratch);
        memset(want, 0x5a, bytes);
        memset(got, 0x5a, bytes);
        for (size_t r = 0; r < rows; r++) sail_kernels()->quantize_q8a(want + r * nb, of + r * a.out_stride, w);
        sail_attn_args b = a;
        b.out = NULL, b.out_q = got;
        scratch = scratch_for(&b, n);
        sail_attention(pool, &b, scratch);
        free(scratch);
        for (size_t r = 0; r < rows && same; r++)
            if (memcmp(got + r * nb, want + r * nb, nb * sizeof(sail_q8a))) {
                printf("#   case %d (%d threads): row %zu's blocks differ\n", i, n, r);
                same = 0;
            }
        cases++;
        free(of); free(want); free(got);
        case_free(&c);
    }
    CHECK(same && ok_rule && cases >= 5, "sail_attention to quantised rows (%d cases): the level's blocks of the "
          "float output, %d threads (%s), taken only at head widths a multiple of 32", cases, n,
          sail_kernels()->name);
    sail_pool_free(pool);
}

int main(void) {
    test_ref();
    const sail_kernel_table *t = sail_kernels_for(SAIL_ISA_AVX512_BF16);
    if (t) test_level(t);
    else SKIP("attn_block_bf16: no avx512_bf16 (or SAIL_ISA caps the level)");
    if ((t = sail_kernels_for(SAIL_ISA_AMX))) test_level(t);
    else SKIP("attn_block_bf16 on tiles: no amx_int8 (or Linux refused the tile state, or SAIL_ISA caps the "
              "level)");
    for (int n = 1; n <= 3; n++) test_pool(n);
    for (int n = 1; n <= 3; n++) test_bf16_io(n);
    for (int n = 1; n <= 3; n++) test_q8a_out(n);
    sail_kernels_release();
    return test_done();
}
