# rrelu in training mode: elementwise, but its slope depends on the element's position, which a
# ufunc inner loop never sees. So these kernels run over whole C-ordered arrays, and the slope of
# element i is a pure function of (seed, i): a counter-based generator (SplitMix64's finaliser on
# a Weyl sequence), so the noise does not depend on threads, chunking or SIMD level, and the
# backward recomputes it instead of storing it.

from libc.stdint cimport uint32_t, uint64_t

cdef extern from *:
    """
    /* (bits >> 11) 2^-53. SSE2 and AVX2 vectors cannot convert 64-bit integers, and gcc makes a
       scalar loop of the whole kernel for it: there the two halves of the 53 bits become doubles
       exactly as 2^k + n 2^(k-52), n put into the significand, less 2^k. */
    #include <stdint.h>
    #include <string.h>
    static inline double rk_unit53(uint64_t bits) {
    #if defined(__AVX512DQ__)
        return (double)(int64_t)(bits >> 11) * 0x1p-53;
    #else
        uint64_t high = (bits >> 38) | 0x4190000000000000ull;                  /* 2^26 + n 2^-26 */
        uint64_t low = ((bits >> 11) & 0x7FFFFFFull) | 0x3FE0000000000000ull;  /* 2^-1 + n 2^-53 */
        double h, l;
        memcpy(&h, &high, 8);
        memcpy(&l, &low, 8);
        return (h - 0x1p26) + (l - 0x1p-1);
    #endif
    }
    /* a 64-bit output whose low half, stored, comes first in memory */
    static inline uint64_t rk_low_half_first(uint64_t bits) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return (bits << 32) | (bits >> 32);
    #else
        return bits;
    #endif
    }
    """
    double rk_unit53(uint64_t bits) noexcept nogil
    uint64_t rk_low_half_first(uint64_t bits) noexcept nogil

cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)

# np.random.SeedSequence(seed).generate_state(1, np.uint64)[0] for 0 <= seed < 2**64, typed: the
# Python class costs 4 us a call, as much as rrelu's whole kernel at 1e3 elements (NumPy's
# algorithm, hashmix and mix over a pool of four 32-bit words; tested against SeedSequence)
cdef inline uint32_t hashmix(uint32_t value, uint32_t* hash_const) noexcept nogil:
    value ^= hash_const[0]
    hash_const[0] *= <uint32_t>0x931E8875
    value *= hash_const[0]
    return value ^ (value >> 16)

cdef inline uint32_t mix(uint32_t x, uint32_t y) noexcept nogil:
    cdef uint32_t result = <uint32_t>0xCA01F9DD * x - <uint32_t>0x4973F715 * y
    return result ^ (result >> 16)

def seed_key(uint64_t seed):
    cdef uint32_t entropy[2]
    cdef uint32_t pool[4]
    cdef uint32_t words[2]
    cdef uint32_t hash_const = 0x43B0D7E5
    cdef int n = 1 if seed >> 32 == 0 else 2, i, j
    entropy[0], entropy[1] = <uint32_t>seed, <uint32_t>(seed >> 32)
    for i in range(4):
        pool[i] = hashmix(entropy[i] if i < n else 0, &hash_const)
    for i in range(4):
        for j in range(4):
            if i != j:
                pool[j] = mix(pool[j], hashmix(pool[i], &hash_const))
    hash_const = 0x8B51F9DD
    for i in range(2):
        words[i] = pool[i] ^ hash_const
        hash_const *= <uint32_t>0x58F38DED
        words[i] *= hash_const
        words[i] ^= words[i] >> 16
    return (<uint64_t>words[1] << 32) | words[0]

cdef inline uint64_t golden() noexcept nogil:
    # 2**64 / the golden ratio (odd): the Weyl sequence's step
    return <uint64_t>0x9E3779B97F4A7C15

cdef inline real unit_slope(uint64_t bits, real lower, real width, real upper) noexcept nogil:
    """lower + width * U, U uniform on [0, 1) from the top 53 bits of `bits` (float64) or the top
    24 of its low 32 (float32); a value that rounds up to `upper` becomes `lower`, so the
    interval stays [lower, upper)."""
    cdef real unit, slope
    if real is float:
        unit = <float>(<uint32_t>bits >> 8) * <float>5.9604644775390625e-08          # 2**-24
    else:
        unit = rk_unit53(bits)
    slope = lower + width * unit
    return slope if slope < upper else lower

# Output p of the generator is mix64(key + (p + 1) * golden). float64 element p takes output p;
# float32 elements 2p and 2p + 1 take its low and high halves, so a block of outputs stored low
# half first and read as 32-bit words gives float32's bits in order: the 64-bit multiplies are
# the cost, and float32 needs half as many.
cdef union Draws:
    uint64_t outputs[(BLOCK >> 1) + 1]
    uint32_t halves[BLOCK + 2]

cdef inline npy_intp draw_halves(Draws* draws, npy_intp first, npy_intp m,
                                 uint64_t key) noexcept nogil:
    """The outputs float32 elements first .. first + m - 1 take (m <= BLOCK); returns where in
    draws.halves element `first`'s bits are."""
    cdef uint64_t weyl = key + <uint64_t>((first >> 1) + 1) * golden()
    cdef npy_intp k, odd = first & 1
    for k in range((odd + m + 1) >> 1):
        draws.outputs[k] = rk_low_half_first(mix64(weyl))
        weyl = weyl + golden()
    return odd

cdef inline void draw_slopes(real* slopes, npy_intp first, npy_intp m, uint64_t key, real lower,
                             real width, real upper) noexcept nogil:
    """slopes[k] = the slope of flat element first + k, for k < m <= BLOCK."""
    cdef Draws draws
    cdef uint64_t weyl
    cdef npy_intp k, odd
    if real is float:
        odd = draw_halves(&draws, first, m, key)
        for k in range(m):
            slopes[k] = unit_slope(draws.halves[odd + k], lower, width, upper)
    else:
        weyl = key + <uint64_t>(first + 1) * golden()
        for k in range(m):
            slopes[k] = unit_slope(mix64(weyl), lower, width, upper)
            weyl = weyl + golden()

cdef inline void rrelu_one(const real* g, const real* x, real* out, npy_intp k, real slope,
                           bint backward) noexcept nogil:
    cdef real v = x[k]
    if backward:
        out[k] = keep_nan(v, g[k] if v > 0 else g[k] * slope)
    else:
        out[k] = v if v > 0 else v * slope

cdef void rrelu_piece(const real* g, const real* x, real* out, npy_intp start, npy_intp stop,
                      npy_intp first, uint64_t key, real lower, real width, real upper,
                      bint backward) noexcept nogil:
    """float32 draws the generator's outputs for a block, then applies them (gcc vectorises a
    loop over pairs of elements poorly); float64 draws and applies in one loop (measured 1.4x
    faster than through a block)."""
    cdef Draws draws
    cdef uint64_t weyl = key + <uint64_t>(first + start + 1) * golden()
    cdef npy_intp s = start, m, k, odd
    if real is double:
        for k in range(start, stop):
            rrelu_one(g, x, out, k, unit_slope(mix64(weyl), lower, width, upper), backward)
            weyl = weyl + golden()
        return
    while s < stop:
        m = min(<npy_intp>BLOCK, stop - s)
        odd = draw_halves(&draws, first + s, m, key)
        for k in range(m):
            rrelu_one(g + s, x + s, out + s, k,
                      unit_slope(draws.halves[odd + k], lower, width, upper), backward)
        s += m

cdef struct NoiseJob:
    const char* g          # backward: the gradient; forward: unused
    const char* x
    char* out
    Storage storage
    uint64_t key
    npy_intp first
    double lower, upper
    bint backward

cdef void rrelu_job_piece(void* data, npy_intp start, npy_intp stop) noexcept nogil:
    cdef const NoiseJob* job = <const NoiseJob*>data
    cdef float lower = <float>job.lower, upper = <float>job.upper
    cdef float gbuf[BLOCK]
    cdef float xbuf[BLOCK]
    cdef npy_intp s = start, m
    if job.storage == STORE_DOUBLE:
        rrelu_piece(<const double*>job.g, <const double*>job.x, <double*>job.out, start, stop,
                    job.first, job.key, job.lower, job.upper - job.lower, job.upper, job.backward)
    elif job.storage == STORE_FLOAT:
        rrelu_piece(<const float*>job.g, <const float*>job.x, <float*>job.out, start, stop,
                    job.first, job.key, lower, upper - lower, upper, job.backward)
    else:
        # float16 in float32, a block at a time (F16C where the level has it): float32's slopes,
        # one rounding to float16
        while s < stop:
            m = min(<npy_intp>BLOCK, stop - s)
            rk_load_half(job.x + 2 * s, 2, xbuf, m)
            if job.backward:
                rk_load_half(job.g + 2 * s, 2, gbuf, m)
            rrelu_piece(<const float*>gbuf, <const float*>xbuf, xbuf, 0, m, job.first + s, job.key,
                        lower, upper - lower, upper, job.backward)
            rk_store_half(xbuf, job.out + 2 * s, 2, m)
            s += m

def rrelu_train(cnp.ndarray g, cnp.ndarray x, cnp.ndarray out, uint64_t key, double lower,
                double upper, bint backward, npy_intp first=0):
    """Forward (`g` unused) or backward of rrelu in training mode over C-contiguous float16,
    float32 or float64 arrays of one dtype and size; out may be x or g. The caller checks.

    `first` is the index of x[0] in the whole array when x is one block of it (a dask chunk), so
    every block draws the slopes its elements have in the whole."""
    cdef NoiseJob job
    cdef npy_intp n = cnp.PyArray_SIZE(x), size
    cdef int nt
    job.storage = storage_of(x)
    size = itemsize(job.storage)
    job.g, job.x = <const char*>cnp.PyArray_DATA(g), <const char*>cnp.PyArray_DATA(x)
    job.out = <char*>cnp.PyArray_DATA(out)
    job.key, job.first, job.lower, job.upper, job.backward = key, first, lower, upper, backward
    if n:
        with nogil:
            # float16 counted as the float32 it is computed in, as in the ufunc loops
            nt = threads_for(n, (3 if backward else 2) * (4 if size == 2 else size), WORK_MEMORY)
            if not run_fresh(rrelu_job_piece, &job, n, nt, job.out, size):
                run_chunked(rrelu_job_piece, &job, n, nt)
