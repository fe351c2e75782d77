# rrelu in training mode: elementwise, but its slope depends on the element's position, which a
# ufunc inner loop never sees. So these kernels run over whole C-ordered arrays, and the slope of
# element i is a pure function of (seed, i): a counter-based generator (SplitMix64's finaliser on
# a Weyl sequence), so the noise does not depend on threads, chunking or SIMD level, and the
# backward recomputes it instead of storing it.

from libc.stdint cimport uint32_t, uint64_t

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

cdef inline real uniform_slope(uint64_t key, npy_intp i, real lower, real width,
                               real upper) noexcept nogil:
    """lower + width * U, U uniform on [0, 1) with 24 (float32) or 53 (float64) random bits; a
    value that rounds up to `upper` becomes `lower`, so the interval stays [lower, upper)."""
    cdef uint64_t bits = mix64(key + <uint64_t>(i + 1) * <uint64_t>0x9E3779B97F4A7C15)
    cdef real unit
    if real is float:
        unit = <float>(bits >> 40) * <float>5.9604644775390625e-08           # 2**-24
    else:
        unit = <double>(bits >> 11) * 1.1102230246251565e-16                  # 2**-53
    cdef real slope = lower + width * unit
    return slope if slope < upper else lower

cdef void rrelu_piece(const real* g, const real* x, real* out, npy_intp start, npy_intp stop,
                      npy_intp first, uint64_t key, real lower, real width, real upper,
                      bint backward) noexcept nogil:
    cdef npy_intp i
    cdef real v, slope
    for i in range(start, stop):
        v, slope = x[i], uniform_slope(key, first + i, lower, width, upper)
        if backward:
            out[i] = keep_nan(v, g[i] if v > 0 else g[i] * slope)
        else:
            out[i] = v if v > 0 else v * slope

def rrelu_train(const real[::1] g, const real[::1] x, real[::1] out, uint64_t key, real lower,
                real upper, bint backward, npy_intp first=0):
    """Forward (`g` unused) or backward of rrelu in training mode over C-ordered flat arrays.

    `first` is the index of x[0] in the whole array when x is one block of it (a dask chunk), so
    every block draws the slopes its elements have in the whole."""
    cdef npy_intp n = x.shape[0], chunk, c
    cdef real width = upper - lower
    cdef int nt = threads_for(n, (3 if backward else 2) * sizeof(real), WORK_MEMORY)
    if n == 0:
        return
    cdef rk_fpstate fpstate = rk_fp_enter(), worker
    with nogil:
        if nt <= 1:
            rrelu_piece(&g[0], &x[0], &out[0], 0, n, first, key, lower, width, upper, backward)
        else:
            chunk = cdiv(cdiv(n, nt), CHUNK_ALIGN) * CHUNK_ALIGN
            for c in prange(cdiv(n, chunk), num_threads=nt, schedule='static'):
                worker = rk_fp_enter()          # each thread's own mode (see _rk.h)
                rrelu_piece(&g[0], &x[0], &out[0], c * chunk, min(n, (c + 1) * chunk),
                            first, key, lower, width, upper, backward)
                rk_fp_leave(worker)
    rk_fp_leave(fpstate)
