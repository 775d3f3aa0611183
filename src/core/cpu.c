/* cpu.c: CPUID/XGETBV feature detection. An instruction set only counts when
 * the OS also saves its registers (XCR0), otherwise using it would fault. */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static sail_cpu_features g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XGETBV without -mxsave: the intrinsic would need that flag on this file. */
static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
    bool avx = c & (1u << 28);
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    bool ymm_ok = (xcr0 & 0x6) == 0x6;    /* SSE + AVX state */
    bool zmm_ok = (xcr0 & 0xe6) == 0xe6;  /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok || __get_cpuid_max(0, 0) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    g_cpu.fma = fma;
    g_cpu.f16c = f16c;
    g_cpu.avx2 = b & (1u << 5);
    bool amx_ok = (xcr0 & 0x60000) == 0x60000; /* XTILECFG + XTILEDATA */
    /* AMX-TILE, -INT8, -BF16; the amx kernels also use AVX512-VBMI's byte
     * permutes, which every CPU with AMX has */
    g_cpu.amx_int8 = amx_ok && (d & (1u << 24)) && (d & (1u << 25)) && (d & (1u << 22)) && (c & (1u << 1));
    if (zmm_ok) {
        g_cpu.avx512f = b & (1u << 16);
        g_cpu.avx512dq = b & (1u << 17);
        g_cpu.avx512bw = b & (1u << 30);
        g_cpu.avx512vl = b & (1u << 31);
        g_cpu.avx512_vnni = c & (1u << 11);
        __cpuid_count(7, 1, a, b, c, d);
        g_cpu.avx512_bf16 = a & (1u << 5);
    }
}

/* Linux hands out the 8 KiB of tile state only to processes that ask
 * (ARCH_REQ_XCOMP_PERM for XTILEDATA, once per process, for every thread);
 * without it the first tile instruction would fault. It refuses where the
 * kernel predates AMX or a thread's alternate signal stack is too small
 * for the larger signal frame: the amx level is then hidden. */
static bool amx_permitted(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return false;
#endif
}
#else
static void detect(void) {}
static bool amx_permitted(void) { return false; }
#endif

/* The one rule every dispatcher follows: SAIL_ISA=ref|avx2|avx512|
 * avx512vnni|avx512bf16|amx (and a SAIL_FORCE_REF build) hide the levels above
 * it, as if the CPU lacked them. */
static void cap(void) {
    static const char *const levels[] = {"ref", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx"};
    const char *env = getenv("SAIL_ISA");
    int level = 5;
    for (int i = 0; env && i < 6; i++)
        if (!strcmp(env, levels[i])) level = i;
#ifdef SAIL_FORCE_REF
    level = 0;
#endif
    if (level < 5) g_cpu.amx_int8 = false;
    if (level < 4) g_cpu.avx512_bf16 = false;
    if (level < 3) g_cpu.avx512_vnni = false;
    if (level < 2) g_cpu.avx512f = g_cpu.avx512bw = g_cpu.avx512dq = g_cpu.avx512vl = false;
    if (level < 1) g_cpu.avx2 = g_cpu.fma = g_cpu.f16c = false;
}

static void init(void) {
    detect();
    cap();
    if (g_cpu.amx_int8 && !amx_permitted()) g_cpu.amx_int8 = false;
}

const sail_cpu_features *sail_cpu(void) {
    pthread_once(&g_cpu_once, init);
    return &g_cpu;
}
