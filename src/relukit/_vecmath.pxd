# cython: cdivision=True
# (the divisions here must not grow a zero check with a Python error path: that is control flow
# in the caller's loop and stops vectorisation, whatever the including module's directives)
# Vectorisable transcendental helpers (DESIGN section 4): exp, expm1, log1p, tanh, erf, erfc, and
# the sigmoid and softplus built on them, for float32 and float64 through the fused type `real`.
#
# gcc vectorises a loop over these only if nothing in them stops it, hence the rules:
# - no libm calls (without -ffast-math they stay scalar calls); fabs and copysign are bit
#   operations and are fine;
# - no branches: both sides of a choice are computed and the ternary picks one, which gcc
#   if-converts under -fno-trapping-math; special values are patched the same way at the end;
# - 2^k is built in the exponent field from the bits of SHIFT + k (SHIFT = 1.5 * 2^mantissa bits, so
#   adding it rounds to an integer and leaves k in the low mantissa bits): only unsigned shifts and
#   adds, no float<->int conversions (float64<->int64 has no SSE2/AVX2 instruction);
# - every constant is cast `<real>`, so float32 stays float32 arithmetic;
# - gcc fuses nothing by itself (-ffp-contract=off keeps every SIMD level bit-identical): a
#   polynomial step is an explicit _fma, one rounding at every level (the instruction where the
#   level has it, an exact emulation where it has not: the baseline pays for it, the AVX2 and
#   AVX-512 kernels were 1.2-1.6x faster for it); so are tanh's and the float32 exponentials'
#   reductions, while those of _k, _exp_mant and _exp_neg stay plain: fused, the ops built on
#   them measured up to 1.4x slower (gcc's schedule; not pinned down). An exact product error is
#   likewise one FMA or Dekker's splitting (rk_vm_product_error).
# Max ULP figures below were measured when each helper was written, before the FMA steps (float32
# over all 2^32 inputs, float64 on random and hard-point samples against mpmath);
# tools/accuracy_table.py measures the ops built on them now (docs/accuracy.md). Coefficients
# are weighted minimax fits (Remez exchange in mpmath, coefficients rounded
# to the dtype one at a time with the rest refitted).

from libc.stdint cimport uint32_t, uint64_t
from libc.math cimport fabs, fabsf, copysign, copysignf, INFINITY, NAN

ctypedef fused real:
    float
    double

# float32's exp fit is also evaluated in double (vexp_f32): its arithmetic type is this one, its
# coefficients stay the float32 values it was fitted as
ctypedef fused arith:
    float
    double

cdef extern from *:
    """
    #ifndef RK_VECMATH_BITS
    #define RK_VECMATH_BITS
    #include <stdint.h>
    #include <string.h>
    /* bit casts by memcpy: pointer casts would break strict aliasing; gcc turns these into
       plain register moves and vectorises them */
    static inline uint32_t rk_vm_bits_f32(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
    static inline float rk_vm_f32_bits(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
    static inline uint64_t rk_vm_bits_f64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
    static inline double rk_vm_f64_bits(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }
    /* a * b - p for p = a * b rounded: one fused multiply-add where the target has it (the AVX2
       and AVX-512 builds), Dekker's exact product elsewhere (-ffp-contract=off keeps gcc from
       fusing its products). For |a|, |b| < 2^995 and |p| >= 2^-968 both are exact, so every level
       gets the same bits; below, the error may not be representable (the two would round it
       differently) and is taken as 0: it is under 2^-1021, beyond the last bit of any result. */
    static inline double rk_vm_product_error_unchecked(double a, double b, double p) {
    #if defined(__FMA__) || defined(__FP_FAST_FMA)
        return __builtin_fma(a, b, -p);
    #else
        const double split = 134217729.0;
        double ah = split * a - (split * a - a), al = a - ah;
        double bh = split * b - (split * b - b), bl = b - bh;
        return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    #endif
    }
    static inline double rk_vm_product_error(double a, double b, double p) {
        double e = rk_vm_product_error_unchecked(a, b, p);
        return __builtin_fabs(p) >= 0x1p-968 ? e : 0.0;
    }
    /* a + b rounded to odd (Boldo and Melquiond): the sum if exact, else whichever neighbour of
       it has an odd last bit. Rounding that to fewer bits (2 or more fewer) rounds a + b once. */
    static inline double rk_vm_add_odd(double a, double b) {
        /* integer arithmetic only, no compares of 64-bit integers: SSE2 vectorises it */
        double s = a + b, bb = s - a, e = (a - (s - bb)) + (b - bb);
        uint64_t bits = rk_vm_bits_f64(s), ebits = rk_vm_bits_f64(e);
        uint64_t inexact = ((ebits & 0x7FFFFFFFFFFFFFFFull) + 0x7FFFFFFFFFFFFFFFull) >> 63;
        uint64_t finite = ((((bits >> 52) & 0x7FF) + 1) >> 11) ^ 1;
        uint64_t step = inexact & finite & ~bits & 1;               /* inexact and even */
        uint64_t down = (ebits ^ bits) >> 63;                       /* e shrinks |s| */
        return rk_vm_f64_bits(bits + step - 2 * (step & down));
    }
    /* a * b + c rounded once: the fused instruction where the target has it (AVX2, AVX-512),
       elsewhere emulated with the same bits: float32 as the exact double product plus c rounded
       to odd, then to float; float64 as Boldo and Melquiond's exact product, TwoSum, and the low
       parts added rounded to odd. The float64 emulation is exact for |a b| >= 2^-968 (the cut of
       rk_vm_product_error) and wherever |c| is far above |a b| otherwise: the polynomial steps it
       serves add a fixed coefficient. Checked against the instruction on 2e7 random triples per
       type, short mantissas and near-cancellations among them: the same bits, and for inf and
       NaN operands too, except a float64 product that overflows (NaN where fma may give inf).
       Every operation is one SSE2 has for two lanes, so the baseline loops stay vectorised. */
    static inline float rk_vm_fma_f32(float a, float b, float c) {
    #if defined(__FMA__) || defined(__FP_FAST_FMAF)
        return __builtin_fmaf(a, b, c);
    #else
        return (float)rk_vm_add_odd((double)a * (double)b, (double)c);
    #endif
    }
    static inline double rk_vm_fma_f64(double a, double b, double c) {
    #if defined(__FMA__) || defined(__FP_FAST_FMA)
        return __builtin_fma(a, b, c);
    #else
        double uh = a * b, ul = rk_vm_product_error(a, b, uh);
        double th = c + uh, bb = th - c, tl = (c - (th - bb)) + (uh - bb);
        double v = rk_vm_add_odd(tl, ul);
        /* th alone where v is 0 (th + 0.0 would lose a -0.0) or th is not finite (two selects:
           gcc does not vectorise the & of two float64 compares for SSE2) */
        double r = v != 0.0 ? th + v : th;
        return __builtin_fabs(th) <= 0x1.fffffffffffffp1023 ? r : th;
    #endif
    }
    #endif
    """
    uint32_t rk_vm_bits_f32(float) noexcept nogil
    float rk_vm_f32_bits(uint32_t) noexcept nogil
    uint64_t rk_vm_bits_f64(double) noexcept nogil
    double rk_vm_f64_bits(uint64_t) noexcept nogil
    double rk_vm_product_error(double, double, double) noexcept nogil
    double rk_vm_product_error_unchecked(double, double, double) noexcept nogil
    float rk_vm_fma_f32(float, float, float) noexcept nogil
    double rk_vm_fma_f64(double, double, double) noexcept nogil


# ---- shared pieces ------------------------------------------------------------------------------
cdef inline real _abs(real x) noexcept nogil:
    # fabsf, not fabs: a double round trip would make the float32 loop mix vector widths
    if real is float:
        return fabsf(x)
    else:
        return fabs(x)

cdef inline real _fma(real a, real b, real c) noexcept nogil:
    # a * b + c rounded once, at every level (rk_vm_fma_f32/f64): the polynomial steps
    if real is float:
        return rk_vm_fma_f32(a, b, c)
    else:
        return rk_vm_fma_f64(a, b, c)

cdef inline real _copysign(real x, real y) noexcept nogil:
    if real is float:
        return copysignf(x, y)
    else:
        return copysign(x, y)

cdef inline real _shift(real like) noexcept nogil:
    # 1.5 * 2^23 / 2^52: x + SHIFT rounds x to an integer and keeps it in the low mantissa bits
    # (the argument only picks the type)
    if real is float:
        return <float>12582912.0
    else:
        return 6755399441055744.0

cdef inline real _pow2(real t) noexcept nogil:
    # 2^k for t = SHIFT + k, k inside the normal exponent range. Shifting the mantissa into the
    # exponent field pushes SHIFT's own bits out of the word, leaving k; adding one's bits biases it.
    if real is float:
        return rk_vm_f32_bits((rk_vm_bits_f32(t) << 23) + <uint32_t>0x3F800000)
    else:
        return rk_vm_f64_bits((rk_vm_bits_f64(t) << 52) + <uint64_t>0x3FF0000000000000)

cdef inline real _ldexp(real p, real kf) noexcept nogil:
    # p * 2^k for integral kf in [-1080, 1030]: as two factors 2^h * 2^(k-h), both normal, so results
    # that overflow become inf and results in the subnormal range are rounded once, in the last product
    cdef real h = _fma(kf, <real>0.5, _shift(kf))                # kf / 2 is exact: the same h
    return p * _pow2(h) * _pow2((kf - (h - _shift(kf))) + _shift(kf))

cdef inline real _clamp_exp(real x) noexcept nogil:
    # past these e^x is inf or rounds to 0, and k stays where _ldexp can build 2^k; NaN passes
    # (both compares are false)
    if real is float:
        x = <float>89.0 if x > <float>89.0 else x
        return <float>-104.0 if x < <float>-104.0 else x
    else:
        x = 710.0 if x > 710.0 else x
        return -746.0 if x < -746.0 else x

cdef inline real _shift_k(real x) noexcept nogil:
    # SHIFT + k, k = round(x / ln2): the product and SHIFT in one FMA (session 11: 2-5 instructions
    # fewer per exponential loop than a product and a sum; the same error maxima). k is this minus
    # SHIFT, 2^k is _pow2 of it.
    return _fma(x, <real>1.44269504088896341, _shift(x))

cdef inline real _k(real x) noexcept nogil:
    # round(x / ln2), as a float
    return _shift_k(x) - _shift(x)

cdef inline arith _exp_poly_f32(arith r) noexcept nogil:
    # float32's Q(r) (below), also evaluated in double by vexp_f32
    cdef arith q = <arith><float>1.3835678e-03
    q = _fma(q, r, <arith><float>8.367123e-03)
    q = _fma(q, r, <arith><float>4.1667756e-02)
    q = _fma(q, r, <arith><float>1.6666539e-01)
    return _fma(q, r, <arith><float>4.9999997e-01)

cdef inline real _exp_mant(real x, real xlo, real kf, real a, real aneg) noexcept nogil:
    # (a - aneg) + e^r - 1 for r = x + xlo - k ln2, |r| <= ln2/2, rounded once in effect.
    # e^r - 1 = r + r^2 Q(r): Q minimax relative to e^r - 1 on |r| <= ln2/2, degree 4 (float32, fit
    # error 2^-26.1) or 10 (float64, 2^-60.4). ln2 = ln2_hi + ln2_lo with ln2_hi short enough that
    # k ln2_hi is exact, so x - k ln2_hi is exact (Sterbenz). What the subtraction of the low part
    # loses, and what a + r loses (Fast2Sum: |a| >= |r| or a = 0 wherever this is used), join
    # the small terms, so the one rounding that counts is the last addition. xlo carries the low half
    # of an argument known to more than working precision (erfc's -a^2), or is 0 and folds away.
    cdef real rh, rl, r, q, s
    if real is float:
        rh = x - kf * <float>0.693145751953125
        rl = kf * <float>1.4286068e-06 - xlo
    else:
        rh = x - kf * 0.6931471803691238
        rl = kf * 1.9082149292705877e-10 - xlo
    r = rh - rl
    q = _exp_poly(r)
    s = a + r
    return s + (((r * r) * q + (((a - s) + r) + ((rh - r) - rl))) - aneg)

cdef inline real _exp_poly(real r) noexcept nogil:
    # Q(r) of _exp_mant
    cdef real q
    if real is float:
        q = _exp_poly_f32(r)
    else:
        q = 2.089509238736533e-09
        q = _fma(q, r, 2.510858628952569e-08)
        q = _fma(q, r, 2.755731489870591e-07)
        q = _fma(q, r, 2.755724529788393e-06)
        q = _fma(q, r, 2.4801587303104114e-05)
        q = _fma(q, r, 0.00019841269885374326)
        q = _fma(q, r, 0.001388888888888315)
        q = _fma(q, r, 0.00833333333332174)
        q = _fma(q, r, 0.04166666666666669)
        q = _fma(q, r, 0.16666666666666677)
        q = _fma(q, r, 0.5)
    return q


# ---- exp ----------------------------------------------------------------------------------------
# e^x = 2^k e^r, k = round(x/ln2). Measured max error: float32 0.78, float64 0.74 ULP.
cdef inline real vexp(real x) noexcept nogil:
    x = _clamp_exp(x)
    cdef real kf = _k(x)
    return _ldexp(_exp_mant(x, 0, kf, 1, 0), kf)


# e^x in double for float32 results: float32's polynomial (fit error 2^-26.1 relative to e^r - 1, so
# below 2^-26 relative to e^x) evaluated in double with double's reduction, and one 2^k (x is clamped
# to [-700, 700], where 2^k is normal; beyond, e^x times anything a float32 op puts in front is 0 or
# inf in float32 anyway; past 709.78 it is inf, as double's). Rounded to float32 that is within
# 0.75 ULP: enough wherever nothing cancels afterwards, and half the polynomial and scaling of
# vexp's float64 path. For an argument that is a float (or two), vexp_f32f is cheaper.
cdef inline double vexp_f32(double x) noexcept nogil:
    cdef double xc = 700.0 if x > 700.0 else x
    xc = -700.0 if xc < -700.0 else xc
    cdef double kf = _k(xc)
    cdef double r = _fma(-kf, 1.9082149292705877e-10, _fma(-kf, 0.6931471803691238, xc))
    cdef double q = _exp_poly_f32(r)
    r = 1 + _fma(r * r, q, r)
    # inf where double's e^x is (0 times it is then NaN, as in the float64 path)
    return INFINITY if x > 709.782712893384 else _pow2(kf + 6755399441055744.0) * r


# e^(x + xlo) in double for float arguments (xlo below half an ULP of x, or 0), computed in float32
# lanes, twice as many per instruction as double's: x is clamped to [-350, 350] (beyond, e^x times
# anything a float32 op puts in front is 0 or inf in float32 anyway), e^r = 1 + (r + r^2 Q(r)) is
# summed plainly and 2^k (|k| < 512, so k ln2_hi stays exact) applied in double, where it is always
# normal. Within 0.8 ULP of float32 (1.6 * 2^-24 relative): enough wherever nothing cancels
# afterwards. The float32 backward ops built on it were 20-35% faster than with vexp_f32 (measured);
# converting a double argument into two floats for it costs more than that saves.
cdef inline double vexp_f32f(float x, float xlo) noexcept nogil:
    cdef float xc = <float>350.0 if x > <float>350.0 else x
    xc = <float>-350.0 if xc < <float>-350.0 else xc
    cdef float ts = _shift_k(xc)
    cdef float kf = ts - _shift(xc)
    cdef float r = _fma(-kf, <float>0.693145751953125, xc) - _fma(kf, <float>1.4286068e-06, -xlo)
    cdef float em = <float>1 + _fma(r * r, _exp_poly_f32(r), r)
    return <double>em * _pow2(<double>kf + 6755399441055744.0)


# ---- expm1 --------------------------------------------------------------------------------------
# expm1(x) = 2^k ((1 - 2^-k) + e^r - 1): 1 - 2^-k is exact up to k = mantissa bits (for k <= 0 it is
# -(2^|k| - 1), inexact below -24 / -53 only where the result is -1 anyway); past that, 2^-k is
# below an ULP of 1 and is subtracted with the small terms instead. No cancellation survives: the
# sum is formed exactly up to its last rounding. Measured max error: float32 1.09,
# float64 0.97 ULP. _expm1_mant gives the parts, expm1(x + xlo) = m 2^k, for an argument known to
# more than working precision (|xlo| below half an ULP of x) and a caller that applies 2^k itself.
cdef inline real vexpm1(real x) noexcept nogil:
    cdef real kf
    cdef real m = _expm1_mant(x, 0, <real>89.0 if real is float else <real>710.0, &kf)
    cdef real y = _ldexp(m, kf)                 # (two statements: kf is set by the call above)
    return x if x == <real>0 else y                                  # keeps -0.0

cdef inline real _expm1_nonpositive(real x) noexcept nogil:
    # vexpm1's bits for x <= 0 and NaN, with one clamp (below -20 / -40 expm1 is -1) for vexpm1's
    # clamps and selects on k: k <= 0, so a = 1 - 2^-k needs no other case and 2^k is one normal
    # factor. Meaningless for x > 0, where its callers select something else. (elu's forward: 68 ->
    # 43 vector instructions per 16 float32 elements, 74 -> 49 per 8 float64; 1.54x / 1.40x faster,
    # the same bits at every level.)
    cdef real low = <real>-20.0, kf, m
    if real is double:
        low = -40.0
    x = low if x < low else x
    kf = _k(x)
    m = _exp_mant(x, 0, kf, <real>1 - _pow2(_shift(x) - kf), 0)
    return x if x == <real>0 else m * _pow2(_shift(x) + kf)

cdef inline real _expm1_mant(real x, real xlo, real top, real* kf_out) noexcept nogil:
    # x is clamped to top from above (vexpm1: where e^x overflows with 2^k applied in x's type)
    cdef real xc, kf, q, a, aneg
    xc = top if x > top else x
    if real is float:
        # below -17.4, e^x is under half an ULP of 1 and the result is -1
        xc = <float>-20.0 if xc < <float>-20.0 else xc
    else:
        xc = -40.0 if xc < -40.0 else xc
    kf = _k(xc)
    q = _pow2(_shift(x) - (kf if kf < <real>100 else <real>100))   # 2^-k (k capped: any tiny value will do)
    if real is float:
        a = <real>1 if kf > <real>24 else <real>1 - q
        aneg = q if kf > <real>24 else <real>0
    else:
        a = <real>1 if kf > <real>53 else <real>1 - q
        aneg = q if kf > <real>53 else <real>0
    kf_out[0] = kf
    return _exp_mant(xc, xlo, kf, a, aneg)


# ---- log1p --------------------------------------------------------------------------------------
# fdlibm's method: u = 1 + x = 2^k m with m in [sqrt2/2, sqrt2) read off the bits, f = m - 1 (exact),
# c = (1 + x) - u the rounding error of u (exact, by Fast2Sum), then
#   log1p(x) = k ln2 + log(1 + f) + c/u,  log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)),  s = f/(2+f)
# with R a minimax fit of degree 3 in s^2 (float32, absolute error 2^-29.2) or 7 (float64,
# 2^-58.5), summed smallest terms first. Measured max error: float32 0.87, float64 0.80 ULP.
cdef inline real _log1p_core(real x) noexcept nogil:
    # for x > -1 finite; NaN comes out NaN (it reaches c)
    cdef real u, kf, m, f, c, hfsq, s, z, r
    cdef uint32_t iu32
    cdef uint64_t iu64
    u = <real>1 + x
    if real is float:
        # adding 1 - sqrt2/2's bits carries into the exponent exactly when the mantissa is >= sqrt2
        iu32 = rk_vm_bits_f32(u) + <uint32_t>(0x3F800000 - 0x3F3504F3)
        m = rk_vm_f32_bits((iu32 & <uint32_t>0x007FFFFF) + <uint32_t>0x3F3504F3)
        # the exponent field, turned into a float through SHIFT's bits (no int->float conversion)
        kf = rk_vm_f32_bits((iu32 >> 23) + <uint32_t>0x4B400000) - <float>(12582912.0 + 127.0)
    else:
        iu64 = rk_vm_bits_f64(u) + <uint64_t>(0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
        m = rk_vm_f64_bits((iu64 & <uint64_t>0x000FFFFFFFFFFFFF) + <uint64_t>0x3FE6A09E667F3BCD)
        kf = rk_vm_f64_bits((iu64 >> 52) + <uint64_t>0x4338000000000000) - (6755399441055744.0 + 1023.0)
    # Fast2Sum with the larger operand first: the test is on x, not on k as in fdlibm, whose
    # (u - x) is inexact for x in [0.41, 1) and loses c there (measured 2.0 ULP in float32)
    c = ((<real>1 - (u - x)) if x > <real>1 else (x - (u - <real>1))) / u
    f = m - <real>1
    hfsq = <real>0.5 * f * f
    s = f / (<real>2 + f)
    z = s * s
    if real is float:
        r = <float>2.987093e-01
        r = _fma(r, z, <float>3.997758e-01)
        r = _fma(r, z, <float>6.6666776e-01)
        r = r * z
        return kf * <float>0.693145751953125 - ((hfsq - (s * (hfsq + r) + (kf * <float>1.4286068e-06 + c))) - f)
    else:
        r = 0.14795753095319206
        r = _fma(r, z, 0.1531407409411422)
        r = _fma(r, z, 0.18183563217928544)
        r = _fma(r, z, 0.22222198599181514)
        r = _fma(r, z, 0.2857142874207166)
        r = _fma(r, z, 0.39999999999416525)
        r = _fma(r, z, 0.6666666666666734)
        r = r * z
        return kf * 0.6931471803691238 - ((hfsq - (s * (hfsq + r) + (kf * 1.9082149292705877e-10 + c))) - f)

cdef inline real vlog1p(real x) noexcept nogil:
    cdef real y = _log1p_core(x)
    y = -INFINITY if x == <real>-1 else y
    y = <real>NAN if x < <real>-1 else y
    y = x if x == INFINITY else y
    return x if x == <real>0 else y                                  # keeps -0.0


# ---- tanh ---------------------------------------------------------------------------------------
# tanh(a) = E / (E + 2), E = e^{2a} - 1 = 2^k (1 + p) - 1 = (2^k - 1) + 2^k p, p = e^r - 1 =
# r + r^2 Q(r): for k = 0 (a below 0.17) E is p itself, so small a needs no series of its own,
# and 2^k - 1 is exact. The sign goes back on last, so tanh(-0.0) = -0.0. The rounding of E + 2
# is what is left (up to an ULP of the result near a = 0.06): measured max error float32 2.61 ULP
# (every third float32 in [1e-9, 9.1]), float64 2.30 (3e5 random and hard points), against 1.3 and
# 1.4 for the two forms it replaces (a + a^3 P(a^2) below 0.55, 1 - 2/(e^{2a} + 1) above, both
# evaluated everywhere), for 1.36x (float32) and 1.5x (float64) the speed at 1e5.
# _tanh_poly is that P (float64 degree 10, fit error 2^-60.6), still used where tanh's accuracy
# is squared or cancelled (tanhshrink).
cdef inline double _tanh_poly(double z) noexcept nogil:
    # P(z), z = a^2: tanh(a) = a + a z P(z) for a < 0.55 (so a - tanh(a) = -a z P(z), no cancellation)
    cdef double p = -1.948637035928446e-05
    p = _fma(p, z, 8.330329470375657e-05)
    p = _fma(p, z, -0.00023337261240853892)
    p = _fma(p, z, 0.0005884410554140435)
    p = _fma(p, z, -0.0014555420331403403)
    p = _fma(p, z, 0.0035920919075012585)
    p = _fma(p, z, -0.008863232589587298)
    p = _fma(p, z, 0.021869488385150855)
    p = _fma(p, z, -0.05396825396373657)
    p = _fma(p, z, 0.1333333333332658)
    p = _fma(p, z, -0.333333333333333)
    return p

cdef inline real vtanh(real x) noexcept nogil:
    # tanh rounds to 1 from a = 9.01 (float32) / 19.06 (float64) on, so beyond 2a = 18.5 / 44 the
    # result is selected (NaN fails the test and passes through); below, 2^k is one normal power,
    # and e^r - 1 = r + r^2 Q(r) is summed plainly. (A clamp of 2a instead made every step a
    # constant on one path, which gcc carried as a second set of blends: 2 more instructions.)
    cdef real t = _abs(x) + _abs(x)
    cdef real ts = _shift_k(t)
    cdef real kf = ts - _shift(t), r, p2, em
    cdef bint one
    if real is float:
        r = _fma(-kf, <float>1.4286068e-06, _fma(-kf, <float>0.693145751953125, t))
        one = t > <float>18.5
    else:
        r = _fma(-kf, 1.9082149292705877e-10, _fma(-kf, 0.6931471803691238, t))
        one = t > 44.0
    p2 = _pow2(ts)
    em = _fma(p2, _fma(r * r, _exp_poly(r), r), p2 - <real>1)
    return _copysign(<real>1 if one else em / (em + <real>2), x)


# ---- sigmoid, softplus --------------------------------------------------------------------------
# sigmoid: with e = e^-|x| <= 1, x < 0 gives e/(1+e) and x >= 0 gives 1 - e/(1+e) (at least 1/2, the
# subtraction exact or nearly); nothing overflows and the limits are exactly 0 and 1. e comes from
# the lean exponential below: one 2^k, e^r summed plainly (within 0.7 ULP instead of vexp's
# compensated 0.5), and no correction for the rounding of 1 + e: each of those costs 15-25%
# (measured) and buys about half an ULP. Where e would be subnormal it is scaled up (_exp_neg) and
# the scale comes back in the caller's last product, so subnormal results are rounded once and no
# subnormal operand enters the arithmetic (a subnormal result itself still costs 3-4x: the
# hardware's assist for the product that forms it). The reduction's two steps and r + r^2 Q(r) are
# FMAs (4 of float32 sigmoid's 28 vector instructions fewer: 1.2x on sigmoid, silu and the
# sigmoid-slope gradients). Measured max error: float32 2.33 (every 61st float32), float64 2.03
# ULP (3e5 random and hard points). SHIFT + k is one FMA too (_shift_k; session 11: float32
# softplus and logsigmoid 1.07-1.08x).
cdef inline real _exp_neg_mant(real c, real alo, real* ts) noexcept nogil:
    # e^-(c + alo) = (return value) 2^k, *ts = SHIFT + k, k = round(-c / ln2): _exp_neg's arithmetic
    # (alo is subtracted last: x - 0.0 folds away, x + 0.0 does not, because of -0.0.)
    ts[0] = _shift_k(-c)
    cdef real kf = ts[0] - _shift(c)
    cdef real r
    if real is float:
        r = _fma(-kf, <float>1.4286068e-06, _fma(-kf, <float>0.693145751953125, -c)) - alo
    else:
        r = _fma(-kf, 1.9082149292705877e-10, _fma(-kf, 0.6931471803691238, -c)) - alo
    return <real>1 + _fma(r * r, _exp_poly(r), r)

cdef inline real _exp_neg(real a, real alo, real* scale) noexcept nogil:
    # e^-(a + alo) for a >= 0 (NaN stays NaN), alo below half an ULP of a, as the product of the
    # return value and *scale: the value is e^-a scaled up by 2^64 (float32) / 2^128 (float64)
    # where e^-a is below 2^-100 / 2^-1000, *scale the inverse there and 1 elsewhere. a is clamped
    # at 112 / 760: beyond, e^-a times anything up to a (silu's x) rounds to 0 (112 e^-112 is
    # 2^-154.8, 760 e^-760 2^-1086.9), and callers select there.
    cdef real c, ts, em
    cdef uint32_t far32
    cdef uint64_t far64
    if real is float:
        c = <float>112.0 if a > <float>112.0 else a
    else:
        c = 760.0 if a > 760.0 else a
    em = _exp_neg_mant(c, alo, &ts)
    # far = k < -100 / -1000 as the sign bit of k + 100 / k + 1000 (exact), not a compare: where
    # the clamp above makes far a known constant, gcc threads the jumps of a compare and carries
    # two products, and a caller's whole log1p, to a late select (softplus 1.25x slower)
    if real is float:
        far32 = rk_vm_bits_f32((ts - _shift(c)) + <float>100) >> 31
        scale[0] = rk_vm_f32_bits(<uint32_t>0x3F800000 - (far32 << 29))        # 2^-64 or 1
        return em * rk_vm_f32_bits(rk_vm_bits_f32(_pow2(ts)) + (far32 << 29))   # 2^k (2^64)
    far64 = rk_vm_bits_f64((ts - _shift(c)) + 1000) >> 63
    scale[0] = rk_vm_f64_bits(<uint64_t>0x3FF0000000000000 - (far64 << 59))    # 2^-128 or 1
    return em * rk_vm_f64_bits(rk_vm_bits_f64(_pow2(ts)) + (far64 << 59))       # 2^k (2^128)

cdef inline real _exp_neg_lean(real a) noexcept nogil:
    # _exp_neg(a, 0) where it needs no scaling: |a| <= 69 (float32) / 690 (float64), the lean
    # range of the ops with lean forms (_scalar.pxd, lean_limit), or NaN. The same bits, without
    # the clamp and the scale's selects (their masks and blends were ~8 of float32 sigmoid's 38
    # vector instructions)
    cdef real ts
    cdef real em = _exp_neg_mant(a, 0, &ts)
    return em * _pow2(ts)

cdef inline real _sigmoid_neg_lean(real a) noexcept nogil:
    # _sigmoid_neg in _exp_neg_lean's range
    cdef real e = _exp_neg_lean(a)
    return e / (<real>1 + e)

cdef inline real _sigmoid_neg(real a, real* scale) noexcept nogil:
    # sigmoid(-a) = e / (1 + e), e = e^-a, a >= 0, as the product of the return value and *scale
    # (_exp_neg's; where e is scaled, e 2^64 <= 2^-36 / e 2^128 <= 2^-872 still rounds away in 1 + e)
    cdef real e = _exp_neg(a, 0, scale)
    return e / (<real>1 + e)

cdef inline real vsigmoid(real x) noexcept nogil:
    cdef real s
    cdef real q = _sigmoid_neg(_abs(x), &s)
    return q * s if x < <real>0 else <real>1 - q

# softplus = max(x, 0) + log1p(e^-|x|): x for large x (the log1p term drops below half an ULP),
# e^x for very negative x (log1p of a tiny argument returns it). e is the lean exponential's, and
# where it is scaled, log1p(e 2^64) 2^-64 is log1p(e) to 2^-37 relative (2^-873 in float64), one
# rounding. NaN reaches the output through max(x, 0) written as a NaN-keeping select.
# Measured max error: float32 1.56 (every 197th float32), float64 1.58 ULP (2e5 samples).
cdef inline real vsoftplus(real x) noexcept nogil:
    cdef real s
    cdef real l = _log1p_core(_exp_neg(_abs(x), 0, &s))
    return (<real>0 if x <= <real>0 else x) + l * s


# ---- erf, erfc ----------------------------------------------------------------------------------
# On a = |x|:
# - a < 0.5: erf(a) = a + a Q(a^2), Q a minimax fit relative to erf (float32 degree 4, fit error
#   2^-29.3; float64 degree 8, 2^-56.0, the limit set by rounding Q(0) = 2/sqrt(pi) - 1);
# - a >= 0.5: erfc(a) = e^{-a^2} erfcx(a). a^2 is formed exactly as hi + lo (Dekker) and lo goes into
#   the exp reduction: rounding a^2 alone would cost up to a^2/2 ULP (hundreds near the float64
#   underflow at 27). erfcx(a) is a polynomial in a - centre on pieces of [0.5, 4) (float32: 3 of
#   degree 8, fit error <= 2^-28.6; float64: 5 of degree 14, <= 2^-55.9) whose coefficients are
#   picked by selects, not loads; the constant term is hi + lo because rounding it alone would cost
#   up to half an ULP at each centre. Beyond 4 (3.5 in float32), erfcx(a) = H(1/a^2)/a with H a
#   polynomial (degree 7 / 14, 2^-30.5 / 2^-59.3) tending to 1/sqrt(pi). All fits are relative.
#   Every variable the polynomials see is exact or nearly so: an earlier single formula in
#   t = 1/(1 + a/c) lost 3 ULP to the rounding of t alone.
# erf uses 1 - erfc beyond 0.5 and erfc uses 1 - erf below it: cancellation at most 2x.
# The remaining error is the count of roundings (erfcx, its product with e^r, the division in the
# tail), not the fits; getting below 2 ULP would take a double-word product.
# Size: float64 _erfc_big is ~270 in gcc's inliner units, over max-inline-insns-single (200 at -O3).
# Called from one place per module it is inlined anyway; called from two (erf and erfc, or gelu
# forward and backward), gcc 12 leaves it a call and the loop scalar unless the module is built with
# --param=max-inline-insns-single=1000 (meson.build sets 1200). float32 (~140) is inlined either way.
# Measured max error: erf float32 1.63, float64 1.28; erfc float32 2.78,
# float64 2.44 ULP.
cdef inline arith _erf_small_f32(arith a) noexcept nogil:
    cdef arith z = a * a
    cdef arith q = <arith><float>4.71916e-03
    q = _fma(q, z, <arith><float>-2.675826e-02)
    q = _fma(q, z, <arith><float>1.1282851e-01)
    q = _fma(q, z, <arith><float>-3.761261e-01)
    q = _fma(q, z, <arith><float>1.2837917e-01)
    return a + a * q

cdef inline real _erf_small(real a) noexcept nogil:
    cdef real z = a * a
    cdef real q
    if real is float:
        return _erf_small_f32(a)
    else:
        q = 1.4722562216470997e-06
        q = _fma(q, z, -1.4845522390747939e-05)
        q = _fma(q, z, 0.00012053321983032811)
        q = _fma(q, z, -0.000854829747852644)
        q = _fma(q, z, 0.005223977369829245)
        q = _fma(q, z, -0.026866170632686735)
        q = _fma(q, z, 0.1128379167092473)
        q = _fma(q, z, -0.37612638903183465)
        q = _fma(q, z, 0.12837916709551256)
    return a + a * q

cdef inline real _sel3(real a, real v0, real v1, real v2) noexcept nogil:
    # the float32 erfcx piece holding a: [0.5, 1.25), [1.25, 2.25), [2.25, 3.5)
    return v0 if a < <real>1.25 else (v1 if a < <real>2.25 else v2)

cdef inline real _sel5(real a, real v0, real v1, real v2, real v3, real v4) noexcept nogil:
    # the float64 erfcx piece holding a: [0.5, 1), [1, 1.5), [1.5, 2), [2, 3), [3, 4). A chain of
    # flat selects: gcc 12 leaves the 4-deep nested ternary as control flow and the loop unvectorised
    # (while for _sel3 the nested form gives the shorter loop)
    v0 = v1 if a >= <real>1 else v0
    v0 = v2 if a >= <real>1.5 else v0
    v0 = v3 if a >= <real>2 else v0
    return v4 if a >= <real>3 else v0

cdef inline arith _erfcx_f32(arith a, arith w) noexcept nogil:
    # erfc(a) e^(a^2) for 0.5 <= a (w = 1/a^2): float32's pieces and tail
    cdef arith d, g, mid, h
    d = a - _sel3(a, <arith><float>0.875, <arith><float>1.75, <arith><float>2.875)
    g = _sel3(a, <arith><float>1.6102988e-03, <arith><float>1.1987801e-04, <arith><float>6.9898424e-06)
    g = _fma(g, d, _sel3(a, <arith><float>-4.2541213e-03, <arith><float>-3.672694e-04, <arith><float>-2.8380484e-05))
    g = _fma(g, d, _sel3(a, <arith><float>9.928229e-03, <arith><float>1.0363489e-03, <arith><float>1.0437684e-04))
    g = _fma(g, d, _sel3(a, <arith><float>-2.2908416e-02, <arith><float>-3.0154884e-03, <arith><float>-3.938691e-04))
    g = _fma(g, d, _sel3(a, <arith><float>4.9827684e-02, <arith><float>8.404571e-03, <arith><float>1.4467195e-03))
    g = _fma(g, d, _sel3(a, <arith><float>-1.0091487e-01, <arith><float>-2.2260472e-02, <arith><float>-5.145086e-03))
    g = _fma(g, d, _sel3(a, <arith><float>1.8795694e-01, <arith><float>5.5763625e-02, <arith><float>1.768547e-02))
    g = _fma(g, d, _sel3(a, <arith><float>-3.158339e-01, <arith><float>-1.3097633e-01, <arith><float>-5.8563292e-02))
    g = g * d
    mid = _sel3(a, <arith><float>4.6431157e-01, <arith><float>2.8497222e-01, <arith><float>1.8605493e-01) + (_sel3(a, <arith><float>1.3273546e-08, <arith><float>1.407818e-08, <arith><float>4.593567e-09) + g)
    h = <arith><float>2.1906918e+02
    h = _fma(h, w, <arith><float>-5.1386894e+01)
    h = _fma(h, w, <arith><float>-1.1581016e+00)
    h = _fma(h, w, <arith><float>2.725577e+00)
    h = _fma(h, w, <arith><float>-1.0222065e+00)
    h = _fma(h, w, <arith><float>4.2241383e-01)
    h = _fma(h, w, <arith><float>-2.8208724e-01)
    h = _fma(h, w, <arith><float>5.6418955e-01)
    mid = mid if a < <arith><float>3.5 else h / a
    return mid

cdef inline real _erfc_big(real a) noexcept nogil:
    # erfc(a) for a >= 0.5 (any a >= 0 computes without NaN; NaN stays NaN)
    cdef real ah, al, hi, lo, x, kf, d, g, mid, w, h
    if real is float:
        a = <float>11.0 if a > <float>11.0 else a         # erfc is 0 in float32 beyond 10.06
        ah = a * <float>4097.0                          # 2^12 + 1: splits a into two 12-bit halves
    else:
        a = 30.0 if a > 30.0 else a                      # ... and in float64 beyond 27.23
        ah = a * 134217729.0                             # 2^27 + 1
    ah = ah - (ah - a)
    al = a - ah
    hi = a * a
    lo = ((ah * ah - hi) + ah * al + ah * al) + al * al
    x = _clamp_exp(-hi)
    kf = _k(x)
    w = <real>1 / hi
    if real is float:
        mid = _erfcx_f32(a, w)
    else:
        d = a - _sel5(a, 0.75, 1.25, 1.75, 2.5, 3.5)
        g = _sel5(a, 4.66750589288081e-06, 3.933505498274358e-07, 2.5266286229744543e-08, 4.027429250452377e-09, 1.6546978063476954e-10)
        g = _fma(g, d, _sel5(a, -1.4431559112425367e-05, -1.702987551485232e-06, -1.6348910832320592e-07, -1.7030547771411874e-08, -7.983491179302395e-10))
        g = _fma(g, d, _sel5(a, 4.23588446987306e-05, 5.412218581319636e-06, 8.349295803605873e-07, 6.705392428998652e-08, 3.760365601034781e-09))
        g = _fma(g, d, _sel5(a, -0.0001233215960042178, -1.7332378774930555e-05, -2.9414390408881446e-06, -2.7262358578007605e-07, -1.8164571525968185e-08))
        g = _fma(g, d, _sel5(a, 0.00034675141260652036, 5.405295742600216e-05, 1.0086063565534365e-05, 1.0852404504460594e-06, 8.622146859329624e-08))
        g = _fma(g, d, _sel5(a, -0.0009385136529978383, -0.00016296088266952273, -3.375428563264459e-05, -4.214359688764534e-06, -4.0174218979603754e-07))
        g = _fma(g, d, _sel5(a, 0.0024376373390064938, 0.000473970341513973, 0.00010950531126305178, 1.5961851180906146e-05, 1.837187618335872e-06))
        g = _fma(g, d, _sel5(a, -0.006051532255860242, -0.0013257828963847544, -0.0003435333939985136, -5.8868958097699816e-05, -8.23798630219716e-06))
        g = _fma(g, d, _sel5(a, 0.014289198666256074, 0.0035531099028872273, 0.0010392045220466324, 0.00021101982439432324, 3.6181704376005844e-05))
        g = _fma(g, d, _sel5(a, -0.031897262040233035, -0.009081627633570843, -0.0030209746506798135, -0.0007335909374893131, -0.0001554689182415328))
        g = _fma(g, d, _sel5(a, 0.06679054252756667, 0.022011364250857677, 0.008404319207331812, 0.0024670368156987366, 0.0006526863268785434))
        g = _fma(g, d, _sel5(a, -0.12983606199487788, -0.05021827439590226, -0.022259995241394197, -0.00800156938209342, -0.0026730744396432807))
        g = _fma(g, d, _sel5(a, 0.2309581315512983, 0.1067955714965988, 0.05576363008708726, 0.024937997086656925, 0.010661133192510577))
        g = _fma(g, d, _sel5(a, -0.3679726916557954, -0.20882187596460985, -0.1309763455144852, -0.07434734678979472, -0.041323577833252495))
        g = g * d
        mid = _sel5(a, 0.5069376502931449, 0.3678229164523611, 0.2849722347374364, 0.2108063640611436, 0.1552936556088943) + (_sel5(a, -5.335681035462232e-17, 1.387401093925035e-19, 8.539813023973122e-18, -5.6277259093102524e-18, -1.355844542216092e-18) + g)
        h = 69913500.66470051
        h = _fma(h, w, -39617348.83524537)
        h = _fma(h, w, 10850221.111891298)
        h = _fma(h, w, -1969307.2932176762)
        h = _fma(h, w, 278984.58359458816)
        h = _fma(h, w, -35104.80530348101)
        h = _fma(h, w, 4390.694708641688)
        h = _fma(h, w, -594.1126138305144)
        h = _fma(h, w, 91.61459352560567)
        h = _fma(h, w, -16.660997250843316)
        h = _fma(h, w, 3.702492581745063)
        h = _fma(h, w, -1.0578554623721155)
        h = _fma(h, w, 0.42314218764407174)
        h = _fma(h, w, -0.28209479177385843)
        h = _fma(h, w, 0.5641895835477563)
        mid = mid if a < 4.0 else h / a
    return _ldexp(mid * _exp_mant(x, -lo, kf, 1, 0), kf)

cdef inline real verf(real x) noexcept nogil:
    cdef real a = _abs(x)
    return _copysign(_erf_small(a) if a < <real>0.5 else <real>1 - _erfc_big(a), x)

cdef inline real verfc(real x) noexcept nogil:
    cdef real a = _abs(x)
    cdef real big = _erfc_big(a)
    big = big if x > <real>0 else <real>2 - big
    return <real>1 - _copysign(_erf_small(a), x) if a < <real>0.5 else big
