# The maths of every op, one element at a time: the only place an op's formula is written.
#
# Rules that keep these vectorisable and exact (DESIGN section 4):
# - operands are plain values (loaded by the caller), never loads inside a branch;
# - selects, not multiplies, where the derivative is zero: a dead unit's gradient is 0 even when
#   g is NaN or inf;
# - NaN in x always reaches the output: every select chain ends in `x` for the unordered case;
# - Cython writes an int literal as a double constant: in float32 code a compare with it stays
#   float (gcc narrows exact constants), but arithmetic with it runs in double and rounds once at
#   the end. That is used on purpose where it makes float32 correctly rounded (hardsigmoid,
#   hardswish, sparse_plus); elsewhere constants are `<real>` casts.

from libc.math cimport sqrt, fabs, copysign, INFINITY

from _vecmath cimport real, vexp, vexpm1, vlog1p, vtanh, verfc, vsigmoid, vsoftplus


cdef inline real keep_nan(real x, real value) noexcept nogil:
    """`value`, or x itself when x is NaN: every backward ends here so NaN in x reaches the output."""
    return value if x == x else x


cdef inline double product_error(double a, double b, double p) noexcept nogil:
    """a * b - p exactly, for p = a * b rounded (Dekker's method: no FMA is assumed). Only for
    |a|, |b| below 2**995, where the 27-bit split cannot overflow."""
    cdef double split = 134217729.0
    cdef double ah = split * a - (split * a - a), al = a - ah
    cdef double bh = split * b - (split * b - b), bl = b - bh
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


cdef inline double fast_two_sum_error(double a, double b, double s) noexcept nogil:
    """a + b - s exactly, for s = a + b rounded and |a| >= |b| (Fast2Sum)."""
    return b - (s - a)

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
    # the saturated branches are selected, so x * (x + 3) overflowing for huge x never shows.
    # float32 runs in double, where x * (x + 3) is exact and only the division rounds; float64
    # carries the roundings of x + 3, of the product and of the division (all recovered exactly)
    # to one final rounding: x (x + 3) / 6 rounded three times is up to 1.7 ULP off.
    cdef double wide = x, u, eu, p, ep, q, rem
    if real is float:
        q = wide * (wide + 3) / 6
    else:
        u = wide + 3
        eu = fast_two_sum_error(3.0, wide, u)           # |x| < 3 where it is used
        p = wide * u
        ep = product_error(wide, u, p) if fabs(wide) < 8 else 0.0
        q = p / 6
        rem = (p - 6 * q) - product_error(q, 6.0, 6 * q) if fabs(wide) < 8 else 0.0
        q = q + (rem + ep + wide * eu) / 6
    return 0 if x <= -3 else (x if x >= 3 else <real>q)

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
    return keep_nan(x, <real>((g * r) * r))          # g first: r * r alone may underflow

cdef inline real softsign_backward_from_output(real g, real y) noexcept nogil:
    cdef double d = 1 - fabs(<double>y)
    return keep_nan(y, <real>((g * d) * d))

# ---- sparse_plus: 0, (x + 1)**2 / 4, x on (-inf, -1], (-1, 1), [1, inf) -----------------------------
cdef inline real sparse_plus_forward(real x) noexcept nogil:
    # float32 runs in double (exact square, one rounding); float64 carries the roundings of x + 1
    # and of the square to the end: (x + 1)^2 = u^2 + 2 u eu (+ eu^2, negligible)
    cdef double u = <double>x + 1, eu, p, q
    if real is float:
        q = u * u / 4
    else:
        eu = fast_two_sum_error(1.0, x, u)               # |x| < 1 where it is used
        p = u * u
        q = (p + (product_error(u, u, p) + 2 * u * eu)) / 4 if fabs(u) < 4 else p / 4
    return 0 if x <= -1 else (x if x >= 1 else <real>q)

cdef inline real sparse_plus_backward(real g, real x) noexcept nogil:
    return keep_nan(x, 0 if x <= -1 else (g if x >= 1 else <real>(g * ((<double>x + 1) / 2))))

cdef inline real sparse_plus_backward_from_output(real g, real y) noexcept nogil:
    # on (-1, 1) y = (x + 1)**2 / 4, so the derivative (x + 1) / 2 is sqrt(y)
    return keep_nan(y, 0 if y <= 0 else (g if y >= 1 else <real>(g * sqrt(<double>y))))

# ---- squareplus: (x + sqrt(x**2 + b)) / 2; derivative (1 + x / sqrt(x**2 + b)) / 2 ------------------
cdef inline double squareplus_root(double x, double b) noexcept nogil:
    """sqrt(x*x + b) without overflow: beyond 2**500 both terms are scaled by powers of two
    (exact), so b counts whatever its size. float32 values never come near that."""
    cdef double big = fabs(x) > 3.273390607896142e150          # 2**500
    cdef double down = 2.409919865102884e-181 if big else 1.0  # 2**-600
    cdef double up = 4.149515568880993e180 if big else 1.0     # 2**600
    cdef double xs = x * down
    return up * sqrt(xs * xs + (b * down) * down)

cdef inline real squareplus_forward(real x, real b) noexcept nogil:
    # x >= 0: x/2 + s/2 (x + s may overflow); x < 0: the sum cancels, and b / (2 (s - x)) is the
    # same value, written with halves so that s - x cannot overflow. float32 runs in double.
    cdef double w = x, s = squareplus_root(w, b)
    return <real>(w * 0.5 + s * 0.5 if w >= 0 else (b * 0.25) / (s * 0.5 - w * 0.5))

cdef inline real squareplus_backward(real g, real x, real b) noexcept nogil:
    # x >= 0: g (1 + x/s) / 2; x < 0: 1 + x/s cancels and equals b / (s (s - x)) = b / (2 s h)
    cdef double w = x, s = squareplus_root(w, b), h = s * 0.5 - w * 0.5
    cdef double ratio = w / s if fabs(w) < INFINITY else 1.0           # inf / inf would be NaN
    cdef double tail = (b / s) * 0.25, slope = tail / h          # slope = b / (2 s (s - x)) <= 1/2
    # g * slope cannot overflow; only where slope is nearly subnormal (then h >= 1) does g go in
    # first, so that a huge g times a tiny slope keeps its digits
    cdef double d = g * ((1 + ratio) * 0.5) if w >= 0 else (
        g * slope if slope > 1e-290 else (g / h) * tail)
    return keep_nan(x, <real>d)

cdef inline real squareplus_backward_from_output(real g, real y, real b) noexcept nogil:
    # with x = y - b/(4y) and s = y + b/(4y): (1 + x/s) / 2 = 4y^2 / (4y^2 + b)
    cdef double w = y, q = 4 * w * w
    cdef double slope = q / (q + b), g4y = g * (4 * w)
    # where the slope is nearly subnormal, g goes in before it is formed (g * 4y first unless that
    # overflows, which needs y not tiny; then 4y / (q + b) is not subnormal)
    cdef double tiny = (g4y / (q + b)) * w if fabs(g4y) < INFINITY else (g * ((4 * w) / (q + b))) * w
    cdef double d = (g * slope if slope > 1e-290 else tiny) if w < 1 else g / (1 + (b / (4 * w)) / w)
    return keep_nan(y, <real>d)

# ==== transcendental ops ===========================================================================
# Built on the vectorisable helpers of _vecmath.pxd. Where float32 would lose accuracy to a
# cancellation or to an amplified rounding of an argument, it is computed in double and rounded
# once (`wide` locals); float64 uses forms that avoid the loss.

# ---- sigmoid: 1 / (1 + e^-x); derivative sigmoid(x) sigmoid(-x) -----------------------------------
cdef inline real sigmoid_forward(real x) noexcept nogil:
    return vsigmoid(x)

cdef inline real sigmoid_backward(real g, real x) noexcept nogil:
    # sigmoid(x) sigmoid(-x), not y (1 - y), which cancels as y -> 1
    return keep_nan(x, g * (vsigmoid(x) * vsigmoid(-x)))

cdef inline real sigmoid_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g * (y * (1 - y)))

# ---- tanh; derivative sech(x)**2 ---------------------------------------------------------------------
cdef inline real tanh_forward(real x) noexcept nogil:
    return vtanh(x)

cdef inline real tanh_backward(real g, real x) noexcept nogil:
    # sech^2 = 4t / (1 + t)^2 with t = e^(-2|x|) <= 1: no 1 - tanh^2 cancellation, no overflow
    cdef real t = vexp(-2 * fabs(x))
    return keep_nan(x, g * (4 * t / ((1 + t) * (1 + t))))

cdef inline real tanh_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g * ((1 - y) * (1 + y)))

# ---- tanhshrink: x - tanh(x); derivative tanh(x)**2 -------------------------------------------------
cdef inline double tanhshrink_near_zero(double x) noexcept nogil:
    """x - tanh(x) for |x| < 2, where the difference loses up to 3/x^2 of its bits. Lambert's
    continued fraction tanh x = x / (1 + q), q = x^2 / (3 + x^2 / (5 + ...)), gives
    x - tanh x = x q / (1 + q) with every term positive: nothing cancels. 10 levels reach full
    double precision on (0, 2] (measured: within 3 ULP against mpmath)."""
    cdef double x2 = x * x, q = 0
    cdef int k
    for k in range(10, 0, -1):
        q = x2 / (2 * k + 1 + q)
    return x * q / (1 + q)

cdef inline real tanhshrink_forward(real x) noexcept nogil:
    cdef double wide = x
    return <real>(tanhshrink_near_zero(wide) if fabs(wide) < 2 else wide - vtanh(wide))

cdef inline real tanhshrink_backward(real g, real x) noexcept nogil:
    cdef real t = vtanh(x)
    return keep_nan(x, g * (t * t))

# ---- elu: x > 0 ? x : alpha expm1(x); derivative 1 or alpha e^x (alpha at 0) ------------------------
cdef inline real elu_forward(real x, real alpha) noexcept nogil:
    return x if x > 0 else alpha * vexpm1(x)

cdef inline real elu_backward(real g, real x, real alpha) noexcept nogil:
    return keep_nan(x, g if x > 0 else g * (alpha * vexp(x)))

cdef inline real elu_backward_from_output(real g, real y, real alpha) noexcept nogil:
    # for alpha >= 0: y <= 0 exactly where x <= 0, and alpha e^x = y + alpha there
    return keep_nan(y, g if y > 0 else g * (y + alpha))

# ---- selu: scale * elu(x, alpha) with fixed constants ------------------------------------------------
cdef inline real selu_forward(real x) noexcept nogil:
    return <real>1.0507009873554804934193349852946 * (
        x if x > 0 else <real>1.6732632423543772848170429916717 * vexpm1(x))

cdef inline real selu_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g * (<real>1.0507009873554804934193349852946 if x > 0 else
                            <real>1.7580993408473768599402175208123 * vexp(x)))

cdef inline real selu_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g * (<real>1.0507009873554804934193349852946 if y > 0 else
                            y + <real>1.7580993408473768599402175208123))

# ---- celu: max(0, x) + min(0, alpha expm1(x / alpha)); derivative 1 or e^(x / alpha) ---------------
cdef inline real celu_forward(real x, real alpha) noexcept nogil:
    return x if x > 0 else alpha * vexpm1(x / alpha)

cdef inline real celu_backward(real g, real x, real alpha) noexcept nogil:
    return keep_nan(x, g if x > 0 else g * vexp(x / alpha))

cdef inline real celu_backward_from_output(real g, real y, real alpha) noexcept nogil:
    # for alpha > 0: e^(x / alpha) = y / alpha + 1 where y <= 0
    return keep_nan(y, g if y > 0 else g * (y / alpha + 1))

# ---- softplus: log1p(e^(beta x)) / beta, x above the threshold; derivative sigmoid(beta x) ----------
cdef inline real softplus_forward(real x, real beta, real threshold) noexcept nogil:
    return x if x * beta > threshold else vsoftplus(x * beta) / beta

cdef inline real softplus_backward(real g, real x, real beta, real threshold) noexcept nogil:
    return keep_nan(x, g if x * beta > threshold else g * vsigmoid(x * beta))

cdef inline real softplus_backward_from_output(real g, real y, real beta, real threshold) noexcept nogil:
    # e^(beta y) = 1 + e^(beta x), so sigmoid(beta x) = 1 - e^(-beta y) = -expm1(-beta y)
    return keep_nan(y, g if y * beta > threshold else g * -vexpm1(-beta * y))

# ---- logsigmoid: -softplus(-x); derivative sigmoid(-x) -----------------------------------------------
cdef inline real logsigmoid_forward(real x) noexcept nogil:
    return -vsoftplus(-x)

cdef inline real logsigmoid_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g * vsigmoid(-x))

cdef inline real logsigmoid_backward_from_output(real g, real y) noexcept nogil:
    # e^y = sigmoid(x), so sigmoid(-x) = 1 - e^y = -expm1(y)
    return keep_nan(y, g * -vexpm1(y))

cdef inline double sigmoid_of_product(double x, double beta) noexcept nogil:
    """sigmoid(beta x) where the rounding of beta x is put back to first order
    (sigmoid' = s (1 - s)): in the tail it would cost up to |beta x| ULP. Exact when beta = 1."""
    cdef double bx = x * beta
    cdef double err = product_error(x, beta, bx) if fabs(bx) < 800 else 0.0
    return vsigmoid(bx) * (1 + err * vsigmoid(-bx))

# ---- silu: x sigmoid(beta x); derivative s (1 + beta x (1 - s)), s = sigmoid(beta x) ----------------
# Everything runs in double (float32 rounds once); 1 - s is sigmoid(-beta x), without cancellation.
cdef inline real silu_forward(real x, real beta) noexcept nogil:
    cdef double y = x * sigmoid_of_product(x, beta)
    return 0 if x == -INFINITY else <real>y          # x = -inf would be -inf * 0 (beta > 0)

cdef inline real silu_backward(real g, real x, real beta) noexcept nogil:
    # past |beta x| = 800 the derivative is exactly 1 or 0 (and an inf x would give inf * 0)
    cdef double bx = <double>x * beta
    cdef double d = sigmoid_of_product(x, beta) * (1 + bx * sigmoid_of_product(x, -beta))
    d = (1.0 if x > 0 else 0.0) if fabs(bx) > 800 else d
    return keep_nan(x, <real>(g * d))

# ---- mish: x tanh(softplus(x)); derivative tanh(sp) + x sigmoid(x) sech(sp)**2 -----------------------
cdef inline real mish_forward(real x) noexcept nogil:
    cdef double wide = x
    cdef double y = wide * vtanh(vsoftplus(wide))
    return 0 if x == -INFINITY else <real>y

cdef inline real mish_backward(real g, real x) noexcept nogil:
    # sech(sp)^2 as 4t / (1 + t)^2 with t = e^(-2 sp) <= 1: no 1 - tanh^2 cancellation
    cdef double wide = x, sp = vsoftplus(wide), t = vexp(-2 * sp)
    cdef double d = vtanh(sp) + wide * vsigmoid(wide) * (4 * t / ((1 + t) * (1 + t)))
    d = (1.0 if x > 0 else 0.0) if fabs(wide) > 800 else d
    return keep_nan(x, <real>(g * d))

# ---- gelu: x Phi(x) = x erfc(-x / sqrt2) / 2; derivative Phi(x) + x phi(x) ------------------------
cdef inline double gelu_cdf(double x) noexcept nogil:
    """Phi(x) in double. erfc amplifies a relative error in its argument z = -x/sqrt2 by about
    2 z^2 (hundreds of ULP in the far tail), so the rounding of -x * c (c = 1/sqrt2 rounded) and
    c's own rounding are put back to first order: erfc(z + dz) = erfc(z) (1 - dz r(z)) with
    r = 2/sqrt(pi) e^(-z^2) / erfc(z) ~ 2z + 1/z for z >= 1 (within 14%: the correction is below
    2**-49 relative, so that is enough); below 1 the amplification is under 2."""
    cdef double c = 0.7071067811865476
    cdef double z = -x * c
    cdef double dz = product_error(-x, c, z) - x * -4.833646656726457e-17 if fabs(x) < 1e300 else 0.0
    cdef double r = 2 * z + 1 / z if z >= 1 else 0.0
    return 0.5 * verfc(z) * (1 - dz * r)

cdef inline double gelu_pdf(double x) noexcept nogil:
    """phi(x) = e^(-x^2/2) / sqrt(2 pi), with the rounding of x^2 put back (it would cost up to
    x^2/2 ULP)."""
    cdef double sq = x * x
    cdef double sq_err = product_error(x, x, sq) if fabs(x) < 1e150 else 0.0
    return 0.3989422804014327 * vexp(-0.5 * sq) * (1 - 0.5 * sq_err)

cdef inline real gelu_erf_forward(real x) noexcept nogil:
    cdef double y = x * gelu_cdf(x)
    return 0 if x == -INFINITY else <real>y

cdef inline real gelu_erf_backward(real g, real x) noexcept nogil:
    # beyond |x| = 40 Phi is exactly 0 or 1 and x phi(x) is 0 (an inf x would give inf * 0)
    cdef double wide = x
    cdef double d = gelu_cdf(wide) + wide * gelu_pdf(wide)
    d = (1.0 if x > 0 else 0.0) if fabs(wide) > 40 else d
    return keep_nan(x, <real>(g * d))

# ---- gelu, tanh approximation: x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) --------------------
# 0.5 x (1 + tanh(u)) = x sigmoid(2u): the same value without the cancellation of 1 + tanh(u) < 0.
cdef inline real gelu_tanh_forward(real x) noexcept nogil:
    cdef double wide = x
    cdef double u2 = 1.5957691216057308 * (wide + 0.044715 * wide * wide * wide)
    cdef double y = wide * vsigmoid(u2)
    return 0 if x == -INFINITY else <real>y

cdef inline real gelu_tanh_backward(real g, real x) noexcept nogil:
    # s + x s (1 - s) du2/dx with s = sigmoid(2u); beyond |x| = 1e4 the second term is exactly 0
    cdef double wide = x
    cdef double u2 = 1.5957691216057308 * (wide + 0.044715 * wide * wide * wide)
    cdef double du2 = 1.5957691216057308 * (1 + 0.134145 * wide * wide)
    cdef double s = vsigmoid(u2)
    cdef double d = s + wide * du2 * (s * vsigmoid(-u2))
    d = (1.0 if x > 0 else 0.0) if fabs(wide) > 1e4 else d
    return keep_nan(x, <real>(g * d))
