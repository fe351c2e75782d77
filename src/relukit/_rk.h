/* Small C pieces the Cython kernels need and Cython cannot say: the FP status register, OpenMP
 * facts that must also compile without OpenMP, and float16 conversion of whole blocks. */
#ifndef RELUKIT_RK_H
#define RELUKIT_RK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- floating-point environment --------------------------------------------------------------
 * The kernels compute in IEEE's default mode whatever the caller set: round to nearest, subnormals
 * kept (no flush-to-zero, no denormals-are-zero). Their accuracy rests on it (exact products and
 * sums by FMA and TwoSum, the scaling into the subnormals), and so does "the same bits for every
 * thread count": OpenMP's worker threads keep the mode they were created with, not the caller's.
 * Each thread that runs a piece of a call enters that mode (one read of the control register,
 * and a write only when it differs) and puts its own back on leaving, exception flags included:
 * the kernels never report FP exceptions of their own (vectorised compares are signalling, so
 * a NaN input raises FE_INVALID although the result is the right NaN, and NumPy would turn that
 * into a RuntimeWarning), while flags NumPy's casts set before the call survive. On x86-64 the
 * SSE state is MXCSR; elsewhere C99 has the rounding mode and the flags. */
#if defined(__SSE2__) || defined(_M_X64)
#include <immintrin.h>
typedef unsigned int rk_fpstate;
#define RK_MXCSR_MODE 0xE040u   /* flush-to-zero, rounding control, denormals-are-zero */
static inline rk_fpstate rk_fp_enter(void) {
    rk_fpstate saved = _mm_getcsr();
    if (saved & RK_MXCSR_MODE)
        _mm_setcsr(saved & ~RK_MXCSR_MODE);
    return saved;
}
static inline void rk_fp_leave(rk_fpstate saved) { _mm_setcsr(saved); }
#else
#include <fenv.h>
typedef unsigned long long rk_fpstate;     /* the rounding mode << 32 | the exception flags */
static inline rk_fpstate rk_fp_enter(void) {
    int mode = fegetround();
    rk_fpstate saved = ((rk_fpstate)(unsigned)mode << 32) | (unsigned)fetestexcept(FE_ALL_EXCEPT);
    if (mode != FE_TONEAREST)
        fesetround(FE_TONEAREST);
    return saved;
}
static inline void rk_fp_leave(rk_fpstate saved) {
    fesetround((int)(saved >> 32));
    feclearexcept(FE_ALL_EXCEPT);
    feraiseexcept((int)(saved & 0xFFFFFFFFu));    /* FP traps are off in Python: flags only */
}
#endif

/* ---- OpenMP ---------------------------------------------------------------------------------- */
#ifdef _OPENMP
#include <omp.h>
static inline int rk_omp_max_threads(void) {
    int n = omp_get_max_threads(), cap = omp_get_thread_limit();      /* OMP_THREAD_LIMIT */
    return n < cap ? n : cap;
}
static const int rk_openmp_version = _OPENMP;
#else
static inline int rk_omp_max_threads(void) { return 1; }
static const int rk_openmp_version = 0;
#endif

/* relukit.threads(n): a limit for the calls of one (Python) thread */
#if defined(_MSC_VER)
static __declspec(thread) int rk_block_limit = 1 << 30;
#else
static __thread int rk_block_limit = 1 << 30;
#endif
static inline int rk_get_block_limit(void) { return rk_block_limit; }
static inline void rk_set_block_limit(int n) { rk_block_limit = n; }

/* ---- fresh outputs ---------------------------------------------------------------------------
 * A large output NumPy has just allocated is fresh mmap memory: no page of it is resident yet.
 * Faulting such pages in from two threads at once is sometimes 10x slower on a VM than from one
 * (seen on the 2-vCPU development machine: 40-100 ms instead of 4-7 ms for a 40-80 MB output, for
 * several calls in a row), while one thread never showed it, so the loop touches fresh outputs
 * from one thread. The page in the middle of the output tells: malloc's header page is resident
 * even in a fresh block. Elsewhere than Linux, nothing is known and nothing changes. */
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
static inline int rk_page_untouched(const char *p) {
    static long page = 0;
    if (page == 0) page = sysconf(_SC_PAGESIZE);
    unsigned char resident = 1;
    void *start = (void *)((uintptr_t)p & ~(uintptr_t)(page - 1));
    return mincore(start, (size_t)page, &resident) == 0 && !(resident & 1);
}
/* Fault in [p, p + n) from the calling thread without changing its contents (the output may
 * still overlap an input). 0 when done; -1 where the running kernel has no MADV_POPULATE_WRITE
 * (Linux < 5.14; older build headers lack the name, the value is ABI). */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static inline int rk_populate(char *p, size_t n) {
    static long page = 0;
    if (page == 0) page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
    return madvise((void *)start, n + ((uintptr_t)p - start), MADV_POPULATE_WRITE);
}
#else
static inline int rk_page_untouched(const char *p) { (void)p; return 0; }
static inline int rk_populate(char *p, size_t n) { (void)p; (void)n; return -1; }
#endif

/* ---- streaming stores ------------------------------------------------------------------------
 * Copy [src, src + n), a block a kernel wrote to a buffer in L1, to dst with non-temporal stores,
 * which write whole output lines without reading them first (an ordinary store reads each line
 * of a large output from memory before it overwrites it). The unaligned head and tail are
 * ordinary copies. rk_stream_fence orders the streamed stores before anything that follows. */
static inline void rk_stream(char *dst, const char *src, size_t n) {
#if defined(__SSE2__) || defined(_M_X64)
#if defined(__AVX512F__)
    enum { W = 64 };
#elif defined(__AVX__)
    enum { W = 32 };
#else
    enum { W = 16 };
#endif
    size_t head = (W - ((uintptr_t)dst & (W - 1))) & (W - 1);
    if (head > n)
        head = n;
    memcpy(dst, src, head);
    dst += head, src += head, n -= head;
    for (; n >= W; dst += W, src += W, n -= W) {
#if defined(__AVX512F__)
        _mm512_stream_si512((void *)dst, _mm512_loadu_si512((const void *)src));
#elif defined(__AVX__)
        _mm256_stream_si256((__m256i *)dst, _mm256_loadu_si256((const __m256i *)src));
#else
        _mm_stream_si128((__m128i *)dst, _mm_loadu_si128((const __m128i *)src));
#endif
    }
#endif
    memcpy(dst, src, n);
}

static inline void rk_stream_fence(void) {
#if defined(__SSE2__) || defined(_M_X64)
    _mm_sfence();
#endif
}

/* Start fetching the cache line at p (and the page walk for it) into L1; never faults. */
#if defined(__GNUC__) || defined(__clang__)
static inline void rk_prefetch_line(const char *p) { __builtin_prefetch(p, 0, 3); }
#elif defined(_M_X64)
static inline void rk_prefetch_line(const char *p) { _mm_prefetch(p, _MM_HINT_T0); }
#else
static inline void rk_prefetch_line(const char *p) { (void)p; }
#endif

/* The index of the lowest set bit of w != 0 (the lean loops' rare elements, _kernels.pyx.tp). */
#if defined(__GNUC__) || defined(__clang__)
static inline int rk_lowest_bit(unsigned long long w) { return __builtin_ctzll(w); }
#elif defined(_MSC_VER) && defined(_M_X64)
#include <intrin.h>
static inline int rk_lowest_bit(unsigned long long w)
{
    unsigned long i;
    _BitScanForward64(&i, w);
    return (int)i;
}
#else
static inline int rk_lowest_bit(unsigned long long w)
{
    int i = 0;
    for (; !(w & 1); w >>= 1)
        i++;
    return i;
}
#endif

/* Run piece(job, start, stop) over [0, n) on nt threads while the calling thread faults the fresh
 * output in, segment by segment: the other threads take segments in order as soon as they are
 * populated (so they never fault themselves), and the calling thread joins them when it is done.
 * The populating and the computing overlap instead of following each other. Linux only, as
 * rk_populate: elsewhere the caller never gets here, and this runs on the calling thread. */
typedef void (*rk_piece_fn)(void *job, intptr_t start, intptr_t stop);
#if defined(__linux__)
#include <sched.h>
static void rk_run_populating(rk_piece_fn piece, void *job, intptr_t n, int nt, char *out,
                              intptr_t itemsize, intptr_t segment) {
    intptr_t nseg = (n + segment - 1) / segment, last = n - (nseg - 1) * segment, ready = 0, next = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
        rk_fpstate fpstate = rk_fp_enter();
#ifdef _OPENMP
        if (omp_get_thread_num() == 0)
#endif
        for (intptr_t s = 0; s < nseg; s++) {
            rk_populate(out + s * segment * itemsize,
                        (size_t)((s + 1 < nseg ? segment : last) * itemsize));
            __atomic_store_n(&ready, s + 1, __ATOMIC_RELEASE);
        }
        for (;;) {
            intptr_t s = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
            if (s >= nseg)
                break;
            for (int spins = 0; __atomic_load_n(&ready, __ATOMIC_ACQUIRE) <= s; spins++) {
                /* more threads than cores must not keep the populating one off its core
                 * (1e7 float32, 3-4 threads on 2 cores: relu 3.2-7.2 ms spinning, 3.0 yielding) */
                if (spins % 64 == 63)
                    sched_yield();
#if defined(__SSE2__)
                else
                    _mm_pause();
#endif
            }
            piece(job, s * segment, s * segment + (s + 1 < nseg ? segment : last));
        }
        rk_fp_leave(fpstate);
    }
    (void)nt;
}
#else
static void rk_run_populating(rk_piece_fn piece, void *job, intptr_t n, int nt, char *out,
                              intptr_t itemsize, intptr_t segment) {
    (void)nt; (void)out; (void)itemsize; (void)segment;
    piece(job, 0, n);
}
#endif

/* ---- float16 ---------------------------------------------------------------------------------
 * float16 loops compute in float32 and round once. Conversion goes through F16C where the target
 * has it (gcc 12 does not vectorise _Float16 casts itself), else through the bit manipulation
 * below. Not through x86's _Float16 without F16C: that is libgcc's soft-float, which raises
 * overflow and underflow in the x87 status word (seen as NumPy warnings at the baseline level).
 * Both round to nearest even, so every SIMD level gives the same bits. */
typedef uint16_t rk_half;
/* Without branches, so that gcc vectorises them (SSE2 at the baseline level: float16 relu 1e5
 * took ~600 us element by element). Checked equal to F16C on every float16 and every float32. */
static inline float rk_half_to_float_bits(rk_half h) {
    uint32_t magnitude = h & 0x7FFFu, sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t shifted = magnitude << 13, bits, special;
    float scaled;
    /* finite: the float32 with the bits shifted into place is the value times 2^-112, subnormal
     * or not, and the product with 2^112 is exact */
    memcpy(&scaled, &shifted, 4);
    scaled *= 0x1p112f;
    memcpy(&bits, &scaled, 4);
    special = shifted | 0x7F800000u | (magnitude > 0x7C00u ? 0x400000u : 0);  /* inf, quiet NaN */
    bits = (magnitude >= 0x7C00u ? special : bits) | sign;
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

static inline rk_half rk_float_to_half_bits(float value) {
    uint32_t f;
    memcpy(&f, &value, 4);
    uint32_t sign = (f >> 16) & 0x8000u, absf = f & 0x7FFFFFFFu, h, tiny_bits;
    /* normal: the exponent rebiased (-112 << 23) and the 13 dropped bits rounded to nearest even */
    uint32_t normal = (absf + 0xC8000FFFu + ((absf >> 13) & 1u)) >> 13;   /* may carry into inf */
    /* below the normal range: adding 0.5 leaves float16's subnormal quantum (2^-24) as the
     * float32 ULP, so the hardware's rounding is float16's */
    float tiny;
    memcpy(&tiny, &absf, 4);
    tiny += 0.5f;
    memcpy(&tiny_bits, &tiny, 4);
    h = absf < 0x38800000u ? tiny_bits - 0x3F000000u : normal;
    h = absf >= 0x47800000u ? 0x7C00u : h;                                  /* inf */
    h = absf > 0x7F800000u ? 0x7E00u | ((absf >> 13) & 0x3FFu) : h;          /* NaN, kept quiet */
    return (rk_half)(sign | h);
}

#if defined(__F16C__)
static inline float rk_half_to_float(rk_half h) { return _cvtsh_ss(h); }
static inline rk_half rk_float_to_half(float f) { return (rk_half)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
#else
#define rk_half_to_float rk_half_to_float_bits
#define rk_float_to_half rk_float_to_half_bits
#endif

/* Strided element pointers: step is in bytes, may be 0 (broadcast) or negative. */
static inline void rk_load_half(const char *src, ptrdiff_t step, float *dst, ptrdiff_t n) {
    ptrdiff_t i = 0;
#if defined(__AVX512F__)
    if (step == 2)
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * i))));
#endif
#if defined(__F16C__)
    if (step == 2)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
#endif
    if (step == 2)          /* (a loop of its own: gcc vectorises the bit conversions here) */
        for (; i < n; i++) { rk_half h; memcpy(&h, src + 2 * i, 2); dst[i] = rk_half_to_float(h); }
    for (; i < n; i++) { rk_half h; memcpy(&h, src + i * step, 2); dst[i] = rk_half_to_float(h); }
}

static inline void rk_store_half(const float *src, char *dst, ptrdiff_t step, ptrdiff_t n) {
    ptrdiff_t i = 0;
#if defined(__AVX512F__)
    if (step == 2)
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256((__m256i *)(dst + 2 * i),
                                _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
#if defined(__F16C__)
    if (step == 2)
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(dst + 2 * i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    if (step == 2)
        for (; i < n; i++) { rk_half h = rk_float_to_half(src[i]); memcpy(dst + 2 * i, &h, 2); }
    for (; i < n; i++) { rk_half h = rk_float_to_half(src[i]); memcpy(dst + i * step, &h, 2); }
}

/* ---- bit-packed masks -------------------------------------------------------------------------
 * Eight 0/1 bytes to one byte of bits, byte j in bit 7 - j (np.packbits' order): with byte j of w
 * (little-endian) 0 or 1, bit 7 - j of the top byte of w * 0x8040201008040201 is byte j, and the
 * partial products never overlap. One load and one multiply per 8 elements. */
static inline uint8_t rk_pack8(const uint8_t *t) {
    uint64_t w;
    memcpy(&w, t, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return (uint8_t)((w * 0x8040201008040201ull) >> 56);
}

/* Gather / scatter of float32 and float64 elements at any byte step into contiguous buffers.
 * Every other element (x[::2]) and the reverse (x[::-1]) of an aligned array are read as whole
 * vectors and shuffled: gcc vectorises those forms, not a runtime step. Other steps move four
 * elements at a time, the four loads before the four stores: element by element, relu of
 * x[::3] (1e5 float32) took 34 us in one build and 61 in the next, four at a time 22. */
#define RK_GATHER(name, type)                                                                    \
    static inline void rk_load_##name(const char *src, ptrdiff_t step, type *dst, ptrdiff_t n) { \
        const type *s = (const type *)src;                                                       \
        ptrdiff_t i = 0;                                                                         \
        if ((uintptr_t)src % sizeof(type) == 0 && step == 2 * (ptrdiff_t)sizeof(type)) {       \
            for (; i < n; i++) dst[i] = s[2 * i];                                                \
            return;                                                                              \
        }                                                                                        \
        if ((uintptr_t)src % sizeof(type) == 0 && step == -(ptrdiff_t)sizeof(type)) {          \
            for (; i < n; i++) dst[i] = s[-i];                                                   \
            return;                                                                              \
        }                                                                                        \
        for (; i + 4 <= n; i += 4) {                                                             \
            type a, b, c, d;                                                                     \
            memcpy(&a, src + i * step, sizeof(type));                                            \
            memcpy(&b, src + (i + 1) * step, sizeof(type));                                      \
            memcpy(&c, src + (i + 2) * step, sizeof(type));                                      \
            memcpy(&d, src + (i + 3) * step, sizeof(type));                                      \
            dst[i] = a; dst[i + 1] = b; dst[i + 2] = c; dst[i + 3] = d;                          \
        }                                                                                        \
        for (; i < n; i++) memcpy(dst + i, src + i * step, sizeof(type));                        \
    }                                                                                            \
    static inline void rk_store_##name(const type *src, char *dst, ptrdiff_t step, ptrdiff_t n) {\
        ptrdiff_t i = 0;                                                                         \
        for (; i + 4 <= n; i += 4) {                                                             \
            type a = src[i], b = src[i + 1], c = src[i + 2], d = src[i + 3];                     \
            memcpy(dst + i * step, &a, sizeof(type));                                            \
            memcpy(dst + (i + 1) * step, &b, sizeof(type));                                      \
            memcpy(dst + (i + 2) * step, &c, sizeof(type));                                      \
            memcpy(dst + (i + 3) * step, &d, sizeof(type));                                      \
        }                                                                                        \
        for (; i < n; i++) memcpy(dst + i * step, src + i, sizeof(type));                        \
    }
RK_GATHER(float, float)
RK_GATHER(double, double)
#undef RK_GATHER

#endif
