# The maths of every op, one element at a time: the only place an op's formula is written.
#
# Rules that keep these vectorisable and exact (DESIGN section 4):
# - operands are plain values (loaded by the caller), never loads inside a branch;
# - selects, not multiplies, where the derivative is zero: a dead unit's gradient is 0 even when
#   g is NaN or inf;
# - NaN in x always reaches the output: every select chain ends in `x` for the unordered case;
# - constants are ints or `<real>` casts, so float32 code never turns into double arithmetic.

ctypedef fused real:
    float
    double

# ---- relu: max(x, 0); derivative 1[x > 0], 0 at 0 ----------------------------------------------
cdef inline real relu_forward(real x) noexcept nogil:
    # `x <= 0` is false for NaN, which passes through; -0.0 becomes +0.0, as np.maximum(x, 0)
    return 0 if x <= 0 else x

cdef inline real relu_backward(real g, real x) noexcept nogil:
    return g if x > 0 else (0 if x <= 0 else x)

# ---- leaky_relu: x > 0 ? x : s*x; derivative 1 or s, s at 0 --------------------------------------
cdef inline real leaky_relu_forward(real x, real negative_slope) noexcept nogil:
    return x if x > 0 else x * negative_slope

cdef inline real leaky_relu_backward(real g, real x, real negative_slope) noexcept nogil:
    return g if x > 0 else (g * negative_slope if x <= 0 else x)
