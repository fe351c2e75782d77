# The maths of every op, one element at a time: the only place an op's formula is written.
#
# Rules that keep these vectorisable and exact (DESIGN section 4):
# - operands are plain values (loaded by the caller), never loads inside a branch;
# - selects, not multiplies, where the derivative is zero: a dead unit's gradient is 0 even when
#   g is NaN or inf;
# - NaN in x always reaches the output: every select chain ends in `x` for the unordered case;
# - Cython writes an int literal as a double constant: in float32 code a compare with it stays
#   float (gcc narrows exact constants), but arithmetic with it runs in double and rounds once at
#   the end. That is used on purpose where it makes float32 correctly rounded (sparse_plus);
#   elsewhere constants are `<real>` casts.

from libc.math cimport sqrt, sqrtf, fabs, fabsf, copysign, INFINITY

from _vecmath cimport (real, vexp, vexp_f32, vexp_f32f, vexpm1, vlog1p, vtanh, verfc, vsigmoid,
                       vsoftplus)
from libc.stdint cimport int16_t, uint16_t, uint32_t, uint64_t
from _vecmath cimport (_abs, _copysign, _fma, _exp_neg, _exp_neg_lean, _exp_neg_mant,
                       _sigmoid_neg, _sigmoid_neg_lean, _k, _exp_mant, _exp_poly, _expm1_mant,
                       _expm1_nonpositive, _ldexp, _pow2, _shift, _shift_k, _log1p_core, _tanh_poly,
                       rk_vm_bits_f64, rk_vm_f64_bits, rk_vm_bits_f32, rk_vm_f32_bits,
                       rk_vm_product_error, rk_vm_product_error_unchecked)


cdef inline real keep_nan(real x, real value) noexcept nogil:
    """`value`, or x itself when x is NaN: every backward ends here so NaN in x reaches the output."""
    return value if x == x else x


cdef inline double product_error(double a, double b, double p) noexcept nogil:
    """a * b - p exactly, for p = a * b rounded (an FMA, or Dekker's method where the target has
    none: _vecmath's rk_vm_product_error). Only for |a|, |b| below 2**995, where Dekker's 27-bit
    split cannot overflow; 0 where |p| < 2**-968 (see there)."""
    return rk_vm_product_error(a, b, p)


cdef inline double bounded_product_error(double a, double b, double p) noexcept nogil:
    """product_error without its check of |p|, for products that cannot fall below 2**-968 (or are
    exactly 0), whatever the input: operands bounded away from 0 by construction, such as a
    polynomial's value or a mantissa. There the FMA and Dekker's product are both exact, so every
    level keeps the same bits, and AVX2 and AVX-512 save two of the check's three instructions."""
    return rk_vm_product_error_unchecked(a, b, p)


cdef inline double two_sum_error(double a, double b, double s) noexcept nogil:
    """a + b - s exactly, for s = a + b rounded, whatever the magnitudes (Knuth's TwoSum)."""
    cdef double bb = s - a
    return (a - (s - bb)) + (b - bb)


cdef inline double fast_two_sum_error(double a, double b, double s) noexcept nogil:
    """a + b - s exactly, for s = a + b rounded and |a| >= |b| (Fast2Sum)."""
    return b - (s - a)

# ---- relu: max(x, 0); derivative 1[x > 0], 0 at 0 ----------------------------------------------
cdef inline real relu_forward(real x) noexcept nogil:
    # `x <= 0` is false for NaN, which passes through; -0.0 becomes +0.0, as np.maximum(x, 0)
    return 0 if x <= 0 else x

cdef inline real relu_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g if x > 0 else 0)

# float16 on its bits (Ufunc.half, "bits"): x <= 0 is a set sign bit, or +0.0, in a number that is not
# NaN. The same bits as converting to float32 and back, without the conversions, which took float16
# relu in place to 1.74x float32's time (1e5, 1 thread).
cdef inline bint half_is_nan(uint16_t h) noexcept nogil:
    return (h & 0x7FFF) > 0x7C00

cdef inline uint16_t relu_forward_half(uint16_t x) noexcept nogil:
    return x if (<int16_t>x >= 0) | half_is_nan(x) else 0

cdef inline uint16_t relu_backward_half(uint16_t g, uint16_t x) noexcept nogil:
    cdef uint16_t r = g if <int16_t>x > 0 else 0
    return x if half_is_nan(x) else r

# ---- leaky_relu: x > 0 ? x : s*x; derivative 1 or s, s at 0 --------------------------------------
cdef inline real leaky_relu_forward(real x, real negative_slope) noexcept nogil:
    return x if x > 0 else x * negative_slope

cdef inline real leaky_relu_backward(real g, real x, real negative_slope) noexcept nogil:
    return keep_nan(x, g if x > 0 else g * negative_slope)

# ---- relu6: min(max(x, 0), 6); derivative 1[0 < x < 6] ------------------------------------------
# (In sequence, as hardswish's selects below, relu6 and hardtanh took 1.2x longer at 2 threads:
# gcc then read x from memory three times a vector.)
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
# (not |x| <= lambd: gcc then reloads x under the compare's mask, and float32 hardshrink at 1e5
# took 1.6x longer on the AMD EPYC, 1 thread; softshrink's backward 1.18x)
cdef inline real hardshrink_forward(real x, real lambd) noexcept nogil:
    return 0 if (x >= -lambd) & (x <= lambd) else x

cdef inline real hardshrink_backward(real g, real x, real lambd) noexcept nogil:
    return keep_nan(x, 0 if (x >= -lambd) & (x <= lambd) else g)

# ---- softshrink: x - lambd, x + lambd or 0; derivative 1[|x| > lambd] ------------------------------
cdef inline real softshrink_forward(real x, real lambd) noexcept nogil:
    # x - lambd, x + lambd or 0 as selects in sequence, the first test last (it wins where a
    # negative lambd, which only the raw ufunc takes, makes both hold): from the nested form gcc
    # made 20 instructions a vector at AVX2, its tests recombined
    cdef real y = keep_nan(x, 0)
    y = x + lambd if x < -lambd else y
    return x - lambd if x > lambd else y

cdef inline real softshrink_backward(real g, real x, real lambd) noexcept nogil:
    return keep_nan(x, g if (x > lambd) | (x < -lambd) else 0)

cdef inline real softshrink_backward_from_output(real g, real y, real lambd) noexcept nogil:
    # y is 0 exactly where |x| <= lambd (x - lambd of two distinct floats is never 0)
    return keep_nan(y, 0 if y == 0 else g)

# ---- hardsigmoid: relu6(x + 3) / 6; derivative 1/6 on (-3, 3) --------------------------------------
cdef inline real div6(real a) noexcept nogil:
    # a / 6 correctly rounded, without a division, for a quotient in the normal range: q = a RN(1/6)
    # is within 1 ULP, its remainder a - 6q exact by FMA, and one FMA step rounds correctly
    # (Markstein). (A subnormal quotient can be a midpoint of its coarser grid, which the step
    # does not round to even.) q times -6, not -q times 6: a NaN then meets only itself, where
    # -q's flipped sign made the baseline's scalar tail and vector body pass on different NaNs.
    cdef real q = a * <real>(1.0 / 6)
    return _fma(_fma(q, <real>-6, a), <real>(1.0 / 6), q)

cdef inline real hardsigmoid_forward(real x) noexcept nogil:
    # (x + 3) / 6, not x / 6 + 0.5: near -3 the latter cancels. x + 3 is exact there (Sterbenz).
    # div6 of x + 3 rounded is within 1.17 ULP; float32 also carries that rounding (Fast2Sum, |x| < 3
    # where used) into div6's step: within 0.5 ULP on every float32 in (-3, 3) (checked against
    # binary64), in float32 lanes 1.5x faster than the same in double with its conversions (1e5,
    # 1 thread: 17.5 -> 11.5 us). float64's is under 2^-53 relative, and is left (30.8 -> 11.8 us
    # against a division, 1e5, 2 threads). x + 3 >= 2^-51 here, so the quotient is normal.
    cdef real u = x + <real>3, q
    if real is float:
        q = u * <real>(1.0 / 6)
        q = _fma(_fma(q, <real>-6, u) + (x - (u - <real>3)), <real>(1.0 / 6), q)   # Fast2Sum: |x| < 3
    else:
        q = div6(u)
    # selects in sequence, the first test last: from a nested conditional gcc recombines the tests
    # into extra compares and mask operations (softshrink's forward took 20 instructions a vector
    # at AVX2 that way, 9 in sequence; hardswish's forward 31 -> 23 in float64)
    q = 1 if x >= 3 else q
    return 0 if x <= -3 else q

# The gradient is g times RN(1/6), one rounding of g / 6 (1 + 2^-54 relative): the correctly
# rounded quotient or its neighbour, within SPEC's 1 ULP, as PyTorch does (its float64 sixth is
# float32's). The division it replaces cost 1.9x (float64, 1e5, 2 threads: 30.7 -> 16.1 us; float32
# 10.7 -> 8.4); div6 would need a division for subnormal quotients (a check on every block cost
# more than it saved: 26.8 us).
cdef inline real hardsigmoid_backward(real g, real x) noexcept nogil:
    return keep_nan(x, g * <real>(1.0 / 6) if (x > -3) & (x < 3) else 0)

cdef inline real hardsigmoid_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g * <real>(1.0 / 6) if (y > 0) & (y < 1) else 0)

# ---- hardswish: x * relu6(x + 3) / 6; derivative 0 (x <= -3), (2x + 3) / 6, 1 (x >= 3) ---------------
cdef inline real hardswish_forward(real x) noexcept nogil:
    # x (x + 3) / 6 rounded three times is up to 1.7 ULP off, so the roundings of x + 3 (Fast2Sum,
    # |x| < 3 where it is used) and of the product (FMA) and the remainder of the quotient (a
    # product with RN(1/6), its remainder p - 6q exact: no division) are carried to one final
    # rounding. float32 does this in float32 lanes: within 0.5 ULP on every float32 in (-3, 3), and
    # 1.36x faster than x (x + 3) / 6 in double with its conversions (1e5, 1 thread: 20.9 -> 15.4
    # us). The saturated branches are selected, so x * (x + 3) overflowing for huge x never shows.
    cdef real u = x + <real>3, eu = x - (u - <real>3), p, q
    cdef double vh, vl, y
    if real is float:
        p = x * u
        q = p * <real>(1.0 / 6)
        q = _fma(_fma(q, <real>-6, p) + _fma(x, eu, _fma(x, u, -p)), <real>(1.0 / 6), q)
        q = x if x >= 3 else q
        return 0 if x <= -3 else q
    # float64: x v, v = (x + 3) / 6 as two doubles (u + eu times 1/6 = ch + cl), so that the last
    # FMA is the one rounding that matters (0.5 + 2^-50 ULP at most): 23 vector instructions a
    # loop step against the remainder's 33 (AVX-512), 61 -> 47 us (1e5, 1 thread, AMD EPYC).
    # Below |x| = 2^-900, x / 2, exact but for an odd subnormal x (a tie: 1 step at most; -0.0
    # stays -0.0); above, every FMA's product is above 2^-968, where the baseline's emulation is
    # exact, so every level has the same bits
    vh = u * 0.16666666666666666
    vl = bounded_product_error(u, 0.16666666666666666, vh) + _fma(u, 9.25185853854297e-18,
                                                                   eu * 0.16666666666666666)
    y = _fma(x, vh, x * vl) if fabs(x) >= 1.1830521861667747e-271 else x * 0.5     # 2^-900
    y = x if x >= 3 else y
    return 0 if x <= -3 else y

cdef inline real hardswish_backward(real g, real x) noexcept nogil:
    # g (2x + 3) / 6, not g (x / 3 + 0.5), which cancels near the minimum at -1.5. The roundings of
    # 2x + 3, of the quotient (a product with RN(1/6), as the forward's) and of the product with g
    # are carried to the end (three roundings would be up to 2 ULP off). float32 in float32 lanes,
    # as the forward (31.1 -> 19.5 us, 1e5, 1 thread; within 0.5 ULP on every float32 x in (-3, 3)
    # with random g): its last step is one FMA, g q + g rem/6, which overflows only where the
    # result does.
    cdef real u = x + x + <real>3, q = u * <real>(1.0 / 6), t, p
    # 2x + 3 = 6q + rem: the FMAs are exact (u - 6q is a product's remainder; 2x + 3 - u is a
    # rounding error, and 3 - u is exact: Sterbenz for u <= 6, above both on u's grid)
    cdef real rem = _fma(q, <real>-6, u) + _fma(x, <real>2, <real>3 - u)
    # (an infinite g would make it inf or NaN, inf * 0, against g q)
    t = g * (rem * <real>(1.0 / 6)) if _abs(g) < INFINITY else 0
    if real is float:
        p = _fma(g, q, t)
    else:
        p = g * q
        p = p + ((product_error(g, q, p) if fabs(g) < 1e290 else 0.0) + t)   # Dekker: g below 2^995
    p = g if x >= 3 else p
    return keep_nan(x, 0 if x <= -3 else p)

# ---- softsign: x / (1 + |x|); derivative 1 / (1 + |x|)**2 -----------------------------------------
cdef inline real softsign_forward(real x) noexcept nogil:
    # (float32 in float32 lanes: two roundings, within 1 ULP; it was 1.6x slower in double)
    cdef real r = x / (<real>1 + _abs(x))
    return _copysign(<real>1, x) if _abs(x) == INFINITY else r

cdef inline bint softsign_backward_rare(real g, real x) noexcept nogil:
    # float32: where r^2 or g r^2 could leave the normal range (then in double, g r r once rounded)
    if real is float:
        return (_abs(x) > <float>1048576.0) | (_abs(g) > <float>1.2676506002282294e30) | (_abs(g) < <float>7.888609052210118e-31)
    return False

cdef inline real softsign_backward_lean(real g, real x) noexcept nogil:
    # float32 in float32 lanes: r = 1 / (1 + |x|) as two floats (the roundings of 1 + |x| and of
    # the quotient recovered), r^2 = r r + 2 r rl in one FMA, then times g
    cdef float a, d, de, r, rl
    if real is float:
        a = _abs(x)
        d = <float>1 + a
        de = (<float>1 - d) + a if a <= <float>1 else (a - d) + <float>1
        r = <float>1 / d
        rl = r * (_fma(-r, d, <float>1) - r * de)
        return keep_nan(x, g * _fma(r, r, <float>2 * (r * rl)))
    return softsign_backward_careful(g, x)

cdef inline real softsign_backward(real g, real x) noexcept nogil:
    return softsign_backward_careful(g, x) if softsign_backward_rare(g, x) else softsign_backward_lean(g, x)

cdef inline real softsign_backward_careful(real g, real x) noexcept nogil:
    # 1 / (1 + |x|) squared, not (1 + |x|)**2 inverted, which overflows long before the result
    # underflows; float32 (the lean form's rare elements) runs in double, g r r (r * r alone may
    # underflow). In float64 that is five roundings (measured 4.05 ULP): there the roundings of
    # 1 + |x| and of the quotient are recovered, r^2 formed by Dekker's product and multiplied by
    # g once, up to |x| = 1e150 (beyond, r^2 nears the subnormals and g r r is within 2 ULP)
    cdef double a = fabs(<double>x), d = 1 + a, r = 1 / d, rd, rl, rr
    if real is float:
        return keep_nan(x, <real>((g * r) * r))
    rd = r * d
    # 1/(1 + a) - r; r d is about 1 (bounded)
    rl = r * (((1 - rd) - bounded_product_error(r, d, rd)) - r * two_sum_error(1.0, a, d))
    rr = r * r
    rr = rr + (product_error(r, r, rr) + 2 * r * rl)
    return keep_nan(x, g * rr if a < 1e150 else (g * r) * r)

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
        q = (p + (bounded_product_error(u, u, p) + 2 * u * eu)) / 4 if fabs(u) < 4 else p / 4   # u >= 2^-53 there
    cdef real y = x if x >= 1 else <real>q       # (in sequence: see hardsigmoid_forward)
    return 0 if x <= -1 else y

cdef inline real sparse_plus_backward(real g, real x) noexcept nogil:
    cdef real d = g if x >= 1 else <real>(g * ((<double>x + 1) / 2))
    return keep_nan(x, 0 if x <= -1 else d)

cdef inline real sparse_plus_backward_from_output(real g, real y) noexcept nogil:
    # on (-1, 1) y = (x + 1)**2 / 4, so the derivative (x + 1) / 2 is sqrt(y)
    cdef real s, d
    if real is float:
        # g s + g (y - s^2) / (2 s) for s = sqrt(y) rounded, its remainder exact by FMA, rounded
        # once: the correction (at most half an ULP of s) needs a few bits only. In float32 lanes
        # (in double, 3.7x slower: two vsqrtpd per 16 elements)
        s = sqrtf(y)
        d = _fma(g, s, g * (_fma(-s, s, y) * (<float>0.5 * _inverse_rough(s))))
        d = g * s if _abs(g) == INFINITY else d         # (inf times a zero correction)
    else:
        # two roundings, under 1.5 ULP (the baseline's FMA is not exact for the tiny products
        # this would need)
        d = g * sqrt(y)
    d = g if y >= 1 else d                       # (in sequence: see hardsigmoid_forward)
    return keep_nan(y, 0 if y <= 0 else d)

# ---- squareplus: (x + sqrt(x**2 + b)) / 2; derivative (1 + x / sqrt(x**2 + b)) / 2 ------------------
cdef inline double squareplus_root(double x, double b) noexcept nogil:
    """sqrt(x*x + b) without overflow or underflow: beyond 2**500 both terms are scaled down by
    powers of two (exact), so b counts whatever its size; below 2**-500 with b below 2**-900
    (x*x would lose its digits in the subnormals) both are scaled up. float32 values never come
    near either."""
    cdef double big = fabs(x) > 3.273390607896142e150          # 2**500
    cdef double small = (fabs(x) < 3.054936363499605e-151) & (b < 1.4708983551653345e-271)
    cdef double down = 2.409919865102884e-181 if big else (4.149515568880993e180 if small else 1.0)
    cdef double up = 4.149515568880993e180 if big else (2.409919865102884e-181 if small else 1.0)
    cdef double xs = x * down
    return up * sqrt(xs * xs + (b * down) * down)

cdef inline bint squareplus_forward_rare(real x, real b) noexcept nogil:
    # float32: where x^2 + b could overflow or x^2 meet the subnormals first (in double there)
    if real is float:
        return (fabsf(x) > <float>1.152921504606847e18) | (b > <float>1.2676506002282294e30) | (b < <float>8.673617379884035e-19)
    return False

cdef inline real squareplus_forward_lean(real x, real b) noexcept nogil:
    # float32 in float32 lanes: s = sqrt(x^2 + b) within 1 ULP (x^2 + b's relative error is
    # halved by the root); x / 2 + s / 2 in one FMA, or b / (2 (s - x)), where s - x only adds
    cdef float sf
    if real is float:
        sf = sqrtf(_fma(x, x, b))
        sf = _fma(x, <float>0.5, <float>0.5 * sf) if x >= 0 else (<float>0.25 * b) / (<float>0.5 * sf - <float>0.5 * x)
        return keep_nan(x, sf)
    return squareplus_forward_careful(x, b)

cdef inline real squareplus_forward(real x, real b) noexcept nogil:
    return squareplus_forward_careful(x, b) if squareplus_forward_rare(x, b) else squareplus_forward_lean(x, b)

cdef inline real squareplus_forward_careful(real x, real b) noexcept nogil:
    # x >= 0: x/2 + s/2 (x + s may overflow); x < 0: the sum cancels, and b / (2 (s - x)) is the
    # same value, written with halves so that s - x cannot overflow, and b / h <= 2 sqrt(b) formed
    # before the quarter, which a subnormal b would lose. float32 (the lean form's rare elements)
    # runs in double.
    cdef double w = x, s = squareplus_root(w, b)
    return <real>(w * 0.5 + s * 0.5 if w >= 0 else (b / (s * 0.5 - w * 0.5)) * 0.25)

cdef inline bint squareplus_backward_rare(real g, real x, real b) noexcept nogil:
    # float32, also where the slope b / (4 x^2) nears the subnormals (g d must round once)
    if real is float:
        return squareplus_forward_rare(x, b) | (x * x > b * <float>3.3230699894622794e35)   # 2^118
    # float64: where x^2 or b is huge, b tiny (below 2^-900: x^2 may be as tiny, and lose its
    # digits), or the slope b / (4 x^2) nears the subnormals (<= 2.5e-290 once x^2 > 1e289 b)
    return (fabs(x) > 1e150) | (b > 1e307) | (b < 1.4708983551653345e-271) | (x * x > b * 1e289)

cdef inline real squareplus_backward_lean(real g, real x, real b) noexcept nogil:
    # float32 in float32 lanes: x >= 0: g (1/2 + (x/s)/2); x < 0: g b / (2 (x^2 + b + s |x|)), the
    # float64 form below, x^2 + b and s |x| + that in one FMA each (within 2.5 ULP before g).
    # float64: the careful form's values (the same bits) with one division for both signs, not
    # four (1.7x faster, 1e5, 1 thread: the divider is the bottleneck)
    cdef float sm, sf
    cdef double x2, m, s, q
    if real is float:
        sm = _fma(x, x, b)
        sf = sqrtf(sm)
        sf = _fma(x / sf, <float>0.5, <float>0.5) if x >= 0 else b / (<float>2 * _fma(sf, -x, sm))
        return keep_nan(x, g * sf)
    x2 = x * x
    m = x2 + b
    s = sqrt(m)
    q = (x if x >= 0 else b) / (s if x >= 0 else (2 * m + 2 * (s * -x)) + 2 * (
        two_sum_error(x2, b, m) + product_error(x, x, x2)))
    return keep_nan(x, g * ((1 + q) * 0.5) if x >= 0 else g * q)

cdef inline real squareplus_backward(real g, real x, real b) noexcept nogil:
    return squareplus_backward_careful(g, x, b) if squareplus_backward_rare(g, x, b) else squareplus_backward_lean(g, x, b)

cdef inline real squareplus_backward_careful(real g, real x, real b) noexcept nogil:
    # x >= 0: g (1 + x/s) / 2; x < 0: 1 + x/s cancels and equals b / (s (s - x)) = b / (2 s h)
    cdef double w = x, s = squareplus_root(w, b), h = s * 0.5 - w * 0.5
    cdef double ratio = w / s if fabs(w) < INFINITY else 1.0           # inf / inf would be NaN
    cdef double slope = ((b / s) * 0.25) / h      # slope = b / (2 s (s - x)) <= 1/2
    # g * slope cannot overflow, and for |g| <= 1 it is as good as any order, unless a tiny b
    # (below 2^-900) made b / s subnormal. There, and where the slope is nearly subnormal and
    # |g| > 1 (g must not multiply the digits it lost), b / (4 s h) is formed from the mantissas of
    # b, s and h, their exponents joining g's (scale_product), and rounded once
    cdef double be, se, he
    cdef double mantissas = (split_exponent(b, &be) / (split_exponent(s, &se) * split_exponent(h, &he))) * 0.25
    cdef double d = g * ((1 + ratio) * 0.5) if w >= 0 else (
        g * slope if (((slope > 1e-290) | (fabs(g) <= 1)) & (b > 1.4708983551653345e-271))
                     | (h == INFINITY) else scale_product(g, mantissas, be - se - he))   # x = -inf: 0
    cdef double x2, sm, sme, lean
    if real is double:
        # float64, x < 0: slope's five roundings reached 4.1 ULP (1.5e5 points). The same value is
        # b / (2 (x^2 + b) + 2 s |x|), every term positive, x^2 + b carried exactly: one division.
        # Where x^2 or b is huge or tiny, or the slope nearly subnormal, the form above stays.
        x2 = w * w
        sm = x2 + b
        sme = two_sum_error(x2, b, sm) + product_error(w, w, x2)
        lean = b / ((2 * sm + 2 * (s * -w)) + 2 * sme)
        d = g * lean if (w < 0) & (w > -1e150) & (b < 1e307) & (b > 1.4708983551653345e-271) & (lean > 1e-290) else d
    return keep_nan(x, <real>d)

cdef inline bint squareplus_backward_from_output_rare(real g, real y, real b) noexcept nogil:
    # the lean form's range: 4y^2 + b neither overflows nor loses digits, and the slope is far from
    # the subnormals (y >= 2^-20, b <= 2^40: slope >= 2^-78; float64 2^-200, 2^400). NaN is rare too.
    if real is float:
        return not ((y >= <float>9.5367431640625e-07) & (y <= <float>1048576.0)
                    & (b >= <float>9.094947017729282e-13) & (b <= <float>1099511627776.0))
    return not ((y >= 6.223015277861142e-61) & (y <= 1.6069380442589903e+60)
                & (b >= 3.872591914849318e-121) & (b <= 2.5822498780869086e+120))

cdef inline real squareplus_backward_from_output_lean(real g, real y, real b) noexcept nogil:
    # n / d = 4y^2 / (4y^2 + b), d in one FMA, in the dtype's own lanes. float32 rounds it once in
    # effect: n and d as two terms each (the product's error by FMA, the sum's by TwoSum), q = n / d
    # rounded, and (n - q d + n_lo - q d_lo) / d (the remainder exact by FMA; a few bits of 1 / d
    # are plenty) joins g q in one FMA; g (n / d) alone reached 3.35 ULP (every float32, random g).
    # float64 keeps that plain form (the baseline's FMA is not exact for g q below 2^-968).
    cdef real y4 = <real>4 * y, n, n_lo, d, bb, d_lo, q, c
    if real is double:
        return keep_nan(y, g * ((y4 * y) / _fma(y4, y, b)))
    n = y4 * y
    n_lo = _fma(y4, y, -n)
    d = n + b
    bb = d - n
    d_lo = ((n - (d - bb)) + (b - bb)) + n_lo
    q = n / d
    c = (_fma(-q, d, n) + (n_lo - q * d_lo)) * _inverse_rough(d)
    return keep_nan(y, g * q if _abs(g) == INFINITY else _fma(g, q, g * c))   # (inf times c = 0)

cdef inline real squareplus_backward_from_output(real g, real y, real b) noexcept nogil:
    # with x = y - b/(4y) and s = y + b/(4y): (1 + x/s) / 2 = 4y^2 / (4y^2 + b). Every form below
    # is homogeneous in (y, b) ~ (c y, c^2 b): a tiny y with a tiny b (4y^2 would lose its digits
    # in the subnormals) is scaled up by 2^600; with a larger b the slope is (4y / (q + b)) y, not
    # q / (q + b), so that a subnormal q only meets the sum, where b outweighs it
    cdef double small = (fabs(<double>y) < 3.054936363499605e-151) & (b < 1.4708983551653345e-271)
    cdef double w = y * (4.149515568880993e180 if small else 1.0), q = 4 * w * w
    cdef double bs = (b * 4.149515568880993e180) * 4.149515568880993e180 if small else b
    cdef double slope = ((4 * w) / (q + bs)) * w, g4y = g * (4 * w)
    # where the slope is nearly subnormal, g goes in before it is formed (g * 4y first unless that
    # overflows, which needs y not tiny; then 4y / (q + b) is not subnormal); a NaN g4y takes the
    # first form, where g's NaN meets no other (y = -inf would make 4y / (q + b) one)
    cdef double tiny = (g4y / (q + bs)) * w if fabs(g4y) != INFINITY else (g * ((4 * w) / (q + bs))) * w
    cdef double d = (g * slope if slope > 1e-290 else tiny) if w < 1 else g / (1 + (bs / (4 * w)) / w)
    if squareplus_backward_from_output_rare(g, y, b):
        return keep_nan(y, <real>d)
    return squareplus_backward_from_output_lean(g, y, b)

# ==== transcendental ops ===========================================================================
# Built on the vectorisable helpers of _vecmath.pxd. Where float32 would lose accuracy to a
# cancellation or to an amplified rounding of an argument, it is computed in double and rounded
# once (`wide` locals); float64 uses forms that avoid the loss.

# ---- float64 pieces: exponent folding, carried argument errors -------------------------------------
# float32 computes in double and rounds once, which is plenty. float64 needs more care:
# - silu, mish, gelu and gelu-tanh derivatives have a zero at a negative t0, where their formula is
#   a sum of O(1) terms that cancels: the relative error grows like 1/|d'(t0) (t - t0)|, without
#   bound (1e3 ULP at |t - t0| = 1e-3 was measured for all four, 1e12 ULP at 1e-12).
#   In a window around t0 the kernels use d = h q(s), h = t - t0 formed to half an ULP from t0 as
#   three doubles, q a minimax polynomial relative to d / h (tools/root_expansions.py makes them and
#   says how; the windows are where the direct formulas below would exceed ~2.5 ULP);
# - one exponential per element, e = e^(-|t|) = m 2^k read as its mantissa m and exponent k, so the
#   tail is scaled by 2^k only at the very end, together with the exponent of the factor in front
#   (g, or x for the forward): one rounding even where e^t is subnormal or below the subnormals but
#   g e^t or x e^t is not (x e^x near x = -745 would otherwise lose up to |x|/2 ULP to the rounding
#   of e^x; g = 1e300 times a derivative of 1e-400 is 1e-100, not 0). Every backward whose
#   derivative can leave the normal range does this (times_exp, times_sigmoid,
#   times_sigmoid_slope, sigmoid_slope);
# - arguments carry their own rounding error (beta x, x / alpha, the cubic of gelu-tanh, x^2/2)
#   into the reduction: e^t amplifies a relative error of t by |t| (hundreds of ULP near 700);
# - roundings are counted: Fast2Sum/TwoSum and Dekker's product recover the ones that matter.
# Measured against mpmath (float64; per op ~24000 points concentrated at the zeros, plus the window
# edges, [-1000, 1000], the subnormal tails and |x| up to 1e300): max 2.6 ULP for every forward
# and backward of silu, mish, gelu, gelu-tanh with g = 1, relative error below 3.2 * 2^-53, so g d
# stays within 4 ULP for any g (3.3 measured with g from the subnormals up to 2^1023).

cdef inline double exp_arg(double a) noexcept nogil:
    # below -1500 even 2^1024 e^a (times anything these ops put in front) rounds to 0
    return -1500.0 if a < -1500.0 else a

cdef inline double ldexp_small(double p, double kf) noexcept nogil:
    # p 2^kf for |p| < 2^100 and integral kf: below -1100 the result is 0 and stays it, above 1100
    # it is inf (_ldexp itself needs -2044 <= kf <= 2046)
    kf = 1100.0 if kf > 1100.0 else kf
    return _ldexp(p, -1100.0 if kf < -1100.0 else kf)

cdef inline double split_exponent(double p, double *pe) noexcept nogil:
    """m with p = m 2^pe, 1 <= |m| < 2, for finite nonzero p, subnormals included (they are
    scaled by 2^64 first)."""
    cdef double sub = 18446744073709551616.0 if fabs(p) < 2.2250738585072014e-308 else 1.0
    cdef uint64_t bits = rk_vm_bits_f64(p * sub)
    pe[0] = rk_vm_f64_bits(((bits >> 52) & <uint64_t>0x7FF) + <uint64_t>0x4338000000000000) - (6755399441055744.0 + 1023.0) - (64.0 if sub > 1.0 else 0.0)
    return copysign(rk_vm_f64_bits((bits & <uint64_t>0x000FFFFFFFFFFFFF) | <uint64_t>0x3FF0000000000000), p)

cdef inline double scale_exponent(double p, double kf, double* pm) noexcept nogil:
    """p = *pm 2^pe; returns pe + kf, clamped where |*pm y| (2^-100 < |y| < 2^100) gives 0 or inf
    whatever the exponent (scale_product)."""
    cdef double pe
    pm[0] = split_exponent(p, &pe)
    cdef double k = pe + kf
    k = -1200.0 if k < -1200.0 else k                 # |pm y| < 2^101: 0 from here on
    return 2000.0 if k > 2000.0 else k                # |pm y| > 2^-100: inf from here on

cdef inline double scale_product(double p, double y, double kf) noexcept nogil:
    """p y 2^kf with one rounding (p y's), for 2^-100 < |y| < 2^100 (or y = 0) and integral kf:
    p's exponent joins kf, so neither y 2^kf leaving the normal range nor p y overflowing loses
    anything. For p zero, inf or NaN it is p y (p zero: 0 times a finite number) or p (y 2^kf)."""
    cdef double pm, k = scale_exponent(p, kf, &pm)
    return _ldexp(pm * y, k) if (p != 0) & (fabs(p) < INFINITY) else p * (y if p == 0 else ldexp_small(y, kf))

cdef inline double scale_product2(double p, double y, double yl, double kf) noexcept nogil:
    """scale_product of y + yl, yl a correction below an ULP or so of y: one rounding still (an
    FMA of p's mantissa and y, which the baseline's emulation forms exactly, |pm y| > 2^-101)."""
    cdef double pm, k = scale_exponent(p, kf, &pm)
    return (_ldexp(_fma(pm, y, pm * yl), k) if (p != 0) & (fabs(p) < INFINITY)
            else p * (y if p == 0 else ldexp_small(y, kf)))

cdef inline double quotient_remainder(double n, double d, double q) noexcept nogil:
    """n - q d exactly, for q within a few ULPs of n / d (q d rounded is then within a few ULPs
    of n, and their difference exact: Sterbenz), with product_error's same bits at every level
    (0 past its cut, where nothing needs it)."""
    cdef double p = q * d
    return (n - p) - product_error(q, d, p)

cdef inline double product_low(double x, double beta, double bx) noexcept nogil:
    """x beta - bx exactly, for bx = x beta rounded, where it is used (|bx| < 1600), else 0.
    Dekker needs both factors below 2^995: one above 2^900 (the other is then tiny) is scaled by
    2^-128 for it, exactly."""
    cdef double sx = 2.938735877055719e-39 if fabs(x) > 8.452712498170644e+270 else 1.0
    cdef double sb = 2.938735877055719e-39 if fabs(beta) > 8.452712498170644e+270 else 1.0
    cdef double err = product_error(x * sx, beta * sb, bx * (sx * sb)) * (1 / (sx * sb))
    return err if fabs(bx) < 1600 else 0.0

cdef inline double quotient_low(double x, double alpha, double q) noexcept nogil:
    """x / alpha - q (to first order, exactly enough) for q = x / alpha rounded, where it is used
    (|q| < 1600), else 0. x - q alpha is exact: q alpha is within an ULP or two of x (Sterbenz),
    and Dekker recovers the product's rounding. An alpha beyond 2^+-900 is scaled, with x, by
    2^-+1000 first (exactly, but where x lands in the subnormals: then q is tiny, and its error
    does not matter to the callers), so that Dekker's split neither overflows nor underflows."""
    # 2^-+1000 as arithmetic, not a select: a select on a loop-invariant alpha (one celu alpha
    # for a whole call) kept gcc 12 from vectorising that loop at all (1.1 ms per 1e5, 12x)
    cdef double big = fabs(alpha) > 8.452712498170644e+270
    cdef double small = fabs(alpha) < 1.1754943508222875e-271
    cdef double scale = _pow2(_shift(1.0) + 1000.0 * (small - big))
    cdef double xs = x * scale, a = alpha * scale
    cdef double p = q * a
    cdef double err = ((xs - p) - product_error(q, a, p)) / a   # outside the select: gcc leaves a
    return err if fabs(q) < 1600 else 0.0                       # division in a branch as control flow

cdef inline double times_exp(double p, double c, double a, double alo) noexcept nogil:
    """p c e^(a + alo), alo the rounding error of a, with 2^k and c's exponent folded into p's
    (scale_product): exact to a few roundings whatever the range of e^a, for any c (a zero,
    inf or NaN c goes in as it is). Past |a| = 3000 the result is 0 or inf (or p times 0 or inf)
    anyway, even for |p c| up to 2^2048 (elu's g alpha)."""
    cdef double ce
    cdef double cm = split_exponent(c, &ce)
    cdef double whole = (c != 0) & (fabs(c) < INFINITY)
    cdef double ac = 3000.0 if a > 3000.0 else (-3000.0 if a < -3000.0 else a)
    cdef double kf = _k(ac)
    cdef double m = _exp_mant(ac, alo if fabs(a) <= 1500.0 else 0.0, kf, 1.0, 0.0)
    cdef double r = scale_product(p, (cm if whole else c) * m, kf + (ce if whole else 0.0))
    return r if a < INFINITY else p * (c * a)      # e^inf is inf

cdef inline double times_sigmoid_slope(double p, double c, double t) noexcept nogil:
    """p c sigmoid(t) sigmoid(-t) = p c e / (1 + e)^2 (c a small power of 2, or 1), e = e^-|t| =
    m 2^k, with 2^k folded into p's
    exponent (scale_product). The roundings of D = 1 + e and of D^2 are recovered (TwoSum, Dekker)
    and put back as a relative correction: m / D^2 (1 - (D^2 true - D^2) / D^2)."""
    cdef double ac = exp_arg(-fabs(t))
    cdef double kf = _k(ac)
    cdef double m = _exp_mant(ac, 0.0, kf, 1.0, 0.0)
    cdef double e = ldexp_small(m, kf)
    cdef double D = 1 + e
    cdef double DD = D * D
    cdef double dDD = product_error(D, D, DD) + 2 * D * ((1 - D) + e)
    cdef double q = (c * m) / DD
    return scale_product(p, q - q * (dDD / DD), kf)

cdef inline double times_sigmoid(double p, double t, double tlo) noexcept nogil:
    """p sigmoid(t + tlo), tlo the rounding error of t. With e = e^-|t| = m 2^k: t < 0 gives
    p m (1 - c) 2^k, t >= 0 gives p (1 - c), c = e / (1 + e) <= 1/2 (no cancellation)."""
    cdef double a = -fabs(t)
    cdef double ac = exp_arg(a)
    cdef double kf = _k(ac)
    cdef double m = _exp_mant(ac, (-tlo if t >= 0 else tlo) if a >= -1500.0 else 0.0, kf, 1.0, 0.0)
    cdef double e = ldexp_small(m, kf)
    cdef double c = e / (1 + e)
    cdef double yp = p - p * c if fabs(p) < INFINITY else p * (1 - c)     # inf - inf would be NaN
    return scale_product(p, m - m * c, kf) if t < 0 else yp

cdef inline double sigmoid_slope(double g, double t, double tlo, double v, double vlo) noexcept nogil:
    """g sigmoid(T) (1 + V sigmoid(-T)), T = t + tlo and V = v + vlo given as two doubles each: the
    derivative of silu (V = T = beta x) and of gelu-tanh (T = 2u, V = x du2/dx). With
    e = e^-|t| = m 2^k and D = 1 + e it is e (1 + V + e) / D^2 for t < 0 and 1 - e (D - V) / D^2
    for t >= 0 (one division, 1 / D^2, serves both). 1 + V, D and D^2 are formed with their rounding
    errors, so in the cancelling sum 1 + V + e (the zero of silu' and gelu-tanh') only e's own
    error is amplified."""
    cdef double a = -fabs(t)
    cdef double ac = exp_arg(a)
    cdef double kf = _k(ac)
    cdef double m = _exp_mant(ac, (-tlo if t >= 0 else tlo) if a >= -1500.0 else 0.0, kf, 1.0, 0.0)
    cdef double e = ldexp_small(m, kf)
    cdef double D = 1 + e
    cdef double dD = (1 - D) + e
    cdef double s1 = 1 + v
    cdef double e1 = ((v - s1) + 1) if fabs(v) > 1 else ((1 - s1) + v)
    cdef double small = (e1 + vlo) + e
    cdef double DD = D * D
    cdef double dDD = product_error(D, D, DD) + 2 * D * dD
    cdef double inv = 1 / DD                          # for the corrections
    cdef bint big = e >= 0.125
    cdef double x, S, Sl, N, Nl, q, ql, r
    # t < 0: m S / D^2, S = 1 + V + e less the correction for D^2's error (e >= 1/8), or m S with
    # 1 / D^2 = 1 - e (2 + e) / D^2 (e < 1/8, a correction below 0.21) folded into S. S's last sum,
    # the product with m and the quotient are carried as hi + lo (their roundings lined up to 4.24
    # ULP with g, silu beta = 1.702 at x = -0.4915), so that g times the result rounds once.
    x = (small - (s1 + e) * (dDD * inv)) if big else (small - (s1 + small) * (e * (2 + e) * inv))
    S = s1 + x
    Sl = two_sum_error(s1, x, S)
    N = m * S
    Nl = product_error(m, S, N) + m * Sl
    q = N * inv                                       # the remainder puts back its error
    ql = (quotient_remainder(N, DD, q) + Nl) * inv
    if t < 0:
        return scale_product2(g, q if big else N, ql if big else Nl, kf)
    # t >= 0: 1 - e (D - V) / D^2, D - V, the product with e, the quotient (with D^2's error) and
    # the difference from 1 carried as hi + lo in the same way
    S = D - v
    Sl = two_sum_error(D, -v, S) + (dD - vlo)
    N = e * S
    Nl = product_error(e, S, N) + e * Sl
    q = N * inv
    ql = (quotient_remainder(N, DD, q) + Nl - q * dDD) * inv
    r = 1 - q
    return scale_product2(g, r, ((1 - r) - q) - ql, 0.0)

# ---- lean backwards ------------------------------------------------------------------------------
# The backwards of sigmoid, tanh, elu, selu, celu (alpha = 1), softplus (beta = 1) and logsigmoid
# each have a lean form: the lean exponential (_exp_neg) and plain arithmetic in the argument's own
# type, g times the derivative rounded once. That is right wherever the derivative stays a normal
# number (|x| up to lean_limit): g d then rounds once, whatever g is, into the subnormals or to inf.
# Beyond (and for an infinite x) the careful forms take over: float32 in double, float64 with the
# exponent of the derivative folded into g's. `<op>_backward_rare` says which elements need them;
# `<op>_backward` selects, and the loops run `<op>_backward_lean` over each block of elements
# without a rare one (_ops.py, `lean`), which is nearly every block there is.

cdef inline real _inverse_1_2(real d) noexcept nogil:
    # 1 / d within 6% for 1 <= d <= 2 (the linear minimax fit): enough for a correction term
    return <real>1.411764705882353 - <real>0.47058823529411764 * d

cdef inline real _inverse_rough(real d) noexcept nogil:
    # 1 / d within 5.1% for any normal d > 0 (the linear fit's error on [1, 4] would be 22%): one
    # integer subtraction on the bits, the exponent negated and the mantissa's inverse a line
    if real is float:
        return rk_vm_f32_bits(<uint32_t>0x7EF311C3 - rk_vm_bits_f32(d))
    return rk_vm_f64_bits(<uint64_t>0x7FDE623860000000 - rk_vm_bits_f64(d))

cdef inline bint lean_g_rare(real g) noexcept nogil:
    # g beyond 2^100 / 2^1000: a product a few ULP high could round to inf near the top of the range
    if real is float:
        return _abs(g) > <float>1.2676506002282294e+30
    return _abs(g) > 1.0715086071862673e+301

cdef inline real lean_limit(real like) noexcept nogil:
    # below e^-69 / e^-690, _exp_neg scales its result (from 2^-100 / 2^-1000 down)
    if real is float:
        return 69
    return 690

cdef inline bint sigmoid_slope_rare(real x) noexcept nogil:
    # (no lean_g_rare for sigmoid's slope, at most 1/4, nor for a sigmoid, whose lean quotient is
    # at most 1: g times either cannot overflow)
    return _abs(x) > lean_limit(x)                       # a NaN x is not rare: it comes out as x

cdef inline real times_sigmoid_slope_lean(real g, real c, real x) noexcept nogil:
    # g c sigmoid(x) sigmoid(-x) = g c e / (1 + e)^2, e = e^-|x|, c = 1 or 4, with (1 + e)^2 as
    # 1 + e (e + 2) in one FMA: 1 + e is never rounded on its own (its rounding counted twice in
    # d^2: 4.22 ULP, or 3.43 with it put back as a correction, for 1.3x the time of this).
    # Measured with g = 1 / random g: float32 sigmoid 2.33, tanh 2.23 (every 97th float32),
    # float64 2.21 / 2.88, 2.23 / 2.94 (1.5e5 points against mpmath)
    cdef real e = _exp_neg_lean(_abs(x))
    return g * (c * (e / _fma(e, e + <real>2, <real>1)))

cdef inline real times_sigmoid_lean(real g, real x) noexcept nogil:
    # g sigmoid(x) = g e / (1 + e) for x < 0, g / (1 + e) for x >= 0, the rounding of 1 + e put
    # back as above
    cdef real e = _exp_neg_lean(_abs(x))
    cdef real d = <real>1 + e
    cdef real q = (e if x < 0 else <real>1) / d
    return g * (q - q * (((<real>1 - d) + e) * _inverse_1_2(d)))

# ---- sigmoid: 1 / (1 + e^-x); derivative sigmoid(x) sigmoid(-x) -----------------------------------
cdef inline real sigmoid_forward(real x) noexcept nogil:
    # keep_nan: the NaN's sign out of e^-|x| depends on where gcc folds a negation into an FMA,
    # which differs between the lean and the careful loops
    return keep_nan(x, vsigmoid(x))

cdef inline bint sigmoid_forward_rare(real x) noexcept nogil:
    return sigmoid_slope_rare(x)

cdef inline real sigmoid_forward_lean(real x) noexcept nogil:
    # vsigmoid where e^-|x| needs no scaling (the same bits)
    cdef real q = _sigmoid_neg_lean(_abs(x))
    return keep_nan(x, q if x < 0 else <real>1 - q)

cdef inline bint sigmoid_backward_rare(real g, real x) noexcept nogil:
    return sigmoid_slope_rare(x)

cdef inline real sigmoid_backward_lean(real g, real x) noexcept nogil:
    return keep_nan(x, times_sigmoid_slope_lean(g, 1, x))

cdef inline real sigmoid_backward(real g, real x) noexcept nogil:
    # sigmoid(x) sigmoid(-x), not y (1 - y), which cancels as y -> 1. Rare elements: float32 runs
    # in double, so that a huge g times a derivative below float32's range still comes out right;
    # float64 folds the derivative's exponent into g's
    cdef double e
    cdef real r
    if real is float:
        e = vexp_f32f(-fabsf(x), 0)          # e / (1 + e)^2: one exponential, one division
        r = keep_nan(x, <real>(g * (e / ((1 + e) * (1 + e)))))
    else:
        r = keep_nan(x, times_sigmoid_slope(g, 1.0, x))
    return r if sigmoid_backward_rare(g, x) else sigmoid_backward_lean(g, x)

cdef inline real sigmoid_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g * (y * (1 - y)))

# ---- tanh; derivative sech(x)**2 ---------------------------------------------------------------------
cdef inline real tanh_forward(real x) noexcept nogil:
    return vtanh(x)

cdef inline bint tanh_backward_rare(real g, real x) noexcept nogil:
    return sigmoid_slope_rare(2 * x) | lean_g_rare(g)

cdef inline real tanh_backward_lean(real g, real x) noexcept nogil:
    return keep_nan(x, times_sigmoid_slope_lean(g, 4, 2 * x))

cdef inline real tanh_backward(real g, real x) noexcept nogil:
    # sech^2 = 4t / (1 + t)^2 with t = e^(-2|x|) <= 1: no 1 - tanh^2 cancellation, no overflow.
    # Rare elements: float32 runs in double (a huge g times a derivative below float32's range);
    # float64 is 4 sigmoid'(2x), its exponent folded into g's
    cdef double t
    cdef real r
    if real is float:
        t = vexp_f32f(-2 * fabsf(x), 0)
        r = keep_nan(x, <real>(g * (4 * t / ((1 + t) * (1 + t)))))
    else:
        r = keep_nan(x, times_sigmoid_slope(g, 4.0, 2 * x))
    return r if tanh_backward_rare(g, x) else tanh_backward_lean(g, x)

cdef inline real tanh_backward_from_output(real g, real y) noexcept nogil:
    return keep_nan(y, g * ((1 - y) * (1 + y)))

# ---- tanhshrink: x - tanh(x); derivative tanh(x)**2 -------------------------------------------------
cdef inline double lambert_fraction(double z, double *b) noexcept nogil:
    """A(z), and B(z) in b: the tail of Lambert's continued fraction for tanh (below), z = x^2,
    q1 = z / (5 + z / (7 + ... + z / 21)), as one rational function, q1 = z A(z) / B(z). Every
    coefficient is a positive integer (the convergent's recurrence), so nothing cancels in either
    polynomial. Relative to x - tanh(x) these 10 levels are exact to 2^-71 at |x| = 1, 2^-52.5
    at 2 and 2^-36 at 4."""
    b[0] = _fma(_fma(_fma(_fma(65.0, z, 42900.0), z, 6891885.0), z, 349188840.0), z, 4583103525.0)
    return _fma(_fma(_fma(z + 1950.0, z, 546975.0), z, 43648605.0), z, 916620705.0)

cdef inline double tanhshrink_near_zero(double x) noexcept nogil:
    """x - tanh(x) for |x| < 2, where the difference loses up to 3/x^2 of its bits. Lambert's
    continued fraction tanh x = x / (1 + q), q = x^2 / (3 + q1), q1 = x^2 / (5 + ...), gives
    x - tanh x = x q / (1 + q) = x z / (3 + q1 + z), z = x^2, with every term positive: nothing
    cancels. 10 levels (lambert_fraction, q1 = z A / B) reach full double precision on (0, 2];
    multiplied through by B, x^3 B / (3B + z (A + B)): one division. The roundings of z, of x^3,
    of A + B and of the quotient (its exact remainder, through the reciprocal) are put back:
    2.5 ULP measured. Recovering those of x^3 B and of the denominator's sum too gave 1.6 ULP at
    1.12x the time; the three divisions before (q1, the quotient, its correction) 1.6 ULP at
    1.24x; one division per level 2.2x; the plain form measured 4.09 ULP."""
    cdef double z = x * x, a, b, s, p, pe, n, den, rden, r, rd
    cdef double ze = product_error(x, x, z)
    a = lambert_fraction(z, &b)
    s = a + b                                           # A < B coefficient by coefficient
    p = x * z
    pe = product_error(x, z, p) + x * ze                # x^3 = p + pe
    n = p * b
    den = _fma(z, s, 3 * b)
    rden = 1 / den
    r = n * rden
    rd = r * den
    # n - r den exactly (Sterbenz, then product_error, not an FMA: the baseline's emulated FMA
    # is not exact below 2^-968); x's sign for a zero from underflow, or x = -0.0
    return copysign(r + ((((n - rd) - product_error(r, den, rd)) + (product_error(p, b, n) + pe * b))
                         - r * (ze * s + z * (a - (s - b)))) * rden, x)

cdef inline double lambert_tanh(double z, double *zb, double *n) noexcept nogil:
    """The denominator of x - tanh(x) = x zb / (n + zb) and tanh(x) = x n / (n + zb), z = x^2,
    zb = z B and n = 3 B + z A (lambert_fraction): every term positive, 2^-36 relative below
    |x| = 4 plus a few double roundings, plenty for the float32 paths (which run in double)."""
    cdef double b, a = lambert_fraction(z, &b)
    zb[0] = z * b
    n[0] = _fma(z, a, 3 * b)
    return n[0] + zb[0]

cdef inline float lambert_tail_f32(float z) noexcept nogil:
    """Q(z) with q1 = z Q(z) the tail of Lambert's fraction (above: z / (5 + z / (7 + ...))) for
    0 <= z <= 16: degree 7, float32 coefficients rounded one at a time and the rest refitted
    (tools/fit_lambert_tail.py --degree 7), 2^-22.5 relative: enough for x - tanh x, where q1's
    error is damped by q1 / (3 + q1 + z) <= 0.11. q1's nearest singularity is at z = -20.2
    (a = tanh a off the real line), so the degree stays low where a polynomial for a - tanh a
    itself would meet tanh's pole at z = -2.47."""
    cdef float q = _fma(<float>-6.0693876e-12, z, <float>5.072827e-10)
    q = _fma(q, z, <float>-2.0145102e-08)
    q = _fma(q, z, <float>5.403087e-07)
    q = _fma(q, z, <float>-1.1993615e-05)
    q = _fma(q, z, <float>0.00025358557)
    q = _fma(q, z, <float>-0.005714019)
    return _fma(q, z, <float>0.19999997)

cdef inline float exp_neg2_rough_f32(float a) noexcept nogil:
    """e^-2a for a >= 0 (or NaN) to 2^-18 relative, 2a clamped at 20 (e^-20 where the callers'
    terms vanish beside theirs): 2^k e^r, e^r by its Taylor series to r^5"""
    cdef float t = <float>20 if a > <float>10 else a + a
    cdef float ts = _shift_k(-t)
    cdef float kf = ts - _shift(t)
    cdef float r = _fma(kf, <float>-0.6931471805599453, -t)
    cdef float e = _fma(_fma(_fma(_fma(<float>(1.0 / 120), r, <float>(1.0 / 24)), r, <float>(1.0 / 6)), r,
                             <float>0.5), r, <float>1)
    return _fma(e, r, <float>1) * _pow2(ts)

cdef inline real tanhshrink_forward(real x) noexcept nogil:
    # float32: below |x| = 4, a z / (3 + z + q1), a = |x|, z = a^2 (Lambert's fraction, its tail
    # q1 a polynomial, lambert_tail_f32): every term positive, one division. Above, (a - 1) +
    # 2 w (1 - w), w = e^(-2a) (2 / (e^2a + 1) to w^3): both terms positive, the second below
    # 2^-12 of the result, so w needs few bits (exp_neg2_rough_f32; at its clamp, 2a = 20, the term
    # is below half an ULP of a - 1). The sign is x's (-0.0, and a z underflowing); NaN fails a < 4
    # and stays NaN in the second form.
    cdef double wide = x
    cdef float a, z, ze, u, t, w
    if real is float:
        a = _abs(x)
        z = a * a
        ze = _fma(a, a, -z)
        u = <float>1 + lambert_tail_f32(z)
        t = a / _fma(ze, u, _fma(z, u, <float>3))
        w = exp_neg2_rough_f32(a)
        return _copysign(_fma(t, z, t * ze) if a < <float>4 else
                         (a - <float>1) + <float>2 * (w * (<float>1 - w)), x)
    return <real>(tanhshrink_near_zero(wide) if fabs(wide) < 2 else wide - vtanh(wide))

cdef inline real tanh_square_poly(real z) noexcept nogil:
    """P(z) with tanh(a)^2 = z (1 + z P(z)), z = a^2 <= 1 (tanh's pole, z = -pi^2/4, is the nearest
    singularity): float32 degree 8, 2^-25 relative, float64 degree 16, 2^-54
    (tools/fit_lambert_tail.py --tanh-square, with --float64 for double's). P's error reaches
    tanh^2 through z P / (1 + z P), at most 0.72."""
    cdef real q
    if real is float:
        q = _fma(<float>-0.00086406025, z, <float>0.0044563753)
        q = _fma(q, z, <float>-0.011666434)
        q = _fma(q, z, <float>0.023866417)
        q = _fma(q, z, <float>-0.047828183)
        q = _fma(q, z, <float>0.097817704)
        q = _fma(q, z, <float>-0.19686957)
        q = _fma(q, z, <float>0.37778008)
        return _fma(q, z, <float>-0.6666667)
    q = _fma(-4.9005837522212647e-08, z, 6.991851720606899e-07)
    q = _fma(q, z, -4.581790446892667e-06)
    q = _fma(q, z, 1.9236298217333084e-05)
    q = _fma(q, z, -6.08157971013892e-05)
    q = _fma(q, z, 0.00016148053290310704)
    q = _fma(q, z, -0.00038974866236023175)
    q = _fma(q, z, 0.0008993649431934648)
    q = _fma(q, z, -0.0020337342589928577)
    q = _fma(q, z, 0.004543046983665275)
    q = _fma(q, z, -0.01003038642656933)
    q = _fma(q, z, 0.02183750479784666)
    q = _fma(q, z, -0.04669766347457426)
    q = _fma(q, z, 0.09749559077354436)
    q = _fma(q, z, -0.19682539682377814)
    q = _fma(q, z, 0.37777777777775895)
    return _fma(q, z, -0.6666666666666666)

cdef inline bint tanhshrink_backward_rare(real g, real x) noexcept nogil:
    # where tanh^2 leaves the normal range (|x| < 2^-60 / 1e-150), g t t must round once, and a
    # huge g (g - g s would be inf - inf)
    if real is float:
        return (_abs(x) < <float>8.673617379884035e-19) | lean_g_rare(g)
    return (fabs(x) < 1e-150) | lean_g_rare(g)

cdef inline real tanhshrink_backward_lean(real g, real x) noexcept nogil:
    # No division below |x| = 1: tanh^2 = z F, F = 1 + z P(z) (tanh_square_poly), z = x^2, with
    # the roundings of z, z P and 1 + z P recovered; above, g (1 - s), s = sech^2 = 4 w / (1 + w)^2
    # <= 0.42, w = e^(-2|x|), as g - g s in one FMA: s's error is damped by s / (1 - s) <= 0.72
    # (past |x| = 10 / 20 s is selected as 0: it rounds away there, and 2^k would leave its range
    # further out; selecting last, not clamping 2|x|, is 1.07x / 1.04x faster, with the same bits,
    # since gcc carried the clamped constant's steps as blends). Against the forms before (float32:
    # the Lambert quotient; float64: the careful form), 1.17x and 1.3x faster (1e5, 1 and 2
    # threads); measured float32 1.45 ULP with g = 1 (every float32; 2.01 before), 2.59 with
    # random g (2.31: g t^2 rounds twice below |x| = 1), float64 1.36 and 1.98 (3.1e5 points
    # against mpmath; 2.50 before)
    cdef real a = _abs(x), z = a * a, p = tanh_square_poly(z), u = z * p, f = <real>1 + u
    cdef real ze = _fma(a, a, -z), fe = (u - (f - <real>1)) + _fma(z, p, -u)   # Fast2Sum: |u| < 1/2
    cdef real t = <real>-2 * a, ts, k, r, w, s
    ts = _shift_k(t)
    k = ts - _shift(t)
    if real is float:
        r = (t - k * <float>0.693145751953125) - k * <float>1.4286068e-06
    else:
        r = _fma(-k, 1.9082149292705877e-10, _fma(-k, 0.6931471803691238, t))
    w = (<real>1 + _fma(r * r, _exp_poly(r), r)) * _pow2(ts)
    s = (<real>4 * w) / _fma(w, w + <real>2, <real>1)
    if real is float:
        s = <float>0 if a > <float>10 else s
    else:
        s = 0.0 if a > 20 else s
    # (g - g s as fma(g, -s, g): a NaN g meets only itself, sign kept; see div6)
    return keep_nan(x, g * _fma(z, f, _fma(z, fe, ze * f)) if a < <real>1 else _fma(g, -s, g))

cdef inline real tanhshrink_backward(real g, real x) noexcept nogil:
    return tanhshrink_backward_careful(g, x) if tanhshrink_backward_rare(g, x) else tanhshrink_backward_lean(g, x)

cdef inline real tanhshrink_backward_careful(real g, real x) noexcept nogil:
    # tanh's error counts twice in tanh^2, so not vtanh's E / (E + 2). float32 (the lean form's
    # rare elements) in double: t = |x| n / (n + zb) below 4 (lambert_tanh), 1 - 2 w (1 - w) above,
    # w = e^(-2|x|) to float32 grade; then g t t. float64 (also the rare elements; g t t measured
    # 5.8 ULP at x = 0.575, g = 3.8e37) forms tanh^2 to about an ULP and multiplies by g once:
    # above 0.55, t = 1 - 2/(e + 1) as two doubles (the roundings of e + 1, of the quotient and of
    # 1 - q recovered) and t^2 from them by Dekker's product; below, t t from _tanh_poly's series,
    # or g t t where t^2 would underflow.
    cdef double a = fabs(<double>x), z = a * a, e, t, d, de, q, qd, ql, th, tl, tt, one, zb, n, w
    if real is float:
        t = lambert_tanh(z, &zb, &n)
        t = a * n / t
        w = vexp_f32f(<float>-2 * fabsf(x), 0)
        t = t if a < 4 else 1 - 2 * (w * (1 - w))
        return keep_nan(x, <real>((g * t) * t))
    t = a + a * (z * _tanh_poly(z))
    e = _exp_neg(-40.0 if a > 20 else -2 * a, 0, &one)  # e^2a (tanh^2 is 1 from a = 19.06 on)
    d = e + 1
    de = 1 - (d - e)                                    # Fast2Sum: e >= 3 where it is used
    q = 2 / d
    qd = q * d
    ql = (((2 - qd) - product_error(q, d, qd)) - q * de) * (0.5 * q)    # q / 2 for 1 / d
    th = 1 - q
    tl = ((1 - th) - q) - ql
    tt = th * th
    tt = tt + (product_error(th, th, tt) + 2 * th * tl)
    tt = tt if a >= 0.55 else t * t
    return keep_nan(x, <real>(g * tt if a > 1e-150 else (g * t) * t))

# ---- elu: x > 0 ? x : alpha expm1(x); derivative 1 or alpha e^x (alpha at 0) ------------------------
cdef inline real elu_forward(real x, real alpha) noexcept nogil:
    return x if x > 0 else alpha * _expm1_nonpositive(x)

cdef inline bint elu_backward_rare(real g, real x, real alpha) noexcept nogil:
    # alpha e^x is a normal number for |alpha| in [2^-20, 2^20] and x down to -lean_limit
    cdef real a = _abs(alpha)
    return (x < -lean_limit(x)) | (a < <real>9.5367431640625e-07) | (a > <real>1048576) | lean_g_rare(g)

cdef inline real elu_backward_lean(real g, real x, real alpha) noexcept nogil:
    # (e^0 where x > 0 selects g: a large x would leave _exp_neg_lean's range)
    return keep_nan(x, g if x > 0 else g * (alpha * _exp_neg_lean(0 if x > 0 else -x)))

cdef inline real elu_backward(real g, real x, real alpha) noexcept nogil:
    # rare elements: float32 runs in double (g alpha e^x may be in range where e^x is not, and
    # g alpha, at most 2^256, cannot overflow there); float64 folds the exponents of e^x and alpha
    # into g's
    cdef real r
    if real is float:
        r = keep_nan(x, g if x > 0 else <real>((<double>g * alpha) * vexp_f32f(x, 0)))
    else:
        r = keep_nan(x, g if x > 0 else times_exp(g, alpha, x, 0.0))
    return r if elu_backward_rare(g, x, alpha) else elu_backward_lean(g, x, alpha)

cdef inline real elu_backward_from_output(real g, real y, real alpha) noexcept nogil:
    # for alpha >= 0: y <= 0 exactly where x <= 0, and alpha e^x = y + alpha there
    return keep_nan(y, g if y > 0 else g * (y + alpha))

# ---- selu: scale * elu(x, alpha) with fixed constants ------------------------------------------------
cdef inline real selu_forward(real x) noexcept nogil:
    return <real>1.0507009873554804934193349852946 * (
        x if x > 0 else <real>1.6732632423543772848170429916717 * _expm1_nonpositive(x))

cdef inline bint selu_backward_rare(real g, real x) noexcept nogil:
    return (x < -lean_limit(x)) | lean_g_rare(g)

cdef inline real selu_backward_lean(real g, real x) noexcept nogil:
    return keep_nan(x, g * <real>1.0507009873554804934193349852946 if x > 0 else
                    g * (<real>1.7580993408473768599402175208123 * _exp_neg_lean(0 if x > 0 else -x)))

cdef inline real selu_backward(real g, real x) noexcept nogil:
    # as elu_backward, with alpha = scale * alpha
    cdef real r
    if real is float:
        r = keep_nan(x, g * <real>1.0507009873554804934193349852946 if x > 0 else
                     <real>((<double>g * 1.7580993408473768599402175208123) * vexp_f32f(x, 0)))
    else:
        r = keep_nan(x, g * 1.0507009873554804934193349852946 if x > 0 else
                     times_exp(g, 1.7580993408473768599402175208123, x, 0.0))
    return r if selu_backward_rare(g, x) else selu_backward_lean(g, x)

cdef inline real selu_backward_from_output(real g, real y) noexcept nogil:
    # y + scale * alpha cancels as y -> -scale * alpha; the constant is carried as two doubles
    # (high and low parts) so that the sum is exact there (Sterbenz). y is taken as exact: the
    # forward's saturated value, RN(scale * -alpha), gives scale * alpha - RN(scale * alpha)
    # (2.4e-16 in float64), the derivative where selu is exactly that y (x = -36.6), not 0
    cdef double d = (<double>y + 1.7580993408473768) + 1.41535193800845e-17
    return keep_nan(y, g * <real>1.0507009873554804934193349852946 if y > 0 else <real>(g * d))

# ---- celu: max(0, x) + min(0, alpha expm1(x / alpha)); derivative 1 or e^(x / alpha) ---------------
# alpha = 1, the default, is elu with alpha 1 and has its own loop (_ops.py): float32 celu forward
# 2.4x and backward 1.4x faster that way (1e5, measured). The general forms select these at alpha = 1
# (float64's forward gives elu's bits there anyway: x / 1 is exact).
cdef inline real celu_forward_alpha1(real x, real alpha) noexcept nogil:
    return elu_forward(x, 1)

cdef inline bint celu_backward_alpha1_rare(real g, real x, real alpha) noexcept nogil:
    return elu_backward_rare(g, x, 1)

cdef inline real celu_backward_alpha1_lean(real g, real x, real alpha) noexcept nogil:
    return elu_backward_lean(g, x, 1)

cdef inline real celu_backward_alpha1(real g, real x, real alpha) noexcept nogil:
    return elu_backward(g, x, 1)

cdef inline real celu_forward(real x, real alpha) noexcept nogil:
    # The rounding of q = x / alpha is amplified by |q| in expm1. float64 puts it back to first
    # order, expm1(q + dq) = expm1(q) + e^q dq. float32 takes q = x (1/alpha) in double (within
    # 2^-52; a loop with one alpha hoists the division, a float64 vector division costing more than
    # the rest), splits it into two floats for the reduction of expm1(q) = m 2^k, and forms
    # alpha m 2^k in double (alpha m is exact there), rounded once: alpha < 0 makes q > 0, and
    # alpha e^q can be in float32's range where e^q is not.
    cdef double w = x, q, dq, em
    cdef float qh, m, kf, y
    if real is float:
        q = w * (1.0 / alpha)
        q = -40.0 if q < -40.0 else (250.0 if q > 250.0 else q)    # -1, or beyond any alpha e^q
        qh = <float>q
        m = _expm1_mant(qh, <float>(q - qh), <float>250.0, &kf)
        # k is in [-29, 361]: 2^k is one normal double. At x = +-0: alpha expm1(x / alpha) without
        # the expm1 (its sign, and NaN for a NaN alpha)
        y = <real>(<double>alpha * m * _pow2(<double>kf + _shift(1.0)))
        # |q| < 2^-26: alpha expm1(q) = x (1 + q/2 + ...) rounds to x (q would underflow as floats)
        y = x if fabs(q) < 1.4901161193847656e-08 else y
        y = x if x > 0 else (x * (alpha / alpha) if x == 0 else y)
        return celu_forward_alpha1(x, alpha) if alpha == 1 else y
    q = x / alpha
    dq = quotient_low(x, alpha, q)
    em = vexpm1(q)
    dq = em + (em + 1) * dq
    em = dq if fabs(em) < INFINITY else em                # inf * 0 would be NaN
    # |q| < 2^-60: alpha expm1(q) = x (1 + q/2 + ...) rounds to x, where q may be subnormal
    return x if (x >= 0) | (fabs(q) < 8.673617379884035e-19) else alpha * em   # (-0.0 stays)

cdef inline real celu_backward(real g, real x, real alpha) noexcept nogil:
    # float64: x / alpha's rounding error carried into the reduction, e^q's exponent folded into g's
    cdef double q
    cdef real d
    if real is float:
        # x (1/alpha): within 2^-52, and a loop with one alpha computes 1/alpha once
        d = keep_nan(x, g if x > 0 else <real>(g * vexp_f32(<double>x * (1.0 / alpha))))
    else:
        q = x / alpha
        d = keep_nan(x, g if x > 0 else times_exp(g, 1.0, q, quotient_low(x, alpha, q)))
    return celu_backward_alpha1(g, x, alpha) if alpha == 1 else d

cdef inline real celu_backward_from_output(real g, real y, real alpha) noexcept nogil:
    # for alpha > 0: e^(x / alpha) = (y + alpha) / alpha where y <= 0; y + alpha is exact as
    # y -> -alpha (Sterbenz), where y / alpha + 1 would cancel
    cdef double w = y
    if real is float:   # the ratio within 2^-52 as a product, 1/alpha computed once per loop
        return keep_nan(y, g if y > 0 else <real>(g * ((w + alpha) * (1.0 / alpha))))
    return keep_nan(y, g if y > 0 else <real>(g * ((w + alpha) / alpha)))   # the ratio is <= 1

# ---- softplus: log1p(e^(beta x)) / beta, x above the threshold; derivative sigmoid(beta x) ----------
cdef inline double softplus_scaled(double t, double tlo, double beta) noexcept nogil:
    """softplus(t + tlo) / beta, tlo the rounding error of t (the float64 path). With
    e = e^-|t + tlo| = m 2^k (tlo in the reduction): t + tlo + log1p(e) for t >= 0, log1p(e) for
    t < 0; below e = 2^-30 that is e (1 - e/2) to 2^-61, and the 2^k goes on last (scale_product),
    so a result in or beyond the subnormals (a small or large beta) is rounded once."""
    cdef double a = -fabs(t)
    cdef double ac = exp_arg(a)
    cdef double kf = _k(ac)
    cdef double m = _exp_mant(ac, (-tlo if t >= 0 else tlo) if a >= -1500.0 else 0.0, kf, 1.0, 0.0)
    cdef double e = ldexp_small(m, kf)
    cdef double l = _log1p_core(e)
    cdef double tail = scale_product(m / beta, 1 - 0.5 * e, kf)
    return (t + (tlo + l)) / beta if t >= 0 else (l / beta if e > 9.313225746154785e-10 else tail)

cdef inline float softplus_f32(float x, float beta) noexcept nogil:
    """softplus(beta x) / beta in float32 arithmetic. beta x is exact in double (two 24-bit
    mantissas); its float32 rounding error tl goes into the reduction of e = e^-|beta x| = m 2^k,
    since the tail amplifies it by |beta x|. Then x + log1p(e)/beta above 0 (x exact, no rounding
    of beta x at all), log1p(e)/beta below, and below beta x = -80 (log1p(e) = e to 2^-115) m/beta
    2^k: e alone underflows where e/beta need not (beta < 1). The quotient (as a product with
    1/beta, which a loop with one beta computes once) and the sum run in double, rounded once."""
    cdef double t = <double>x * beta
    t = 250.0 if t > 250.0 else (-250.0 if t < -250.0 else t)  # beyond: x, or e/beta below 2^-200
    cdef float th = <float>t
    cdef float tl = <float>(t - th)
    cdef float a = -fabsf(th)
    cdef float kf = _k(a)
    cdef float m = _exp_mant(a, -tl if th > 0 else tl, kf, 1, 0)
    cdef float l = _log1p_core(_ldexp(m, <float>-130.0 if kf < <float>-130.0 else kf))
    cdef double q = <double>(l if t > -80.0 else m) * (1.0 / beta)  # within 2^-52; hoisted
    return <float>((<double>(x if th > 0 else <float>0) + q) if t > -80.0 else _ldexp(q, <double>kf))

# beta = 1, the default, is its own loop (_ops.py): no product to carry, and vsoftplus in the
# argument's type (float32 and float64 2x faster than the general forms, measured at 1e5)
cdef inline real softplus_forward_beta1(real x, real beta, real threshold) noexcept nogil:
    return keep_nan(x, x if x > threshold else vsoftplus(x))

cdef inline bint softplus_backward_beta1_rare(real g, real x, real beta, real threshold) noexcept nogil:
    return sigmoid_slope_rare(x)

cdef inline real softplus_backward_beta1_lean(real g, real x, real beta, real threshold) noexcept nogil:
    return keep_nan(x, g if x > threshold else times_sigmoid_lean(g, x))

cdef inline real softplus_backward_beta1(real g, real x, real beta, real threshold) noexcept nogil:
    # rare elements: float32 takes sigmoid(x) in double from an exponential in float32 lanes
    cdef double e
    cdef real r
    if real is float:
        e = vexp_f32f(-fabsf(x), 0)
        r = keep_nan(x, g if x > threshold else <real>(g * ((e if x < 0 else 1.0) / (1 + e))))
    else:
        r = keep_nan(x, g if x > threshold else times_sigmoid(g, x, 0.0))
    return (r if softplus_backward_beta1_rare(g, x, beta, threshold)
            else softplus_backward_beta1_lean(g, x, beta, threshold))

cdef inline bint beta_x_rare(real x, real beta) noexcept nogil:
    # The lean forms of softplus and silu with a beta, which carry beta x as two floats (beta_x_low):
    # beta x within 80 / 700 of 0 (below _exp_neg's clamp at 112 / 760, past which x e^-|beta x|
    # need not round to 0 for a small beta) and not below 2^-100 / 2^-900, where its product error
    # would not be a float (or, in float64, not exact at every level: product_error), or 0; float64
    # also keeps x and beta below 2^900, for Dekker's split. NaN is rare.
    cdef real t = _abs(x * beta)
    if real is float:
        return not ((t <= <float>80.0) & ((t >= <float>7.888609052210118e-31) | (t == 0)))
    return not ((t <= 700.0) & ((t >= 1.1830521861667747e-271) | (t == 0))
                & (_abs(x) < 8.452712498170644e+270) & (_abs(beta) < 8.452712498170644e+270))

cdef inline real beta_x_low(real x, real beta, real th) noexcept nogil:
    # x beta - th exactly, th = x beta rounded, where beta_x_rare is false
    if real is float:
        return _fma(x, beta, -th)
    return product_error(x, beta, th)

cdef inline bint softplus_forward_rare(real x, real beta, real threshold) noexcept nogil:
    return beta_x_rare(x, beta)

cdef inline real softplus_forward_lean(real x, real beta, real threshold) noexcept nogil:
    # float32 in float32 lanes (beta other than 1; softplus_f32, in part double, 2.1x slower):
    # beta x as two floats, the low part in the reduction of e = e^-|beta x| (scaled below 2^-100,
    # as in vsoftplus), then x+ + log1p(e) / beta, so that beta = 1 gives vsoftplus's bits
    cdef real th = x * beta, tl = beta_x_low(x, beta, th), sc
    cdef real l = _log1p_core(_exp_neg(_abs(th), tl if th >= 0 else -tl, &sc))
    return keep_nan(x, x if th > threshold else (x if th > 0 else <real>0) + (l * sc) / beta)

cdef inline real softplus_forward(real x, real beta, real threshold) noexcept nogil:
    # float64 carries the rounding of beta x into the reduction (the tail amplifies it by |beta x|)
    cdef double t
    if real is float:
        t = x if x * beta > threshold else softplus_f32(x, beta)
    else:
        t = x * beta
        # beta x beyond the doubles (threshold inf): softplus is x there
        t = x if (t > threshold) | (t == INFINITY) else softplus_scaled(t, product_low(x, beta, t), beta)
    t = t if softplus_forward_rare(x, beta, threshold) else softplus_forward_lean(x, beta, threshold)
    return softplus_forward_beta1(x, beta, threshold) if beta == 1 else keep_nan(x, <real>t)

cdef inline real softplus_backward(real g, real x, real beta, real threshold) noexcept nogil:
    # float64: beta x's rounding error in the reduction, e's exponent folded into g's
    cdef double t = <double>x * beta, e
    cdef real d
    if real is float:
        e = vexp_f32(-fabs(t))
        d = keep_nan(x, g if x * beta > threshold else <real>(g * ((e if t < 0 else 1.0) / (1 + e))))
        return softplus_backward_beta1(g, x, beta, threshold) if beta == 1 else d
    d = keep_nan(x, g if t > threshold else times_sigmoid(g, t, product_low(x, beta, t)))
    return softplus_backward_beta1(g, x, beta, threshold) if beta == 1 else d

cdef inline bint softplus_backward_from_output_rare(real g, real y, real beta, real threshold) noexcept nogil:
    # t = beta y is positive in the image; the lean form wants it clear of the subnormals (float64:
    # where the careful form's small-t branch starts). A NaN is rare too.
    if real is float:
        return not (y * beta >= <float>7.888609052210118e-31)         # 2^-100
    return not (y * beta >= 9.313225746154785e-10)                     # 2^-30

cdef inline real softplus_backward_from_output_lean(real g, real y, real beta, real threshold) noexcept nogil:
    # g (-expm1(-t)), float32 in float32 lanes: the rounding of t is damped there (d log s / d log t
    # = t e^-t / (1 - e^-t) <= 1). float64's bits are the careful form's.
    cdef real t = y * beta
    return keep_nan(y, g if t > threshold else g * -_expm1_nonpositive(-t))

cdef inline real softplus_backward_from_output(real g, real y, real beta, real threshold) noexcept nogil:
    # e^(beta y) = 1 + e^(beta x), so sigmoid(beta x) = 1 - e^(-beta y) = -expm1(-beta y).
    # float64: below |beta y| = 2^-30 that is beta y (1 - beta y / 2) to 2^-61, formed from the
    # mantissas of g, beta and y with their exponents added last, so that beta y in the subnormals
    # (or g beta y beyond them) is not rounded on its own
    cdef double s = -vexpm1(-beta * <double>y), by = beta * <double>y, gm, ge, bm, be, ym, ye, tiny
    if real is float:
        if softplus_backward_from_output_rare(g, y, beta, threshold):
            return keep_nan(y, g if y * beta > threshold else <real>(g * s))
        return softplus_backward_from_output_lean(g, y, beta, threshold)
    gm = split_exponent(g, &ge)
    bm = split_exponent(beta, &be)
    ym = split_exponent(y, &ye)
    ge = ge + be + ye
    ge = -1200.0 if ge < -1200.0 else ge                  # |gm bm ym| < 8
    tiny = _ldexp((gm * (bm * ym)) * (1 - 0.5 * by), 2000.0 if ge > 2000.0 else ge)
    tiny = tiny if (fabs(by) < 9.313225746154785e-10) & (g != 0) & (fabs(g) < INFINITY) & (y != 0) else g * s
    return keep_nan(y, g if y * beta > threshold else tiny)

# ---- logsigmoid: -softplus(-x); derivative sigmoid(-x) -----------------------------------------------
cdef inline real logsigmoid_forward(real x) noexcept nogil:
    # x's own NaN: negating the NaN vsoftplus returns flips a sign that only some levels keep
    return keep_nan(x, -vsoftplus(-x))

cdef inline bint logsigmoid_backward_rare(real g, real x) noexcept nogil:
    return sigmoid_slope_rare(x)

cdef inline real logsigmoid_backward_lean(real g, real x) noexcept nogil:
    return keep_nan(x, times_sigmoid_lean(g, -x))

cdef inline real logsigmoid_backward(real g, real x) noexcept nogil:
    # rare elements: float64 folds e^-|x|'s exponent into g's
    cdef double e
    cdef real r
    if real is float:
        e = vexp_f32f(-fabsf(x), 0)              # sigmoid(-x): e / (1 + e) for x > 0
        r = keep_nan(x, <real>(g * ((e if x > 0 else 1.0) / (1 + e))))
    else:
        r = keep_nan(x, times_sigmoid(g, -x, 0.0))
    return r if logsigmoid_backward_rare(g, x) else logsigmoid_backward_lean(g, x)

cdef inline bint logsigmoid_backward_from_output_rare(real g, real y) noexcept nogil:
    # y > 0 is outside logsigmoid's image (its outputs are <= 0)
    return y > 0

cdef inline real logsigmoid_backward_from_output_lean(real g, real y) noexcept nogil:
    # e^y = sigmoid(x), so sigmoid(-x) = 1 - e^y = -expm1(y) (the call, rare check included,
    # 1.44x / 1.26x faster than with vexpm1: float32 / float64, 1e5, 1 thread)
    return keep_nan(y, g * -_expm1_nonpositive(y))

cdef inline real logsigmoid_backward_from_output(real g, real y) noexcept nogil:
    # -expm1(y) = -m 2^k. For k > 0 (y > 0, outside the image, but still the formula's value) 2^k
    # goes in after g, so that a small g keeps a finite result where e^y alone overflows (the
    # sweep of session 15): g m rounds once (g below 1 scaled up first, so that a subnormal g
    # keeps its digits), then 2^k; y is clamped where every nonzero g overflows, and 2^k where
    # every g >= 1 does (_ldexp's range). For k <= 0 the lean form's order and bits.
    cdef real kf, gs, ks
    cdef real m = _expm1_mant(y, 0, <real>200.0 if real is float else <real>1460.0, &kf)
    cdef real lo = g * -(y if y == <real>0 else _ldexp(m, kf))        # (keeps -0.0, as vexpm1)
    cdef bint small = _abs(g) < <real>1
    if real is float:
        gs = g * <float>18446744073709551616.0 if small else g                  # 2^64
        ks = kf - <float>64 if small else (kf if kf < <float>254 else <float>254)
    else:
        gs = g * 3.402823669209385e38 if small else g                           # 2^128
        ks = kf - 128 if small else (kf if kf < 2046 else 2046.0)
    return keep_nan(y, _ldexp(-(gs * m), ks) if kf > <real>0 else lo)

# Root windows: generated by `python tools/root_expansions.py` (run it to regenerate).
# ---- silu: zero of the derivative at t0 = -1.278464542761073795109 (t = beta x), (d/g)'(t0) = 0.2178117057198001
# window -0.25 < h < 0.25, degree 13 in h; relative fit error 2^-60.5, 2^-56.9 with the coefficients as printed
#     h = ((t + 1.2784645427610737) + 1.0946994183093437e-16) + 3.907766676128665e-33
#     d = h * (0.2178117057198001 + (-4.031887481496357e-18 + h * silu_root_poly(h)))
cdef inline double silu_root_poly(double s) noexcept nogil:
    """P(s) of the silu window: generated by tools/root_expansions.py."""
    cdef double p = 8.392350386881656e-07
    p = _fma(p, s, 2.3393803997863546e-06)
    p = _fma(p, s, -2.940793914209958e-06)
    p = _fma(p, s, -2.9733012737774656e-05)
    p = _fma(p, s, -4.090542362774074e-05)
    p = _fma(p, s, 0.00018570722363086785)
    p = _fma(p, s, 0.0007985218836949218)
    p = _fma(p, s, 0.00012662741044554344)
    p = _fma(p, s, -0.00660658913837701)
    p = _fma(p, s, -0.015222655223190868)
    p = _fma(p, s, 0.0188748142237824)
    p = _fma(p, s, 0.1466487969969469)
    return p

# The float32 silu window (beta = 1): `python tools/root_expansions.py silu --window=-0.5,0.5
# --degree 9` (relative fit error 2^-29.9), its coefficients rounded to float32 and c0 split in two.
cdef inline float silu_root_poly_f32(float s) noexcept nogil:
    cdef float p = <float>-4.03475e-05
    p = _fma(p, s, <float>0.00016954727)
    p = _fma(p, s, <float>0.0007977708)
    p = _fma(p, s, <float>0.00012961021)
    p = _fma(p, s, <float>-0.0066064484)
    p = _fma(p, s, <float>-0.01522286)
    p = _fma(p, s, <float>0.018874807)
    p = _fma(p, s, <float>0.1466488)
    return <float>0.2178117 + (<float>2.0997801e-09 + s * p)

# ---- mish: zero of the derivative at t0 = -1.192431214515495212138 (t = x), (d/g)'(t0) = 0.26694791404953451
# window -0.15 < h < 1.1925, degree 21 in h; relative fit error 2^-58.2, 2^-56.7 with the coefficients as printed
#     h = ((t + 1.1924312145154952) + 4.8484829848031044e-17) + 1.898915114090381e-33
#     s = h - 0.515625
#     d = h * (0.3796657996687952 + (9.204857272486914e-18 + s * mish_root_poly(s)))
cdef inline double mish_root_poly(double s) noexcept nogil:
    """P(s) of the mish window: generated by tools/root_expansions.py."""
    cdef double p = -9.323853982860026e-09
    p = _fma(p, s, -4.7088390219637876e-08)
    p = _fma(p, s, -1.015010259641832e-08)
    p = _fma(p, s, 3.290804950411046e-07)
    p = _fma(p, s, 6.677135406777944e-07)
    p = _fma(p, s, -7.20787543054061e-07)
    p = _fma(p, s, -5.282698119914433e-06)
    p = _fma(p, s, -5.893327447347284e-06)
    p = _fma(p, s, 1.924865441024019e-05)
    p = _fma(p, s, 7.028045159527041e-05)
    p = _fma(p, s, 2.369730854672902e-05)
    p = _fma(p, s, -0.0003492719925469197)
    p = _fma(p, s, -0.0007810309186931725)
    p = _fma(p, s, 0.0004663366251681459)
    p = _fma(p, s, 0.005032767184485639)
    p = _fma(p, s, 0.006490602674195896)
    p = _fma(p, s, -0.014581476528680411)
    p = _fma(p, s, -0.05601879159538967)
    p = _fma(p, s, -0.0172751365349728)
    p = _fma(p, s, 0.22230163329199729)
    return p

# ---- gelu: zero of the derivative at t0 = -0.7517915246935644574579 (t = x), (d/g)'(t0) = 0.57240617522761457
# window -1.0 < h < 0.76, degree 19 in h; relative fit error 2^-58.7, 2^-57.3 with the coefficients as printed
#     h = ((t + 0.7517915246935645) - 1.4956759177009883e-17) - 5.384040947833005e-34
#     s = h + 0.125
#     d = h * (0.5623564697689639 + (-3.499263261641737e-17 + s * gelu_root_poly(s))) * e^(-x^2/2)
cdef inline double gelu_root_poly(double s) noexcept nogil:
    """P(s) of the gelu window: generated by tools/root_expansions.py."""
    cdef double p = 1.847969692142544e-11
    p = _fma(p, s, 8.878668983248491e-11)
    p = _fma(p, s, 3.5884789820686125e-10)
    p = _fma(p, s, 1.6750503687701058e-09)
    p = _fma(p, s, 7.69112001782677e-09)
    p = _fma(p, s, 3.3920726627381265e-08)
    p = _fma(p, s, 1.4522906484744686e-07)
    p = _fma(p, s, 6.029697061978753e-07)
    p = _fma(p, s, 2.4210672955494813e-06)
    p = _fma(p, s, 9.377212108719877e-06)
    p = _fma(p, s, 3.4931294995485364e-05)
    p = _fma(p, s, 0.00012471190485091978)
    p = _fma(p, s, 0.0004249391934069076)
    p = _fma(p, s, 0.0013747961371206382)
    p = _fma(p, s, 0.0041961376693652915)
    p = _fma(p, s, 0.011983051380888498)
    p = _fma(p, s, 0.03166606783138964)
    p = _fma(p, s, 0.07624360532639453)
    return p

# The float32 gelu window: `python tools/root_expansions.py gelu --window=-0.0625,0.0625 --degree 5`
# (relative fit error 2^-32.4), evaluated in double.
cdef inline double gelu_root_poly_f32(double s) noexcept nogil:
    cdef double p = 0.005167405700017434
    p = _fma(p, s, 0.014322152024731938)
    p = _fma(p, s, 0.03658158662014919)
    p = _fma(p, s, 0.0847563613444718)
    return p

# The float32-lane gelu window: `python tools/root_expansions.py gelu --window=-1,0.76 --degree 10
# --float32`; relative fit error 2^-27.4 with the float32 coefficients
#     h = (x + 0.7517915368080139) - 1.211444988769017e-08
#     s = h + 0.125
#     d = h * (0.5623564720153809 + (-7.602334317624582e-10 + s * gelu_root_poly_f32f(s))) * e^(-x^2/2)
cdef inline float gelu_root_poly_f32f(float s) noexcept nogil:
    """P(s) of the float32-lane gelu window: generated by tools/root_expansions.py."""
    cdef float p = <float>1.0884791663556825e-05
    p = _fma(p, s, <float>3.9996597479330376e-05)
    p = _fma(p, s, <float>0.00012342895206529647)
    p = _fma(p, s, <float>0.00042142116581089795)
    p = _fma(p, s, <float>0.001375263324007392)
    p = _fma(p, s, <float>0.004197122063487768)
    p = _fma(p, s, <float>0.011982982978224754)
    p = _fma(p, s, <float>0.031665973365306854)
    p = _fma(p, s, <float>0.07624360918998718)
    return p

# ---- gelu_tanh: zero of the derivative at t0 = -0.752461422071016258488 (t = x), (d/g)'(t0) = 0.43040009102485851
# window -0.25 < h < 0.25, degree 14 in h; relative fit error 2^-58.5, 2^-56.3 with the coefficients as printed
#     h = ((t + 0.7524614220710163) - 3.635560509207687e-17) + 2.5415595389660457e-33
#     d = h * (0.4304000910248585 + (2.1314322242614057e-17 + h * gelu_tanh_root_poly(h)))
cdef inline double gelu_tanh_root_poly(double s) noexcept nogil:
    """P(s) of the gelu_tanh window: generated by tools/root_expansions.py."""
    cdef double p = 5.610524103199205e-06
    p = _fma(p, s, -1.543198510398004e-05)
    p = _fma(p, s, -3.491860707261106e-05)
    p = _fma(p, s, 0.00012420814060205637)
    p = _fma(p, s, 0.0002639253528161576)
    p = _fma(p, s, -0.0009274401549758967)
    p = _fma(p, s, -0.0024227317721754044)
    p = _fma(p, s, 0.005261059214299194)
    p = _fma(p, s, 0.019682309458621688)
    p = _fma(p, s, -0.01661932834263195)
    p = _fma(p, s, -0.11394448308095022)
    p = _fma(p, s, -0.01578285352184966)
    p = _fma(p, s, 0.3875184461357889)
    return p

# ---- silu: x sigmoid(beta x); derivative s (1 + beta x (1 - s)), s = sigmoid(beta x) ----------------
# 1 - s is sigmoid(-beta x), without cancellation. Beta = 1 (the default) has its own forms, the
# general float32 path runs in double and rounds once.

cdef inline real silu_forward_beta1(real x, real beta) noexcept nogil:
    # the default beta (beta x = x is exact; float32 in float32 arithmetic): x sigmoid(x) as vsigmoid
    # forms it, x going in before the scaling; below -112 / -760 the result rounds to 0. The loop
    # over a scalar beta of 1 runs this alone (_ops.py): 2x faster than the paths below in float32,
    # 2.7x in float64 (1e5, 2 threads). Measured max error: float32 3.18 ULP (every 61st float32),
    # float64 2.72 ULP (3e5 random and hard points).
    cdef real s, q = _sigmoid_neg(_abs(x), &s)
    cdef real limit = <real>-112.0
    if real is double:
        limit = -760.0
    q = x * (<real>1 - q) if x >= 0 else (x * q) * s
    q = <real>-0.0 if x < limit else q
    return keep_nan(x, 0 if x == -INFINITY else q)   # the input's NaN, wherever it sits

cdef inline bint silu_forward_beta1_rare(real x, real beta) noexcept nogil:
    return sigmoid_slope_rare(x)

cdef inline real silu_forward_beta1_lean(real x, real beta) noexcept nogil:
    # silu_forward_beta1 where e^-|x| needs no scaling (the same bits)
    cdef real q = _sigmoid_neg_lean(_abs(x))
    return keep_nan(x, x * (<real>1 - q) if x >= 0 else x * q)

cdef inline bint silu_forward_rare(real x, real beta) noexcept nogil:
    return beta_x_rare(x, beta)

cdef inline real x_sigmoid_lean(real x, real th, real tl) noexcept nogil:
    # x sigmoid(t), t = th + tl as two floats of the dtype, tl going into the reduction of e^-|t|;
    # then silu_forward_beta1's steps, so that t = x (tl = 0) gives its bits
    cdef real sc, q = _exp_neg(_abs(th), tl if th >= 0 else -tl, &sc)
    q = q / (<real>1 + q)
    return keep_nan(x, x * (<real>1 - q) if th >= 0 else (x * q) * sc)

cdef inline real silu_forward_lean(real x, real beta) noexcept nogil:
    # beta other than 1, in the dtype's own lanes (double before: float32 1.8x slower, float64
    # 2.2x). Every float32 (2^-30..2^9): 3.34 ULP at most (beta = 1.702); float64 3.27 on a
    # long-double probe (5e6 points)
    cdef real th = x * beta
    return x_sigmoid_lean(x, th, beta_x_low(x, beta, th))

cdef inline real silu_forward(real x, real beta) noexcept nogil:
    cdef double bx, y, e
    if real is float:
        # beta x is exact in double (two 24-bit mantissas): one exponential, one division. A beta
        # of 1 is silu_forward_beta1 in every loop (both dtypes), so the bits never depend on how
        # beta was given
        bx = <double>x * beta
        e = vexp_f32(-fabs(bx))
        y = x * ((e if bx < 0 else 1.0) / (1 + e))
    else:
        bx = x * beta
        y = times_sigmoid(x, bx, product_low(x, beta, bx))
        y = x if (bx > 40) | (x == 0) else (x * 0.0 if bx < -1500 else y)    # keeps -0.0
    y = y if silu_forward_rare(x, beta) else silu_forward_lean(x, beta)
    y = silu_forward_beta1(x, beta) if beta == 1 else y
    # x = -inf would be -inf * 0 (beta > 0); a NaN x comes out as itself, in the SIMD body and
    # the scalar tail alike
    return keep_nan(x, 0 if x == -INFINITY else <real>y)

cdef inline bint silu_backward_beta1_rare(real g, real x, real beta) noexcept nogil:
    # float64 also keeps |x| <= 40 and |g| >= 2^-700: its corrections' FMAs then have products
    # of at least 2^-968, which the baseline's emulation forms exactly (the same bits everywhere)
    if real is double:
        return (_abs(x) > 40) | (_abs(g) < 1.90109156629516e-211) | lean_g_rare(g)
    return sigmoid_slope_rare(x) | lean_g_rare(g)

cdef inline float silu_slope_f32(float g, float x, float th, float tl, bint has_low) noexcept nogil:
    # g silu'(x) in float32 lanes, t = beta x = th + tl (has_low; else t = th = x, beta = 1): the
    # lean forms of the default beta, from the lean exponential e = e^-|t|:
    # (1 + e (1 + t)) / (1 + e)^2 for t >= 0 (every term positive) and e (1 + t + e) / (1 + e)^2 for
    # t < 0, where 1 + t is exact from t = -1/2 down, so next to the zero only e's error is
    # amplified (at most 1.1x outside the root window, |h| < 0.5 / 0.25).
    # Both dtypes form the numerator n as one FMA, e (1 + t) + (1 or e^2) (above t = -1/2 the
    # rounding of 1 + t is below a quarter ULP of the sum), and (1 + e)^2 = d as 1 + e (e + 2), so
    # that 1 + e is never rounded on its own, and divide once. float32 also puts back, as one
    # correction c rounded into g q + g c: d's two roundings (e + 2, the FMA), n's for t < 0, e tl,
    # and in the root window (|h| < 0.5) h P(h)'s; c divides by d through _inverse_rough (a few
    # bits of a term of an ULP or two are plenty). Measured max error (beta = 1) 2.38 ULP with
    # g = 1, 2.74 with random g (every 13th float32), 1.21x faster (1e5, 1 thread) than carrying n
    # and d as two floats each with the quotient's remainder (2.07 / 2.21 on every 97th float32,
    # where this form gives 2.15 / 2.66; 79 against 65 instructions). Without any correction, 1.6x
    # faster but 3.24 / 3.50 (six roundings line up at x = -0.55; an adversarial g could pass 3.8);
    # with d's only, 1.32x and 2.98 / 3.18.
    cdef float ef, of, nf, nl, e2, df, dl, qf, cf, hf, hl, pf, r, ts
    cdef bint window
    ef = _exp_neg_mant(_abs(th), (tl if th >= 0 else -tl) if has_low else <float>0, &ts) * _pow2(ts)
    of = <float>1 + th
    nf = _fma(ef, of, <float>1 if th >= 0 else ef * ef)
    e2 = ef + <float>2
    df = _fma(ef, e2, <float>1)
    dl = _fma(ef, ef - (e2 - <float>2), _fma(ef, e2, <float>1 - df))    # (1 + e)^2 - df
    nl = _fma(ef, of, -nf) + ef * ef if th < 0 else <float>0            # n - nf, t < 0
    if has_low:
        nl = _fma(ef, tl, nl)
    qf = nf / df
    cf = _fma(-qf, dl, nl) * _inverse_rough(df)
    # next to the zero: (h - t0_lo + tl) P(h), h = t + t0_hi exact, the product's rounding and
    # tl - t0_lo in the correction
    hf = th + <float>1.2784645557403564
    hl = tl - <float>1.2979282537628478e-08 if has_low else <float>-1.2979282537628478e-08
    pf = silu_root_poly_f32(hf + hl)
    r = hf * pf
    window = _abs(hf) < <float>0.5
    qf = r if window else qf
    cf = _fma(hl, pf, _fma(hf, pf, -r)) if window else cf
    return keep_nan(x, _fma(g, qf, g * cf))

cdef inline double silu_slope_f64(double g, double x, double th, double tl,
                                  bint has_low) noexcept nogil:
    # silu_slope_f32's forms in float64 lanes, which put back float32's roundings as one correction
    # c, each formed exactly: n's (the FMA, e^2), d's two and the division's (its remainder), and
    # e tl (as a product and a sum: the baseline's FMA emulation would not be exact below 2^-968).
    # Without c the roundings lined up to 5.07 ULP (x = -1.0127, g = 14.18: next to the zero e's
    # error counts 1.5x in q, and a g that puts g q at the top of a binade counts a relative error
    # twice), where 3.41 had been measured on 1.5e5 random points. p - nf is exact (Sterbenz) from
    # t = -1.1 up, where n cancels most; below, its rounding is a fraction of an ULP of n.
    cdef double e, o, p, nf, nl, df, dl, q, c, h, ts
    cdef bint window
    e = _exp_neg_mant(fabs(th), (tl if th >= 0 else -tl) if has_low else 0.0, &ts) * _pow2(ts)
    o = 1 + th
    p = e * e if th < 0 else 1.0
    nf = _fma(e, o, p)
    nl = _fma(e, o, p - nf) + (_fma(e, e, -p) if th < 0 else 0.0)     # n - nf
    if has_low:
        nl = nl + e * tl
    df = _fma(e, e + 2.0, 1.0)
    dl = _fma(e, e - ((e + 2.0) - 2.0), _fma(e, e + 2.0, 1.0 - df))      # (1 + e)^2 - df
    q = nf / df
    c = _fma(-q, dl, _fma(-q, df, nf) + nl) * _inverse_rough(df)
    if has_low:
        h = ((th + 1.2784645427610737) + (1.0946994183093437e-16 + tl)) + 3.907766676128665e-33
    else:
        h = ((th + 1.2784645427610737) + 1.0946994183093437e-16) + 3.907766676128665e-33
    window = fabs(h) < 0.25
    q = h * (0.2178117057198001 + (-4.031887481496357e-18 + h * silu_root_poly(h))) if window else q
    c = 0.0 if window else c
    return keep_nan(x, _fma(g, q, g * c))

cdef inline real silu_backward_beta1_lean(real g, real x, real beta) noexcept nogil:
    if real is float:
        return silu_slope_f32(g, x, x, 0, False)
    return silu_slope_f64(g, x, x, 0.0, False)

cdef inline real silu_backward_careful(real g, real x, real beta) noexcept nogil:
    # past |beta x| = 800 the derivative is exactly 1 or 0 (and an inf x would give inf * 0);
    # float64 keeps the negative tail down to -1500, where g e^(beta x) can still be a number
    cdef double bx = <double>x * beta, d, err, h, b, bl, r, e, inv
    if real is float:
        # s (1 + beta x s'), s = sigmoid(beta x), s' = sigmoid(-beta x), both from one e^-|beta x|
        # and one division (beta x is exact in double); next to the zero of the derivative the
        # cancellation in 1 + beta x s' costs double digits only
        e = vexp(-fabs(bx))
        inv = 1 / (1 + e)
        d = ((e if bx < 0 else 1.0) * inv) * (1 + bx * ((1.0 if bx < 0 else e) * inv))
        d = (1.0 if x > 0 else 0.0) if fabs(bx) > 800 else d
        return keep_nan(x, <real>(g * d))
    # g d, g taken into the final scaling of the tail (sigmoid_slope)
    err = product_low(x, beta, bx)
    r = sigmoid_slope(g, bx, err, bx, err)
    # next to the zero, beta x = t0 = -1.2784645...: h = beta x - t0 from t0 as three doubles
    # and the rounding error of beta x, the sum of its low parts formed exactly
    b = err + 1.0946994183093437e-16
    bl = two_sum_error(err, 1.0946994183093437e-16, b)
    h = ((bx + 1.2784645427610737) + b) + (bl + 3.907766676128665e-33)
    r = g * (h * (0.2178117057198001 + (-4.031887481496357e-18 + h * silu_root_poly(h)))) if fabs(h) < 0.25 else r
    r = g * (1.0 if x > 0 else 0.0) if (bx > 760) | (bx < -1500) else r
    return keep_nan(x, r)

cdef inline bint silu_backward_rare(real g, real x, real beta) noexcept nogil:
    # a beta of 1 too: silu_backward_beta1's bits, in the loop over per-element betas as well.
    # float64 also keeps |beta x| <= 40 and |g| >= 2^-700, as silu_backward_beta1_rare
    cdef bint rare = beta_x_rare(x, beta) | lean_g_rare(g) | (beta == 1)
    if real is double:
        return rare | (_abs(x * beta) > 40) | (_abs(g) < 1.90109156629516e-211)
    return rare

cdef inline real silu_backward_lean(real g, real x, real beta) noexcept nogil:
    # beta other than 1, beta x as two floats of the dtype through silu_slope_f32 / _f64 (the
    # float32 one 177 -> 79 us against the double form, 1e5, 1 thread; every float32 with beta
    # 1.702 and 0.5: 2.45 ULP at most with g = 1, 3.10 with random g)
    cdef real th = x * beta
    if real is float:
        return silu_slope_f32(g, x, th, beta_x_low(x, beta, th), True)
    return silu_slope_f64(g, x, th, beta_x_low(x, beta, th), True)

cdef inline real silu_backward(real g, real x, real beta) noexcept nogil:
    # at beta = 1 the lean forms where they hold, as in the loop of the default beta (_ops.py)
    cdef real r = silu_backward_careful(g, x, beta)
    r = r if silu_backward_rare(g, x, beta) else silu_backward_lean(g, x, beta)
    cdef real one = r if silu_backward_beta1_rare(g, x, 1) else silu_backward_beta1_lean(g, x, 1)
    return one if beta == 1 else r

cdef inline real silu_backward_beta1(real g, real x, real beta) noexcept nogil:
    return silu_backward(g, x, 1)

# float16 (Ufunc.half) on its float32 buffers: t = beta x is exact (two 11-bit significands), and a
# relative error far below float16's 2^-11 is all SPEC asks, so the plain form s (1 + t (1 - s))
# will do but next to the zero of the derivative, where the window's series d = h (0.2178117 +
# 0.1466488 h) is within 2^-15.5 for |h| < 2^-6 (h = t - t0, exact from the float32 split of t0).
# Outside it the sum cancels by 2^6 at most, from terms within 2^-22 of their values. e = e^-t, not
# e^-|t|: for |t| <= 69 it is a normal float either way, and s = 1 / (1 + e), 1 - s = e s need no
# selects. g needs no check: a float16 g times d cannot overflow, and an infinite g meets a d that
# is not 0 (1.04x faster without the check).
cdef inline bint silu_backward_half_rare(float g, float x, float beta) noexcept nogil:
    return not (_abs(x * beta) <= lean_limit(x))   # NaN too

cdef inline float silu_backward_half_lean(float g, float x, float beta) noexcept nogil:
    cdef float t = x * beta
    cdef float e = _exp_neg_lean(t)
    cdef float s = <float>1 / (<float>1 + e)
    cdef float d = s * _fma(t, e * s, <float>1)
    cdef float h = (t + <float>1.2784645557403564) - <float>1.2979282537628478e-08
    d = h * _fma(h, <float>0.1466488, <float>0.2178117) if _abs(h) < <float>0.015625 else d
    return g * d

# ---- mish: x tanh(softplus(x)); derivative tanh(sp) + x sigmoid(x) sech(sp)**2 -----------------------
# float64 in terms of E = e^x (x < 0) or u = e^-x (x >= 0), one exponential: with s = E (1 + E/2),
# tanh(sp) = s / (1 + s) and, for x < 0, d = E N / (1 + s)^2, N = 1 + x + E (3/2 + x + E (1 + E/4));
# for x >= 0, tanh(sp) = 1 - 2u^2 / n, n = 1 + 2u + 2u^2, and d = 1 + (2u^2 / n) (2x (1 + u) / n - 1).
cdef inline real mish_forward(real x) noexcept nogil:
    cdef double wide = x, y, a, kf, m, u, xm
    if real is float:
        # one exponential u = e^-|x|: tanh(softplus(x)) = s / (1 + s), s = u (1 + u/2), for x < 0
        # and (1 + 2u) / (1 + 2u + 2u^2) for x >= 0 (see the float64 notes below)
        u = vexp_f32f(-fabsf(x), 0)
        a = u * (1 + 0.5 * u)                           # s (one division for both sides)
        y = wide * ((a if wide < 0 else 1 + 2 * u) / (1 + a if wide < 0 else (1 + 2 * u) + 2 * (u * u)))
    else:
        a = exp_arg(-fabs(wide))
        kf = _k(a)
        m = _exp_mant(a, 0.0, kf, 1.0, 0.0)
        u = ldexp_small(m, kf)
        # x < 0: x E (1 + E/2) / (1 + s) = x E (1 - E (1 + E) / (2 + E (2 + E))), scaled last
        xm = wide * m
        xm = ldexp_small(xm - xm * (u * (1 + u) / (2 + u * (2 + u))), kf)
        y = wide - wide * (2 * (u * u) / ((1 + 2 * u) + 2 * (u * u)))
        y = xm if wide < 0 else y
        y = wide if (wide > 40) | (wide == 0) else (wide * 0.0 if wide < -760 else y)  # keeps -0.0
    return keep_nan(x, 0 if x == -INFINITY else <real>y)

cdef inline real mish_backward(real g, real x) noexcept nogil:
    # sech(sp)^2 as 4t / (1 + t)^2 with t = e^(-2 sp) <= 1: no 1 - tanh^2 cancellation (float32)
    cdef double wide = x, d, a, kf, m, u, s1, e1, s, k1, ke, kk, kke, small, n, r, h, hs
    cdef double c, q, nl, rl, p
    if real is float:
        # the float64 forms below with one exponential u = e^-|x|, in double: next to the zero at
        # -1.19 the cancellation in N costs double digits only (1 + x is exact)
        # (x >= 0: 1 + r (2x (1 + u) / n - 1) over the common denominator n^2; one division)
        u = vexp(-fabs(wide))
        s = u * (1 + 0.5 * u)
        n = (1 + 2 * u) + 2 * (u * u)
        d = ((u * ((1 + wide) + u * ((1.5 + wide) + u * (1 + 0.25 * u))) if wide < 0
              else n * n + 2 * (u * u) * (2 * wide * (1 + u) - n)) /
             ((1 + s) * (1 + s) if wide < 0 else n * n))
        d = (1.0 if x > 0 else 0.0) if fabs(wide) > 800 else d
        return keep_nan(x, <real>(g * d))
    else:
        a = exp_arg(-fabs(wide))
        kf = _k(a)
        m = _exp_mant(a, 0.0, kf, 1.0, 0.0)
        u = ldexp_small(m, kf)
        # x < 0: E N / k1^2, k1 = 1 + s; 1 + x, k1 and k1^2 carry their rounding errors into N
        s1 = 1 + wide
        e1 = ((wide - s1) + 1) if wide < -1 else ((1 - s1) + wide)
        s = u * (1 + 0.5 * u)
        k1 = 1 + s
        ke = (1 - k1) + s
        kk = k1 * k1
        kke = bounded_product_error(k1, k1, kk)            # k1 in [1, 2.5]
        small = e1 + u * ((1.5 + wide) + u * (1 + 0.25 * u))
        # g times that, g taken into the final scaling; N's last sum, the product with m and the
        # quotient carried as hi + lo so that g times it rounds once (as sigmoid_slope)
        c = small - s1 * ((2 * k1 * ke + kke) / kk)
        n = s1 + c
        nl = two_sum_error(s1, c, n)
        r = m * n
        rl = product_error(m, n, r) + m * nl
        q = r / kk
        d = scale_product2(g, q, (quotient_remainder(r, kk, q) + rl) / kk, kf)
        # next to the zero, x = t0 = -1.1924312...: from h = -0.15 up to x = 0
        h = ((wide + 1.1924312145154952) + 4.8484829848031044e-17) + 1.898915114090381e-33
        hs = h - 0.515625
        c = 0.3796657996687952 + (9.204857272486914e-18 + hs * mish_root_poly(hs))
        p = h * c                                          # and g times h c as hi + lo
        d = scale_product2(g, p, product_error(h, c, p), 0.0) if h > -0.15 else d
        # x >= 0
        n = (1 + 2 * u) + 2 * (u * u)
        r = 2 * (u * u) / n
        c = 2 * wide * (1 + u) / n - 1
        p = r * c                                          # |p| <= 2/5: 1 + p, exactly as hi + lo
        q = 1 + p
        nl = ((1 - q) + p) + product_error(r, c, p)
        d = d if wide < 0 else scale_product2(g, q, nl, 0.0)
        d = g * (1.0 if x > 0 else 0.0) if (wide > 760) | (wide < -1500) else d
        return keep_nan(x, d)

# ---- gelu: x Phi(x) = x erfc(-x / sqrt2) / 2; derivative Phi(x) + x phi(x) ------------------------
cdef inline double erfc_arg_gain(double z) noexcept nogil:
    """r(z) = 2/sqrt(pi) e^(-z^2) / erfc(z): erfc(z + dz) = erfc(z) (1 - r dz). A cubic within 0.2%
    on (0, 2), 2z + 1/z (within 2%) beyond; it scales a correction of about an ULP, so a few digits
    are plenty. 0 for z <= 0, where r |z| < 0.3: the rounding of z costs under half an ULP there.
    (The float64 path.)"""
    cdef double near = 1.12644363 + z * (1.29522532 + z * (0.25791604 + z * -0.04151805))
    return (2 * z + 1 / z) if z >= 2 else (near if z > 0 else 0.0)

cdef inline double gelu_erfc_correction(double x, double z) noexcept nogil:
    """dz r(z) for z = -x/sqrt2 rounded: erfc(-x/sqrt2) = erfc(z) (1 - this), to first order."""
    cdef double dz = product_error(-x, 0.7071067811865476, z) - x * -4.833646656726457e-17
    return dz * erfc_arg_gain(z) if fabs(x) < 64 else 0.0

cdef inline double gelu_tail_series(double w) noexcept nogil:
    """S(w) - 1 = sum_{k=1..11} (-1)^k (2k-1)!! w^k, w = 1/x^2: Phi(x) = phi(x) S(w) / |x| for
    x -> -inf (Laplace's asymptotic series; at x <= -20 the first term left out is below 2^-65)."""
    cdef double p = -13749310575.0
    p = _fma(p, w, 654729075.0)
    p = _fma(p, w, -34459425.0)
    p = _fma(p, w, 2027025.0)
    p = _fma(p, w, -135135.0)
    p = _fma(p, w, 10395.0)
    p = _fma(p, w, -945.0)
    p = _fma(p, w, 105.0)
    p = _fma(p, w, -15.0)
    p = _fma(p, w, 3.0)
    p = _fma(p, w, -1.0)
    return p * w

cdef inline double gelu_exp_f32(float x) noexcept nogil:
    """e^(-x^2/2) to float32 grade (vexp_f32f): x^2 as two floats (the product and its exact
    error, one FMA), since its rounding alone would cost up to x^2/2 ULP. |x| is clamped to 20:
    beyond, e^(-x^2/2) < 2^-288, and g x phi(x) rounds to 0 even for g = 2^128."""
    cdef float a = fabsf(x)
    a = <float>20 if a > <float>20 else a
    cdef float p = a * a
    return vexp_f32f(<float>-0.5 * p, <float>-0.5 * _fma(a, a, -p))

cdef inline double gelu_tail_f32(double a, double e) noexcept nogil:
    """Phi(-a) for a >= 0 within 2^-25.8 relative, beyond e's own error (the float32 backward), given
    e = e^(-a^2/2) (gelu_exp_f32): e t Q(t), t = 3 / (3 + a), Q of degree 10 within 2^-29.7 on
    a in [0, 14.5] (beyond, float32 gelu is 0). One division and no erfc pieces; generated by
    tools/fit_gelu_tail.py."""
    cdef double t = 3.0 / (3.0 + a)
    cdef double s = t - 0.5857142857142857
    cdef double q = 0.018894836495509503
    q = _fma(q, s, -0.00652458095441498)
    q = _fma(q, s, -0.03215116667082054)
    q = _fma(q, s, 0.02523383335976567)
    q = _fma(q, s, 0.04304316758225549)
    q = _fma(q, s, -0.05716882343675474)
    q = _fma(q, s, -0.08437107914175146)
    q = _fma(q, s, 0.10179332897828457)
    q = _fma(q, s, 0.33619281347715785)
    q = _fma(q, s, 0.394748124250918)
    q = _fma(q, s, 0.2744618389969406)
    return e * t * q

cdef inline float gelu_mills_f32(float a, float *lo, float *em1, float *kf) noexcept nogil:
    """Phi(-a) = M (1 + em1) 2^k for 0 <= a <= 14.5, in float32 lanes (the float32 forward).
    Returns M(a) = Phi(-a) e^(a^2/2) as the value + *lo (t Q's rounding and the correction below)
    and e^(-a^2/2) as (1 + *em1) 2^*kf, a^2's rounding in the reduction, so that 1 + em1 is only
    rounded inside the caller's products. M = t Q(t), t = 3 / (3 + a), Q of degree 10 with float32
    coefficients, within 2^-27.4 (tools/fit_gelu_tail.py --float32). M'/M reaches 0.8 (3 + a) / t,
    so t's two roundings would cost up to 2.4 ULP. t is formed from ar, a rounded to a multiple of
    2^-16, so that 3 + ar is exact and the quotient's remainder is one FMA; that remainder and
    a - ar go back to first order through dM/dt = (1/sqrt(2 pi) - a M) (3 + a)^2 / 3 and
    dM/da = a M - 1/sqrt(2 pi) (4-5 instructions fewer than recovering 3 + a's rounding by
    TwoSum: 1.02x, max error 2.43 -> 2.37 ULP forward, 2.13 backward)."""
    # k ln2_hi is exact, so only r's last subtraction rounds
    cdef float sq = a * a
    cdef float ts = _fma(sq, <float>-0.7213475204444817, _shift(a))        # SHIFT + k, -log2(e)/2
    cdef float k = ts - _shift(a)
    cdef float r = (_fma(k, <float>-0.693145751953125, <float>-0.5 * sq)
                    - _fma(k, <float>1.4286068e-06, <float>0.5 * _fma(a, a, -sq)))
    em1[0] = _fma(r * r, _exp_poly(r), r)
    kf[0] = k
    cdef float ar = (a + <float>128) - <float>128       # a to a multiple of 2^-16: 3 + ar is exact
    cdef float den = <float>3 + ar
    cdef float t = <float>3 / den
    cdef float miss = _fma(-t, den, <float>3)           # 3 - t den, exactly
    cdef float s = t - <float>0.5857142806053162
    cdef float q = <float>0.01885770633816719
    q = _fma(q, s, <float>-0.006479708943516016)
    q = _fma(q, s, <float>-0.032134123146533966)
    q = _fma(q, s, <float>0.025216490030288696)
    q = _fma(q, s, <float>0.04304039478302002)
    q = _fma(q, s, <float>-0.05716658756136894)
    q = _fma(q, s, <float>-0.08437088876962662)
    q = _fma(q, s, <float>0.10179322212934494)
    q = _fma(q, s, <float>0.3361928164958954)
    q = _fma(q, s, <float>0.39474812150001526)
    q = _fma(q, s, <float>0.2744618356227875)
    cdef float m = t * q
    lo[0] = _fma(<float>0.3989422804014327 - a * m, _fma(miss, den * <float>0.3333333333333333, ar - a),
                 _fma(t, q, -m))
    return m

cdef inline float gelu_scale_f32(float v, float kf) noexcept nogil:
    """v 2^k for the k of gelu_mills_f32 (-152 <= k <= 0) and |v| in [2^-5, 16] or tiny with k = 0:
    the first product is exact, the second rounds once into the subnormals."""
    return (v * _pow2(kf + (_shift(kf) + <float>32))) * <float>2.3283064365386963e-10      # 2^-32

cdef inline double gelu_erf_forward_careful(double x) noexcept nogil:
    """The float64 forward for any x (the lean form's rare elements, |x| > 16)."""
    cdef double wide = x, y, z, e, p, sq, a, kf, m, pm
    # x erfc(z) / 2 with the product and the argument correction rounded once at the end
    z = -wide * 0.7071067811865476
    e = verfc(z)
    p = wide * e
    y = 0.5 * (p + ((product_error(wide, e, p) if fabs(wide) < 64 else 0.0) - p * gelu_erfc_correction(wide, z)))
    # x < -20: -phi(x) S(w), exp(-x^2/2) = m 2^k with x^2's rounding error in the reduction;
    # the scaling comes last (results are subnormal below -37.5)
    sq = wide * wide
    a = exp_arg(-0.5 * sq)
    kf = _k(a)
    m = _exp_mant(a, -0.5 * product_error(wide, wide, sq) if fabs(wide) < 64 else 0.0, kf, 1.0, 0.0)
    pm = 0.3989422804014327 * m
    pm = pm + pm * -6.247337834861335e-17        # 1/sqrt(2 pi) = 0.3989422804014327 (1 + this)
    y = ldexp_small(-(pm + pm * gelu_tail_series(1 / sq)), kf) if wide < -20 else y
    y = wide if (wide > 40) | (wide == 0) else y        # keeps -0.0
    return keep_nan(x, 0 if x == -INFINITY else y)

cdef inline double gelu_erf_backward_careful(double g, double x) noexcept nogil:
    """The float64 backward for any x (the lean form's rare elements, |x| > 16)."""
    # beyond |x| = 40 Phi is exactly 0 or 1 and x phi(x) is 0 (an inf x would give inf * 0);
    # float64 keeps the tail down to -60, where g up to 2^1024 times it is still not 0
    cdef double wide = x, d, z, e, Phi, sq, a, kf, m, xc, xce, pm, pme, sc, y, h, hs, qm, w
    z = -wide * 0.7071067811865476
    e = verfc(z)
    Phi = 0.5 * (e - e * gelu_erfc_correction(wide, z))
    # x phi(x) = 2^k (pm + pme): x/sqrt(2 pi) and its product with m as two doubles each
    sq = wide * wide
    a = exp_arg(-0.5 * sq)
    kf = _k(a)
    m = _exp_mant(a, -0.5 * product_error(wide, wide, sq) if fabs(wide) < 64 else 0.0, kf, 1.0, 0.0)
    xc = wide * 0.3989422804014327
    xce = (product_error(wide, 0.3989422804014327, xc) if fabs(wide) < 64 else 0.0) + wide * -2.49232720227773e-17
    pm = xc * m
    pme = product_error(xc, m, pm) + xce * m
    sc = _ldexp(1.0, kf)                        # exact: x >= -20 wherever it is used
    d = pm * sc + (Phi + pme * sc)
    # next to the zero, x = t0 = -0.7517915...: d = h q(s) e^(-x^2/2), q's leading term times m
    # formed exactly; from h = -1 to 0.76 (x from -1.75 to 0.008)
    h = ((wide + 0.7517915246935645) - 1.4956759177009883e-17) - 5.384040947833005e-34
    hs = h + 0.125
    qm = 0.5623564697689639 * m
    qm = qm + (product_error(0.5623564697689639, m, qm) + (-3.499263261641737e-17 + hs * gelu_root_poly(hs)) * m)
    d = _ldexp(h * qm, kf) if (h > -1.0) & (h < 0.76) else d
    d = g * d
    # x < -20: g x phi(x) (1 - w S(w)), w = 1/x^2, g taken into the final scaling (phi is
    # subnormal below -37.5, g phi not necessarily)
    y = pm + pme
    w = 1 / sq                                  # used for -60 < x < -20
    d = scale_product(g, y - y * (w * (gelu_tail_series(w) + 1)), kf) if wide < -20 else d
    d = g * (1.0 if x > 0 else 0.0) if (wide > 40) | (wide < -60) else d
    return keep_nan(x, d)

cdef inline double gelu_mills(double a, double *lo) noexcept nogil:
    """M(a) = Phi(-a) e^(a^2/2) for 0 <= a <= 16 (the float64 lean forms) as hi (returned) + lo:
    t Q(t), t = 6 / (6 + a), Q of degree 20 within 2^-54.2 (tools/fit_gelu_tail.py --c 6
    --degree 20 --amax 16 --mid 0.66). Q varies fivefold, so plain Horner is 3.3 * 2^-53 off: its
    last step and the product with t keep their roundings (1.9 * 2^-53 at worst against mpmath on
    2.5e4 points). M'/M reaches 0.8 (6 + a) / t, so t's own two roundings (of 6 + a and of the
    quotient) would cost up to 5 ULP: they are recovered exactly and put back through
    dM/dt = (1/sqrt(2 pi) - a M) (6 + a)^2 / 6."""
    cdef double den = 6.0 + a
    cdef double den_err = ((6.0 if a < 6.0 else a) - den) + (a if a < 6.0 else 6.0)
    cdef double t = 6.0 / den
    cdef double miss = -bounded_product_error(t, den, 6.0) - t * den_err     # 6 - t (den + den_err)
    cdef double s = t - 0.66
    cdef double q = -0.0020983692807970988
    q = _fma(q, s, -0.00188906270437039)
    q = _fma(q, s, 0.004962665541621668)
    q = _fma(q, s, 0.005693196275863129)
    q = _fma(q, s, -0.009417344826463394)
    q = _fma(q, s, -0.01610330943335502)
    q = _fma(q, s, 0.0137954815706477)
    q = _fma(q, s, 0.047119408274438654)
    q = _fma(q, s, 0.004894907482959138)
    q = _fma(q, s, -0.1166548372334503)
    q = _fma(q, s, -0.165434177768029)
    q = _fma(q, s, 0.06770133164818438)
    q = _fma(q, s, 0.6410258148502616)
    q = _fma(q, s, 1.3622673857547445)
    q = _fma(q, s, 1.90861501325823)
    q = _fma(q, s, 2.052174971288395)
    q = _fma(q, s, 1.79069235210706)
    q = _fma(q, s, 1.301287980706197)
    q = _fma(q, s, 0.7968830154877642)
    q = _fma(q, s, 0.41240167706924485)
    cdef double sq = s * q
    cdef double big = 0.17948577186546566 + sq
    cdef double big_err = two_sum_error(0.17948577186546566, sq, big) + bounded_product_error(s, q, sq)
    cdef double m = t * big
    lo[0] = (bounded_product_error(t, big, m) + t * big_err) + miss * ((0.3989422804014327 - a * m) * den * 0.16666666666666666)
    return m

cdef inline double gelu_exp_half_square(double a, double *scale) noexcept nogil:
    """e^(-a^2/2) for 0 <= a <= 16 as the return value times *scale = 2^k (both normal): a^2's
    rounding goes into the reduction."""
    cdef double sq = a * a
    cdef double arg = -0.5 * sq
    cdef double kf = _k(arg)
    scale[0] = _pow2(kf + _shift(kf))
    return _exp_mant(arg, -0.5 * product_error(a, a, sq), kf, 1.0, 0.0)

cdef inline bint gelu_erf_forward_rare(real x) noexcept nogil:
    if real is float:
        return False
    else:
        return fabs(x) > 16

cdef inline bint gelu_erf_backward_rare(real g, real x) noexcept nogil:
    # float32: past 12.5 x phi(x) nears the subnormals, where g times it must not be rounded twice
    if real is float:
        return fabsf(x) > <float>12.5
    return gelu_erf_forward_rare(x)

cdef inline real gelu_erf_forward_lean(real x) noexcept nogil:
    cdef double wide = x, a = fabs(wide), sc, m, mills, mills_lo, p, pe
    cdef float af, ms, kf, mf, mlo, xm, y, big
    if real is float:
        # In float32 lanes, twice double's per instruction: x M (1 + s) 2^k for x < 0, with x M
        # rounded once; x - x Phi(-x) for x >= 0, where Phi(-x) <= 1/2 (nothing cancels).
        # 1.5x faster than Phi in double (1e5, 1 thread); measured max error 2.43 ULP (every
        # 97th float32), 1.26 before.
        af = _abs(x)
        mf = gelu_mills_f32(af, &mlo, &ms, &kf)     # (what it gives past 14.5 is not used)
        xm = _fma(x, mf, x * mlo)
        mf = mf + mlo
        y = gelu_scale_f32(_fma(xm, ms, xm) if x < 0 else _fma(mf, ms, mf), kf)
        y = y if x < 0 else _fma(-x, y, x)
        # past 14.5: x, or -0.0 (0 for -inf); x itself for +-0.0 (the fma would give +0.0) and NaN
        # (x times 0 or 1, not a select of -0.0 and x, from which clang 14 gave -0.0 for +0.0)
        big = x * (<float>0 if x < 0 else <float>1)
        y = y if (af <= <float>14.5) & (x != 0) else big
        return <float>0 if x == -INFINITY else y
    else:
        # Phi(-a) = e^(-a^2/2) M(a) = (p + pe) 2^k, its product kept to two doubles
        m = gelu_exp_half_square(a, &sc)
        mills = gelu_mills(a, &mills_lo)
        p = m * mills
        pe = (bounded_product_error(m, mills, p) + m * mills_lo) * sc
        p = p * sc
        return keep_nan(x, x * p + x * pe if x < 0 else x * ((1 - p) - pe))

cdef inline real gelu_erf_forward(real x) noexcept nogil:
    if real is float:
        return gelu_erf_forward_lean(x)
    else:
        return gelu_erf_forward_careful(x) if gelu_erf_forward_rare(x) else gelu_erf_forward_lean(x)

cdef inline float gelu_erf_backward_f32_wide(float g, float x) noexcept nogil:
    """The float32 backward for any x (the lean form's rare elements, |x| > 12.5), in double."""
    # Phi(x) + x phi(x) in double from one e = e^(-x^2/2) to float32 grade; e's error is common
    # to both terms, so only the tail polynomial's 2^-29.7 meets the cancellation: amplified
    # at most 16x outside |x - t0| < 1/16, where the float32 root window takes over
    cdef double wide = x, a = fabs(wide), d, e, Phi, h
    e = gelu_exp_f32(x)
    Phi = gelu_tail_f32(a, e)
    d = (Phi if wide < 0 else 1 - Phi) + wide * (0.3989422804014327 * e)
    h = (wide + 0.7517915246935645) - 1.4956759177009883e-17
    d = h * ((0.5724061752287086 + h * gelu_root_poly_f32(h)) * e) if fabs(h) < 0.0625 else d
    d = (1.0 if x > 0 else 0.0) if a > 40 else d
    return keep_nan(x, <float>(g * d))

cdef inline real gelu_erf_backward_lean(real g, real x) noexcept nogil:
    cdef double wide = x, a = fabs(wide), d, h, hs, sc, m, mills, mills_lo, ka, kae, ed, qm
    cdef float af, ms, kf, mf, mlo, kaf, kaef, ff, df, hf, sf, qf
    if real is float:
        # In float32 lanes (|x| <= 12.5): Phi(-a) - a phi(a) = e^(-a^2/2) (M(a) - a/sqrt(2 pi)),
        # a/sqrt(2 pi) and M as two floats each, the difference's rounding recovered. 1.55x
        # faster than Phi in double (1e5, 1 thread); measured max error 2.13 ULP with g = 1 (every
        # 97th float32), 3.04 with random g (two roundings: d's and g d's), 1.32 before.
        af = _abs(x)
        mf = gelu_mills_f32(af, &mlo, &ms, &kf)
        kaf = af * <float>0.3989422917366028
        kaef = _fma(af, <float>0.3989422917366028, -kaf) + af * <float>-1.1335170135851058e-08
        ff = mf - kaf                               # its rounding recovered (Fast2Sum)
        df = mf - (ff + kaf) if kaf >= mf else (mf - ff) - kaf
        ff = ff + (df + (mlo - kaef))
        # next to the zero, x = t0 = -0.7517915...: h q(s) in place of M - a/sqrt(2 pi), from
        # h = -1 to 0.76 (x from -1.75 to 0.008), as in float64
        hf = x + <float>0.7517915368080139          # exact from x = -1.5 to -0.376
        sf = hf + <float>0.125
        qf = <float>-7.602334317624582e-10 + sf * gelu_root_poly_f32f(sf)
        qf = _fma(hf, <float>0.5623564720153809,
                  _fma(hf, qf, (qf + <float>0.5623564720153809) * <float>-1.211444988769017e-08))
        ff = qf if (hf > -1) & (hf < <float>0.76) else ff
        df = gelu_scale_f32(_fma(ff, ms, ff), kf)
        df = <float>1 - df if (x >= 0) & (hf >= <float>0.76) else df
        return keep_nan(x, g * df)
    else:
        # Phi(-a) - a phi(a) = e^(-a^2/2) (M(a) - a/sqrt(2 pi)), which cancels only next to the
        # zero, inside the root window; for x >= 0, 1 - e^(-a^2/2) (M(a) - a/sqrt(2 pi)) >= 1/2
        m = gelu_exp_half_square(a, &sc)
        mills = gelu_mills(a, &mills_lo)
        ka = a * 0.3989422804014327
        kae = product_error(a, 0.3989422804014327, ka) + a * -2.49232720227773e-17
        ed = (m * ((mills - ka) + (mills_lo - kae))) * sc
        d = ed if x < 0 else 1 - ed
        h = ((wide + 0.7517915246935645) - 1.4956759177009883e-17) - 5.384040947833005e-34
        hs = h + 0.125
        qm = 0.5623564697689639 * m
        qm = qm + (bounded_product_error(0.5623564697689639, m, qm) + (-3.499263261641737e-17 + hs * gelu_root_poly(hs)) * m)
        d = (h * qm) * sc if (h > -1.0) & (h < 0.76) else d
        return keep_nan(x, g * d)

cdef inline real gelu_erf_backward(real g, real x) noexcept nogil:
    if real is float:
        return gelu_erf_backward_f32_wide(g, x) if gelu_erf_backward_rare(g, x) else gelu_erf_backward_lean(g, x)
    else:
        return gelu_erf_backward_careful(g, x) if gelu_erf_backward_rare(g, x) else gelu_erf_backward_lean(g, x)

# float16 (Ufunc.half) on its float32 buffers: a^2 is exact (an 11-bit significand), so Phi(-a) =
# e^(-a^2/2) M(a) needs no split of a^2, and 2^-20.5 for M is plenty for float16's 2^-11. Past
# a = 8, a clamped there gives x for x >= 8 and, for x <= -8, a product that rounds to -0.0 in
# float16; the backward leaves those to the float32 form (an infinite g needs its 0 there).
cdef inline float gelu_mills_half(float a, float *e) noexcept nogil:
    """M(a) = Phi(-a) e^(a^2/2) = t Q(t), t = 4 / (4 + a), 0 <= a <= 8, within 2^-20.5
    (tools/fit_gelu_tail.py --float32 --c 4 --degree 6 --amax 8 --mid 0.5), and e = e^(-a^2/2)."""
    e[0] = _exp_neg_lean(<float>0.5 * (a * a))
    cdef float t = <float>4 / (<float>4 + a)
    cdef float s = t - <float>0.5
    cdef float q = <float>-0.08958056569099426
    q = _fma(q, s, <float>0.06595519930124283)
    q = _fma(q, s, <float>0.24266038835048676)
    q = _fma(q, s, <float>0.37274569272994995)
    q = _fma(q, s, <float>0.38712960481643677)
    q = _fma(q, s, <float>0.30395111441612244)
    q = _fma(q, s, <float>0.18882130086421967)
    return t * q

cdef inline bint gelu_erf_forward_half_rare(float x) noexcept nogil:
    return False                                            # (none: a is clamped)

cdef inline float gelu_erf_forward_half_lean(float x) noexcept nogil:
    cdef float e, a = _abs(x)
    a = <float>8 if a > <float>8 else a
    cdef float m = gelu_mills_half(a, &e)
    cdef float p = e * m                                    # Phi(-a) <= 1/2
    cdef float y = x * p if x < 0 else x * (<float>1 - p)  # (x - x p would make inf - inf)
    return keep_nan(x, <float>0 if x == -INFINITY else y)

cdef inline bint gelu_erf_backward_half_rare(float g, float x) noexcept nogil:
    return _abs(x) > <float>8           # (no check of g: as silu's)

cdef inline float gelu_erf_backward_half_lean(float g, float x) noexcept nogil:
    # Phi(-a) - a phi(a) = e (M - a / sqrt(2 pi)), which cancels only next to the zero at
    # x = t0 = -0.7517915...: there, for |h| < 1/8, d = h e P(h) (gelu_erf_backward_f32_wide's
    # series, to h^3: 2^-18.8); outside, M - a k cancels by 4.4x at most
    cdef float e, a = _abs(x)
    cdef float m = gelu_mills_half(a, &e)
    cdef float b = e * (m - a * <float>0.3989422804014327)
    cdef float d = b if x < 0 else <float>1 - b
    cdef float h = (x + <float>0.7517915368080139) - <float>1.211444988769017e-08
    cdef float p = _fma(h, _fma(h, _fma(h, <float>0.014322152, <float>0.036581587), <float>0.08475636),
                        <float>0.5724061752287086)
    d = h * (p * e) if _abs(h) < <float>0.125 else d
    return keep_nan(x, g * d)

# ---- gelu, tanh approximation: x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) --------------------
# 0.5 x (1 + tanh(u)) = x sigmoid(2u): the same value without the cancellation of 1 + tanh(u) < 0.
# float64 forms 2u and x d(2u)/dx = 2 sqrt(2/pi) (x + 3 * 0.044715 x^3) as two doubles each (the
# constants too): the sigmoid's tail amplifies 2u's relative error by |2u| (hundreds).
cdef inline double gelu_tanh_arg(double x, double a_hi, double a_lo, double *lo) noexcept nogil:
    """2 sqrt(2/pi) (x + a x^3) as hi (returned) + lo, a = a_hi + a_lo; for |x| <= 30."""
    cdef double x2 = x * x
    cdef double x2e = product_error(x, x, x2)
    cdef double x3 = x2 * x
    cdef double x3e = product_error(x2, x, x3) + x2e * x
    cdef double q = a_hi * x3
    cdef double qe = product_error(a_hi, x3, q) + (a_hi * x3e + a_lo * x3)
    cdef double s = x + q
    cdef double se = two_sum_error(x, q, s) + qe
    cdef double u = 1.5957691216057308 * s
    lo[0] = product_error(1.5957691216057308, s, u) + (1.5957691216057308 * se + -9.96930880911092e-17 * s)
    return u

cdef inline bint gelu_tanh_forward_rare(real x) noexcept nogil:
    # the lean forms: |x| <= 100 in float32 (past 2u = 112, at x = -11, _exp_neg's clamp, x e^-2u
    # rounds to 0; up to 100 the low part of 2u stays below 2^-8, which the clamp does not keep
    # under half an ULP of 112), |x| <= 20 (2u <= 603: _exp_neg scales below 2^-1000) in float64;
    # NaN is rare
    if real is float:
        return not (_abs(x) <= <float>100)
    return not (_abs(x) <= 20.0)

cdef inline real gelu_tanh_forward_lean(real x) noexcept nogil:
    # 2u as two floats of the dtype into x_sigmoid_lean, in place of the careful exponential (and
    # for float32, of the double lanes): float64's from gelu_tanh_arg, float32's from 2u in double
    # (good to 2^-51, where the float32 sigmoid's tail needs 2^-24 / 76)
    cdef double u2, u2lo, wide = x
    cdef float th
    if real is double:
        u2 = gelu_tanh_arg(x, 0.044715, 2.1960211427085595e-18, &u2lo)
        return x_sigmoid_lean(x, u2, u2lo)
    u2 = 1.5957691216057308 * (wide + 0.044715 * (wide * wide * wide))
    th = <float>u2
    return x_sigmoid_lean(x, th, <float>(u2 - th))

cdef inline real gelu_tanh_forward(real x) noexcept nogil:
    cdef double wide = x, y, u2, u2lo
    cdef real r
    if real is float:
        u2 = 1.5957691216057308 * (wide + 0.044715 * wide * wide * wide)
        y = wide * vsigmoid(u2)
    else:
        u2 = gelu_tanh_arg(0.0 if fabs(wide) > 30 else wide, 0.044715, 2.1960211427085595e-18, &u2lo)
        y = times_sigmoid(wide, u2, u2lo)
        y = wide if (wide > 30) | (wide == 0) else (wide * 0.0 if wide < -30 else y)  # keeps -0.0
    r = <real>y if gelu_tanh_forward_rare(x) else gelu_tanh_forward_lean(x)
    return keep_nan(x, 0 if x == -INFINITY else r)

cdef inline bint gelu_tanh_backward_rare(real g, real x) noexcept nogil:
    # float64's lean form: -20 <= x (e^-|2u| >= 2^-870) and |g| >= 2^-700, so that the products of
    # its corrections' FMAs stay above 2^-968, where the baseline's emulation is exact (the same
    # bits at every level), and x <= 1e4 (2u clamped at 600 there); NaN is rare. float32 has none
    if real is float:
        return True
    return (not ((x >= -20.0) & (x <= 1e4))) | (_abs(g) < 1.90109156629516e-211) | lean_g_rare(g)

cdef inline real gelu_tanh_backward_lean(real g, real x) noexcept nogil:
    # float64: silu_slope_f64's form with T = 2u and 1 + V in place of 1 + t, V = x d(2u)/dx (both
    # as two doubles, gelu_tanh_arg): d = (1 + e (1 + V)) / (1 + e)^2 for x >= 0 and
    # e (1 + V + e) / (1 + e)^2 for x < 0, e = e^-|T|. 1 + V is exact from V = -1/2 down (where
    # the sum cancels); the roundings of n, d and the division, and e times V's low part, go back
    # as one correction c, so that g q + g c rounds once. Next to the zero the root window of the
    # careful form, the same bits. For x < 0 the numerator e (1 + V + e) is formed as
    # m (1 + V + e), e = m 2^k, and 2^k multiplies g's product last: far out (x = -20: e = 2^-870)
    # no product falls below 2^-968, and where nothing is subnormal the bits are the unscaled
    # form's (a lean range ending at x = -12 left data of standard deviation 5 with a rare element
    # in most blocks, which run both forms)
    cdef double t, tl, v, vl, m, e, a, sc, o, p, nf, nl, df, dl, q, c, h, ts, r
    if real is float:
        return g           # (never run: every float32 element is rare)
    t = gelu_tanh_arg(x, 0.044715, 2.1960211427085595e-18, &tl)
    v = gelu_tanh_arg(x, 0.134145, 1.3526957332032908e-17, &vl)
    t = 600.0 if t > 600.0 else t            # (x > 20: d rounds to 1 from x = 7.5 on anyway)
    m = _exp_neg_mant(fabs(t), tl if t >= 0 else -tl, &ts)
    sc = _pow2(ts)
    e = m * sc
    a = m if t < 0 else e
    o = 1 + v
    p = a * e if t < 0 else 1.0
    nf = _fma(a, o, p)
    nl = (_fma(a, o, p - nf) + (_fma(a, e, -p) if t < 0 else 0.0)) + a * vl
    df = _fma(e, e + 2.0, 1.0)
    dl = _fma(e, e - ((e + 2.0) - 2.0), _fma(e, e + 2.0, 1.0 - df))      # (1 + e)^2 - df
    q = nf / df
    c = _fma(-q, dl, _fma(-q, df, nf) + nl) * _inverse_rough(df)
    h = ((x + 0.7524614220710163) - 3.635560509207687e-17) + 2.5415595389660457e-33
    # (the window selected last: with it folded into the scale's select gcc 12 left the loops scalar)
    r = _fma(g, q, g * c) * (sc if t < 0 else 1.0)
    r = g * (h * (0.4304000910248585 + (2.1314322242614057e-17 + h * gelu_tanh_root_poly(h)))) if fabs(h) < 0.25 else r
    return keep_nan(x, r)

cdef inline real gelu_tanh_backward(real g, real x) noexcept nogil:
    # s + x s (1 - s) du2/dx with s = sigmoid(2u); beyond |x| = 1e4 (float64: 30) the second
    # term is exactly 0
    cdef double wide = x, u2, du2, s, d, xc, u2lo, v, vlo, h, e
    if real is float:
        # s (1 + V s'), s = sigmoid(2u), s' = sigmoid(-2u), V = x d(2u)/dx, both from one
        # e^-|2u| and one division (as silu's float32 careful form; next to the zero the
        # cancellation in 1 + V s' costs double's digits only)
        u2 = 1.5957691216057308 * (wide + 0.044715 * wide * wide * wide)
        du2 = 1.5957691216057308 * (1 + 0.134145 * wide * wide)
        e = _exp_neg_lean(220.0 if fabs(u2) > 220 else fabs(u2))   # (e^-220 g d rounds to 0)
        s = 1 / (1 + e)
        d = ((e if u2 < 0 else 1.0) * s) * (1 + (wide * du2) * ((1.0 if u2 < 0 else e) * s))
        d = (1.0 if x > 0 else 0.0) if fabs(wide) > 1e4 else d
        return keep_nan(x, <real>(g * d))
    else:
        xc = 0.0 if fabs(wide) > 30 else wide
        u2 = gelu_tanh_arg(xc, 0.044715, 2.1960211427085595e-18, &u2lo)
        v = gelu_tanh_arg(xc, 0.134145, 1.3526957332032908e-17, &vlo)
        d = sigmoid_slope(g, u2, u2lo, v, vlo)
        # next to the zero, x = t0 = -0.7524614...
        h = ((wide + 0.7524614220710163) - 3.635560509207687e-17) + 2.5415595389660457e-33
        d = g * (h * (0.4304000910248585 + (2.1314322242614057e-17 + h * gelu_tanh_root_poly(h)))) if fabs(h) < 0.25 else d
        d = g * (1.0 if x > 0 else 0.0) if fabs(wide) > 30 else d
        d = d if gelu_tanh_backward_rare(g, x) else gelu_tanh_backward_lean(g, x)
        return keep_nan(x, d)

# float16 (Ufunc.half) on its float32 buffers: x^2 is exact, 2u and V = x d(2u)/dx are within a few
# float32 roundings, and silu's plain form s (1 + V (1 - s)) does but next to the zero, where the
# window's series to h^3 is within 2^-20 for |h| < 1/16; outside it the sum cancels by 8x at most.
# Past |x| = 9 (2u = 66, the lean exponential's range) the float32 form.
cdef inline bint gelu_tanh_backward_half_rare(float g, float x) noexcept nogil:
    return not (_abs(x) <= <float>9)    # NaN too (no check of g: as silu's)

cdef inline float gelu_tanh_backward_half_lean(float g, float x) noexcept nogil:
    cdef float z = x * x
    cdef float t = x * _fma(z, <float>0.071354814, <float>1.5957691216057308)     # 2u
    cdef float v = x * _fma(z, <float>0.21406445, <float>1.5957691216057308)      # V
    cdef float e = _exp_neg_lean(t)                                                # (as silu's)
    cdef float s = <float>1 / (<float>1 + e)
    cdef float d = s * _fma(v, e * s, <float>1)
    cdef float h = (x + <float>0.7524614334106445) - <float>1.1339628e-08
    cdef float p = _fma(h, _fma(h, _fma(h, <float>-0.11394448, <float>-0.015782854), <float>0.38751845),
                        <float>0.4304000910248585)
    d = h * p if _abs(h) < <float>0.0625 else d
    return g * d
