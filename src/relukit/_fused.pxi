# Fused bias + activation (included at the end of _kernels.pyx.tp: it uses the ufuncs' LoopSpecs).
#
# Forward y = act(x + b); backward dx = act_backward(g, x + b) and db[c] = sum of dx over channel c,
# in one pass over memory: x + b exists only in an L1 block, and db is summed from each dx block
# while it is still in cache. x is viewed as (outer, channels, inner) and cut into the work items
# of prelu_weight_grad (Layout, Item in _reductions.pxi), so the sum's order is fixed by the shape
# alone: db is bitwise the same for every thread count and SIMD level. Any op works: a block runs
# the op's own contiguous ufunc kernel (its scalar function from _scalar.pxd, vectorised).

from libc.stdint cimport uint16_t

cdef enum:
    FUSED_BLOCK = 1024   # elements per block: x + b, g and dx buffers stay in L1 (12 KiB float32)

cdef struct BiasJob:
    kernel_fn kernel          # the op's kernel in the compute type (float32 for float16)
    Storage storage
    const char* x             # the pre-bias input; or the forward's output when bias is NULL
    const char* g             # backward: the gradient with respect to the output; forward: NULL
    const char* bias          # channels values in the compute type; NULL: add nothing
    char* out
    int nparams
    float params_f[MAX_ARGS]  # the op's parameters, already rounded to the data's dtype
    double params_d[MAX_ARGS]
    Layout L
    double* partial           # backward: the items' partial sums (see scratch_size)

cdef inline void add_bias(real* z, const real* x, const real* bias, npy_intp r, npy_intp m,
                          const Layout* L) noexcept nogil:
    """z[k] = x[k] + the bias of the channel at row position r + k; rows wrap at L.width."""
    cdef npy_intp k = 0, t, run, c
    cdef real b
    while k < m:
        if L.inner == 1:            # channels last: the bias is a vector along the row
            run = min(m - k, L.width - r)
            for t in range(run):
                z[k + t] = x[k + t] + bias[r + t]
        else:                       # a constant over each channel's inner elements
            c = r // L.inner
            run = min(m - k, (c + 1) * L.inner - r)
            b = bias[c]
            for t in range(run):
                z[k + t] = x[k + t] + b
        k += run
        r = r + run if r + run < L.width else 0

cdef inline void round_to_half(float* v, npy_intp m) noexcept nogil:
    """float16 data: a value NumPy would store (x + b, dx) is rounded to float16 once."""
    cdef uint16_t tmp[FUSED_BLOCK]
    rk_store_half(v, <char*>tmp, 2, m)
    rk_load_half(<const char*>tmp, 2, v, m)

cdef const real* bias_block(const BiasJob* job, npy_intp p, npy_intp m, real* zbuf, real* gbuf,
                            real* dbuf) noexcept nogil:
    """Elements [p, p + m), m <= FUSED_BLOCK: writes the output and returns the values written."""
    cdef bint half = job.storage == STORE_HALF
    cdef npy_intp size = itemsize(job.storage)
    cdef const real* z
    cdef real* result
    cdef char* args[MAX_ARGS]
    cdef int k = 0, j
    if half:
        rk_load_half(job.x + 2 * p, 2, <float*>zbuf, m)
        z = zbuf
    else:
        z = <const real*>(job.x + p * size)
    if job.bias != NULL:
        add_bias(zbuf, z, <const real*>job.bias, p % job.L.width, m, &job.L)
        if half:
            round_to_half(<float*>zbuf, m)
        z = zbuf
    if job.g != NULL:
        # g is copied in full even where the kernel reads it only under a mask (relu_backward's
        # masked loads): from a plain stream it came 2x faster (measured, 1e7 float32)
        if half:
            rk_load_half(job.g + 2 * p, 2, <float*>gbuf, m)
        else:
            memcpy(gbuf, job.g + p * size, m * size)
        args[0] = <char*>gbuf
        k = 1
    args[k] = <char*>z
    for j in range(job.nparams):
        if real is float:
            args[k + 1 + j] = <char*>&job.params_f[j]
        else:
            args[k + 1 + j] = <char*>&job.params_d[j]
    result = dbuf if half else <real*>(job.out + p * size)
    args[k + 1 + job.nparams] = <char*>result
    job.kernel(args, m)
    if half:
        rk_store_half(<float*>dbuf, job.out + 2 * p, 2, m)
        round_to_half(<float*>dbuf, m)
    return result

cdef inline void lanes_add(double* acc, const real* v, npy_intp m) noexcept nogil:
    """Element i of a span feeds acc[i % LANES] (spans are cut in blocks, multiples of LANES)."""
    cdef npy_intp i = 0
    cdef int j
    while i + LANES <= m:
        for j in range(LANES):
            acc[j] += v[i + j]
        i += LANES
    for j in range(m - i):
        acc[j] += v[i + j]

cdef inline void slab_add(double* slab, const real* v, npy_intp r, npy_intp m,
                          npy_intp width) noexcept nogil:
    cdef npy_intp k = 0, t, run
    while k < m:
        run = min(m - k, width - r)
        for t in range(run):
            slab[r + t] += v[k + t]
        k += run
        r = 0

cdef void bias_span(const BiasJob* job, npy_intp p0, npy_intp n, double* acc,
                    double* slab, real* zbuf) noexcept nogil:
    """Elements [p0, p0 + n) in blocks; backward sums into acc (LANES) or else into the slab.
    `zbuf` (FUSED_BLOCK values) only picks the compute type."""
    cdef real gbuf[FUSED_BLOCK]
    cdef real dbuf[FUSED_BLOCK]
    cdef npy_intp s = 0, m
    cdef const real* values
    while s < n:
        m = min(<npy_intp>FUSED_BLOCK, n - s)
        values = bias_block(job, p0 + s, m, zbuf, gbuf, dbuf)
        if job.g != NULL:
            if acc != NULL:
                lanes_add(acc, values, m)
            else:
                slab_add(slab, values, (p0 + s) % job.L.width, m, job.L.width)
        s += m

cdef void bias_item(const BiasJob* job, npy_intp item, real* zbuf) noexcept nogil:
    cdef const Layout* L = &job.L
    cdef Item it = item_of(L, item)
    cdef double acc[LANES]
    cdef double total = 0
    cdef double* slab = NULL
    cdef npy_intp o, j
    cdef int lane
    if L.inner >= SHORT_ROW:        # per row: one channel's chunk, summed in lanes
        for o in range(it.row0, it.row1):
            for lane in range(LANES):
                acc[lane] = 0
            bias_span(job, (o * L.channels + it.channel) * L.inner + it.start, it.stop - it.start,
                      acc, NULL, zbuf)
            total += fold_lanes(acc)
        if job.g != NULL:
            job.partial[item] = total
        return
    if job.g != NULL:
        slab = job.partial + it.block * L.width
        for j in range(it.start, it.stop):
            slab[j] = 0
    if L.chunk == L.width:          # whole rows: one contiguous span (short rows stay cheap)
        bias_span(job, it.row0 * L.width, (it.row1 - it.row0) * L.width, NULL, slab, zbuf)
    else:
        for o in range(it.row0, it.row1):
            bias_span(job, o * L.width + it.start, it.stop - it.start, NULL, slab, zbuf)

cdef void bias_item_any(const BiasJob* job, npy_intp item) noexcept nogil:
    cdef double zd[FUSED_BLOCK]
    if job.storage == STORE_DOUBLE:
        bias_item(job, item, zd)
    else:
        bias_item(job, item, <float*>zd)

UFUNC_INDEX = {name: j for j, name in enumerate(ufuncs)}

def bias_act(str ufunc_name, cnp.ndarray x, object g, object bias, tuple params, cnp.ndarray out,
             npy_intp outer, npy_intp channels, npy_intp inner, object scratch, object dbias):
    """out = the ufunc (a forward, or a backward when g is given) of x + bias over C-contiguous
    arrays of one float dtype viewed as (outer, channels, inner); bias (compute dtype: float32 for
    float16) may be None (x is then the forward's output). Backward with `scratch` (float64,
    prelu_scratch_size) also writes the bias gradient into `dbias` (float64). The caller checks."""
    cdef BiasJob job
    cdef Storage storage = storage_of(x)
    cdef const LoopSpec* spec = &specs[UFUNC_INDEX[ufunc_name]][<int>storage]
    cdef npy_intp n = cnp.PyArray_SIZE(x), k, nitems
    cdef int j, nt
    cdef rk_fpstate fpstate, worker
    cdef double* db = NULL if dbias is None else <double*>cnp.PyArray_DATA(<cnp.ndarray>dbias)
    if len(params) != spec.nin - spec.ndata or len(params) >= MAX_ARGS - 2:
        raise ValueError(f"{ufunc_name} takes {spec.nin - spec.ndata} parameters, got {len(params)}")
    # the kernels run_blocked gives the dtype: float16's are float32's or its own (Ufunc.half)
    job.kernel = spec.blocked_scalar_params if params else spec.blocked
    job.storage, job.nparams = storage, len(params)
    for j in range(job.nparams):
        job.params_f[j], job.params_d[j] = params[j], params[j]
    job.x = <const char*>cnp.PyArray_DATA(x)
    job.g = NULL if g is None else <const char*>cnp.PyArray_DATA(<cnp.ndarray>g)
    job.bias = NULL if bias is None else <const char*>cnp.PyArray_DATA(<cnp.ndarray>bias)
    job.out = <char*>cnp.PyArray_DATA(out)
    job.L = make_layout(outer, channels, inner)
    job.partial = NULL if scratch is None else <double*>cnp.PyArray_DATA(<cnp.ndarray>scratch)
    if n == 0:
        return
    nitems = layout_items(&job.L)
    # the bias add (and the backward's sum) make it worth threading a fresh output after faulting
    # it in, even for a memory-bound op (1e7 float32, relu backward: 1.31-1.63x the unfused
    # sequence on 1 thread, 1.87-2.28x populated then 2 threads; forward 1.58-2.00x, 1.69-2.01x)
    nt = threads_for_output(n, itemsize(storage) * (2 if g is None else 3), spec.work, job.out,
                            n * itemsize(storage))
    fpstate = rk_fp_enter()
    with nogil:
        if nt <= 1:
            for k in range(nitems):
                bias_item_any(&job, k)
        else:
            for k in prange(nitems, num_threads=nt, schedule='static'):
                worker = rk_fp_enter()          # each thread's own mode (see _rk.h)
                bias_item_any(&job, k)
                rk_fp_leave(worker)
        if job.partial != NULL:
            combine_partials(&job.L, job.partial, db)
    rk_fp_leave(fpstate)
