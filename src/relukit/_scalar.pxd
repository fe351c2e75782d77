# The maths of every op, one element at a time: the only place an op's formula is written.
#
# Rules that keep these vectorisable and exact (DESIGN section 4):
# - operands are plain values (loaded by the caller), never loads inside a branch;
# - selects, not multiplies, where the derivative is zero: a dead unit's gradient is 0 even when
#   g is NaN or inf;
# - NaN in x always reaches the output: every select chain ends in `x` for the unordered case;
# - constants are ints or `<real>` casts, so float32 code never turns into double arithmetic.

from libc.math cimport sqrt, fabs, copysign, INFINITY

ctypedef fused real:
    float
    double


cdef inline real keep_nan(real x, real value) noexcept nogil:
    """`value`, or x itself when x is NaN: every backward ends here so NaN in x reaches the output."""
    return value if x == x else x

# ---- relu: max(x, 0); derivative 1[x > 0], 0 at 0 ----------------------------------------------
cdef inline real relu_forward(real x) noexcept nogil:
    # `x <= 0` is false for NaN, which passes through; -0.0 becomes +0.0, as np.maximum(x, 0)
    return 0 if x <= 0 else x

cdef inline real relu_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g if x > 0 else 0)

# ---- leaky_relu: x > 0 ? x : s*x; derivative 1 or s, s at 0 --------------------------------------
cdef inline real leaky_relu_forward(real x, real negative_slope) noexcept nogil:
    return x if x > 0 else x * negative_slope

cdef inline real leaky_relu_backward(real g, real x, real negative_slope) noexcept nogil:
    return keep_nan(x, g if x > 0 else g * negative_slope)

# ---- relu6: min(max(x, 0), 6); derivative 1[0 < x < 6] ------------------------------------------
cdef inline real relu6_forward(real x) noexcept nogil:
    return 0 if x <= 0 else (6 if x >= 6 else x)

cdef inline real relu6_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g if (x > 0) & (x < 6) else 0)

# ---- hardtanh: clip(x, min_val, max_val); derivative 1[min_val < x < max_val] --------------------
cdef inline real hardtanh_forward(real x, real min_val, real max_val) noexcept nogil:
    # strict compares, as np.clip: hardtanh(-0.0, 0.0, 1.0) is -0.0
    return min_val if x < min_val else (max_val if x > max_val else x)

cdef inline real hardtanh_backward(real g, real x, real min_val, real max_val) noexcept nogil:
    return keep_nan(x, g if (x > min_val) & (x < max_val) else 0)

# ---- threshold: x > t ? x : v; derivative 1[x > t] ------------------------------------------------
cdef inline real threshold_forward(real x, real threshold, real value) noexcept nogil:
    return value if x <= threshold else x

cdef inline real threshold_backward(real g, real x, real threshold, real value) noexcept nogil:
    return keep_nan(x, g if x > threshold else 0)

# ---- hardshrink: |x| > lambd ? x : 0; derivative 1[|x| > lambd] ------------------------------------
cdef inline real hardshrink_forward(real x, real lambd) noexcept nogil:
    return 0 if (x >= -lambd) & (x <= lambd) else x

cdef inline real hardshrink_backward(real g, real x, real lambd) noexcept nogil:
    return keep_nan(x, 0 if (x >= -lambd) & (x <= lambd) else g)

# ---- softshrink: x - lambd, x + lambd or 0; derivative 1[|x| > lambd] ------------------------------
cdef inline real softshrink_forward(real x, real lambd) noexcept nogil:
    return x - lambd if x > lambd else (x + lambd if x < -lambd else keep_nan(x, 0))

cdef inline real softshrink_backward(real g, real x, real lambd) noexcept nogil:
    return keep_nan(x, g if (x > lambd) | (x < -lambd) else 0)

cdef inline real softshrink_backward_from_output(real g, real y, real lambd) noexcept nogil:
    # y is 0 exactly where |x| <= lambd (x - lambd of two distinct floats is never 0)
    return keep_nan(y, 0 if y == 0 else g)

# ---- hardsigmoid: relu6(x + 3) / 6; derivative 1/6 on (-3, 3) --------------------------------------
cdef inline real hardsigmoid_forward(real x) noexcept nogil:
    # (x + 3) / 6, not x / 6 + 0.5: near -3 the latter cancels. x + 3 is exact there (Sterbenz)
    return 0 if x <= -3 else (1 if x >= 3 else (x + 3) / 6)

cdef inline real hardsigmoid_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g / 6 if (x > -3) & (x < 3) else 0)

cdef inline real hardsigmoid_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g / 6 if (y > 0) & (y < 1) else 0)

# ---- hardswish: x * relu6(x + 3) / 6; derivative 0 (x <= -3), (2x + 3) / 6, 1 (x >= 3) ---------------
cdef inline real hardswish_forward(real x) noexcept nogil:
    # the saturated branches are selected, so x * (x + 3) overflowing for huge x never shows;
    # float32 runs in double, where x * (x + 3) is exact and only the division rounds
    cdef double wide = x
    return 0 if x <= -3 else (x if x >= 3 else <real>(wide * (wide + 3) / 6))

cdef inline real hardswish_backward(real g, real x) noexcept nogil:
    # (2x + 3) / 6, not x / 3 + 0.5, which cancels near the minimum at -1.5
    cdef double wide = x
    return keep_nan(x, 0 if x <= -3 else (g if x >= 3 else <real>(g * ((2 * wide + 3) / 6))))

# ---- softsign: x / (1 + |x|); derivative 1 / (1 + |x|)**2 -----------------------------------------
cdef inline real softsign_forward(real x) noexcept nogil:
    cdef double wide = x
    cdef real r = <real>(wide / (1 + fabs(wide)))
    return copysign(<real>1, x) if fabs(x) == INFINITY else r

cdef inline real softsign_backward(real g, real x) noexcept nogil:
    # 1 / (1 + |x|) squared, not (1 + |x|)**2 inverted, which overflows long before the result
    # underflows; float32 runs in double
    cdef double r = 1 / (1 + fabs(<double>x))
    return keep_nan(x, <real>(g * (r * r)))

cdef inline real softsign_backward_from_output(real g, real y) noexcept nogil:
    cdef double d = 1 - fabs(<double>y)
    return keep_nan(y, <real>(g * (d * d)))

# ---- sparse_plus: 0, (x + 1)**2 / 4, x on (-inf, -1], (-1, 1), [1, inf) -----------------------------
cdef inline real sparse_plus_forward(real x) noexcept nogil:
    cdef double u = <double>x + 1
    return 0 if x <= -1 else (x if x >= 1 else <real>(u * u / 4))

cdef inline real sparse_plus_backward(real g, real x) noexcept nogil:
    return keep_nan(x, 0 if x <= -1 else (g if x >= 1 else <real>(g * ((<double>x + 1) / 2))))

cdef inline real sparse_plus_backward_from_output(real g, real y) noexcept nogil:
    # on (-1, 1) y = (x + 1)**2 / 4, so the derivative (x + 1) / 2 is sqrt(y)
    return keep_nan(y, 0 if y <= 0 else (g if y >= 1 else <real>(g * sqrt(<double>y))))

# ---- squareplus: (x + sqrt(x**2 + b)) / 2; derivative (1 + x / sqrt(x**2 + b)) / 2 ------------------
cdef inline real squareplus_root(real x, real b) noexcept nogil:
    """sqrt(x*x + b) without overflow. Beyond 2**60 (float32) or 2**500 (float64) x*x would soon
    overflow, and b (for b below 2**96 or 2**947) no longer changes the rounded root: it is |x|."""
    cdef real t = fabs(x)
    cdef real big = <real>1.152921504606847e18 if real is float else <real>3.273390607896142e150
    return t if t > big else sqrt(x * x + b)

cdef inline real squareplus_forward(real x, real b) noexcept nogil:
    # for x < 0 the sum x + s cancels; b / (2 (s - x)) is the same value without cancellation
    cdef real s = squareplus_root(x, b)
    return (x + s) / 2 if x >= 0 else b / (2 * (s - x))

cdef inline real squareplus_backward(real g, real x, real b) noexcept nogil:
    # (1 + x/s) / 2 cancels for x < 0; it equals b / (2 s (s - x)) there, divided in two steps so
    # that s (s - x) cannot overflow
    cdef real s = squareplus_root(x, b)
    cdef real ratio = x / s if fabs(x) < INFINITY else <real>1     # inf / inf would be NaN
    cdef real d = (1 + ratio) / 2 if x >= 0 else (b / (s - x)) / (2 * s)
    return keep_nan(x, g * d)

cdef inline real squareplus_backward_from_output(real g, real y, real b) noexcept nogil:
    # with x = y - b/(4y) and s = y + b/(4y): (1 + x/s) / 2 = 4y**2 / (4y**2 + b)
    cdef double w = y, q = 4 * w * w
    cdef double d = q / (q + b) if w < 1 else 1 / (1 + (b / (4 * w)) / w)
    return keep_nan(y, <real>(g * d))
