"""CPU facts, compiled without any -m flag so that it imports on every x86-64 (or other) CPU.

It answers which SIMD levels this CPU runs before any kernel module is imported: importing an
AVX-512 build on an older CPU would end the process with SIGILL."""

cdef extern from *:
    """
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #include <cpuid.h>
    #endif
    static int relukit_cpu_level(void) {
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
        __builtin_cpu_init();
        if (__builtin_cpu_supports("x86-64-v4")) return 2;
        if (__builtin_cpu_supports("x86-64-v3")) return 1;
    #elif defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        /* clang before 18 does not know "f16c", "movbe" or "lzcnt" (a build error): CPUID has them
           (leaf 1: ECX bits 22 MOVBE and 29 F16C; leaf 0x80000001: ECX bit 5 LZCNT) */
        unsigned int a, b, c, d, c_ext = 0;
        __builtin_cpu_init();
        if (!__get_cpuid(1, &a, &b, &c, &d))
            return 0;
        if (__get_cpuid(0x80000001u, &a, &b, &c_ext, &d) == 0)
            c_ext = 0;
        int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
              && ((c >> 29) & 1) && __builtin_cpu_supports("bmi")
              && __builtin_cpu_supports("bmi2") && ((c >> 22) & 1) && ((c_ext >> 5) & 1);
        int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
              && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
              && __builtin_cpu_supports("avx512vl");
        if (v4) return 2;
        if (v3) return 1;
    #endif
        return 0;
    }
    """
    int relukit_cpu_level() nogil

LEVELS = ("baseline", "avx2", "avx512")


def supported_levels():
    """The SIMD levels this CPU can run, lowest first (whether or not they were built)."""
    return LEVELS[: relukit_cpu_level() + 1]
