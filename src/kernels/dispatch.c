/* dispatch.c: picks one kernel table at start-up from CPUID, the build flag
 * SAIL_FORCE_REF and the environment variable SAIL_ISA=ref|avx2|avx512. */
#include "kernels_impl.h"
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const sail_kernel_table *g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int cpu_has(sail_isa isa) {
    const sail_cpu_features *f = sail_cpu();
    switch (isa) {
    case SAIL_ISA_REF: return 1;
    case SAIL_ISA_AVX2: return f->avx2 && f->fma && f->f16c;
    case SAIL_ISA_AVX512:
        return f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->fma &&
               f->f16c && f->avx2; /* its table also uses the AVX2 quantized GEMMs */
    }
    return 0;
}

const sail_kernel_table *sail_kernels_for(sail_isa isa) {
#ifdef SAIL_FORCE_REF
    if (isa != SAIL_ISA_REF) return NULL;
#endif
    if (!cpu_has(isa)) return NULL;
    switch (isa) {
    case SAIL_ISA_REF: return &sail_table_ref;
    case SAIL_ISA_AVX2: return &sail_table_avx2;
    case SAIL_ISA_AVX512: return &sail_table_avx512;
    }
    return NULL;
}

/* The best level the CPU has, capped by SAIL_ISA when that is set. */
static void choose(void) {
    sail_isa cap = SAIL_ISA_AVX512;
    const char *env = getenv("SAIL_ISA");
    if (env && !strcmp(env, "ref")) cap = SAIL_ISA_REF;
    else if (env && !strcmp(env, "avx2")) cap = SAIL_ISA_AVX2;
    for (int isa = cap; isa >= SAIL_ISA_REF; isa--) {
        g_active = sail_kernels_for((sail_isa)isa);
        if (g_active) return;
    }
}

const sail_kernel_table *sail_kernels(void) {
    pthread_once(&g_once, choose);
    return g_active;
}

const char *sail_kernels_isa(void) { return sail_kernels()->name; }

void sail_gemm_tile(const sail_kernel_table *t, int *mr, int *nr) {
    if (t == &sail_table_avx512) { *mr = 14; *nr = 32; }
    else if (t == &sail_table_avx2) { *mr = 6; *nr = 16; }
    else { *mr = 4; *nr = 16; }
}

void sail_gemm_w_tile(const sail_kernel_table *t, sail_wtype type, int *mr, int *nr) {
    int simd = t != &sail_table_ref; /* both SIMD levels run gemm_quant_avx2.c */
    if (type == SAIL_WT_Q8_0) { *mr = 4; *nr = simd ? 2 : 4; }
    else { *mr = simd ? 6 : 4; *nr = 16; }
}
