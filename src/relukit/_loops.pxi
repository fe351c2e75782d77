# The one ufunc inner loop every relukit ufunc uses (included by _kernels.pyx.tp).
#
# NumPy calls `ufunc_loop` with the LoopSpec of the (ufunc, dtype) pair as its `data` pointer. The
# loop picks a path from the steps and hands the work, split in chunks over OpenMP threads above a
# size threshold, to a kernel:
#   contiguous      every operand contiguous              -> spec.contiguous (generated, vectorised)
#   scalar params   data contiguous, parameters step 0    -> spec.scalar_params (generated)
#   blocked         anything else, and float16 but for     -> gather blocks into stack buffers,
#                   the memory-bound ops' contiguous calls    run one of the two, scatter back
# so an op is written once, as a scalar function, and only its contiguous kernels are generated.

from cython.parallel cimport prange
from libc.stdint cimport uint16_t
from libc.string cimport memcpy, memset
cimport numpy as cnp
from numpy cimport npy_intp

cdef extern from "_rk.h" nogil:
    ctypedef unsigned long long rk_fpstate
    rk_fpstate rk_fp_enter()
    void rk_fp_leave(rk_fpstate)
    int rk_omp_max_threads()
    int rk_get_block_limit()
    void rk_set_block_limit(int n)
    const int rk_openmp_version
    bint rk_page_untouched(const char* p)
    int rk_populate(char* p, size_t n)
    ctypedef void (*rk_piece_fn)(void* job, npy_intp start, npy_intp stop) noexcept nogil
    void rk_prefetch_line(const char* p)
    void rk_stream(char* dst, const char* src, size_t n)
    void rk_stream_fence()
    int rk_lowest_bit(unsigned long long w)
    void rk_run_populating(rk_piece_fn piece, void* job, npy_intp n, int nt, char* out,
                           npy_intp itemsize, npy_intp segment)
    void rk_load_half(const char* src, npy_intp step, float* dst, npy_intp n)
    void rk_store_half(const float* src, char* dst, npy_intp step, npy_intp n)
    void rk_load_float(const char* src, npy_intp step, float* dst, npy_intp n)
    void rk_store_float(const float* src, char* dst, npy_intp step, npy_intp n)
    void rk_load_double(const char* src, npy_intp step, double* dst, npy_intp n)
    void rk_store_double(const double* src, char* dst, npy_intp step, npy_intp n)

cdef enum:
    MAX_ARGS = 8         # inputs + the output
    BLOCK = 512          # elements per gather block: the buffers of one block stay in L1 (float16
                         # relu out= 1e5: 256 took 1.57x float32's time, 512 1.3-1.4x)
    HALF_BLOCK = 32      # elements per block of the float16 kernels that convert in registers:
                         # above gcc's limit for unrolling a loop whole before vectorising it
                         # (16), whose straight-line code was left scalar where an op branches
    CHUNK_ALIGN = 64     # chunk starts are multiples of this many elements (full cache lines)
    FRESH_CHECK = 1 << 22  # output bytes from which a fresh (never touched) output is looked for
    POPULATE_SEGMENT = 1 << 20  # bytes of a fresh output faulted in at a time (256 KiB-4 MiB: same)
    ALIGN_FROM = 1 << 16   # output bytes from which the bulk of a call starts on a cache line
    PAGE = 4096            # bytes: the unit of run_paged
    PREFETCH_FROM = 1 << 24  # bytes of the first input from which a compute-bound call runs paged
    STREAM_FROM = 1 << 25  # output bytes from which a memory-bound op streams its result out
    STREAM_BLOCK = 1024    # bytes of output per kernel call of run_streamed (4096: 1.1x slower)
    LEAN_BLOCK = 128       # elements per block of a kernel with a lean form (_ops.py, `lean`): the
                           # check for rare elements reads the block into L1 for the pass after.
                           # With 1024, when a rare element meant both forms over the whole block,
                           # data of standard deviation 5 made float64 gelu 2.8x slower; 128 costs
                           # nothing measurable on ordinary data (64: 5-14%)
    LEAN_FEW = 8           # a block with at most this many rare elements runs the careful form on
                           # copies of them and the lean form over the block; with more, the
                           # selecting scalar over the whole block (_kernels.pyx.tp, loop)

cdef enum Storage:
    STORE_HALF
    STORE_FLOAT
    STORE_DOUBLE

ctypedef void (*kernel_fn)(char** args, npy_intp n) noexcept nogil

cdef struct LoopSpec:
    kernel_fn blocked          # the kernels over run_blocked's buffers, of the compute type
    kernel_fn blocked_scalar_params    # (float16: float32's, or its own form: Ufunc.half)
    kernel_fn contiguous       # every operand contiguous (float16: NULL but for memory-bound ops)
    kernel_fn scalar_params    # data contiguous, every parameter a single value (NULL: no params)
    int nin                    # inputs; the output is args[nin]
    int ndata                  # leading inputs that are data; the rest are parameters
    int work                   # row of `thresholds` (how much arithmetic per element)
    Storage storage            # element type in memory; float16 is computed in float32

# ---- threads ------------------------------------------------------------------------------------
# relukit's own limit is process-global: libgomp's omp_set_num_threads only reaches the calling
# thread. The effective count is read on every call, so OMP_NUM_THREADS and threadpoolctl (which set
# the calling thread's OpenMP value) take effect too.
cdef int thread_limit = 1 << 30
cdef npy_intp thresholds[WORK_CLASSES]

cdef inline int relukit_limit() noexcept nogil:
    """The smaller of set_num_threads' limit and the calling thread's threads(n) block's."""
    cdef int block = rk_get_block_limit()
    return block if block < thread_limit else thread_limit

cdef inline int effective_threads() noexcept nogil:
    cdef int n = rk_omp_max_threads(), limit = relukit_limit()
    return n if n < limit else limit

cdef inline int threads_for(npy_intp n, npy_intp bytes_per_element, int work) noexcept nogil:
    """Threads for n elements, each moving bytes_per_element bytes of array operands."""
    if n * bytes_per_element < thresholds[work]:
        return 1
    cdef int nt = effective_threads()
    cdef npy_intp most = n // CHUNK_ALIGN       # never a chunk shorter than CHUNK_ALIGN
    return <int>most if most < nt else nt

cdef inline int threads_for_output(npy_intp n, npy_intp bytes_per_element, int work, char* out,
                                   npy_intp out_bytes) noexcept nogil:
    """threads_for, but a large fresh `out` (out_bytes long; see rk_page_untouched) is first faulted
    in from this thread, for loops that cannot run behind the faulting (run_fresh): the fused
    bias_act kernels (1e7 float32, 2 threads: bias_act_backward relu 7.4-9.0 ms faulting and
    computing on 1 thread, 5.2-6.9 populated then on 2)."""
    cdef int nt = threads_for(n, bytes_per_element, work)
    if nt > 1 and out_bytes >= FRESH_CHECK and rk_page_untouched(out + out_bytes // 2):
        return nt if rk_populate(out, out_bytes) == 0 else 1
    return nt

# Kernels that are not ufunc loops (masks, rrelu noise, fused bias) run a piece function over
# element ranges [start, stop) of one flat array, in chunks whose bounds are multiples of
# CHUNK_ALIGN (so also of 8: a bit-packed mask byte never has two writers).
ctypedef void (*piece_fn)(void* job, npy_intp start, npy_intp stop) noexcept nogil

cdef void run_chunked(piece_fn piece, void* job, npy_intp n, int nt) noexcept nogil:
    cdef npy_intp chunk, c
    cdef rk_fpstate fpstate
    if nt <= 1:
        fpstate = rk_fp_enter()
        piece(job, 0, n)     # no parallel region at all (fork safety, as in ufunc_loop)
        rk_fp_leave(fpstate)
    else:
        chunk = (n + nt - 1) // nt
        chunk = (chunk + CHUNK_ALIGN - 1) // CHUNK_ALIGN * CHUNK_ALIGN
        for c in prange((n + chunk - 1) // chunk, num_threads=nt, schedule='static'):
            fpstate = rk_fp_enter()         # each thread's own mode (see _rk.h)
            piece(job, c * chunk, min(n, (c + 1) * chunk))
            rk_fp_leave(fpstate)

cdef bint run_fresh(piece_fn piece, void* job, npy_intp n, int nt, char* out,
                    npy_intp out_step) noexcept nogil:
    """run_chunked for an output (n elements, out_step bytes apart) that is large and fresh (see
    rk_page_untouched), the calling thread faulting it in while the others compute behind it
    (rk_run_populating); False, with nothing done, for any other output. 1e7 allocating, 2
    threads, against faulting from one thread and then computing on both (or, memory-bound, all
    on one): float32 relu 5.5 -> 3.0 ms, sigmoid 5.3 -> 4.3, gelu 7.0 -> 5.7; float64 relu
    17.5 -> 9.7, elu 16.1 -> 12.1."""
    if (nt <= 1 or out_step <= 0 or n * out_step < FRESH_CHECK
            or not rk_page_untouched(out + n * out_step // 2)):
        return False
    cdef npy_intp segment = max(CHUNK_ALIGN, POPULATE_SEGMENT // out_step // CHUNK_ALIGN * CHUNK_ALIGN)
    if rk_populate(out, segment * out_step) != 0:
        run_chunked(piece, job, n, 1)   # Linux < 5.14: no MADV_POPULATE_WRITE, fault from one thread
    else:
        rk_run_populating(<rk_piece_fn>piece, job, n, nt, out, out_step, segment)
    return True

# ---- kernels over one piece ---------------------------------------------------------------------
cdef inline npy_intp itemsize(Storage storage) noexcept nogil:
    return 2 if storage == STORE_HALF else (4 if storage == STORE_FLOAT else 8)

cdef inline void load(Storage storage, const char* src, npy_intp step, char* dst,
                      npy_intp n) noexcept nogil:
    if storage == STORE_HALF:
        rk_load_half(src, step, <float*>dst, n)
    elif storage == STORE_FLOAT:
        rk_load_float(src, step, <float*>dst, n)
    else:
        rk_load_double(src, step, <double*>dst, n)

cdef inline void store(Storage storage, const char* src, char* dst, npy_intp step,
                       npy_intp n) noexcept nogil:
    if storage == STORE_HALF:
        rk_store_half(<const float*>src, dst, step, n)
    elif storage == STORE_FLOAT:
        rk_store_float(<const float*>src, dst, step, n)
    else:
        rk_store_double(<const double*>src, dst, step, n)

cdef void run_blocked(const LoopSpec* spec, char** args, const npy_intp* steps,
                      npy_intp n) noexcept nogil:
    """Gather each strided operand into a contiguous buffer, run the contiguous kernel, scatter
    the output if it is strided: a contiguous float32 or float64 operand is used in place (relu
    of x[::2] into a fresh output, 1e5 float32, 1 thread: 62 -> 34 us; _rk.h's gathers then
    took it to 17).

    Handles every stride (negative, 0, any multiple) and float16; each block reads its inputs
    before it writes its output, so an output that is exactly an input stays correct."""
    cdef double buffers[MAX_ARGS][BLOCK]        # double-sized so float64 fits; aligned by type
    cdef char* bufs[MAX_ARGS]
    cdef bint direct[MAX_ARGS]
    cdef npy_intp start = 0, m, i, size = itemsize(spec.storage)
    cdef int k, nin = spec.nin
    # every parameter one value: the scalar-parameter kernel (and its special loop, _ops.py)
    cdef kernel_fn kernel = spec.blocked_scalar_params
    for k in range(spec.ndata, nin):
        if steps[k] != 0:
            kernel = NULL
    if kernel == NULL:
        kernel = spec.blocked
    for k in range(nin + 1):
        bufs[k] = <char*>buffers[k]
        direct[k] = spec.storage != STORE_HALF and steps[k] == size
    # a step-0 operand (a scalar, or broadcast along this loop) is converted once, not per block
    for k in range(nin):
        if steps[k] == 0:
            load(spec.storage, args[k], 0, bufs[k], 1)
            for i in range(1, BLOCK):
                if spec.storage == STORE_DOUBLE:
                    (<double*>bufs[k])[i] = (<double*>bufs[k])[0]
                else:
                    (<float*>bufs[k])[i] = (<float*>bufs[k])[0]
    while start < n:
        m = n - start if n - start < BLOCK else BLOCK
        for k in range(nin + 1):
            if direct[k]:
                bufs[k] = args[k] + start * size
            elif steps[k] != 0 and k < nin:
                load(spec.storage, args[k] + start * steps[k], steps[k], bufs[k], m)
        kernel(bufs, m)
        if not direct[nin]:
            store(spec.storage, bufs[nin], args[nin] + start * steps[nin], steps[nin], m)
        start += m

cdef enum Path:
    CONTIGUOUS
    SCALAR_PARAMS
    BLOCKED

cdef void run_paged(const LoopSpec* spec, Path path, char** piece, const npy_intp* steps,
                    npy_intp n) noexcept nogil:
    """Run a contiguous kernel one page of output at a time, first touching the next page of
    every input stream. Past the TLB's reach each new page costs a page walk (on this VM a nested
    one) that a loop of ~80 instructions per vector cannot overlap: the out-of-order window ends
    a few cache lines ahead, and the hardware prefetchers stop at page boundaries. One prefetch
    per page and stream starts the walk and the stream a page early (1e7 float32 out=, 2 threads:
    gelu 10.2 -> 4.6 ms, elu 8.3 -> 3.8, sigmoid 3.1 -> 2.7; docs/performance.md)."""
    cdef kernel_fn kernel = spec.contiguous if path == CONTIGUOUS else spec.scalar_params
    cdef npy_intp page = PAGE // steps[spec.nin], m, done = 0
    cdef int k
    while done < n:
        m = page if done + page <= n else n - done
        if done + 2 * page <= n:
            for k in range(spec.nin):
                if steps[k] != 0:
                    rk_prefetch_line(piece[k] + page * steps[k])
        kernel(piece, m)
        for k in range(spec.nin + 1):
            piece[k] += m * steps[k]
        done += m

cdef npy_intp stream_from = STREAM_FROM       # (the tests lower it to take every call that way)

cdef void run_streamed(const LoopSpec* spec, Path path, char** piece, const npy_intp* steps,
                       npy_intp n) noexcept nogil:
    """Run a contiguous kernel STREAM_BLOCK bytes of output at a time into a buffer in L1, which
    non-temporal stores then copy out: a large output is written without each of its lines first
    being read from memory (1e7 float64 relu out=, 2 threads: 1.3x; docs/performance.md)."""
    cdef kernel_fn kernel = spec.contiguous if path == CONTIGUOUS else spec.scalar_params
    cdef double space[128 + 8]                # STREAM_BLOCK bytes on a cache line
    cdef char* buffer = <char*>((<size_t>space + 63) & ~(<size_t>63))
    cdef char* out = piece[spec.nin]
    cdef npy_intp block = STREAM_BLOCK // steps[spec.nin], m, done = 0
    cdef int k
    piece[spec.nin] = buffer
    while done < n:
        m = block if done + block <= n else n - done
        kernel(piece, m)
        rk_stream(out + done * steps[spec.nin], buffer, m * steps[spec.nin])
        for k in range(spec.nin):
            piece[k] += m * steps[k]
        done += m
    rk_stream_fence()

cdef inline void run_piece(const LoopSpec* spec, Path path, bint paged, bint stream, char** args,
                           const npy_intp* steps, npy_intp start, npy_intp n) noexcept nogil:
    cdef char* piece[MAX_ARGS]
    cdef int k
    for k in range(spec.nin + 1):
        piece[k] = args[k] + start * steps[k]
    if paged:
        run_paged(spec, path, piece, steps, n)
    elif stream:
        run_streamed(spec, path, piece, steps, n)
    elif path == CONTIGUOUS:
        spec.contiguous(piece, n)
    elif path == SCALAR_PARAMS:
        spec.scalar_params(piece, n)
    else:
        run_blocked(spec, piece, steps, n)

cdef Path choose_path(const LoopSpec* spec, const npy_intp* steps) noexcept nogil:
    if spec.contiguous == NULL:
        return BLOCKED
    cdef npy_intp size = itemsize(spec.storage)
    cdef int k
    if steps[spec.nin] != size:
        return BLOCKED
    for k in range(spec.ndata):
        if steps[k] != size:
            return BLOCKED
    cdef bint all_contiguous = True, all_scalar = True
    for k in range(spec.ndata, spec.nin):
        all_contiguous = all_contiguous and steps[k] == size
        all_scalar = all_scalar and steps[k] == 0
    if all_contiguous:
        return CONTIGUOUS
    if all_scalar and spec.scalar_params != NULL:
        return SCALAR_PARAMS
    return BLOCKED

cdef struct UfuncJob:
    const LoopSpec* spec
    Path path
    char** args
    const npy_intp* steps
    bint paged
    bint stream

cdef void ufunc_piece(void* job, npy_intp start, npy_intp stop) noexcept nogil:
    cdef UfuncJob* j = <UfuncJob*>job
    run_piece(j.spec, j.path, j.paged, j.stream, j.args, j.steps, start, stop - start)

cdef inline bint output_overlaps_input(const LoopSpec* spec, char** args, const npy_intp* steps,
                                       npy_intp n) noexcept nogil:
    """Whether the output shares memory with an input other than element for element. NumPy
    passes such operands only when the output trails the input, safe for a loop that runs
    forward (np.sqrt(a[1:], out=a[:-1])): one thread, since a later chunk would overwrite what an
    earlier one has yet to read."""
    cdef npy_intp size = itemsize(spec.storage), span
    cdef char* lo
    cdef char* hi
    cdef char* out_lo
    cdef char* out_hi
    cdef int k
    span = (n - 1) * steps[spec.nin]
    out_lo = args[spec.nin] + (span if span < 0 else 0)
    out_hi = args[spec.nin] + (0 if span < 0 else span) + size
    for k in range(spec.nin):
        if args[k] == args[spec.nin] and steps[k] == steps[spec.nin]:
            continue
        span = (n - 1) * steps[k]
        lo = args[k] + (span if span < 0 else 0)
        hi = args[k] + (0 if span < 0 else span) + size
        if lo < out_hi and out_lo < hi:
            return True
    return False

cdef inline bint output_is_an_input(const LoopSpec* spec, char** args) noexcept nogil:
    cdef int k
    for k in range(spec.nin):
        if args[k] == args[spec.nin]:
            return True
    return False

# ---- the ufunc loop -----------------------------------------------------------------------------
cdef void ufunc_loop(char** args, const npy_intp* dims, const npy_intp* steps,
                     void* data) noexcept nogil:
    cdef const LoopSpec* spec = <const LoopSpec*>data
    cdef npy_intp n = dims[0]
    if n <= 0:
        return
    cdef npy_intp out_step = steps[spec.nin]
    cdef UfuncJob job
    cdef char* rest[MAX_ARGS]
    cdef npy_intp head
    cdef int k
    job.spec, job.args, job.steps = spec, args, steps
    job.path = choose_path(spec, steps)
    job.paged = job.path != BLOCKED and spec.work != WORK_MEMORY and n * steps[0] >= PREFETCH_FROM
    job.stream = False
    if (job.path != BLOCKED and n * out_step >= ALIGN_FROM
            and (<size_t>args[spec.nin]) % out_step == 0):
        # the elements before the output's first 64-byte boundary go first, so that the vector
        # stores (and every chunk start) are aligned: a store across two cache lines costs (relu in
        # place, 2e6 float32, 2 threads: 48-51 us aligned, 60-64 us 16 bytes off). Not for small
        # calls, where the extra piece costs more (relu 1e3: +20-60 ns of 350) than it saves.
        head = (<npy_intp>(-<size_t>args[spec.nin]) & 63) // out_step
        if 0 < head < n:
            run_chunked(ufunc_piece, &job, head, 1)
            for k in range(spec.nin + 1):
                rest[k] = args[k] + head * steps[k]
            job.args = args = rest
            n -= head
    # parameters count as data (a per-element parameter is a stream like any other), float16 as
    # the float32 it is computed in (its conversions cost as much as float32's memory traffic:
    # float16 relu out= gained 1.6x from 2 threads at 1e5 elements, 1.36x at 5e4)
    cdef int nt = threads_for(n, 4 * (spec.nin + 1) if spec.storage == STORE_HALF
                              else itemsize(spec.storage) * (spec.nin + 1), spec.work)
    cdef bint overlaps = output_overlaps_input(spec, args, steps, n)
    if nt > 1 and overlaps:
        nt = 1
    # not in place (the output's lines are in cache already when they are written), nor into
    # fresh memory, whose lines the zeroing left in cache (1e7 float32 relu allocating: 0.9x)
    job.stream = (job.path != BLOCKED and spec.work == WORK_MEMORY and n * out_step >= stream_from
                  and not overlaps and not output_is_an_input(spec, args)
                  and not rk_page_untouched(args[spec.nin] + n * out_step // 2))
    if not run_fresh(ufunc_piece, &job, n, nt, args[spec.nin], out_step):
        run_chunked(ufunc_piece, &job, n, nt)

# ---- building ufuncs ----------------------------------------------------------------------------
cdef enum:
    NDTYPES = 3          # float16, float32, float64: in that order, so float16 stays float16

cdef char DTYPE_CODES[NDTYPES]
DTYPE_CODES[0] = cnp.NPY_FLOAT16
DTYPE_CODES[1] = cnp.NPY_FLOAT
DTYPE_CODES[2] = cnp.NPY_DOUBLE

cdef object make_ufunc(LoopSpec* specs, cnp.PyUFuncGenericFunction* funcs, void** data,
                       char* types, str name):
    """A ufunc with one loop per dtype; every array argument lives as long as the module."""
    cdef int d, k, nargs = specs[0].nin + 1
    for d in range(NDTYPES):
        funcs[d] = <cnp.PyUFuncGenericFunction>ufunc_loop
        data[d] = &specs[d]
        for k in range(nargs):
            types[d * nargs + k] = DTYPE_CODES[d]
    encoded = name.encode()
    _keep_alive.append(encoded)     # NumPy keeps the name pointer, not a copy
    ufunc = cnp.PyUFunc_FromFuncAndData(funcs, data, types, NDTYPES, specs[0].nin, 1,
                                        cnp.PyUFunc_None, encoded, NULL, 0)
    ufunc.__module__ = "relukit"    # pickles name relukit, never a CPU-specific module
    return ufunc

_keep_alive = []

# ---- Python-level controls ----------------------------------------------------------------------
def set_thread_limit(int n):
    global thread_limit
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    thread_limit = n

def set_block_limit(int n):
    """The calling thread's threads(n) limit."""
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    rk_set_block_limit(n)

def get_thread_limit():
    return relukit_limit()

def get_num_threads():
    return effective_threads()

def get_thresholds():
    return {name: thresholds[i] for i, name in enumerate(WORK_CLASS_NAMES)}

def set_threshold(str work, npy_intp n):
    thresholds[WORK_CLASS_NAMES.index(work)] = n

def get_stream_from():
    return stream_from

def set_stream_from(npy_intp nbytes):
    global stream_from
    stream_from = nbytes

def openmp_version():
    return rk_openmp_version
