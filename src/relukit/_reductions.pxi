# Reductions that are not elementwise (included by _kernels.pyx.tp, compiled per SIMD level).
#
# Determinism: a result must not depend on the thread count or the SIMD level. The summation order
# is therefore fixed by the shape alone: the work is cut into items whose bounds depend only on the
# shape, items run in parallel into their own partial sums, and partials are added in item order.
# Inside an item, long rows are summed with LANES independent accumulators (element i feeds
# accumulator i % LANES, which 4-, 8- and 16-wide vectors all compute alike). Sums run in double.

cdef enum:
    LANES = 16
    ITEM = 16384             # about this many elements per work item
    SHORT_ROW = 256          # rows shorter than this are summed across rows instead (one row at a
                             # time has a scalar tail per row: rows of 125, 1e7 float32 2.3x slower)
    MAX_SCRATCH = 1 << 16    # doubles of partial sums (512 KiB) unless one row is wider: 8 MiB of
                             # fresh scratch per call cost bias_act_backward more than its threads

cdef inline double prelu_slope_term(double g, double x) noexcept nogil:
    # dL/dw for one element: x * g where the slope was used (x <= 0), else 0 (a select: an inf or
    # NaN g at a positive x does not reach the weight); NaN in x gives NaN
    return keep_nan(x, x * g if x <= 0 else 0)

cdef inline double fold_lanes(double* acc) noexcept nogil:
    """The LANES accumulators added pairwise in a fixed order."""
    cdef int j, width = LANES // 2
    while width:
        for j in range(width):
            acc[j] += acc[j + width]
        width //= 2
    return acc[0]

cdef double row_sum(const real* g, const real* x, npy_intp n) noexcept nogil:
    cdef double acc[LANES]
    cdef npy_intp i = 0
    cdef int j
    for j in range(LANES):
        acc[j] = 0
    while i + LANES <= n:
        for j in range(LANES):
            acc[j] += prelu_slope_term(g[i + j], x[i + j])
        i += LANES
    for j in range(n - i):
        acc[j] += prelu_slope_term(g[i + j], x[i + j])
    return fold_lanes(acc)

cdef inline npy_intp cdiv(npy_intp a, npy_intp b) noexcept nogil:
    return (a + b - 1) // b

cdef struct Layout:
    npy_intp outer, channels, inner
    npy_intp width                # channels * inner: one outer row
    npy_intp rows_per_item        # outer rows per item
    npy_intp chunk                # elements of a row (long rows) or of the slab (short) per item

cdef Layout make_layout(npy_intp outer, npy_intp channels, npy_intp inner) noexcept nogil:
    cdef Layout L
    L.outer, L.channels, L.inner, L.width = outer, channels, inner, channels * inner
    if inner >= SHORT_ROW:
        L.chunk = min(inner, ITEM)
        L.rows_per_item = max(1, ITEM // inner)
    else:
        # each row block keeps a slab of `width` partial sums: fewer, taller blocks when it is wide
        L.chunk = max(1, min(L.width, ITEM))
        L.rows_per_item = max(1, ITEM // L.chunk)
        L.rows_per_item = max(L.rows_per_item, cdiv(outer, max(1, MAX_SCRATCH // max(1, L.width))))
    return L

cdef inline npy_intp row_blocks(const Layout* L) noexcept nogil:
    return cdiv(L.outer, L.rows_per_item)

cdef inline npy_intp row_chunks(const Layout* L) noexcept nogil:
    return cdiv(L.inner, L.chunk)

cdef inline npy_intp slab_chunks(const Layout* L) noexcept nogil:
    return cdiv(L.width, L.chunk)

cdef struct Item:
    npy_intp row0, row1      # the block's outer rows
    npy_intp channel         # long rows: the item's channel
    npy_intp start, stop     # long rows: a range of inner; short rows: a range of the slab (width)
    npy_intp block

cdef inline Item item_of(const Layout* L, npy_intp item) noexcept nogil:
    """Long rows: items ordered (block, channel, chunk); short rows: (block, slab chunk)."""
    cdef Item it
    cdef npy_intp nchunks
    if L.inner >= SHORT_ROW:
        nchunks = row_chunks(L)
        it.block, it.channel = item // (L.channels * nchunks), (item // nchunks) % L.channels
        it.start = (item % nchunks) * L.chunk
        it.stop = min(it.start + L.chunk, L.inner)
    else:
        it.block, it.channel = item // slab_chunks(L), -1
        it.start = (item % slab_chunks(L)) * L.chunk
        it.stop = min(it.start + L.chunk, L.width)
    it.row0 = it.block * L.rows_per_item
    it.row1 = min(it.row0 + L.rows_per_item, L.outer)
    return it

cdef inline npy_intp layout_items(const Layout* L) noexcept nogil:
    if L.inner >= SHORT_ROW:
        return row_blocks(L) * L.channels * row_chunks(L)
    return row_blocks(L) * slab_chunks(L)

cdef npy_intp scratch_size(const Layout* L) noexcept nogil:
    """Doubles of partial sums: one per item (long rows) or a slab per row block (short rows)."""
    if L.inner >= SHORT_ROW:
        return layout_items(L)
    return row_blocks(L) * L.width

cdef void combine_partials(const Layout* L, double* part, double* out) noexcept nogil:
    """out[c] from the items' partial sums, in an order fixed by the layout alone."""
    cdef npy_intp k, c, b, i
    cdef double total
    if L.inner >= SHORT_ROW:
        for c in range(L.channels):
            out[c] = 0
        for k in range(layout_items(L)):       # ordered (block, channel, chunk)
            out[(k // row_chunks(L)) % L.channels] += part[k]
    else:
        for b in range(1, row_blocks(L)):
            for i in range(L.width):
                part[i] += part[b * L.width + i]
        for c in range(L.channels):
            total = 0
            for i in range(L.inner):
                total += part[c * L.inner + i]
            out[c] = total

cdef void long_rows_item(const real* g, const real* x, const Layout* L, npy_intp item,
                         double* partial) noexcept nogil:
    """One channel's elements in a block of rows and one chunk of inner."""
    cdef Item it = item_of(L, item)
    cdef npy_intp o, offset
    cdef double total = 0
    for o in range(it.row0, it.row1):
        offset = (o * L.channels + it.channel) * L.inner + it.start
        total += row_sum(g + offset, x + offset, it.stop - it.start)
    partial[0] = total

cdef void short_rows_item(const real* g, const real* x, const Layout* L, npy_intp item,
                          double* slabs) noexcept nogil:
    """Elementwise sums over a block of rows, for one chunk of the (channels * inner) slab, into
    that block's slab."""
    cdef Item it = item_of(L, item)
    cdef npy_intp o, j
    cdef double* slab = slabs + it.block * L.width
    cdef const real* gr
    cdef const real* xr
    for j in range(it.start, it.stop):
        slab[j] = 0
    for o in range(it.row0, it.row1):
        gr, xr = g + o * L.width, x + o * L.width
        for j in range(it.start, it.stop):
            slab[j] += prelu_slope_term(gr[j], xr[j])

def prelu_scratch_size(npy_intp outer, npy_intp channels, npy_intp inner):
    """Length of the float64 scratch array prelu_weight_grad (and bias_act_backward) needs."""
    cdef Layout L = make_layout(outer, channels, inner)
    return scratch_size(&L)

def prelu_weight_grad(const real[::1] g, const real[::1] x, npy_intp outer, npy_intp channels,
                      npy_intp inner, double[::1] scratch, double[::1] out):
    """out[c] = sum of prelu_slope_term over channel c of g, x viewed as (outer, channels, inner).

    `scratch` is a float64 array of prelu_scratch_size(...) elements."""
    cdef Layout L = make_layout(outer, channels, inner)
    cdef npy_intp k, nitems = layout_items(&L)
    cdef int nt = threads_for(x.shape[0], 2 * sizeof(real), WORK_MEMORY)
    cdef double* part = &scratch[0]
    cdef rk_fpstate fpstate = rk_fp_enter(), worker
    with nogil:
        if inner >= SHORT_ROW:
            if nt <= 1:
                for k in range(nitems):
                    long_rows_item(&g[0], &x[0], &L, k, part + k)
            else:
                for k in prange(nitems, num_threads=nt, schedule='static'):
                    worker = rk_fp_enter()          # each thread's own mode (see _rk.h)
                    long_rows_item(&g[0], &x[0], &L, k, part + k)
                    rk_fp_leave(worker)
        else:
            if nt <= 1:
                for k in range(nitems):
                    short_rows_item(&g[0], &x[0], &L, k, part)
            else:
                for k in prange(nitems, num_threads=nt, schedule='static'):
                    worker = rk_fp_enter()
                    short_rows_item(&g[0], &x[0], &L, k, part)
                    rk_fp_leave(worker)
        combine_partials(&L, part, &out[0])
    rk_fp_leave(fpstate)
