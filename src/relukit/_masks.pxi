# Bit-packed masks (included by _kernels.pyx.tp after _loops.pxi and _noise.pxi).
#
# An op whose derivative takes two values (relu: 1 or 0, leaky_relu: 1 or the slope, hardtanh: 1
# inside its range, ...) needs only one bit per element for its backward. Bit order is
# np.packbits' default ('big'): element 8i + j of the flat C-ordered array is bit 7 - j of byte
# i, and the bits after the last element are 0. Two predicates cover every such op:
#   MASK_OUTSIDE  x < lo or x > hi    relu (-inf, 0), threshold (-inf, t), shrinks (-lambd, lambd)
#   MASK_INSIDE   lo < x < hi         relu6 (0, 6), hardtanh (min_val, max_val)
# NaN compares false in both, so its bit is 0 (the backward through a mask cannot carry NaN).

from libc.stdint cimport uint8_t

cdef extern from "_rk.h" nogil:
    uint8_t rk_pack8(const uint8_t* t)

cdef enum MaskKind:
    MASK_OUTSIDE
    MASK_INSIDE

cdef enum DeadRule:        # what the backward gives where the bit is 0
    DEAD_ZERO              # 0, whatever g holds (a select, as relu_backward)
    DEAD_SLOPE             # g * slope (leaky_relu, rrelu out of training)
    DEAD_NOISE             # g * the slope rrelu drew for this element in training

cdef struct MaskJob:
    const char* x          # forward: the input; backward: the gradient g
    uint8_t* mask
    char* out              # backward: the input gradient
    Storage storage
    MaskKind kind
    DeadRule dead
    double lo, hi, slope   # compared or multiplied in the data's type (exact: already rounded)
    uint64_t key           # DEAD_NOISE: rrelu's key and slope interval
    double lower, upper

cdef inline bint mask_bit(real x, real lo, real hi, MaskKind kind) noexcept nogil:
    if kind == MASK_INSIDE:
        return (x > lo) & (x < hi)
    return (x < lo) | (x > hi)

cdef inline void pack_bits(const real* x, uint8_t* out, npy_intp n, real lo, real hi,
                           MaskKind kind) noexcept nogil:
    """Bits of x[0:n] into out[0:ceil(n / 8)]. Two passes per block: compares into one byte each
    (contiguous, so they vectorise plainly), then rk_pack8 per 8 bytes. Measured 1.5-3x faster
    than shifting eight compares into each byte, which gcc vectorises only with permutes."""
    cdef uint8_t t[BLOCK]
    cdef npy_intp s = 0, m, k, i
    while s < n:
        m = min(<npy_intp>BLOCK, n - s)
        for k in range(m):
            t[k] = mask_bit(x[s + k], lo, hi, kind)
        for k in range(m, (m + 7) // 8 * 8):
            t[k] = 0                                  # np.packbits pads with 0 bits
        for i in range((m + 7) // 8):
            out[s // 8 + i] = rk_pack8(t + 8 * i)
        s += m

cdef inline real dead_value(real g, DeadRule dead, real slope) noexcept nogil:
    if dead == DEAD_ZERO:
        return 0
    return g * slope

cdef inline void unpack_apply(const real* g, const uint8_t* mask, real* out, npy_intp n,
                              DeadRule dead, real slope, const real* slopes) noexcept nogil:
    """out[k] = g[k] where bit k is set, else dead_value with `slope`, or with slopes[k] for
    DEAD_NOISE. The caller passes `dead` as a constant, so each rule gets its own loop once this
    is inlined."""
    cdef npy_intp i, k, full = n // 8
    cdef int j
    cdef unsigned int byte
    cdef real v
    for i in range(full):
        byte = mask[i]
        for j in range(8):
            k = 8 * i + j
            v = g[k]
            out[k] = v if (byte >> (7 - j)) & 1 else dead_value(
                v, dead, slopes[k] if dead == DEAD_NOISE else slope)
    for k in range(8 * full, n):
        v = g[k]
        out[k] = v if (mask[full] >> (7 - k % 8)) & 1 else dead_value(
            v, dead, slopes[k] if dead == DEAD_NOISE else slope)

cdef inline void pack_piece(const MaskJob* job, const real* x, npy_intp start,
                            npy_intp n) noexcept nogil:
    if job.kind == MASK_INSIDE:
        pack_bits(x, job.mask + start // 8, n, <real>job.lo, <real>job.hi, MASK_INSIDE)
    else:
        pack_bits(x, job.mask + start // 8, n, <real>job.lo, <real>job.hi, MASK_OUTSIDE)

cdef inline void unpack_piece(const MaskJob* job, const real* g, real* out, npy_intp start,
                              npy_intp n) noexcept nogil:
    """`start`, a multiple of 8, is the flat index of g[0] (rrelu's slopes depend on it)."""
    cdef const uint8_t* mask = job.mask + start // 8
    cdef real slopes[BLOCK]
    cdef npy_intp s = 0, m
    if job.dead == DEAD_ZERO:
        unpack_apply(g, mask, out, n, DEAD_ZERO, 0, NULL)
    elif job.dead == DEAD_SLOPE:
        unpack_apply(g, mask, out, n, DEAD_SLOPE, <real>job.slope, NULL)
    else:
        while s < n:                                 # BLOCK is a multiple of 8
            m = min(<npy_intp>BLOCK, n - s)
            draw_slopes(slopes, start + s, m, job.key, <real>job.lower,
                        <real>job.upper - <real>job.lower, <real>job.upper)
            unpack_apply(g + s, mask + s // 8, out + s, m, DEAD_NOISE, 0, slopes)
            s += m

cdef void mask_forward_piece(void* data, npy_intp start, npy_intp stop) noexcept nogil:
    cdef const MaskJob* job = <const MaskJob*>data
    cdef float buf[BLOCK]             # float16 is compared in float32 (exact), a block at a time
    cdef npy_intp s, m
    if job.storage == STORE_DOUBLE:
        pack_piece(job, <const double*>job.x + start, start, stop - start)
    elif job.storage == STORE_FLOAT:
        pack_piece(job, <const float*>job.x + start, start, stop - start)
    else:
        s = start
        while s < stop:                              # BLOCK is a multiple of 8
            m = min(<npy_intp>BLOCK, stop - s)
            rk_load_half(job.x + 2 * s, 2, buf, m)
            pack_piece(job, <const float*>buf, s, m)
            s += m

cdef void mask_backward_piece(void* data, npy_intp start, npy_intp stop) noexcept nogil:
    cdef const MaskJob* job = <const MaskJob*>data
    cdef float buf[BLOCK]
    cdef npy_intp s, m
    if job.storage == STORE_DOUBLE:
        unpack_piece(job, <const double*>job.x + start, <double*>job.out + start, start, stop - start)
    elif job.storage == STORE_FLOAT:
        unpack_piece(job, <const float*>job.x + start, <float*>job.out + start, start, stop - start)
    else:
        # float16 computes in float32 and rounds once, as the ufunc loops
        s = start
        while s < stop:
            m = min(<npy_intp>BLOCK, stop - s)
            rk_load_half(job.x + 2 * s, 2, buf, m)
            unpack_piece(job, <const float*>buf, buf, s, m)
            rk_store_half(buf, job.out + 2 * s, 2, m)
            s += m

cdef Storage storage_of(cnp.ndarray a) except *:
    cdef int num = cnp.PyArray_TYPE(a)
    if num == cnp.NPY_FLOAT16:
        return STORE_HALF
    if num == cnp.NPY_FLOAT:
        return STORE_FLOAT
    if num == cnp.NPY_DOUBLE:
        return STORE_DOUBLE
    raise TypeError(f"expected float16, float32 or float64, got {a.dtype}")

def mask_forward(cnp.ndarray x, cnp.ndarray mask, int kind, double lo, double hi):
    """Pack the mask bits of the C-contiguous float array x into the uint8 array `mask`
    (ceil(x.size / 8) bytes); `kind` 0 is MASK_OUTSIDE, 1 MASK_INSIDE. The caller checks."""
    cdef MaskJob job
    cdef npy_intp n = cnp.PyArray_SIZE(x)
    job.x, job.mask, job.out = <const char*>cnp.PyArray_DATA(x), <uint8_t*>cnp.PyArray_DATA(mask), NULL
    job.storage, job.kind = storage_of(x), <MaskKind>kind
    job.lo, job.hi = lo, hi
    if n:
        with nogil:
            run_chunked(mask_forward_piece, &job, n, threads_for(n, itemsize(job.storage), WORK_MEMORY))

def mask_backward(cnp.ndarray g, cnp.ndarray mask, cnp.ndarray out, int dead, double slope=0,
                  uint64_t key=0, double lower=0, double upper=0):
    """out = g where the bit is set, else the `dead` rule (0 zero, 1 slope, 2 rrelu noise), over
    C-contiguous arrays of one float dtype; out may be g. The caller checks."""
    cdef MaskJob job
    cdef npy_intp n = cnp.PyArray_SIZE(g)
    cdef int nt
    job.x, job.mask, job.out = <const char*>cnp.PyArray_DATA(g), <uint8_t*>cnp.PyArray_DATA(mask), \
        <char*>cnp.PyArray_DATA(out)
    job.storage, job.dead = storage_of(g), <DeadRule>dead
    job.slope, job.key, job.lower, job.upper = slope, key, lower, upper
    if n:
        with nogil:
            nt = threads_for(n, 2 * itemsize(job.storage), WORK_MEMORY)
            if not run_fresh(mask_backward_piece, &job, n, nt, job.out, itemsize(job.storage)):
                run_chunked(mask_backward_piece, &job, n, nt)
