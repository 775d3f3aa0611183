/* cpu.h: which SIMD extensions this CPU and its OS support (CPUID + XGETBV).
 * Used once by the kernel dispatcher; later modules (bf16, int8) read the
 * extra flags. */
#ifndef SAIL_CPU_H
#define SAIL_CPU_H

#include <stdbool.h>

typedef struct sail_cpu_features {
    bool avx2, fma, f16c;                  /* AVX2-class, with OS ymm state */
    bool avx512f, avx512bw, avx512dq, avx512vl; /* with OS zmm/opmask state */
    bool avx512_bf16, avx512_vnni;
    bool amx_int8; /* AMX-TILE, -INT8 and -BF16 (and AVX512-VBMI), the OS saving tile state and
                      letting sail use it */
} sail_cpu_features;

/* The features the kernels may use, detected on first call: what the CPU
 * and OS support, less the levels above SAIL_ISA=ref|avx2|avx512|
 * avx512vnni|avx512bf16|amx (and everything in a SAIL_FORCE_REF build). Every dispatcher (GEMM and ops, resize, index
 * distances) decides from this, so one setting moves them all. Thread-safe. */
const sail_cpu_features *sail_cpu(void);

#endif
