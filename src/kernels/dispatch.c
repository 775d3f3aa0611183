/* dispatch.c: picks one kernel table at start-up from sail_cpu(), which
 * already applies the build flag SAIL_FORCE_REF and the environment variable
 * SAIL_ISA=ref|avx2|avx512|avx512vnni|avx512bf16|amx (core/cpu.c: the one rule
 * the resize and index dispatchers follow too). The AVX-512 tables are made
 * here once from sail_table_avx512 (ops_avx512.c), with their own
 * stored-weight GEMMs. */
#include "kernels_impl.h"
#include "cpu.h"

#include <pthread.h>

static const sail_kernel_table *g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static sail_kernel_table g_avx512, g_vnni, g_bf16, g_amx; /* made once by make_tables */
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

static void make_tables(void) {
    g_avx512 = sail_table_avx512; /* f16 / bf16 widened into the AVX-512 f32 GEMM */
    g_avx512.gemm_f16 = sail_gemm_f16_avx512;
    g_avx512.gemm_bf16 = sail_gemm_bf16_avx512;
    g_avx512.quantize_q8a = sail_quantize_q8a_avx512;
    g_vnni = g_avx512;
    g_vnni.name = "avx512vnni";
    g_vnni.gemm_q8_0 = sail_gemm_q8_0_vnni;
    g_vnni.q8_0_panels_size = sail_q8_0_panels_size_vnni;
    g_vnni.q8_0_pack = sail_q8_0_pack_vnni;
    g_vnni.gemm_q8_0_q8a = sail_gemm_q8_0_q8a_vnni;
    g_bf16 = g_vnni;
    g_bf16.name = "avx512bf16";
    g_bf16.gemm_bf16 = sail_gemm_bf16_dp;
    g_bf16.bf16_rounds_a = 1;
    g_bf16.round_bf16 = sail_round_bf16_avx512bf16;
    g_bf16.bf16_panels_size = sail_bf16_panels_size_dp;
    g_bf16.bf16_pack = sail_bf16_pack_dp;
    g_bf16.gemm_bf16_packed = sail_gemm_bf16_packed_dp;
    g_bf16.gemm_wide_bf16 = sail_gemm_wide_bf16_dp;
    g_bf16.wide_bf16_out_max_k = SAIL_BF16_DP_OUT_MAX_K;
    g_bf16.layernorm_bf16 = sail_layernorm_bf16_avx512bf16;
    g_bf16.attn_pack_kv = sail_attn_pack_kv_bf16;
    g_bf16.attn_block_bf16 = sail_attn_block_bf16;
    g_amx = g_bf16;
    g_amx.name = "amx";
    g_amx.gemm_q8_0 = sail_gemm_q8_0_amx;
    g_amx.q8_0_panels_size = sail_q8_0_panels_size_amx;
    g_amx.q8_0_pack = sail_q8_0_pack_amx;
    g_amx.gemm_q8_0_wide = sail_gemm_q8_0_wide_amx;
    g_amx.gemm_q8_0_q8a = NULL; /* its q8_0 nest is another (its gemm_q8_0 above) */
    g_amx.bf16_panels_size = sail_bf16_panels_size_amx;
    g_amx.bf16_pack = sail_bf16_pack_amx;
    g_amx.gemm_bf16_packed = sail_gemm_bf16_packed_amx;
    g_amx.gemm_wide_bf16 = sail_gemm_wide_bf16_amx;
    g_amx.wide_bf16_out_max_k = SAIL_BF16_OUT_MAX_K;
    g_amx.gemm_bf16 = sail_gemm_bf16_amx;
    g_amx.attn_block_bf16 = sail_attn_block_bf16_amx;
}

static int cpu_has(sail_isa isa) {
    const sail_cpu_features *f = sail_cpu();
    switch (isa) {
    case SAIL_ISA_REF: return 1;
    case SAIL_ISA_AVX2: return f->avx2 && f->fma && f->f16c;
    case SAIL_ISA_AVX512:
        return f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->fma &&
               f->f16c && f->avx2; /* its table also uses the AVX2 quantized GEMMs */
    case SAIL_ISA_AVX512_VNNI: return cpu_has(SAIL_ISA_AVX512) && f->avx512_vnni;
    case SAIL_ISA_AVX512_BF16: return cpu_has(SAIL_ISA_AVX512_VNNI) && f->avx512_bf16;
    case SAIL_ISA_AMX: return cpu_has(SAIL_ISA_AVX512_BF16) && f->amx_int8;
    }
    return 0;
}

const sail_kernel_table *sail_kernels_for(sail_isa isa) {
    if (!cpu_has(isa)) return NULL;
    switch (isa) {
    case SAIL_ISA_REF: return &sail_table_ref;
    case SAIL_ISA_AVX2: return &sail_table_avx2;
    case SAIL_ISA_AVX512: pthread_once(&g_tables_once, make_tables); return &g_avx512;
    case SAIL_ISA_AVX512_VNNI: pthread_once(&g_tables_once, make_tables); return &g_vnni;
    case SAIL_ISA_AVX512_BF16: pthread_once(&g_tables_once, make_tables); return &g_bf16;
    case SAIL_ISA_AMX: pthread_once(&g_tables_once, make_tables); return &g_amx;
    }
    return NULL;
}

/* The best level sail_cpu() allows. */
static void choose(void) {
    for (int isa = SAIL_ISA_MAX; isa >= SAIL_ISA_REF; isa--) {
        g_active = sail_kernels_for((sail_isa)isa);
        if (g_active) return;
    }
}

const sail_kernel_table *sail_kernels(void) {
    pthread_once(&g_once, choose);
    return g_active;
}

const char *sail_kernel_level(void) { return sail_kernels()->name; }

void sail_gemm_tile(const sail_kernel_table *t, int *mr, int *nr) {
    if (t->gemm == sail_gemm_avx512) { *mr = 14; *nr = 32; }
    else if (t == &sail_table_avx2) { *mr = 6; *nr = 16; }
    else { *mr = 4; *nr = 16; }
}

int sail_attn_row_tile(const sail_kernel_table *t, const sail_attn_args *a) {
    int mr, nr;
    if (a->bf16 && t->attn_block_bf16 == sail_attn_block_bf16_amx) return SAIL_BF16_AMX_MR;
    sail_gemm_tile(t, &mr, &nr);
    return mr;
}

/* min_tn of the AVX-512 q8_0 and bf16 nests: tasks narrower than their
 * slice of W ran slower side by side than the same work cut along M
 * (bench_threads, CLIP batch 8 out-projection and fc2, Zen 5: q8_0
 * 1.3-1.6x against 1.6-1.9x for 2 threads over one, bf16 1.3-1.6x against
 * 1.4-1.95x), though alone each ran as fast. */
void sail_gemm_w_tile(const sail_kernel_table *t, sail_wtype type, int M, int *mr, int *nr, int *min_tn,
                      int *tiles) {
    int simd = t != &sail_table_ref;
    int wide = sail_gemm_w_wide(t, type, M);
    int q8_vnni = !wide && type == SAIL_WT_Q8_0 && t->gemm_q8_0 == sail_gemm_q8_0_vnni;
    int q8_amx = !wide && type == SAIL_WT_Q8_0 && t->gemm_q8_0 == sail_gemm_q8_0_amx;
    int bf16_dp = type == SAIL_WT_BF16 && t->gemm_bf16 == sail_gemm_bf16_dp;
    int bf16_amx = wide || (type == SAIL_WT_BF16 && t->gemm_bf16 == sail_gemm_bf16_amx);
    *min_tn = q8_vnni || q8_amx || bf16_dp || bf16_amx ? SAIL_W_SLICE_NC : 0;
    *tiles = bf16_amx;
    if (q8_vnni) { *mr = 6; *nr = 32; }
    else if (q8_amx) { *mr = 16; *nr = 16; }
    else if (bf16_dp) { *mr = 14; *nr = 32; }
    else if (bf16_amx) { *mr = 32; *nr = 32; }
    else if (type != SAIL_WT_Q8_0 && t->gemm_f16 == sail_gemm_f16_avx512) { *mr = 14; *nr = 32; }
    else if (type == SAIL_WT_Q8_0) { *mr = simd ? 3 : 4; *nr = simd ? 16 : 4; } /* gemm_quant_avx2.c */
    else { *mr = simd ? 6 : 4; *nr = 16; }
}
